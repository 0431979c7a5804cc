"""The fetch / validate / retry machinery: shared by the refresh run and the freeze.

Every answer is judged by :func:`policy.validate` (the only validation), inside the run's
deadline, with jittered exponential backoff between attempts. Each attempt walks the
certificate's responder URLs in order (spec.responder_urls: the ``responder_url`` override
alone, else every AIA OCSP URL) until one gives a valid answer; every request is recorded
with its URL.

Fail closed, per answer: when validation itself raises (a bug, or input the libraries
cannot read), the answer gets an invalid verdict with the code :data:`UNEXPECTED` naming
the exception; it is quarantined like any rejected answer and never stapled.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from ..aia import ocsp_request
from ..argspecs import LIFETIME
from ..certs import CertPair, iso
from ..compat import require_aware
from ..durations import assumed_lifetime
from ..errors import StoreError
from ..policy import Facts, Problem, Verdict, validate
from ..spec import CertificateSpec
from .fetch import Fetcher, FetchOptions
from .options import RefreshOptions
from .results import Attempt
from .selection import best, full_lived, long_lived
from .store import Store

Clock = Callable[[], _dt.datetime]


#: The problem / attempt code of anything unexpected while handling one certificate (an exception).
UNEXPECTED = "unexpected_error"


def unexpected(what: str, exc: BaseException) -> str:
    """One line naming an unexpected exception: ``<what>: unexpected ValueError: <message>``."""
    text = " ".join(str(exc).split())
    text = (text[:197] + "...") if len(text) > 200 else text
    return f"{what}: unexpected {type(exc).__name__}" + (f": {text}" if text else "")


def lifetime_of(spec: CertificateSpec, options: RefreshOptions) -> int | None:
    """``assume_lifetime_without_next_update`` in seconds for ``spec`` (durations.assumed_lifetime)."""
    return assumed_lifetime(
        spec.assume_lifetime_without_next_update,
        options.assume_lifetime_without_next_update,
        what=f"certificate {spec.name}: {LIFETIME}",
    )


def check_lifetimes(certificates: Sequence[CertificateSpec], options: RefreshOptions) -> None:
    """InputError naming the first certificate whose ``assume_lifetime_without_next_update`` is no duration."""
    for spec in certificates:
        lifetime_of(spec, options)


def verdict_of(
    data: bytes, pair: CertPair, spec: CertificateSpec, options: RefreshOptions, *, now: _dt.datetime
) -> Verdict:
    """policy.validate with the options' thresholds: the one call every central answer goes through.

    Never raises: an exception out of validation is an invalid verdict (code :data:`UNEXPECTED`).
    """
    try:
        return validate(
            data,
            pair,
            now=now,
            min_remaining=options.min_remaining,
            clock_skew=options.clock_skew,
            name=spec.name,
            assume_lifetime=lifetime_of(spec, options),
        )
    except Exception as exc:  # fail closed: whatever breaks the judging, the answer is not good
        message = unexpected(f"staple for {spec.name}: validation failed", exc)
        return Verdict(valid=False, problems=[Problem(UNEXPECTED, message)], facts=Facts(size=len(data)))


def judge(
    data: bytes | None,
    pair: CertPair,
    spec: CertificateSpec,
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
    verdict = verdict_of(data, pair, spec, options, now=now)
    if cache is not None:
        cache[data] = verdict
    return verdict


#: The most rounds one certificate is asked in one run, whatever the options (a bounded loop).
MAX_ROUNDS = 1000


@dataclass
class Collected:
    """The answers of one certificate's attempts: every attempt, the valid ones, the rejected ones."""

    attempts: list[Attempt] = field(default_factory=list)
    candidates: list[tuple[Verdict, bytes]] = field(default_factory=list)
    rejected: list[tuple[Attempt, bytes | None, Verdict | None]] = field(default_factory=list)
    #: The URL that gave each valid answer (by its bytes).
    sources: dict[bytes, str] = field(default_factory=dict)

    @property
    def best(self) -> tuple[Verdict, bytes] | None:
        """The valid answer with the latest effective expiry (then the latest thisUpdate)."""
        return best(self.candidates)

    @property
    def answered_by(self) -> str | None:
        """The URL that gave the best valid answer (None without one)."""
        chosen = self.best
        return self.sources.get(chosen[1]) if chosen is not None else None


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
        self, data: bytes | None, pair: CertPair, spec: CertificateSpec, cache: dict[bytes, Verdict] | None = None
    ) -> Verdict | None:
        """policy.validate at the clock's time; ``cache`` spares judging the same bytes twice for one certificate."""
        return judge(data, pair, spec, self.options, now=self.now(), cache=cache)

    def backoff(self, number: int) -> bool:
        """Sleep before attempt ``number`` (2, 3, ...); False when the deadline leaves no room."""
        step = min(self.options.backoff_max, self.options.backoff * 2 ** min(number - 2, 32))
        with self.rng_lock:
            delay = step / 2 + self.rng.uniform(0, step / 2)
        if self.monotonic() + delay + 0.1 >= self.deadline_at:
            return False
        self.sleep(delay)
        return True

    def collect(
        self,
        pair: CertPair,
        urls: Sequence[str],
        spec: CertificateSpec,
        judged: dict[bytes, Verdict] | None = None,
    ) -> Collected:
        """Ask in rounds inside the deadline, judging every answer.

        Each round asks ``urls`` in order until one gives a valid answer (a failed fetch or a
        rejected answer moves on to the next URL at once); backoff only between rounds. Stops
        early on a valid answer whose signer outlives its nextUpdate (nothing later can be much
        longer-lived); otherwise keeps asking for a longer-lived one: up to ``attempts`` rounds,
        or, without that cap (the freeze), until the deadline or a :func:`selection.long_lived`
        answer is in and ``compare_rounds`` rounds are done: a valid answer whose signer expires
        within days is not what an operator pins while a long-lived one is one retry away.
        """
        o = self.options
        out = Collected()
        if self.fetcher is None or not urls:  # an observing Asker (refresh.observe) asks nobody
            return out
        request = ocsp_request(pair)
        number = 0
        round_number = 0
        while round_number < MAX_ROUNDS:  # the deadline ends it; the bound holds even on a stopped clock
            round_number += 1
            if o.attempts is not None and round_number > o.attempts:
                break
            if o.attempts is None and round_number > o.compare_rounds and self._has_long_lived(out):
                break
            if round_number > 1 and not self.backoff(round_number):
                break
            for url in urls:
                number += 1
                answer = self._ask(url, request, pair=pair, spec=spec, number=number, out=out, judged=judged)
                if answer in ("valid", "deadline"):
                    break
            if answer == "deadline" or (answer == "valid" and full_lived(out.candidates[-1][0])):
                break
        return out

    @staticmethod
    def _has_long_lived(out: Collected) -> bool:
        chosen = best(out.candidates)
        return chosen is not None and long_lived(chosen[0])

    def _ask(
        self,
        url: str,
        request: bytes,
        *,
        pair: CertPair,
        spec: CertificateSpec,
        number: int,
        out: Collected,
        judged: dict[bytes, Verdict] | None,
    ) -> str:
        """One request to ``url``, recorded in ``out``; returns valid, rejected, fetch_failed or deadline."""
        fetched = self.fetcher.fetch(url, request, deadline=self.deadline_at) if self.fetcher else None
        at = self.now()
        stamp = iso(at) or ""
        if fetched is None or not fetched.ok or fetched.body is None:
            reason = fetched.reason if fetched is not None else "deadline"
            attempt = Attempt(number, stamp, url, "fetch_failed", reason, fetched.message if fetched else url)
            out.attempts.append(attempt)
            out.rejected.append((attempt, None, None))
            return "deadline" if reason == "deadline" else "fetch_failed"
        verdict = verdict_of(fetched.body, pair, spec, self.options, now=at)
        facts = verdict.facts.as_dict()
        if verdict.valid:
            out.attempts.append(Attempt(number, stamp, url, "valid", "ok", verdict.summary(), [], facts))
            out.candidates.append((verdict, fetched.body))
            out.sources.setdefault(fetched.body, url)
            if judged is not None:
                judged[fetched.body] = verdict
            return "valid"
        attempt = Attempt(number, stamp, url, "rejected", verdict.codes[0], verdict.summary(), verdict.codes, facts)
        out.attempts.append(attempt)
        out.rejected.append((attempt, fetched.body, verdict))
        return "rejected"


