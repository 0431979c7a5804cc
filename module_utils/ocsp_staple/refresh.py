"""The refresh run: fetch when due, retry until good, keep the best, never trade down.

One code path for the ``ocsp_response`` Ansible module and ``ocsp-staple refresh``.
For each certificate (docs/STORE.md has the rules in prose):

* **due** when forced, frozen (a frozen certificate keeps being observed), without a
  current staple, with an invalid current staple, or when more than ``refresh_fraction``
  of the current staple's effective validity window (thisUpdate .. min(nextUpdate, signer
  notAfter)) is used. A fresh staple means no request and no write at all.
* **retry until good**: up to ``attempts`` answers, jittered exponential backoff, all
  inside the run's ``deadline``; every answer is judged by :func:`policy.validate` (the
  only validation); a run stops early on a valid answer whose signer outlives its
  nextUpdate, otherwise it keeps asking for a longer-lived one (the 2015 workaround).
  Among the valid answers the latest effective expiry wins (then the latest thisUpdate).
* **selection**: ``current.der`` changes only to a valid answer that is not older
  (thisUpdate) and does not expire earlier than the current staple, and is newer in one of
  them; an invalid or missing current staple is replaced by any valid answer. A frozen
  certificate's ``current.der`` never changes.
* **failure rule**: a certificate fails when the staple it deploys (the pinned one while
  frozen) is missing or invalid, or has less than ``critical_remaining`` left, or when it
  is Must-Staple without an OCSP URL, or when the certificate has expired (no request is
  sent). Without an OCSP URL otherwise it is not applicable.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .certs import CertPair, iso, load_pair, not_after
from .compat import require_aware
from .durations import parse_duration
from .errors import CertificateError, InputError, OcspStapleError, StoreError
from .fetch import DEFAULT_MAX_SIZE, Fetcher, FetchOptions, check_url
from .policy import DEFAULT_CLOCK_SKEW, DEFAULT_MIN_REMAINING, Verdict, human_duration, validate
from .store import Store, check_name

ACTIONS = ("updated", "kept", "frozen", "not_applicable", "failed")
DEFAULT_CRITICAL_REMAINING = 6 * 3600
DIFF_KEYS = ("this_update", "next_update", "expires_at")

Clock = Callable[[], _dt.datetime]
#: state.json's ``not_applicable`` for a certificate without an OCSP URL (absent otherwise).
NO_URL = "no OCSP URL in the certificate and no responder_url"


#: The argument_spec of one ``certificates`` entry (the modules' ``options``; doc fragment
#: ``ocsp_staple.certificates`` documents it).
CERTIFICATE_OPTIONS: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "required": True},
    "certificate": {"type": "path", "required": True},
    "issuer": {"type": "path"},
    "responder_url": {"type": "str"},
}


@dataclass(frozen=True)
class CertificateSpec:
    """One entry of the ``certificates`` list."""

    name: str
    certificate: str
    issuer: str | None = None
    responder_url: str | None = None


def certificate_record(spec: CertificateSpec | None) -> dict[str, Any] | None:
    """The certificate entry as state.json records it: ``ocsp-staple check --store`` reads the files from it."""
    if spec is None:
        return None
    return {
        "certificate": os.path.abspath(spec.certificate),
        "issuer": os.path.abspath(spec.issuer) if spec.issuer else None,
        "responder_url": spec.responder_url,
    }


def parse_certificates(items: Any) -> list[CertificateSpec]:
    """Check the ``certificates`` list (dicts with name, certificate, issuer?, responder_url?)."""
    if not isinstance(items, list):
        raise InputError(f"certificates: expected a list of {{name, certificate}} entries, got {type(items).__name__}")
    if not items:
        raise InputError("certificates: the list is empty; give at least one {name, certificate} entry")
    specs: list[CertificateSpec] = []
    seen: set[str] = set()
    allowed = set(CERTIFICATE_OPTIONS)
    for index, item in enumerate(items):
        where = f"certificates[{index}]"
        if not isinstance(item, dict):
            raise InputError(f"{where}: expected a mapping with name and certificate, got {type(item).__name__}")
        unknown = sorted(set(item) - allowed)
        if unknown:
            raise InputError(f"{where}: unknown keys {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
        name = check_name(item.get("name"))
        if name in seen:
            raise InputError(f"{where}: certificate name {name!r} appears twice")
        seen.add(name)
        certificate = item.get("certificate")
        if not isinstance(certificate, str) or not certificate:
            raise InputError(f"{where} ({name}): 'certificate' (a PEM file path) is required")
        issuer = item.get("issuer") or None
        url = item.get("responder_url") or None
        if url is not None:
            check_url(str(url), what=f"{where} ({name}) responder_url")
        specs.append(CertificateSpec(name, certificate, str(issuer) if issuer else None, str(url) if url else None))
    return specs


def _seconds(value: Any, what: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise InputError(f"{what}: must not be negative, got {value!r}")
        return float(value)
    text = str(value).strip()
    try:
        return float(text) if text.replace(".", "", 1).isdigit() else float(parse_duration(text, what=what))
    except ValueError:
        raise InputError(f"{what}: expected seconds or a duration like 10s, got {value!r}") from None


@dataclass(frozen=True)
class RefreshOptions:
    attempts: int = 3
    refresh_fraction: float = 0.5
    force: bool = False
    timeout: float = 10.0
    deadline: float = 120.0
    concurrency: int = 10
    min_remaining: int = DEFAULT_MIN_REMAINING
    critical_remaining: int = DEFAULT_CRITICAL_REMAINING
    clock_skew: int = DEFAULT_CLOCK_SKEW
    proxy: str | None = None
    method: str = "POST"
    max_size: int = DEFAULT_MAX_SIZE
    follow_redirects: bool = False
    metrics_path: str | None = None
    check_mode: bool = False
    backoff: float = 0.5
    backoff_max: float = 8.0
    history_keep: int = 5
    quarantine_keep: int = 50
    lock_timeout: float = 120.0
    offline: bool = False  # judge what the store holds, ask nobody, write nothing (the metrics excepted)

    def __post_init__(self) -> None:
        if not 1 <= self.attempts <= 100:
            raise InputError(f"attempts: must be between 1 and 100, got {self.attempts!r}")
        if not 0.0 < self.refresh_fraction <= 1.0:
            raise InputError(f"refresh_fraction: must be in (0, 1], got {self.refresh_fraction!r}")
        if not 1 <= self.concurrency <= 256:
            raise InputError(f"concurrency: must be between 1 and 256, got {self.concurrency!r}")
        if self.timeout <= 0 or self.deadline <= 0:
            raise InputError(f"timeout and deadline must be positive, got {self.timeout!r} and {self.deadline!r}")

    @classmethod
    def from_params(cls, params: dict[str, Any], **extra: Any) -> RefreshOptions:
        """Options from module parameters or CLI values (durations as ``4h``, ``90s`` or numbers)."""
        given = {k: v for k, v in params.items() if v is not None}
        kw: dict[str, Any] = {}
        for key in ("attempts", "concurrency"):
            if key in given:
                kw[key] = int(given[key])
        if "refresh_fraction" in given:
            kw["refresh_fraction"] = float(given["refresh_fraction"])
        for key in ("timeout", "deadline"):
            if key in given:
                kw[key] = _seconds(given[key], key)
        for key in ("min_remaining", "critical_remaining", "clock_skew"):
            if key in given:
                kw[key] = parse_duration(given[key], what=key)
        for key in ("force", "check_mode"):
            if key in given:
                kw[key] = bool(given[key])
        for key in ("proxy", "metrics_path"):
            if given.get(key):
                kw[key] = str(given[key])
        return cls(**kw, **extra)


@dataclass
class Attempt:
    """One answer (or failure to answer) of the responder."""

    number: int
    at: str
    url: str
    outcome: str  # valid | rejected | fetch_failed
    reason: str  # ok | first problem code | fetch reason code
    message: str
    codes: list[str] = field(default_factory=list)
    facts: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "at": self.at,
            "url": self.url,
            "outcome": self.outcome,
            "reason": self.reason,
            "message": self.message,
            "codes": self.codes,
            **({"facts": self.facts} if self.facts is not None else {}),
        }


@dataclass
class CertResult:
    name: str
    action: str = "kept"
    changed: bool = False
    failed: bool = False
    message: str = ""
    due: str | None = None
    url: str | None = None
    must_staple: bool = False
    frozen: bool = False
    valid: bool = False
    facts: dict[str, Any] = field(default_factory=dict)
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    spec: CertificateSpec | None = None

    @property
    def problems(self) -> list[dict[str, Any]]:
        """Problems of the rejected attempts: attempt number, reason code, message."""
        return [
            {"attempt": a.number, "code": a.reason, "codes": a.codes, "message": a.message}
            for a in self.attempts
            if a.outcome != "valid"
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "changed": self.changed,
            "failed": self.failed,
            "message": self.message,
            "due": self.due,
            "responder_url": self.url,
            "must_staple": self.must_staple,
            "frozen": self.frozen,
            "valid": self.valid,
            "facts": self.facts,
            "attempts": [a.as_dict() for a in self.attempts],
            "problems": self.problems,
            "warnings": self.warnings,
        }


class CertificateResults:
    """What a run over several certificates reports (the refresh's and the freeze's results).

    Subclasses are dataclasses with a ``certificates`` list of per-certificate results that
    have ``name``, ``changed``, ``failed``, ``message``, ``before``, ``after`` and ``as_dict()``.
    """

    certificates: Sequence[Any]

    @property
    def changed(self) -> bool:
        return any(r.changed for r in self.certificates)

    @property
    def failed(self) -> bool:
        return any(r.failed for r in self.certificates)

    @property
    def failures(self) -> list[str]:
        return [r.message for r in self.certificates if r.failed]

    def diff(self) -> dict[str, dict[str, Any]]:
        return {
            "before": {r.name: r.before for r in self.certificates},
            "after": {r.name: r.after for r in self.certificates},
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "failed": self.failed,
            "certificates": [r.as_dict() for r in self.certificates],
        }


@dataclass
class RunResult(CertificateResults):
    certificates: list[CertResult]

    @property
    def warnings(self) -> list[str]:
        return [w for r in self.certificates for w in r.warnings]


def _times(verdict: Verdict | None) -> dict[str, Any]:
    if verdict is None:
        return {key: None for key in DIFF_KEYS}
    facts = verdict.facts
    return {key: iso(getattr(facts, key)) for key in DIFF_KEYS}


def due_reason(verdict: Verdict | None, *, now: _dt.datetime, refresh_fraction: float) -> str | None:
    """Why the current staple needs a fetch, or None when it is fresh."""
    if verdict is None:
        return "no current staple"
    if not verdict.valid:
        return f"current staple invalid ({', '.join(verdict.codes)})"
    facts = verdict.facts
    if facts.this_update is None or facts.expires_at is None:  # pragma: no cover - valid implies both
        return "current staple has no validity window"
    window = (facts.expires_at - facts.this_update).total_seconds()
    used = (now - facts.this_update).total_seconds()
    if window <= 0 or used > refresh_fraction * window:
        share = 100.0 if window <= 0 else 100.0 * used / window
        return f"{share:.0f}% of the current staple's validity window used (refresh at {refresh_fraction * 100:.0f}%)"
    return None


def better(candidate: Verdict, current: Verdict | None) -> bool:
    """The selection rule: may ``candidate`` (valid) replace ``current``?"""
    if not candidate.valid:
        return False
    if current is None or not current.valid:
        return True
    new, old = candidate.facts, current.facts
    if new.this_update is None or new.expires_at is None or old.this_update is None or old.expires_at is None:
        return False  # pragma: no cover - a valid verdict has both
    not_worse = new.this_update >= old.this_update and new.expires_at >= old.expires_at
    return not_worse and (new.this_update > old.this_update or new.expires_at > old.expires_at)


def _best(candidates: list[tuple[Verdict, bytes]]) -> tuple[Verdict, bytes] | None:
    if not candidates:
        return None
    return max(candidates, key=lambda c: (c[0].facts.expires_at, c[0].facts.this_update))


def _full_lived(verdict: Verdict) -> bool:
    """The signer outlives nextUpdate: nothing cuts this answer's life short."""
    return verdict.facts.expires_at is not None and verdict.facts.expires_at == verdict.facts.next_update


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
    verdict = validate(
        data, pair, now=now, min_remaining=options.min_remaining, clock_skew=options.clock_skew, name=name
    )
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
        return _best(self.candidates)


