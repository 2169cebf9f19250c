"""Property tests of the submit validator: any input is a Submission or a ValidationError
naming a real field, never another exception."""

import json
import re
from collections.abc import Callable
from typing import Any

from hypothesis import example, given, reject
from hypothesis import strategies as st

from retailpulse.errors import ValidationError
from retailpulse.submission import (
    _SIMPLE_URL,
    MAX_PORT,
    Submission,
    check_url_thoroughly,
    parse_body,
    parse_submission,
)
from retailpulse.testing.strategies import PYTHON_VALUES, URLS, valid_payloads

Path = tuple[str | int, ...]


def paths(document: Any, prefix: Path = ()) -> list[Path]:
    """Every path into ``document`` (the root excluded)."""
    found: list[Path] = []
    children: list[tuple[str | int, Any]] = []
    if isinstance(document, dict):
        children = list(document.items())
    elif isinstance(document, list):
        children = list(enumerate(document))
    for key, value in children:
        found.append((*prefix, key))
        found.extend(paths(value, (*prefix, key)))
    return found


def field_name(path: Path) -> str:
    """A path in the validator's notation: ``visits[1].image_url[0]``."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text


FIELD = re.compile(
    r"body|count|visits(\[(?P<visit>\d+)\](\.(store_id|visit_time|image_url(\[(?P<url>\d+)\])?))?)?"
)


def assert_names_a_real_field(error: ValidationError, document: Any) -> None:
    """The field is a path of the contract, and the visit and URL it points at exist."""
    match = FIELD.fullmatch(error.field)
    assert match is not None, f"unexpected field {error.field!r}"
    assert str(error).startswith(error.field + " ")
    if match["visit"] is not None:
        visit = document["visits"][int(match["visit"])]
        if match["url"] is not None:
            assert int(match["url"]) < len(visit["image_url"])


def outcome(parse: Callable[[], Submission]) -> Submission | ValidationError:
    """What the validator made of an input: the submission, or the error it raised.
    Any other exception propagates and fails the test."""
    try:
        return parse()
    except ValidationError as error:
        return error


# --- properties ------------------------------------------------------------------------


@given(PYTHON_VALUES)
@example({"count": 1, "visits": [{"store_id": "S1", "visit_time": "t", "image_url": ["\ud800"]}]})
@example({"count": float("nan"), "visits": []})
@example({"count": 10**5000, "visits": []})
def test_any_json_value_is_a_submission_or_an_error_naming_a_real_field(document: Any) -> None:
    result = outcome(lambda: parse_submission(document))

    if isinstance(result, ValidationError):
        assert_names_a_real_field(result, document)
    else:
        assert result.count == document["count"] == len(document["visits"])


@given(valid_payloads())
def test_every_valid_payload_is_accepted_as_sent(payload: dict[str, Any]) -> None:
    submission = parse_submission(payload)

    assert submission.count == payload["count"]
    assert [spec.url for spec in submission.images()] == [
        url for visit in payload["visits"] for url in visit["image_url"]
    ]
    assert [v.store_id for v in submission.visits] == [v["store_id"] for v in payload["visits"]]


@given(valid_payloads(), st.data())
def test_a_valid_payload_with_one_field_changed_fails_on_that_field_or_passes(
    payload: dict[str, Any], data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(paths(payload)), label="path")
    delete = data.draw(st.booleans(), label="delete")
    value = None if delete else data.draw(PYTHON_VALUES, label="new value")
    parent = payload
    for key in path[:-1]:
        parent = parent[key]  # type: ignore[index]
    if delete:
        del parent[path[-1]]  # type: ignore[arg-type]
    else:
        parent[path[-1]] = value  # type: ignore[index]

    result = outcome(lambda: parse_submission(payload))

    if isinstance(result, ValidationError):
        assert_names_a_real_field(result, payload)
        assert blamed(result.field, path, delete), (result.field, path, delete)


def blamed(field: str, path: Path, deleted: bool) -> bool:
    """Whether an error on ``field`` is one that changing ``path`` can cause: on the
    field itself or inside it; on its list, if an element was removed (it may now be
    empty); on ``count``, if the number of visits changed."""
    changed = field_name(path)
    if field == changed or field.startswith((changed + ".", changed + "[")):
        return True
    if deleted and isinstance(path[-1], int) and field == field_name(path[:-1]):
        return True
    visits_changed = path == ("visits",) or (deleted and len(path) == 2)
    return field == "count" and (path == ("count",) or visits_changed)


@given(st.binary(max_size=200))
@example(b"\xef\xbb\xbf{}")
@example(b"\xff\xfe\x00\xd8")
@example(b"[" * 100_000)
@example(b'{"count": NaN, "visits": []}')
@example(b'{"count": 1' + b"0" * 5000 + b', "visits": []}')
def test_any_bytes_are_a_submission_or_an_error_naming_a_real_field(body: bytes) -> None:
    result = outcome(lambda: parse_body(body))

    if isinstance(result, ValidationError):
        assert FIELD.fullmatch(result.field), result.field


@given(PYTHON_VALUES, st.sampled_from(["utf-8", "utf-16", "utf-16-be", "utf-32", "utf-32-le"]))
def test_every_json_encoding_gives_the_same_verdict_as_the_decoded_value(
    document: Any, encoding: str
) -> None:
    try:
        text = json.dumps(document)  # ASCII, with lone surrogates as \u escapes
    except ValueError:  # integers of over 4,300 digits cannot be written as JSON
        reject()
    decoded = outcome(lambda: parse_submission(document))
    received = outcome(lambda: parse_body(text.encode(encoding)))

    if isinstance(decoded, Submission):
        assert received == decoded
    else:
        assert isinstance(received, ValidationError)
        assert received.field == decoded.field


@given(st.from_regex(_SIMPLE_URL, fullmatch=True) | URLS)
def test_every_url_the_fast_path_accepts_passes_the_thorough_check_too(url: str) -> None:
    simple = _SIMPLE_URL.fullmatch(url)
    if simple is None or int(simple["port"] or 0) > MAX_PORT:
        reject()

    check_url_thoroughly(url, "image_url[0]")
