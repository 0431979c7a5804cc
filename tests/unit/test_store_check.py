"""Store mode of the monitoring check: ``ocsp-staple check --store DIR`` over every certificate.

Stores are laid out by hand (current.der, pin.json + pinned.der, state.json as the refresh
writes it), so the judgement is tested on its own and on Debian's python3 (node marker);
one test lets the real refresh write the store the check then reads.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from ocsp_staple.certs import iso
from ocsp_staple.cli import main
from ocsp_staple.monitor.check import CRITICAL, OK, UNKNOWN, WARNING
from ocsp_staple.monitor.storecheck import check_store

from testbed import forge

from ..conftest import NOW, Pki

pytestmark = pytest.mark.node

H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
NOW_ARG = iso(NOW) or ""


def entry(
    root: Path,
    name: str,
    certificate: str,
    *,
    current: bytes | None = None,
    pinned: bytes | None = None,
    pin: dict[str, Any] | None = None,
    issuer: str | None = None,
    record: bool = True,
    **state: Any,
) -> Path:
    """One certificate directory as the refresh (and the freeze) leave it."""
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    if current is not None:
        (directory / "current.der").write_bytes(current)
    if pin is not None:
        (directory / "pin.json").write_text(json.dumps(pin))
        if pinned is not None:
            (directory / pin.get("staple", "pinned.der")).write_bytes(pinned)
    full = {"version": 1, "name": name, "consecutive_failures": 0, "last_outcome": "ok", **state}
    full.setdefault("last_success_at", iso(NOW - H))
    if record:
        full["certificate"] = {"certificate": certificate, "issuer": issuer, "responder_url": None}
    (directory / "state.json").write_text(json.dumps(full))
    return directory


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(["check", *argv, "--now", NOW_ARG])
    out, err = capsys.readouterr()
    assert err == ""
    return code, out.splitlines()


def incident(pki: Pki) -> bytes:
    """2015-08-20: a 12-hour window signed by a responder certificate that expires in 50 minutes."""
    signer = forge.make_responder(
        pki.ca, "Incident Responder", now=NOW - D, not_after=NOW + 50 * dt.timedelta(minutes=1)
    )
    return pki.response(signer, this_update=NOW, next_update=NOW + 12 * H)


def test_healthy_store_is_ok_and_lists_certificates_without_an_ocsp_url(
    pki: Pki, pki_files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    entry(root, "www", pki_files["chain"], current=pki.response())
    entry(root, "api", pki_files["chain"], current=pki.response(this_update=NOW - 2 * D))
    plain = forge.make_leaf(pki.ca, "plain.example.org", now=NOW, ocsp_url=None)
    (tmp_path / "plain.pem").write_bytes(plain.pem + pki.ca.pem)
    entry(root, "plain", str(tmp_path / "plain.pem"), last_success_at=None, last_outcome=None)
    code, lines = check(capsys, "--store", str(root))
    assert code == OK, lines
    status, perf = lines[0].split(" | ")
    # The closest limit first: api's staple (thisUpdate 2 days ago) expires before www's.
    assert status == (
        f"OK: api staple expires in 5 d (nextUpdate {iso(NOW + 5 * D)}) - 2 certificates: 2 OK; not applicable: plain"
    )
    assert perf.split() == [
        "api_remaining=432000s;241920;120960;0;604800",
        "api_window=604800s",
        "api_failures=0;5;50;0",
        "api_success_age=3600s;453600;544320;0",
        "api_frozen=0",
        "www_remaining=601200s;241920;120960;0;604800",
        "www_window=604800s",
        "www_failures=0;5;50;0",
        "www_success_age=3600s;453600;544320;0",
        "www_frozen=0",
    ]
    assert lines[1:] == [
        f"OK: api staple expires in 5 d (nextUpdate {iso(NOW + 5 * D)})",
        f"OK: www staple expires in 6 d 23 h (nextUpdate {iso(NOW + 167 * H)})",
        "INFO: plain: not applicable, no OCSP URL in the certificate and no responder_url",
    ]


def test_incident_staple_in_the_store_is_critical_naming_the_signer(
    pki: Pki, pki_files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    entry(root, "www", pki_files["chain"], current=incident(pki))
    entry(root, "api", pki_files["chain"], current=pki.response())
    code, lines = check(capsys, "--store", str(root))
    assert code == CRITICAL, lines
    assert lines[0].startswith(
        "CRITICAL: www staple signer certificate CN=Incident Responder expires in 50 min "
        f"({iso(NOW + 50 * dt.timedelta(minutes=1))}, before nextUpdate in 12 h) - 2 certificates: 1 CRITICAL, 1 OK | "
    )
    assert "www_remaining=3000s;17280;8640;0;43200" in lines[0].split(" | ")[1].split()
    assert lines[1].startswith("CRITICAL: www staple signer certificate CN=Incident Responder expires in 50 min")
    assert lines[2].startswith("OK: api staple expires in 6 d 23 h")


def test_pin_nearing_expiry_is_warning(
    pki: Pki, pki_files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    pin = {"who": "alice", "frozen_since": iso(NOW - 4 * D), "why": "CA responder signs with an expiring key"}
    # 3 d of a 7-day window left: above -w 40 % (2 d 19 h), below the pin warning (50 %: 3 d 12 h).
    old = pki.response(this_update=NOW - 4 * D, next_update=NOW + 3 * D)
    entry(root, "www", pki_files["chain"], current=pki.response(), pin=pin, pinned=old)
    code, lines = check(capsys, "--store", str(root))
    assert code == WARNING, lines
    assert lines[0].split(" | ")[0] == (
        f"WARNING: www pinned staple expires in 3 d ({iso(NOW + 3 * D)}) - below pin warning 3 d 12 h: thaw www or "
        f"freeze a newer staple (pinned by alice since {iso(NOW - 4 * D)}: CA responder signs with an expiring key) - "
        "1 certificate: 1 WARNING"
    )
    assert "www_frozen=1" in lines[0].split(" | ")[1].split()

    # A fresh 7-day pin is fine; a 12-hour pin warns from the start (the 24 h floor).
    entry(root, "www", pki_files["chain"], pin=pin, pinned=pki.response(this_update=NOW - H))
    code, lines = check(capsys, "--store", str(root))
    assert code == OK, lines
    assert lines[0].startswith(f"OK: www pinned staple expires in 6 d 23 h (nextUpdate {iso(NOW + 167 * H)}) - ")
    entry(root, "www", pki_files["chain"], pin=pin, pinned=pki.response(this_update=NOW - H, next_update=NOW + 11 * H))
    code, lines = check(capsys, "--store", str(root))
    assert code == WARNING, lines
    assert "below pin warning 24 h" in lines[0]
    # Only the pin counts while frozen: a missing pinned file is CRITICAL even with a good current.der.
    (root / "www" / "pinned.der").unlink()
    code, lines = check(capsys, "--store", str(root))
    assert code == CRITICAL
    assert lines[1].startswith("CRITICAL: www: the pinned staple named by pin.json is missing (pinned by alice")


@pytest.mark.parametrize(
    ("failures", "state", "tail"),
    [(4, OK, None), (5, WARNING, "warning at 5"), (50, CRITICAL, "critical at 50")],
)
def test_consecutive_failures(
    failures: int,
    state: int,
    tail: str | None,
    pki: Pki,
    pki_files: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = tmp_path / "store"
    entry(
        root,
        "www",
        pki_files["chain"],
        current=pki.response(),
        consecutive_failures=failures,
        last_outcome="try_later",
        last_attempt_at=iso(NOW - 5 * dt.timedelta(minutes=1)),
    )
    code, lines = check(capsys, "--store", str(root))
    assert code == state, lines
    assert f"www_failures={failures};5;50;0" in lines[0]
    if tail:
        assert lines[1] == (
            f"{'WARNING' if state == WARNING else 'CRITICAL'}: www: {failures} failed attempts in a row "
            f"(last: try_later at {iso(NOW - 5 * dt.timedelta(minutes=1))}) - {tail}"
        )


def test_age_of_the_last_valid_answer(
    pki: Pki, pki_files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    entry(root, "www", pki_files["chain"], current=pki.response(), last_success_at=iso(NOW - 6 * D))
    code, lines = check(capsys, "--store", str(root))
    assert code == WARNING, lines
    assert lines[1] == f"WARNING: www: last valid answer 6 d ago ({iso(NOW - 6 * D)}) - above warning 5 d 6 h"
    code, lines = check(capsys, "--store", str(root), "--age-warning", "7d", "--age-critical", "5d")
    assert code == CRITICAL
    assert lines[1].endswith("above critical 5 d")
    entry(root, "www", pki_files["chain"], current=pki.response(), last_success_at=None)
    code, lines = check(capsys, "--store", str(root))
    assert (code, lines[1]) == (WARNING, "WARNING: www: no valid answer recorded in state.json")


def test_what_the_check_cannot_judge_and_what_is_missing(
    pki: Pki, pki_files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    entry(root, "never", pki_files["chain"], last_success_at=None, last_outcome="timeout", consecutive_failures=3)
    entry(root, "unrecorded", pki_files["chain"], current=pki.response(), record=False)
    entry(root, "gone", str(tmp_path / "gone.pem"), current=pki.response())
    strict = forge.make_leaf(pki.ca, "strict.example.org", now=NOW, ocsp_url=None, must_staple=True)
    (tmp_path / "strict.pem").write_bytes(strict.pem + pki.ca.pem)
    entry(root, "strict", str(tmp_path / "strict.pem"))
    code, lines = check(capsys, "--store", str(root))
    assert code == CRITICAL
    # CRITICAL first (no staple sorts as the closest limit), then UNKNOWN.
    assert lines[0].startswith("CRITICAL: never: no staple in the store (last outcome: timeout) - ")
    assert "4 certificates: 2 CRITICAL, 2 UNKNOWN" in lines[0]
    assert lines[1:] == [
        "CRITICAL: never: no staple in the store (last outcome: timeout)",
        "CRITICAL: strict: Must-Staple certificate CN=strict.example.org has no OCSP URL in the certificate and no "
        "responder_url: clients reject it without a staple",
        f"UNKNOWN: gone: certificate file {tmp_path / 'gone.pem'}: cannot read: No such file or directory",
        "UNKNOWN: unrecorded: the store does not record its certificate file: pass --certificates FILE "
        "(the refresh's list) or let the refresh run once",
    ]
    # --certificates supplies the files; --name narrows the check.
    certs = tmp_path / "certs.json"
    certs.write_text(json.dumps([{"name": "unrecorded", "certificate": pki_files["chain"]}]))
    code, lines = check(capsys, "--store", str(root), "--certificates", str(certs))
    assert code == OK, lines
    code, lines = check(capsys, "--store", str(root), "--name", "gone", "--name", "never")
    assert code == CRITICAL
    assert [line.split(":")[1].strip() for line in lines[1:]] == ["never", "gone"]


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_a_store_without_certificates_is_unknown(make: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "store"
    if make == "empty":
        root.mkdir()
    code, lines = check(capsys, "--store", str(root))
    assert code == UNKNOWN
    what = "does not exist" if make == "missing" else "holds no certificate"
    assert lines == [f"UNKNOWN: store {root} {what} (nothing to check)"]


def test_bad_store_options_are_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = check(capsys, "--store", str(tmp_path), "--pin-warning", "soon")
    assert (code, lines) == (
        UNKNOWN,
        ["UNKNOWN: --pin-warning: expected a duration like 4h, 90m, 1d12h or seconds, got 'soon'"],
    )
    code, lines = check(capsys, "--store", str(tmp_path), "--file", "x.der")
    assert lines == ["UNKNOWN: check: give one mode only (--file, --connect or --store), not several"]


@pytest.mark.integration
def test_the_check_reads_what_the_refresh_wrote(pki: Pki, pki_files: dict[str, str], tmp_path: Path) -> None:
    """The refresh records each certificate's files, also for a certificate without an OCSP URL, once."""
    pytest.importorskip("requests")
    from ocsp_staple.central.options import RefreshOptions
    from ocsp_staple.central.refresh import run
    from ocsp_staple.spec import CertificateSpec

    from testbed.ocsp_responder import TestResponder

    plain = forge.make_leaf(pki.ca, "plain.example.org", now=NOW, ocsp_url=None)
    (tmp_path / "plain.pem").write_bytes(plain.pem + pki.ca.pem)
    root = tmp_path / "store"
    server = TestResponder(pki.ca, clock=lambda: NOW)
    server.start()
    try:
        specs = [
            CertificateSpec("www", pki_files["leaf"], pki_files["ca"], server.url),
            CertificateSpec("plain", str(tmp_path / "plain.pem")),
        ]
        run(specs, str(root), RefreshOptions(backoff=0.01), clock=lambda: NOW)
        state = json.loads((root / "plain" / "state.json").read_text())
        assert state["not_applicable"] == "no OCSP URL in the certificate and no responder_url"
        assert state["certificate"]["certificate"] == str(tmp_path / "plain.pem")
        www = json.loads((root / "www" / "state.json").read_text())
        assert www["certificate"] == {
            "certificate": pki_files["leaf"],
            "issuer": pki_files["ca"],
            "responder_url": server.url,
        }
        assert "not_applicable" not in www
        before = (root / "plain" / "state.json").stat().st_mtime_ns
        run(specs, str(root), RefreshOptions(backoff=0.01), clock=lambda: NOW + H)
        assert (root / "plain" / "state.json").stat().st_mtime_ns == before, "nothing changed: nothing written"
    finally:
        server.stop()
    result = check_store(str(root), now=NOW + H)
    assert result.state == OK, result.output
    assert re.match(r"^www staple expires in 6 d 22 h .* - 1 certificate: 1 OK; not applicable: plain$", result.message)
    assert result.details[-1] == "INFO: plain: not applicable, no OCSP URL in the certificate and no responder_url"


