"""A whole local rollout for tests and benchmarks: PKI, test responder, nginx fleet, inventory.

:func:`running_bed` makes a demo PKI whose OCSP URL names a free port of 127.0.0.1, starts
the in-process :class:`~testbed.ocsp_responder.TestResponder` there (real clock, the PKI's
delegated signer), starts ``nodes`` nginx nodes (:func:`testbed.fleet.running_fleet`) and
writes an Ansible inventory like ``inventories/demo`` with every path under ``root``:
``central`` (local connection, the controller's Python) holds the store; ``node1..N``
(local connection, Debian's ``/usr/bin/python3``) are the nginx nodes, and ``haproxy1..M``
(``haproxy_nodes``, :mod:`testbed.haproxy`) HAProxy nodes with ``ocsp_stapling_server: haproxy``.
Everything it starts is stopped when the block ends, whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.ocsp_responder import TestResponder

from .fleet import Fleet, free_port_block, running_fleet, sites_from_pki
from .haproxy import HaproxyFleet, running_haproxy
from .pki import DEFAULT_LEAVES, DemoPki, LeafSpec, write_demo_pki

NODE_PYTHON = "/usr/bin/python3"


@dataclass
class Bed:
    root: Path
    pki: DemoPki
    responder: TestResponder
    fleet: Fleet
    inventory: Path
    haproxy: HaproxyFleet | None = None

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics" / "ocsp_staple.prom"


def inventory(
    root: Path,
    fleet: Fleet,
    pki: DemoPki,
    *,
    central_python: str = sys.executable,
    node_python: str = NODE_PYTHON,
    haproxy: HaproxyFleet | None = None,
) -> dict[str, Any]:
    """The inventory (as data) of ``fleet``: the role variables of inventories/demo, paths under ``root``."""
    node_root = "{{ bed_nodes.get(inventory_hostname, '') }}"
    here = "bed_nodes.get(inventory_hostname, '')"

    def nginx(*extra: str) -> str:
        argv = [f"'{fleet.nginx}'", "'-p'", f"{here} ~ '/'", "'-c'", f"{here} ~ '/nginx.conf'"]
        argv += ["'-e'", f"{here} ~ '/logs/error.log'", *(f"'{e}'" for e in extra)]
        return "{{ [" + ", ".join(argv) + "] }}"

    certificates = [
        {
            "name": name,
            "certificate": leaf.fullchain,
            "node_certificate": f"{node_root}/ssl/{name}.pem",
            "haproxy_crt": f"{node_root}/crt/{name}.pem",
            "server_block": name,
        }
        for name, leaf in pki.leaves.items()
        if name in {site.name for site in fleet.sites}
    ]
    hosts: dict[str, dict[str, Any]] = {node.name: {"ocsp_stapling_verify_port": node.port} for node in fleet.nodes}
    roots = {node.name: str(node.root) for node in fleet.nodes}
    for hnode in haproxy.nodes if haproxy else []:
        roots[hnode.name] = hnode.directory
        hosts[hnode.name] = {
            "ocsp_stapling_server": "haproxy",
            "ocsp_stapling_verify_port": hnode.port,
            "ocsp_stapling_haproxy_socket": str(hnode.admin_socket),
            "ocsp_stapling_haproxy_test_argv": hnode.test_command(),
            "ocsp_stapling_haproxy_reload_argv": hnode.reload_command(),
        }
    return {
        "ocsp_central": {
            "hosts": {"central": {"ansible_connection": "local", "ansible_python_interpreter": central_python}}
        },
        "ocsp_nodes": {
            "hosts": hosts,
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": node_python},
        },
        "all": {
            "vars": {
                "bed_nodes": roots,
                "ocsp_stapling_store_dir": str(root / "store"),
                "ocsp_stapling_metrics_path": str(root / "metrics" / "ocsp_staple.prom"),
                "ocsp_stapling_attempts": 5,
                "ocsp_stapling_deadline": 30,
                "ocsp_stapling_timeout": 5,
                "ocsp_stapling_certificates": certificates,
                "ocsp_stapling_staple_dir": f"{node_root}/ocsp",
                "ocsp_stapling_nginx_snippet_dir": f"{node_root}/conf.d",
                "ocsp_stapling_nginx_test_argv": nginx("-t"),
                "ocsp_stapling_nginx_reload_argv": nginx("-s", "reload"),
                "ocsp_stapling_verify_host": fleet.host,
            }
        },
    }


@contextlib.contextmanager
def running_bed(
    root: str | Path,
    *,
    nodes: int = 3,
    leaves: Sequence[LeafSpec] = DEFAULT_LEAVES,
    node_python: str = NODE_PYTHON,
    haproxy_nodes: int = 0,
) -> Iterator[Bed]:
    """PKI + responder + ``nodes`` nginx nodes + ``haproxy_nodes`` HAProxy nodes + ``root/inventory.yml``
    for the block; all stopped afterwards."""
    base = Path(root).resolve()
    base.mkdir(parents=True, exist_ok=True)
    port = free_port_block(1)
    pki = write_demo_pki(base / "pki", ocsp_url=f"http://127.0.0.1:{port}/", leaves=leaves, reuse=False)
    responder = TestResponder(pki.ca(), signer=pki.responder(), port=port, hang=5.0)
    responder.start()
    try:
        with contextlib.ExitStack() as stack:
            sites = sites_from_pki(pki.directory)
            fleet = stack.enter_context(running_fleet(base / "fleet", sites=sites, nodes=nodes))
            hx = (
                stack.enter_context(running_haproxy(base / "haproxy", sites, count=haproxy_nodes))
                if haproxy_nodes
                else None
            )
            path = base / "inventory.yml"
            # JSON is YAML: the inventory plugin reads it as is.
            data = inventory(base, fleet, pki, node_python=node_python, haproxy=hx)
            path.write_text(json.dumps(data, indent=2) + "\n")
            yield Bed(base, pki, responder, fleet, path, hx)
    finally:
        responder.stop()
