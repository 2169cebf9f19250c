"""The rules of paged reads, stated once for the embedding API and the HTTP layer.

``System`` checks every ``limit`` and ``after`` it is given against these rules; the
HTTP layer only turns query text into the integer to check (``parse``), with the
same message when the text is not one, so both say the same thing in the same words.
"""

from dataclasses import dataclass

from retailpulse.errors import ValidationError

__all__ = [
    "IMAGE_PAGE_AFTER",
    "IMAGE_PAGE_LIMIT",
    "JOB_PAGE_AFTER",
    "JOB_PAGE_LIMIT",
    "MAX_IMAGE_PAGE",
    "MAX_PAGE",
    "IntRule",
]

MAX_PAGE = 500
"""Most jobs one ``jobs()`` call lists."""

MAX_IMAGE_PAGE = 10_000
"""Most images one page of results holds."""

MAX_DIGITS = 18
"""Longer digit strings are refused before ``int()``: no huge integers from a query."""


@dataclass(frozen=True, slots=True)
class IntRule:
    """An integer parameter ``field`` from ``low`` to ``high`` (``None``: no top)."""

    field: str
    low: int
    high: int | None = None
    meaning: str = ""
    """What the number is, when a range alone would not say (``a job id``)."""

    @property
    def message(self) -> str:
        if self.meaning:
            return f"must be {self.meaning}"
        span = (
            f"from {self.low} to {self.high}" if self.high is not None else f"of {self.low} or more"
        )
        return f"must be an integer {span}"

    def check(self, value: object) -> int:
        """``value`` itself if it keeps the rule; else ``ValidationError`` naming the field."""
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < self.low
            or (self.high is not None and value > self.high)
        ):
            raise ValidationError(self.field, self.message)
        return value

    def parse(self, text: str) -> int:
        """Query text as the integer to ``check``: plain ASCII digits only (no sign, no
        spaces, no ``1e3``); anything else is refused with the rule's message."""
        if not text.isascii() or not text.isdigit() or len(text) > MAX_DIGITS:
            raise ValidationError(self.field, self.message)
        return int(text)


JOB_PAGE_LIMIT = IntRule("limit", 1, MAX_PAGE)
JOB_PAGE_AFTER = IntRule("after", 1, meaning="a job id (a positive integer)")
IMAGE_PAGE_LIMIT = IntRule("limit", 1, MAX_IMAGE_PAGE)
IMAGE_PAGE_AFTER = IntRule("after", 0)
