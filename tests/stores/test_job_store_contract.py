"""One contract for every JobStore: the memory, SQLite and PostgreSQL stores must
behave alike (PostgreSQL tests skip, or fail under CI=true, without a server)."""

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from retailpulse.model import (
    DeliveryState,
    ImageOutcome,
    ImagePage,
    JobOrder,
    JobState,
    JobStatus,
    PerimeterFigures,
    Progress,
    StoreError,
    StoreFigures,
    StoreInfo,
    WebhookState,
)
from retailpulse.stores import (
    Creation,
    DeliveryAttempt,
    IdempotencyClaim,
    JobMeta,
    JobStore,
    JobStoreError,
    OutcomeRecord,
    SqliteJobStore,
)
from retailpulse.stores.sqlite import SCHEMA_VERSION
from retailpulse.submission import ImageSpec
from retailpulse.testing.jobstores import Stores

T0 = 1_700_000_000.0
CLAIM_S = 60.0
"""How long a claimed webhook delivery is kept from other claimers, in these tests."""
LEASE_S = 60.0
"""A chunk lease that outlives every test: a claimed chunk stays claimed."""
OK = ImageOutcome.measured(40, 30)
BAD = ImageOutcome.failed("https://img.example/x.jpg: HTTP 404")


def images(count: int, store_id: str = "S1") -> list[ImageSpec]:
    return [ImageSpec(store_id, f"https://img.example/{store_id}/{n}.jpg") for n in range(count)]


def record(job_id: int, index: int, outcome: ImageOutcome = OK) -> OutcomeRecord:
    return OutcomeRecord(job_id, index, outcome)


def end(store: JobStore, job_id: int, at: float, *outcomes: ImageOutcome) -> JobStatus:
    """Record ``outcomes`` as the job's images 0, 1, ... (all of them, so the job ends
    at ``at`` as the store decides) and return the status that ending made."""
    (status,) = store.record_outcomes([record(job_id, i, o) for i, o in enumerate(outcomes)], at)
    assert status.job_id == job_id
    return status


def test_job_ids_start_at_one_and_grow(store: JobStore) -> None:
    ids = [store.create_job(images(1), T0) for _ in range(3)]

    assert ids == [1, 2, 3]


def test_a_new_job_is_ongoing_with_every_image_in_order_and_no_outcome(store: JobStore) -> None:
    specs = images(2, "S1") + images(1, "S2")

    job_id = store.create_job(specs, T0)

    results = store.job_results(job_id)
    assert results is not None
    assert results.images == tuple(specs)
    assert results.outcomes == (None, None, None)
    assert results.status.state is JobState.ONGOING
    assert results.status.progress == Progress(3, 0, 0)
    assert results.status.submitted_at == T0
    assert results.status.finished_at is None


def test_outcomes_are_kept_by_index_and_counted(store: JobStore) -> None:
    job_id = store.create_job(images(4), T0)

    ended = store.record_outcomes([record(job_id, 2, OK), record(job_id, 0, BAD)], T0 + 1)

    results = store.job_results(job_id)
    assert ended == []
    assert results is not None
    assert results.outcomes == (BAD, None, OK, None)
    assert results.status.progress == Progress(4, 2, 1)
    assert store.job_status(job_id) == results.status


def test_an_image_keeps_its_first_outcome_and_is_counted_once(store: JobStore) -> None:
    job_id = store.create_job(images(2), T0)

    store.record_outcomes([record(job_id, 0, OK), record(job_id, 0, BAD)], T0 + 1)
    store.record_outcomes([record(job_id, 0, BAD)], T0 + 2)

    results = store.job_results(job_id)
    assert results is not None
    assert results.outcomes == (OK, None)
    assert results.status.progress == Progress(2, 1, 0)


def test_outcomes_for_unknown_jobs_and_images_are_ignored(store: JobStore) -> None:
    job_id = store.create_job(images(1), T0)

    ended = store.record_outcomes([record(99, 0), record(job_id, 1), record(job_id, -1)], T0)

    assert ended == []
    assert store.job_status(99) is None
    status = store.job_status(job_id)
    assert status is not None
    assert status.progress == Progress(1, 0, 0)


