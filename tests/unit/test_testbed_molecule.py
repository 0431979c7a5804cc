"""The testbed pieces the molecule scenarios stand on: background responder, served-vs-store check, netns hosts."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import forge, netns, responder
from testbed.fleet import NGINX, Fleet, free_port_block, running_fleet, sites_from_pki
from testbed.pki import DemoPki, write_demo_pki
from testbed.served import check
from testbed.wait import scaled

from ..conftest import REPO

pytestmark = pytest.mark.integration
WALL_NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def demo_pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    port = free_port_block(1)
    return write_demo_pki(tmp_path_factory.mktemp("pki"), ocsp_url=f"http://127.0.0.1:{port}/", now=WALL_NOW)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=scaled(2)):
            return True
    except OSError:
        return False


def test_background_responder_starts_once_and_stops_by_pid(demo_pki: DemoPki, tmp_path: Path) -> None:
    port = int(demo_pki.ocsp_url.rsplit(":", 1)[1].strip("/"))
    try:
        pid = responder.start(tmp_path, demo_pki.directory)
        assert _listening(port)
        assert responder.start(tmp_path, demo_pki.directory) == pid, "a second start reuses the running responder"
        assert (tmp_path / "responder.pid").read_text().strip() == str(pid)
    finally:
        stopped = responder.stop(tmp_path)
    assert stopped
    # stop() returns once every thread of the process has exited, and its listening socket with them.
    assert not _listening(port)
    assert not (tmp_path / "responder.pid").exists()
    assert responder.stop(tmp_path) is False


def test_background_responder_refuses_a_pki_without_a_local_url(tmp_path: Path) -> None:
    pki = write_demo_pki(tmp_path / "pki", ocsp_url="http://ocsp.example.net/", now=WALL_NOW)
    with pytest.raises(responder.ResponderError, match=r"OCSP URL http://ocsp\.example\.net/ is not http://127"):
        responder.start(tmp_path, pki.directory)


@pytest.fixture
def node_fleet(demo_pki: DemoPki, tmp_path: Path) -> Iterator[Fleet]:
    if not Path(NGINX).exists():
        pytest.skip(f"nginx not installed at {NGINX}")
    with running_fleet(tmp_path / "fleet", sites=sites_from_pki(demo_pki.directory)) as fleet:
        yield fleet


def _staple(pki: DemoPki, name: str, hours: int) -> bytes:
    return forge.make_response(
        pki.leaf(name).cert,
        pki.ca().cert,
        pki.responder(),
        this_update=WALL_NOW - dt.timedelta(hours=hours),
        next_update=WALL_NOW + dt.timedelta(days=7),
    )


def test_served_check_compares_the_served_bytes_with_current_der(
    demo_pki: DemoPki, node_fleet: Fleet, tmp_path: Path
) -> None:
    node = node_fleet.nodes[0]
    served, other = _staple(demo_pki, "www.demo.test", 1), _staple(demo_pki, "www.demo.test", 2)
    node.set_stapling("www.demo.test", served)
    node.reload()
    store = tmp_path / "store"
    (store / "www.demo.test").mkdir(parents=True)
    current = store / "www.demo.test" / "current.der"

    current.write_bytes(served)
    same = check(store, node.host, node.port, "www.demo.test", now=WALL_NOW)
    assert same.ok, same.detail
    assert same.served_size == len(served)

    current.write_bytes(other)
    differ = check(store, node.host, node.port, "www.demo.test", now=WALL_NOW)
    assert not differ.ok
    assert f"served {len(served)} bytes differ from {current}" in differ.detail

    unstapled = check(store, node.host, node.port, "must-staple.demo.test", now=WALL_NOW)
    assert not unstapled.ok
    assert "cannot read" in unstapled.detail

    none = check(store, node.host, node.port, "no-ocsp.demo.test", now=WALL_NOW)
    assert none.ok, none.detail


def test_served_cli_exits_1_on_a_mismatch(demo_pki: DemoPki, node_fleet: Fleet, tmp_path: Path) -> None:
    node = node_fleet.nodes[0]
    node.set_stapling("www.demo.test", _staple(demo_pki, "www.demo.test", 1))
    node.reload()
    (tmp_path / "store" / "www.demo.test").mkdir(parents=True)
    (tmp_path / "store" / "www.demo.test" / "current.der").write_bytes(_staple(demo_pki, "www.demo.test", 3))
    done = subprocess.run(
        [
            *(sys.executable, "-m", "testbed.served", "--store", str(tmp_path / "store"), "--connect", node.endpoint),
            *("--name", "www.demo.test", "--name", "no-ocsp.demo.test"),
        ],
        capture_output=True,
        text=True,
        timeout=scaled(120),
        cwd=REPO,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"FAIL {node.endpoint} www.demo.test: served ")
    assert lines[1] == f"OK   {node.endpoint} no-ocsp.demo.test: no OCSP URL, nothing stapled"


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not Path(netns.SSHD).exists(), reason="needs root, ip and sshd"
)
def test_netns_host_runs_sshd_on_its_address_and_down_removes_everything(tmp_path: Path) -> None:
    name, address, peer = "ocsptest1", "10.203.42.2", "10.203.42.1"
    try:
        netns.up(tmp_path, name, f"{address}/30", peer)
        assert netns.exists(name)
        pid = netns.sshd_pid(tmp_path, name)
        assert pid is not None
        assert pid in netns.pids(name)
        with socket.create_connection((address, 22), timeout=scaled(10)) as conn:
            assert conn.recv(64).startswith(b"SSH-2.0-")
        assert (tmp_path / "known_hosts").read_text().startswith(f"{address} ssh-ed25519 ")
        netns.up(tmp_path, name, f"{address}/30", peer)  # idempotent
        assert netns.sshd_pid(tmp_path, name) == pid
    finally:
        killed = netns.down(name)
    assert pid in killed
    assert not netns.exists(name)
    assert not Path(f"/proc/{pid}").exists() or b"sshd" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert netns.down(name) == []


def test_netns_refuses_bad_names_and_addresses(tmp_path: Path) -> None:
    with pytest.raises(netns.NetnsError, match="namespace name 'Bad_Name'"):
        netns.up(tmp_path, "Bad_Name", "10.203.42.2/30", "10.203.42.1")
    with pytest.raises(netns.NetnsError, match="must be two addresses of one private network"):
        netns.up(tmp_path, "ocsptest2", "10.203.42.2/30", "10.203.43.1")
