"""Prometheus textfile metrics of a live check on a node: is the served staple the deployed one?

``ocsp-staple check --connect … --expect-file F --metrics-file P`` writes these after every
handshake (the role schedules it per stapled certificate when
``ocsp_stapling_monitoring_textfile_dir`` is set; docs/MONITORING.md). The refresh's metrics
(central/metrics.py) say what the store holds; these say what each node serves, so the alert
rules can see a node whose nginx was not reloaded, or was reloaded with something else.

Rendered here in the exposition format by hand, not with ``prometheus_client``: a cache node
has the distribution's python3 with cryptography and pyOpenSSL, nothing more (README,
"Requirements"). Labels ``name`` (the certificate) and ``endpoint`` (HOST:PORT checked).

``ocsp_staple_served_check_timestamp_seconds``  when the check ran
``ocsp_staple_served_up``                       1 when the TLS handshake succeeded
``ocsp_staple_served_stapled``                  1 when a staple was served
``ocsp_staple_served_matches_deployed``         1 when the served bytes are the deployed file's
                                                (nothing served and no file deployed match too)
``ocsp_staple_served_valid``                    1 when the served staple passes the policy
``ocsp_staple_served_expires_at_timestamp_seconds``  its effective expiry (when one is served)

Only the timestamp and ``up`` are written when the handshake failed: no staple facts are known.
"""

from __future__ import annotations

import datetime as _dt
import os

from ..errors import StoreError
from ..fsutil import atomic_write
from ..node.served import ServedReport

PREFIX = "ocsp_staple_served_"
_HELP = {
    "check_timestamp_seconds": "time of the live check of this node's served staple",
    "up": "1 when the TLS handshake with the endpoint succeeded",
    "stapled": "1 when the endpoint served a staple",
    "matches_deployed": "1 when the served staple is the deployed file's bytes (nothing served, no file: also 1)",
    "valid": "1 when the served staple passes the validation policy",
    "expires_at_timestamp_seconds": "effective expiry min(nextUpdate, signer notAfter) of the served staple",
}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def values(report: ServedReport | None) -> dict[str, float]:
    """The gauges for one check; ``report`` None when the endpoint could not be reached."""
    if report is None:
        return {"up": 0.0}
    out = {"up": 1.0, "stapled": float(report.served), "valid": float(report.valid)}
    if report.matches is not None:
        out["matches_deployed"] = float(report.matches)
    expires = report.verdict.facts.expires_at if report.verdict is not None else None
    if report.served and expires is not None:
        out["expires_at_timestamp_seconds"] = expires.timestamp()
    return out


def render(report: ServedReport | None, *, name: str, endpoint: str, now: _dt.datetime) -> bytes:
    """The textfile (exposition format 0.0.4) of one live check."""
    gauges = {"check_timestamp_seconds": now.timestamp(), **values(report)}
    labels = f'{{name="{_label(name)}",endpoint="{_label(endpoint)}"}}'
    lines: list[str] = []
    for key, doc in _HELP.items():
        if key in gauges:
            metric = PREFIX + key
            lines += [f"# HELP {metric} {doc}", f"# TYPE {metric} gauge", f"{metric}{labels} {gauges[key]!r}"]
    return ("\n".join(lines) + "\n").encode()


def write(path: str, report: ServedReport | None, *, name: str, endpoint: str, now: _dt.datetime) -> None:
    """Render and write atomically (0644) into an existing directory (the collector's, which the role creates)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise StoreError(f"metrics file {path}: directory {directory} does not exist")
    atomic_write(path, render(report, name=name, endpoint=endpoint, now=now), mode=0o644, durable=False)
