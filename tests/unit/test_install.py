"""Node-side install core: re-validate, compare, write atomically, never touch on rejection."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from ocsp_staple.errors import InputError
from ocsp_staple.node.install import (
    StapleRejected,
    apply_install,
    parse_mode,
    plan_install,
    resolve_group,
    resolve_owner,
)

from testbed import forge

from ..conftest import NOW, Pki

pytestmark = pytest.mark.node


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_file_is_planned_then_written_with_its_mode(pki: Pki, tmp_path: Path) -> None:
    dest = tmp_path / "staple.der"
    data = pki.response()
    plan = plan_install(data, pki.pair, dest=str(dest), now=NOW, mode=0o640)
    assert plan.verdict.valid
    assert plan.changed
    assert plan.content_changed
    assert not dest.exists(), "planning must not write"
    assert plan.diff()["before"] == {}
    assert plan.diff()["after"]["this_update"] == "2026-03-01T11:00:00Z"
    apply_install(plan)
    assert dest.read_bytes() == data
    assert _mode(dest) == 0o640


def test_same_bytes_and_mode_is_not_a_change(pki: Pki, tmp_path: Path) -> None:
    dest = tmp_path / "staple.der"
    data = pki.response()
    dest.write_bytes(data)
    dest.chmod(0o644)
    inode = dest.stat().st_ino
    plan = plan_install(data, pki.pair, dest=str(dest), now=NOW)
    assert not plan.changed
    assert plan.attributes_changed == []
    apply_install(plan)
    assert dest.stat().st_ino == inode


def test_same_bytes_other_mode_is_fixed_in_place_and_reported(pki: Pki, tmp_path: Path) -> None:
    dest = tmp_path / "staple.der"
    data = pki.response()
    dest.write_bytes(data)
    dest.chmod(0o600)
    inode = dest.stat().st_ino
    plan = plan_install(data, pki.pair, dest=str(dest), now=NOW, mode=0o644)
    assert plan.changed
    assert not plan.content_changed
    assert plan.attributes_changed == ["mode"]
    assert plan.diff()["before"]["mode"] == "0600"
    assert plan.diff()["after"]["mode"] == "0644"
    apply_install(plan)
    assert _mode(dest) == 0o644
    assert dest.stat().st_ino == inode, "attributes are fixed without rewriting the file"


def test_other_owner_is_fixed(pki: Pki, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown to another uid needs root")
    dest = tmp_path / "staple.der"
    data = pki.response()
    dest.write_bytes(data)
    dest.chmod(0o644)
    plan = plan_install(data, pki.pair, dest=str(dest), now=NOW, owner=65534, group=65534)
    assert plan.attributes_changed == ["owner", "group"]
    apply_install(plan)
    assert (dest.stat().st_uid, dest.stat().st_gid) == (65534, 65534)
    again = plan_install(data, pki.pair, dest=str(dest), now=NOW, owner=65534, group=65534)
    assert not again.changed


def test_newer_staple_replaces_and_diff_shows_both_sides(pki: Pki, tmp_path: Path) -> None:
    dest = tmp_path / "staple.der"
    old = pki.response(this_update=NOW - dt.timedelta(days=2))
    new = pki.response(pki.responder)
    dest.write_bytes(old)
    dest.chmod(0o644)
    plan = plan_install(new, pki.pair, dest=str(dest), now=NOW)
    diff = plan.diff()
    assert diff["before"]["this_update"] == "2026-02-27T12:00:00Z"
    assert diff["after"]["this_update"] == "2026-03-01T11:00:00Z"
    assert diff["before"]["signer"] == "CN=Test CA"
    assert diff["after"]["signer"] == "CN=Test CA OCSP Responder"
    assert diff["before"]["expires_at"] != diff["after"]["expires_at"]
    apply_install(plan)
    assert dest.read_bytes() == new


@pytest.mark.parametrize(
    ("case", "codes"),
    [
        ("try_later", {"try_later"}),
        ("other_certificate", {"cert_id_mismatch"}),
        ("expired_signer", {"signer_expired"}),
    ],
)
def test_invalid_staple_is_rejected_with_every_problem_and_file_untouched(
    pki: Pki, tmp_path: Path, case: str, codes: set[str]
) -> None:
    dest = tmp_path / "staple.der"
    good = pki.response()
    dest.write_bytes(good)
    dest.chmod(0o600)
    if case == "try_later":
        data = forge.unsuccessful("try_later")
    elif case == "other_certificate":
        other = forge.make_leaf(pki.ca, "other.example.org", now=NOW)
        data = pki.response(leaf=other)
    else:
        expired = forge.make_responder(pki.ca, "Expired responder", now=NOW, not_after=NOW - dt.timedelta(hours=1))
        data = pki.response(expired)
    plan = plan_install(data, pki.pair, dest=str(dest), now=NOW, mode=0o644)
    assert not plan.verdict.valid
    assert codes <= set(plan.verdict.codes)
    with pytest.raises(StapleRejected) as raised:
        apply_install(plan)
    message = str(raised.value)
    assert str(dest) in message
    for problem in plan.verdict.problems:
        assert problem.message in message
    assert dest.read_bytes() == good
    assert _mode(dest) == 0o600


def test_invalid_old_file_does_not_block_a_valid_new_one(pki: Pki, tmp_path: Path) -> None:
    dest = tmp_path / "staple.der"
    dest.write_bytes(forge.unsuccessful("try_later"))
    new = pki.response()
    plan = plan_install(new, pki.pair, dest=str(dest), now=NOW)
    assert plan.diff()["before"]["valid"] is False
    assert plan.diff()["before"]["codes"] == ["try_later"]
    apply_install(plan)
    assert dest.read_bytes() == new


@pytest.mark.parametrize(
    ("given", "expected"),
    [("0644", 0o644), ("600", 0o600), (0o640, 0o640), ("u=rw,g=r", None), ("17777", None)],
)
def test_parse_mode(given: str | int, expected: int | None) -> None:
    if expected is None:
        with pytest.raises(InputError, match="mode"):
            parse_mode(given)
    else:
        assert parse_mode(given) == expected


def test_owner_and_group_names_resolve_and_unknown_names_fail() -> None:
    assert resolve_owner("root") == 0
    assert resolve_group("0") == 0
    assert resolve_owner(None) is None
    with pytest.raises(InputError, match="no such user 'no-such-user-xyz'"):
        resolve_owner("no-such-user-xyz")
    with pytest.raises(InputError, match="no such group"):
        resolve_group("no-such-group-xyz")
