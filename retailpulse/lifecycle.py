"""One context-manager protocol for everything that runs threads and must be stopped."""

from typing import Any, Self

__all__ = ["Service"]


class Service:
    """``with`` starts the service and guarantees ``stop()``, even when the body raises.

    Subclasses provide ``start()`` (returning ``self``) and ``stop()``; a thing that is
    already running when it is made (a started ``System``) keeps the default ``start``.
    """

    def start(self) -> Self:
        return self

    def stop(self) -> Any:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
