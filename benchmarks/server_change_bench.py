"""Benchmark of a staple change under load (issue 15): 20 nginx nodes, then 20 haproxy nodes.

For each server kind: a demo PKI, the test responder (127.0.0.1, in this process), a fleet
of N local nodes of that kind (2 stapled certificates and 1 without an OCSP URL each),
``site.yml`` once to deploy; then a client hammers every node and certificate with fresh
TLS handshakes (:mod:`testbed.hammer`, one thread per endpoint) while ``site.yml -e
ocsp_stapling_force_refresh=true`` changes every staple (the responder answers with a
later thisUpdate). Measured per kind:

- wall time of the changed ``site.yml`` run;
- handshakes made during it, how many **failed**, how many were served **without a
  staple** where one is deployed (targets: 0 and 0);
- that every node serves the store's new ``current.der`` afterwards (a real handshake each);
- nginx: reloads per node (from its error log; exactly 1 expected); haproxy: none expected
  (the runtime API), counted as worker pids that appeared during the change (0 expected).

Everything it starts is stopped and its directory removed.
Run: ``python -m benchmarks.server_change_bench [--nodes 20] [--server nginx|haproxy|both]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "module_utils"))

from benchmarks.rollout_bench import inventory as nginx_inventory
from benchmarks.rollout_bench import recap, reloads, run
from testbed.fleet import Fleet, Site, free_port_block, sites_from_pki
from testbed.hammer import Hammer, Target, digest
from testbed.haproxy import HaproxyFleet
from testbed.ocsp_responder import TestResponder
from testbed.pki import DemoPki, write_demo_pki
from testbed.served import check


@dataclass
class Result:
    server: str
    nodes: int
    endpoints: int
    deploy: float
    change: float
    changed_hosts: int
    handshakes: int
    failed: int
    unstapled: int
    old_served: int
    new_served: int
    reloads: str
    mismatches: list[str]
    first_error: str

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.unstapled == 0 and not self.mismatches and self.changed_hosts == self.nodes


class NginxNodes:
    """testbed.fleet nodes and the demo inventory's shape; reloads counted from the error logs."""

    server = "nginx"

    def __init__(self, root: Path, nodes: int, pki: DemoPki, sites: list[Site]) -> None:
        self.root, self.pki, self.sites = root, pki, sites
        self.fleet = Fleet(root / "fleet", nodes=nodes, base_port=free_port_block(nodes), sites=sites)
        self.fleet.create()
        self.fleet.start()
        self.endpoints = [(node.host, node.port) for node in self.fleet.nodes]

    def inventory(self) -> dict[str, Any]:
        return nginx_inventory(self.root, self.fleet, Path(self.pki.directory), [s.name for s in self.sites])

    def reload_marks(self) -> dict[str, int]:
        return reloads(self.fleet)

    def stop(self) -> None:
        self.fleet.stop()


class HaproxyNodes:
    """testbed.haproxy nodes (started without .ocsp files); reloads counted as new worker pids."""

    server = "haproxy"

    def __init__(self, root: Path, nodes: int, pki: DemoPki, sites: list[Site]) -> None:
        self.root, self.pki, self.sites = root, pki, sites
        self.fleet = HaproxyFleet.create(root / "haproxy", sites, count=nodes)
        self.fleet.start()
        self.endpoints = [(node.host, node.port) for node in self.fleet.nodes]
        self._seen: dict[str, set[int]] = {node.name: node.workers() for node in self.fleet.nodes}

    def inventory(self) -> dict[str, Any]:
        names = [s.name for s in self.sites]
        inv = nginx_inventory(self.root, self.fleet, Path(self.pki.directory), names)
        node_root = f"{self.root}/haproxy/{{{{ inventory_hostname }}}}"
        for cert in inv["all"]["vars"]["ocsp_stapling_certificates"]:
            cert["haproxy_crt"] = f"{node_root}/crt/{cert['name']}.pem"
        inv["ocsp_nodes"]["hosts"] = {
            node.name: {
                "ocsp_stapling_verify_port": node.port,
                "ocsp_stapling_haproxy_socket": str(node.admin_socket),
                "ocsp_stapling_haproxy_test_argv": node.test_command(),
                "ocsp_stapling_haproxy_reload_argv": node.reload_command(),
            }
            for node in self.fleet.nodes
        }
        inv["ocsp_nodes"]["vars"]["ocsp_stapling_server"] = "haproxy"
        return inv

    def reload_marks(self) -> dict[str, int]:
        """Per node, how many worker pids appeared since the first call (a reload forks a new worker)."""
        marks = {}
        for node in self.fleet.nodes:
            self._seen[node.name] |= node.workers()
            marks[node.name] = len(self._seen[node.name])
        return marks

    def stop(self) -> None:
        self.fleet.stop()


