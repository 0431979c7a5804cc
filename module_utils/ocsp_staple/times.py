"""Times as operators and the store write them: the one ISO 8601 parser of the project.

The CLI's ``--now``, the filters' ``now`` and the times the store records (state.json,
pin.json) all go through :func:`parse_time`.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from .compat import UTC
from .errors import InputError


def parse_time(value: str | _dt.datetime, *, what: str = "time", naive: str = "utc") -> _dt.datetime:
    """An aware datetime from ISO 8601 text (``Z`` accepted) or a datetime.

    ``naive="utc"`` reads a time without an offset as UTC; ``naive="refuse"`` rejects it
    (a filter's ``now`` must say its timezone). Raises :class:`InputError` naming ``what``.
    """
    if isinstance(value, _dt.datetime):
        parsed = value
    else:
        try:
            parsed = _dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"{what}: expected an ISO 8601 time like 2015-08-20T15:00Z, got {value!r}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        if naive != "utc":
            raise InputError(f"{what} must carry a timezone (like 2015-08-20T15:00Z), got {value!r}")
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def now_or(value: str | _dt.datetime | None, *, what: str = "now", naive: str = "utc") -> _dt.datetime:
    """The clock when ``value`` is empty, else :func:`parse_time` of it."""
    if value is None or value == "":
        return _dt.datetime.now(UTC)
    return parse_time(value, what=what, naive=naive)


def recorded_time(value: Any) -> _dt.datetime | None:
    """A time the store recorded, or None when it is absent or unreadable (a record is advisory)."""
    if not value or not isinstance(value, (str, _dt.datetime)):
        return None
    try:
        return parse_time(value, what="recorded time")
    except InputError:
        return None
