"""A fleet of real nginx nodes on 127.0.0.1, one directory each (test material).

Each node directory holds its own ``nginx.conf``, pid file, logs, temp paths, the served
certificates and keys (``ssl/``), one stapling snippet per certificate
(``conf.d/ocsp-<name>.conf``, which the role renders: ``ssl_stapling on;
ssl_stapling_file …;`` or ``ssl_stapling off;``) and a directory for staple files
(``ocsp/<name>.der``). Every certificate (a *site*) is its own ``server {}`` block on
the node's port, chosen by SNI; the first site is the default server.

Nodes run as ``nginx -p DIR -c DIR/nginx.conf -e DIR/logs/error.log`` and are stopped by
pid (SIGTERM, bounded wait, then SIGKILL), never by name. Every wait is a bounded poll of
:mod:`testbed.wait` (deadlines scale with ``OCSP_TEST_TIMEOUT_SCALE``). ``fleet.json`` in the root
records the fleet so that another process can stop it.

CLI (for scripts, the demo and molecule)::

    python -m testbed.fleet start  --root DIR --nodes 3 --base-port 8443 --pki PKI_DIR [--site NAME ...]
    python -m testbed.fleet reload --root DIR
    python -m testbed.fleet status --root DIR [--json]
    python -m testbed.fleet stop   --root DIR
    python -m testbed.fleet free-port [--nodes N] [--host ADDR]   # a base port with N free ports after it
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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .wait import SCALE_ENV, poll, scaled, wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
#: Deadline of a start or reload (seconds, scaled): generous, a loaded machine is slow.
DEFAULT_TIMEOUT = 30.0
#: What SIGTERM gets before SIGKILL (seconds, scaled), and the wait after SIGKILL.
STOP_GRACE = 10.0
KILL_WAIT = 10.0
#: One-shot bound of an ``nginx -t`` / ``nginx`` / ``nginx -s reload`` command (seconds, scaled).
COMMAND_TIMEOUT = 60.0
MANIFEST = "fleet.json"


class FleetError(Exception):
    """An nginx node could not be configured, started, reloaded or stopped (one line)."""


@dataclass(frozen=True)
class Site:
    """A certificate served in its own ``server {}`` block."""

    name: str
    certificate: str  # PEM: the leaf, then the chain
    key: str
    server_name: str


@dataclass(frozen=True)
class Node:
    name: str
    directory: str
    port: int
    host: str = "127.0.0.1"
    nginx: str = NGINX

    @property
    def root(self) -> Path:
        return Path(self.directory)

    @property
    def conf(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def pid_file(self) -> Path:
        return self.root / "nginx.pid"

    @property
    def error_log(self) -> Path:
        return self.root / "logs" / "error.log"

    @property
    def conf_d(self) -> Path:
        return self.root / "conf.d"

    @property
    def ssl_dir(self) -> Path:
        return self.root / "ssl"

    @property
    def staple_dir(self) -> Path:
        return self.root / "ocsp"

    @property
    def endpoint(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def snippet(self, site: str) -> Path:
        """The per-certificate stapling snippet the server block includes."""
        return self.conf_d / f"ocsp-{site}.conf"

    def staple_path(self, site: str) -> Path:
        return self.staple_dir / f"{site}.der"

    def certificate(self, site: str) -> Path:
        return self.ssl_dir / f"{site}.pem"

    def key(self, site: str) -> Path:
        return self.ssl_dir / f"{site}.key"

    def nginx_command(self, *extra: str) -> list[str]:
        return [self.nginx, "-p", f"{self.root}/", "-c", str(self.conf), "-e", str(self.error_log), *extra]

    # --- processes ---------------------------------------------------------------------

    def pid(self) -> int | None:
        """The master's pid when it runs *this* node's config (a stale or recycled pid is None)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _cmdline_has(pid, str(self.conf)) else None

    def running(self) -> bool:
        return self.pid() is not None

    def workers(self) -> set[int]:
        master = self.pid()
        return _children(master) if master else set()

    def test(self) -> subprocess.CompletedProcess[str]:
        """``nginx -t`` for this node (the caller decides what a failure means)."""
        return subprocess.run(
            self.nginx_command("-t"), capture_output=True, text=True, timeout=scaled(COMMAND_TIMEOUT), check=False
        )

    def start(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        if self.running():
            return
        result = subprocess.run(
            self.nginx_command(), capture_output=True, text=True, timeout=scaled(COMMAND_TIMEOUT), check=False
        )
        if result.returncode != 0:
            raise FleetError(f"node {self.name} ({self.endpoint}): nginx did not start: {_nginx_message(result)}")
        # The master binds the port before it forks its worker: accepting alone does not mean a worker
        # with this configuration serves yet, and reload() needs the worker to tell old from new.
        wait_until(
            lambda: self.running() and bool(self.workers()) and _accepts(self.host, self.port),
            timeout,
            f"node {self.name}: nginx listening on {self.endpoint} with a worker (see {self.error_log})",
            error=FleetError,
        )

    def reload(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """``nginx -s reload`` and wait until every old worker is replaced.

        nginx checks the configuration (and every staple file) first; a bad one makes it keep
        the old configuration: that is raised as :class:`FleetError` with nginx's message.
        """
        if not self.running():
            raise FleetError(f"node {self.name}: not running, cannot reload")
        # With no worker yet (a master that has just started), "no old worker left" would hold at once
        # and the wait below would return before the new configuration serves.
        wait_until(
            lambda: bool(self.workers()),
            timeout,
            f"node {self.name}: a worker to replace before reload (see {self.error_log})",
            error=FleetError,
        )
        old = self.workers()
        test = self.test()
        if test.returncode != 0:
            raise FleetError(f"node {self.name}: configuration test failed, not reloaded: {_nginx_message(test)}")
        result = subprocess.run(
            self.nginx_command("-s", "reload"),
            capture_output=True,
            text=True,
            timeout=scaled(COMMAND_TIMEOUT),
            check=False,
        )
        if result.returncode != 0:
            raise FleetError(f"node {self.name}: reload failed: {_nginx_message(result)}")

        def replaced() -> bool:
            current = self.workers()
            return bool(current) and not current & old

        wait_until(
            replaced,
            timeout,
            f"node {self.name}: every old worker replaced after reload (see {self.error_log})",
            error=FleetError,
        )

    def stop(self, *, timeout: float = STOP_GRACE) -> None:
        """SIGTERM the master, wait ``timeout`` s (scaled), SIGKILL master and workers if still there."""
        master = self.pid()
        if master is None:
            return
        workers = _children(master)
        with contextlib.suppress(ProcessLookupError):
            os.kill(master, signal.SIGTERM)
        if _wait_gone([master, *workers], timeout):
            return
        for pid in (master, *workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if not _wait_gone([master, *workers], KILL_WAIT):
            raise FleetError(f"node {self.name}: nginx pid {master} survived SIGKILL")

    def set_stapling(self, site: str, staple: bytes | None) -> None:
        """Write the staple file and an ``ssl_stapling on`` snippet, or ``ssl_stapling off`` for None.

        For tests and demos that bypass the role; the running nginx sees it after :meth:`reload`.
        """
        if staple is None:
            _write_text(self.snippet(site), "ssl_stapling off;\n")
            return
        path = self.staple_path(site)
        path.write_bytes(staple)
        _write_text(self.snippet(site), f"ssl_stapling on;\nssl_stapling_file {path};\n")

    def status(self) -> dict[str, Any]:
        pid = self.pid()
        return {
            "name": self.name,
            "host": self.host,
            "port": self.port,
            "endpoint": self.endpoint,
            "directory": self.directory,
            "conf": str(self.conf),
            "pid": pid,
            "running": pid is not None,
            "listening": pid is not None and _accepts(self.host, self.port),
            "ssl_dir": str(self.ssl_dir),
            "conf_d": str(self.conf_d),
            "staple_dir": str(self.staple_dir),
            "error_log": str(self.error_log),
            "test_command": self.nginx_command("-t"),
            "reload_command": self.nginx_command("-s", "reload"),
        }


class Fleet:
    """N nginx nodes under ``root``: ``node1`` on ``base_port``, ``node2`` on ``base_port + 1``, …"""

    def __init__(
        self,
        root: str | Path,
        *,
        nodes: int = 3,
        base_port: int = 8443,
        host: str = "127.0.0.1",
        sites: Sequence[Site] = (),
        nginx: str = NGINX,
    ) -> None:
        if nodes < 1:
            raise FleetError(f"fleet {root}: needs at least one node, got {nodes}")
        self.root = Path(root).resolve()
        self.host = host
        self.base_port = base_port
        self.sites = list(sites)
        self.nginx = nginx
        self.nodes = [
            Node(f"node{i + 1}", str(self.root / f"node{i + 1}"), base_port + i, host, nginx) for i in range(nodes)
        ]

    # --- persistence -----------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "nodes": len(self.nodes),
            "base_port": self.base_port,
            "host": self.host,
            "nginx": self.nginx,
            "sites": [asdict(site) for site in self.sites],
        }

    @classmethod
    def load(cls, root: str | Path) -> Fleet:
        path = Path(root).resolve() / MANIFEST
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise FleetError(f"fleet {root}: no {MANIFEST} ({exc.strerror}); create it with start") from None
        except ValueError as exc:
            raise FleetError(f"fleet {root}: {MANIFEST} is not JSON: {exc}") from None
        return cls(
            data["root"],
            nodes=data["nodes"],
            base_port=data["base_port"],
            host=data["host"],
            sites=[Site(**site) for site in data["sites"]],
            nginx=data["nginx"],
        )

    # --- configuration -----------------------------------------------------------------

    def create(self) -> None:
        """Write every node's directory and config; an existing snippet (the role's) is kept."""
        if not self.sites:
            raise FleetError(f"fleet {self.root}: no site (certificate) to serve")
        names = [site.name for site in self.sites]
        if len(set(names)) != len(names):
            raise FleetError(f"fleet {self.root}: site names repeat: {', '.join(names)}")
        self.root.mkdir(parents=True, exist_ok=True)
        for node in self.nodes:
            for sub in ("logs", "tmp", "conf.d", "ssl", "ocsp"):
                (node.root / sub).mkdir(parents=True, exist_ok=True)
            for site in self.sites:
                shutil.copyfile(site.certificate, node.certificate(site.name))
                shutil.copyfile(site.key, node.key(site.name))
                os.chmod(node.key(site.name), 0o600)
                if not node.snippet(site.name).exists():
                    _write_text(node.snippet(site.name), "ssl_stapling off;\n")
            _write_text(node.conf, render_conf(node, self.sites))
        _write_text(self.root / MANIFEST, json.dumps(self.manifest(), indent=2) + "\n")

    # --- processes -----------------------------------------------------------------------

    def start(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Start every node that is not running; on a failure, stop what this call started."""
        started: list[Node] = []
        try:
            for node in self.nodes:
                if not node.running():
                    node.start(timeout=timeout)
                    started.append(node)
        except BaseException:
            for node in started:
                with contextlib.suppress(FleetError):
                    node.stop()
            raise

    def reload(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        errors = []
        for node in self.nodes:
            try:
                node.reload(timeout=timeout)
            except FleetError as exc:
                errors.append(str(exc))
        if errors:
            raise FleetError("; ".join(errors))

    def stop(self, *, timeout: float = STOP_GRACE) -> None:
        errors = []
        for node in self.nodes:
            try:
                node.stop(timeout=timeout)
            except FleetError as exc:
                errors.append(str(exc))
        if errors:
            raise FleetError("; ".join(errors))

    def status(self) -> list[dict[str, Any]]:
        return [node.status() for node in self.nodes]


def render_conf(node: Node, sites: Iterable[Site]) -> str:
    listen = f"[{node.host}]:{node.port}" if ":" in node.host else f"{node.host}:{node.port}"
    tmp = node.root / "tmp"
    lines = [
        f"# nginx test node {node.name} (testbed.fleet); started with -p {node.root}/",
        "worker_processes 1;",
        f"pid {node.pid_file};",
        f"error_log {node.error_log} notice;",
        "events { worker_connections 256; }",
        "http {",
        f"    access_log {node.root / 'logs' / 'access.log'};",
        *(f"    {kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")),
        "    default_type text/plain;",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        "    ssl_session_cache off;",
    ]
    for index, site in enumerate(sites):
        default = " default_server" if index == 0 else ""
        lines += [
            "    server {",
            f"        listen {listen} ssl{default};",
            f"        server_name {site.server_name};",
            f"        ssl_certificate {node.certificate(site.name)};",
            f"        ssl_certificate_key {node.key(site.name)};",
            f"        include {node.snippet(site.name)};",
            f'        location / {{ return 200 "{node.name} {site.name}\\n"; }}',
            "    }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _nginx_message(result: subprocess.CompletedProcess[str]) -> str:
    """nginx's first [emerg]/[alert] line (the cause), else its last line, else the exit code."""
    lines = [line.strip() for line in (result.stderr or result.stdout or "").splitlines() if line.strip()]
    failing = [line for line in lines if "[emerg]" in line or "[alert]" in line]
    return (failing[:1] or lines[-1:] or [f"exit {result.returncode}"])[0]


def _cmdline_has(pid: int, needle: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return "nginx" in cmdline and needle in cmdline


def _children(parent: int) -> set[int]:
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(parent):
            children.add(int(entry.name))
    return children


def _alive(pid: int) -> bool:
    """True while any thread of process ``pid`` runs (a zombie, or a reaped pid, is not alive).

    Every thread counts: when a multi-threaded process dies, its main thread can be a zombie
    while another thread still exits, and holds the process's sockets open until it has.
    """
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # that thread is gone
        if stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X"):
            return True
    return False


def _wait_gone(pids: Sequence[int], timeout: float) -> bool:
    """Wait up to ``timeout`` s (scaled) until no thread of ``pids`` runs; False when some still do."""
    return bool(poll(lambda: not any(_alive(pid) for pid in pids), timeout))


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=scaled(2.0)):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def running_fleet(
    root: str | Path, *, sites: Sequence[Site], nodes: int = 1, base_port: int | None = None, host: str = "127.0.0.1"
) -> Iterator[Fleet]:
    """Create and start a fleet for the block; every node is stopped when it ends, whatever happens."""
    fleet = Fleet(root, nodes=nodes, base_port=base_port or free_port_block(nodes, host=host), host=host, sites=sites)
    fleet.create()
    try:
        fleet.start()
        yield fleet
    finally:
        fleet.stop()


def free_port_block(count: int, *, host: str = "127.0.0.1", attempts: int = 50) -> int:
    """A base port with ``count`` consecutive ports free on ``host`` now (bounded search; racy by nature)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(attempts):
        with socket.socket(family) as probe:
            probe.bind((host, 0))
            base = int(probe.getsockname()[1])
        if base + count > 65536:
            continue
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(family)
                sockets.append(sock)
                sock.bind((host, port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise FleetError(f"no {count} consecutive free ports on {host} after {attempts} attempts")


def sites_from_pki(pki_dir: str, names: Sequence[str] = ()) -> list[Site]:
    """Sites for the leaves of a :mod:`testbed.pki` directory (all of them, or ``names`` in that order)."""
    from .pki import load_demo_pki

    pki = load_demo_pki(pki_dir)
    if pki is None:
        raise FleetError(f"PKI {pki_dir}: no complete pki.json (write it with python -m testbed.pki)")
    chosen = list(names) or list(pki.leaves)
    missing = [name for name in chosen if name not in pki.leaves]
    if missing:
        raise FleetError(f"PKI {pki_dir}: no leaf {', '.join(missing)} (has {', '.join(pki.leaves)})")
    return [Site(name, pki.leaves[name].fullchain, pki.leaves[name].key, name) for name in chosen]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.fleet", description="nginx test fleet on 127.0.0.1")
    parser.add_argument("action", choices=("start", "reload", "status", "stop", "free-port"))
    parser.add_argument("--root", help="directory holding the node directories and fleet.json (required but free-port)")
    parser.add_argument("--nodes", type=int, default=3, help="number of nodes (start; default 3)")
    parser.add_argument("--base-port", type=int, default=8443, help="port of node1; node N uses base+N-1")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--pki", help="testbed.pki directory whose leaves the nodes serve (start)")
    parser.add_argument("--site", action="append", default=[], help="serve only these leaves of --pki (repeatable)")
    parser.add_argument("--json", action="store_true", help="status as JSON")
    parser.add_argument(
        "--timeout",
        type=float,
        help=f"seconds, scaled by {SCALE_ENV} (default: start/reload {DEFAULT_TIMEOUT:g}, stop {STOP_GRACE:g})",
    )
    args = parser.parse_args(argv)
    if args.action != "free-port" and not args.root:
        parser.error(f"{args.action} needs --root")
    try:
        if args.action == "free-port":
            print(free_port_block(args.nodes, host=args.host))
            return 0
        if args.action == "start":
            if args.pki:
                fleet = Fleet(
                    args.root,
                    nodes=args.nodes,
                    base_port=args.base_port,
                    host=args.host,
                    sites=sites_from_pki(args.pki, args.site),
                )
                fleet.create()
            else:
                fleet = Fleet.load(args.root)
            fleet.start(timeout=args.timeout or DEFAULT_TIMEOUT)
        else:
            fleet = Fleet.load(args.root)
            if args.action == "reload":
                fleet.reload(timeout=args.timeout or DEFAULT_TIMEOUT)
            elif args.action == "stop":
                fleet.stop(timeout=args.timeout or STOP_GRACE)
        if args.action in ("start", "status"):
            status = fleet.status()
            if args.json:
                print(json.dumps(status, indent=2))
            else:
                for node in status:
                    state = "running" if node["running"] else "stopped"
                    print(f"{node['name']} {node['endpoint']} {state} pid={node['pid']} {node['directory']}")
            if args.action == "status" and not all(node["running"] for node in status):
                return 3
    except FleetError as exc:
        print(f"testbed.fleet {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
