"""The central store's lock: two runs (a scheduled refresh, a freeze) never interleave on one certificate."""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Iterator

from ..errors import StoreError


@contextlib.contextmanager
def locked(path: str, *, timeout: float = 60.0, mode: int = 0o644) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created with ``mode`` whatever the umask) for the block.

    Waits at most ``timeout`` seconds (polling, bounded), then raises StoreError naming
    the lock file, so two runs never interleave and neither hangs forever.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    except OSError as exc:
        raise StoreError(f"lock {path}: cannot open: {exc.strerror or exc}") from None
    with contextlib.suppress(OSError):  # another user's lock file keeps its mode
        if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
            os.fchmod(fd, mode)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreError(f"lock {path}: still held by another run after {timeout:g} s") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)
