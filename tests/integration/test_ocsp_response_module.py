"""ocsp_response through Ansible: documented use, idempotence, check mode, failure, ansible-doc."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ocsp_staple.policy import validate

from testbed.ocsp_responder import TestResponder
from testbed.wait import scaled

from ..ansible_run import BIN, REPO, adhoc, ansible_env, playbook, task_results
from ..conftest import Pki, build_pki, responder_stats

pytestmark = pytest.mark.integration

PLAYBOOK = Path(__file__).parent / "playbooks" / "response_refresh.yml"


@pytest.fixture(scope="module")
def live_pki() -> Pki:
    """A PKI on the real clock: the module reads the time itself."""
    return build_pki("ec", now=dt.datetime.now(dt.UTC).replace(microsecond=0))


@pytest.fixture
def live_responder(live_pki: Pki) -> Iterator[TestResponder]:
    server = TestResponder(live_pki.ca, hang=5.0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def certificates(live_pki: Pki, live_responder: TestResponder, tmp_path: Path) -> list[dict[str, Any]]:
    files = live_pki.write_files(tmp_path)
    return [{"name": "www.example.org", "certificate": files["chain"], "responder_url": live_responder.url}]


def test_the_documented_adhoc_call_stores_a_staple_then_stays_quiet(
    certificates: list[dict[str, Any]], live_responder: TestResponder, live_pki: Pki, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    rc, result = adhoc("ocsp_response", {"certificates": certificates, "store": str(store)})
    assert rc == 0, result
    assert result["changed"] is True
    (cert,) = result["certificates"]
    assert cert["action"] == "updated"
    assert cert["facts"]["valid"] is True
    staple = (store / "www.example.org" / "current.der").read_bytes()
    assert validate(staple, live_pki.pair, now=dt.datetime.now(dt.UTC)).valid
    assert result["diff"]["before"]["www.example.org"]["expires_at"] is None
    assert result["diff"]["after"]["www.example.org"]["expires_at"] == cert["facts"]["expires_at"]
    served = responder_stats(live_responder.url)["requests"]

    rc, again = adhoc("ocsp_response", {"certificates": certificates, "store": str(store)})
    assert rc == 0, again
    assert again["changed"] is False
    assert again["certificates"][0]["action"] == "kept"
    assert responder_stats(live_responder.url)["requests"] == served  # fresh: no request


def test_a_misbehaving_responder_warns_and_the_good_answer_is_kept(
    certificates: list[dict[str, Any]], live_responder: TestResponder, tmp_path: Path
) -> None:
    live_responder.configure(sequence=["try_later", "good"])
    rc, result = adhoc("ocsp_response", {"certificates": certificates, "store": str(tmp_path), "attempts": 3})
    assert rc == 0, result
    assert result["changed"] is True
    assert any("try_later" in w for w in result.get("warnings", []))
    assert [a["reason"] for a in result["certificates"][0]["attempts"]] == ["try_later", "ok"]


def test_no_valid_staple_fails_the_task_with_a_message_per_certificate(
    certificates: list[dict[str, Any]], live_responder: TestResponder, tmp_path: Path
) -> None:
    live_responder.configure(fault="expired_signer")
    rc, result = adhoc("ocsp_response", {"certificates": certificates, "store": str(tmp_path), "attempts": 2})
    assert rc != 0
    assert result["failed"] is True
    assert result["msg"].startswith("www.example.org: no valid staple after 2 attempts")
    assert result["certificates"][0]["action"] == "failed"
    state = json.loads((tmp_path / "www.example.org" / "state.json").read_text())
    assert state["last_outcome"] == "signer_expired"


def test_a_bad_name_fails_in_one_line(certificates: list[dict[str, Any]], tmp_path: Path) -> None:
    bad = [{**certificates[0], "name": "../escape"}]
    rc, result = adhoc("ocsp_response", {"certificates": bad, "store": str(tmp_path / "store")})
    assert rc != 0
    assert result["msg"].startswith("certificate name '../escape'")
    assert not (tmp_path / "store").exists()


def test_check_apply_check_apply_in_a_playbook(
    certificates: list[dict[str, Any]], live_responder: TestResponder, tmp_path: Path
) -> None:
    proc = playbook(PLAYBOOK, extra_vars={"certificates": certificates, "store": str(tmp_path / "store")})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (assertion,) = task_results(proc, "Check that only the first two runs report a change")
    assert assertion.get("failed") is not True
    assert responder_stats(live_responder.url)["requests"] == 2  # check mode once, apply once; fresh afterwards


def test_ansible_doc_renders() -> None:
    proc = subprocess.run(
        [str(BIN / "ansible-doc"), "-M", str(REPO / "library"), "ocsp_response"],
        capture_output=True,
        text=True,
        env=ansible_env(),
        timeout=scaled(120),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for option in ("certificates", "refresh_fraction", "critical_remaining", "metrics_path", "responder_url"):
        assert option in proc.stdout
