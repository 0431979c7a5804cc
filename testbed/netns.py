"""A real ssh host on this machine: a network namespace, a veth pair and its own sshd (root only).

``up`` creates the namespace ``NAME``, a veth pair ``vh-NAME`` (root namespace, address
``--peer``) / ``vn-NAME`` (inside, address ``--address``, loopback up too), generates the
scenario's keys when missing and starts an ``sshd`` inside the namespace that listens only on
``--address`` port 22, with its own config, host key, pid file and log, and accepts only the
scenario's client key for root. Files under ``--root``::

    id_ed25519, id_ed25519.pub   client key (one per root) whose public half is authorized_keys
    authorized_keys              the only key sshd accepts
    known_hosts                  "ADDRESS ssh-ed25519 KEY" for every namespace of the root
    NAME/sshd_config NAME/ssh_host_ed25519_key NAME/sshd.pid NAME/sshd.log

``down`` kills every process in the namespace (``ip netns pids``: SIGTERM, bounded wait,
SIGKILL), deletes the namespace and the root-side veth. Both are idempotent. Only addresses
of the namespace and its veth are used: nothing outside this machine is reached.

CLI::

    python -m testbed.netns up   --root DIR --name NAME --address 10.203.41.2/30 --peer 10.203.41.1
    python -m testbed.netns down --name NAME
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .fleet import COMMAND_TIMEOUT, DEFAULT_TIMEOUT, KILL_WAIT, STOP_GRACE, _accepts, _alive, _wait_gone
from .wait import SCALE_ENV, scaled, wait_until

IP = "/usr/sbin/ip" if Path("/usr/sbin/ip").exists() else "ip"
SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without it (systemd creates it for the system sshd)
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,11}$")  # vh-NAME must fit the 15 characters of an interface name


class NetnsError(Exception):
    """A namespace, veth or sshd could not be set up or torn down (one line)."""


def _run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=scaled(COMMAND_TIMEOUT), check=False)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()[-1:] or [f"exit {result.returncode}"]
        raise NetnsError(f"{' '.join(argv)}: {message[0]}")
    return result.stdout


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise NetnsError(f"namespace name {name!r}: expected 1-12 of a-z, 0-9, '-' starting with a letter")
    return name


def exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def _link_exists(device: str) -> bool:
    return Path("/sys/class/net", device).exists()


def _generate_key(path: Path, comment: str) -> None:
    if not path.exists():
        _run(SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path))


def _sshd_config(root: Path, name: str, address: str) -> str:
    own = root / name
    return "\n".join(
        [
            f"# sshd of network namespace {name} (testbed.netns); listens only on {address}",
            f"ListenAddress {address}:22",
            f"HostKey {own / 'ssh_host_ed25519_key'}",
            f"PidFile {own / 'sshd.pid'}",
            f"AuthorizedKeysFile {root / 'authorized_keys'}",
            "StrictModes no",  # the checkout may sit below a group-writable directory; the key is the scenario's
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "PrintMotd no",
            "MaxSessions 50",
            "MaxStartups 50:30:100",
            f"Subsystem sftp {SFTP_SERVER}",
            "",
        ]
    )


def _write_known_host(root: Path, address: str, host_key_pub: Path) -> None:
    key_type, key = host_key_pub.read_text().split()[:2]
    path = root / "known_hosts"
    lines = path.read_text().splitlines() if path.exists() else []
    lines = [line for line in lines if line.split(" ", 1)[0] != address]
    lines.append(f"{address} {key_type} {key}")
    path.write_text("\n".join(lines) + "\n")


def up(root: str | Path, name: str, address: str, peer: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Namespace + veth + sshd on ``address`` (``a.b.c.d/prefix``); ``peer`` is the root side."""
    check_name(name)
    inside = ipaddress.ip_interface(address)
    outside = ipaddress.ip_interface(f"{peer}/{inside.network.prefixlen}")
    if not inside.network.is_private or outside.ip not in inside.network or outside.ip == inside.ip:
        raise NetnsError(f"namespace {name}: {peer} and {address} must be two addresses of one private network")
    root = Path(root).resolve()
    (root / name).mkdir(parents=True, exist_ok=True)
    host_side, ns_side = f"vh-{name}", f"vn-{name}"
    try:
        if not exists(name):
            _run(IP, "netns", "add", name)
        if not _link_exists(host_side):
            _run(IP, "link", "add", host_side, "type", "veth", "peer", "name", ns_side)
            _run(IP, "link", "set", ns_side, "netns", name)
            _run(IP, "addr", "add", str(outside), "dev", host_side)
            _run(IP, "link", "set", host_side, "up")
            _run(IP, "-n", name, "addr", "add", str(inside), "dev", ns_side)
            _run(IP, "-n", name, "link", "set", ns_side, "up")
            _run(IP, "-n", name, "link", "set", "lo", "up")
        _generate_key(root / "id_ed25519", f"testbed client {root}")
        (root / "authorized_keys").write_text((root / "id_ed25519.pub").read_text())
        _generate_key(root / name / "ssh_host_ed25519_key", f"testbed host {name}")
        config = root / name / "sshd_config"
        config.write_text(_sshd_config(root, name, str(inside.ip)))
        _write_known_host(root, str(inside.ip), root / name / "ssh_host_ed25519_key.pub")
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        if sshd_pid(root, name) is None:
            _run(SSHD, "-t", "-f", str(config))
            _run(IP, "netns", "exec", name, SSHD, "-f", str(config), "-E", str(root / name / "sshd.log"))
        wait_until(
            lambda: _accepts(str(inside.ip), 22),
            timeout,
            f"namespace {name}: sshd listening on {inside.ip}:22 (see {root / name / 'sshd.log'})",
            error=NetnsError,
        )
    except BaseException:
        with contextlib.suppress(NetnsError):
            down(name)
        raise


