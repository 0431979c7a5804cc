"""The audited disable switch: ``<store>/stapling.json`` (disable / enable, DESIGN.md "Emergency controls").

:func:`set_switch` records or removes the switch that ``store.switch_for`` reads and the plan
obeys, so stapling switched off in an emergency stays off through later scheduled runs until
enabled again. Disabling a Must-Staple certificate is refused by ``spec.refuse_disabling_must_staple`` unless forced.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..aia import is_must_staple
from ..certs import iso, load_pair
from ..compat import require_aware
from ..errors import InputError, StoreError
from ..fsutil import atomic_write
from ..names import check_name
from ..spec import CertificateSpec, refuse_disabling_must_staple
from .lock import locked
from .store import FILE_MODE, SWITCH, json_bytes, read_switch

SWITCH_VERSION = 1


@dataclass
class SwitchResult:
    changed: bool
    message: str
    before: dict[str, Any]
    after: dict[str, Any]


def set_switch(
    root: str,
    *,
    enabled: bool,
    who: str,
    now: _dt.datetime,
    reason: str | None = None,
    names: Sequence[str] | None = None,
    certificates: Sequence[CertificateSpec] = (),
    force_disable_must_staple: bool = False,
    check_mode: bool = False,
    lock_timeout: float = 120.0,
) -> SwitchResult:
    """Record (``enabled=False``) or remove (``enabled=True``) the disable switch in ``<root>/stapling.json``.

    ``names`` None means every certificate. Disabling needs a ``reason``; each of
    ``certificates`` the switch covers is loaded and judged by ``spec.refuse_disabling_must_staple``, which refuses a
    Must-Staple certificate unless ``force_disable_must_staple`` (the consent is recorded).
    Nothing is written when the switch already says so (``changed`` False).
    """
    require_aware(now, "now")
    root = os.path.abspath(root)
    chosen = [check_name(n) for n in names] if names is not None else None
    if not enabled:
        if not reason or not reason.strip():
            raise InputError("reason: required to disable stapling (it is recorded in stapling.json)")
        covered = [s for s in certificates if chosen is None or s.name in chosen]
        for spec in covered:
            pair = load_pair(spec.certificate, spec.issuer)
            must_staple = is_must_staple(pair.leaf)
            refuse_disabling_must_staple(spec.name, must_staple=must_staple, force=force_disable_must_staple)
    path = os.path.join(root, SWITCH)
    context = contextlib.nullcontext() if check_mode else _switch_lock(root, lock_timeout)
    with context:
        before = read_switch(root)
        after = _switched(
            before, enabled=enabled, names=chosen, who=who, now=now, reason=reason, force=force_disable_must_staple
        )
        changed = after != _without_version(before)
        if changed and not check_mode:
            if after:
                atomic_write(path, json_bytes({"version": SWITCH_VERSION, **after}), mode=FILE_MODE)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
    scope = "every certificate" if chosen is None else ", ".join(chosen)
    if enabled:
        message = f"stapling enabled again for {scope}" if changed else f"stapling was not switched off for {scope}"
    else:
        message = f"stapling switched off for {scope}" if changed else f"stapling already switched off for {scope}"
    return SwitchResult(changed, message, _without_version(before), _without_version(after))


@contextlib.contextmanager
def _switch_lock(root: str, timeout: float) -> Any:
    try:
        os.makedirs(root, mode=0o755, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"store {root}: cannot create: {exc.strerror or exc}") from None
    with locked(os.path.join(root, ".stapling.lock"), timeout=timeout):
        yield


def _without_version(switch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in switch.items() if k != "version"}


def _switched(
    switch: dict[str, Any],
    *,
    enabled: bool,
    names: list[str] | None,
    who: str,
    now: _dt.datetime,
    reason: str | None,
    force: bool,
) -> dict[str, Any]:
    """The switch after the change (``{}``: nothing switched off, the file goes)."""
    current = _without_version(switch)
    everything = current.get("all") if isinstance(current.get("all"), dict) else None
    per_name = dict(current.get("certificates") or {})
    if enabled:
        if names is None:
            return {}
        if everything is not None:
            raise InputError(
                f"stapling is switched off for every certificate ({everything.get('who')}, {everything.get('when')}: "
                f"{everything.get('why')}); enable every certificate (no names), then disable the ones to keep off"
            )
        for name in names:
            per_name.pop(name, None)
    else:
        record = {"who": who, "when": iso(now), "why": (reason or "").strip(), "force_disable_must_staple": force}

        def keep(old: Any) -> bool:
            return isinstance(old, dict) and (bool(old.get("force_disable_must_staple")) or not force)

        if names is None:
            everything = everything if keep(everything) else record
        else:
            for name in names:
                per_name[name] = per_name[name] if keep(per_name.get(name)) else record
    out: dict[str, Any] = {}
    if everything is not None:
        out["all"] = everything
    if per_name:
        out["certificates"] = per_name
    return out
