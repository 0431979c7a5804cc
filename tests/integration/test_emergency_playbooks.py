"""playbooks/freeze.yml, thaw.yml, disable.yml and enable.yml against a real fleet.

One bed per module (testbed.inventory.running_bed): a demo PKI, the test responder on
127.0.0.1, three nginx nodes and an inventory like inventories/demo. What nodes serve is
read with a real TLS client (ocsp_staple.node.live).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ocsp_staple.central.store import Store
from ocsp_staple.certs import CertPair
from ocsp_staple.node.live import fetch_served_staple
from ocsp_staple.policy import validate

from testbed.fleet import NGINX
from testbed.inventory import Bed, running_bed
from testbed.wait import scaled

from ..ansible_run import REPO, playbook, task_results

pytestmark = pytest.mark.integration

WWW, MUST = "www.demo.test", "must-staple.demo.test"
STAPLED = (WWW, MUST)
ROLE = "ocsp_stapling : "  # how the JSON callback names the role's tasks


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    if not Path(NGINX).exists():
        pytest.skip(f"nginx not installed at {NGINX}")
    with running_bed(tmp_path_factory.mktemp("bed"), nodes=3) as the_bed:
        yield the_bed
    assert not any(node.running() for node in the_bed.fleet.nodes)


def run(bed: Bed, name: str, **extra: Any) -> Any:
    path = REPO / (name if name == "site.yml" else f"playbooks/{name}")
    return playbook(path, inventory=bed.inventory, extra_vars=extra or None)


def served(bed: Bed, name: str) -> list[bytes | None]:
    nodes = bed.fleet.nodes
    return [fetch_served_staple(node.host, node.port, servername=name, timeout=scaled(10)).staple for node in nodes]


def pin_of(bed: Bed, name: str) -> dict[str, Any]:
    pin = Store(str(bed.store)).read_pin(name)
    assert pin is not None, f"{name} is not frozen"
    return {"record": pin.record, "staple": pin.staple}


def ok(proc: Any) -> None:
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def state_of(bed: Bed, name: str) -> dict[str, Any]:
    return json.loads((bed.store / name / "state.json").read_text())  # type: ignore[no-any-return]


def test_freeze_pins_one_valid_staple_everywhere_site_keeps_it_and_thaw_resumes(bed: Bed) -> None:
    ok(run(bed, "site.yml"))
    current = {name: (bed.store / name / "current.der").read_bytes() for name in STAPLED}

    # The CA starts misbehaving (the 2015 mix); the freeze still finds a good long-lived answer.
    bed.responder.configure(mix={"try_later": 0.3, "signer_expiring": 0.3, "short_lived": 0.2}, seed=11)
    ok(run(bed, "freeze.yml", ocsp_stapling_freeze_reason="CA signer expiring", ocsp_stapling_freeze_attempts=10))
    now = dt.datetime.now(dt.UTC)
    pins = {name: pin_of(bed, name) for name in STAPLED}
    for name, pin in pins.items():
        assert pin["record"]["why"] == "CA signer expiring"
        assert pin["record"]["who"]
        assert served(bed, name) == [pin["staple"]] * 3, f"{name}: every node serves the pinned bytes"
        leaf = bed.pki.leaf(name).cert
        verdict = validate(pin["staple"], CertPair(leaf, bed.pki.ca().cert, name), now=now)
        assert verdict.valid, verdict.summary()
    assert not (bed.store / "no-ocsp.demo.test" / "pin.json").exists()

    # A scheduled run while the CA is broken changes nothing that is deployed.
    bed.responder.configure(fault="signer_expiring")
    proc = run(bed, "site.yml")
    ok(proc)
    installed = task_results(
        proc, ROLE + "Install the staples and stapling snippets after re-validating them on the node"
    )
    assert len(installed) == 3
    for result in installed:
        assert result["changed"] is False
    for name, pin in pins.items():
        assert pin_of(bed, name) == pin
        assert served(bed, name) == [pin["staple"]] * 3
        assert (bed.store / name / "current.der").read_bytes() == current[name]
        state = state_of(bed, name)
        assert (state["frozen"], state["last_outcome"]) == (True, "signer_expires_too_soon")

    # The CA recovers: thaw, and the normal refresh takes over again.
    bed.responder.configure(fault="good")
    ok(run(bed, "thaw.yml", ocsp_stapling_freeze_reason="CA fixed its responder"))
    for name in STAPLED:
        assert Store(str(bed.store)).read_pin(name) is None
        state = state_of(bed, name)
        assert state["thawed"]["why"] == "CA fixed its responder"
        # The thaw keeps the pin as current.der when it is better than the pre-incident staple (never trade down).
        expected = pins[name]["staple"] if state["thawed"]["pin_became_current"] else current[name]
        assert (bed.store / name / "current.der").read_bytes() == expected
        assert served(bed, name) == [expected] * 3
    ok(run(bed, "site.yml", ocsp_stapling_force_refresh=True))
    for name in STAPLED:
        fresh = (bed.store / name / "current.der").read_bytes()
        assert fresh != pins[name]["staple"], "updates resumed: a newer answer replaced the old pin"
        assert state_of(bed, name)["last_outcome"] == "ok"
        assert served(bed, name) == [fresh] * 3


def test_freeze_without_a_reason_fails_with_a_clear_message(bed: Bed) -> None:
    proc = run(bed, "freeze.yml")
    assert proc.returncode != 0
    (result,) = task_results(proc, ROLE + "Assert that a reason and a known source are given")
    assert "freeze needs a reason" in result["msg"]
    assert "ocsp_stapling_freeze_reason" in result["msg"]


def test_disable_is_refused_for_must_staple_forced_it_persists_until_enable(bed: Bed) -> None:
    proc = run(bed, "disable.yml", ocsp_stapling_disable_reason="responder broken")
    assert proc.returncode != 0
    (result,) = task_results(
        proc, ROLE + "Record that stapling is switched off (refused for Must-Staple certificates unless forced)"
    )
    assert "refusing to disable OCSP stapling for must-staple.demo.test" in result["msg"]
    assert "hard-fail clients will reject the site" in result["msg"]
    assert not (bed.store / "stapling.json").exists()
    assert all(served(bed, name)[0] is not None for name in STAPLED)

    ok(
        run(
            bed,
            "disable.yml",
            ocsp_stapling_disable_reason="responder broken",
            ocsp_stapling_force_disable_must_staple=True,
        )
    )
    switch = json.loads((bed.store / "stapling.json").read_text())
    assert switch["all"]["why"] == "responder broken"
    assert switch["all"]["force_disable_must_staple"] is True
    for name in STAPLED:
        assert served(bed, name) == [None] * 3
    # The next scheduled run does not switch it back on (and honours the recorded consent).
    ok(run(bed, "site.yml"))
    for name in STAPLED:
        assert served(bed, name) == [None] * 3

    ok(run(bed, "enable.yml"))
    assert not (bed.store / "stapling.json").exists()
    for name in STAPLED:
        assert served(bed, name) == [(bed.store / name / "current.der").read_bytes()] * 3


def test_the_enabled_variable_refuses_must_staple_unless_forced(bed: Bed) -> None:
    proc = run(bed, "site.yml", ocsp_stapling_enabled=False)
    assert proc.returncode != 0
    assert "refusing to disable OCSP stapling for must-staple.demo.test" in proc.stdout
    assert all(served(bed, name)[0] is not None for name in STAPLED), "nothing was switched off"
    ok(run(bed, "site.yml", ocsp_stapling_enabled=False, ocsp_stapling_force_disable_must_staple=True))
    for name in STAPLED:
        assert served(bed, name) == [None] * 3
    ok(run(bed, "site.yml"))
    assert served(bed, WWW)[0] is not None, "without the store switch, the variable alone does not persist"


def test_an_emergency_does_only_emergency_work(bed: Bed, tmp_path: Path) -> None:
    """Freeze and thaw deploy and verify; the monitoring install (on in this inventory) waits for site.yml."""
    monitoring = {
        "ocsp_stapling_monitoring_install": True,
        "ocsp_stapling_monitoring_os_packages": False,
        "ocsp_stapling_monitoring_prefix": str(tmp_path / "lib"),
        "ocsp_stapling_monitoring_command": str(tmp_path / "bin" / "ocsp-staple"),
        "ocsp_stapling_monitoring_nrpe": False,
    }
    bed.responder.configure(fault="good")
    install = ROLE + "Install the check command and the NRPE live checks on the node"
    for playbook_name, why in (("freeze.yml", "drill"), ("thaw.yml", "drill over")):
        proc = run(bed, playbook_name, ocsp_stapling_freeze_reason=why, **monitoring)
        ok(proc)
        skipped = task_results(proc, install)
        assert len(skipped) == 3, f"{playbook_name}: the monitoring include appears once per node"
        assert all(result.get("skipped") for result in skipped), skipped
        assert not (tmp_path / "lib").exists(), f"{playbook_name} installed the monitoring core"
        assert not (tmp_path / "bin").exists(), f"{playbook_name} installed the check command"
        deployed = task_results(
            proc, ROLE + "Install the staples and stapling snippets after re-validating them on the node"
        )
        assert len(deployed) == 3
    for name in STAPLED:
        assert Store(str(bed.store)).read_pin(name) is None
        staple = (bed.store / name / "current.der").read_bytes()
        assert served(bed, name) == [staple] * 3


def test_a_partial_freeze_deploys_every_pin_and_fails_naming_the_rest(bed: Bed) -> None:
    """One certificate's responder is dead: the other is pinned and served by every node in the same run."""
    with socket.socket() as probe:  # a port nothing listens on (bound, never listening, then closed)
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    inventory = json.loads(bed.inventory.read_text())
    certificates = [
        {**entry, "responder_url": dead} if entry["name"] == MUST else entry
        for entry in inventory["all"]["vars"]["ocsp_stapling_certificates"]
    ]
    bed.responder.configure(fault="good")
    ok(run(bed, "site.yml"))
    before = (bed.store / MUST / "current.der").read_bytes()
    proc = run(
        bed,
        "freeze.yml",
        ocsp_stapling_freeze_reason="partial drill",
        ocsp_stapling_certificates=certificates,
        ocsp_stapling_freeze_attempts=2,
    )
    assert proc.returncode != 0, "a freeze that pinned only some certificates ends failed"
    failures = [
        result.get("msg", "")
        for result in task_results(proc, "Fail naming each certificate not frozen, one line each")
        if result.get("failed")
    ]
    assert len(failures) == 1, failures
    assert f"{MUST}: not frozen" in str(failures[0]), failures
    assert WWW not in str(failures[0]), failures
    install = ROLE + "Install the staples and stapling snippets after re-validating them on the node"
    deployed = task_results(proc, install)
    assert len(deployed) == 3, "the node play ran in the same run"
    pin = pin_of(bed, WWW)
    assert served(bed, WWW) == [pin["staple"]] * 3
    assert Store(str(bed.store)).read_pin(MUST) is None
    assert served(bed, MUST) == [before] * 3, "the certificate not frozen keeps what it served"
    ok(run(bed, "thaw.yml", ocsp_stapling_freeze_reason="partial drill over"))


