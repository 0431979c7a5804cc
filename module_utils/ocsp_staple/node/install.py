"""Install a staple on a node: re-validate, compare with what is on disk, write atomically.

The central store hands every node the same known-good staple; each node judges it again
against its *own* certificate and issuer files with :func:`policy.validate` (the one
validation) before a byte reaches nginx. :func:`plan_install` decides and describes (check
mode stops there); :func:`apply_install` carries a valid plan out with
:func:`fsutil.atomic_write`. An invalid staple never touches the destination.
"""

from __future__ import annotations

import datetime as _dt
import grp
import os
import pwd
import stat
from dataclasses import dataclass, field
from typing import Any

from ..certs import CertPair, iso
from ..errors import InputError, OcspStapleError, StoreError
from ..fsutil import atomic_write, read_bytes
from ..policy import DEFAULT_CLOCK_SKEW, DEFAULT_MIN_REMAINING, Verdict, validate

#: The facts shown in a diff, before and after (enough to see what a change means).
DIFF_FACTS = ("this_update", "next_update", "expires_at", "signer")


class StapleRejected(OcspStapleError):
    """The staple failed validation on this node; the destination was left untouched."""

    def __init__(self, message: str, verdict: Verdict) -> None:
        super().__init__(message)
        self.verdict = verdict


def parse_mode(value: str | int) -> int:
    """``"0644"`` / ``"644"`` / ``0o644`` -> 0o644 (octal permission bits only)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = str(value).strip()
        try:
            number = int(text, 8)
        except ValueError:
            raise InputError(f'mode: expected octal permission bits like "0644", got {value!r}') from None
    if not 0 <= number <= 0o7777:
        raise InputError(f"mode: {value!r} is outside 0000-7777")
    return number


def resolve_owner(value: str | int | None) -> int | None:
    """A user name or numeric id -> uid (None stays None)."""
    return _resolve(value, "owner", lambda name: pwd.getpwnam(name).pw_uid)


def resolve_group(value: str | int | None) -> int | None:
    """A group name or numeric id -> gid (None stays None)."""
    return _resolve(value, "group", lambda name: grp.getgrnam(name).gr_gid)


def _resolve(value: str | int | None, what: str, lookup: Any) -> int | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        return int(lookup(text))
    except KeyError:
        raise InputError(f"{what}: no such {'user' if what == 'owner' else 'group'} {text!r} on this host") from None


@dataclass(frozen=True)
class FileState:
    """What is at the destination now: bytes, permission bits and ids (None when absent)."""

    data: bytes | None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def read(cls, path: str) -> FileState:
        data = read_bytes(path)
        if data is None:
            return cls(None)
        try:
            info = os.stat(path)
        except OSError as exc:
            raise StoreError(f"{path}: cannot stat: {exc.strerror or exc}") from None
        return cls(data, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)


@dataclass
class InstallPlan:
    """Everything :func:`apply_install` needs and everything a caller reports."""

    dest: str
    data: bytes
    verdict: Verdict
    current: FileState
    current_verdict: Verdict | None
    mode: int
    owner: int | None
    group: int | None
    content_changed: bool = False
    attributes_changed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the bytes differ or only mode/owner/group must be fixed."""
        return self.content_changed or bool(self.attributes_changed)

    def diff(self) -> dict[str, Any]:
        """Ansible-style diff: facts of the old file and of the new staple, plus mode/ids."""
        before: dict[str, Any] = {}
        if self.current.data is not None:
            before = _diff_facts(self.current_verdict, self.current.data)
            before.update(mode=_octal(self.current.mode), owner=self.current.uid, group=self.current.gid)
        after = _diff_facts(self.verdict, self.data)
        after.update(
            mode=_octal(self.mode),
            owner=self.owner if self.owner is not None else self.current.uid,
            group=self.group if self.group is not None else self.current.gid,
        )
        return {"before": before, "after": after, "before_header": self.dest, "after_header": self.dest}

    def rejection(self) -> str:
        """One line naming the destination and every problem (empty when valid)."""
        if self.verdict.valid:
            return ""
        problems = "; ".join(p.message for p in self.verdict.problems)
        return f"staple rejected, {self.dest} left untouched: {problems}"


def _octal(mode: int | None) -> str | None:
    return None if mode is None else format(mode, "04o")


def _diff_facts(verdict: Verdict | None, data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"size": len(data)}
    if verdict is None:
        return out
    facts = verdict.facts
    for key in DIFF_FACTS:
        value = getattr(facts, key)
        out[key] = iso(value) if isinstance(value, _dt.datetime) else value
    out["valid"] = verdict.valid
    if verdict.problems:
        out["codes"] = verdict.codes
    return out


def plan_install(
    data: bytes,
    pair: CertPair,
    *,
    dest: str,
    now: _dt.datetime,
    min_remaining: int = DEFAULT_MIN_REMAINING,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    name: str | None = None,
    mode: int = 0o644,
    owner: int | None = None,
    group: int | None = None,
    assume_lifetime: int | None = None,
) -> InstallPlan:
    """Validate ``data`` for ``pair`` and compare it with ``dest``; writes nothing.

    ``owner``/``group`` None keep the existing file's ids (a new file gets the caller's).
    The old file is judged with the same policy too, only to describe it in the diff.
    ``assume_lifetime``: policy.validate's end for a response without nextUpdate (seconds; None refuses it).
    """
    policy: dict[str, Any] = {
        "now": now,
        "min_remaining": min_remaining,
        "clock_skew": clock_skew,
        "assume_lifetime": assume_lifetime,
    }
    verdict = validate(data, pair, name=name, **policy)
    current = FileState.read(dest)
    current_verdict = None
    if current.data is not None:
        current_verdict = validate(current.data, pair, name=name, **policy)
    plan = InstallPlan(
        dest=dest,
        data=data,
        verdict=verdict,
        current=current,
        current_verdict=current_verdict,
        mode=mode,
        owner=owner,
        group=group,
    )
    plan.content_changed = current.data != data
    if current.data is not None and not plan.content_changed:
        if current.mode != mode:
            plan.attributes_changed.append("mode")
        if owner is not None and current.uid != owner:
            plan.attributes_changed.append("owner")
        if group is not None and current.gid != group:
            plan.attributes_changed.append("group")
    return plan


def apply_install(plan: InstallPlan) -> None:
    """Carry out a plan: refuse an invalid staple, write new bytes atomically, or fix attributes.

    Raises :class:`StapleRejected` (destination untouched) when the verdict is not valid,
    :class:`StoreError` when the write fails (previous file kept).
    """
    if not plan.verdict.valid:
        raise StapleRejected(plan.rejection(), plan.verdict)
    owner = plan.owner if plan.owner is not None else plan.current.uid
    group = plan.group if plan.group is not None else plan.current.gid
    if plan.content_changed:
        atomic_write(plan.dest, plan.data, mode=plan.mode, owner=owner, group=group)
        return
    try:
        if "mode" in plan.attributes_changed:
            os.chmod(plan.dest, plan.mode)
        if "owner" in plan.attributes_changed or "group" in plan.attributes_changed:
            os.chown(plan.dest, -1 if owner is None else owner, -1 if group is None else group)
    except OSError as exc:
        raise StoreError(f"{plan.dest}: cannot set mode/owner/group: {exc.strerror or exc}") from None
