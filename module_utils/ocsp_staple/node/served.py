"""Judge what a TLS endpoint staples: the served bytes against the deployed file and the policy.

One function, :func:`inspect_served`, takes what the live client saw (:class:`live.Served`),
the certificate pair to validate against and, optionally, the deployed staple file, and
returns a :class:`ServedReport`: whether a staple was served, its SHA-256, the file's,
whether they match, the policy verdict of the served bytes and the one-line failure (if
any). The Ansible module ``ocsp_served_info`` and ``ocsp-staple check/show --connect``
both call it; the monitoring states are derived in :func:`monitor.check.judge_served`.

Which certificate is the reference is the caller's choice:

- on a node (the module, the role's post-deploy check) it is the node's own certificate
  and issuer files, the same ones ``ocsp_staple`` validated the staple against before
  installing it. Validating against the served chain instead would let a node that still
  serves an old certificate (no reload after a renewal) or the wrong ``server {}`` block
  pass with that block's staple, and fails outright when nginx sends no intermediate;
- from a monitoring host without the node's files (``ocsp-staple check --connect``
  without ``--cert``) it is the served leaf and the issuer the server itself sends: the
  staple is then proved good for exactly what clients get.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass
from typing import Any

from ..argspecs import LIFETIME
from ..certs import CertPair, subject_text
from ..fsutil import read_bytes
from ..policy import DEFAULT_CLOCK_SKEW, DEFAULT_MIN_REMAINING, Verdict, validate
from .live import Served

#: The hint appended when the served bytes are not the deployed ones.
NOT_RELOADED = "nginx was not reloaded or the reload failed"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _short(digest: str | None) -> str:
    return f"{digest[:12]}…" if digest else "none"


@dataclass(frozen=True)
class ServedReport:
    """What one endpoint staples for one certificate, compared and judged."""

    name: str
    endpoint: str
    server_name: str | None
    protocol: str
    served_certificate: str
    certificate_matches: bool
    reference: str
    staple: bytes | None
    expect_file: str | None
    file_data: bytes | None
    verdict: Verdict | None

    @property
    def served(self) -> bool:
        return self.staple is not None

    @property
    def served_sha256(self) -> str | None:
        return sha256_hex(self.staple) if self.staple is not None else None

    @property
    def file_sha256(self) -> str | None:
        return sha256_hex(self.file_data) if self.file_data is not None else None

    @property
    def file_exists(self) -> bool:
        return self.file_data is not None

    @property
    def matches(self) -> bool | None:
        """Served bytes == deployed bytes (nothing served and no file also match); None without a file to compare."""
        if self.expect_file is None:
            return None
        return self.staple == self.file_data

    @property
    def valid(self) -> bool:
        """The served staple passes the policy (no staple served is not valid)."""
        return self.verdict is not None and self.verdict.valid

    @property
    def where(self) -> str:
        return f"{self.name} on {self.endpoint}"

    def mismatch(self) -> str | None:
        """The one-line reason the served bytes are not the deployed file's, or None."""
        if self.matches is not False:
            return None
        if self.staple is None:
            return (
                f"{self.where} serves no staple although {self.expect_file} is deployed "
                f"(file sha256 {_short(self.file_sha256)}): stapling is off for this server block, "
                f"or {NOT_RELOADED}"
            )
        if self.file_data is None:
            return (
                f"{self.where} serves a staple (sha256 {_short(self.served_sha256)}) but {self.expect_file} "
                f"does not exist: {NOT_RELOADED} after the file was removed"
            )
        return (
            f"{self.where} serves a staple that differs from {self.expect_file} "
            f"(served sha256 {_short(self.served_sha256)}, file {_short(self.file_sha256)}): {NOT_RELOADED}"
        )

    def invalid(self) -> str | None:
        """The one-line reason the served staple is not usable, or None when it is valid."""
        if self.verdict is None:
            return f"{self.where} serves no staple"
        if not self.verdict.valid:
            return self.verdict.summary() + self.wrong_certificate()
        return None

    def wrong_certificate(self) -> str:
        """``; 127.0.0.1:8443 serves CN=x, not the leaf of certificate file /y`` when they differ, else empty."""
        if self.certificate_matches:
            return ""
        return f"; {self.endpoint} serves {self.served_certificate}, not the leaf of {self.reference}"

    def failure(self, *, require_valid: bool = False) -> str | None:
        """What fails a deployment check, most actionable first: a mismatch, then (if required) invalidity."""
        return self.mismatch() or (self.invalid() if require_valid else None)

    def as_dict(self) -> dict[str, Any]:
        verdict: dict[str, Any] = (
            self.verdict.as_dict() if self.verdict is not None else {"valid": False, "problems": [], "codes": []}
        )
        return {
            **verdict,
            "valid": self.valid,
            "name": self.name,
            "endpoint": self.endpoint,
            "server_name": self.server_name,
            "protocol": self.protocol,
            "served": self.served,
            "served_sha256": self.served_sha256,
            "served_certificate": self.served_certificate,
            "certificate_matches": self.certificate_matches,
            "expect_file": self.expect_file,
            "file_exists": self.file_exists if self.expect_file is not None else None,
            "file_sha256": self.file_sha256,
            "matches": self.matches,
        }


