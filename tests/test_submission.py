"""Unit tests of the submit payload parser: what parses, and which field each error names."""

import copy
import json
from typing import Any

import pytest

from retailpulse.errors import ValidationError
from retailpulse.submission import ImageSpec, Submission, Visit, parse_body, parse_submission

SPEC_EXAMPLE: dict[str, Any] = {
    "count": 2,
    "visits": [
        {
            "store_id": "S00339218",
            "image_url": [
                "https://www.gstatic.com/webp/gallery/2.jpg",
                "https://www.gstatic.com/webp/gallery/3.jpg",
            ],
            "visit_time": "time of store visit",
        },
        {
            "store_id": "S01408764",
            "image_url": ["https://www.gstatic.com/webp/gallery/3.jpg"],
            "visit_time": "time of store visit",
        },
    ],
}


def spec_example() -> dict[str, Any]:
    """A fresh deep copy of the spec's payload, safe to mutate in a test."""
    return copy.deepcopy(SPEC_EXAMPLE)


def rejected_field(document: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_submission(document)
    return caught.value


def test_the_spec_example_payload_parses_into_visits_in_order() -> None:
    submission = parse_submission(spec_example())

    assert submission == Submission(
        (
            Visit(
                "S00339218",
                "time of store visit",
                (
                    "https://www.gstatic.com/webp/gallery/2.jpg",
                    "https://www.gstatic.com/webp/gallery/3.jpg",
                ),
            ),
            Visit(
                "S01408764",
                "time of store visit",
                ("https://www.gstatic.com/webp/gallery/3.jpg",),
            ),
        )
    )
    assert submission.count == 2


def test_images_lists_every_url_in_submission_order_with_its_store() -> None:
    submission = parse_submission(spec_example())

    assert list(submission.images()) == [
        ImageSpec("S00339218", "https://www.gstatic.com/webp/gallery/2.jpg"),
        ImageSpec("S00339218", "https://www.gstatic.com/webp/gallery/3.jpg"),
        ImageSpec("S01408764", "https://www.gstatic.com/webp/gallery/3.jpg"),
    ]


def test_parse_body_accepts_the_spec_example_as_utf8_bytes() -> None:
    body = json.dumps(SPEC_EXAMPLE).encode("utf-8")

    assert parse_body(body) == parse_submission(spec_example())


def test_parse_body_accepts_a_utf16_encoded_json_body() -> None:
    body = json.dumps(SPEC_EXAMPLE).encode("utf-16")

    assert parse_body(body) == parse_submission(spec_example())


def test_surrounding_whitespace_in_a_store_id_is_stripped() -> None:
    document = spec_example()
    document["visits"][0]["store_id"] = "  S00339218 "

    assert parse_submission(document).visits[0].store_id == "S00339218"


def test_extra_fields_in_the_payload_are_ignored() -> None:
    document = spec_example()
    document["note"] = "from the field team"
    document["visits"][1]["weather"] = "rain"

    assert parse_submission(document) == parse_submission(spec_example())


def test_a_body_that_is_not_json_is_rejected_naming_the_body() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_body(b"{count: 1")

    assert caught.value.field == "body"
    assert "not valid JSON" in str(caught.value)


def test_a_body_that_is_not_text_is_rejected_naming_the_body() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_body(b"\xff\xfe\x00\xd8\x00")

    assert caught.value.field == "body"


def test_a_deeply_nested_body_is_a_validation_error_not_a_recursion_error() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_body(b"[" * 200_000 + b"]" * 200_000)

    assert caught.value.field == "body"
    assert "nested too deeply" in str(caught.value)


@pytest.mark.parametrize("document", [[], "text", 3, None])
def test_a_document_that_is_not_an_object_is_rejected_naming_the_body(document: Any) -> None:
    error = rejected_field(document)

    assert error.field == "body"
    assert "object" in error.message


def test_the_error_message_starts_with_the_field_path() -> None:
    document = spec_example()
    document["visits"][1]["image_url"][0] = "ftp://example.com/a.jpg"

    error = rejected_field(document)

    assert error.field == "visits[1].image_url[0]"
    assert str(error) == f"visits[1].image_url[0] {error.message}"
    assert "ftp://example.com/a.jpg" in error.message


def test_count_that_is_missing_is_rejected_naming_count() -> None:
    document = spec_example()
    del document["count"]

    assert rejected_field(document).field == "count"


@pytest.mark.parametrize("count", ["2", 2.0, None, True, [2]])
def test_count_that_is_not_an_integer_is_rejected_naming_count(count: Any) -> None:
    document = spec_example()
    document["count"] = count

    error = rejected_field(document)

    assert error.field == "count"
    assert "integer" in error.message


@pytest.mark.parametrize("count", [0, -1])
def test_count_below_one_is_rejected_naming_count(count: int) -> None:
    document = spec_example()
    document["count"] = count
    document["visits"] = []

    error = rejected_field(document)

    assert error.field == "count"
    assert "at least 1" in error.message


def test_count_that_differs_from_visits_is_rejected_naming_count() -> None:
    document = spec_example()
    document["count"] = 3

    error = rejected_field(document)

    assert error.field == "count"
    assert "3" in error.message
    assert "2" in error.message


def test_visits_that_are_missing_are_rejected_naming_visits() -> None:
    document = spec_example()
    del document["visits"]

    assert rejected_field(document).field == "visits"


def test_visits_that_are_not_a_list_are_rejected_naming_visits() -> None:
    document = spec_example()
    document["visits"] = {"store_id": "S00339218"}

    error = rejected_field(document)

    assert error.field == "visits"
    assert "list" in error.message


def test_a_visit_that_is_not_an_object_is_rejected_naming_its_index() -> None:
    document = spec_example()
    document["visits"][1] = "S01408764"

    assert rejected_field(document).field == "visits[1]"


@pytest.mark.parametrize("store_id", [None, "", "   ", 339218])
def test_a_store_id_that_is_not_a_non_empty_string_is_rejected(store_id: Any) -> None:
    document = spec_example()
    document["visits"][0]["store_id"] = store_id

    assert rejected_field(document).field == "visits[0].store_id"


def test_a_missing_store_id_is_rejected_naming_the_visit_field() -> None:
    document = spec_example()
    del document["visits"][1]["store_id"]

    assert rejected_field(document).field == "visits[1].store_id"


def test_a_missing_visit_time_is_rejected_naming_the_visit_field() -> None:
    document = spec_example()
    del document["visits"][1]["visit_time"]

    error = rejected_field(document)

    assert error.field == "visits[1].visit_time"
    assert "required" in error.message


def test_a_missing_image_url_is_rejected_naming_the_visit_field() -> None:
    document = spec_example()
    del document["visits"][0]["image_url"]

    assert rejected_field(document).field == "visits[0].image_url"


def test_an_image_url_that_is_a_single_string_is_rejected_as_not_a_list() -> None:
    document = spec_example()
    document["visits"][0]["image_url"] = "https://example.com/a.jpg"

    error = rejected_field(document)

    assert error.field == "visits[0].image_url"
    assert "list" in error.message


def test_an_empty_image_url_list_is_rejected() -> None:
    document = spec_example()
    document["visits"][1]["image_url"] = []

    assert rejected_field(document).field == "visits[1].image_url"


def test_a_url_that_is_not_a_string_is_rejected_naming_its_index() -> None:
    document = spec_example()
    document["visits"][0]["image_url"][1] = {"href": "https://example.com/a.jpg"}

    error = rejected_field(document)

    assert error.field == "visits[0].image_url[1]"
    assert "string" in error.message


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a photo.jpg",
        " https://example.com/a.jpg",
        "https://example.com/a.jpg\n",
        "https://exa\tmple.com/a.jpg",
    ],
)
def test_a_url_containing_whitespace_is_rejected(url: str) -> None:
    document = spec_example()
    document["visits"][0]["image_url"][0] = url

    error = rejected_field(document)

    assert error.field == "visits[0].image_url[0]"
    assert "spaces" in error.message


