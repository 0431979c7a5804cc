"""Benchmark of the emergency freeze (issue 5): ``playbooks/freeze.yml`` across 20 local nodes.

A bed of 20 nginx nodes on 127.0.0.1 (testbed.inventory.running_bed: demo PKI with three
certificates, two of them with OCSP, the test responder, an inventory like inventories/demo)
is first rolled out with ``site.yml`` (not timed). Then the responder switches to the 2015
mix (tryLater, signers expiring in minutes, short-lived signers) and
``ansible-playbook playbooks/freeze.yml`` is timed from start to exit: the central freeze
(retrying the CA for the longest-lived valid answer) plus the deployment of the pinned
staple to every node (re-validation on the node, nginx -t, reload, a real TLS check).
Afterwards every node is asked with a TLS client whether it serves exactly the pinned bytes.

Target: <= 60 s. Run: ``make bench`` or ``python -m benchmarks.freeze_bench [--nodes N]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "module_utils"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocsp_staple.central.store import Store
from ocsp_staple.node.live import fetch_served_staple

from testbed.inventory import running_bed

REPO = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 60.0
MIX = {"try_later": 0.3, "signer_expiring": 0.3, "short_lived": 0.2}


def ansible_playbook(inventory: Path, playbook: str, *extra: str) -> tuple[int, float, str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(REPO / playbook)]
    start = time.monotonic()
    proc = subprocess.run(
        [*command, *extra], capture_output=True, text=True, env=env, timeout=900, check=False, cwd=REPO
    )
    return proc.returncode, time.monotonic() - start, proc.stdout + proc.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--nodes", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ocsp-freeze-bench-") as tmp, running_bed(tmp, nodes=args.nodes) as bed:
        rc, seconds, out = ansible_playbook(bed.inventory, "site.yml")
        if rc != 0:
            print(out[-3000:])
            print(f"freeze bench: the initial site.yml failed (rc {rc})")
            return 1
        print(f"initial site.yml over {args.nodes} nodes: {seconds:.1f} s (not the figure)")
        bed.responder.configure(mix=MIX, seed=2015)
        rc, seconds, out = ansible_playbook(
            bed.inventory, "playbooks/freeze.yml", "-e", "ocsp_stapling_freeze_reason='freeze benchmark'"
        )
        if rc != 0:
            print(out[-3000:])
            print(f"freeze bench: playbooks/freeze.yml failed (rc {rc})")
            return 1
        store = Store(str(bed.store))
        mismatches = 0
        pinned = 0
        for name in bed.pki.leaves:
            pin = store.read_pin(name)
            if pin is None:
                continue
            pinned += 1
            for node in bed.fleet.nodes:
                served = fetch_served_staple(node.host, node.port, servername=name, timeout=5).staple
                mismatches += served != pin.staple
        # Where the time goes: the central play alone (a re-up against the same faulty mix).
        rc_central, central, _ = ansible_playbook(
            bed.inventory,
            "playbooks/freeze.yml",
            "--limit",
            "ocsp_central",
            "-e",
            "ocsp_stapling_freeze_reason='freeze benchmark re-up'",
        )
        print(f"of which the central play (measured again alone, a re-up): {central:.1f} s (rc {rc_central})")
        verdict = "OK" if seconds <= TARGET_SECONDS and mismatches == 0 and pinned else "MISSED"
        load = os.getloadavg()[0]
        print(
            f"load average {load:.1f} on {os.cpu_count()} cores; freeze across {args.nodes} nodes, "
            f"{pinned} pinned certificates, responder mix {MIX}: "
            f"{seconds:.1f} s wall (target <= {TARGET_SECONDS:.0f} s), "
            f"{args.nodes * pinned - mismatches}/{args.nodes * pinned} node/certificate pairs serve the pinned bytes "
            f"-> {verdict}"
        )
        return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    sys.exit(main())
