"""Hypothesis strategies for submit payloads, for property tests of code that builds or
checks them (this project's validator and HTTP layer, and programs embedding it).

Needs ``hypothesis`` (in the ``test`` extra); nothing else in ``retailpulse.testing``
imports this module, so the other doubles work without it.
"""

from typing import Any

from hypothesis import strategies as st

__all__ = ["ANY_TEXT", "JSON_VALUES", "PYTHON_VALUES", "URLS", "VISITS", "valid_payloads"]

ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=30)
"""Any code point, lone surrogates and control characters included."""

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities too: Python's json reads and writes them
    | ANY_TEXT
)

_HUGE_INTEGERS = st.integers(4290, 4310).map(lambda digits: 10**digits)
"""Around int-to-str's limit: a dict from a program can hold them, JSON text cannot."""

_PAYLOAD_KEYS = st.sampled_from(["count", "visits", "store_id", "image_url", "visit_time"])


def _nested(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(_PAYLOAD_KEYS | ANY_TEXT, children, max_size=5)
        ),
        max_leaves=25,
    )


JSON_VALUES = _nested(_SCALARS)
"""Arbitrary values that JSON can carry; dict keys lean towards the payload's own names."""

PYTHON_VALUES = _nested(_SCALARS | _HUGE_INTEGERS)
"""``JSON_VALUES`` plus integers too long to print: what the embedding API may be given."""

URLS = st.builds(
    "{}://{}{}{}/{}".format,
    st.sampled_from(["http", "https", "HTTP"]),
    st.text("abcxyz019", min_size=1, max_size=8),
    st.sampled_from(["", ".example.com", ".test", "-1.b"]),
    st.sampled_from(["", ":8080", ":1"]),
    st.text("abz09._~/-", max_size=12),
)
"""Valid http(s) URLs of many shapes (never fetched by the validator)."""

VISITS = st.fixed_dictionaries(
    {
        "store_id": st.integers(0, 99_999_999).map("S{:08d}".format),
        "image_url": st.lists(URLS, min_size=1, max_size=3),
        "visit_time": st.text("09:-T Zé", min_size=1, max_size=20).filter(str.strip),
    }
)
"""Valid visits (their store ids may be unknown to the store master: that is allowed)."""


@st.composite
def valid_payloads(draw: st.DrawFn, visits: st.SearchStrategy[Any] = VISITS) -> dict[str, Any]:
    """A valid submit body: one to four visits and the matching ``count``."""
    drawn = draw(st.lists(visits, min_size=1, max_size=4))
    return {"count": len(drawn), "visits": drawn}
