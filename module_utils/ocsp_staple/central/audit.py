"""Who did it: the operator recorded in pin.json, stapling.json and state.json."""

from __future__ import annotations

import os
from collections.abc import Mapping


def operator(environ: Mapping[str, str], host: str | None = None, *, account: str | None = None) -> str:
    """Who runs the command: ``SUDO_USER``, else ``USER``, else ``LOGNAME``, else ``account`` (the
    process's login name, for environments without those variables), else ``unknown``; ``@host`` when known.
    """
    user = environ.get("SUDO_USER") or environ.get("USER") or environ.get("LOGNAME") or account or "unknown"
    return f"{user}@{host}" if host else user


def local_operator() -> str:
    """:func:`operator` of this process: its environment, host name and login name (for the edges:
    the modules on the central host, the filter on the controller)."""
    import pwd
    import socket

    try:
        account: str | None = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        account = None
    return operator(os.environ, socket.gethostname(), account=account)
