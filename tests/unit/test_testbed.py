"""The test bed itself: demo PKI on disk, nginx fleet lifecycle, and what nginx does with staples."""

from __future__ import annotations

import datetime as dt
import json
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ocsp_staple.aia import is_must_staple, ocsp_urls
from ocsp_staple.certs import load_pair
from ocsp_staple.node.live import fetch_served_staple

from testbed import forge
from testbed.fleet import NGINX, Fleet, FleetError, free_port_block, running_fleet, sites_from_pki
from testbed.pki import DemoPki, write_demo_pki
from testbed.wait import scaled

from ..conftest import REPO, WALL_NOW

pytestmark = pytest.mark.node


def test_demo_pki_has_the_three_kinds_of_leaf(demo_pki: DemoPki) -> None:
    www = load_pair(demo_pki.leaves["www.demo.test"].fullchain)
    must = load_pair(demo_pki.leaves["must-staple.demo.test"].cert, demo_pki.ca_cert)
    none = load_pair(demo_pki.leaves["no-ocsp.demo.test"].fullchain)
    assert ocsp_urls(www.leaf) == [demo_pki.ocsp_url]
    assert not is_must_staple(www.leaf)
    assert is_must_staple(must.leaf)
    assert ocsp_urls(none.leaf) == []
    for key in [demo_pki.ca_key, demo_pki.responder_key, *(leaf.key for leaf in demo_pki.leaves.values())]:
        assert stat.S_IMODE(Path(key).stat().st_mode) == 0o600, key


def test_demo_pki_is_reused_unless_the_url_changes(tmp_path: Path) -> None:
    first = write_demo_pki(tmp_path, now=WALL_NOW)
    ca_pem = Path(first.ca_cert).read_bytes()
    again = write_demo_pki(tmp_path, now=WALL_NOW)
    assert Path(again.ca_cert).read_bytes() == ca_pem
    moved = write_demo_pki(tmp_path, ocsp_url="http://127.0.0.1:9999/", now=WALL_NOW)
    assert Path(moved.ca_cert).read_bytes() != ca_pem
    assert ocsp_urls(load_pair(moved.leaves["www.demo.test"].fullchain).leaf) == ["http://127.0.0.1:9999/"]


@pytest.fixture
def one_node(demo_pki: DemoPki, tmp_path: Path) -> Iterator[Fleet]:
    if not Path(NGINX).exists():
        pytest.skip(f"nginx not installed at {NGINX}")
    with running_fleet(tmp_path / "fleet", sites=sites_from_pki(demo_pki.directory)) as fleet:
        yield fleet
    assert not fleet.nodes[0].running()


@pytest.mark.integration
def test_failed_reload_keeps_serving_the_old_staple(one_node: Fleet, demo_pki: DemoPki) -> None:
    """DESIGN.md: nginx checks staple files at reload and silently keeps the old one on failure."""
    node = one_node.nodes[0]
    good = forge.make_response(
        demo_pki.leaf("www.demo.test").cert,
        demo_pki.ca().cert,
        demo_pki.responder(),
        this_update=WALL_NOW - dt.timedelta(hours=1),
        next_update=WALL_NOW + dt.timedelta(days=7),
    )
    node.set_stapling("www.demo.test", good)
    node.reload()
    workers = node.workers()
    node.staple_path("www.demo.test").write_bytes(b"not DER")
    with pytest.raises(
        FleetError, match=r"^node node1: configuration test failed, not reloaded: .*d2i_OCSP_RESPONSE_bio"
    ):
        node.reload()
    # nginx itself, asked directly, refuses too and keeps the old configuration and staple.
    direct = subprocess.run(node.nginx_command("-s", "reload"), capture_output=True, text=True, timeout=scaled(60))
    assert direct.returncode == 1
    assert "d2i_OCSP_RESPONSE_bio" in direct.stderr
    assert node.workers() == workers
    served = fetch_served_staple(node.host, node.port, servername="www.demo.test", timeout=scaled(10))
    assert served.staple == good


@pytest.mark.integration
def test_a_reload_right_after_start_serves_the_new_staple(demo_pki: DemoPki, tmp_path: Path) -> None:
    """start() returns with a worker running, so reload() can tell the new worker from the old.

    The master accepts on its port before it forks its worker; a reload() that captured "the old
    workers" as none returned at once and the next handshake met the first configuration (seen in CI).
    """
    if not Path(NGINX).exists():
        pytest.skip(f"nginx not installed at {NGINX}")
    staple = forge.make_response(
        demo_pki.leaf("www.demo.test").cert,
        demo_pki.ca().cert,
        demo_pki.responder(),
        this_update=WALL_NOW - dt.timedelta(hours=1),
        next_update=WALL_NOW + dt.timedelta(days=7),
    )
    for attempt in range(3):
        with running_fleet(tmp_path / f"fleet{attempt}", sites=sites_from_pki(demo_pki.directory)) as fleet:
            node = fleet.nodes[0]
            assert node.workers(), "start() returned before nginx forked a worker"
            node.set_stapling("www.demo.test", staple)
            node.reload()
            served = fetch_served_staple(node.host, node.port, servername="www.demo.test", timeout=scaled(10))
            assert served.staple == staple, f"start {attempt + 1}: the first configuration still served"
        assert not node.running()


@pytest.mark.integration
def test_a_busy_port_fails_start_with_nginx_message(demo_pki: DemoPki, tmp_path: Path) -> None:
    if not Path(NGINX).exists():
        pytest.skip(f"nginx not installed at {NGINX}")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        fleet = Fleet(tmp_path, nodes=1, base_port=port, sites=sites_from_pki(demo_pki.directory))
        fleet.create()
        try:
            with pytest.raises(FleetError, match=r"^node node1 \(127\.0\.0\.1:\d+\): nginx did not start: .*in use"):
                fleet.start()
        finally:
            fleet.stop()
    assert not fleet.nodes[0].running()


@pytest.mark.integration
def test_cli_start_status_stop(demo_pki: DemoPki, tmp_path: Path) -> None:
    if not Path(NGINX).exists():
        pytest.skip(f"nginx not installed at {NGINX}")
    base = free_port_block(2)
    root = tmp_path / "fleet"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "testbed.fleet", *args, "--root", str(root)],
            capture_output=True,
            text=True,
            timeout=scaled(120),
            cwd=REPO,
        )

    try:
        started = cli("start", "--nodes", "2", "--base-port", str(base), "--pki", demo_pki.directory, "--json")
        assert started.returncode == 0, started.stderr
        nodes = json.loads(started.stdout)
        assert [node["port"] for node in nodes] == [base, base + 1]
        assert all(node["running"] and node["listening"] for node in nodes)
        for node in nodes:
            served = fetch_served_staple(
                "127.0.0.1", node["port"], servername="must-staple.demo.test", timeout=scaled(10)
            )
            assert served.leaf == demo_pki.leaf("must-staple.demo.test").cert
            assert served.staple is None, "a fresh node staples nothing until the role renders its snippet"
        reloaded = cli("reload")
        assert reloaded.returncode == 0, reloaded.stderr
    finally:
        stopped = cli("stop")
    assert stopped.returncode == 0, stopped.stderr
    status = cli("status", "--json")
    assert status.returncode == 3
    assert [node["running"] for node in json.loads(status.stdout)] == [False, False]
    for pid in (node["pid"] for node in nodes):
        assert not Path(f"/proc/{pid}/cmdline").exists() or b"nginx" not in Path(f"/proc/{pid}/cmdline").read_bytes()