def sshd_pid(root: str | Path, name: str) -> int | None:
    try:
        pid = int((Path(root) / name / "sshd.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def pids(name: str) -> list[int]:
    if not exists(name):
        return []
    return [int(pid) for pid in _run(IP, "netns", "pids", name).split()]


def down(name: str, *, timeout: float = STOP_GRACE) -> list[int]:
    """Kill every process of the namespace, delete it and the root-side veth; return the pids killed."""
    check_name(name)
    victims = pids(name)
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, KILL_WAIT)):
        alive = [pid for pid in victims if _alive(pid)]
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        if _wait_gone(alive, wait):
            break
    else:
        raise NetnsError(f"namespace {name}: pids {victims} survived SIGKILL")
    if exists(name):
        _run(IP, "netns", "del", name)
    if _link_exists(f"vh-{name}"):
        with contextlib.suppress(NetnsError):  # deleting the namespace removes the pair, asynchronously
            _run(IP, "link", "del", f"vh-{name}")
    return victims


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.netns", description="ssh hosts in network namespaces")
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--root", help="directory for the keys, known_hosts and sshd files (up)")
    parser.add_argument("--name", required=True, help="network namespace name (1-12 of a-z0-9-)")
    parser.add_argument("--address", help="address/prefix inside the namespace (up), e.g. 10.203.41.2/30")
    parser.add_argument("--peer", help="address of the root-namespace end of the veth (up), e.g. 10.203.41.1")
    parser.add_argument(
        "--timeout",
        type=float,
        help=f"seconds, scaled by {SCALE_ENV} (default: up {DEFAULT_TIMEOUT:g}, down {STOP_GRACE:g})",
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "up":
            if not args.root or not args.address or not args.peer:
                parser.error("up needs --root, --address and --peer")
            up(args.root, args.name, args.address, args.peer, timeout=args.timeout or DEFAULT_TIMEOUT)
            address = args.address.split("/")[0]
            print(f"namespace {args.name}: sshd on {address}:22 pid={sshd_pid(args.root, args.name)}")
        elif not exists(args.name) and not _link_exists(f"vh-{args.name}"):
            print(f"namespace {args.name}: not present")
        else:
            killed = down(args.name, timeout=args.timeout or STOP_GRACE)
            print(f"namespace {args.name}: removed, {len(killed)} process(es) stopped")
    except (NetnsError, ValueError) as exc:
        print(f"testbed.netns {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
