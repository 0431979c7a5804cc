"""ocsp_staple through ansible-playbook, on the controller's Python and on Debian's python3.

check mode -> apply -> check mode -> apply (changed, changed, not, not), a mode-only fix,
a refused staple that leaves the deployed file byte-identical, and the diff.
"""

from __future__ import annotations

import base64
import datetime as dt
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from testbed import forge

from ..ansible_run import NODE_PYTHON, playbook, task_results
from ..conftest import Pki, build_pki

pytestmark = pytest.mark.integration

PLAYBOOK = Path(__file__).parent / "playbooks" / "staple.yml"
TASK = "Install the staple on the node"
PYTHONS = pytest.mark.parametrize("python", [sys.executable, NODE_PYTHON], ids=["controller", "debian-python3"])


@pytest.fixture(scope="module")
def live_pki() -> Pki:
    """A PKI on the real clock: the module reads the time itself."""
    return build_pki("ec", now=dt.datetime.now(dt.UTC).replace(microsecond=0))


def install(
    python: str, staple: bytes, dest: Path, certificate: str, *, check: bool = False, mode: str = "0640"
) -> tuple[int, dict[str, Any]]:
    proc = playbook(
        PLAYBOOK,
        extra_vars={
            "staple_b64": base64.b64encode(staple).decode(),
            "dest": str(dest),
            "certificate": certificate,
            "staple_mode": mode,
            "ansible_python_interpreter": python,
        },
        args=["--diff", *(["--check"] if check else [])],
    )
    (result,) = task_results(proc, TASK)
    return proc.returncode, result


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@PYTHONS
def test_check_apply_check_apply(python: str, live_pki: Pki, tmp_path: Path) -> None:
    chain = live_pki.write_files(tmp_path)["chain"]
    dest = tmp_path / "www.example.org.der"
    staple = live_pki.response(live_pki.responder)

    rc, result = install(python, staple, dest, chain, check=True)
    assert (rc, result["changed"]) == (0, True), result
    assert not dest.exists(), "check mode writes nothing"
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["signer"] == "CN=Test CA OCSP Responder"
    assert result["diff"]["after"]["mode"] == "0640"

    rc, result = install(python, staple, dest, chain)
    assert (rc, result["changed"], result["content_changed"]) == (0, True, True), result
    assert dest.read_bytes() == staple
    assert mode_of(dest) == 0o640
    inode = dest.stat().st_ino

    rc, result = install(python, staple, dest, chain, check=True)
    assert (rc, result["changed"]) == (0, False), result

    rc, result = install(python, staple, dest, chain)
    assert (rc, result["changed"]) == (0, False), result
    assert result["valid"] is True
    assert dest.stat().st_ino == inode, "an unchanged staple is not rewritten"


@PYTHONS
def test_mode_only_difference_is_fixed_and_reported(python: str, live_pki: Pki, tmp_path: Path) -> None:
    chain = live_pki.write_files(tmp_path)["chain"]
    dest = tmp_path / "www.example.org.der"
    staple = live_pki.response()
    dest.write_bytes(staple)
    dest.chmod(0o600)
    rc, result = install(python, staple, dest, chain, mode="0644")
    assert rc == 0, result
    assert result["changed"] is True
    assert result["content_changed"] is False
    assert result["attributes_changed"] == ["mode"]
    assert result["diff"]["before"]["mode"] == "0600"
    assert mode_of(dest) == 0o644
    assert dest.read_bytes() == staple


@PYTHONS
def test_newer_staple_shows_both_sides_in_check_mode(python: str, live_pki: Pki, tmp_path: Path) -> None:
    chain = live_pki.write_files(tmp_path)["chain"]
    dest = tmp_path / "www.example.org.der"
    old = live_pki.response(this_update=live_pki.now - dt.timedelta(days=2))
    dest.write_bytes(old)
    new = live_pki.response()
    rc, result = install(python, new, dest, chain, check=True)
    assert (rc, result["changed"]) == (0, True), result
    before, after = result["diff"]["before"], result["diff"]["after"]
    assert before["this_update"] < after["this_update"]
    assert before["expires_at"] < after["expires_at"]
    assert dest.read_bytes() == old


@PYTHONS
@pytest.mark.parametrize("case", ["other_certificate", "try_later"])
def test_refused_staple_fails_and_keeps_the_old_file(python: str, case: str, live_pki: Pki, tmp_path: Path) -> None:
    chain = live_pki.write_files(tmp_path)["chain"]
    dest = tmp_path / "www.example.org.der"
    good = live_pki.response()
    dest.write_bytes(good)
    dest.chmod(0o600)
    if case == "other_certificate":
        # The central host's certificate differs from this node's: same name, other serial and key.
        central = forge.make_leaf(live_pki.ca, "www.example.org", now=live_pki.now)
        bad = live_pki.response(leaf=central)
        codes = ["cert_id_mismatch"]
    else:
        bad = forge.unsuccessful("try_later")
        codes = ["try_later"]
    for check in (True, False):
        rc, result = install(python, bad, dest, chain, check=check, mode="0644")
        assert rc != 0
        assert result["failed"] is True
        assert result["codes"] == codes
        assert f"{dest} left untouched" in result["msg"]
        for problem in result["problems"]:
            assert problem["message"] in result["msg"]
        assert dest.read_bytes() == good
        assert mode_of(dest) == 0o600
