"""The central store: strict names, atomic files with documented modes, bounded history and quarantine, pins."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest
from ocsp_staple.central.store import Store, deploy_view
from ocsp_staple.errors import InputError, StoreError
from ocsp_staple.names import check_name

from ..conftest import NOW

pytestmark = pytest.mark.node


@pytest.mark.parametrize("name", ["www.example.org", "a", "A-1_b.c", "x" * 128, "0day"])
def test_good_names_pass(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "../etc", "a/b", "a..b", ".hidden", "-x", "x" * 129, "a b", "é", "a\nb", None, 3])
def test_bad_names_are_refused_in_one_line(name: object) -> None:
    with pytest.raises(InputError) as caught:
        check_name(name)
    assert repr(name) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_bad_name_never_reaches_the_filesystem(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    with pytest.raises(InputError):
        store.ensure("../outside")
    assert not (tmp_path / "outside").exists()
    assert not (tmp_path / "store").exists()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_current_and_history_are_written_with_documented_modes(tmp_path: Path) -> None:
    os.umask(0o077)  # the store sets its modes itself, whatever the umask
    try:
        store = Store(str(tmp_path / "store"))
        store.write_current("www", b"staple-1", this_update=NOW)
        store.write_state("www", {"consecutive_failures": 0})
    finally:
        os.umask(0o022)
    root = tmp_path / "store" / "www"
    assert (root / "current.der").read_bytes() == b"staple-1"
    assert mode(root / "current.der") == 0o644
    assert mode(root / "state.json") == 0o644
    assert mode(root / "history") == 0o755
    assert mode(root / "quarantine") == 0o755
    assert mode(root) == 0o755
    assert [p.read_bytes() for p in (root / "history").iterdir()] == [b"staple-1"]
    assert json.loads((root / "state.json").read_text())["version"] == 1
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]


def test_history_keeps_the_last_n(tmp_path: Path) -> None:
    store = Store(str(tmp_path), history_keep=3)
    for hour in range(6):
        store.write_current("www", f"staple-{hour}".encode(), this_update=NOW + dt.timedelta(hours=hour))
    kept = store.history("www")
    assert len(kept) == 3
    contents = [(tmp_path / "www" / "history" / k).read_bytes() for k in kept]
    assert contents == [b"staple-3", b"staple-4", b"staple-5"]


def test_quarantine_keeps_bytes_and_problems_bounded(tmp_path: Path) -> None:
    store = Store(str(tmp_path), quarantine_keep=4)
    for n in range(7):
        at = NOW + dt.timedelta(minutes=n)
        data = None if n % 2 else f"bad-{n}".encode()
        store.quarantine("www", data=data, record={"reason": f"r{n}"}, at=at, attempt=1)
    records = store.quarantined("www")
    assert [r["reason"] for r in records] == ["r3", "r4", "r5", "r6"]
    directory = tmp_path / "www" / "quarantine"
    ders = sorted(p.name for p in directory.glob("*.der"))
    assert ders == sorted(r["file"] for r in records if "file" in r)
    assert [(directory / r["file"]).read_bytes() for r in records if "file" in r] == [b"bad-4", b"bad-6"]


def test_state_round_trips_and_a_corrupt_state_is_named(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    assert store.read_state("www") == {}
    store.ensure("www")
    store.write_state("www", {"last_outcome": "try_later"})
    assert store.read_state("www")["last_outcome"] == "try_later"
    (tmp_path / "www" / "state.json").write_text("{half")
    with pytest.raises(StoreError, match=r"state\.json: not JSON"):
        store.read_state("www")


def test_without_a_pin_the_current_staple_is_deployed(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    assert store.to_deploy("www") == (None, None)
    store.write_current("www", b"current", this_update=NOW)
    assert store.read_pin("www") is None
    assert deploy_view(str(tmp_path), "www")["staple"] == b"current"


def test_with_a_pin_the_pinned_staple_is_deployed(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    store.write_current("www", b"current", this_update=NOW)
    (tmp_path / "www" / "pinned.der").write_bytes(b"pinned")
    (tmp_path / "www" / "pin.json").write_text(json.dumps({"by": "alice", "reason": "CA incident"}))
    pin = store.read_pin("www")
    assert pin is not None
    assert pin.staple == b"pinned"
    assert pin.record["by"] == "alice"
    assert deploy_view(str(tmp_path), "www")["staple"] == b"pinned"


@pytest.mark.parametrize("staple", ["../current.der", "/etc/passwd", "a/b", 5])
def test_a_pin_cannot_point_outside_its_directory(tmp_path: Path, staple: object) -> None:
    store = Store(str(tmp_path))
    store.ensure("www")
    (tmp_path / "www" / "pin.json").write_text(json.dumps({"staple": staple}))
    with pytest.raises(StoreError, match="field 'staple' must be a file name"):
        store.read_pin("www")


def test_the_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    with store.lock("www"), pytest.raises(StoreError, match="still held"), store.lock("www", timeout=0.2):
        pass
