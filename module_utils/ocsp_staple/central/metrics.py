"""Prometheus textfile metrics of a refresh run (node_exporter textfile collector format).

``prometheus_client`` is imported inside :func:`render` only. The file is written
atomically through fsutil (0644), so the collector never reads half a file.

Per certificate (label ``name``), timestamps in seconds since the epoch:
``ocsp_staple_this_update_timestamp_seconds``, ``ocsp_staple_next_update_timestamp_seconds``,
``ocsp_staple_signer_not_after_timestamp_seconds``, ``ocsp_staple_expires_at_timestamp_seconds``
(of the staple deployed: the pinned one while frozen), ``ocsp_staple_valid``,
``ocsp_staple_last_attempt_outcome{reason=...}`` (1 for the reason of the last attempt),
``ocsp_staple_consecutive_failures``, ``ocsp_staple_frozen``,
``ocsp_staple_last_success_timestamp_seconds``, ``ocsp_staple_failed`` (the failure rule),
``ocsp_staple_answered_by{url=...}`` (1 for the responder URL whose answer was last valid: a
certificate may list several), ``ocsp_staple_frozen_since_timestamp_seconds`` (while frozen),
``ocsp_staple_stapling_disabled`` (1 while stapling.json switches stapling off for it);
and ``ocsp_staple_refresh_timestamp_seconds`` for the run.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..fsutil import atomic_write
from ..times import recorded_time

if TYPE_CHECKING:  # pragma: no cover
    from .results import RunResult

PREFIX = "ocsp_staple_"
_TIMES = {
    "this_update": "thisUpdate of the deployed staple",
    "next_update": "nextUpdate of the deployed staple",
    "signer_not_after": "notAfter of the certificate that signed the deployed staple",
    "expires_at": "effective expiry min(nextUpdate, signer notAfter) of the deployed staple",
}


def _epoch(value: Any) -> float | None:
    """Seconds since the epoch of a recorded time, or None."""
    parsed = recorded_time(value)
    return parsed.timestamp() if parsed is not None else None


def render(outcome: RunResult, *, now: _dt.datetime) -> bytes:
    """The textfile for ``outcome`` in the Prometheus exposition format."""
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    registry = CollectorRegistry()

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ("name",)) -> Any:
        return Gauge(PREFIX + name, doc, labels, registry=registry)

    times = {key: gauge(f"{key}_timestamp_seconds", doc) for key, doc in _TIMES.items()}
    valid = gauge("valid", "1 when the deployed staple passes the validation policy")
    failed = gauge("failed", "1 when the certificate fails the refresh task (no valid staple or below critical)")
    outcome_gauge = gauge(
        "last_attempt_outcome", "1 for the reason of the last attempt (ok or a problem/fetch code)", ("name", "reason")
    )
    failures = gauge("consecutive_failures", "answers in a row that were rejected or failed")
    frozen = gauge("frozen", "1 while the certificate is frozen (pin.json)")
    success = gauge("last_success_timestamp_seconds", "time of the last valid answer")
    frozen_since = gauge("frozen_since_timestamp_seconds", "while frozen: when the freeze began (pin.json)")
    disabled = gauge("stapling_disabled", "1 while stapling is switched off for the certificate (stapling.json)")
    answered = gauge("answered_by", "1 for the responder URL that gave the last valid answer", ("name", "url"))
    run_at = Gauge(PREFIX + "refresh_timestamp_seconds", "time of the refresh run", registry=registry)
    run_at.set(now.timestamp())

    for cert in outcome.certificates:
        if cert.action == "not_applicable":
            continue
        name = cert.name
        for key, metric in times.items():
            value = _epoch(cert.facts.get(key))
            if value is not None:
                metric.labels(name).set(value)
        valid.labels(name).set(1 if cert.valid else 0)
        failed.labels(name).set(1 if cert.failed else 0)
        frozen.labels(name).set(1 if cert.frozen else 0)
        since = _epoch(cert.frozen_since) if cert.frozen else None
        if since is not None:
            frozen_since.labels(name).set(since)
        if cert.disabled is not None:
            disabled.labels(name).set(1 if cert.disabled else 0)
        state = cert.state
        last = state.get("last_outcome")
        if last:
            outcome_gauge.labels(name, str(last)).set(1)
        failures.labels(name).set(float(state.get("consecutive_failures", 0)))
        last_success = _epoch(state.get("last_success_at"))
        if last_success is not None:
            success.labels(name).set(last_success)
        if state.get("answered_by"):
            answered.labels(name, str(state["answered_by"])).set(1)
    return generate_latest(registry)  # type: ignore[no-any-return]


def write_metrics(path: str, outcome: RunResult, *, now: _dt.datetime) -> None:
    """Render and write atomically (0644), creating the textfile directory (0755) when missing."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"metrics directory {directory}: cannot create: {exc.strerror or exc}") from None
    atomic_write(path, render(outcome, now=now), mode=0o644)
