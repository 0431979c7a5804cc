"""The fault-injecting test responder: loopback only, faults per run / sequence / mix, runtime control, stats."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from ocsp_staple.aia import ocsp_request
from ocsp_staple.central.fetch import Fetcher, FetchOptions
from ocsp_staple.errors import InputError
from ocsp_staple.policy import validate

from testbed import forge
from testbed.ocsp_responder import Behaviour, TestResponder, parse_latency, parse_mix
from testbed.wait import readline, scaled

from ..conftest import NOW, REPO, Pki, build_pki, responder_stats


def ask(url: str, request: bytes) -> bytes:
    with Fetcher(FetchOptions(timeout=3)) as fetcher:
        result = fetcher.fetch(url, request)
    assert result.body is not None, result.message
    return result.body


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "localhost", ""])  # noqa: S104 - refused
def test_it_binds_loopback_only(pki: Pki, host: str) -> None:
    with pytest.raises(InputError, match=r"binds 127\.0\.0\.1 only"):
        TestResponder(pki.ca, host=host)


def test_stats_count_requests_and_faults(responder: TestResponder, pki: Pki) -> None:
    assert responder_stats(responder.url)["requests"] == 0
    ask(responder.url, ocsp_request(pki.pair))
    responder.configure(fault="try_later")
    assert ask(responder.url, ocsp_request(pki.pair)) == b"\x30\x03\x0a\x01\x03"
    stats = responder_stats(responder.url)
    assert stats["requests"] == 2
    assert stats["faults"] == {"good": 1, "try_later": 1}
    assert responder.stats() == stats


def test_answers_any_serial_of_its_ca_and_lists_revoked_ones(responder: TestResponder, pki: Pki) -> None:
    other = forge.make_leaf(pki.ca, "other.example.org", now=NOW, serial=0xBEEF)
    pair = forge_pair(other, pki)
    assert validate(ask(responder.url, ocsp_request(pair)), pair, now=NOW).valid
    responder.configure(revoked=["be:ef"])
    verdict = validate(ask(responder.url, ocsp_request(pair)), pair, now=NOW)
    assert verdict.codes == ["revoked"]
    assert validate(ask(responder.url, ocsp_request(pki.pair)), pki.pair, now=NOW).valid


def forge_pair(leaf: forge.Issued, pki: Pki) -> object:
    from ..conftest import pair_of

    return pair_of(leaf, pki.ca)


def test_another_ca_is_answered_unauthorized(responder: TestResponder, pki: Pki) -> None:
    stranger = forge.make_leaf(pki.other_ca, "stranger.example.org", now=NOW)
    from ..conftest import pair_of

    pair = pair_of(stranger, pki.other_ca)
    assert validate(ask(responder.url, ocsp_request(pair)), pair, now=NOW).codes == ["unauthorized"]


def test_sha256_cert_ids_are_answered_in_kind(responder: TestResponder, pki: Pki) -> None:
    verdict = validate(ask(responder.url, ocsp_request(pki.pair, "sha256")), pki.pair, now=NOW)
    assert verdict.valid
    assert verdict.facts.cert_id is not None
    assert verdict.facts.cert_id.hash_algorithm == "sha256"


def test_a_delegated_signer_signs_when_given(pki: Pki) -> None:
    with TestResponder(pki.ca.cert, signer=pki.responder, clock=lambda: NOW) as server:
        verdict = validate(ask(server.url, ocsp_request(pki.pair)), pki.pair, now=NOW)
        assert verdict.valid
        assert verdict.facts.signer_delegated is True
        with pytest.raises(InputError, match="need the CA key"):
            server.configure(fault="expired_signer")


def test_the_validity_window_is_configurable(responder: TestResponder, pki: Pki) -> None:
    responder.configure(validity="2d")
    verdict = validate(ask(responder.url, ocsp_request(pki.pair)), pki.pair, now=NOW)
    assert verdict.facts.next_update is not None
    assert verdict.facts.this_update is not None
    assert (verdict.facts.next_update - verdict.facts.this_update).total_seconds() == 2 * 86400


def test_latency_delays_every_answer(responder: TestResponder, pki: Pki) -> None:
    responder.configure(latency="150ms")
    started = time.monotonic()
    ask(responder.url, ocsp_request(pki.pair))
    assert time.monotonic() - started >= 0.15


def test_a_seeded_mix_is_reproducible_and_roughly_at_its_rates(pki: Pki) -> None:
    behaviour = Behaviour(mix=parse_mix("try_later=0.5,garbage=0.25"), seed=42)
    draws = []
    for _ in range(2):
        server = TestResponder(pki.ca, behaviour=behaviour)
        draws.append([server.next_fault() for _ in range(400)])
    assert draws[0] == draws[1]
    share = draws[0].count("try_later") / 400
    assert 0.4 < share < 0.6
    assert set(draws[0]) == {"try_later", "garbage", "good"}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("try_later", "fault=rate"),
        ("nope=0.1", "unknown fault 'nope'"),
        ("garbage=2", "between 0 and 1"),
        ("garbage=0.6,html=0.6", "more than 1"),
    ],
)
def test_bad_mixes_are_refused(text: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        parse_mix(text)


def test_latency_forms() -> None:
    assert parse_latency("50ms") == 0.05
    assert parse_latency("0.2") == 0.2
    assert parse_latency("2s") == 2.0


def test_a_control_file_switches_the_behaviour_at_runtime(pki: Pki, tmp_path: Path) -> None:
    control = tmp_path / "control.json"
    control.write_text(json.dumps({"fault": "try_later"}))
    with TestResponder(pki.ca, control=str(control), clock=lambda: NOW) as server:
        assert ask(server.url, ocsp_request(pki.pair)) == forge.unsuccessful("try_later")
        control.write_text(json.dumps({"sequence": ["good", "bad_signature"]}))
        os.utime(control, ns=(time.time_ns(), time.time_ns() + 10**9))
        codes = [validate(ask(server.url, ocsp_request(pki.pair)), pki.pair, now=NOW).codes for _ in range(3)]
        assert codes == [[], ["bad_signature"], []]
        control.write_text("{not json")
        os.utime(control, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
        assert validate(ask(server.url, ocsp_request(pki.pair)), pki.pair, now=NOW).codes == ["bad_signature"]
        stats = server.stats()
        assert (stats["control_loads"], stats["control_errors"]) == (2, 1)


@pytest.fixture
def pki_dir(tmp_path: Path) -> tuple[Pki, Path]:
    pki = build_pki()
    (tmp_path / "ca.pem").write_bytes(pki.ca.pem)
    (tmp_path / "ca.key").write_bytes(pki.ca.key_pem())
    return pki, tmp_path


def responder_command(directory: Path, *extra: str) -> tuple[list[str], dict[str, str]]:
    """``python -m testbed.responder serve`` with the CA of ``pki_dir`` and its environment."""
    command = [sys.executable, "-m", "testbed.responder", "serve", "--ca-cert", str(directory / "ca.pem")]
    command += ["--ca-key", str(directory / "ca.key"), *extra]
    return command, {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "module_utils")])}


def test_it_runs_as_a_command_and_prints_its_url(pki_dir: tuple[Pki, Path]) -> None:
    pki, directory = pki_dir
    command, env = responder_command(directory, "--fault", "unknown")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
    try:
        assert process.stdout is not None
        url = readline(process.stdout, 30, "the responder's URL line")
        assert url.startswith("http://127.0.0.1:")
        verdict = validate(ask(url, ocsp_request(pki.pair)), pki.pair, now=dt.datetime.now(dt.UTC))  # its clock
        assert verdict.codes == ["unknown_status"]
        with urllib.request.urlopen(url + "_stats", timeout=scaled(10)) as reply:
            assert json.loads(reply.read())["faults"] == {"unknown": 1}
    finally:
        process.terminate()
        assert process.wait(timeout=scaled(30)) == 0


def test_the_command_refuses_another_address(pki_dir: tuple[Pki, Path]) -> None:
    command, env = responder_command(pki_dir[1], "--host", "0.0.0.0")  # noqa: S104 - refused
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=scaled(60))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "testbed.responder serve: test responder: refusing to bind '0.0.0.0': it binds 127.0.0.1 only"
    )


def test_every_fault_and_action_is_documented_in_store_md() -> None:
    from ocsp_staple.central.results import ACTIONS

    from testbed.ocsp_responder import FAULTS

    text = (REPO / "docs" / "STORE.md").read_text()
    missing = [name for name in (*FAULTS, *ACTIONS) if f"`{name}`" not in text]
    assert missing == []


def test_the_command_serves_compressed_answers_without_next_update(pki_dir: tuple[Pki, Path]) -> None:
    """``--encoding`` and ``--no-next-update``: how real responders differ from the default answer."""
    pki, directory = pki_dir
    command, env = responder_command(directory, "--encoding", "gzip", "--no-next-update")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
    try:
        assert process.stdout is not None
        url = readline(process.stdout, 30, "the responder's URL line")
        with Fetcher(FetchOptions(timeout=3)) as fetcher:
            result = fetcher.fetch(url, ocsp_request(pki.pair))
        assert result.ok, result.message
        assert "(gzip, " in result.message
        assert result.body is not None
        assert validate(result.body, pki.pair, now=dt.datetime.now(dt.UTC)).codes == ["next_update_missing"]
    finally:
        process.terminate()
        assert process.wait(timeout=scaled(30)) == 0


def test_encodings_are_checked_like_faults() -> None:
    from testbed.ocsp_responder import ENCODINGS

    assert Behaviour.from_json({"encoding": "deflate", "no_next_update": True}, Behaviour()).encoding == "deflate"
    with pytest.raises(InputError, match=r"encoding: unknown encoding 'zip' \(known: identity, gzip"):
        Behaviour.from_json({"encoding": "zip"}, Behaviour())
    assert "gzip_bomb" in ENCODINGS
