"""Atomic file writes: a good staple is never half-written (the store's lock: central/lock.py).

Used by the central store and by the node-side install alike (one copy).
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from .errors import StoreError


def read_bytes(path: str) -> bytes | None:
    """The file's bytes, or None when it does not exist (other errors are StoreError)."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_file(path: str, *, what: str) -> bytes:
    """The bytes of a file that must exist; StoreError naming ``what`` and ``path`` otherwise."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise StoreError(f"{what} {path}: cannot read: {exc.strerror or exc}") from None


def atomic_write(
    path: str,
    data: bytes,
    *,
    mode: int = 0o644,
    owner: int | None = None,
    group: int | None = None,
    durable: bool = True,
) -> None:
    """Write ``data`` to ``path`` so readers see the old bytes or the new, never a mix.

    A temporary file in the same directory is written, fsync'd, given its mode and owner,
    then renamed over ``path``; the directory is fsync'd so the rename survives a crash.
    On any error the temporary file is removed and ``path`` is untouched.
    ``durable=False`` skips both fsyncs: still atomic for readers, but a crash may lose the
    write (for records such as the store's state.json, never for a staple).
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create a temporary file in {directory}: {exc.strerror or exc}") from None
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fchmod(fd, mode)
            if owner is not None or group is not None:
                os.fchown(fd, -1 if owner is None else owner, -1 if group is None else group)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StoreError(f"{path}: write failed, previous file kept: {exc.strerror or exc}") from None
    if durable:
        fsync_dir(directory)


def fsync_dir(directory: str) -> None:
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