def test_one_call_records_several_jobs_and_ends_only_those_it_completes(store: JobStore) -> None:
    first, second = store.create_job(images(3), T0), store.create_job(images(1), T0)

    ended = store.record_outcomes([record(first, 1), record(second, 0, BAD), record(first, 0)], T0)

    assert [(s.job_id, s.state) for s in ended] == [(second, JobState.FAILED)]
    assert [store.job_status(j).progress for j in (first, second)] == [  # type: ignore[union-attr]
        Progress(3, 2, 0),
        Progress(1, 1, 1),
    ]


def test_the_last_outcome_makes_the_job_terminal_with_the_errors_of_its_outcomes(
    store: JobStore,
) -> None:
    job_id = store.create_job(images(1, "S1") + images(1, "S2"), T0)

    ended = end(store, job_id, T0 + 5, OK, BAD)

    status = store.job_status(job_id)
    assert status is not None
    assert status == ended
    assert status.state is JobState.FAILED
    assert status.finished_at == T0 + 5
    assert status.errors == (StoreError("S2", "https://img.example/x.jpg: HTTP 404"),)
    assert status.progress == Progress(2, 2, 1)


def test_a_failed_jobs_errors_name_its_stores_in_order_of_first_appearance(
    stores: Stores,
) -> None:
    specs = images(1, "S9") + images(2, "S1") + images(1, "S5") + images(1, "S1")
    job_id = stores.current.create_job(specs, T0)
    # Recorded in two commits, last store first: neither the recording order nor a
    # sorted one, only the images' own order gives the expected errors.
    stores.current.record_outcomes(
        [record(job_id, 4, ImageOutcome.failed("late")), record(job_id, 3, BAD)], T0 + 1
    )
    (ended,) = stores.current.record_outcomes(
        [record(job_id, 0, ImageOutcome.failed("boom")), record(job_id, 1), record(job_id, 2)],
        T0 + 2,
    )

    after = stores.reopen().job_status(job_id)

    errors = (
        StoreError("S9", "boom"),
        StoreError("S1", "1 of 3 images failed: late"),
        StoreError("S5", "https://img.example/x.jpg: HTTP 404"),
    )
    assert ended.errors == errors
    assert after is not None
    assert after.errors == errors


def test_a_cancelled_job_keeps_its_end_and_takes_no_outcome_after_it(store: JobStore) -> None:
    job_id = store.create_job(images(2), T0)
    store.record_outcomes([record(job_id, 0)], T0)
    store.cancel_job(job_id, T0 + 1)

    late = store.record_outcomes([record(job_id, 1)], T0 + 2)

    results = store.job_results(job_id)
    assert late == []
    assert results is not None
    assert results.status.state is JobState.CANCELLED
    assert results.status.finished_at == T0 + 1
    assert results.status.errors == ()
    assert results.outcomes == (OK, None)
    assert results.status.progress == Progress(2, 1, 0)


def test_unfinished_jobs_are_claimed_oldest_first_with_the_outcomes_they_have(
    store: JobStore,
) -> None:
    done, partial, fresh = (store.create_job(images(2), T0 + n) for n in range(3))
    store.record_outcomes([record(done, 0), record(done, 1), record(partial, 1, BAD)], T0 + 9)
    node = store.register_node("n", 1, T0)

    claimed = store.claim_chunks(node, 10, LEASE_S, T0 + 10)

    assert [(c.job_id, c.images, c.submitted_at, c.done) for c in claimed] == [
        (partial, tuple(images(2)), T0 + 1, frozenset({1})),
        (fresh, tuple(images(2)), T0 + 2, frozenset()),
    ]
    assert [i for i, _ in claimed[0].todo()] == [0]


def test_unfinished_jobs_are_claimed_a_limit_at_a_time_and_each_once(store: JobStore) -> None:
    ids = [store.create_job(images(1), T0) for _ in range(5)]
    node = store.register_node("n", 1, T0)

    pages = [store.claim_chunks(node, 2, LEASE_S, T0 + n) for n in range(4)]

    assert [[c.job_id for c in page] for page in pages] == [
        ids[0:2],
        ids[2:4],
        ids[4:5],
        [],
    ]


def test_jobs_are_listed_newest_first_below_the_cursor(store: JobStore) -> None:
    ids = [store.create_job(images(n + 1), T0) for n in range(5)]

    assert [s.job_id for s in store.list_jobs(3, None)] == [ids[4], ids[3], ids[2]]
    assert [s.job_id for s in store.list_jobs(3, ids[2])] == [ids[1], ids[0]]
    assert store.list_jobs(3, ids[0]) == []
    assert [s.progress.total for s in store.list_jobs(1, ids[1])] == [1]


