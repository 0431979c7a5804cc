"""An estate shaped like a real one (issue 11): a central host of its own and two clusters with
different certificate lists, rolled out with a ``serial`` that does not follow the clusters.

dc1 (node1, node2) serves www + must-staple, dc2 (node3, node4) serves www + api; with
``serial: 3`` the first batch holds both clusters. api's responder is dead at first (a closed
port of 127.0.0.1). What nodes serve is read with a real TLS client (ocsp_staple.node.live).
"""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ocsp_staple.node.live import fetch_served_staple

from testbed.fleet import NGINX
from testbed.inventory import Bed, running_bed
from testbed.pki import DEFAULT_LEAVES, LeafSpec
from testbed.wait import scaled

from ..ansible_run import REPO, playbook, task_results

pytestmark = pytest.mark.integration

WWW, MUST, API = "www.demo.test", "must-staple.demo.test", "api.demo.test"
DC1, DC2 = ("node1", "node2"), ("node3", "node4")
DEPLOY = "ocsp_stapling : Install the staples and stapling snippets after re-validating them on the node"
FINAL = "Fail naming each certificate without a valid staple, one line each (the others were deployed)"
LIMIT_CHECK = "ocsp_stapling : Check that the central host's refresh runs when this run refreshes (--limit)"
PLACEHOLDER = "ssl_stapling off;\n"  # what testbed.fleet writes before the role runs


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Estate:
    def __init__(self, bed: Bed) -> None:
        self.bed = bed
        self.base = json.loads(bed.inventory.read_text())
        self.path = bed.root / "estate.yml"
        self.dead = f"http://127.0.0.1:{closed_port()}/"

    def entry(self, name: str) -> dict[str, Any]:
        entries = self.base["all"]["vars"]["ocsp_stapling_certificates"]
        return copy.deepcopy(next(e for e in entries if e["name"] == name))

    def write(
        self, *, api_dead: bool, dc2_www: dict[str, Any] | None = None, dc1_vars: Any = None, dc2_vars: Any = None
    ) -> Path:
        """The bed's inventory reshaped: certificate lists per cluster instead of one for all."""
        inventory = copy.deepcopy(self.base)
        del inventory["all"]["vars"]["ocsp_stapling_certificates"]
        api = self.entry(API)
        if api_dead:
            api["responder_url"] = self.dead
        hosts = inventory["ocsp_nodes"].pop("hosts")
        inventory["ocsp_nodes"]["children"] = {
            "dc1": {
                "hosts": {name: hosts[name] for name in DC1},
                "vars": {"ocsp_stapling_certificates": [self.entry(WWW), self.entry(MUST)], **(dc1_vars or {})},
            },
            "dc2": {
                "hosts": {name: hosts[name] for name in DC2},
                "vars": {"ocsp_stapling_certificates": [dc2_www or self.entry(WWW), api], **(dc2_vars or {})},
            },
        }
        self.path.write_text(json.dumps(inventory, indent=2) + "\n")
        return self.path

    def site(self, *args: str) -> Any:
        return playbook(
            REPO / "site.yml",
            inventory=self.path,
            extra_vars={"ocsp_stapling_serial": 3},
            args=list(args),
            timeout=int(scaled(400)),
        )

    def node(self, name: str) -> Any:
        return next(node for node in self.bed.fleet.nodes if node.name == name)

    def served(self, node: str, site: str) -> bytes | None:
        the_node = self.node(node)
        return fetch_served_staple(the_node.host, the_node.port, servername=site, timeout=scaled(10)).staple

    def current(self, site: str) -> bytes:
        return (self.bed.store / site / "current.der").read_bytes()

    def snippet(self, node: str, site: str) -> str:
        return self.node(node).snippet(site).read_text()


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    if not Path(NGINX).exists():
        pytest.skip(f"nginx not installed at {NGINX}")
    leaves = (*DEFAULT_LEAVES, LeafSpec(API))
    with running_bed(tmp_path_factory.mktemp("estate"), nodes=4, leaves=leaves) as bed:
        yield Estate(bed)
    assert not any(node.running() for node in bed.fleet.nodes)


def failure_lines(proc: Any) -> list[str]:
    results = task_results(proc, FINAL)
    assert len(results) == 1, proc.stdout[-3000:]
    return list(results[0]["msg"])


