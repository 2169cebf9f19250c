"""The dashboard in a real browser: jobs live, a job's view, submit, cancel, hostile data."""

import json
import re
from collections.abc import Callable
from pathlib import Path

import requests

from retailpulse.testing import ImageServer

from .conftest import Tab, expect

SHELF = "/img/shelf.png"
GALLERY = "/webp/gallery/2.jpg"
KNOWN_STORE = "S00339218"  # BHARAT STORE, area 710006, in the store master

HOSTILE_STORE = "<img src=x onerror=\"window.pwned=1;console.error('pwned')\">"
HOSTILE_TIME = "<script>window.pwned=2;console.error('pwned')</script>"


def failed_loads_of(status: int) -> Callable[[str], bool]:
    """The browser's own console line for an API answer the test asked for."""
    return lambda text: "Failed to load resource" in text and f"status of {status}" in text


def test_the_jobs_list_shows_a_new_job_live_and_opens_it_by_keyboard(
    tab: Tab, submit: Callable[..., int]
) -> None:
    page = tab.open("#/")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    page.evaluate("window.notReloaded = true")

    job = submit((KNOWN_STORE, [SHELF, GALLERY] * 10))
    row = page.locator(f"tr[data-job='{job}']")

    expect(row).to_be_visible()  # polled in, no reload
    expect(row.get_by_role("link", name=f"Job {job}")).to_be_visible()
    expect(row.locator(".badge")).to_have_text("completed")
    expect(row).to_contain_text("20 / 20 done")
    assert page.evaluate("window.notReloaded") is True
    assert row.locator("[data-label='Images/s']").inner_text() != "\N{EN DASH}"
    # Newest first: the job is the first row.
    assert page.locator("tbody tr").first.get_attribute("data-job") == str(job)

    page.get_by_role("link", name=f"Job {job}").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Job {job}")).to_be_visible()
    tab.assert_no_errors()


def test_the_status_filter_keeps_only_jobs_in_that_state(
    tab: Tab, submit: Callable[..., int], dashboard_url: str
) -> None:
    failed = submit(("S99999999", [SHELF]))
    done = submit((KNOWN_STORE, [SHELF]))
    for job in (failed, done):
        _wait_until_ended(dashboard_url, job)
    page = tab.open("#/")
    expect(page.locator(f"tr[data-job='{done}']")).to_be_visible()

    page.get_by_label("Status").select_option("failed")

    expect(page.locator(f"tr[data-job='{done}']")).to_have_count(0)
    expect(page.locator(f"tr[data-job='{failed}'] .badge")).to_have_text("failed")
    tab.assert_no_errors()


def test_a_failed_jobs_view_shows_its_failed_stores_and_pages_its_images(
    tab: Tab, submit: Callable[..., int], dashboard_url: str
) -> None:
    job = submit((KNOWN_STORE, [SHELF] * 54 + ["/missing.jpg"]), ("S99999999", [GALLERY]))
    _wait_until_ended(dashboard_url, job)
    page = tab.open(f"#/jobs/{job}")

    expect(page.locator(".title-row .badge")).to_have_text("failed")
    stores = page.get_by_role("table").filter(has_text="Reason")
    expect(stores).to_contain_text("S99999999")
    expect(stores).to_contain_text("is not in the store master")
    expect(stores).to_contain_text("/missing.jpg")
    images = page.locator("table.images tbody tr")
    expect(images).to_have_count(50)  # one page
    expect(images.first).to_contain_text("640 \N{MULTIPLICATION SIGN} 480")
    expect(images.first).to_contain_text("2240")

    page.get_by_role("button", name="Next →").click()
    expect(images).to_have_count(6)
    expect(images.last).to_contain_text("S99999999")

    page.get_by_label("Failed only").check()
    expect(images).to_have_count(2)
    expect(images.first).to_contain_text("404")
    expect(images.last).to_contain_text("not in the store master")
    tab.assert_no_errors()


def test_the_csv_download_holds_every_image(
    tab: Tab, submit: Callable[..., int], dashboard_url: str
) -> None:
    job = submit((KNOWN_STORE, [SHELF, GALLERY, "/missing.jpg"]))
    _wait_until_ended(dashboard_url, job)
    page = tab.open(f"#/jobs/{job}")
    expect(page.locator("table.images tbody tr")).to_have_count(3)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()

    header = lines[0].split(",")
    assert {"store_id", "image_url", "perimeter"} <= set(header)
    assert len(lines) == 4
    assert "2240" in lines[1]
    assert "404" in lines[3]
    tab.assert_no_errors()


def test_the_submit_form_shows_the_field_a_400_names_then_opens_the_new_job(
    tab: Tab, image_server: ImageServer
) -> None:
    page = tab.open("#/submit")
    payload = page.get_by_label("Payload (JSON)")
    url = image_server.url(SHELF)
    visit = {"store_id": "  ", "image_url": [url], "visit_time": "t"}
    bad = json.dumps({"count": 1, "visits": [visit]})
    payload.fill(bad)
    page.get_by_role("button", name="Submit job").click()

    error = page.locator("#payload-error")
    expect(error).to_be_visible()
    expect(error.locator(".field-name")).to_have_text("visits[0].store_id")
    expect(error).to_contain_text('Value there: "  "')
    expect(payload).to_have_attribute("aria-invalid", "true")
    assert page.url.endswith("#/submit")

    payload.fill(bad.replace('"  "', f'"{KNOWN_STORE}"'))
    page.get_by_role("button", name="Submit job").click()

    expect(page).to_have_url(re.compile(r"#/jobs/\d+$"))
    job = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("heading", name=f"Job {job}")).to_be_visible()
    expect(page.locator(".title-row .badge")).to_have_text("completed")
    tab.assert_no_errors(allow=failed_loads_of(400))


