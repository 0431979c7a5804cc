"""Benchmark of the rollout (issue 4): site.yml over 20 local nginx nodes.

Starts a demo PKI, the test responder (in this process, 127.0.0.1) and 20 nginx nodes
(testbed.fleet, 3 certificates each: two stapled, one without an OCSP URL), writes an
inventory like the demo's (a local central host with the controller's Python, 20
local-connection nodes with /usr/bin/python3), runs ``site.yml`` once to deploy, then
measures:

- a **no-change** ``site.yml`` run (every host must report changed=0) against
  ``ansible -m ping`` over the same 20 nodes, same inventory, same forks: both wall
  times and their ratio (target <= 3x);
- a **changed** run (``-e ocsp_stapling_force_refresh=true``: the responder answers with
  a later thisUpdate, so every stapled certificate gets a new staple): the reloads of each
  nginx, counted from its error log (one "signal 1 (SIGHUP) received" line per reload),
  must be exactly 1 per node, and every node must then serve the store's new current.der
  (a real TLS handshake per node and certificate).

Everything it starts (nginx nodes, responder) is stopped, and its directory removed.
Run: ``make bench`` or ``python -m benchmarks.rollout_bench [--nodes 20] [--forks 25]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "module_utils"))

from testbed.fleet import Fleet, free_port_block, sites_from_pki
from testbed.haproxy import HaproxyFleet
from testbed.ocsp_responder import TestResponder
from testbed.pki import write_demo_pki
from testbed.served import check

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 3.0
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


def inventory(root: Path, fleet: Fleet | HaproxyFleet, pki_dir: Path, names: list[str]) -> dict[str, Any]:
    """The demo inventory's structure for ``fleet`` (a dict written as JSON, which Ansible reads as YAML).

    Only the nodes' names and ports are read from ``fleet``: a HAProxy fleet gets the same shape, and
    its caller adds the haproxy variables (benchmarks/server_change_bench.py)."""
    node_root = "{{ bench_node_root }}"
    nginx = ["/usr/sbin/nginx", "-p", f"{node_root}/", "-c", f"{node_root}/nginx.conf", "-e"]
    return {
        "all": {
            "vars": {
                "bench_node_root": f"{root}/fleet/{{{{ inventory_hostname }}}}",
                "bench_nginx_argv": [*nginx, f"{node_root}/logs/error.log"],
                "ocsp_stapling_store_dir": f"{root}/store",
                "ocsp_stapling_attempts": 5,
                "ocsp_stapling_deadline": 30,
                "ocsp_stapling_timeout": 5,
                "ocsp_stapling_certificates": [
                    {
                        "name": name,
                        "certificate": f"{pki_dir}/{name}/fullchain.pem",
                        "node_certificate": f"{node_root}/ssl/{name}.pem",
                        "server_block": name,
                    }
                    for name in names
                ],
                "ocsp_stapling_staple_dir": f"{node_root}/ocsp",
                "ocsp_stapling_nginx_snippet_dir": f"{node_root}/conf.d",
                "ocsp_stapling_nginx_test_argv": "{{ bench_nginx_argv + ['-t'] }}",
                "ocsp_stapling_nginx_reload_argv": "{{ bench_nginx_argv + ['-s', 'reload'] }}",
                "ocsp_stapling_verify_host": "127.0.0.1",
            }
        },
        "ocsp_central": {
            "hosts": {
                "central": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                }
            }
        },
        "ocsp_nodes": {
            "hosts": {node.name: {"ocsp_stapling_verify_port": node.port} for node in fleet.nodes},
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3"},
        },
    }


def run(argv: list[str], *, what: str) -> tuple[float, str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "false"}
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=900)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-40:])
        raise SystemExit(f"{what} failed (exit {done.returncode}):\n{tail}")
    return wall, done.stdout


def recap(output: str) -> dict[str, dict[str, int]]:
    return {
        m[1]: {"ok": int(m[2]), "changed": int(m[3]), "unreachable": int(m[4]), "failed": int(m[5])}
        for m in RECAP.finditer(output)
    }


def reloads(fleet: Fleet) -> dict[str, int]:
    """Reloads each nginx logged so far: one "signal 1 (SIGHUP) received from PID, reconfiguring" line each."""
    counts = {}
    for node in fleet.nodes:
        text = node.error_log.read_text(errors="replace") if node.error_log.exists() else ""
        counts[node.name] = sum(1 for line in text.splitlines() if "(SIGHUP) received" in line)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--forks", type=int, default=25)
    args = parser.parse_args(argv)
    bindir = Path(sys.executable).parent
    playbook = [str(bindir / "ansible-playbook"), "--forks", str(args.forks)]
    adhoc = [str(bindir / "ansible"), "--forks", str(args.forks)]

    root = Path(tempfile.mkdtemp(prefix="rollout-bench-"))
    responder: TestResponder | None = None
    fleet: Fleet | None = None
    try:
        port = free_port_block(1)
        pki = write_demo_pki(root / "pki", ocsp_url=f"http://127.0.0.1:{port}/", now=dt.datetime.now(dt.UTC))
        responder = TestResponder(pki.ca(), signer=pki.responder(), port=port)
        responder.start()
        sites = sites_from_pki(pki.directory)
        fleet = Fleet(root / "fleet", nodes=args.nodes, base_port=free_port_block(args.nodes), sites=sites)
        fleet.create()
        started = time.perf_counter()
        fleet.start()
        started_in = time.perf_counter() - started
        hosts = root / "hosts.json"
        hosts.write_text(json.dumps(inventory(root, fleet, Path(pki.directory), [s.name for s in sites]), indent=1))
        inv = ["-i", str(hosts)]

        first, _ = run([*playbook, *inv, "site.yml"], what="first site.yml run (deploy)")
        after_deploy = reloads(fleet)
        same, out = run([*playbook, *inv, "site.yml"], what="no-change site.yml run")
        changed_hosts = {host: r["changed"] for host, r in recap(out).items() if r["changed"]}
        ping, _ = run([*adhoc, *inv, "ocsp_nodes", "-m", "ansible.builtin.ping"], what="ansible -m ping")
        no_change_reloads = {n: c - after_deploy[n] for n, c in reloads(fleet).items() if c != after_deploy[n]}

        before = reloads(fleet)
        changed, out = run(
            [*playbook, *inv, "site.yml", "-e", "ocsp_stapling_force_refresh=true"], what="changed site.yml run"
        )
        after = reloads(fleet)
        per_node = {name: after[name] - before[name] for name in before}
        changed_recap = recap(out)
        stapled = [s.name for s in sites if pki.leaves[s.name].ocsp_url]
        now = dt.datetime.now(dt.UTC)
        mismatches = [
            f"{m.endpoint} {m.name}: {m.detail}"
            for node in fleet.nodes
            for m in (check(root / "store", node.host, node.port, name, now=now) for name in stapled)
            if not m.ok
        ]
    finally:
        if fleet is not None:
            fleet.stop()
        if responder is not None:
            responder.stop()
        shutil.rmtree(root, ignore_errors=True)

    ratio = same / ping
    exactly_once = all(count == 1 for count in per_node.values())
    print(f"rollout over {args.nodes} local nginx nodes ({len(sites)} certificates each, {len(stapled)} stapled), "
          f"forks {args.forks}; nodes started in {started_in:.1f} s")  # fmt: skip
    print(f"  site.yml, first run (deploy)     {first:6.2f} s")
    print(f"  site.yml, no change              {same:6.2f} s   changed hosts: {changed_hosts or 'none'}, "
          f"reloads: {no_change_reloads or 'none'}")  # fmt: skip
    print(f"  ansible -m ping (same nodes)     {ping:6.2f} s")
    print(f"  ratio no-change / ping           {ratio:6.2f}x  (target <= {TARGET_RATIO:g}x)")
    print(f"  site.yml, new staples            {changed:6.2f} s   changed hosts: "
          f"{sum(1 for r in changed_recap.values() if r['changed'])}/{len(changed_recap)}")  # fmt: skip
    print("  reloads per node (changed run)   " + " ".join(f"{name}={count}" for name, count in per_node.items()))
    print(f"  every nginx reloaded exactly once: {'yes' if exactly_once else 'NO'}; "
          f"served == new current.der on every node: {'yes' if not mismatches else 'NO'}")  # fmt: skip
    for line in mismatches:
        print(f"    {line}")
    ok = ratio <= TARGET_RATIO and exactly_once and not mismatches and not changed_hosts and not no_change_reloads
    print(f"  targets {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
