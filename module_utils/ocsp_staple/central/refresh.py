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

import contextlib
import dataclasses
import datetime as _dt
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..aia import is_must_staple
from ..certs import iso
from ..errors import OcspStapleError, StoreError
from ..policy import Verdict, human_duration
from ..spec import (
    NO_URL,
    CertificateSpec,
    certificate_record,
    check_url,
    load_certificate,
    responder_urls,
    without_url,
)
from .asker import Asker, Clock, Collected, asker, check_lifetimes, fail_unexpected
from .fetch import Fetcher
from .options import RefreshOptions
from .results import CertResult, RunResult, times
from .selection import better, due_reason
from .store import Store, read_switch, switch_for


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
        except Exception as exc:  # one certificate's surprise is its failure, never the run's
            result.action, result.failed = "failed", True
            result.message, warning = fail_unexpected(
                self.ask, self.store, spec.name, exc, what=spec.name, during="refresh", counts=True
            )
            if warning:
                result.warnings.append(warning)
        return result

    def _one(self, spec: CertificateSpec, result: CertResult) -> None:
        o = self.options
        name = spec.name
        pair = load_certificate(spec, now=self.ask.now())
        result.must_staple = is_must_staple(pair.leaf)
        urls = responder_urls(spec, pair)
        result.url, result.urls = (urls[0] if urls else None), urls
        if not urls:
            result.failed, result.message = without_url(name, pair.subject, must_staple=is_must_staple(pair.leaf))
            result.action = "failed" if result.failed else "not_applicable"
            self._record_without_url(name, result)
            return
        for url in urls:
            check_url(url)
        pin = self.store.read_pin(name)
        result.frozen = pin is not None
        result.frozen_since = pin.record.get("frozen_since") if pin is not None else None
        with contextlib.suppress(StoreError):  # a corrupt switch file is the store check's to report
            result.disabled = switch_for(read_switch(self.store.root), name) is not None
        current = self.store.read_current(name)
        judged: dict[bytes, Verdict] = {}
        current_verdict = self.ask.judge(current, pair, spec, judged)
        result.before = times(current_verdict)
        if o.offline:
            result.due = None
        elif o.force:
            result.due = "forced"
        elif pin is not None:
            result.due = "frozen: keep observing the responder"
        else:
            result.due = due_reason(current_verdict, now=self.ask.now(), refresh_fraction=o.refresh_fraction)

        collected = self.ask.collect(pair, urls, spec, judged) if result.due is not None else Collected()
        result.attempts = collected.attempts
        result.answered_by = collected.answered_by
        rejected = collected.rejected

        best = collected.best

        def replaces(current: bytes | None, verdict: Verdict | None) -> bool:
            """The selection rule applied to this run: a best answer, not frozen, better and other bytes."""
            return best is not None and pin is None and better(best[0], verdict) and best[1] != current

        if o.check_mode:
            replace = replaces(current, current_verdict)
            after_bytes = best[1] if replace and best else current
            state = self._read_state(name, result)
        elif result.due is None:
            replace, after_bytes = False, current
            state = self._read_state(name, result)
        else:
            with self.store.lock(name, timeout=o.lock_timeout):
                # Another run may have written meanwhile: the selection rule is applied to what is there now.
                current = self.store.read_current(name)
                locked_verdict = self.ask.judge(current, pair, spec, judged)
                replace = replaces(current, locked_verdict)
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
                after_verdict = self.ask.judge(after_bytes, pair, spec, judged)
                state = self._state(name, result, after_verdict, replaced=replace, at=at)
                self.store.write_state(name, state)
        result.state = state
        result.changed = bool(replace)

        after_verdict = self.ask.judge(after_bytes, pair, spec, judged)
        result.after = times(after_verdict)
        deployed_verdict = after_verdict
        if pin is not None:
            deployed_verdict = self.ask.judge(pin.staple, pair, spec, judged)
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
        if result.answered_by:
            # Which responder URL gave the best valid answer (the certificate may list several).
            state["answered_by"] = result.answered_by
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
                    "answered_by": result.answered_by,
                    "attempts": [a.as_dict() for a in result.attempts],
                },
                "current": verdict.as_dict() if verdict is not None else None,
            }
        )
        if replaced:
            state["updated_at"] = iso(at)
        state.pop("not_applicable", None)
        state.pop("last_error", None)  # this run handled the certificate to the end
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
    check_lifetimes(certificates, options)
    the_store = _open(store, options)
    with asker(options, clock=clock, fetcher=fetcher, monotonic=monotonic, sleep=sleep, rng=rng) as asking:
        context = _Run(the_store, asking)
        workers = max(1, min(options.concurrency, len(certificates)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ocsp-refresh") as pool:
            results = list(pool.map(context.one, certificates))
    return _finish(RunResult(results), options, now=asking.now())


def observe(
    certificates: Sequence[CertificateSpec], store: str | Store, options: RefreshOptions, *, clock: Clock
) -> RunResult:
    """What the store holds, judged now by the refresh's own rules, asking nobody and writing nothing.

    No fetcher, no pool: each certificate's deployed staple (the pinned one while frozen) is
    judged and the failure rule applied, then the metrics textfile (``options.metrics_path``)
    is rewritten. Freeze and thaw call it to keep the metrics in step with the pins they wrote.
    """
    offline = dataclasses.replace(options, offline=True)
    rng = random.Random()  # noqa: S311 - never drawn from: an observing Asker does not back off
    asking = Asker(offline, clock=clock, fetcher=None, monotonic=time.monotonic, sleep=time.sleep, rng=rng)
    context = _Run(_open(store, options), asking)
    return _finish(RunResult([context.one(spec) for spec in certificates]), options, now=asking.now())


def _open(store: str | Store, options: RefreshOptions) -> Store:
    if isinstance(store, Store):
        return store
    return Store(store, history_keep=options.history_keep, quarantine_keep=options.quarantine_keep)


def _finish(outcome: RunResult, options: RefreshOptions, *, now: _dt.datetime) -> RunResult:
    """Write the metrics textfile of ``outcome`` when asked to (never in check mode)."""
    if options.metrics_path and not options.check_mode:
        from .metrics import write_metrics

        write_metrics(options.metrics_path, outcome, now=now)
    return outcome
