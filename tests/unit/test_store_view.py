"""What the rollout reads from the store: deploy_view / names, and the ocsp_store_info module."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ocsp_staple.central.store import deploy_view, names
from ocsp_staple.errors import InputError, StoreError

from ..conftest import Pki

pytestmark = pytest.mark.node


def _cert_dir(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir(parents=True)
    return path


def test_current_staple_is_deployed_when_not_frozen(pki: Pki, tmp_path: Path) -> None:
    d = _cert_dir(tmp_path, "www.example.org")
    (d / "current.der").write_bytes(pki.response())
    (d / "state.json").write_text(json.dumps({"last_outcome": "try_later", "consecutive_failures": 3}))
    view = deploy_view(str(tmp_path), "www.example.org")
    assert view["staple"] == (d / "current.der").read_bytes()
    assert view["source"] == "current"
    assert view["frozen"] is False
    assert view["last_outcome"] == "try_later"
    assert view["consecutive_failures"] == 3


def test_the_pin_wins_while_frozen(pki: Pki, tmp_path: Path) -> None:
    d = _cert_dir(tmp_path, "www.example.org")
    (d / "current.der").write_bytes(b"current")
    (d / "pinned.der").write_bytes(b"pinned")
    (d / "pin.json").write_text(json.dumps({"reason": "CA signer expiring", "by": "alice"}))
    view = deploy_view(str(tmp_path), "www.example.org")
    assert view["staple"] == b"pinned"
    assert view["source"] == "pin"
    assert view["frozen"] is True
    assert view["pin"]["reason"] == "CA signer expiring"


def test_nothing_stored_yet(tmp_path: Path) -> None:
    view = deploy_view(str(tmp_path), "new.example.org")
    assert view["staple"] is None
    assert view["source"] is None
    assert view["frozen"] is False


def test_names_lists_certificate_directories_only(tmp_path: Path) -> None:
    for name in ("b.example", "a.example"):
        _cert_dir(tmp_path, name)
    (tmp_path / "stray-file").write_text("x")
    (tmp_path / ".hidden").mkdir()
    assert names(str(tmp_path)) == ["a.example", "b.example"]
    assert names(str(tmp_path / "missing")) == []


def test_bad_name_and_corrupt_pin_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"certificate name '\.\./etc'"):
        deploy_view(str(tmp_path), "../etc")
    d = _cert_dir(tmp_path, "www")
    (d / "pin.json").write_text("{not json")
    with pytest.raises(StoreError, match=r"^pin file .*/www/pin.json: not JSON"):
        deploy_view(str(tmp_path), "www")
