"""Monitoring-plugin verdicts over staples: OK / WARNING / CRITICAL / UNKNOWN, one line, perfdata.

Thresholds apply to the *effective* remaining lifetime, min(nextUpdate, signer notAfter).
Defaults are relative to the staple's nominal window (nextUpdate - thisUpdate) so one
setting fits a 7-day and a 12-hour responder alike: a staple refreshed at half-life
always has more than 50 % of its window left, so WARNING at 40 % means about one missed
refresh cycle (7 d: 2 d 19 h left; 12 h: 4 h 48 min left) and CRITICAL at 20 % means the
fleet is running on borrowed time (7 d: 1 d 9 h; 12 h: 2 h 24 min). Independently, any
staple the policy rejects — including one with less than ``min_remaining`` (4 h) left or a
signer that expires within it — is CRITICAL (for a 12-hour window that limit comes before
the 20 % one).

Store mode (every certificate of the central store) is in storecheck.py; it judges each
staple to deploy with :func:`judge` too.

Live mode (:func:`judge_served`): no staple served is CRITICAL (stapling is expected
wherever the check runs), served bytes that differ from the deployed file are CRITICAL
(a failed or missing reload), then the same thresholds. docs/MONITORING.md has the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..certs import iso
from ..durations import parse_duration
from ..errors import InputError
from ..node.served import ServedReport
from ..policy import Verdict, human_duration


@dataclass(frozen=True)
class Threshold:
    """An absolute number of seconds, or a percentage of the staple's validity window."""

    seconds: int | None = None
    percent: float | None = None

    def resolve(self, window_seconds: int) -> int:
        if self.percent is not None:
            return int(window_seconds * self.percent / 100)
        return self.seconds or 0

    def __str__(self) -> str:
        return f"{self.percent:g}%" if self.percent is not None else f"{self.seconds}s"


def parse_threshold(value: str, *, what: str = "threshold") -> Threshold:
    text = str(value).strip()
    if text.endswith("%"):
        try:
            percent = float(text[:-1])
        except ValueError:
            raise InputError(f"{what}: expected a percentage like 40%, got {value!r}") from None
        if not 0 <= percent <= 100:
            raise InputError(f"{what}: percentage must be between 0 and 100, got {value!r}")
        return Threshold(percent=percent)
    return Threshold(seconds=parse_duration(text, what=what))


OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
DEFAULT_WARNING = Threshold(percent=40)
DEFAULT_CRITICAL = Threshold(percent=20)
_TIME_CODES = {"signer_expires_too_soon", "expires_too_soon"}


@dataclass
class CheckResult:
    state: int
    message: str
    perfdata: list[str] = field(default_factory=list)
    #: Monitoring-plugin long output: lines printed after the status line (store mode: one per certificate).
    details: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        perf = f" | {' '.join(self.perfdata)}" if self.perfdata else ""
        return f"{STATE_NAMES[self.state]}: {self.message}{perf}"

    @property
    def output(self) -> str:
        """The status line, then the long output lines."""
        return "\n".join([self.line, *self.details])


def worst(results: list[CheckResult]) -> int:
    """The state of a set of results (UNKNOWN ranks below CRITICAL, above WARNING)."""
    order = [OK, WARNING, UNKNOWN, CRITICAL]
    return max((r.state for r in results), key=order.index, default=OK)


def closest_limit(verdict: Verdict, name: str) -> str:
    """``www.example.org staple signer certificate CN=R expires in 47 min (before nextUpdate in 11 h)``."""
    f = verdict.facts
    if f.expires_at is None or f.remaining_seconds is None:
        return f"{name} staple has no expiry"
    left = human_duration(f.remaining_seconds)
    next_left = (
        human_duration(f.remaining_seconds + (f.next_update - f.expires_at).total_seconds()) if f.next_update else "?"
    )
    if f.signer_not_after is not None and f.next_update is not None and f.signer_not_after < f.next_update:
        end = "assumed end" if f.assumed_lifetime else "nextUpdate"
        return (
            f"{name} staple signer certificate {f.signer} expires in {left} "
            f"({iso(f.signer_not_after)}, before {end} in {next_left})"
        )
    if f.assumed_lifetime is not None:
        window = f"assumed end {iso(f.next_update)}: thisUpdate + {human_duration(f.assumed_lifetime)}, no nextUpdate"
        return f"{name} staple expires in {left} ({window})"
    return f"{name} staple expires in {left} (nextUpdate {iso(f.next_update)})"


def judge(
    verdict: Verdict, *, name: str, warning: Threshold = DEFAULT_WARNING, critical: Threshold = DEFAULT_CRITICAL
) -> CheckResult:
    """Turn a verdict into a monitoring result with thresholds on the effective remaining life."""
    f = verdict.facts
    window = int((f.next_update - f.this_update).total_seconds()) if f.next_update and f.this_update else 0
    warn_s, crit_s = warning.resolve(window), critical.resolve(window)
    perf = []
    if f.remaining_seconds is not None:
        perf = [f"remaining={f.remaining_seconds}s;{warn_s};{crit_s};0;{window}", f"window={window}s"]
    if not verdict.valid:
        if set(verdict.codes) <= _TIME_CODES:
            return CheckResult(CRITICAL, closest_limit(verdict, name), perf)
        return CheckResult(CRITICAL, "; ".join(p.message for p in verdict.problems), perf)
    remaining = f.remaining_seconds or 0
    if remaining < crit_s:
        return CheckResult(CRITICAL, closest_limit(verdict, name) + f" - below critical {human_duration(crit_s)}", perf)
    if remaining < warn_s:
        return CheckResult(WARNING, closest_limit(verdict, name) + f" - below warning {human_duration(warn_s)}", perf)
    return CheckResult(OK, closest_limit(verdict, name), perf)


def judge_served(
    report: ServedReport, *, warning: Threshold = DEFAULT_WARNING, critical: Threshold = DEFAULT_CRITICAL
) -> CheckResult:
    """A live endpoint: no staple and served bytes that are not the deployed file are CRITICAL, then :func:`judge`.

    Stapling is expected wherever this check runs, so serving nothing is CRITICAL (a client
    that hard-fails - Must-Staple - rejects the site; others fall back to asking the CA).
    """
    if report.verdict is None:
        deployed = f"; {report.expect_file} is deployed" if report.file_exists else ""
        return CheckResult(CRITICAL, f"{report.where} serves no staple (stapling expected){deployed}")
    result = judge(report.verdict, name=report.where, warning=warning, critical=critical)
    mismatch = report.mismatch()
    if mismatch:
        return CheckResult(CRITICAL, mismatch, result.perfdata)
    if result.state != OK:
        result.message += report.wrong_certificate()
    return result
