"""Emergency controls: freeze (pin a known-good staple) and thaw.

The 2015 workaround as one call (DESIGN.md, "Emergency controls"):

* **freeze** obtains a staple and pins it: ``source="fetch"`` asks the CA until it has a valid
  answer or the ``deadline`` passes (``attempts``, when set, caps the rounds), with the refresh
  run's own machinery (:class:`asker.Asker`: the same fetch, validation and retry), then a few
  rounds more for a longer-lived one (on past the first valid answer while none is
  :func:`selection.long_lived`), and takes the valid answer with the latest effective expiry;
  ``source="current"`` takes today's ``current.der``, judged again by :func:`policy.validate`.
  Fail closed: nothing valid, nothing pinned.
  The pin is ``<store>/<name>/pin.json`` (the Pin contract of store.py: a JSON object whose
  ``staple`` names the pinned file) plus the pinned file ``pinned-<sha256 prefix>.der``:
  the staple is written first, then pin.json (atomically), then the old pinned file is
  removed, so a reader sees one consistent pin at any time.
* **re-freezing** replaces a pin only with a staple that is not worse (selection.better: not
  older, not expiring earlier, newer in one of them); that is how a pin is re-upped before
  it expires: freeze again with ``source="fetch"``.
* **thaw** removes pin.json and the pinned file and notes the thaw in state.json.
* **disable / enable** live in switch.py (the audited ``<store>/stapling.json``).

Time comes in as ``clock``; who did it comes in as ``who`` (see :func:`audit.operator`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..aia import is_must_staple
from ..certs import CertPair, iso, load_pair
from ..compat import require_aware
from ..errors import InputError, OcspStapleError, StoreError
from ..fsutil import atomic_write
from ..names import check_name
from ..policy import Verdict
from ..spec import CertificateSpec, check_url, load_certificate, responder_urls, without_url
from .asker import (
    UNEXPECTED,
    Asker,
    Clock,
    Collected,
    asker,
    check_lifetimes,
    fail_unexpected,
    judge,
    unexpected,
)
from .fetch import Fetcher
from .options import RefreshOptions
from .refresh import observe
from .results import CertificateResults, Outcome, RunResult
from .selection import better, long_lived
from .store import FILE_MODE, PIN, Pin, Store, json_bytes
from .store import names as store_names

#: Backoff of the freeze's retries: an operator is waiting, so it asks again sooner than the
#: scheduled refresh (0.5 s doubling to 8 s): 0.25 s doubling to 2 s, about 30 rounds a minute
#: once it has reached its step (the freeze asks until the deadline, not a fixed number of times).
FREEZE_BACKOFF = 0.25
FREEZE_BACKOFF_MAX = 2.0
STATES = ("frozen", "thawed")
SOURCES = ("fetch", "current")
PIN_VERSION = 1
#: The staple facts kept in pin.json and shown in the diff.
PIN_FACTS = ("this_update", "next_update", "produced_at", "expires_at", "signer", "signer_not_after", "status")


def pin_summary(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the diff and the previous-pin note show of a pin record: who, when, why, source, staple facts."""
    if record is None:
        return None
    facts = record.get("facts") or {}
    return {
        "who": record.get("who"),
        "when": record.get("when"),
        "why": record.get("why"),
        "source": record.get("source"),
        "sha256": record.get("sha256"),
        **{key: facts.get(key) for key in ("this_update", "next_update", "expires_at")},
    }


@dataclass
class FreezeCertResult(Outcome):
    """One certificate's outcome: pinned, replaced, kept, not_applicable, thawed, not_frozen or failed."""

    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    pin: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "pin": self.pin, "attempts": [a.as_dict() for a in self.attempts]}


@dataclass
class FreezeResult(CertificateResults):
    certificates: list[FreezeCertResult]
    metrics: RunResult | None = None


def _select(specs: Sequence[CertificateSpec], names: Sequence[str] | None) -> list[CertificateSpec]:
    if names is None:
        return list(specs)
    by_name = {spec.name: spec for spec in specs}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise InputError(
            f"names: {', '.join(missing)} not among the certificates ({', '.join(by_name) or 'none given'})"
        )
    return [by_name[check_name(n)] for n in dict.fromkeys(names)]


