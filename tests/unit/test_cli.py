"""The ocsp-staple command: show and check (monitoring-plugin exit codes and status lines)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from ocsp_staple.cli import main

from testbed import forge

from ..conftest import Pki

pytestmark = pytest.mark.node  # core only: also runs on Debian's python3-cryptography

H = dt.timedelta(hours=1)
NOW_ARG = "2026-03-01T12:00:00Z"


def staple(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "staple.der"
    path.write_bytes(data)
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--now", NOW_ARG])
    out, err = capsys.readouterr()
    return code, out, err


def test_show_good_staple(
    pki: Pki, pki_files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "show", staple(tmp_path, pki.response()), "--cert", pki_files["chain"])
    assert code == 0
    assert out.splitlines()[0] == "CN=www.example.org: VALID"
    assert "  next_update       2026-03-08T11:00:00Z" in out


def test_show_json_lists_codes(
    pki: Pki, pki_files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    path = staple(tmp_path, forge.unsuccessful("try_later"))
    code, out, _ = run(capsys, "show", path, "--cert", pki_files["leaf"], "--issuer", pki_files["ca"], "--json")
    assert code == 1
    assert json.loads(out)["codes"] == ["try_later"]


@pytest.mark.parametrize(
    ("make", "extra", "state", "line"),
    [
        pytest.param(
            lambda p: p.response(),
            [],
            0,
            r"^OK: www.example.org staple expires in 6 d 23 h \(nextUpdate 2026-03-08T11:00:00Z\) \| remaining=",
            id="ok",
        ),
        pytest.param(
            lambda p: p.response(this_update=p.now - 108 * H, next_update=p.now + 60 * H),
            [],
            1,
            r"^WARNING: www.example.org staple expires in 2 d 12 h .* below warning 2 d 19 h",
            id="warning-40-percent",
        ),
        pytest.param(
            lambda p: p.response(this_update=p.now - 140 * H, next_update=p.now + 28 * H),
            [],
            2,
            r"^CRITICAL: www.example.org staple expires in 28 h .* below critical 33 h",
            id="critical-20-percent",
        ),
        pytest.param(
            lambda p: p.response(),
            ["-w", "8d", "-c", "1d"],
            1,
            r"^WARNING: .* below warning 8 d",
            id="absolute-threshold",
        ),
        pytest.param(
            lambda p: p.response(
                forge.make_responder(p.ca, "R", now=p.now, not_after=p.now + dt.timedelta(minutes=47)),
                this_update=p.now,
                next_update=p.now + 12 * H,
            ),
            [],
            2,
            r"^CRITICAL: www.example.org staple signer certificate CN=R expires in 47 min "
            r"\(2026-03-01T12:47:00Z, before nextUpdate in 12 h\)",
            id="incident-signer-named",
        ),
        pytest.param(
            lambda p: forge.unsuccessful("try_later"),
            [],
            2,
            r"^CRITICAL: staple for www.example.org: responder answered TRY_LATER",
            id="try-later",
        ),
        pytest.param(lambda p: p.response(status="revoked"), [], 2, r"^CRITICAL: .*REVOKED", id="revoked"),
    ],
)
def test_check_states(
    make: object,
    extra: list[str],
    state: int,
    line: str,
    pki: Pki,
    pki_files: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = staple(tmp_path, make(pki))  # type: ignore[operator]
    code, out, _ = run(
        capsys, "check", "--file", path, "--cert", pki_files["chain"], "--name", "www.example.org", *extra
    )
    assert code == state, out
    assert len(out.splitlines()) == 1
    assert __import__("re").match(line, out), out


def test_check_missing_staple_is_critical(
    pki_files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "check", "--file", str(tmp_path / "none.der"), "--cert", pki_files["chain"])
    assert code == 2
    assert out.startswith("CRITICAL: staple file ")
    assert "No such file or directory" in out


def test_check_unreadable_certificate_is_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "--file", str(tmp_path / "s.der"), "--cert", str(tmp_path / "nope.pem"))
    assert code == 3
    assert out.startswith("UNKNOWN: certificate file ")
    assert "cannot read" in out


def test_check_bad_threshold_is_unknown(
    pki_files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "check", "--file", "x", "--cert", pki_files["chain"], "-w", "soon")
    assert code == 3
    assert out == "UNKNOWN: -w/--warning: expected a duration like 4h, 90m, 1d12h or seconds, got 'soon'\n"


def test_show_operational_error_is_one_line_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "show", str(tmp_path / "s.der"), "--cert", str(tmp_path / "missing.pem"))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("ocsp-staple show: certificate file ")


@pytest.mark.parametrize(
    "argv", [["show", "{staple}", "--cert", "{chain}"], ["show", "{staple}", "--cert", "{chain}", "--json"]]
)
def test_a_closed_stdout_pipe_ends_quietly(
    argv: list[str], pki: Pki, pki_files: dict[str, str], tmp_path: Path
) -> None:
    """``ocsp-staple show ... | head``: the reader is gone before the output; no traceback, exit 128 + SIGPIPE."""
    import os
    import subprocess
    import sys

    from ocsp_staple.cli import PIPE_CLOSED

    from ..conftest import REPO

    path = staple(tmp_path, pki.response())
    args = [a.format(staple=path, chain=pki_files["chain"]) for a in argv]
    read_end, write_end = os.pipe()
    os.close(read_end)  # like head after its first lines: every write to the pipe now fails with EPIPE
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "ocsp_staple", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO / "module_utils")},
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert proc.stderr.decode() == ""
    assert proc.returncode == PIPE_CLOSED == 141


def test_show_and_check_take_the_opt_in_for_a_response_without_next_update(
    pki: Pki, pki_files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = staple(tmp_path, pki.response(next_update=None))
    code, out, _ = run(capsys, "show", path, "--cert", pki_files["chain"])
    assert code == 1
    assert "assume_lifetime_without_next_update" in out
    opt_in = ("--assume-lifetime-without-next-update", "12h")
    code, out, _ = run(capsys, "show", path, "--cert", pki_files["chain"], *opt_in)
    assert code == 0, out
    assert "  assumed_lifetime  43200" in out
    assert "  next_update       2026-03-01T23:00:00Z" in out
    code, out, _ = run(capsys, "check", "--file", path, "--cert", pki_files["chain"])
    assert code == 2, out
    code, out, _ = run(capsys, "check", "--file", path, "--cert", pki_files["chain"], *opt_in)
    assert code == 0, out
    code, _, err = run(capsys, "show", path, "--cert", pki_files["chain"], "--assume-lifetime-without-next-update", "x")
    assert code == 2
    assert err.strip().endswith(
        "--assume-lifetime-without-next-update: expected a duration like 4h, 90m, 1d12h or seconds, got 'x'"
    )
