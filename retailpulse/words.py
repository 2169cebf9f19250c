"""Counts in messages people read: "1 store", "4,944 stores"."""

__all__ = ["plural"]


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``count`` and ``noun``, the noun in the plural unless the count is one."""
    word = noun if count == 1 else (plural_noun or noun + "s")
    return f"{count:,} {word}"
