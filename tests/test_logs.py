"""Structured log lines: key=value text that greps well, or one JSON object per line."""

import io
import json
import logging

import pytest

from retailpulse.logs import JsonFormatter, configure_logging, format_fields, log_event


def test_job_and_store_lead_the_line_then_the_event_then_the_other_fields() -> None:
    line = format_fields("image_failed", {"url": "https://x/a.jpg", "store": "S1", "job": 3})

    assert line == "job=3 store=S1 event=image_failed url=https://x/a.jpg"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("the server answered 404", '"the server answered 404"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("a=b", '"a=b"'),
        ("two\nlines", '"two\\nlines"'),
        ("", '""'),
        (0.1234, "0.123"),
        (7, "7"),
    ],
)
def test_values_with_spaces_quotes_or_equals_are_quoted_so_the_line_stays_parseable(
    value: object, shown: str
) -> None:
    assert format_fields("e", {"reason": value}) == f"event=e reason={shown}"


def test_log_event_keeps_the_fields_on_the_record(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="test.logs")

    log_event(logging.getLogger("test.logs"), logging.INFO, "job_started", job=1, images=2)

    [record] = caplog.records
    assert record.getMessage() == "job=1 event=job_started images=2"
    assert (record.event, record.fields) == ("job_started", {"job": 1, "images": 2})  # type: ignore[attr-defined]


def test_json_format_writes_the_event_and_its_fields_as_one_object() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.logs.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log_event(logger, logging.WARNING, "image_failed", job=3, store="S1", reason="404")
        logger.info("plain %s", "message")
    finally:
        logger.removeHandler(handler)

    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "WARNING"
    assert {k: first[k] for k in ("event", "job", "store", "reason")} == {
        "event": "image_failed",
        "job": 3,
        "store": "S1",
        "reason": "404",
    }
    assert second["message"] == "plain message"
    assert "event" not in second


def test_configure_logging_leaves_a_root_logger_that_has_handlers_alone() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    assert before, "pytest installs its capture handlers on the root logger"

    configure_logging("DEBUG", "json", io.StringIO())

    assert root.handlers == before
