"""The central store (DESIGN.md, "The central store"; layout in docs/STORE.md).

``<store>/<name>/``
  ``current.der``   the known-good staple (changes only by the selection rule)
  ``history/``      the last few good staples, ``<thisUpdate>-<sha256 prefix>.der``
  ``quarantine/``   rejected answers: ``<stamp>.json`` (problems) + ``<stamp>.der`` (the bytes, if any)
  ``state.json``    last attempt, outcomes, consecutive failures, facts of ``current.der``
  ``pin.json``      present only while frozen, with the pinned staple it names
  ``.lock``         flock held while a run writes this certificate
``<store>/stapling.json``
  present only while stapling is switched off by the disable command: who, when, why, for
  every certificate (``all``) or per name (``certificates``); read by :func:`switch_for`

Every file is written atomically (fsutil). Files are 0644, directories 0755: nothing in
the store is secret, it never holds a private key. Readers (the node-side deploy, the
monitoring check) may read without the lock: they see old or new bytes, never a mix.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..aia import is_must_staple, ocsp_urls
from ..certs import iso, read_pem_file, subject_text
from ..errors import InputError, StoreError
from ..fsutil import atomic_write, read_bytes
from ..names import check_name, is_name
from .lock import locked

FILE_MODE = 0o644
DIR_MODE = 0o755
CURRENT = "current.der"
STATE = "state.json"
PIN = "pin.json"
PINNED_DEFAULT = "pinned.der"
HISTORY = "history"
QUARANTINE = "quarantine"
LOCK = ".lock"
SWITCH = "stapling.json"
DEFAULT_HISTORY_KEEP = 5
DEFAULT_QUARANTINE_KEEP = 50
STATE_VERSION = 1


def stamp(value: _dt.datetime) -> str:
    """``20150820T151200Z``: a sortable, path-safe UTC time."""
    return value.astimezone(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class Pin:
    """A freeze: ``pin.json`` and the staple it pins (written by the freeze command)."""

    name: str
    staple_file: str
    staple: bytes | None
    record: dict[str, Any]


class Store:
    """One directory per certificate name under ``root``."""

    def __init__(
        self,
        root: str,
        *,
        history_keep: int = DEFAULT_HISTORY_KEEP,
        quarantine_keep: int = DEFAULT_QUARANTINE_KEEP,
    ) -> None:
        if not root:
            raise InputError("store: a directory is required")
        if history_keep < 1 or quarantine_keep < 1:
            raise InputError(f"store {root}: history_keep and quarantine_keep must be at least 1")
        self.root = os.path.abspath(root)
        self.history_keep = history_keep
        self.quarantine_keep = quarantine_keep

    # -- paths -------------------------------------------------------------------------------
    def path(self, name: str, *parts: str) -> str:
        return os.path.join(self.root, check_name(name), *parts)

    def ensure(self, name: str) -> str:
        """Create the certificate's directories (0755) and return its directory."""
        directory = self.path(name)
        for sub in (self.root, directory, os.path.join(directory, HISTORY), os.path.join(directory, QUARANTINE)):
            if os.path.isdir(sub):
                continue
            try:
                os.makedirs(sub, mode=DIR_MODE, exist_ok=True)
                os.chmod(sub, DIR_MODE)  # whatever the umask
            except OSError as exc:
                raise StoreError(f"store directory {sub}: cannot create: {exc.strerror or exc}") from None
        return directory

    @contextlib.contextmanager
    def lock(self, name: str, *, timeout: float = 120.0) -> Iterator[None]:
        """Exclusive lock of one certificate's directory (creates the directory)."""
        directory = self.ensure(name)
        with locked(os.path.join(directory, LOCK), timeout=timeout):
            yield

    # -- reading -----------------------------------------------------------------------------
    def read_current(self, name: str) -> bytes | None:
        return read_bytes(self.path(name, CURRENT))

    def read_state(self, name: str) -> dict[str, Any]:
        """state.json as a dict; ``{}`` when absent. A corrupt file is a StoreError naming it."""
        return _read_object(self.path(name, STATE), "state file") or {}

    def read_pin(self, name: str) -> Pin | None:
        """The freeze of ``name``, or None when it is not frozen.

        ``pin.json`` is a JSON object; its ``staple`` field names the pinned staple file in
        the certificate's directory (default ``pinned.der``). The other fields (who, why,
        when) are the freeze command's record and are returned as they are.
        """
        path = self.path(name, PIN)
        record = _read_object(path, "pin file")
        if record is None:
            return None
        staple_file = record.get("staple", PINNED_DEFAULT)
        if not is_name(staple_file):
            raise StoreError(
                f"pin file {path}: field 'staple' must be a file name in {self.path(name)}, got {staple_file!r}"
            )
        return Pin(name=name, staple_file=staple_file, staple=read_bytes(self.path(name, staple_file)), record=record)

    def to_deploy(self, name: str) -> tuple[bytes | None, Pin | None]:
        """What nodes get for ``name`` (the pinned staple while frozen, else ``current.der``) and the pin."""
        pin = self.read_pin(name)
        return (pin.staple if pin is not None else self.read_current(name)), pin

    def history(self, name: str) -> list[str]:
        return _listing(self.path(name, HISTORY), ".der")

    def quarantined(self, name: str) -> list[dict[str, Any]]:
        """The quarantine records (oldest first), each with its ``file`` when bytes were kept."""
        directory = self.path(name, QUARANTINE)
        records = []
        for entry in _listing(directory, ".json"):
            data = read_bytes(os.path.join(directory, entry))
            if data is None:
                continue
            try:
                records.append(json.loads(data))
            except ValueError:
                continue
        return records

    # -- writing (callers hold the lock) -----------------------------------------------------
    def write_current(self, name: str, data: bytes, *, this_update: _dt.datetime | None) -> None:
        """Install ``data`` as current.der (atomically) and keep it in history (bounded)."""
        current = os.path.join(self.ensure(name), CURRENT)
        atomic_write(current, data, mode=FILE_MODE)
        self.add_history(name, data, this_update=this_update, link_from=current)

    def add_history(
        self, name: str, data: bytes, *, this_update: _dt.datetime | None, link_from: str | None = None
    ) -> None:
        """Keep ``data`` in history: a hard link to ``link_from`` when given (no second copy), else a write."""
        when = stamp(this_update) if this_update else "unknown"
        entry = f"{when}-{hashlib.sha256(data).hexdigest()[:16]}.der"
        directory = os.path.join(self.ensure(name), HISTORY)
        target = os.path.join(directory, entry)
        linked = False
        if link_from is not None and not os.path.exists(target):
            try:
                os.link(link_from, target)
                linked = read_bytes(target) == data  # a concurrent writer may have replaced link_from
            except OSError:
                linked = False
            if not linked:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(target)
        if not linked and not os.path.exists(target):
            atomic_write(target, data, mode=FILE_MODE)
        _prune(directory, self.history_keep, (".der",))

    def quarantine(
        self, name: str, *, data: bytes | None, record: dict[str, Any], at: _dt.datetime, attempt: int
    ) -> str:
        """Keep a rejected answer (bytes when any) with its record; returns the entry's base name."""
        directory = os.path.join(self.ensure(name), QUARANTINE)
        digest = hashlib.sha256(data).hexdigest()[:12] if data is not None else "nobody"
        base = f"{stamp(at)}-{at.microsecond:06d}-{attempt:02d}-{digest}"
        record = {**record, "at": iso(at), "attempt": attempt}
        if data is not None:
            record["file"] = base + ".der"
            record["size"] = len(data)
            atomic_write(os.path.join(directory, base + ".der"), data, mode=FILE_MODE, durable=False)
        atomic_write(os.path.join(directory, base + ".json"), json_bytes(record), mode=FILE_MODE, durable=False)
        _prune(directory, self.quarantine_keep, (".json", ".der"))
        return base

    def write_state(self, name: str, state: dict[str, Any]) -> None:
        """state.json is a record, not a staple: atomic for readers, not fsync'd (a crash may lose the last run)."""
        data = json_bytes({"version": STATE_VERSION, **state})
        atomic_write(os.path.join(self.ensure(name), STATE), data, mode=FILE_MODE, durable=False)


