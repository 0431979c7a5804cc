"""A client that hammers TLS endpoints with fresh handshakes while something changes (test material).

One thread per endpoint loops: a full handshake with SNI and the OCSP status request
(:func:`ocsp_staple.node.live.fetch_served_staple`, the project's one TLS client), tallying
what came back: a failed handshake, no staple, or the served staple's bytes (so a caller can
tell the old staple from the new one). Threads stop when :meth:`Hammer.stop` is called or
after ``limit`` seconds, whichever comes first: no loop is unbounded.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ocsp_staple.errors import OcspStapleError
from ocsp_staple.node.live import fetch_served_staple

from .wait import scaled


@dataclass(frozen=True)
class Target:
    """One endpoint and the SNI name asked for."""

    host: str
    port: int
    servername: str

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}/{self.servername}"


@dataclass
class Tally:
    """What one endpoint answered while hammered."""

    handshakes: int = 0
    failed: int = 0
    unstapled: int = 0
    #: sha256 prefix of the served staple -> count
    staples: Counter[str] = field(default_factory=Counter)
    first_error: str = ""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


class Hammer:
    """Fresh handshakes against every target in a loop, one thread each, until stopped."""

    def __init__(self, targets: Sequence[Target], *, limit: float = 900.0, timeout: float = 5.0) -> None:
        self.targets = list(targets)
        self.limit = limit
        self.timeout = timeout
        self.tallies = {t.label: Tally() for t in self.targets}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _run(self, target: Target) -> None:
        tally = self.tallies[target.label]
        deadline = time.monotonic() + scaled(self.limit)
        while not self._stop.is_set() and time.monotonic() < deadline:
            tally.handshakes += 1
            try:
                served = fetch_served_staple(
                    target.host, target.port, servername=target.servername, timeout=scaled(self.timeout)
                )
            except OcspStapleError as exc:
                tally.failed += 1
                tally.first_error = tally.first_error or str(exc)
                self._stop.wait(0.05)  # a refused port is instant: do not spin
                continue
            if served.staple is None:
                tally.unstapled += 1
            else:
                tally.staples[digest(served.staple)] += 1

    def start(self) -> None:
        for target in self.targets:
            thread = threading.Thread(target=self._run, args=(target,), name=f"hammer {target.label}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=scaled(self.timeout) + 5)

    def __enter__(self) -> Hammer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def totals(self) -> Tally:
        total = Tally()
        for tally in self.tallies.values():
            total.handshakes += tally.handshakes
            total.failed += tally.failed
            total.unstapled += tally.unstapled
            total.staples.update(tally.staples)
            total.first_error = total.first_error or tally.first_error
        return total