def inspect_served(
    served: Served,
    pair: CertPair,
    *,
    now: _dt.datetime,
    name: str | None = None,
    expect_file: str | None = None,
    min_remaining: int = DEFAULT_MIN_REMAINING,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    assume_lifetime: int | None = None,
) -> ServedReport:
    """Compare ``served`` with ``expect_file`` and validate the served staple for ``pair``.

    ``name`` defaults to the SNI name, else the leaf's subject. Reading ``expect_file``
    fails with :class:`StoreError` only when it exists and cannot be read (a missing file
    is a result: ``file_exists`` false).
    """
    label = name or served.servername or pair.subject
    where = f"{label} on {served.endpoint}"
    verdict = None
    if served.staple is not None:
        verdict = validate(
            served.staple,
            pair,
            now=now,
            min_remaining=min_remaining,
            clock_skew=clock_skew,
            name=where,
            assume_lifetime=assume_lifetime,
        )
    return ServedReport(
        name=label,
        endpoint=served.endpoint,
        server_name=served.servername,
        protocol=served.protocol,
        served_certificate=subject_text(served.leaf),
        certificate_matches=served.leaf == pair.leaf,
        reference=pair.source,
        staple=served.staple,
        expect_file=expect_file,
        file_data=read_bytes(expect_file) if expect_file is not None else None,
        verdict=verdict,
    )


def run_checks(
    checks: list[dict[str, Any]],
    *,
    host: str,
    default_port: int,
    timeout: float,
    now: _dt.datetime,
    min_remaining: int = DEFAULT_MIN_REMAINING,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    require_valid: bool = False,
    assume_lifetime: int | None = None,
    tolerate_stale: bool = False,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Handshake with and judge each check (server_name, port, expect_file, certificate, issuer, name,
    assume_lifetime_without_next_update: its own, else ``assume_lifetime``, durations.assumed_lifetime).

    Returns every result (``ServedReport.as_dict()``, or ``{"failed": True, "msg": …}`` for
    an endpoint that cannot be reached or a certificate that cannot be read) and the
    one-line failures. With ``tolerate_stale``, served bytes that differ from a deployed file
    (:func:`stale`: an earlier reload failed) are not failures: the caller reloads, then checks
    again without it. ``ocsp_served_info`` calls this (the role's verify step, before and after a reload).
    """
    from ..certs import load_pair
    from ..durations import assumed_lifetime
    from ..errors import OcspStapleError
    from .live import fetch_served_staple

    results: list[dict[str, Any]] = []
    failures: list[str] = []
    for check in checks:
        try:
            pair = load_pair(check["certificate"], check.get("issuer"))
            lifetime = assumed_lifetime(
                check.get(LIFETIME),
                assume_lifetime,
                what=f"certificate {check.get('name')}: {LIFETIME}",
            )
            served = fetch_served_staple(
                host, int(check.get("port") or default_port), servername=check.get("server_name"), timeout=timeout
            )
            report = inspect_served(
                served,
                pair,
                now=now,
                name=check.get("name"),
                expect_file=check.get("expect_file"),
                min_remaining=min_remaining,
                clock_skew=clock_skew,
                assume_lifetime=lifetime,
            )
        except OcspStapleError as exc:
            results.append({"failed": True, "msg": str(exc)})
            failures.append(str(exc))
            continue
        results.append(report.as_dict())
        failure = report.failure(require_valid=require_valid)
        if failure:
            failures.append(failure)
    if tolerate_stale and stale(results):
        return results, []
    return results, failures


def stale(results: list[dict[str, Any]]) -> bool:
    """True when some endpoint serves other bytes than its deployed file: nginx holds an old config
    (an earlier reload failed or never ran) and must be tested and reloaded."""
    return any(item.get("matches") is False for item in results)