def load_certificate(spec: CertificateSpec, *, now: _dt.datetime) -> CertPair:
    """The entry's certificate pair; CertificateError when the leaf has expired (nothing to staple)."""
    pair = load_pair(spec.certificate, spec.issuer)
    expired = not_after(pair.leaf)
    if expired <= now:
        # A staple cannot help an expired certificate: clients reject the certificate itself.
        raise CertificateError(
            f"certificate file {spec.certificate}: {pair.subject} expired {iso(expired)}: renew it, nothing to staple"
        )
    return pair


def responder_url(spec: CertificateSpec, pair: CertPair) -> str | None:
    """The URL to ask: the entry's ``responder_url`` override, else the certificate's first AIA OCSP URL."""
    return spec.responder_url or (pair.ocsp_urls[0] if pair.ocsp_urls else None)


class Asker:
    """The fetch / validate / retry machinery: shared by the refresh run and the freeze (freeze.py)."""

    def __init__(
        self,
        options: RefreshOptions,
        *,
        clock: Clock,
        fetcher: Fetcher,
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
            verdict = validate(
                fetched.body, pair, now=at, min_remaining=o.min_remaining, clock_skew=o.clock_skew, name=name
            )
            facts = verdict.facts.as_dict()
            if verdict.valid:
                out.attempts.append(Attempt(number, stamp, url, "valid", "ok", verdict.summary(), [], facts))
                out.candidates.append((verdict, fetched.body))
                if judged is not None:
                    judged[fetched.body] = verdict
                if _full_lived(verdict):
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


class _Run:
    """One refresh run over the store: the Asker asks, this applies the due and selection rules."""

    def __init__(self, store: Store, asking: Asker) -> None:
        self.store = store
        self.ask = asking
        self.options = asking.options

    def one(self, spec: CertificateSpec) -> CertResult:
        result = CertResult(name=spec.name, spec=spec)
        try:
            self._one(spec, result)
        except OcspStapleError as exc:
            result.action, result.failed = "failed", True
            result.message = f"{spec.name}: {exc}"
        return result

    def _one(self, spec: CertificateSpec, result: CertResult) -> None:
        o = self.options
        name = spec.name
        pair = load_certificate(spec, now=self.ask.now())
        result.must_staple = pair.must_staple
        url = responder_url(spec, pair)
        result.url = url
        if url is None:
            if pair.must_staple:
                result.action, result.failed = "failed", True
                result.message = (
                    f"{name}: Must-Staple certificate {pair.subject} has no OCSP URL and no responder_url: "
                    "clients will reject it without a staple"
                )
            else:
                result.action = "not_applicable"
                result.message = f"{name}: no OCSP URL in the certificate and no responder_url: nothing to staple"
            self._record_without_url(name, result)
            return
        check_url(url)
        pin = self.store.read_pin(name)
        result.frozen = pin is not None
        current = self.store.read_current(name)
        judged: dict[bytes, Verdict] = {}
        current_verdict = self.ask.judge(current, pair, name, judged)
        result.before = _times(current_verdict)
        if o.offline:
            result.due = None
        elif o.force:
            result.due = "forced"
        elif pin is not None:
            result.due = "frozen: keep observing the responder"
        else:
            result.due = due_reason(current_verdict, now=self.ask.now(), refresh_fraction=o.refresh_fraction)

        collected = self.ask.collect(pair, url, name, judged) if result.due is not None else Collected()
        result.attempts = collected.attempts
        rejected = collected.rejected

        best = collected.best
        if o.check_mode:
            replace = best is not None and pin is None and better(best[0], current_verdict) and best[1] != current
            after_bytes = best[1] if replace and best else current
            state = self._read_state(name, result)
        elif result.due is None:
            replace, after_bytes = False, current
            state = self._read_state(name, result)
        else:
            with self.store.lock(name, timeout=o.lock_timeout):
                # Another run may have written meanwhile: the selection rule is applied to what is there now.
                current = self.store.read_current(name)
                locked_verdict = self.ask.judge(current, pair, name, judged)
                replace = best is not None and pin is None and better(best[0], locked_verdict) and best[1] != current
                at = self.ask.now()
                for attempt, body, rejected_verdict in rejected:
                    record = {"name": name, **attempt.as_dict()}
                    if rejected_verdict is not None:
                        record["problems"] = [{"code": p.code, "message": p.message} for p in rejected_verdict.problems]
                    else:
                        record["problems"] = [{"code": attempt.reason, "message": attempt.message}]
                    self.store.quarantine(name, data=body, record=record, at=at, attempt=attempt.number)
                if replace and best is not None:
                    self.store.write_current(name, best[1], this_update=best[0].facts.this_update)
                after_bytes = best[1] if replace and best else current
                after_verdict = self.ask.judge(after_bytes, pair, name, judged)
                state = self._state(name, result, after_verdict, replaced=replace, at=at)
                self.store.write_state(name, state)
        result.state = state
        result.changed = bool(replace)

        after_verdict = self.ask.judge(after_bytes, pair, name, judged)
        result.after = _times(after_verdict)
        deployed_verdict = after_verdict
        if pin is not None:
            deployed_verdict = self.ask.judge(pin.staple, pair, name, judged)
        self._conclude(result, deployed_verdict, pin_missing=pin is not None and pin.staple is None)

    def _read_state(self, name: str, result: CertResult) -> dict[str, Any]:
        """state.json, or a fresh record with a warning when it is unreadable (it is not fsync'd)."""
        try:
            return self.store.read_state(name)
        except StoreError as exc:
            result.warnings.append(f"{name}: {exc}; starting a new state record")
            return {}

    def _state(
        self,
        name: str,
        result: CertResult,
        verdict: Verdict | None,
        *,
        replaced: bool,
        at: _dt.datetime,
    ) -> dict[str, Any]:
        state = self._read_state(name, result)
        failures = int(state.get("consecutive_failures", 0))
        for attempt in result.attempts:
            failures = 0 if attempt.outcome == "valid" else failures + 1
            if attempt.outcome == "valid":
                state["last_success_at"] = attempt.at
        if result.attempts:
            last = result.attempts[-1]
            state["last_attempt_at"] = last.at
            state["last_outcome"] = last.reason
        state.update(
            {
                "name": name,
                "consecutive_failures": failures,
                "frozen": result.frozen,
                "certificate": certificate_record(result.spec),
                "last_run": {
                    "at": iso(at),
                    "due": result.due,
                    "replaced": replaced,
                    "attempts": [a.as_dict() for a in result.attempts],
                },
                "current": verdict.as_dict() if verdict is not None else None,
            }
        )
        if replaced:
            state["updated_at"] = iso(at)
        state.pop("not_applicable", None)
        return state

    def _record_without_url(self, name: str, result: CertResult) -> None:
        """Let the store know a certificate without an OCSP URL (the monitoring check lists it).

        Writes state.json only when it does not already say so for the same files: a run
        that has nothing to do writes nothing.
        """
        if self.options.check_mode or self.options.offline:
            return
        record = certificate_record(result.spec)
        state = self._read_state(name, result)
        if state.get("not_applicable") == NO_URL and state.get("certificate") == record:
            return
        with self.store.lock(name, timeout=self.options.lock_timeout):
            state = self._read_state(name, result)
            state.update({"name": name, "not_applicable": NO_URL, "certificate": record})
            self.store.write_state(name, state)
        result.state = state

    def _conclude(self, result: CertResult, deployed: Verdict | None, *, pin_missing: bool) -> None:
        o = self.options
        name = result.name
        rejected = [a for a in result.attempts if a.outcome != "valid"]
        valid_count = len(result.attempts) - len(rejected)
        if rejected:
            reasons = ", ".join(sorted({a.reason for a in rejected}))
            result.warnings.append(f"{name}: {len(rejected)} of {len(result.attempts)} answers rejected ({reasons})")
        if any("revoked" in a.codes for a in rejected):
            result.warnings.append(f"{name}: the responder says the certificate is REVOKED: replace it")
        if deployed is not None:
            result.facts = deployed.as_dict()
            result.valid = deployed.valid
        what = "pinned staple" if result.frozen else "staple"
        if deployed is None or not deployed.valid:
            result.action, result.failed = "failed", True
            if pin_missing:
                why = "the pinned staple named by pin.json is missing"
            elif deployed is None:
                why = "no staple in the store and no valid answer"
            else:
                why = deployed.summary()
            tried = f" after {len(result.attempts)} attempts" if result.attempts else ""
            result.message = f"{name}: no valid {what}{tried}: {why}"
            return
        remaining = deployed.facts.remaining_seconds or 0
        left = f"expires {iso(deployed.facts.expires_at)} ({human_duration(remaining)} left)"
        if remaining < o.critical_remaining:
            result.action, result.failed = "failed", True
            result.message = (
                f"{name}: {what} {left}, less than critical_remaining {human_duration(o.critical_remaining)}"
            )
            return
        if result.frozen:
            result.action = "frozen"
            result.message = f"{name}: frozen, pinned staple {left}"
        elif result.changed:
            result.action = "updated"
            result.message = f"{name}: updated, {left}"
        else:
            result.action = "kept"
            if result.due is None:
                result.message = f"{name}: kept, fresh, {left}"
            elif valid_count:
                result.message = f"{name}: kept, no answer better than the current staple, {left}"
            else:
                result.message = f"{name}: kept, no valid answer ({result.due}), {left}"
        if rejected:
            result.message += f"; rejected: {', '.join(a.reason for a in rejected)}"


def run(
    certificates: Sequence[CertificateSpec],
    store: str | Store,
    options: RefreshOptions,
    *,
    clock: Clock,
    fetcher: Fetcher | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> RunResult:
    """Refresh every certificate (concurrently, at most ``options.concurrency`` at a time)."""
    the_store = (
        store
        if isinstance(store, Store)
        else Store(store, history_keep=options.history_keep, quarantine_keep=options.quarantine_keep)
    )
    with asker(options, clock=clock, fetcher=fetcher, monotonic=monotonic, sleep=sleep, rng=rng) as asking:
        context = _Run(the_store, asking)
        workers = max(1, min(options.concurrency, len(certificates)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ocsp-refresh") as pool:
            results = list(pool.map(context.one, certificates))
    outcome = RunResult(results)
    if options.metrics_path and not options.check_mode:
        from .metrics import write_metrics

        write_metrics(options.metrics_path, outcome, now=asking.now())
    return outcome


def load_certificates_file(path: str) -> list[CertificateSpec]:
    """The ``certificates`` list from a YAML or JSON file (a list, or a mapping with ``certificates``)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise InputError(f"certificates file {path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except ValueError:
        try:
            import yaml
        except ImportError:
            raise InputError(f"certificates file {path}: not JSON, and PyYAML is not installed to read YAML") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"certificates file {path}: neither JSON nor YAML: {str(exc).splitlines()[0]}") from None
    if isinstance(data, dict) and "certificates" in data:
        data = data["certificates"]
    return parse_certificates(data)


def cmd_refresh(args: argparse.Namespace) -> int:
    from .cli import parse_now

    fixed = parse_now(args.now) if args.now else None
    options = RefreshOptions.from_params(
        {
            "attempts": args.attempts,
            "refresh_fraction": args.refresh_fraction,
            "force": args.force,
            "timeout": args.timeout,
            "deadline": args.deadline,
            "concurrency": args.concurrency,
            "min_remaining": args.min_remaining,
            "critical_remaining": args.critical_remaining,
            "clock_skew": args.clock_skew,
            "proxy": args.proxy,
            "metrics_path": args.metrics_path,
            "check_mode": args.check,
        }
    )
    specs = load_certificates_file(args.certificates)
    outcome = run(specs, args.store, options, clock=(lambda: fixed) if fixed else (lambda: _dt.datetime.now(_dt.UTC)))
    if args.json:
        print(json.dumps(outcome.as_dict(), indent=2))
    else:
        for cert in outcome.certificates:
            print(cert.message)
    return 2 if outcome.failed else 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "refresh",
        help="fetch, validate and store OCSP staples (the ocsp_response module as a command)",
        description="Refresh the central store like the ocsp_response Ansible module: fetch only when due, retry "
        "until good, keep the best valid answer. One line per certificate. Exit 0 when every certificate is ok "
        "(warnings included), 2 when the module would fail (no valid staple, or less than --critical-remaining).",
    )
    parser.add_argument("--store", required=True, help="store directory")
    parser.add_argument(
        "--certificates", required=True, help="YAML/JSON file: list of {name, certificate, issuer?, responder_url?}"
    )
    parser.add_argument("--attempts", type=int, help="answers to ask for per certificate (default 3)")
    parser.add_argument("--refresh-fraction", type=float, help="refresh after this share of the window (default 0.5)")
    parser.add_argument("--force", action="store_true", help="fetch even when the current staple is fresh")
    parser.add_argument("--timeout", help="per-attempt timeout (default 10s)")
    parser.add_argument("--deadline", help="overall deadline of the run (default 120s)")
    parser.add_argument("--concurrency", type=int, help="certificates refreshed at once (default 10)")
    parser.add_argument("--min-remaining", help="least effective lifetime of a valid staple (default 4h)")
    parser.add_argument("--critical-remaining", help="fail below this remaining life (default 6h)")
    parser.add_argument("--clock-skew", help="tolerated clock difference (default 5m)")
    parser.add_argument("--proxy", help="HTTP(S) proxy URL (the *_proxy environment is used otherwise)")
    parser.add_argument("--metrics-path", help="write a Prometheus textfile here")
    parser.add_argument("--check", action="store_true", help="fetch and validate but write nothing")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument("--now", help=argparse.SUPPRESS)
    parser.set_defaults(func=cmd_refresh)
