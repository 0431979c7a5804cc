"""Bounded waits for the test bed and the tests: poll a condition until a monotonic deadline.

Every wait of the testbed and of the tests goes through :func:`wait_until` (or :func:`poll`
when running out of time is an answer, not an error): never a fixed sleep followed by an
assertion, never a single-shot check of something that becomes true asynchronously. A
timeout says what was awaited and for how long.

Deadlines are generous (waiting longer costs nothing when the condition comes true early)
and scale with ``OCSP_TEST_TIMEOUT_SCALE`` (a positive number, default 1): a loaded CI
machine can set 3 without touching a test. :func:`scaled` applies the same factor to
one-shot timeouts (``subprocess.run(..., timeout=scaled(60))``, socket timeouts).
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable
from typing import IO, TypeVar

T = TypeVar("T")

SCALE_ENV = "OCSP_TEST_TIMEOUT_SCALE"
#: First pause between two checks; it doubles up to MAX_INTERVAL (cheap checks stay responsive).
INTERVAL = 0.02
MAX_INTERVAL = 0.25


class WaitTimeout(AssertionError):
    """A condition did not come true before its deadline (one line: what, and for how long)."""


def scale() -> float:
    """The factor of ``OCSP_TEST_TIMEOUT_SCALE`` (1 when unset); anything but a positive number is an error."""
    text = os.environ.get(SCALE_ENV, "").strip()
    if not text:
        return 1.0
    try:
        factor = float(text)
    except ValueError:
        factor = 0.0
    if not factor > 0 or factor == float("inf"):
        raise ValueError(f"{SCALE_ENV}={text!r}: expected a positive number such as 1, 2.5 or 3")
    return factor


def scaled(seconds: float) -> float:
    """``seconds`` times the scale factor: for one-shot timeouts (subprocess, socket, join)."""
    return seconds * scale()


def poll(
    predicate: Callable[[], T],
    timeout: float,
    *,
    interval: float = INTERVAL,
    max_interval: float = MAX_INTERVAL,
) -> T | None:
    """The first truthy value of ``predicate()``, checked until ``timeout`` (scaled) s have passed; else None.

    The predicate runs at least once and once more at the deadline, so a condition that
    came true while the last pause ran is never missed. An exception it raises ends the
    wait (a process that died while awaited is an answer too).
    """
    deadline = time.monotonic() + scaled(timeout)
    pause = interval
    while True:
        value = predicate()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(pause, left))
        pause = min(pause * 2, max_interval)


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    *,
    error: Callable[[str], BaseException] = WaitTimeout,
    interval: float = INTERVAL,
) -> T:
    """Poll ``predicate`` until it returns a truthy value (returned) or ``timeout`` (scaled) s pass.

    On the deadline raises ``error("timed out after N s waiting for <what>")``: :class:`WaitTimeout`
    (an AssertionError) unless the caller's own error class is given.
    """
    value = poll(predicate, timeout, interval=interval)
    if not value:
        raise error(f"timed out after {scaled(timeout):g} s waiting for {what}")
    return value


def readline(stream: IO[bytes] | IO[str], timeout: float, what: str) -> str:
    """The first line a child writes to ``stream`` (a pipe), read with a deadline, without its newline.

    Reads the file descriptor byte by byte (nothing after the newline is consumed), so the
    pipe must not have been read through its buffer before. End of file before a newline
    returns what came (possibly ""): the caller's assertion then names what is wrong.
    """
    fd = stream.fileno()
    data = bytearray()

    def complete() -> bool:
        while select.select([fd], [], [], 0)[0]:
            byte = os.read(fd, 1)
            if not byte or byte == b"\n":
                return True
            data.extend(byte)
        return False

    wait_until(complete, timeout, what, interval=0.01)
    return data.decode(errors="replace").rstrip("\r")
