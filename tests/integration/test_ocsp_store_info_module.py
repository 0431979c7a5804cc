"""ocsp_store_info through Ansible, on Debian's python3."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_ocsp_store_info_module(tmp_path: Path) -> None:
    from ..ansible_run import NODE_PYTHON, adhoc

    d = tmp_path / "www"
    d.mkdir()
    (d / "current.der").write_bytes(b"\x30\x03\x0a\x01\x03")
    rc, result = adhoc("ocsp_store_info", {"store": str(tmp_path)}, python=NODE_PYTHON)
    assert rc == 0
    assert result["changed"] is False
    assert base64.b64decode(result["certificates"]["www"]["staple"]) == b"\x30\x03\x0a\x01\x03"
    rc, result = adhoc("ocsp_store_info", {"store": str(tmp_path), "names": ["a/b"]})
    assert rc != 0
    assert result["msg"].startswith("certificate name 'a/b': must be")
