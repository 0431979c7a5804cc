"""The test responder as a background process with a pid file (molecule scenarios, scripts).

``ocsp-staple test-responder`` runs in the foreground; playbooks and scripts need it in the
background, with its pid recorded so that whatever started it can stop it (by pid, never by
name). Files under ``--root``: ``responder.pid``, ``responder.log`` and ``responder.json``
(the control file the responder re-reads when it changes; ``{"fault": "good"}`` at first).

CLI::

    python -m testbed.responder start --root DIR --pki PKI_DIR   # on the port of the PKI's OCSP URL
    python -m testbed.responder stop  --root DIR

The responder signs with the PKI's delegated responder certificate and listens on
127.0.0.1, on the port of the PKI's OCSP URL. The core it runs is this checkout's
(``module_utils`` first on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from . import REPO
from .fleet import _alive, _wait_gone
from .pki import load_demo_pki

HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 10.0


class ResponderError(Exception):
    """The background responder could not be started or stopped (one line)."""


def pid_file(root: str | Path) -> Path:
    return Path(root) / "responder.pid"


def running_pid(root: str | Path) -> int | None:
    """The pid in ``responder.pid`` when that process is a live test responder, else None."""
    try:
        pid = int(pid_file(root).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"test-responder" in cmdline and _alive(pid) else None


def start(root: str | Path, pki_dir: str | Path, *, timeout: float = DEFAULT_TIMEOUT) -> int:
    """Start the responder on the port of the PKI's OCSP URL unless one runs for ``root``; return its pid."""
    root = Path(root).resolve()
    already = running_pid(root)
    if already is not None:
        return already
    pki = load_demo_pki(pki_dir)
    if pki is None:
        raise ResponderError(f"PKI {pki_dir}: no complete pki.json (write it with python -m testbed.pki)")
    url = urlsplit(pki.ocsp_url)
    if url.hostname != HOST or not url.port:
        raise ResponderError(f"PKI {pki_dir}: OCSP URL {pki.ocsp_url} is not http://{HOST}:PORT/")
    port = url.port
    root.mkdir(parents=True, exist_ok=True)
    control = root / "responder.json"
    if not control.exists():
        control.write_text(json.dumps({"fault": "good"}) + "\n")
    argv = [
        sys.executable, "-m", "ocsp_staple", "test-responder",
        "--ca-cert", pki.ca_cert, "--ca-key", pki.ca_key,
        "--signer-cert", pki.responder_cert, "--signer-key", pki.responder_key,
        "--host", HOST, "--port", str(port), "--control", str(control),
    ]  # fmt: skip
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "module_utils"), env.get("PYTHONPATH")]))
    log = root / "responder.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, start_new_session=True, close_fds=True
        )
    pid_file(root).write_text(f"{process.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pid_file(root).unlink(missing_ok=True)
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [f"exit {process.returncode}"]
            raise ResponderError(f"test responder on {HOST}:{port} exited at start: {tail[0]}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.2):
            return process.pid
        time.sleep(0.05)
    stop(root)
    raise ResponderError(f"test responder not listening on {HOST}:{port} after {timeout:g} s (see {log})")


def stop(root: str | Path, *, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """SIGTERM the responder of ``root`` (bounded wait, then SIGKILL); True when one was running."""
    pid = running_pid(root)
    pid_file(root).unlink(missing_ok=True)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone([pid], timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not _wait_gone([pid], 5.0):
            raise ResponderError(f"test responder pid {pid} survived SIGKILL")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.responder", description="background test responder")
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--root", required=True, help="directory for responder.pid, .log and .json")
    parser.add_argument("--pki", help="testbed.pki directory (start)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            if not args.pki:
                parser.error("start needs --pki")
            pid = start(args.root, args.pki, timeout=args.timeout)
            print(f"test responder pid={pid} root={Path(args.root).resolve()}")
        else:
            stopped = stop(args.root, timeout=args.timeout)
            print("test responder stopped" if stopped else "test responder was not running")
    except ResponderError as exc:
        print(f"testbed.responder {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