def test_purge_deletes_only_jobs_that_ended_before_the_cutoff(store: JobStore) -> None:
    old, recent, running = (store.create_job(images(2), T0) for _ in range(3))
    end(store, old, T0 + 10, OK, OK)
    end(store, recent, T0 + 20, BAD, OK)
    store.record_outcomes([record(running, 0)], T0 + 5)

    purged = store.purge(T0 + 15, 100)

    assert purged == 1
    assert store.job_status(old) is None
    assert store.job_results(old) is None
    assert store.job_status(recent) is not None
    assert store.job_status(running) is not None
    assert [s.job_id for s in store.list_jobs(10, None)] == [running, recent]


def test_purge_takes_at_most_the_limit_oldest_first(store: JobStore) -> None:
    ids = [store.create_job(images(1), T0) for _ in range(3)]
    for job_id in ids:
        store.cancel_job(job_id, T0 + 10 - job_id)

    assert store.purge(T0 + 100, 2) == 2
    assert [s.job_id for s in store.list_jobs(10, None)] == [ids[0]]
    assert store.purge(T0 + 100, 2) == 1


def test_ids_are_not_reused_after_the_newest_job_is_purged(stores: Stores) -> None:
    store = stores.current
    last = store.create_job(images(1), T0)
    end(store, last, T0, OK)
    assert store.purge(T0 + 1, 10) == 1

    store = stores.reopen()

    assert store.create_job(images(1), T0) == last + 1


def test_everything_survives_reopening(stores: Stores) -> None:
    store = stores.current
    ended = store.create_job(images(2), T0)
    running = store.create_job(images(3), T0 + 1)
    end(store, ended, T0 + 2, OK, BAD)
    store.record_outcomes([record(running, 2)], T0 + 2)
    before = [store.job_results(j) for j in (ended, running)]

    store = stores.reopen()
    after = [store.job_results(j) for j in (ended, running)]
    claimed = store.claim_chunks(store.register_node("n", 1, T0), 10, LEASE_S, T0 + 3)

    assert after == before
    assert [(c.job_id, c.done) for c in claimed] == [(running, frozenset({2}))]
    assert store.create_job(images(1), T0) == running + 1


def test_a_large_job_is_stored_and_read_back_whole(store: JobStore) -> None:
    specs = images(10_000)
    job_id = store.create_job(specs, T0)

    store.record_outcomes(
        [record(job_id, i, OK if i % 3 else BAD) for i in range(0, 10_000, 2)], T0 + 1
    )

    results = store.job_results(job_id)
    assert results is not None
    assert results.images == tuple(specs)
    assert results.status.progress == Progress(10_000, 5_000, 1_667)
    assert results.outcomes[9_998] == OK
    assert results.outcomes[9_999] is None


