"""Store mode of the monitoring check: every certificate of the central store, one status line.

``ocsp-staple check --store DIR [--certificates FILE] [--name N ...]`` judges, per certificate:

* the staple to deploy (the pinned one while frozen, :func:`store.deploy_view`) with the
  same validation (:func:`policy.validate`) and thresholds (:func:`check.judge`) as file
  and live mode; no staple to deploy is CRITICAL;
* a frozen certificate's pin: WARNING once the pinned staple has less than the largest of
  the ``pin_warning`` thresholds left (default 50 % of its window or 24 h): a pin is a
  manual stop-gap that somebody has to thaw or renew before it runs out;
* consecutive failed attempts (``state.json``): WARNING from 5, CRITICAL from 50;
* the age of the last valid answer: WARNING above 75 %, CRITICAL above 90 % of the
  deployed staple's window;
* certificates without an OCSP URL (and no ``responder_url``) are listed as information,
  unless Must-Staple (CRITICAL: clients reject the site without a staple);
* stapling switched off by the disable command (``stapling.json``) is a WARNING: a degraded
  mode somebody has to end.

The certificate files come from ``--certificates`` (the refresh's list) or, without it,
from what the refresh recorded in ``state.json`` (``certificate``). The status line names
the worst state's closest limit; each certificate gets a line of its own below it
(monitoring-plugin long output) and its perfdata. docs/MONITORING.md has the reasoning.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..aia import is_must_staple
from ..argspecs import LIFETIME
from ..central.store import Store, deploy_view, names
from ..certs import iso, load_pair
from ..durations import assumed_lifetime
from ..errors import OcspStapleError
from ..policy import DEFAULT_CLOCK_SKEW, DEFAULT_MIN_REMAINING, Verdict, human_duration, validate
from ..spec import NO_URL, CertificateSpec, responder_url
from ..times import recorded_time
from .check import (
    CRITICAL,
    DEFAULT_CRITICAL,
    DEFAULT_WARNING,
    OK,
    STATE_NAMES,
    UNKNOWN,
    WARNING,
    CheckResult,
    Threshold,
    judge,
    worst,
)

DEFAULT_FAILURES_WARNING = 5
DEFAULT_FAILURES_CRITICAL = 50
DEFAULT_AGE_WARNING = Threshold(percent=75)
DEFAULT_AGE_CRITICAL = Threshold(percent=90)
DEFAULT_PIN_WARNING = (Threshold(percent=50), Threshold(seconds=24 * 3600))
_SEVERITY = [CRITICAL, UNKNOWN, WARNING, OK]  # order of the per-certificate lines


@dataclass(frozen=True)
class StoreThresholds:
    """The limits of store mode (0 failures = that limit off)."""

    warning: Threshold = DEFAULT_WARNING
    critical: Threshold = DEFAULT_CRITICAL
    failures_warning: int = DEFAULT_FAILURES_WARNING
    failures_critical: int = DEFAULT_FAILURES_CRITICAL
    age_warning: Threshold = DEFAULT_AGE_WARNING
    age_critical: Threshold = DEFAULT_AGE_CRITICAL
    pin_warning: tuple[Threshold, ...] = DEFAULT_PIN_WARNING


@dataclass
class CertificateCheck:
    """The judgement of one certificate of the store."""

    name: str
    state: int
    message: str
    perfdata: list[str] = field(default_factory=list)
    remaining: int | None = None
    applicable: bool = True

    @property
    def line(self) -> str:
        return f"{'INFO' if not self.applicable else STATE_NAMES[self.state]}: {self.message}"


def _window(verdict: Verdict) -> int:
    f = verdict.facts
    return int((f.next_update - f.this_update).total_seconds()) if f.next_update and f.this_update else 0


def _limit(threshold: Threshold, window: int) -> int | None:
    """Seconds of ``threshold`` for ``window``; None when it is a percentage of an unknown window."""
    if threshold.percent is not None and window <= 0:
        return None
    return threshold.resolve(window)


def _spec_from_state(name: str, state: dict[str, Any]) -> CertificateSpec | None:
    record = state.get("certificate")
    if not isinstance(record, dict) or not isinstance(record.get("certificate"), str):
        return None
    issuer, url, lifetime = record.get("issuer"), record.get("responder_url"), record.get(LIFETIME)
    return CertificateSpec(
        name,
        record["certificate"],
        issuer if isinstance(issuer, str) else None,
        url if isinstance(url, str) else None,
        str(lifetime) if isinstance(lifetime, (str, int)) and lifetime != "" else None,
    )


def _pin_note(record: dict[str, Any] | None, lead: str = "pinned ") -> str:
    """`` (pinned by alice since 2026-03-01T12:00:00Z: responder down)`` from a freeze or switch record."""
    if not record:
        return ""
    who, since, why = record.get("who"), record.get("frozen_since") or record.get("when"), record.get("why")
    parts = [f"by {who}" if who else "", f"since {since}" if since else ""]
    text = " ".join(p for p in parts if p)
    if why:
        text = f"{text}: {why}" if text else str(why)
    return f" ({lead}{text})" if text else ""


def check_certificate(
    root: str,
    name: str,
    spec: CertificateSpec | None,
    *,
    now: _dt.datetime,
    thresholds: StoreThresholds = StoreThresholds(),
    min_remaining: int = DEFAULT_MIN_REMAINING,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    assume_lifetime: int | None = None,
) -> CertificateCheck:
    """Judge one certificate of the store (never raises for what the store holds)."""
    t = thresholds
    try:
        view = deploy_view(root, name)
        state = Store(root).read_state(name)
        spec = spec or _spec_from_state(name, state)
        if spec is None:
            return CertificateCheck(
                name,
                UNKNOWN,
                f"{name}: the store does not record its certificate file: pass --certificates FILE "
                "(the refresh's list) or let the refresh run once",
            )
        pair = load_pair(spec.certificate, spec.issuer)
        lifetime = assumed_lifetime(
            spec.assume_lifetime_without_next_update, assume_lifetime, what=f"certificate {name}: {LIFETIME}"
        )
    except OcspStapleError as exc:
        return CertificateCheck(name, UNKNOWN, f"{name}: {exc}")

    if responder_url(spec, pair) is None:
        if is_must_staple(pair.leaf):
            return CertificateCheck(
                name,
                CRITICAL,
                f"{name}: Must-Staple certificate {pair.subject} has {NO_URL}: clients reject it without a staple",
            )
        return CertificateCheck(name, OK, f"{name}: not applicable, {NO_URL}", applicable=False)

    frozen = bool(view["frozen"])
    pin_note = _pin_note(view["pin"]) if frozen else ""
    parts: list[CheckResult] = []
    disabled = view.get("disabled")
    if disabled:
        parts.append(CheckResult(WARNING, f"{name}: stapling switched off{_pin_note(disabled, '')}"))
    perf: list[str] = []
    verdict: Verdict | None = None
    staple = view["staple"]
    if staple is None:
        why = (
            "the pinned staple named by pin.json is missing"
            if frozen
            else f"no staple in the store (last outcome: {view['last_outcome'] or 'never fetched'})"
        )
        parts.append(CheckResult(CRITICAL, f"{name}: {why}{pin_note}"))
    else:
        verdict = validate(
            staple,
            pair,
            now=now,
            min_remaining=min_remaining,
            clock_skew=clock_skew,
            name=name,
            assume_lifetime=lifetime,
        )
        judged = judge(verdict, name=f"{name} pinned" if frozen else name, warning=t.warning, critical=t.critical)
        if frozen and judged.state != OK:
            judged.message += pin_note
        parts.append(judged)
        perf += [f"{name}_{item}" for item in judged.perfdata]
        parts += _pin_limit(name, verdict, t.pin_warning, pin_note) if frozen else []

    failures = int(view["consecutive_failures"])
    state_of = _count_state(failures, t.failures_warning, t.failures_critical)
    if state_of != OK:
        last = f" (last: {view['last_outcome']} at {view['last_attempt_at']})" if view["last_outcome"] else ""
        limit = t.failures_critical if state_of == CRITICAL else t.failures_warning
        what = "critical" if state_of == CRITICAL else "warning"
        parts.append(CheckResult(state_of, f"{name}: {failures} failed attempts in a row{last} - {what} at {limit}"))
    perf.append(f"{name}_failures={failures};{t.failures_warning or ''};{t.failures_critical or ''};0")

    if verdict is not None:
        parts += _success_age(name, view["last_success_at"], verdict, now=now, t=t, perf=perf)
    perf.append(f"{name}_frozen={int(frozen)}")

    state_all = worst(parts)
    if state_all == OK:
        message = parts[0].message
    else:
        bad = sorted((p for p in parts if p.state != OK), key=lambda p: _SEVERITY.index(p.state))
        message = "; ".join(p.message for p in bad)
    remaining = verdict.facts.remaining_seconds if verdict is not None else None
    return CertificateCheck(name, state_all, message, perf, remaining)


def _count_state(value: int, warning: int, critical: int) -> int:
    if critical and value >= critical:
        return CRITICAL
    if warning and value >= warning:
        return WARNING
    return OK


def _pin_limit(name: str, verdict: Verdict, limits: Sequence[Threshold], note: str) -> list[CheckResult]:
    """WARNING when a valid pinned staple has less than the largest pin limit left."""
    f = verdict.facts
    if not verdict.valid or f.remaining_seconds is None:
        return []  # already CRITICAL through judge()
    resolved = [s for s in (_limit(t, _window(verdict)) for t in limits) if s is not None]
    limit = max(resolved, default=0)
    if f.remaining_seconds >= limit:
        return []
    return [
        CheckResult(
            WARNING,
            f"{name} pinned staple expires in {human_duration(f.remaining_seconds)} ({iso(f.expires_at)}) - "
            f"below pin warning {human_duration(limit)}: thaw {name} or freeze a newer staple{note}",
        )
    ]


def _success_age(
    name: str, last_success_at: Any, verdict: Verdict, *, now: _dt.datetime, t: StoreThresholds, perf: list[str]
) -> list[CheckResult]:
    """The age of the last valid answer against percentages of (or durations beyond) the staple's window."""
    window = _window(verdict)
    warn, crit = _limit(t.age_warning, window), _limit(t.age_critical, window)
    last = recorded_time(last_success_at)
    if last is None:
        return [CheckResult(WARNING, f"{name}: no valid answer recorded in state.json")]
    age = max(0, int((now - last).total_seconds()))
    perf.append(f"{name}_success_age={age}s;{'' if warn is None else warn};{'' if crit is None else crit};0")
    for limit, state, what in ((crit, CRITICAL, "critical"), (warn, WARNING, "warning")):
        if limit is not None and age > limit:
            return [
                CheckResult(
                    state,
                    f"{name}: last valid answer {human_duration(age)} ago ({iso(last)}) - "
                    f"above {what} {human_duration(limit)}",
                )
            ]
    return []


