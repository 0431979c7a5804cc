"""What a central run reports: one record per attempt, per certificate, per run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..certs import iso
from ..policy import Verdict
from ..spec import CertificateSpec

ACTIONS = ("updated", "kept", "frozen", "not_applicable", "failed")
DIFF_KEYS = ("this_update", "next_update", "expires_at")


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
class Outcome:
    """One certificate's outcome in a central run: what happened, whether it changed or failed, and why."""

    name: str
    action: str = "kept"
    changed: bool = False
    failed: bool = False
    message: str = ""
    attempts: list[Attempt] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "changed": self.changed,
            "failed": self.failed,
            "message": self.message,
        }


@dataclass
class CertResult(Outcome):
    """A refresh's outcome for one certificate."""

    due: str | None = None
    url: str | None = None
    urls: list[str] = field(default_factory=list)
    answered_by: str | None = None
    must_staple: bool = False
    frozen: bool = False
    #: ``frozen_since`` of pin.json while frozen; ``disabled``: stapling.json switches stapling off
    #: for it (None: the switch file could not be read). Both for the metrics.
    frozen_since: str | None = None
    disabled: bool | None = None
    valid: bool = False
    facts: dict[str, Any] = field(default_factory=dict)
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
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
            **super().as_dict(),
            "due": self.due,
            "responder_url": self.url,
            "responder_urls": self.urls,
            "answered_by": self.answered_by,
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


def times(verdict: Verdict | None) -> dict[str, Any]:
    if verdict is None:
        return {key: None for key in DIFF_KEYS}
    facts = verdict.facts
    return {key: iso(getattr(facts, key)) for key in DIFF_KEYS}
