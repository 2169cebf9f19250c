"""In-process fakes for the ports in ``retailpulse.ports``."""

import io
import random
import threading
from collections.abc import Mapping
from typing import Any

from PIL import Image

from retailpulse.actors.messages import ImageDone
from retailpulse.actors.refs import deliver
from retailpulse.config import ServiceConfig
from retailpulse.download import HttpFetcher
from retailpulse.ports import Delivery, FetchError

__all__ = [
    "FakeFetcher",
    "GatedFetcher",
    "HeldGpu",
    "InstantGpu",
    "ManualClock",
    "SeededRandom",
    "SteppingTimer",
    "image_bytes",
    "loopback_fetcher",
]

Answer = bytes | tuple[int, int] | BaseException


def image_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    """Encode a blank image of the given size (PNG, JPEG, GIF, WEBP...)."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, format=fmt)
    return buffer.getvalue()


class FakeFetcher:
    """Serves canned answers by URL, with no network.

    Each answer is the body to return, a ``(width, height)`` to serve as a PNG of
    that size, or an exception to raise (``FetchError`` for a download failure, any
    other exception to simulate a bug). Unknown URLs fail like an HTTP 404.
    ``calls`` lists the URLs fetched, in order.
    """

    def __init__(self, answers: Mapping[str, Answer] | None = None) -> None:
        self._answers = dict(answers or {})
        self.calls: list[str] = []

    def fetch(self, url: str) -> bytes:
        self.calls.append(url)
        answer = self._answers.get(url)
        if answer is None:
            raise FetchError(f"{url}: the server answered HTTP 404 Not Found")
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, tuple):
            return image_bytes(*answer)
        return answer


class GatedFetcher(FakeFetcher):
    """A ``FakeFetcher`` whose downloads wait until the test opens ``gate``.

    For tests that need a job to stay running (cancel it, page its results while it
    runs, count what has begun): ``waiting`` lists the URLs whose download has begun
    (``list.append`` is atomic, so workers may share it). A download still waiting
    after ``wait`` seconds fails, so a test that forgets to open the gate ends.
    """

    def __init__(
        self,
        answers: Mapping[str, Answer] | None,
        gate: threading.Event,
        wait: float = 5.0,
    ) -> None:
        super().__init__(answers)
        self._gate = gate
        self._wait = wait
        self.waiting: list[str] = []

    def fetch(self, url: str) -> bytes:
        self.waiting.append(url)
        if not self._gate.wait(self._wait):
            raise FetchError(f"{url}: the test never opened the gate")
        return super().fetch(url)


class InstantGpu:
    """The simulated GPU with no waiting: records each requested time and delivers
    the messages at once, its clock jumping ahead by the time asked for.

    ``gpu_times`` holds the GPU pauses (the times that end with an image's
    ``ImageDone``); ``notices`` the other times asked for, such as the dispatcher's
    wake-up when its readahead is full.
    """

    def __init__(self) -> None:
        self.gpu_times: list[float] = []
        self.notices: list[float] = []
        self._time = 0.0

    def now(self) -> float:
        return self._time

    def after(self, seconds: float, *deliveries: Delivery) -> None:
        (self.gpu_times if _ends_an_image(deliveries) else self.notices).append(seconds)
        self._time = max(self._time, self._time + seconds)
        deliver(deliveries)


def _ends_an_image(deliveries: tuple[Delivery, ...]) -> bool:
    """Whether this is a GPU pause: its deliveries include an image's ``ImageDone``."""
    return any(isinstance(message, ImageDone) for _, message in deliveries)


def loopback_fetcher(**settings: Any) -> HttpFetcher:
    """The real ``HttpFetcher``, allowed to reach test servers on 127.0.0.1, with 2 s
    timeouts and 10 ms pauses between retries; ``settings`` override any of them."""
    options: dict[str, Any] = {
        "allow_private_urls": True,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "retry_backoff": 0.01,
        **settings,
    }
    return HttpFetcher(ServiceConfig(**options))


class HeldGpu:
    """The simulated GPU held by the test: it keeps what it is given until ``release()``.

    ``held`` lists ``(seconds, deliveries)`` in the order given; ``release()`` delivers
    and forgets them all, its clock moving to when the last of them was due, as if
    their time were up.
    """

    def __init__(self) -> None:
        self.held: list[tuple[float, tuple[Delivery, ...]]] = []
        self._time = 0.0
        self._due = 0.0

    def now(self) -> float:
        return self._time

    def after(self, seconds: float, *deliveries: Delivery) -> None:
        self._due = max(self._due, self._time + seconds)
        self.held.append((seconds, deliveries))

    @property
    def gpu_times(self) -> list[float]:
        """The GPU pauses held (leaving out the dispatcher's wake-ups)."""
        return [seconds for seconds, deliveries in self.held if _ends_an_image(deliveries)]

    def release(self) -> None:
        released, self.held = self.held, []
        self._time = max(self._time, self._due)
        for _, deliveries in released:
            deliver(deliveries)


class SeededRandom(random.Random):
    """``random.Random`` with a fixed default seed, so runs repeat exactly."""

    def __init__(self, seed: int = 1234) -> None:
        super().__init__(seed)


class ManualClock:
    """A clock that moves only when the test says so."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SteppingTimer:
    """A duration timer (like ``time.perf_counter``) that moves ``step`` seconds per read,
    so every measured duration is exactly ``step``."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now