def record_failure(
    store: Store,
    name: str,
    *,
    during: str,
    message: str,
    at: _dt.datetime,
    lock_timeout: float,
    counts: bool = False,
) -> str | None:
    """Note an unexpected failure of one certificate in its store directory.

    state.json gets ``last_error`` (at, during, code, message; with ``counts`` also
    ``last_outcome``, ``last_attempt_at`` and one more consecutive failure) and the quarantine a
    record of it. Returns a warning line when even that fails (the store may be the cause).
    """
    stamp = iso(at)
    try:
        with store.lock(name, timeout=lock_timeout):
            try:
                state = store.read_state(name)
            except StoreError:
                state = {}
            state["name"] = name
            state["last_error"] = {"at": stamp, "during": during, "code": UNEXPECTED, "message": message}
            if counts:
                state["last_attempt_at"] = stamp
                state["last_outcome"] = UNEXPECTED
                state["consecutive_failures"] = int(state.get("consecutive_failures", 0)) + 1
            store.write_state(name, state)
            problems = [{"code": UNEXPECTED, "message": message}]
            record = {"name": name, "outcome": "failed", "reason": UNEXPECTED, "message": message, "problems": problems}
            store.quarantine(name, data=None, record=record, at=at, attempt=0)
    except Exception as exc:  # the run goes on; the caller reports this as a warning
        return unexpected(f"{name}: recording the failure in the store failed", exc)
    return None


def fail_unexpected(
    asking: Asker, store: Store, name: str, exc: BaseException, *, what: str, during: str, counts: bool = False
) -> tuple[str, str | None]:
    """One certificate's unexpected exception as its failure: (message, warning).

    The message names the exception (:func:`unexpected`); outside check mode the failure is
    recorded in the store (:func:`record_failure`), and ``warning`` says when even that failed.
    """
    message = unexpected(what, exc)
    if asking.options.check_mode or asking.options.offline:
        return message, None
    warning = record_failure(
        store,
        name,
        during=during,
        message=message,
        at=asking.now(),
        lock_timeout=asking.options.lock_timeout,
        counts=counts,
    )
    return message, warning


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
