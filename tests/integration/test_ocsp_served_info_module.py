"""ocsp_served_info through ansible, under Debian's /usr/bin/python3 (python3-openssl), against a real nginx.

The module's one-line failures: served bytes that differ from the deployed file (the failed
reload), nothing served although a file is deployed, and an invalid staple with require_valid.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from testbed import forge
from testbed.fleet import Fleet, Node, free_port_block
from testbed.pki import DemoPki

from ..ansible_run import NODE_PYTHON, adhoc
from ..conftest import WALL_NOW

pytestmark = pytest.mark.integration

H = dt.timedelta(hours=1)
WWW = "www.demo.test"


@pytest.fixture(scope="module")
def node(demo_fleet: Fleet) -> Node:
    return demo_fleet.nodes[0]


def staple(demo_pki: DemoPki, signer: forge.Issued | None = None, *, this_update: dt.datetime, hours: int) -> bytes:
    return forge.make_response(
        demo_pki.leaf(WWW).cert,
        demo_pki.ca().cert,
        signer or demo_pki.responder(),
        this_update=this_update,
        next_update=this_update + hours * H,
    )


def served_info(node: Node, demo_pki: DemoPki, *, check: bool = False, **extra: Any) -> tuple[int, dict[str, Any]]:
    args = {
        "host": node.host,
        "port": node.port,
        "server_name": WWW,
        "expect_file": str(node.staple_path(WWW)),
        "certificate": demo_pki.leaves[WWW].fullchain,
        "timeout": 5,
        **extra,
    }
    return adhoc("ocsp_served_info", args, python=NODE_PYTHON, check=check)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("check", [False, True], ids=["run", "check-mode"])
def test_served_staple_matches_the_deployed_file(node: Node, demo_pki: DemoPki, check: bool) -> None:
    data = staple(demo_pki, this_update=WALL_NOW - H, hours=168)
    node.set_stapling(WWW, data)
    node.reload()
    rc, result = served_info(node, demo_pki, check=check, require_valid=True)
    assert rc == 0, result
    assert result["changed"] is False
    assert (result["served"], result["matches"], result["valid"]) == (True, True, True)
    assert result["served_sha256"] == result["file_sha256"] == sha(data)
    assert result["certificate_matches"] is True
    assert result["endpoint"] == node.endpoint
    assert result["signer"] == "CN=Demo CA OCSP Responder"
    assert result["codes"] == []


def test_file_replaced_without_reload_fails_with_one_line(node: Node, demo_pki: DemoPki) -> None:
    old = staple(demo_pki, this_update=WALL_NOW - 2 * H, hours=168)
    node.set_stapling(WWW, old)
    node.reload()
    new = staple(demo_pki, this_update=WALL_NOW - H, hours=168)
    path = node.staple_path(WWW)
    path.write_bytes(new)
    rc, result = served_info(node, demo_pki)
    assert rc != 0
    assert result["failed"] is True
    assert result["msg"] == (
        f"{WWW} on {node.endpoint} serves a staple that differs from {path} "
        f"(served sha256 {sha(old)[:12]}…, file {sha(new)[:12]}…): nginx was not reloaded or the reload failed"
    )
    assert (result["matches"], result["valid"]) == (False, True), "the old staple is still good, just not deployed"


def test_nothing_served_although_a_file_is_deployed_fails(node: Node, demo_pki: DemoPki) -> None:
    node.set_stapling(WWW, staple(demo_pki, this_update=WALL_NOW - H, hours=168))
    node.set_stapling(WWW, None)
    node.reload()
    rc, result = served_info(node, demo_pki)
    assert rc != 0
    assert re.match(
        rf"^{WWW} on {re.escape(node.endpoint)} serves no staple although {re.escape(str(node.staple_path(WWW)))} "
        r"is deployed \(file sha256 [0-9a-f]{12}…\): stapling is off",
        result["msg"],
    ), result["msg"]
    assert (result["served"], result["served_sha256"], result["valid"]) == (False, None, False)
    # Without a file to compare and without require_valid, nothing served is a result.
    rc, result = served_info(node, demo_pki, expect_file=None)
    assert rc == 0, result
    assert (result["served"], result["matches"]) == (False, None)


def test_incident_staple_fails_only_with_require_valid(node: Node, demo_pki: DemoPki) -> None:
    # The module reads the clock itself: take "now" here, not at import (a loaded machine may be minutes later).
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    responder = forge.make_responder(
        demo_pki.ca(), "Incident Responder", now=now - 24 * H, not_after=now + dt.timedelta(minutes=50)
    )
    node.set_stapling(WWW, staple(demo_pki, responder, this_update=now, hours=12))
    node.reload()
    rc, result = served_info(node, demo_pki)
    assert rc == 0, result
    assert (result["matches"], result["valid"], result["codes"]) == (True, False, ["signer_expires_too_soon"])
    rc, result = served_info(node, demo_pki, require_valid=True)
    assert rc != 0
    assert re.match(
        rf"^staple for {WWW} on {re.escape(node.endpoint)}: signer certificate CN=Incident Responder expires "
        r"\S+ \(in (4[5-9]|50) min\), before nextUpdate \S+; at least 4 h required$",
        result["msg"],
    ), result["msg"]


def test_unreachable_endpoint_fails_naming_it(demo_pki: DemoPki, tmp_path: Path) -> None:
    port = free_port_block(1)
    rc, result = adhoc(
        "ocsp_served_info",
        {"port": port, "server_name": WWW, "certificate": demo_pki.leaves[WWW].fullchain, "timeout": 2},
        python=NODE_PYTHON,
    )
    assert rc != 0
    assert result["msg"] == f"127.0.0.1:{port}: connection refused"
