"""How a central run asks and judges: the options of refresh and freeze (module parameters or CLI values)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..argspecs import LIFETIME
from ..durations import parse_duration
from ..errors import InputError
from ..policy import DEFAULT_CLOCK_SKEW, DEFAULT_MIN_REMAINING
from .fetch import DEFAULT_MAX_SIZE

DEFAULT_CRITICAL_REMAINING = 6 * 3600


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


#: Without an ``attempts`` cap (the freeze), the fewest rounds asked in all once a long-lived valid
#: answer is in, to find a longer-lived one (asker.Asker.collect; selection.long_lived).
COMPARE_ROUNDS = 3


@dataclass(frozen=True)
class RefreshOptions:
    #: Rounds of asking per certificate. None (the freeze's default): no cap - ask until a valid answer
    #: or the deadline; past the first valid answer it asks on until one is long-lived (selection.long_lived)
    #: and ``compare_rounds`` rounds are done, or the deadline passes (then the longest-lived valid one wins).
    attempts: int | None = 3
    compare_rounds: int = COMPARE_ROUNDS
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
    #: Seconds after thisUpdate that a response without nextUpdate is taken to end, for every certificate
    #: without its own setting (None: such a response is refused, the default; asker.lifetime_of).
    assume_lifetime_without_next_update: int | None = None

    def __post_init__(self) -> None:
        if self.attempts is not None and not 1 <= self.attempts <= 100:
            raise InputError(f"attempts: must be between 1 and 100 (or none: the deadline), got {self.attempts!r}")
        if not 1 <= self.compare_rounds <= 100:
            raise InputError(f"compare_rounds: must be between 1 and 100, got {self.compare_rounds!r}")
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
        if LIFETIME in given:
            kw[LIFETIME] = parse_duration(given[LIFETIME] or 0, what=LIFETIME) or None
        for key in ("force", "check_mode"):
            if key in given:
                kw[key] = bool(given[key])
        for key in ("proxy", "metrics_path"):
            if given.get(key):
                kw[key] = str(given[key])
        return cls(**kw, **extra)