def _read_object(path: str, what: str) -> dict[str, Any] | None:
    """A JSON object file, None when absent; anything else is a StoreError naming the file."""
    data = read_bytes(path)
    if data is None:
        return None
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise StoreError(f"{what} {path}: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise StoreError(f"{what} {path}: expected a JSON object, got {type(value).__name__}")
    return value


def json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


def _entries(directory: str) -> list[str]:
    """The names in ``directory`` ([] when it does not exist; other errors name it)."""
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError(f"store directory {directory}: cannot list: {exc.strerror or exc}") from None


def _listing(directory: str, suffix: str) -> list[str]:
    return sorted(n for n in _entries(directory) if n.endswith(suffix) and not n.startswith("."))


def _prune(directory: str, keep: int, suffixes: tuple[str, ...]) -> None:
    """Keep the ``keep`` newest entries (by name, which starts with a UTC stamp); remove the rest."""
    bases = sorted({n.rsplit(".", 1)[0] for s in suffixes for n in _listing(directory, s)})
    for base in bases[: max(0, len(bases) - keep)]:
        for suffix in suffixes:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, base + suffix))


def read_switch(root: str) -> dict[str, Any]:
    """``<root>/stapling.json`` (the audited disable switch) as a dict; ``{}`` when stapling is not switched off.

    Shape: ``{"all": RECORD | null, "certificates": {NAME: RECORD}}``, a RECORD holding who,
    when, why and ``force_disable_must_staple``. Written by ``switch.set_switch``.
    """
    return _read_object(os.path.join(os.path.abspath(root), SWITCH), "stapling switch file") or {}