def test_the_default_freeze_asks_past_three_answers(bed: Bed) -> None:
    """The first-try failures' second cause: the module dropped an unset ``attempts`` and got 3 (0fdaf84).

    Six tryLater answers in a row, then good: with freeze.yml's defaults (no attempt cap, 120 s
    deadline) the freeze pins on its 7th answer; a 3-attempt freeze fails here.
    """
    bed.responder.configure(fault="good")
    ok(run(bed, "site.yml"))
    bed.responder.configure(sequence=["try_later"] * 6 + ["good"])
    proc = run(
        bed, "freeze.yml", ocsp_stapling_freeze_reason="defaults drill", ocsp_stapling_freeze_certificates=[WWW]
    )
    ok(proc)
    (frozen,) = task_results(proc, ROLE + "Pin a known-good staple for each certificate")
    (cert,) = frozen["certificates"]
    assert cert["action"] == "pinned", cert["message"]
    assert [a["reason"] for a in cert["attempts"]][:7] == ["try_later"] * 6 + ["ok"], cert["attempts"]
    assert served(bed, WWW) == [pin_of(bed, WWW)["staple"]] * 3
    bed.responder.configure(fault="good")
    ok(run(bed, "thaw.yml", ocsp_stapling_freeze_reason="defaults drill over"))