def test_a_payload_file_can_be_picked(tab: Tab, tmp_path: Path) -> None:
    page = tab.open("#/submit")
    path = tmp_path / "job.json"
    path.write_text('{"count": 1}', encoding="utf-8")

    page.get_by_label("Or pick a .json file").set_input_files(str(path))

    expect(page.get_by_label("Payload (JSON)")).to_have_value('{"count": 1}')
    tab.assert_no_errors()


def test_a_running_job_is_cancelled_only_after_a_confirmation(
    tab: Tab, submit: Callable[..., int]
) -> None:
    job = submit((KNOWN_STORE, [SHELF] * 2000))
    page = tab.open(f"#/jobs/{job}")
    badge = page.locator(".title-row .badge")
    expect(badge).to_have_text(re.compile("running|queued"))

    page.get_by_role("button", name="Cancel job…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")  # the keyboard way out
    expect(dialog).to_be_hidden()
    expect(badge).to_have_text(re.compile("running|queued"))

    page.get_by_role("button", name="Cancel job…").click()
    dialog.get_by_role("button", name=f"Cancel job {job}").click()

    expect(page.locator(".notice")).to_contain_text("Cancelled")
    expect(badge).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Cancel job…")).to_be_hidden()
    tab.assert_no_errors()


def test_a_failed_job_is_retried_from_its_view_and_a_completed_one_offers_no_retry(
    tab: Tab, submit: Callable[..., int], dashboard_url: str
) -> None:
    failed = submit((KNOWN_STORE, [SHELF, "/missing.jpg"]))
    done = submit((KNOWN_STORE, [SHELF]))
    for job in (failed, done):
        _wait_until_ended(dashboard_url, job)
    page = tab.open(f"#/jobs/{done}")
    expect(page.locator(".title-row .badge")).to_have_text("completed")
    expect(page.get_by_role("button", name="Retry failed images")).to_be_hidden()

    page = tab.open(f"#/jobs/{failed}")
    expect(page.locator(".title-row .badge")).to_have_text("failed")
    page.get_by_role("button", name="Retry failed images").click()

    expect(page.locator(".notice")).to_contain_text("Retrying")
    _wait_until_ended(dashboard_url, failed)
    status = requests.get(f"{dashboard_url}/api/status", params={"jobid": failed}, timeout=5)
    assert status.json()["attempts"] == 2  # the dashboard's click reached POST /api/retry
    expect(page.locator(".title-row .badge")).to_have_text("failed")  # the 404 is still a 404
    tab.assert_no_errors()


def test_hostile_store_ids_and_visit_times_are_shown_as_text_and_never_run(
    tab: Tab, submit: Callable[..., int], dashboard_url: str
) -> None:
    job = submit((HOSTILE_STORE, [SHELF]), visit_time=HOSTILE_TIME)
    _wait_until_ended(dashboard_url, job)

    page = tab.open("#/")
    expect(page.locator(f"tr[data-job='{job}'] .badge")).to_have_text("failed")
    page.goto(f"{dashboard_url}/#/jobs/{job}")
    stores = page.locator("table.stores")
    expect(stores).to_contain_text(HOSTILE_STORE)  # literally, as text
    expect(page.locator("table.images")).to_contain_text(HOSTILE_STORE)

    # The submit form's error echoes the value found at the field, also as text.
    page.goto(f"{dashboard_url}/#/submit")
    hostile_url = "<script>window.pwned=3</script>"
    visit = {"store_id": HOSTILE_STORE, "image_url": [hostile_url], "visit_time": HOSTILE_TIME}
    page.get_by_label("Payload (JSON)").fill(json.dumps({"count": 1, "visits": [visit]}))
    page.get_by_role("button", name="Submit job").click()
    expect(page.locator("#payload-error")).to_contain_text(hostile_url)

    assert page.evaluate("window.pwned") is None
    assert page.locator("#main img, #main script").count() == 0
    assert not [url for url in tab.requests if url.endswith("/x")]
    tab.assert_no_errors(allow=failed_loads_of(400))


def test_the_page_fits_a_phone_screen(
    tab: Tab, submit: Callable[..., int], dashboard_url: str
) -> None:
    job = submit((KNOWN_STORE, [SHELF, "/missing.jpg"]))
    _wait_until_ended(dashboard_url, job)
    tab.page.set_viewport_size({"width": 390, "height": 844})

    for fragment in ("#/", f"#/jobs/{job}", "#/submit"):
        page = tab.open(fragment)
        expect(page.locator("#main h1")).to_be_visible()
        if fragment == "#/":
            expect(page.locator(f"tr[data-job='{job}']")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{fragment} scrolls sideways: {width} px"
        unlabelled = page.evaluate(
            """[...document.querySelectorAll('input, select, textarea')]
               .filter((el) => !el.closest('[hidden]') && el.labels.length === 0
                               && !el.getAttribute('aria-label'))
               .map((el) => el.id || el.name)"""
        )
        assert unlabelled == [], f"{fragment}: controls without a label: {unlabelled}"
    tab.assert_no_errors()


def _wait_until_ended(base_url: str, job: int) -> None:
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = requests.get(f"{base_url}/api/status", params={"jobid": job}, timeout=5).json()
        if status["status"] != "ongoing":
            return
        time.sleep(0.05)
    raise AssertionError(f"job {job} still ongoing after 20 s")
