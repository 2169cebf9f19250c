"""The OpenAPI document agrees with itself and with the README about what is served."""

import re
from pathlib import Path

from retailpulse.http.openapi import openapi_document

README = Path(__file__).resolve().parents[2] / "README.md"


def operations() -> list[tuple[str, str, dict[str, object]]]:
    document = openapi_document()
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_the_readmes_openapi_section_names_every_operation_in_the_document() -> None:
    section = README.read_text().split("## OpenAPI document\n", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(GET|POST|HEAD) (/[^`\s]*)`", section))

    assert named == {(method, path) for method, path, _ in operations()}


def test_the_description_names_every_operation_that_does_not_answer_json() -> None:
    description = openapi_document()["info"]["description"]
    not_json = [
        f"{method} {path}"
        for method, path, operation in operations()
        if any(
            "content" in response and "application/json" not in response["content"]
            for response in operation["responses"].values()  # type: ignore[attr-defined]
        )
    ]

    assert not_json == ["GET /metrics"]
    assert "Every response is JSON except `GET /metrics`" in description