def _pinned_file(data: bytes) -> str:
    return f"pinned-{hashlib.sha256(data).hexdigest()[:16]}.der"


class _Freezer:
    def __init__(self, store: Store, asking: Asker, *, reason: str, source: str, who: str, explicit: bool) -> None:
        self.explicit = explicit
        self.store = store
        self.ask = asking
        self.reason = reason
        self.source = source
        self.who = who

    def one(self, spec: CertificateSpec) -> FreezeCertResult:
        result = FreezeCertResult(spec.name)
        try:
            self._one(spec, result)
        except OcspStapleError as exc:
            result.action, result.failed, result.changed = "failed", True, False
            result.message = f"{spec.name}: not frozen: {exc}"
        except Exception as exc:  # one certificate's surprise is its failure, never the run's
            result.action, result.failed, result.changed = "failed", True, False
            result.message, warning = fail_unexpected(
                self.ask, self.store, spec.name, exc, what=f"{spec.name}: not frozen", during="freeze"
            )
            if warning:
                result.message += f" ({warning})"
        return result

    def _quarantine_unexpected(self, name: str, collected: Collected) -> None:
        """Keep the answers whose judging raised (code UNEXPECTED) in the quarantine, with the error."""
        if self.ask.options.check_mode:
            return
        broken = [(a, body) for a, body, verdict in collected.rejected if verdict is not None and UNEXPECTED in a.codes]
        if not broken:
            return
        at = self.ask.now()
        with self.store.lock(name, timeout=self.ask.options.lock_timeout):
            for attempt, body in broken:
                record = {"name": name, "during": "freeze", **attempt.as_dict()}
                record["problems"] = [{"code": UNEXPECTED, "message": attempt.message}]
                self.store.quarantine(name, data=body, record=record, at=at, attempt=attempt.number)

    def _candidate(self, spec: CertificateSpec, pair: CertPair, result: FreezeCertResult) -> tuple[Verdict, bytes]:
        """The staple to pin, judged valid now; InputError (fail closed) when there is none."""
        name = spec.name
        if self.source == "current":
            data = self.store.read_current(name)
            if data is None:
                raise InputError(f"no current.der in {self.store.path(name)} to pin (use source fetch)")
            verdict = self.ask.judge(data, pair, spec)
            if verdict is None or not verdict.valid:
                why = f"({', '.join(verdict.codes)}) {verdict.summary()}" if verdict is not None else "unreadable"
                raise InputError(f"current.der is not a valid staple now, refusing to pin it: {why}")
            return verdict, data
        urls = responder_urls(spec, pair)
        if not urls:
            raise InputError(f"no OCSP URL in {pair.subject} and no responder_url: nothing to fetch")
        for url in urls:
            check_url(url)
        collected = self.ask.collect(pair, urls, spec)
        result.attempts = collected.attempts
        self._quarantine_unexpected(name, collected)
        best = collected.best
        if best is None:
            counted = Counter(a.reason for a in collected.attempts)
            reasons = ", ".join(f"{reason} x{n}" if n > 1 else reason for reason, n in counted.most_common())
            reasons = reasons or "no attempt within the deadline"
            asked = " or ".join(urls)
            raise InputError(f"no valid answer from {asked} in {len(collected.attempts)} attempts ({reasons})")
        return best

    def _one(self, spec: CertificateSpec, result: FreezeCertResult) -> None:
        name = spec.name
        pair = load_certificate(spec, now=self.ask.now())
        if not self.explicit and not responder_urls(spec, pair):
            # Freezing "everything": a certificate without OCSP has nothing to pin (stapling is off for it);
            # a Must-Staple one goes on and fails below, as in the refresh.
            failed, message = without_url(name, pair.subject, must_staple=is_must_staple(pair.leaf))
            if not failed:
                result.action, result.message = "not_applicable", message.replace("nothing to staple", "nothing to pin")
                return
        verdict, data = self._candidate(spec, pair, result)
        if self.ask.options.check_mode:
            self._decide(spec, pair, verdict, data, result, write=False)
            return
        with self.store.lock(name, timeout=self.ask.options.lock_timeout):
            self._decide(spec, pair, verdict, data, result, write=True)

    def _decide(
        self,
        spec: CertificateSpec,
        pair: CertPair,
        verdict: Verdict,
        data: bytes,
        result: FreezeCertResult,
        *,
        write: bool,
    ) -> None:
        name = spec.name
        pin = self.store.read_pin(name)
        result.before = pin_summary(pin.record) if pin is not None else None
        left = f"expires {iso(verdict.facts.expires_at)}"
        if pin is not None and pin.staple is not None:
            pinned = self.ask.judge(pin.staple, pair, spec)
            if pin.staple == data or not better(verdict, pinned):
                result.action, result.after, result.pin = "kept", result.before, pin.record
                if pin.staple == data:
                    result.message = f"{name}: already frozen with this staple, {left}"
                else:
                    kept = iso(pinned.facts.expires_at) if pinned is not None else "?"
                    result.message = (
                        f"{name}: kept the pin (expires {kept}, pinned by {pin.record.get('who')}): "
                        f"the {self.source} staple ({left}) is not better"
                    )
                return
        record = self._record(name, verdict, data, pin)
        result.action = "pinned" if pin is None else "replaced"
        result.changed = True
        result.pin = record
        result.after = pin_summary(record)
        remaining = verdict.facts.remaining_seconds or 0
        result.message = f"{name}: {'frozen' if pin is None else 'pin replaced'}, {left} ({remaining // 3600} h left)"
        if not long_lived(verdict):
            result.message += (
                f"; the longest-lived valid answer in the deadline, cut short by its signer {verdict.facts.signer}: "
                "re-freeze before it ends"
            )
        if write:
            self._write(name, data, record, pin)

    def _record(self, name: str, verdict: Verdict, data: bytes, previous: Pin | None) -> dict[str, Any]:
        now = self.ask.now()
        facts = verdict.facts.as_dict()
        record: dict[str, Any] = {
            "version": PIN_VERSION,
            "name": name,
            "staple": _pinned_file(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "who": self.who,
            "when": iso(now),
            "why": self.reason,
            "source": self.source,
            "facts": {key: facts.get(key) for key in PIN_FACTS},
            "frozen_since": (previous.record.get("frozen_since") if previous is not None else None) or iso(now),
            "previous": pin_summary(previous.record) if previous is not None else None,
        }
        return record

    def _write(self, name: str, data: bytes, record: dict[str, Any], previous: Pin | None) -> None:
        directory = self.store.ensure(name)
        atomic_write(os.path.join(directory, record["staple"]), data, mode=FILE_MODE)
        atomic_write(os.path.join(directory, PIN), json_bytes(record), mode=FILE_MODE)
        if previous is not None and previous.staple_file != record["staple"]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, previous.staple_file))


