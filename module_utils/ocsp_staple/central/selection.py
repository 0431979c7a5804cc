"""The selection rules of the store: when a staple is due, which answer is best, what may replace what.

docs/STORE.md has them in prose. Pure functions over verdicts: no I/O, no clock of their own.
"""

from __future__ import annotations

import datetime as _dt

from ..policy import Verdict


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


def best(candidates: list[tuple[Verdict, bytes]]) -> tuple[Verdict, bytes] | None:
    if not candidates:
        return None
    return max(candidates, key=lambda c: (c[0].facts.expires_at, c[0].facts.this_update))


def full_lived(verdict: Verdict) -> bool:
    """The signer outlives nextUpdate: nothing cuts this answer's life short."""
    return verdict.facts.expires_at is not None and verdict.facts.expires_at == verdict.facts.next_update


#: A freeze keeps asking past its first valid answer while every answer's signer ends before this
#: share of the window is left (the monitoring check warns below 40 %; a pin should start well above).
LONG_LIVED_SHARE = 0.5


def long_lived(verdict: Verdict) -> bool:
    """Worth pinning without asking on: full-lived, or its signer leaves at least half the window from now."""
    facts = verdict.facts
    if full_lived(verdict):
        return True
    if facts.this_update is None or facts.next_update is None or facts.remaining_seconds is None:
        return False
    window = (facts.next_update - facts.this_update).total_seconds()
    return facts.remaining_seconds >= LONG_LIVED_SHARE * window