@pytest.mark.parametrize(
    "url", ["https://example.com:99999/a.jpg", "http://example.com:port/a.jpg"]
)
def test_a_url_with_a_bad_port_is_rejected(url: str) -> None:
    document = spec_example()
    document["visits"][0]["image_url"][0] = url

    error = rejected_field(document)

    assert error.field == "visits[0].image_url[0]"
    assert "not a valid URL" in error.message


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.jpg",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "example.com/a.jpg",
        "/images/a.jpg",
    ],
)
def test_a_url_that_is_not_http_or_https_is_rejected(url: str) -> None:
    document = spec_example()
    document["visits"][1]["image_url"][0] = url

    error = rejected_field(document)

    assert error.field == "visits[1].image_url[0]"
    assert "http or https" in error.message


@pytest.mark.parametrize("url", ["http://", "https:///a.jpg", "http://:8080/a.jpg"])
def test_a_url_without_a_host_is_rejected(url: str) -> None:
    document = spec_example()
    document["visits"][0]["image_url"][0] = url

    error = rejected_field(document)

    assert error.field == "visits[0].image_url[0]"
    assert "host" in error.message


@pytest.mark.parametrize(
    "url",
    [
        "HTTPS://EXAMPLE.COM/A.JPG",
        "http://127.0.0.1:8080/a.png",
        "http://[::1]:8080/a.png",
        "https://example.com/a.jpg?size=large#top",
    ],
)
def test_http_and_https_urls_in_any_case_and_form_are_accepted(url: str) -> None:
    document = spec_example()
    document["visits"][0]["image_url"][0] = url

    assert parse_submission(document).visits[0].image_urls[0] == url


def test_the_first_bad_field_in_document_order_is_the_one_reported() -> None:
    document = spec_example()
    document["visits"][0]["image_url"][1] = 7
    document["visits"][1]["store_id"] = ""

    assert rejected_field(document).field == "visits[0].image_url[1]"


def test_an_integer_too_long_to_convert_is_a_validation_error_not_a_crash() -> None:
    body = b'{"count": ' + b"9" * 5000 + b', "visits": []}'

    with pytest.raises(ValidationError) as caught:
        parse_body(body)

    assert caught.value.field == "body"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("store_id",), "S0033\ud8009218"),
        (("visit_time",), "\udfff"),
        (("image_url", 0), "https://img.example.test/\ud800.jpg"),
    ],
)
def test_text_with_a_lone_surrogate_is_rejected_because_no_response_could_echo_it(
    path: tuple[str | int, ...], value: str
) -> None:
    document = spec_example()
    target: Any = document["visits"][1]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    error = rejected_field(document)

    assert error.field == "visits[1]." + ".".join(str(p) for p in path).replace(".0", "[0]")
    assert "surrogate" in error.message


@pytest.mark.parametrize(
    ("key", "value"),
    [("store_id", "S00339218\x00"), ("visit_time", "10:00\x1b[2J")],
)
def test_control_characters_in_text_fields_are_rejected(key: str, value: str) -> None:
    document = spec_example()
    document["visits"][0][key] = value

    error = rejected_field(document)

    assert error.field == f"visits[0].{key}"
    assert "control characters" in error.message


def test_a_url_with_a_control_character_is_rejected() -> None:
    document = spec_example()
    document["visits"][0]["image_url"][1] = "https://img.example.test/a\x00.jpg"

    assert rejected_field(document).field == "visits[0].image_url[1]"