def bench(kind: type[NginxNodes] | type[HaproxyNodes], root: Path, nodes: int, forks: int) -> Result:
    bindir = Path(sys.executable).parent
    playbook = [str(bindir / "ansible-playbook"), "--forks", str(forks)]
    responder: TestResponder | None = None
    fleet: NginxNodes | HaproxyNodes | None = None
    try:
        port = free_port_block(1)
        pki = write_demo_pki(root / "pki", ocsp_url=f"http://127.0.0.1:{port}/", now=dt.datetime.now(dt.UTC))
        responder = TestResponder(pki.ca(), signer=pki.responder(), port=port)
        responder.start()
        sites = sites_from_pki(pki.directory)
        stapled = [s.name for s in sites if pki.leaves[s.name].ocsp_url]
        fleet = kind(root, nodes, pki, sites)
        hosts = root / "hosts.json"
        hosts.write_text(json.dumps(fleet.inventory()))
        inv = ["-i", str(hosts)]
        deploy, _ = run([*playbook, *inv, "site.yml"], what="first site.yml run (deploy)")
        old = {digest((root / "store" / name / "current.der").read_bytes()) for name in stapled}
        before = fleet.reload_marks()
        targets = [Target(host, port, name) for host, port in fleet.endpoints for name in stapled]
        with Hammer(targets) as hammer:
            time.sleep(1.0)  # the hammer is at full speed before the change starts
            change, out = run(
                [*playbook, *inv, "site.yml", "-e", "ocsp_stapling_force_refresh=true"], what="changed site.yml run"
            )
            time.sleep(1.0)
        after = fleet.reload_marks()
        per_node = sorted({after[n] - before[n] for n in before})
        now = dt.datetime.now(dt.UTC)
        mismatches = [
            f"{m.endpoint} {m.name}: {m.detail}"
            for host, port in fleet.endpoints
            for m in (check(root / "store", host, port, name, now=now) for name in stapled)
            if not m.ok
        ]
        new = {digest((root / "store" / name / "current.der").read_bytes()) for name in stapled}
        total = hammer.totals()
        return Result(
            server=kind.server,
            nodes=nodes,
            endpoints=len(targets),
            deploy=deploy,
            change=change,
            changed_hosts=sum(1 for h, r in recap(out).items() if r["changed"] and h != "central"),
            handshakes=total.handshakes,
            failed=total.failed,
            unstapled=total.unstapled,
            old_served=sum(c for d, c in total.staples.items() if d in old),
            new_served=sum(c for d, c in total.staples.items() if d in new),
            reloads="per node: " + ",".join(str(c) for c in per_node),
            mismatches=mismatches,
            first_error=total.first_error,
        )
    finally:
        if fleet is not None:
            fleet.stop()
        if responder is not None:
            responder.stop()


def report(result: Result) -> None:
    print(f"{result.server}: {result.nodes} nodes, {result.endpoints} stapled endpoints hammered")
    print(f"  site.yml deploy                 {result.deploy:7.2f} s")
    changed = f"changed nodes {result.changed_hosts}/{result.nodes}"
    print(f"  site.yml staple change          {result.change:7.2f} s   {changed}")
    print(f"  handshakes during the change    {result.handshakes}")
    first = f"  (first: {result.first_error})" if result.failed else ""
    print(f"    failed                        {result.failed}{first}")
    print(f"    served without a staple       {result.unstapled}")
    print(f"    old staple / new staple       {result.old_served} / {result.new_served}")
    print(f"  reloads                         {result.reloads}")
    print(f"  serves new current.der after    {'every node' if not result.mismatches else 'NO'}")
    for line in result.mismatches[:10]:
        print(f"    {line}")
    print(f"  targets {'met' if result.ok else 'MISSED'}")


BENCHES: dict[str, Any] = {"nginx": NginxNodes, "haproxy": HaproxyNodes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--forks", type=int, default=25)
    parser.add_argument("--server", choices=[*BENCHES, "both"], default="both")
    args = parser.parse_args(argv)
    kinds = list(BENCHES) if args.server == "both" else [args.server]
    ok = True
    for kind in kinds:
        root = Path(tempfile.mkdtemp(prefix=f"change-bench-{kind}-"))
        try:
            result = bench(BENCHES[kind], root, args.nodes, args.forks)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        report(result)
        ok = ok and result.ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
