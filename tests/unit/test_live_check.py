"""Live mode: what a real nginx staples, compared with the deployed file and judged (core + CLI).

The report logic is tested first on hand-made :class:`Served` values, then end to end: a
real nginx from the testbed on 127.0.0.1, real TLS, ``ocsp-staple check/show --connect``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ocsp_staple.certs import iso, load_pair
from ocsp_staple.cli import main
from ocsp_staple.monitor.check import CRITICAL, OK, judge_served
from ocsp_staple.node.live import Served, fetch_served_staple
from ocsp_staple.node.served import inspect_served

from testbed import forge
from testbed.fleet import Fleet, Node, free_port_block
from testbed.pki import DemoPki

from ..conftest import NOW, REPO, WALL_NOW, Pki

pytestmark = pytest.mark.node

H = dt.timedelta(hours=1)
WWW = "www.demo.test"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the report on hand-made Served values (no network) ---------------------------------------


def served_by(pki: Pki, staple: bytes | None, *, leaf: forge.Issued | None = None) -> Served:
    return Served("127.0.0.1", 8443, "www.example.org", staple, (leaf or pki.leaf).cert, [pki.ca.cert], "TLSv1.3")


def test_no_expect_file_means_no_comparison(pki: Pki) -> None:
    report = inspect_served(served_by(pki, pki.response()), pki.pair, now=NOW)
    assert report.matches is None
    assert report.valid
    assert report.failure(require_valid=True) is None
    assert report.as_dict()["file_exists"] is None


@pytest.mark.parametrize(
    ("served", "deployed", "failure"),
    [
        pytest.param("a", "a", None, id="same-bytes"),
        pytest.param(None, None, None, id="nothing-served-nothing-deployed"),
        pytest.param(
            "a",
            "b",
            r"^www\.example\.org on 127\.0\.0\.1:8443 serves a staple that differs from \S+/deployed\.der "
            r"\(served sha256 [0-9a-f]{12}…, file [0-9a-f]{12}…\): nginx was not reloaded or the reload failed$",
            id="differs",
        ),
        pytest.param(
            None,
            "b",
            r"^www\.example\.org on 127\.0\.0\.1:8443 serves no staple although \S+/deployed\.der is deployed "
            r"\(file sha256 [0-9a-f]{12}…\): stapling is off for this server block, or nginx was not reloaded",
            id="nothing-served",
        ),
        pytest.param(
            "a",
            None,
            r"^www\.example\.org on 127\.0\.0\.1:8443 serves a staple \(sha256 [0-9a-f]{12}…\) but \S+/deployed\.der "
            r"does not exist: nginx was not reloaded or the reload failed after the file was removed$",
            id="file-removed",
        ),
    ],
)
def test_served_bytes_against_the_deployed_file(
    served: str | None, deployed: str | None, failure: str | None, pki: Pki, tmp_path: Path
) -> None:
    staples = {"a": pki.response(), "b": pki.response(this_update=NOW - 2 * H)}
    path = tmp_path / "deployed.der"
    if deployed:
        path.write_bytes(staples[deployed])
    report = inspect_served(
        served_by(pki, staples[served] if served else None), pki.pair, now=NOW, expect_file=str(path)
    )
    assert report.matches is (failure is None)
    assert report.file_sha256 == (sha(staples[deployed]) if deployed else None)
    assert report.served_sha256 == (sha(staples[served]) if served else None)
    message = report.failure()
    if failure is None:
        assert message is None
    else:
        assert message is not None
        assert re.match(failure, message), message
        assert "\n" not in message
        # The monitoring check: CRITICAL, with the same line (no staple at all is said its own way).
        result = judge_served(report)
        assert result.state == CRITICAL
        assert result.message == (
            message
            if served
            else f"www.example.org on 127.0.0.1:8443 serves no staple (stapling expected); {path} is deployed"
        )


def test_require_valid_fails_an_invalid_or_missing_staple(pki: Pki) -> None:
    expired = pki.response(this_update=NOW - 8 * 24 * H, next_update=NOW - 24 * H)
    report = inspect_served(served_by(pki, expired), pki.pair, now=NOW)
    assert report.failure() is None, "without require_valid an invalid staple is a result"
    assert report.failure(require_valid=True) == (
        "staple for www.example.org on 127.0.0.1:8443: nextUpdate 2026-02-28T12:00:00Z passed 24 h ago"
    )
    missing = inspect_served(served_by(pki, None), pki.pair, now=NOW)
    assert not missing.valid
    assert missing.failure(require_valid=True) == "www.example.org on 127.0.0.1:8443 serves no staple"
    assert missing.as_dict()["codes"] == []


def test_a_served_leaf_other_than_the_node_file_is_named(pki: Pki) -> None:
    other = forge.make_leaf(pki.ca, "www.example.org", now=NOW)  # same name, other serial and key
    report = inspect_served(served_by(pki, pki.response(leaf=other), leaf=other), pki.pair, now=NOW)
    assert not report.certificate_matches
    assert report.verdict is not None
    assert report.verdict.codes == ["cert_id_mismatch"]
    message = report.failure(require_valid=True)
    assert message is not None
    assert message.endswith("; 127.0.0.1:8443 serves CN=www.example.org, not the leaf of test leaf")


# --- a real nginx ---------------------------------------------------------------------------------


def staple(demo_pki: DemoPki, *, this_update: dt.datetime | None = None, **kw: object) -> bytes:
    this = this_update or WALL_NOW - H
    return forge.make_response(
        demo_pki.leaf(WWW).cert,
        demo_pki.ca().cert,
        kw.pop("signer", None) or demo_pki.responder(),  # type: ignore[arg-type]
        this_update=this,
        next_update=kw.pop("next_update", this + 7 * 24 * H),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def serve(node: Node, data: bytes | None) -> Path:
    node.set_stapling(WWW, data)
    node.reload()
    return node.staple_path(WWW)


def check(capsys: pytest.CaptureFixture[str], node: Node, *argv: str) -> tuple[int, str]:
    code = main(["check", "--connect", node.endpoint, "--servername", WWW, *argv, "--now", iso(WALL_NOW) or ""])
    out, err = capsys.readouterr()
    assert err == ""
    assert len(out.splitlines()) == 1, out
    return code, out.rstrip("\n")


@pytest.mark.integration
def test_valid_staple_is_ok_and_matches_the_deployed_file(
    demo_fleet: Fleet, demo_pki: DemoPki, capsys: pytest.CaptureFixture[str]
) -> None:
    node = demo_fleet.nodes[0]
    data = staple(demo_pki)
    path = serve(node, data)
    code, line = check(capsys, node, "--expect-file", str(path))
    assert code == OK, line
    assert re.match(
        rf"^OK: {WWW} on {node.endpoint} staple expires in 6 d 23 h \(nextUpdate {iso(WALL_NOW + 167 * H)}\) "
        r"\| remaining=\d+s;\d+;\d+;0;604800 window=604800s$",
        line,
    )
    # Against the node's own files instead of the served chain: the same verdict.
    code, line = check(capsys, node, "--cert", demo_pki.leaves[WWW].fullchain, "--expect-file", str(path))
    assert code == OK, line
    report = inspect_served(
        fetch_served_staple(node.host, node.port, servername=WWW, timeout=5),
        load_pair(demo_pki.leaves[WWW].fullchain),
        now=WALL_NOW,
        expect_file=str(path),
    )
    assert (report.matches, report.valid, report.served_sha256) == (True, True, sha(data))
    assert report.failure(require_valid=True) is None


@pytest.mark.integration
def test_file_replaced_without_reload_is_critical_naming_the_mismatch(
    demo_fleet: Fleet, demo_pki: DemoPki, capsys: pytest.CaptureFixture[str]
) -> None:
    node = demo_fleet.nodes[0]
    old = staple(demo_pki, this_update=WALL_NOW - 2 * H)
    path = serve(node, old)
    new = staple(demo_pki)
    path.write_bytes(new)  # deployed, but nginx still serves what it loaded
    code, line = check(capsys, node, "--expect-file", str(path))
    assert code == CRITICAL, line
    assert line.startswith(
        f"CRITICAL: {WWW} on {node.endpoint} serves a staple that differs from {path} "
        f"(served sha256 {sha(old)[:12]}…, file {sha(new)[:12]}…): nginx was not reloaded or the reload failed | "
    )
    node.reload()
    code, line = check(capsys, node, "--expect-file", str(path))
    assert code == OK, line


@pytest.mark.integration
def test_stale_staple_served_is_critical(
    demo_fleet: Fleet, demo_pki: DemoPki, capsys: pytest.CaptureFixture[str]
) -> None:
    node = demo_fleet.nodes[0]
    stale = staple(demo_pki, this_update=WALL_NOW - 8 * 24 * H, next_update=WALL_NOW - 3 * H)
    path = serve(node, stale)  # nginx staples any parseable file, expired or not
    code, line = check(capsys, node, "--expect-file", str(path))
    assert code == CRITICAL, line
    assert line.startswith(
        f"CRITICAL: staple for {WWW} on {node.endpoint}: nextUpdate {iso(WALL_NOW - 3 * H)} passed 3 h ago"
    )


@pytest.mark.integration
def test_stapling_off_is_critical(demo_fleet: Fleet, demo_pki: DemoPki, capsys: pytest.CaptureFixture[str]) -> None:
    node = demo_fleet.nodes[0]
    path = serve(node, staple(demo_pki))
    serve(node, None)  # ssl_stapling off; the file stays
    code, line = check(capsys, node)
    assert (code, line) == (CRITICAL, f"CRITICAL: {WWW} on {node.endpoint} serves no staple (stapling expected)")
    code, line = check(capsys, node, "--expect-file", str(path))
    assert code == CRITICAL
    assert line == f"CRITICAL: {WWW} on {node.endpoint} serves no staple (stapling expected); {path} is deployed"


@pytest.mark.integration
def test_incident_staple_served_live_exits_2_naming_the_signer(demo_fleet: Fleet, demo_pki: DemoPki) -> None:
    """2015-08-20: a 12-hour window, signed by a responder certificate that expires in 50 minutes."""
    node = demo_fleet.nodes[0]
    responder = forge.make_responder(
        demo_pki.ca(), "Incident Responder", now=WALL_NOW - 24 * H, not_after=WALL_NOW + dt.timedelta(minutes=50)
    )
    path = serve(node, staple(demo_pki, signer=responder, this_update=WALL_NOW, next_update=WALL_NOW + 12 * H))
    argv = ["--connect", node.endpoint, "--servername", WWW, "--expect-file", str(path), "--now", iso(WALL_NOW) or ""]
    proc = subprocess.run(
        [sys.executable, "-m", "ocsp_staple", "check", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO / "module_utils")},
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout.startswith(
        f"CRITICAL: {WWW} on {node.endpoint} staple signer certificate CN=Incident Responder expires in 50 min "
        f"({iso(WALL_NOW + dt.timedelta(minutes=50))}, before nextUpdate in 12 h) | remaining=3000s;"
    ), proc.stdout


@pytest.mark.integration
def test_node_certificate_other_than_served_is_named(
    demo_fleet: Fleet, demo_pki: DemoPki, capsys: pytest.CaptureFixture[str]
) -> None:
    node = demo_fleet.nodes[0]
    serve(node, staple(demo_pki))
    other = demo_pki.leaves["must-staple.demo.test"].fullchain  # as if the node's file were another certificate
    code, line = check(capsys, node, "--cert", other)
    assert code == CRITICAL
    assert "no answer for serial" in line
    assert line.split(" | ")[0].endswith(f"; {node.endpoint} serves CN={WWW}, not the leaf of certificate file {other}")


@pytest.mark.integration
def test_show_connect_prints_what_a_client_sees(
    demo_fleet: Fleet, demo_pki: DemoPki, capsys: pytest.CaptureFixture[str]
) -> None:
    node = demo_fleet.nodes[0]
    data = staple(demo_pki)
    path = serve(node, data)
    argv = ["show", "--connect", node.endpoint, "--servername", WWW, "--expect-file", str(path)]
    assert main([*argv, "--now", iso(WALL_NOW) or ""]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"{WWW} on {node.endpoint} (TLSv1.")
    for expected in (
        f"  certificate       CN={WWW}",
        "  chain             CN=Demo CA",
        f"  staple            {len(data)} bytes, sha256 {sha(data)}",
        f"  expect_file       {path}: matches",
        f"served staple (certificate served by {node.endpoint}): VALID",
        "  response_status   successful",
        "  status            good",
        f"  this_update       {iso(WALL_NOW - H)}",
        f"  next_update       {iso(WALL_NOW + 167 * H)}",
        "  signer            CN=Demo CA OCSP Responder",
        f"  expires_at        {iso(WALL_NOW + 167 * H)}",
    ):
        assert expected in out.splitlines(), (expected, out)
    assert any(line.startswith("  produced_at       ") for line in out.splitlines())

    serve(node, None)
    assert main([*argv, "--now", iso(WALL_NOW) or ""]) == 1
    out = capsys.readouterr().out
    assert "  staple            none: the server stapled nothing" in out.splitlines()
    assert f"serves no staple although {path} is deployed" in out


def test_unreachable_endpoint_is_critical(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port_block(1)
    code = main(["check", "--connect", f"127.0.0.1:{port}", "--timeout", "2"])
    assert code == CRITICAL
    assert capsys.readouterr().out == f"CRITICAL: TLS service unreachable: 127.0.0.1:{port}: connection refused\n"


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--connect", "127.0.0.1:http"], "UNKNOWN: endpoint '127.0.0.1:http': port 'http' is not a number 1-65535"),
        (
            ["--connect", "127.0.0.1:1", "--file", "x.der"],
            "UNKNOWN: check: give one mode only (--file, --connect or --store), not several",
        ),
    ],
    ids=["bad-endpoint", "two-modes"],
)
def test_usage_errors_are_unknown(argv: list[str], line: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", *argv]) == 3
    assert capsys.readouterr().out == line + "\n"


@pytest.mark.parametrize("argv", [["show"], ["show", "x.der", "--connect", "127.0.0.1:1"], ["show", "x.der"]])
def test_show_needs_a_file_with_cert_or_connect(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "show" in capsys.readouterr().err


# --- --metrics-file: what the node serves, as Prometheus textfile metrics ----------------------


def gauges(path: Path) -> dict[str, float]:
    """``metric`` -> value of a textfile with one label set (asserted), the labels checked by the caller."""
    out: dict[str, float] = {}
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        metric, value = re.fullmatch(r"(ocsp_staple_served_[a-z_]+)\{[^}]*\} (\S+)", line).groups()  # type: ignore[union-attr]
        assert metric not in out, line
        out[metric] = float(value)
    return out


@pytest.mark.integration
def test_metrics_file_says_whether_the_served_staple_is_the_deployed_one(
    demo_fleet: Fleet, demo_pki: DemoPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = demo_fleet.nodes[0]
    prom = tmp_path / "ocsp_staple_served_www.prom"
    data = staple(demo_pki)
    path = serve(node, data)
    code, line = check(capsys, node, "--expect-file", str(path), "--metrics-file", str(prom))
    assert code == OK, line
    text = prom.read_text()
    assert f'ocsp_staple_served_matches_deployed{{name="{WWW}",endpoint="{node.endpoint}"}} 1.0' in text
    assert oct(prom.stat().st_mode & 0o777) == "0o644"
    got = gauges(prom)
    assert (got["ocsp_staple_served_up"], got["ocsp_staple_served_stapled"], got["ocsp_staple_served_valid"]) == (
        1,
        1,
        1,
    )
    assert got["ocsp_staple_served_check_timestamp_seconds"] == WALL_NOW.timestamp()
    assert got["ocsp_staple_served_expires_at_timestamp_seconds"] == (WALL_NOW + 167 * H).timestamp()

    path.write_bytes(staple(demo_pki, this_update=WALL_NOW - 2 * H))  # deployed, not reloaded
    code, line = check(capsys, node, "--expect-file", str(path), "--metrics-file", str(prom))
    assert code == CRITICAL, line
    assert gauges(prom)["ocsp_staple_served_matches_deployed"] == 0

    serve(node, None)  # stapling off, the file stays
    code, line = check(capsys, node, "--expect-file", str(path), "--metrics-file", str(prom))
    got = gauges(prom)
    assert (got["ocsp_staple_served_stapled"], got["ocsp_staple_served_matches_deployed"]) == (0, 0)
    assert "ocsp_staple_served_expires_at_timestamp_seconds" not in got

    path.unlink()  # disabled the way the role does it: stapling off and no file; nothing to compare is a match
    check(capsys, node, "--expect-file", str(path), "--metrics-file", str(prom))
    assert gauges(prom)["ocsp_staple_served_matches_deployed"] == 1


def test_metrics_file_of_an_unreachable_endpoint_says_down(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port_block(1)
    prom = tmp_path / "x.prom"
    code = main(
        ["check", "--connect", f"127.0.0.1:{port}", "--name", "www", "--timeout", "2", "--metrics-file", str(prom)]
    )
    assert code == CRITICAL
    assert capsys.readouterr().out.startswith("CRITICAL: TLS service unreachable: ")
    assert f'ocsp_staple_served_up{{name="www",endpoint="127.0.0.1:{port}"}} 0.0' in prom.read_text()
    assert set(gauges(prom)) == {"ocsp_staple_served_up", "ocsp_staple_served_check_timestamp_seconds"}


def test_metrics_file_in_a_missing_directory_keeps_the_state_and_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port_block(1)
    prom = tmp_path / "absent" / "x.prom"
    code = main(["check", "--connect", f"127.0.0.1:{port}", "--timeout", "2", "--metrics-file", str(prom)])
    assert code == CRITICAL  # the check's own state wins over the metrics failure
    out = capsys.readouterr().out
    assert out.rstrip("\n").endswith(f"; metrics file {prom}: directory {prom.parent} does not exist"), out


def test_metrics_file_outside_live_mode_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--store", str(tmp_path), "--metrics-file", str(tmp_path / "x.prom")]) == 3
    assert capsys.readouterr().out == (
        f"UNKNOWN: check: --metrics-file is for live mode (--connect) only, got '{tmp_path / 'x.prom'}'\n"
    )
