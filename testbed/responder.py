"""The test responder as a background process with a pid file (molecule scenarios, scripts).

``python -m testbed.responder serve`` runs it in the foreground (drills, your own tests);
playbooks and scripts need it in the background, with its pid recorded so that whatever
started it can stop it (by pid, never by name). Files under ``--root``: ``responder.pid``,
``responder.log`` and ``responder.json`` (the control file the responder re-reads when it
changes; ``{"fault": "good"}`` at first).

CLI::

    python -m testbed.responder serve --ca-cert CA.pem --ca-key CA.key [--port N] [--mix try_later=0.3,...]
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
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from ocsp_staple.errors import OcspStapleError

from . import REPO
from .fleet import KILL_WAIT, STOP_GRACE, _accepts, _alive, _wait_gone
from .ocsp_responder import register as register_serve
from .pki import load_demo_pki
from .wait import SCALE_ENV, wait_until

HOST = "127.0.0.1"
#: Deadline of a start (seconds, scaled): a Python start-up and a key load on a loaded machine.
DEFAULT_TIMEOUT = 30.0


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
    return pid if b"testbed.responder" in cmdline and _alive(pid) else None


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
        sys.executable, "-m", "testbed.responder", "serve",
        "--ca-cert", pki.ca_cert, "--ca-key", pki.ca_key,
        "--signer-cert", pki.responder_cert, "--signer-key", pki.responder_key,
        "--host", HOST, "--port", str(port), "--control", str(control),
    ]  # fmt: skip
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), str(REPO / "module_utils"), env.get("PYTHONPATH")]))
    log = root / "responder.log"
    with open(log, "ab") as out:
        offset = out.tell()  # the log is appended to: this start's lines come after
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, start_new_session=True, close_fds=True
        )
    pid_file(root).write_text(f"{process.pid}\n")
    announced = f"http://{HOST}:{port}/"

    def serving() -> bool:
        """Listening, and past its start-up: it prints its URL once its server thread runs."""
        if process.poll() is not None:
            pid_file(root).unlink(missing_ok=True)
            lines = _log_since(log, offset).strip().splitlines()
            raise ResponderError(
                f"test responder on {HOST}:{port} exited at start: {(lines[-1:] or [f'exit {process.returncode}'])[0]}"
            )
        return announced in _log_since(log, offset).splitlines() and _accepts(HOST, port)

    try:
        wait_until(serving, timeout, f"test responder serving on {HOST}:{port} (see {log})", error=ResponderError)
    except ResponderError:
        if process.poll() is None:
            stop(root)
        raise
    return process.pid


def _log_since(log: Path, offset: int) -> str:
    try:
        with open(log, "rb") as text:
            text.seek(offset)
            return text.read().decode(errors="replace")
    except OSError:
        return ""


def stop(root: str | Path, *, timeout: float = STOP_GRACE) -> bool:
    """SIGTERM the responder of ``root`` (wait ``timeout`` s, scaled, then SIGKILL); True when one was running."""
    pid = running_pid(root)
    pid_file(root).unlink(missing_ok=True)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone([pid], timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not _wait_gone([pid], KILL_WAIT):
            raise ResponderError(f"test responder pid {pid} survived SIGKILL")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testbed.responder",
        description="the fault-injecting test responder: serve (foreground), start / stop (background, pid file)",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    register_serve(sub)
    for action in ("start", "stop"):
        background = sub.add_parser(action, help=f"{action} the background responder of --root")
        background.add_argument("--root", required=True, help="directory for responder.pid, .log and .json")
        background.add_argument("--pki", help="testbed.pki directory (start)")
        background.add_argument(
            "--timeout",
            type=float,
            help=f"seconds, scaled by {SCALE_ENV} (default: start {DEFAULT_TIMEOUT:g}, stop {STOP_GRACE:g})",
        )
    args = parser.parse_args(argv)
    try:
        if args.action == "serve":
            return int(args.func(args))
        if args.action == "start":
            if not args.pki:
                parser.error("start needs --pki")
            pid = start(args.root, args.pki, timeout=args.timeout or DEFAULT_TIMEOUT)
            print(f"test responder pid={pid} root={Path(args.root).resolve()}")
        else:
            stopped = stop(args.root, timeout=args.timeout or STOP_GRACE)
            print("test responder stopped" if stopped else "test responder was not running")
    except (ResponderError, OcspStapleError) as exc:
        print(f"testbed.responder {args.action}: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, ResponderError) else 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