def test_stapling_switched_off_is_a_warning(
    pki: Pki, pki_files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    entry(root, "www", pki_files["chain"], current=pki.response())
    switch = {"who": "bob", "when": iso(NOW - H), "why": "responder outage"}
    (root / "stapling.json").write_text(json.dumps({"all": switch, "certificates": {}}))
    code, lines = check(capsys, "--store", str(root))
    assert code == WARNING, lines
    assert lines[1] == f"WARNING: www: stapling switched off (by bob since {iso(NOW - H)}: responder outage)"


def test_a_staple_without_next_update_is_judged_with_the_lifetime_the_refresh_recorded(
    pki: Pki, pki_files: dict[str, str], tmp_path: Path
) -> None:
    """assume_lifetime_without_next_update: the store check judges as the refresh that stored it."""
    root = tmp_path / "store"
    bare = pki.response(this_update=NOW - H, next_update=None)
    opted = entry(root, "opted", pki_files["chain"], current=bare)
    state = json.loads((opted / "state.json").read_text())
    state["certificate"]["assume_lifetime_without_next_update"] = "12h"
    (opted / "state.json").write_text(json.dumps(state))
    entry(root, "plain", pki_files["chain"], current=bare)
    result = check_store(str(root), now=NOW)
    assert result.state == CRITICAL, result.line
    assert result.details == [
        "CRITICAL: staple for plain: nextUpdate is absent: the response has no end of validity to staple against "
        + result.details[0].split("staple against ", 1)[1],
        f"OK: opted staple expires in 11 h (assumed end {iso(NOW + 11 * H)}: thisUpdate + 12 h, no nextUpdate)",
    ]
    assert "assume_lifetime_without_next_update" in result.details[0]
    # The run-wide setting (the refresh's global option) covers the certificate without its own.
    assert check_store(str(root), now=NOW, assume_lifetime=12 * 3600).state == OK
