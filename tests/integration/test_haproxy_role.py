"""The role on HAProxy nodes beside an nginx node: no reload on a staple change, the reload only
after ``haproxy -c``, and the runtime API's failures failing the host with the old staple served.

One bed per module (testbed.inventory.running_bed): demo PKI, the test responder on 127.0.0.1,
one nginx node and two HAProxy nodes (testbed.haproxy: real haproxy processes with their own
config, admin socket and pid file). What nodes serve is read with a real TLS client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ocsp_staple.node.live import fetch_served_staple

from testbed.fleet import NGINX
from testbed.haproxy import HAPROXY, HaproxyNode
from testbed.inventory import Bed, running_bed
from testbed.wait import scaled

from ..ansible_run import REPO, playbook

pytestmark = pytest.mark.integration

WWW, MUST = "www.demo.test", "must-staple.demo.test"
ROLE = "ocsp_stapling : "
PUSH = ROLE + "Push the staples to HAProxy over its admin socket after re-validating them on the node"


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    if not (Path(NGINX).exists() and Path(HAPROXY).exists()):
        pytest.skip(f"needs nginx ({NGINX}) and haproxy ({HAPROXY})")
    with running_bed(tmp_path_factory.mktemp("hbed"), nodes=1, haproxy_nodes=2) as the_bed:
        yield the_bed
    assert the_bed.haproxy is not None
    assert not any(node.running() for node in [*the_bed.fleet.nodes, *the_bed.haproxy.nodes])


def hnodes(bed: Bed) -> list[HaproxyNode]:
    assert bed.haproxy is not None
    return bed.haproxy.nodes


def run(bed: Bed, name: str, **extra: Any) -> Any:
    path = REPO / (name if name == "site.yml" else f"playbooks/{name}")
    return playbook(path, inventory=bed.inventory, extra_vars=extra or None)


def ok(proc: Any) -> None:
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def served(node: Any, name: str) -> bytes | None:
    return fetch_served_staple(node.host, node.port, servername=name, timeout=scaled(10)).staple


def by_host(proc: Any, task: str) -> dict[str, dict[str, Any]]:
    """Each host's result of the task named ``task`` (the JSON callback's output)."""
    found: dict[str, dict[str, Any]] = {}
    for play in json.loads(proc.stdout)["plays"]:
        for each in play["tasks"]:
            if each["task"]["name"] == task:
                found.update(each["hosts"])
    return found


def current(bed: Bed, name: str) -> bytes:
    return (bed.store / name / "current.der").read_bytes()


def test_rollout_and_a_staple_change_reach_haproxy_without_a_reload(bed: Bed) -> None:
    workers = {node.name: node.workers() for node in hnodes(bed)}
    ok(run(bed, "site.yml"))
    for node in [*bed.fleet.nodes, *hnodes(bed)]:
        assert served(node, WWW) == current(bed, WWW), node.name
        assert served(node, MUST) == current(bed, MUST), node.name
        assert served(node, "no-ocsp.demo.test") is None
    first = current(bed, WWW)
    proc = run(bed, "site.yml", ocsp_stapling_force_refresh=True)
    ok(proc)
    assert current(bed, WWW) != first
    pushes = by_host(proc, PUSH)
    assert {name: r["runtime"] for name, r in pushes.items() if not r.get("skipped")} == {
        node.name: {WWW: "update", MUST: "update"} for node in hnodes(bed)
    }
    assert not any(r.get("changed") for r in by_host(proc, ROLE + "Reload HAProxy").values())
    for node in hnodes(bed):
        assert served(node, WWW) == current(bed, WWW)
        assert (Path(node.staple_path(WWW))).read_bytes() == current(bed, WWW)
        assert node.workers() == workers[node.name], f"{node.name} was reloaded"


def test_stapling_off_reloads_only_after_haproxy_c_passes(bed: Bed) -> None:
    broken, fine = hnodes(bed)
    ok(run(bed, "site.yml"))
    before = served(broken, WWW)
    workers = broken.workers()
    config = broken.conf.read_text()
    broken.conf.write_text(config + "frontend broken\n    bind 127.0.0.1:1 ssl crt /nonexistent.pem\n")
    try:
        proc = run(
            bed, "disable.yml", ocsp_stapling_disable_reason="CA broken", ocsp_stapling_disable_certificates=[WWW]
        )
        assert proc.returncode != 0
        checks = by_host(proc, ROLE + "Check the HAProxy configuration")
        assert checks[broken.name]["failed"]
        assert "/nonexistent.pem" in checks[broken.name]["stderr"] + checks[broken.name]["stdout"]
        assert not checks[fine.name].get("failed")
        reloads = by_host(proc, ROLE + "Reload HAProxy")
        assert broken.name not in reloads, "reloaded although haproxy -c failed"
        assert reloads[fine.name]["changed"]
        # The failed check left the running HAProxy alone: same worker, the old staple still served.
        assert broken.workers() == workers
        assert served(broken, WWW) == before
        # The healthy HAProxy node and the nginx node stopped stapling www, Must-Staple kept.
        for node in (fine, bed.fleet.nodes[0]):
            assert served(node, WWW) is None, node.name
            assert served(node, MUST) == current(bed, MUST)
    finally:
        broken.conf.write_text(config)
    ok(run(bed, "enable.yml", ocsp_stapling_disable_certificates=[WWW]))
    for node in hnodes(bed):
        assert served(node, WWW) == current(bed, WWW)


def test_a_wrong_admin_socket_without_reload_fails_in_one_line_and_keeps_the_old_staple(bed: Bed) -> None:
    node = hnodes(bed)[0]
    ok(run(bed, "site.yml"))
    old = served(node, WWW)
    wrong = f"{node.directory}/wrong.sock"
    data = json.loads(bed.inventory.read_text())
    data["ocsp_nodes"]["hosts"][node.name]["ocsp_stapling_haproxy_socket"] = wrong
    data["ocsp_nodes"]["hosts"][node.name]["ocsp_stapling_haproxy_reload"] = False
    inventory = bed.root / "inventory-wrong-socket.yml"
    inventory.write_text(json.dumps(data))
    proc = playbook(REPO / "site.yml", inventory=inventory, extra_vars={"ocsp_stapling_force_refresh": True})
    assert proc.returncode != 0
    failed = by_host(proc, PUSH)[node.name]
    assert failed["failed"]
    assert "\n" not in failed["msg"]
    assert failed["msg"].startswith(
        f"{WWW}: HAProxy admin socket {wrong}: no such socket (pushing the OCSP response of {node.crt(WWW)}); "
    )
    assert failed["msg"].endswith(f"{node.staple_path(WWW)} left as it was")
    assert served(node, WWW) == old
    assert node.staple_path(WWW).read_bytes() == old
    # The other nodes got the new staple.
    for other in [hnodes(bed)[1], bed.fleet.nodes[0]]:
        assert served(other, WWW) == current(bed, WWW)
    ok(run(bed, "site.yml"))
    assert served(node, WWW) == current(bed, WWW)