def test_each_node_gets_its_own_list_and_a_dead_responder_holds_back_only_its_certificate(estate: Estate) -> None:
    estate.write(api_dead=True)
    proc = estate.site()
    assert proc.returncode != 0, "the run must end failed while api has no valid staple"
    lines = failure_lines(proc)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{API}: no valid staple after "), lines
    # The other certificates were fetched and every node serves exactly its own ones.
    www, must = estate.current(WWW), estate.current(MUST)
    for node in DC1:
        assert estate.served(node, WWW) == www
        assert estate.served(node, MUST) == must
        assert estate.snippet(node, API) == PLACEHOLDER, "api is not dc1's: its snippet is not touched"
    for node in DC2:
        assert estate.served(node, WWW) == www
        assert estate.served(node, API) is None
        assert estate.snippet(node, API) == PLACEHOLDER, "held: the node keeps its api files"
        assert estate.snippet(node, MUST) == PLACEHOLDER, "must-staple is not dc2's: its snippet is not touched"
    deployed = task_results(proc, DEPLOY)
    assert len(deployed) == 4
    assert not any(result.get("failed") for result in deployed)
    held = [result["certificates"][API]["held"] for result in deployed if API in result["certificates"]]
    assert len(held) == 2, held
    assert all("the central store has no staple for it" in why for why in held), held
    assert not (estate.bed.store / "no-ocsp.demo.test").exists(), "no host lists it: the central host skips it"

    # The responder is back: api is fetched and deployed on dc2 only; the run succeeds.
    estate.write(api_dead=False)
    proc = estate.site()
    assert proc.returncode == 0, proc.stdout[-4000:]
    api = estate.current(API)
    for node in DC2:
        assert estate.served(node, API) == api
        assert estate.served(node, WWW) == www
    for node in DC1:
        assert estate.served(node, API) is None
        assert estate.served(node, MUST) == must

    # Idempotent: nothing written, nothing reloaded.
    proc = estate.site()
    assert proc.returncode == 0, proc.stdout[-4000:]
    again = task_results(proc, DEPLOY)
    assert len(again) == 4
    assert not any(result["changed"] for result in again)


def test_one_name_for_two_certificates_is_refused_naming_both_hosts_and_paths(estate: Estate) -> None:
    other = estate.entry(WWW)
    other["certificate"] = estate.entry(MUST)["certificate"]
    estate.write(api_dead=False, dc2_www=other)
    proc = estate.site()
    assert proc.returncode != 0
    data = json.loads(proc.stdout)
    messages = [
        host.get("msg", "")
        for play in data["plays"]
        for task in play["tasks"]
        for host in task["hosts"].values()
        if host.get("failed")
    ]
    wanted = (
        f"certificate name '{WWW}' means two certificates: certificate '{estate.entry(WWW)['certificate']}' "
        f"on node1 but '{other['certificate']}' on node3"
    )
    assert any(wanted in message for message in messages), messages


def test_a_misspelt_role_variable_is_named_with_the_closest_known_one(estate: Estate) -> None:
    estate.write(api_dead=False, dc1_vars={"ocsp_stapling_certficates": []})
    proc = estate.site()
    assert proc.returncode != 0
    check = task_results(proc, "ocsp_stapling : Check that every ocsp_stapling_* variable is one the role knows")
    failed = [result for result in check if result.get("failed")]
    assert len(failed) == 2, "the two dc1 nodes"
    assert failed[0]["msg"] == [
        "unknown variable ocsp_stapling_certficates: the ocsp_stapling role has no such variable; "
        "did you mean ocsp_stapling_certificates?"
    ]


def test_a_limit_without_the_central_host_names_the_limit_to_use(estate: Estate) -> None:
    estate.write(api_dead=False)
    proc = estate.site("--limit", "dc2")
    assert proc.returncode != 0
    check = task_results(proc, LIMIT_CHECK)
    assert len(check) == 2, "both dc2 nodes, no dc1 node"
    assert all(result["failed"] for result in check)
    assert check[0]["msg"].startswith(
        "--limit dc2 leaves out the central host central, so nothing refreshes the staples of node"
    )
    assert "run with --limit 'dc2,central'" in check[0]["msg"]
    assert not task_results(proc, DEPLOY), "nothing is deployed from a store nobody refreshed"

    proc = estate.site("--limit", "dc2,central")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert len(task_results(proc, DEPLOY)) == 2
    proc = estate.site("--limit", "dc2", "--tags", "ocsp_stapling_deploy")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert len(task_results(proc, DEPLOY)) == 2