def summarize(root: str, checks: Sequence[CertificateCheck]) -> CheckResult:
    """One status line naming the worst state's closest limit, then one line per certificate."""
    if not checks:
        where = "does not exist" if not os.path.isdir(root) else "holds no certificate"
        return CheckResult(UNKNOWN, f"store {root} {where} (nothing to check)")
    applicable = [c for c in checks if c.applicable]
    skipped = [c for c in checks if not c.applicable]
    ordered = sorted(
        applicable,
        key=lambda c: (_SEVERITY.index(c.state), -1 if c.remaining is None else c.remaining, c.name),
    )
    not_applicable = f"not applicable: {', '.join(c.name for c in skipped)}" if skipped else ""
    details = [c.line for c in ordered] + [c.line for c in skipped]
    perf = [item for c in ordered for item in c.perfdata]
    if not ordered:
        return CheckResult(OK, f"no certificate to staple - {not_applicable}", perf, details)
    state = worst([CheckResult(c.state, "") for c in ordered])
    counts = ", ".join(
        f"{sum(c.state == s for c in ordered)} {STATE_NAMES[s]}"
        for s in _SEVERITY
        if any(c.state == s for c in ordered)
    )
    summary = f"{len(ordered)} certificate{'s' if len(ordered) != 1 else ''}: {counts}"
    message = f"{ordered[0].message} - {summary}" + (f"; {not_applicable}" if skipped else "")
    return CheckResult(state, message, perf, details)


def check_store(
    root: str,
    *,
    now: _dt.datetime,
    specs: Iterable[CertificateSpec] | None = None,
    only: Sequence[str] = (),
    thresholds: StoreThresholds = StoreThresholds(),
    min_remaining: int = DEFAULT_MIN_REMAINING,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    assume_lifetime: int | None = None,
) -> CheckResult:
    """Every certificate of ``specs`` (else of the store), or only those named in ``only``.

    ``assume_lifetime``: the run-wide ``assume_lifetime_without_next_update`` (seconds) for
    certificates without their own (durations.assumed_lifetime), as the refresh had it.
    """
    by_name = {spec.name: spec for spec in specs or ()}
    wanted = list(dict.fromkeys(only)) if only else (list(by_name) if by_name else names(root))
    checks = [
        check_certificate(
            root,
            name,
            by_name.get(name),
            now=now,
            thresholds=thresholds,
            min_remaining=min_remaining,
            clock_skew=clock_skew,
            assume_lifetime=assume_lifetime,
        )
        for name in wanted
    ]
    return summarize(root, checks)