def test_a_second_process_cannot_open_a_store_in_use(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    first = SqliteJobStore(path)
    try:
        with pytest.raises(JobStoreError, match="another process is using"):
            SqliteJobStore(path)
    finally:
        first.close()
    SqliteJobStore(path).close()  # released on close


def test_a_file_that_is_not_a_job_store_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not the jobs you are looking for\n" * 100)

    with pytest.raises(JobStoreError, match=r"notes\.txt: cannot open the job store"):
        SqliteJobStore(path)


def test_a_missing_directory_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(JobStoreError, match="nowhere"):
        SqliteJobStore(tmp_path / "nowhere" / "jobs.db")


def test_the_sqlite_file_uses_wal_and_one_row_per_outcome(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = SqliteJobStore(path)
    job_id = store.create_job(images(3), T0)
    store.record_outcomes([record(job_id, 1), record(job_id, 1, BAD)], T0 + 1)
    store.close()

    with sqlite3.connect(path) as db:
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()
        rows = db.execute("SELECT job_id, idx, error FROM outcomes").fetchall()
        counts = db.execute("SELECT done, failed FROM jobs").fetchall()
    assert mode == "wal"
    assert rows == [(job_id, 1, None)]
    assert counts == [(1, 0)]


# --- results: store names, pages, per-store and per-area figures -------------------

MASTER = {
    "S1": StoreInfo("Corner Shop", "A7"),
    "S2": StoreInfo("Big Mart", "A7"),
    "S3": StoreInfo("Kiosk", "B2"),
}


def outcome_for(index: int) -> ImageOutcome:
    """A varied outcome per index: sizes differ so min, mean and max do too."""
    return BAD if index % 5 == 0 else ImageOutcome.measured(10 + index % 7, 20 + index % 3)


def mixed_job(store: JobStore) -> tuple[int, list[ImageSpec], dict[int, ImageOutcome]]:
    """Four stores interleaved (S9 is unknown), most images done, a few still pending."""
    specs = images(3, "S2") + images(4, "S9") + images(5, "S1") + images(2, "S2") + images(6, "S3")
    job_id = store.create_job(specs, T0, MASTER)
    done = {i: outcome_for(i) for i in range(len(specs)) if i % 6 != 4}
    store.record_outcomes([record(job_id, i, o) for i, o in done.items()], T0 + 1)
    return job_id, specs, done


def expected_figures(
    specs: list[ImageSpec], done: dict[int, ImageOutcome], key: Callable[[ImageSpec], object]
) -> dict[object, tuple[int, int, int, tuple[int, float, int] | None]]:
    """The figures worked out from the images one by one, the slow obvious way."""
    groups: dict[object, list[int]] = {}
    for index, spec in enumerate(specs):
        groups.setdefault(key(spec), []).append(index)
    figures: dict[object, tuple[int, int, int, tuple[int, float, int] | None]] = {}
    for group, indexes in groups.items():
        outcomes = [done[i] for i in indexes if i in done]
        perimeters = [o.perimeter for o in outcomes if o.perimeter is not None]
        failed = sum(1 for o in outcomes if o.error is not None)
        stats = (min(perimeters), sum(perimeters) / len(perimeters), max(perimeters))
        figures[group] = (len(indexes), len(perimeters), failed, stats if perimeters else None)
    return figures


def test_results_name_each_store_as_it_was_at_submit_and_unknown_stores_null(
    store: JobStore,
) -> None:
    job_id = store.create_job(images(1, "S1") + images(1, "S9"), T0, MASTER)
    renamed = {"S1": StoreInfo("New Name", "Z9")}
    store.create_job(images(1, "S1"), T0, renamed)

    page = store.image_page(job_id, 0, 10)

    assert page is not None
    assert [(r.spec.store_id, r.store) for r in page.images] == [
        ("S1", StoreInfo("Corner Shop", "A7")),
        ("S9", None),
    ]


def test_a_page_holds_images_from_after_in_order_with_their_outcomes(store: JobStore) -> None:
    job_id, specs, done = mixed_job(store)

    page = store.image_page(job_id, 3, 5)

    assert page is not None
    assert [r.index for r in page.images] == [3, 4, 5, 6, 7]
    assert [r.spec for r in page.images] == specs[3:8]
    assert [r.outcome for r in page.images] == [done.get(i) for i in range(3, 8)]
    states = [r.state for r in page.images]
    assert states == ["measured", "pending", "failed", "measured", "measured"]
    assert page.next == 8


def test_paging_a_large_job_reaches_its_last_page_and_every_image_once(store: JobStore) -> None:
    total = 100_000
    job_id = store.create_job(images(total), T0, MASTER)
    store.record_outcomes([record(job_id, i, outcome_for(i)) for i in range(total)], T0 + 1)

    seen: list[int] = []
    after: int | None = 0
    pages = 0
    while after is not None:
        page = store.image_page(job_id, after, 10_000)
        assert page is not None
        seen.extend(r.index for r in page.images)
        after = page.next
        pages += 1

    assert pages == 10
    assert seen == list(range(total))
    last = store.image_page(job_id, 99_998, 10_000)
    assert last is not None
    assert [(r.index, r.outcome) for r in last.images] == [
        (99_998, outcome_for(99_998)),
        (99_999, outcome_for(99_999)),
    ]
    assert last.next is None


def test_a_page_past_the_end_is_empty_and_an_unknown_job_has_none(store: JobStore) -> None:
    job_id = store.create_job(images(3), T0)

    assert store.image_page(job_id, 3, 10) == ImagePage((), None)
    assert store.image_page(job_id, 0, 3) == store.image_page(job_id, 0, 4)
    assert store.image_page(job_id + 1, 0, 10) is None
    assert store.store_figures(job_id + 1) is None
    assert store.area_figures(job_id + 1) is None


def test_failed_only_pages_hold_only_failed_images_in_order(store: JobStore) -> None:
    job_id, _, done = mixed_job(store)
    failed = [i for i, o in sorted(done.items()) if o.error is not None]

    first = store.image_page(job_id, 0, 2, failed_only=True)
    assert first is not None
    rest = store.image_page(job_id, first.next or 0, 100, failed_only=True)
    assert rest is not None

    assert [r.index for r in first.images] == failed[:2]
    assert first.next == failed[1] + 1
    assert [r.index for r in rest.images] == failed[2:]
    assert all(r.state == "failed" for r in first.images + rest.images)
    assert rest.next is None


def test_store_figures_match_the_images_in_order_of_first_appearance(store: JobStore) -> None:
    job_id, specs, done = mixed_job(store)
    expected = expected_figures(specs, done, lambda spec: spec.store_id)

    figures = store.store_figures(job_id)

    assert figures is not None
    assert [f.store_id for f in figures] == ["S2", "S9", "S1", "S3"]
    assert [f.store for f in figures] == [MASTER["S2"], None, MASTER["S1"], MASTER["S3"]]
    for found in figures:
        stats = found.perimeter and (found.perimeter.min, found.perimeter.mean, found.perimeter.max)
        assert (found.images, found.measured, found.failed, stats) == expected[found.store_id]


def test_area_figures_match_the_images_with_unknown_stores_under_none(store: JobStore) -> None:
    job_id, specs, done = mixed_job(store)

    def area(spec: ImageSpec) -> object:
        info = MASTER.get(spec.store_id)
        return None if info is None else info.area_code

    expected = expected_figures(specs, done, area)

    figures = store.area_figures(job_id)

    assert figures is not None
    assert [(f.area_code, f.stores) for f in figures] == [("A7", 2), (None, 1), ("B2", 1)]
    for found in figures:
        stats = found.perimeter and (found.perimeter.min, found.perimeter.mean, found.perimeter.max)
        assert (found.images, found.measured, found.failed, stats) == expected[found.area_code]


def test_a_store_with_nothing_measured_has_no_perimeter_figures(store: JobStore) -> None:
    job_id = store.create_job(images(2, "S1") + images(1, "S2"), T0, MASTER)
    store.record_outcomes([record(job_id, 0, BAD), record(job_id, 2)], T0 + 1)

    figures = store.store_figures(job_id)

    assert figures is not None
    assert [(f.images, f.measured, f.failed, f.perimeter) for f in figures] == [
        (2, 0, 1, None),
        (1, 1, 0, PerimeterFigures(140, 140.0, 140)),
    ]


def test_purging_a_job_removes_its_pages_and_figures(store: JobStore) -> None:
    job_id = store.create_job(images(2, "S1"), T0, MASTER)
    end(store, job_id, T0, OK, OK)

    assert store.purge(T0 + 1, 10) == 1

    assert store.image_page(job_id, 0, 10) is None
    assert store.store_figures(job_id) is None


def test_store_names_survive_reopening(stores: Stores) -> None:
    job_id = stores.current.create_job(images(1, "S3"), T0, MASTER)

    page = stores.reopen().image_page(job_id, 0, 1)

    assert page is not None
    assert page.images[0].store == MASTER["S3"]


V1_SCHEMA = """
CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, submitted_at REAL NOT NULL,
    total INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'ongoing', finished_at REAL, errors TEXT);
CREATE TABLE images (job_id INTEGER NOT NULL, idx INTEGER NOT NULL, store_id TEXT NOT NULL,
    url TEXT NOT NULL, PRIMARY KEY (job_id, idx)) WITHOUT ROWID;
CREATE TABLE outcomes (job_id INTEGER NOT NULL, idx INTEGER NOT NULL, width INTEGER,
    height INTEGER, error TEXT, PRIMARY KEY (job_id, idx)) WITHOUT ROWID;
INSERT INTO jobs (submitted_at, total, done, failed) VALUES (1700000000.0, 2, 2, 1);
INSERT INTO images VALUES (1, 0, 'S1', 'https://img.example/a.jpg');
INSERT INTO images VALUES (1, 1, 'S1', 'https://img.example/b.jpg');
INSERT INTO outcomes VALUES (1, 0, 40, 30, NULL);
INSERT INTO outcomes VALUES (1, 1, NULL, NULL, 'HTTP 404');
PRAGMA user_version = 1;
"""


def test_a_version_1_file_is_migrated_and_its_old_jobs_still_read(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)

    store = SqliteJobStore(path)
    try:
        old = store.image_page(1, 0, 10)
        old_figures = store.store_figures(1)
        new_id = store.create_job(images(1, "S1"), T0, MASTER)
        new = store.image_page(new_id, 0, 10)
        failed = store.image_page(1, 0, 10, failed_only=True)
        meta = store.job_meta(1)
    finally:
        store.close()

    with sqlite3.connect(path) as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
    assert version == SCHEMA_VERSION
    assert meta == JobMeta(owner=None, attempts=1, webhook=None)
    assert old is not None
    assert [(r.store, r.state) for r in old.images] == [(None, "measured"), (None, "failed")]
    assert old_figures == [StoreFigures("S1", None, 2, 1, 1, PerimeterFigures(140, 140.0, 140))]
    assert failed is not None
    assert [r.index for r in failed.images] == [1]
    assert new is not None
    assert new.images[0].store == MASTER["S1"]
    assert new_id == 2


# --- owners, idempotency claims, webhook deliveries, retries (issue 16) ------------


def claim(key: str = "k1", fingerprint: str = "f1", scope: str = "alice") -> IdempotencyClaim:
    return IdempotencyClaim(scope, key, fingerprint, not_before=T0 - 86400)


def fail(store: JobStore, job_id: int, *outcomes: ImageOutcome) -> None:
    """End the job failed with ``outcomes`` (one per image, a failure among them)."""
    assert end(store, job_id, T0 + 5, *outcomes).state is JobState.FAILED


def test_a_job_keeps_its_owner_and_is_listed_only_for_that_owner(stores: Stores) -> None:
    alices = stores.current.create_job(images(1), T0, owner="alice")
    bobs = stores.current.create_job(images(1), T0, owner="bob")
    open_job = stores.current.create_job(images(1), T0)

    store = stores.reopen()

    assert [s.job_id for s in store.list_jobs(10, None, owner="alice")] == [alices]
    assert [s.job_id for s in store.list_jobs(10, None, owner="bob")] == [bobs]
    assert [s.job_id for s in store.list_jobs(10, None)] == [open_job, bobs, alices]
    assert store.job_meta(alices) == JobMeta("alice", 1, None)
    assert store.job_meta(open_job) == JobMeta(None, 1, None)
    assert store.job_meta(99) is None


def test_an_owners_listing_pages_below_the_cursor(store: JobStore) -> None:
    mine = [store.create_job(images(1), T0, owner="alice") for _ in range(3)]
    store.create_job(images(1), T0, owner="bob")

    assert [s.job_id for s in store.list_jobs(2, mine[2], owner="alice")] == mine[1::-1]


def test_a_claim_makes_one_job_and_a_replay_returns_it(stores: Stores) -> None:
    first = stores.current.create_job_once(claim(), images(2), T0, owner="alice")

    again = stores.reopen().create_job_once(claim(), images(2), T0 + 60, owner="alice")

    assert first == Creation(first.job_id)
    assert again == Creation(first.job_id, replayed=True)
    assert [s.job_id for s in stores.current.list_jobs(10, None)] == [first.job_id]


def test_a_claim_with_another_fingerprint_is_a_conflict_and_stores_nothing(
    store: JobStore,
) -> None:
    first = store.create_job_once(claim(fingerprint="f1"), images(1), T0)

    other = store.create_job_once(claim(fingerprint="f2"), images(3), T0 + 1)

    assert other == Creation(first.job_id, conflict=True)
    assert len(store.list_jobs(10, None)) == 1


def test_claims_are_scoped_per_api_key(store: JobStore) -> None:
    alices = store.create_job_once(claim(scope="alice"), images(1), T0, owner="alice")
    bobs = store.create_job_once(claim(scope="bob"), images(1), T0, owner="bob")

    assert not bobs.replayed
    assert bobs.job_id != alices.job_id


def test_an_expired_claim_makes_a_new_job(store: JobStore) -> None:
    first = store.create_job_once(claim(), images(1), T0)
    later = IdempotencyClaim("alice", "k1", "f1", not_before=T0 + 1)

    second = store.create_job_once(later, images(1), T0 + 86_401)

    assert second == Creation(first.job_id + 1)
    assert store.create_job_once(later, images(1), T0 + 86_402).replayed


def test_a_claim_goes_with_its_purged_job(store: JobStore) -> None:
    first = store.create_job_once(claim(), images(1), T0)
    end(store, first.job_id, T0, OK)
    assert store.purge(T0 + 1, 10) == 1

    assert store.create_job_once(claim(), images(1), T0 + 2) == Creation(first.job_id + 1)


def test_a_job_with_a_callback_waits_then_has_a_pending_delivery_at_its_end(
    stores: Stores,
) -> None:
    job_id = stores.current.create_job(images(1), T0, callback_url="https://hooks.example/x")
    waiting = stores.current.job_status(job_id)
    end(stores.current, job_id, T0 + 5, OK)

    store = stores.reopen()
    due = store.claim_deliveries(T0 + 5, 10, CLAIM_S)

    assert waiting is not None
    assert waiting.webhook == WebhookState(DeliveryState.WAITING)
    assert len(due) == 1
    assert (due[0].job_id, due[0].url, due[0].attempts, due[0].ended_at) == (
        job_id,
        "https://hooks.example/x",
        0,
        T0 + 5,
    )
    assert due[0].webhook_id.startswith("msg_")
    assert due[0].status.state is JobState.COMPLETED
    assert store.claim_deliveries(T0 + 4, 10, CLAIM_S) == []


def test_a_job_without_a_callback_has_no_delivery(store: JobStore) -> None:
    job_id = store.create_job(images(1), T0)
    end(store, job_id, T0, OK)

    assert store.claim_deliveries(T0 + 1e9, 10, CLAIM_S) == []
    status = store.job_status(job_id)
    assert status is not None
    assert status.webhook is None


def test_a_delivery_attempt_is_kept_and_rescheduled(stores: Stores) -> None:
    job_id = stores.current.create_job(images(1), T0, callback_url="https://hooks.example/x")
    stores.current.cancel_job(job_id, T0)
    (due,) = stores.current.claim_deliveries(T0, 10, CLAIM_S)
    stores.current.record_delivery(
        DeliveryAttempt(job_id, due.webhook_id, DeliveryState.PENDING, 1, "HTTP 503", T0 + 5)
    )

    store = stores.reopen()

    assert store.claim_deliveries(T0 + 4, 10, CLAIM_S) == []
    (again,) = store.claim_deliveries(T0 + 5, 10, CLAIM_S)
    assert (again.webhook_id, again.attempts) == (due.webhook_id, 1)
    meta = store.job_meta(job_id)
    assert meta is not None
    assert meta.webhook == WebhookState(DeliveryState.PENDING, 1, "HTTP 503")
    store.record_delivery(
        DeliveryAttempt(job_id, due.webhook_id, DeliveryState.DELIVERED, 2, None, None)
    )
    assert store.claim_deliveries(T0 + 1e9, 10, CLAIM_S) == []
    status = store.job_status(job_id)
    assert status is not None
    assert status.webhook == WebhookState(DeliveryState.DELIVERED, 2, "HTTP 503")


def end_with_callback(store: JobStore, at: float) -> int:
    """A job with a callback that ended at ``at``: its delivery is due from then."""
    job_id = store.create_job(images(1), T0, callback_url="https://hooks.example/x")
    end(store, job_id, at, OK)
    return job_id


def test_a_claimed_delivery_is_handed_out_to_no_one_until_its_claim_runs_out(
    stores: Stores,
) -> None:
    job_id = end_with_callback(stores.current, T0)
    other = stores.another()  # a second node, on a shared store
    try:
        (claimed,) = stores.current.claim_deliveries(T0, 10, 30.0)
        by_other = other.claim_deliveries(T0 + 29, 10, 30.0)
        by_self = stores.current.claim_deliveries(T0 + 29, 10, 30.0)
        (expired,) = other.claim_deliveries(T0 + 30, 10, 30.0)
    finally:
        if other is not stores.current:
            other.close()

    assert claimed.job_id == job_id
    assert (by_other, by_self) == ([], [])
    # Its claimer died mid-send: another sends the same message again.
    assert (expired.webhook_id, expired.attempts) == (claimed.webhook_id, 0)


def test_claims_take_the_most_overdue_deliveries_first_and_no_more_than_asked(
    store: JobStore,
) -> None:
    later = end_with_callback(store, T0 + 2)
    earlier = end_with_callback(store, T0 + 1)
    end_with_callback(store, T0 + 9)

    first = store.claim_deliveries(T0 + 5, 1, CLAIM_S)
    second = store.claim_deliveries(T0 + 5, 10, CLAIM_S)

    assert [d.job_id for d in first] == [earlier]
    assert [d.job_id for d in second] == [later]


def test_a_late_record_from_a_claim_that_ran_out_does_not_undo_the_next_claimers(
    store: JobStore,
) -> None:
    job_id = end_with_callback(store, T0)
    (slow,) = store.claim_deliveries(T0, 10, 10.0)
    (again,) = store.claim_deliveries(T0 + 10, 10, 10.0)
    store.record_delivery(
        DeliveryAttempt(job_id, again.webhook_id, DeliveryState.DELIVERED, 1, None, None)
    )

    store.record_delivery(
        DeliveryAttempt(job_id, slow.webhook_id, DeliveryState.PENDING, 1, "HTTP 503", T0 + 15)
    )

    status = store.job_status(job_id)
    assert status is not None
    assert status.webhook == WebhookState(DeliveryState.DELIVERED, 1, None)
    assert store.claim_deliveries(T0 + 1e9, 10, CLAIM_S) == []


def test_reopening_a_failed_job_keeps_measured_images_and_forgets_failed_ones(
    stores: Stores,
) -> None:
    job_id = stores.current.create_job(images(3), T0, callback_url="https://hooks.example/x")
    fail(stores.current, job_id, OK, BAD, BAD)

    order = stores.current.reopen_failed(job_id, MASTER)
    store = stores.reopen()
    status = store.job_status(job_id)
    claimed = store.claim_chunks(store.register_node("n", 1, T0), 10, LEASE_S, T0 + 6)

    assert order == JobOrder(job_id, tuple(images(3)), T0)
    assert [(c.job_id, c.done) for c in claimed] == [(job_id, frozenset({0}))]
    assert status is not None
    assert (status.state, status.progress, status.errors) == (
        JobState.ONGOING,
        Progress(3, 1, 0),
        (),
    )
    assert status.finished_at is None
    assert status.attempts == 2
    assert status.webhook == WebhookState(DeliveryState.WAITING)
    assert store.claim_deliveries(T0 + 1e9, 10, CLAIM_S) == []
    page = store.image_page(job_id, 0, 3)
    assert page is not None
    assert [r.state for r in page.images] == ["measured", "pending", "pending"]
    assert page.images[0].store == MASTER["S1"]


def test_a_reopened_job_takes_new_outcomes_and_ends_again(store: JobStore) -> None:
    job_id = store.create_job(images(2), T0)
    fail(store, job_id, OK, BAD)
    store.reopen_failed(job_id)

    ended = store.record_outcomes([record(job_id, 1)], T0 + 9)

    status = store.job_status(job_id)
    assert status is not None
    assert ended == [status]
    assert (status.state, status.progress, status.attempts) == (
        JobState.COMPLETED,
        Progress(2, 2, 0),
        2,
    )


def test_only_a_failed_job_is_reopened(store: JobStore) -> None:
    ongoing = store.create_job(images(1), T0)
    done = store.create_job(images(1), T0)
    end(store, done, T0, OK)

    assert store.reopen_failed(99) is None
    for job_id in (ongoing, done):
        answer = store.reopen_failed(job_id)
        assert answer == store.job_status(job_id)


def test_an_unfinished_job_from_before_chunks_gets_its_chunks_when_migrated(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)
        db.execute("INSERT INTO jobs (submitted_at, total, done) VALUES (?, ?, 1)", (T0, 70))
        db.executemany(
            "INSERT INTO images VALUES (2, ?, 'S1', ?)",
            [(i, f"https://img.example/{i}.jpg") for i in range(70)],
        )
        db.execute("INSERT INTO outcomes VALUES (2, 65, 40, 30, NULL)")

    store = SqliteJobStore(path)
    try:
        node = store.register_node("n", 1, T0)
        chunks = store.claim_chunks(node, 10, 60.0, T0)
    finally:
        store.close()

    assert [(c.job_id, c.first, len(c.images), c.done) for c in chunks] == [
        (2, 0, 64, frozenset()),
        (2, 64, 6, frozenset({65})),
    ]