def test_the_role_adds_the_include_line_tests_nginx_and_refuses_a_block_with_its_own_stapling(estate: Estate) -> None:
    """node4's www server block lost its include line: the role (opt-in) puts it back after ssl_certificate."""
    www = estate.entry(WWW)
    www["server_file"] = "{{ bed_nodes[inventory_hostname] }}/nginx.conf"
    manage = {"ocsp_stapling_nginx_manage_include": True}
    conf3, conf4 = estate.node("node3").conf, estate.node("node4").conf
    include = f"        include {estate.node('node4').snippet(WWW)};\n"
    original = conf4.read_text()
    conf4.write_text(original.replace(include, ""))
    estate.node("node4").reload()
    assert estate.served("node4", WWW) is None, "without the include, node4 staples nothing for www"
    before3 = conf3.read_text()

    estate.write(api_dead=False, dc2_www=www, dc2_vars=manage)
    proc = estate.site()
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert conf3.read_text() == before3, "node3's block already includes the snippet"
    edited = conf4.read_text()
    assert f"{include.rstrip()}  # ocsp-stapling: managed include\n" in edited
    assert estate.served("node4", WWW) == estate.current(WWW), "tested, reloaded, served"
    proc = estate.site()
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert conf4.read_text() == edited

    # nginx -t fails with the new file (here: something else in it is broken): the old file comes back.
    broken = original.replace(include, "").replace("http {", "http {\n    bogus_directive on;")
    conf4.write_text(broken)
    proc = estate.site()
    assert proc.returncode != 0
    assert conf4.read_text() == broken, "the file is as it was before the run"
    (failed,) = task_results(proc, "ocsp_stapling : Fail with nginx's message (the server files are as they were)")
    assert 'unknown directive "bogus_directive"' in failed["msg"]

    # A block that sets stapling itself is refused with the file and line.
    own = original.replace(include, "        ssl_stapling on;\n")
    conf4.write_text(own)
    proc = estate.site()
    assert proc.returncode != 0
    line = own.splitlines().index("        ssl_stapling on;") + 1
    assert f"{conf4}:{line}: the server block of {WWW} sets 'ssl_stapling on;' itself" in proc.stdout
    conf4.write_text(original)
    estate.node("node4").reload()


def test_freeze_and_thaw_work_on_every_clusters_certificates(estate: Estate) -> None:
    estate.write(api_dead=False)
    frozen = playbook(
        REPO / "playbooks" / "freeze.yml",
        inventory=estate.path,
        extra_vars={"ocsp_stapling_serial": 3, "ocsp_stapling_freeze_reason": "estate drill"},
        timeout=int(scaled(400)),
    )
    assert frozen.returncode == 0, frozen.stdout[-4000:]
    pins = {name: json.loads((estate.bed.store / name / "pin.json").read_text()) for name in (WWW, MUST, API)}
    assert {pin["why"] for pin in pins.values()} == {"estate drill"}
    assert len(task_results(frozen, DEPLOY)) == 4
    thawed = playbook(
        REPO / "playbooks" / "thaw.yml",
        inventory=estate.path,
        extra_vars={"ocsp_stapling_serial": 3},
        timeout=int(scaled(400)),
    )
    assert thawed.returncode == 0, thawed.stdout[-4000:]
    assert not any((estate.bed.store / name / "pin.json").exists() for name in (WWW, MUST, API))


def predicted(proc: Any) -> dict[str, Any]:
    """Per node: reload or not, and per certificate whether the staple / the snippet changes."""
    data = json.loads(proc.stdout)
    out = {}
    for play in data["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == DEPLOY:
                for host, result in task["hosts"].items():
                    files = {n: (c["staple_changed"], c["snippet_changed"]) for n, c in result["certificates"].items()}
                    out[host] = {"reload": result["changed"], "files": files}
    return out


def store_bytes(estate: Estate) -> dict[str, bytes]:
    root = estate.bed.store
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_check_mode_predicts_file_by_file_and_reload_by_reload_what_the_real_run_does(estate: Estate) -> None:
    estate.write(api_dead=False)
    assert estate.site().returncode == 0
    before = store_bytes(estate)
    served = {node: estate.served(node, WWW) for node in DC1 + DC2}
    check = estate.site("--check", "--diff", "-e", "ocsp_stapling_force_refresh=true")
    assert check.returncode == 0, check.stdout[-4000:]
    assert store_bytes(estate) == before, "check mode writes nothing to the store"
    assert {node: estate.served(node, WWW) for node in DC1 + DC2} == served, "nor on the nodes"
    prediction = predicted(check)
    assert set(prediction) == set(DC1 + DC2)
    assert all(p["reload"] and p["files"][WWW] == (True, False) for p in prediction.values()), prediction

    real = estate.site("-e", "ocsp_stapling_force_refresh=true")
    assert real.returncode == 0, real.stdout[-4000:]
    assert predicted(real) == prediction
    again = estate.site("--check", "--diff")
    assert again.returncode == 0
    assert not any(p["reload"] for p in predicted(again).values()), "nothing due: nothing predicted"


def test_check_mode_on_a_new_store_says_what_it_would_write(estate: Estate, tmp_path: Path) -> None:
    estate.write(api_dead=False)
    store = tmp_path / "new-store"
    before = {node: estate.snippet(node, WWW) for node in DC1 + DC2}
    proc = playbook(
        REPO / "site.yml",
        inventory=estate.path,
        extra_vars={"ocsp_stapling_serial": 3, "ocsp_stapling_store_dir": str(store)},
        args=["--check", "--diff"],
        timeout=int(scaled(400)),
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    prediction = predicted(proc)
    assert len(prediction) == 4
    for node in DC1:
        assert prediction[node]["files"][MUST][0] is True, "a staple fetched for the check, different from the disk"
    for node in DC2:
        assert prediction[node]["files"][API][0] is True
    assert not store.exists(), "check mode creates no store"
    assert {node: estate.snippet(node, WWW) for node in DC1 + DC2} == before, "and writes no snippet"
