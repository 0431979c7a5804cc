"""The chaos soak in CI: a short run must end without a violation, and its checks must be able to fail.

The full run is ``make soak N=1000`` (figures in docs/RELIABILITY.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.soak import MIX, run_soak, soak
from testbed import forge

pytestmark = pytest.mark.integration

CYCLES = 30


def test_a_short_soak_has_no_violation_and_sees_the_incident_faults(tmp_path: Path) -> None:
    # Refreshes only (drills=0): a frozen certificate is not replaced, so the counts below would not hold.
    figures = run_soak(CYCLES, root=tmp_path, seed=11, drills=0)
    assert figures.violations == []
    assert figures.cycles == CYCLES
    # The mix really was faulty (>= 30 % of the answers) and the incident's answers were among them.
    assert figures.fault_share >= 0.30, figures.faults
    assert {"try_later", "expired_signer", "signer_expiring"} <= set(figures.faults)
    assert set(figures.faults) - {"good"} <= set(MIX)
    # Staples really changed and were rolled out: every cycle is due (the clock moves past refresh_fraction).
    assert figures.replaced >= CYCLES  # two certificates, most cycles get a valid answer for each
    assert figures.reloads >= CYCLES
    assert figures.served_checks == CYCLES * 3 * 2


def test_drills_interleave_every_emergency_operation_with_the_refreshes(tmp_path: Path) -> None:
    """Freeze / re-freeze / thaw / disable / enable at >= 50 % faults, every invariant checked after each cycle."""
    figures = run_soak(CYCLES, root=tmp_path, seed=5, drills=0.9)
    assert figures.violations == []
    assert sum(MIX.values()) >= 0.5
    ops = figures.operations
    assert set(ops) >= {"freeze", "refreeze", "thaw", "disable", "enable"}, ops
    assert ops["freeze"].get("pinned", 0) >= 1, ops
    assert ops["thaw"].get("thawed", 0) >= 1, ops
    assert ops["disable"].get("done", 0) >= 1, ops
    assert ops["disable"].get("refused (Must-Staple)", 0) >= 1, ops
    # A thaw hands the certificate back to the refresh: the next cycle's refresh ran it as not frozen.
    assert sum(ops.get("refresh after thaw", {}).values()) >= 1, ops


def test_the_checks_catch_a_bad_staple_and_a_missed_reload(tmp_path: Path) -> None:
    """Sabotage the deploy path by hand: each invariant must report it (the soak is not vacuous)."""
    with soak(tmp_path, seed=3, mix={}, drills=0) as run:
        assert run.cycle() == []
        node = run.fleet.nodes[0]
        site = run.fleet.sites[0].name
        path = node.staple_path(site)
        good = path.read_bytes()

        # A file written behind the installer's back and not reloaded: nginx still serves the old bytes.
        path.write_bytes(forge.unsuccessful("try_later"))
        problems = run.check()
        assert any(f"{node.name} {site}: deployed staple invalid" in p for p in problems), problems
        assert any(f"{node.name} {site}: serves" in p and "not the deployed" in p for p in problems), problems

        # ... and once nginx reloads it, the served staple is judged invalid too.
        node.reload()
        problems = run.check()
        assert any(f"{node.name} {site}: served staple invalid" in p for p in problems), problems

        # The store's current.der is judged too.
        path.write_bytes(good)
        node.reload()
        Path(run.store.path(site, "current.der")).write_bytes(b"\x30\x03\x0a\x01\x03")
        problems = run.check()
        assert problems[0].startswith(f"store {site}: current.der invalid: ")
        assert "TRY_LATER" in problems[0]
        # ... and every node now serves bytes that are not the store's: the deploy check says so per node.
        assert problems[1:] == [
            f"{n.name} {site}: deployed staple is not the store's current.der" for n in run.fleet.nodes
        ], problems


def test_the_drill_checks_catch_a_pin_not_served_and_a_disable_not_applied(tmp_path: Path) -> None:
    """Frozen and disabled have their own invariants: each must report a node that did not follow."""
    with soak(tmp_path, seed=3, mix={}, drills=0) as run:
        assert run.cycle() == []
        node = run.fleet.nodes[1]
        site = run.fleet.sites[0].name
        problems: list[str] = []

        # Frozen in the store, not rolled out: every node still deploys current.der, not the pin.
        assert run.operate("freeze", site, problems)
        assert problems == []
        run.now += run.step  # a newer answer: the pin is no longer current.der's bytes
        assert run.operate("refreeze", site, problems)
        assert problems == []
        found = run.check()
        assert sum(": deployed staple is not the store's pinned staple" in p for p in found) == 3, found
        run.deploy()
        assert [p for p in run.check() if "not the deployed" in p]  # written but not reloaded
        for n in run.fleet.nodes:
            n.reload()
        assert run.check() == []

        # Disabled in the store, the node's snippet untouched: the staple is still served.
        assert run.operate("disable", site, problems)
        assert problems == []
        found = run.check()
        assert any(f"{node.name} {site}: stapling disabled, yet" in p for p in found), found
        assert any(f"{node.name} {site}: the snippet of a disabled certificate" in p for p in found), found
        run.deploy()
        for n in run.fleet.nodes:
            n.reload()
        assert run.check() == []

        # The Must-Staple certificate: an unforced disable is refused (counted, not a violation).
        must_staple = run.fleet.sites[1].name
        assert not run.operate("disable", must_staple, problems)
        assert problems == []
        assert run.figures.operations["disable"] == {"done": 1, "refused (Must-Staple)": 1}
