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
    figures = run_soak(CYCLES, root=tmp_path, seed=11)
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


def test_the_checks_catch_a_bad_staple_and_a_missed_reload(tmp_path: Path) -> None:
    """Sabotage the deploy path by hand: each invariant must report it (the soak is not vacuous)."""
    with soak(tmp_path, seed=3, mix={}) as run:
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
        assert len(problems) == 1, problems
        assert problems[0].startswith(f"store {site}: current.der invalid: ")
        assert "TRY_LATER" in problems[0]