def _observe(
    certificates: Sequence[CertificateSpec], store: Store, options: RefreshOptions, clock: Clock
) -> RunResult | None:
    """The metrics textfile after a freeze or thaw (:func:`refresh.observe`: judged, nobody asked)."""
    if not options.metrics_path or options.check_mode or not certificates:
        return None
    return observe(certificates, store, options, clock=clock)


def freeze(
    certificates: Sequence[CertificateSpec],
    store: str | Store,
    options: RefreshOptions,
    *,
    reason: str,
    who: str,
    source: str = "fetch",
    names: Sequence[str] | None = None,
    clock: Clock,
    fetcher: Fetcher | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> FreezeResult:
    """Pin a valid staple for each selected certificate (all of ``certificates`` by default).

    Without ``names``, a certificate without an OCSP URL (and not Must-Staple) is
    ``not_applicable``; named explicitly, it fails.

    Certificates are frozen concurrently (``options.concurrency``), sharing one ``deadline``. With
    ``options.metrics_path`` the Prometheus textfile is rewritten for every certificate.
    """
    if not reason or not reason.strip():
        raise InputError("reason: required to freeze (it is recorded in pin.json), got an empty reason")
    if source not in SOURCES:
        raise InputError(f"source: expected one of {', '.join(SOURCES)}, got {source!r}")
    if not who:
        raise InputError("who: required (see audit.operator)")
    the_store = store if isinstance(store, Store) else Store(store)
    selected = _select(certificates, names)
    check_lifetimes(selected, options)
    with asker(options, clock=clock, fetcher=fetcher, monotonic=monotonic, sleep=sleep, rng=rng) as asking:
        freezer = _Freezer(the_store, asking, reason=reason.strip(), source=source, who=who, explicit=names is not None)
        workers = max(1, min(options.concurrency, len(selected)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ocsp-freeze") as pool:
            results = list(pool.map(freezer.one, selected))
    return FreezeResult(results, _observe(certificates, the_store, options, clock))


def thaw(
    store: str | Store,
    options: RefreshOptions,
    *,
    who: str,
    reason: str | None = None,
    names: Sequence[str] | None = None,
    certificates: Sequence[CertificateSpec] = (),
    clock: Clock,
) -> FreezeResult:
    """Remove the pins of ``names`` (default every frozen certificate in the store).

    Automatic updates resume with the next refresh. The thaw (who, when, why, the pin it
    removed) is noted in state.json under ``thawed``. When the certificate is among
    ``certificates`` and its pinned staple is valid and better than ``current.der`` by the
    selection rule (selection.better), it becomes ``current.der``: a thaw never trades the
    served staple down to an older or invalid one while the CA may still misbehave.
    """
    the_store = store if isinstance(store, Store) else Store(store)
    chosen = [check_name(n) for n in names] if names is not None else store_names(the_store.root)
    specs = {spec.name: spec for spec in certificates}
    results = []
    for name in chosen:
        result = FreezeCertResult(name)
        try:
            _thaw_one(the_store, name, result, options, who=who, reason=reason, clock=clock, spec=specs.get(name))
        except OcspStapleError as exc:
            result.action, result.failed = "failed", True
            result.message = f"{name}: not thawed: {exc}"
        except Exception as exc:  # one certificate's surprise is its failure, never the run's
            result.action, result.failed = "failed", True
            result.message = unexpected(f"{name}: not thawed", exc)
        if names is not None or result.action != "not_frozen":
            results.append(result)
    return FreezeResult(results, _observe(certificates, the_store, options, clock))


def _thaw_one(
    store: Store,
    name: str,
    result: FreezeCertResult,
    options: RefreshOptions,
    *,
    who: str,
    reason: str | None,
    clock: Clock,
    spec: CertificateSpec | None,
) -> None:
    pin = store.read_pin(name)
    if pin is None:
        result.action, result.message = "not_frozen", f"{name}: not frozen"
        return
    result.before = pin_summary(pin.record)
    result.action, result.changed = "thawed", True
    result.message = (
        f"{name}: thawed (pinned {pin.record.get('when')} by {pin.record.get('who')}: {pin.record.get('why')}); "
        "the next refresh updates it again"
    )
    if options.check_mode:
        return
    with store.lock(name, timeout=options.lock_timeout):
        pin = store.read_pin(name)
        if pin is None:  # thawed meanwhile by another run
            result.action, result.changed, result.message = "not_frozen", False, f"{name}: not frozen"
            return
        now = require_aware(clock(), "clock()")
        promoted = _promote(store, name, pin, spec, options, now=now) if spec is not None else False
        directory = store.path(name)
        os.unlink(os.path.join(directory, PIN))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, pin.staple_file))
        try:
            state = store.read_state(name)
        except StoreError:
            state = {}
        state.pop("version", None)
        state["frozen"] = False
        state["thawed"] = {
            "who": who,
            "when": iso(now),
            "why": reason,
            "pin": pin_summary(pin.record),
            "pin_became_current": promoted,
        }
        store.write_state(name, state)
        if promoted:
            result.message += "; the pinned staple, better than current.der, is now current.der"


def _promote(
    store: Store, name: str, pin: Pin, spec: CertificateSpec, options: RefreshOptions, *, now: _dt.datetime
) -> bool:
    """Make the pinned staple ``current.der`` when it is valid and better (the caller holds the lock)."""
    if pin.staple is None:
        return False
    pair = load_pair(spec.certificate, spec.issuer)
    pinned = judge(pin.staple, pair, spec, options, now=now)
    if pinned is None or not better(pinned, judge(store.read_current(name), pair, spec, options, now=now)):
        return False
    store.write_current(name, pin.staple, this_update=pinned.facts.this_update)
    return True
