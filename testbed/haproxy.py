"""HAProxy test nodes: real ``haproxy`` processes on 127.0.0.1, never the system service.

Each node has its own directory: ``haproxy.cfg``, ``crt/<site>.pem`` (leaf, chain, key: what
HAProxy's ``crt`` loads; ``<site>.pem.ocsp`` beside it is the staple HAProxy reads at start),
``admin.sock`` (the runtime API, level admin, mode 600), ``master.sock`` and ``haproxy.pid``.
It runs in master-worker mode (``-W``), so a reload is SIGUSR2 to the master (its pid stays),
which re-reads the configuration and every ``.ocsp`` file - what ``systemctl reload haproxy``
does on Debian. One TLS frontend per node serves every site by SNI.

    python -m testbed.haproxy start|stop|status --dir D --pki P [--nodes N] [--base-port PORT]
    python -m testbed.haproxy reload --dir D/node1     (the reload argv the role gets)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fleet import Site, _accepts, _alive, _children, _wait_gone, free_port_block, sites_from_pki
from .wait import scaled, wait_until

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
DEFAULT_TIMEOUT = 30.0
STOP_GRACE = 10.0
COMMAND_TIMEOUT = 60.0
MANIFEST = "haproxy-fleet.json"


class HaproxyNodeError(Exception):
    """A test node did not start, reload or stop as asked."""


@dataclass(frozen=True)
class HaproxyNode:
    name: str
    directory: str
    port: int
    host: str = "127.0.0.1"

    @property
    def root(self) -> Path:
        return Path(self.directory)

    @property
    def conf(self) -> Path:
        return self.root / "haproxy.cfg"

    @property
    def pid_file(self) -> Path:
        return self.root / "haproxy.pid"

    @property
    def admin_socket(self) -> Path:
        return self.root / "admin.sock"

    @property
    def master_socket(self) -> Path:
        return self.root / "master.sock"

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def crt(self, site: str) -> Path:
        return self.root / "crt" / f"{site}.pem"

    def staple_path(self, site: str) -> Path:
        return self.root / "crt" / f"{site}.pem.ocsp"

    def command(self, *extra: str) -> list[str]:
        return [HAPROXY, "-W", "-S", str(self.master_socket), "-f", str(self.conf), *extra]

    def test_command(self) -> list[str]:
        return [HAPROXY, "-c", "-f", str(self.conf)]

    def reload_command(self) -> list[str]:
        """What the role runs as ocsp_stapling_haproxy_reload_argv (from any working directory)."""
        repo = Path(__file__).resolve().parent.parent
        return [
            "/usr/bin/env",
            f"PYTHONPATH={repo}",
            sys.executable,
            "-m",
            "testbed.haproxy",
            "reload",
            "--dir",
            self.directory,
        ]

    def write(self, sites: Sequence[Site]) -> None:
        (self.root / "crt").mkdir(parents=True, exist_ok=True)
        for site in sites:
            bundle = Path(site.certificate).read_bytes() + Path(site.key).read_bytes()
            path = self.crt(site.name)
            path.write_bytes(bundle)
            path.chmod(0o600)
        self.conf.write_text(render_conf(self, sites))

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _alive(pid) else None

    def running(self) -> bool:
        return self.pid() is not None

    def workers(self) -> set[int]:
        master = self.pid()
        return _children(master) if master else set()

    def _ready(self) -> bool:
        if not (self.running() and self.workers() and _accepts(self.host, self.port)):
            return False
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(str(self.admin_socket))
            return True
        return False

    def start(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        if self.running():
            return
        result = subprocess.run(
            self.command(), capture_output=True, text=True, timeout=scaled(COMMAND_TIMEOUT), check=False
        )
        if result.returncode != 0:
            raise HaproxyNodeError(f"haproxy node {self.name} ({self.endpoint}): did not start: {_message(result)}")
        wait_until(
            self._ready,
            timeout,
            f"haproxy node {self.name}: listening on {self.endpoint}, admin socket up",
            error=HaproxyNodeError,
        )

    def reload(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """``haproxy -c`` first, then SIGUSR2 to the master; wait for a new worker serving."""
        master = self.pid()
        if master is None:
            raise HaproxyNodeError(f"haproxy node {self.name}: not running, cannot reload")
        test = subprocess.run(
            self.test_command(), capture_output=True, text=True, timeout=scaled(COMMAND_TIMEOUT), check=False
        )
        if test.returncode != 0:
            raise HaproxyNodeError(
                f"haproxy node {self.name}: configuration check failed, not reloaded: {_message(test)}"
            )
        wait_until(
            lambda: bool(self.workers()),
            timeout,
            f"haproxy node {self.name}: a worker to replace",
            error=HaproxyNodeError,
        )
        old = self.workers()
        os.kill(master, signal.SIGUSR2)
        wait_until(
            lambda: bool(self.workers() - old) and self._ready(),
            timeout,
            f"haproxy node {self.name}: a new worker after reload",
            error=HaproxyNodeError,
        )

    def stop(self, *, timeout: float = STOP_GRACE) -> None:
        master = self.pid()
        if master is None:
            return
        pids = [master, *self.workers()]
        with contextlib.suppress(ProcessLookupError):
            os.kill(master, signal.SIGTERM)
        if not _wait_gone(pids, scaled(timeout)):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if not _wait_gone(pids, scaled(timeout)):
                raise HaproxyNodeError(f"haproxy node {self.name}: pids {pids} still alive after SIGKILL")
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()

    def status(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "port": self.port,
            "endpoint": self.endpoint,
            "directory": self.directory,
            "conf": str(self.conf),
            "pid": self.pid(),
            "admin_socket": str(self.admin_socket),
            "crt_dir": str(self.root / "crt"),
            "test_command": self.test_command(),
            "reload_command": self.reload_command(),
        }


def render_conf(node: HaproxyNode, sites: Sequence[Site]) -> str:
    crts = " ".join(f"crt {node.crt(site.name)}" for site in sites)
    return "\n".join(
        [
            f"# haproxy test node {node.name} (testbed.haproxy)",
            "global",
            f"    stats socket {node.admin_socket} mode 600 level admin",
            f"    pidfile {node.pid_file}",
            "    daemon",
            "    nbthread 1",
            "    ssl-default-bind-options ssl-min-ver TLSv1.2",
            "defaults",
            "    mode http",
            "    timeout connect 5s",
            "    timeout client 10s",
            "    timeout server 10s",
            "frontend tls",
            f"    bind {node.host}:{node.port} ssl {crts}",
            "    http-request return status 200 content-type text/plain string ok",
            "",
        ]
    )


def _message(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stderr or result.stdout or "").strip().splitlines()
    return " / ".join(line.strip() for line in text[-3:]) or f"exit {result.returncode}"


class HaproxyFleet:
    def __init__(self, nodes: list[HaproxyNode]) -> None:
        self.nodes = nodes

    @classmethod
    def create(
        cls, directory: Path, sites: Sequence[Site], *, count: int = 1, base_port: int | None = None
    ) -> HaproxyFleet:
        base = base_port or free_port_block(count)
        nodes = [HaproxyNode(f"haproxy{i + 1}", str(directory / f"haproxy{i + 1}"), base + i) for i in range(count)]
        for node in nodes:
            node.write(sites)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MANIFEST).write_text(json.dumps([n.status() for n in nodes], indent=2))
        return cls(nodes)

    @classmethod
    def load(cls, directory: Path) -> HaproxyFleet:
        data = json.loads((directory / MANIFEST).read_text())
        return cls([HaproxyNode(d["name"], d["directory"], d["port"], d["host"]) for d in data])

    def start(self) -> None:
        started: list[HaproxyNode] = []
        try:
            for node in self.nodes:
                node.start()
                started.append(node)
        except BaseException:
            for node in started:
                with contextlib.suppress(HaproxyNodeError):
                    node.stop()
            raise

    def stop(self) -> None:
        errors = []
        for node in self.nodes:
            try:
                node.stop()
            except HaproxyNodeError as exc:
                errors.append(str(exc))
        if errors:
            raise HaproxyNodeError("; ".join(errors))


@contextlib.contextmanager
def running_haproxy(directory: Path, sites: Sequence[Site], *, count: int = 1) -> Iterator[HaproxyFleet]:
    fleet = HaproxyFleet.create(directory, sites, count=count)
    fleet.start()
    try:
        yield fleet
    finally:
        fleet.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.haproxy", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "status", "reload"])
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--pki", help="demo PKI directory (start)")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--base-port", type=int)
    args = parser.parse_args(argv)
    try:
        if args.action == "reload":
            data = json.loads((args.dir.parent / MANIFEST).read_text())
            entry = next(d for d in data if d["directory"] == str(args.dir))
            HaproxyNode(entry["name"], entry["directory"], entry["port"], entry["host"]).reload()
            return 0
        if args.action == "start":
            if (args.dir / MANIFEST).exists():
                fleet = HaproxyFleet.load(args.dir)
            else:
                if not args.pki:
                    parser.error("start needs --pki the first time")
                fleet = HaproxyFleet.create(
                    args.dir, sites_from_pki(args.pki), count=args.nodes, base_port=args.base_port
                )
            fleet.start()
        else:
            fleet = HaproxyFleet.load(args.dir)
            if args.action == "stop":
                fleet.stop()
        print(json.dumps([n.status() for n in fleet.nodes], indent=2))
    except (HaproxyNodeError, OSError, StopIteration, ValueError) as exc:
        print(f"testbed.haproxy {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