def switch_for(switch: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The disable record that applies to ``name`` (its own first, else the one for all), or None."""
    certificates = switch.get("certificates") or {}
    record = certificates.get(name) if isinstance(certificates, dict) else None
    record = record or switch.get("all")
    return record if isinstance(record, dict) else None


def names(root: str) -> list[str]:
    """The certificate names that have a directory in the store (sorted)."""
    return sorted(
        e for e in _entries(root) if is_name(e) and os.path.isdir(os.path.join(root, e))
    )


def deploy_view(root: str, name: str) -> dict[str, Any]:
    """What the rollout and operators need to know of one certificate in the store.

    ``staple`` (bytes or None) is what nodes get: the pinned staple while frozen, else
    ``current.der``; ``source`` says which. ``disabled`` is the disable record of
    ``stapling.json`` that applies to the certificate (None: stapling not switched off).
    The rest comes from state.json and pin.json.
    """
    store = Store(root)
    check_name(name)
    disabled = switch_for(read_switch(root), name)
    staple, pin = store.to_deploy(name)
    state = store.read_state(name)
    return {
        "name": name,
        "staple": staple,
        "source": ("pin" if pin is not None else "current") if staple is not None else None,
        "frozen": pin is not None,
        "pin": pin.record if pin is not None else None,
        "disabled": disabled,
        "last_outcome": state.get("last_outcome"),
        "last_attempt_at": state.get("last_attempt_at"),
        "last_success_at": state.get("last_success_at"),
        "consecutive_failures": int(state.get("consecutive_failures", 0)),
    }


@functools.lru_cache(maxsize=1024)
def leaf_summary(path: str) -> dict[str, Any]:
    """What the stapling plan needs of a certificate file: its OCSP URLs and Must-Staple."""
    leaf = read_pem_file(path)[0]
    return {"ocsp_urls": ocsp_urls(leaf), "must_staple": is_must_staple(leaf), "subject": subject_text(leaf)}
