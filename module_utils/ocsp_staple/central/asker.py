"""The fetch / validate / retry machinery: shared by the refresh run and the freeze.

Every answer is judged by :func:`policy.validate` (the only validation), inside the run's
deadline, with jittered exponential backoff between attempts.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..certs import CertPair, iso
from ..compat import require_aware
from ..policy import Verdict, validate
from .fetch import Fetcher, FetchOptions
from .options import RefreshOptions
from .results import Attempt
from .selection import best, full_lived

Clock = Callable[[], _dt.datetime]


def verdict_of(data: bytes, pair: CertPair, name: str, options: RefreshOptions, *, now: _dt.datetime) -> Verdict:
    """policy.validate with the options' thresholds: the one call every central answer goes through."""
    return validate(data, pair, now=now, min_remaining=options.min_remaining, clock_skew=options.clock_skew, name=name)


def judge(
    data: bytes | None,
    pair: CertPair,
    name: str,
    options: RefreshOptions,
    *,
    now: _dt.datetime,
    cache: dict[bytes, Verdict] | None = None,
) -> Verdict | None:
    """policy.validate with the options' thresholds (None for no data); ``cache`` keyed by the bytes."""
    if data is None:
        return None
    if cache is not None and data in cache:
        return cache[data]
    verdict = verdict_of(data, pair, name, options, now=now)
    if cache is not None:
        cache[data] = verdict
    return verdict

@dataclass
class Collected:
    """The answers of one certificate's attempts: every attempt, the valid ones, the rejected ones."""

    attempts: list[Attempt] = field(default_factory=list)
    candidates: list[tuple[Verdict, bytes]] = field(default_factory=list)
    rejected: list[tuple[Attempt, bytes | None, Verdict | None]] = field(default_factory=list)

    @property
    def best(self) -> tuple[Verdict, bytes] | None:
        """The valid answer with the latest effective expiry (then the latest thisUpdate)."""
        return best(self.candidates)


class Asker:
    """The fetch / validate / retry machinery: shared by the refresh run and the freeze (freeze.py).

    Without a fetcher it only judges (``refresh.observe``): :meth:`collect` then asks nobody.
    """

    def __init__(
        self,
        options: RefreshOptions,
        *,
        clock: Clock,
        fetcher: Fetcher | None,
        monotonic: Callable[[], float],
        sleep: Callable[[float], None],
        rng: random.Random,
    ) -> None:
        self.options = options
        self.clock = clock
        self.fetcher = fetcher
        self.monotonic = monotonic
        self.sleep = sleep
        self.rng = rng
        self.rng_lock = threading.Lock()
        self.deadline_at = monotonic() + options.deadline

    def now(self) -> _dt.datetime:
        return require_aware(self.clock(), "clock()")

    def judge(
        self, data: bytes | None, pair: CertPair, name: str, cache: dict[bytes, Verdict] | None = None
    ) -> Verdict | None:
        """policy.validate at the clock's time; ``cache`` spares judging the same bytes twice for one certificate."""
        return judge(data, pair, name, self.options, now=self.now(), cache=cache)

    def backoff(self, number: int) -> bool:
        """Sleep before attempt ``number`` (2, 3, ...); False when the deadline leaves no room."""
        step = min(self.options.backoff_max, self.options.backoff * 2 ** (number - 2))
        with self.rng_lock:
            delay = step / 2 + self.rng.uniform(0, step / 2)
        if self.monotonic() + delay + 0.1 >= self.deadline_at:
            return False
        self.sleep(delay)
        return True

    def collect(self, pair: CertPair, url: str, name: str, judged: dict[bytes, Verdict] | None = None) -> Collected:
        """Ask ``url`` up to ``attempts`` times inside the deadline, judging every answer.

        Stops early on a valid answer whose signer outlives its nextUpdate (nothing later
        can be much longer-lived); otherwise keeps asking for a longer-lived one.
        """
        o = self.options
        out = Collected()
        if self.fetcher is None:  # an observing Asker (refresh.observe) asks nobody
            return out
        request = pair.ocsp_request()
        for number in range(1, o.attempts + 1):
            if number > 1 and not self.backoff(number):
                break
            fetched = self.fetcher.fetch(url, request, deadline=self.deadline_at)
            at = self.now()
            stamp = iso(at) or ""
            if not fetched.ok or fetched.body is None:
                attempt = Attempt(number, stamp, url, "fetch_failed", fetched.reason, fetched.message)
                out.attempts.append(attempt)
                out.rejected.append((attempt, None, None))
                if fetched.reason == "deadline":
                    break
                continue
            verdict = verdict_of(fetched.body, pair, name, o, now=at)
            facts = verdict.facts.as_dict()
            if verdict.valid:
                out.attempts.append(Attempt(number, stamp, url, "valid", "ok", verdict.summary(), [], facts))
                out.candidates.append((verdict, fetched.body))
                if judged is not None:
                    judged[fetched.body] = verdict
                if full_lived(verdict):
                    break
            else:
                attempt = Attempt(
                    number, stamp, url, "rejected", verdict.codes[0], verdict.summary(), verdict.codes, facts
                )
                out.attempts.append(attempt)
                out.rejected.append((attempt, fetched.body, verdict))
        return out

def make_fetcher(options: RefreshOptions, *, monotonic: Callable[[], float] = time.monotonic) -> Fetcher:
    """The Fetcher for ``options`` (timeout, size cap, method, proxy, pool as large as the concurrency)."""
    return Fetcher(
        FetchOptions(
            timeout=options.timeout,
            max_size=options.max_size,
            method=options.method,
            proxy=options.proxy,
            follow_redirects=options.follow_redirects,
            pool_size=options.concurrency,
        ),
        monotonic=monotonic,
    )

@contextlib.contextmanager
def asker(
    options: RefreshOptions,
    *,
    clock: Clock,
    fetcher: Fetcher | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> Iterator[Asker]:
    """An :class:`Asker` for the block; a Fetcher made here is closed when it ends."""
    the_fetcher = fetcher or make_fetcher(options, monotonic=monotonic)
    try:
        yield Asker(
            options,
            clock=clock,
            fetcher=the_fetcher,
            monotonic=monotonic,
            sleep=sleep,
            rng=rng or random.Random(),  # noqa: S311 - backoff jitter, not cryptography
        )
    finally:
        if fetcher is None:
            the_fetcher.close()
