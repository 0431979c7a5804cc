"""ocsp_response_info through Ansible, on the controller's Python and on Debian's python3.

Every good and bad case of the policy table is written to disk and judged by the module
in one playbook run per interpreter; the codes must equal those of the core's own table.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

from testbed import forge

from ..ansible_run import NODE_PYTHON, adhoc, playbook, task_results
from ..conftest import Pki, build_pki
from ..unit.test_policy import ACCEPT, REJECT

pytestmark = pytest.mark.integration

PLAYBOOK = Path(__file__).parent / "playbooks" / "response_info.yml"


@pytest.fixture(scope="module")
def live_pki() -> Pki:
    """A PKI on the real clock: the module reads the time itself."""
    return build_pki("ec", now=dt.datetime.now(dt.UTC).replace(microsecond=0))


@pytest.mark.parametrize("python", [sys.executable, NODE_PYTHON], ids=["controller", "debian-python3"])
def test_every_case_through_the_module(python: str, live_pki: Pki, tmp_path: Path) -> None:
    files = live_pki.write_files(tmp_path)
    cases, expected = [], {}
    for name, scenario in ACCEPT.items():
        expected[name] = []
        cases.append({"name": name, "data": scenario(live_pki)})
    for name, (scenario, codes) in REJECT.items():
        expected[name] = sorted(codes)
        cases.append({"name": name, "data": scenario(live_pki)})
    for case in cases:
        path = tmp_path / f"{case['name']}.der"
        path.write_bytes(case.pop("data"))
        case["path"] = str(path)
    proc = playbook(
        PLAYBOOK,
        extra_vars={
            "cases": cases,
            "certificate": files["leaf"],
            "issuer": files["ca"],
            "ansible_python_interpreter": python,
        },
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (result,) = task_results(proc, "Validate each staple against the leaf and its issuer")
    got = {item["item"]["name"]: sorted(item["codes"]) for item in result["results"]}
    assert got == expected
    for item in result["results"]:
        assert item["valid"] is (not expected[item["item"]["name"]])
        assert item["changed"] is False


def test_adhoc_good_and_bad(live_pki: Pki, tmp_path: Path) -> None:
    files = live_pki.write_files(tmp_path)
    good, bad = tmp_path / "good.der", tmp_path / "trylater.der"
    good.write_bytes(live_pki.response())
    bad.write_bytes(forge.unsuccessful("try_later"))
    rc, result = adhoc(
        "ocsp_response_info", f"path={good} certificate={files['leaf']} issuer={files['ca']}", python=NODE_PYTHON
    )
    assert rc == 0
    assert result["valid"] is True
    assert result["status"] == "good"
    rc, result = adhoc("ocsp_response_info", f"path={bad} certificate={files['chain']}")
    assert rc == 0, "a bad staple is a result, not a task failure"
    assert result["valid"] is False
    assert result["codes"] == ["try_later"]


def test_unreadable_certificate_fails_the_task_in_one_line(tmp_path: Path) -> None:
    staple = tmp_path / "s.der"
    staple.write_bytes(b"\x30\x03\x0a\x01\x03")
    rc, result = adhoc("ocsp_response_info", {"path": str(staple), "certificate": str(tmp_path / "missing.pem")})
    assert rc != 0
    assert result["failed"] is True
    assert result["msg"] == f"certificate file {tmp_path}/missing.pem: cannot read: No such file or directory"


def test_content_option_takes_base64(live_pki: Pki, tmp_path: Path) -> None:
    import base64

    files = live_pki.write_files(tmp_path)
    content = base64.b64encode(live_pki.response(cert_id_hash="sha256")).decode()
    rc, result = adhoc("ocsp_response_info", {"content": content, "certificate": files["chain"]})
    assert rc == 0
    assert result["valid"] is True
    assert result["cert_id"]["hash_algorithm"] == "sha256"
    assert json.dumps(result)  # serialisable facts
