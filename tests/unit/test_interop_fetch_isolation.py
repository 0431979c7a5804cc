"""No input can crash a run: one certificate's surprise is its own failure; and answers without nextUpdate (opt-in)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from ocsp_staple import cli
from ocsp_staple.central import asker, refresh
from ocsp_staple.central.freeze import freeze
from ocsp_staple.central.options import RefreshOptions
from ocsp_staple.central.refresh import run
from ocsp_staple.errors import InputError
from ocsp_staple.policy import validate
from ocsp_staple.spec import CertificateSpec, parse_certificates

from testbed.ocsp_responder import TestResponder

from ..conftest import NOW, Pki

NAMES = ("www", "api", "mail")
BROKEN = "api"


def options(**kw: Any) -> RefreshOptions:
    return RefreshOptions(**{"backoff": 0.01, "timeout": 1.0, "deadline": 30.0, "attempts": 2, **kw})


@pytest.fixture
def specs(pki_files: dict[str, str], responder: TestResponder) -> list[CertificateSpec]:
    return [CertificateSpec(name, pki_files["leaf"], pki_files["ca"], responder.url) for name in NAMES]


@pytest.fixture
def policy_raises_for_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """policy.validate raises (as a library bug on odd input would) for BROKEN's answers only."""

    def validate_or_raise(data: bytes, pair: Any, **kw: Any) -> Any:
        if kw.get("name") == BROKEN:
            raise ValueError("boom: the library refused a key in the certs field")
        return validate(data, pair, **kw)

    monkeypatch.setattr(asker, "validate", validate_or_raise)


def quarantine(store: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((store / name / "quarantine").glob("*.json"))]


def state(store: Path, name: str) -> dict[str, Any]:
    return json.loads((store / name / "state.json").read_text())  # type: ignore[no-any-return]


@pytest.mark.usefixtures("policy_raises_for_one")
def test_a_refresh_survives_validation_raising_for_one_certificate(
    specs: list[CertificateSpec], pki: Pki, tmp_path: Path
) -> None:
    store, metrics = tmp_path / "store", tmp_path / "ocsp.prom"
    result = run(specs, str(store), options(metrics_path=str(metrics)), clock=lambda: NOW)
    by_name = {c.name: c for c in result.certificates}
    for name in ("www", "mail"):
        assert (by_name[name].action, by_name[name].failed) == ("updated", False), by_name[name].message
        assert validate((store / name / "current.der").read_bytes(), pki.pair, now=NOW).valid
    broken = by_name[BROKEN]
    assert (broken.action, broken.failed, broken.changed) == ("failed", True, False)
    assert broken.message == "api: no valid staple after 2 attempts: no staple in the store and no valid answer"
    assert broken.warnings == ["api: 2 of 2 answers rejected (unexpected_error)"]
    assert broken.problems[0]["message"] == (
        "staple for api: validation failed: unexpected ValueError: boom: the library refused a key in the certs field"
    )
    assert not (store / BROKEN / "current.der").exists()
    # Named in state.json ...
    record = state(store, BROKEN)
    assert record["last_outcome"] == asker.UNEXPECTED == "unexpected_error"
    assert record["consecutive_failures"] == 2
    assert [a["codes"] for a in record["last_run"]["attempts"]] == [["unexpected_error"]] * 2
    # ... every answer quarantined, bytes and error together ...
    kept = quarantine(store, BROKEN)
    assert len(kept) == 2
    for entry in kept:
        assert entry["problems"][0]["code"] == "unexpected_error"
        assert "ValueError: boom" in entry["problems"][0]["message"]
        assert (store / BROKEN / "quarantine" / entry["file"]).stat().st_size == entry["size"] > 0
    # ... and in the metrics, with the others.
    text = metrics.read_text()
    assert f'ocsp_staple_failed{{name="{BROKEN}"}} 1.0' in text
    assert f'ocsp_staple_last_attempt_outcome{{name="{BROKEN}",reason="unexpected_error"}} 1.0' in text
    assert 'ocsp_staple_valid{name="www"} 1.0' in text


def test_a_refresh_survives_anything_raising_while_handling_one_certificate(
    specs: list[CertificateSpec], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = refresh.load_certificate

    def load_or_raise(spec: CertificateSpec, **kw: Any) -> Any:
        if spec.name == BROKEN:
            raise RuntimeError("surprise while reading the certificate")
        return real(spec, **kw)

    monkeypatch.setattr(refresh, "load_certificate", load_or_raise)
    store = tmp_path / "store"
    result = run(specs, str(store), options(), clock=lambda: NOW)
    by_name = {c.name: c for c in result.certificates}
    assert [by_name[n].action for n in ("www", "mail")] == ["updated", "updated"]
    broken = by_name[BROKEN]
    assert (broken.action, broken.failed) == ("failed", True)
    assert broken.message == "api: unexpected RuntimeError: surprise while reading the certificate"
    record = state(store, BROKEN)
    assert record["last_error"] == {
        "at": "2026-03-01T12:00:00Z",
        "during": "refresh",
        "code": "unexpected_error",
        "message": broken.message,
    }
    assert (record["last_outcome"], record["consecutive_failures"]) == ("unexpected_error", 1)
    (entry,) = quarantine(store, BROKEN)
    assert entry["problems"] == [{"code": "unexpected_error", "message": broken.message}]
    # The next run that handles the certificate to the end clears last_error.
    monkeypatch.setattr(refresh, "load_certificate", real)
    (again,) = run([specs[1]], str(store), options(), clock=lambda: NOW).certificates
    assert again.action == "updated", again.message
    assert "last_error" not in state(store, BROKEN)


def test_check_mode_records_nothing_for_an_unexpected_failure(
    specs: list[CertificateSpec], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(refresh, "load_certificate", lambda spec, **kw: 1 / 0)
    result = run(specs, str(tmp_path / "store"), options(check_mode=True), clock=lambda: NOW)
    assert all(c.failed and "ZeroDivisionError" in c.message for c in result.certificates)
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*.json"))


@pytest.mark.usefixtures("policy_raises_for_one")
def test_a_freeze_survives_validation_raising_for_one_certificate(specs: list[CertificateSpec], tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = freeze(specs, str(store), options(), reason="drill", who="test", clock=lambda: NOW)
    by_name = {c.name: c for c in result.certificates}
    assert [by_name[n].action for n in ("www", "mail")] == ["pinned", "pinned"]
    assert (store / "www" / "pin.json").exists()
    broken = by_name[BROKEN]
    assert (broken.action, broken.failed) == ("failed", True)
    assert "unexpected_error" in broken.message
    assert not (store / BROKEN / "pin.json").exists()
    kept = quarantine(store, BROKEN)
    assert len(kept) == 2
    assert all("ValueError: boom" in e["problems"][0]["message"] and e["file"] for e in kept)


def test_a_freeze_survives_anything_raising_for_one_certificate(
    specs: list[CertificateSpec], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ocsp_staple.central import freeze as freezing

    real = freezing.load_certificate

    def load_or_raise(spec: CertificateSpec, **kw: Any) -> Any:
        if spec.name == BROKEN:
            raise KeyError("odd")
        return real(spec, **kw)

    monkeypatch.setattr(freezing, "load_certificate", load_or_raise)
    store = tmp_path / "store"
    result = freeze(specs, str(store), options(), reason="drill", who="test", clock=lambda: NOW)
    by_name = {c.name: c for c in result.certificates}
    assert [by_name[n].action for n in ("www", "mail")] == ["pinned", "pinned"]
    assert by_name[BROKEN].message == "api: not frozen: unexpected KeyError: 'odd'"
    assert state(store, BROKEN)["last_error"]["during"] == "freeze"
    assert quarantine(store, BROKEN)[0]["reason"] == "unexpected_error"


# -- assume_lifetime_without_next_update: the plumbing --------------------------------------------


@pytest.mark.node
def test_the_lifetime_option_is_read_per_certificate_and_globally(tmp_path: Path) -> None:
    (own, plain, off, number) = parse_certificates(
        [
            {"name": "a", "certificate": "/a.pem", "assume_lifetime_without_next_update": "1h"},
            {"name": "b", "certificate": "/b.pem"},
            {"name": "c", "certificate": "/c.pem", "assume_lifetime_without_next_update": ""},
            {"name": "d", "certificate": "/d.pem", "assume_lifetime_without_next_update": 600},
        ]
    )
    assert (own.assume_lifetime_without_next_update, plain.assume_lifetime_without_next_update) == ("1h", None)
    assert (off.assume_lifetime_without_next_update, number.assume_lifetime_without_next_update) == (None, "600")
    run_wide = RefreshOptions.from_params({"assume_lifetime_without_next_update": "2h"})
    assert run_wide.assume_lifetime_without_next_update == 7200
    assert RefreshOptions().assume_lifetime_without_next_update is None
    # A setting that is no duration stops the run before anything is asked or written, naming the certificate.
    (bad,) = parse_certificates([{"name": "a", "certificate": "/a.pem", "assume_lifetime_without_next_update": "soon"}])
    for start in (
        lambda: run([bad], str(tmp_path), options(), clock=lambda: NOW),
        lambda: freeze([bad], str(tmp_path), options(), reason="r", who="w", clock=lambda: NOW),
    ):
        with pytest.raises(InputError, match=r"^certificate a: assume_lifetime_without_next_update: .*'soon'$"):
            start()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.node
@pytest.mark.parametrize(
    ("own", "run_wide", "expected"),
    [("1h", None, 3600), ("1h", 7200, 3600), (None, 7200, 7200), (None, None, None), ("0", 7200, None)],
)
def test_the_policy_gets_the_certificates_lifetime_else_the_runs(
    own: str | None,
    run_wide: int | None,
    expected: int | None,
    pki: Pki,
    pki_files: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[Any] = []

    def recording(data: bytes, pair: Any, **kw: Any) -> Any:
        seen.append(kw.get("assume_lifetime"))
        return validate(data, pair, **kw)

    monkeypatch.setattr(asker, "validate", recording)
    spec = CertificateSpec("www", pki_files["leaf"], pki_files["ca"], assume_lifetime_without_next_update=own)
    opts = RefreshOptions(assume_lifetime_without_next_update=run_wide)
    asker.verdict_of(pki.response(), pki.pair, spec, opts, now=NOW)
    assert seen == [expected]


@pytest.mark.node
def test_the_refresh_command_passes_the_lifetime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ocsp_staple.cli import refresh as refresh_command

    taken: list[RefreshOptions] = []

    def capture(specs: Any, store: Any, options: RefreshOptions, **kw: Any) -> Any:
        taken.append(options)
        return refresh.RunResult([])

    monkeypatch.setattr(refresh_command, "run", capture)
    listing = tmp_path / "certs.json"
    listing.write_text(json.dumps([{"name": "a", "certificate": "/a.pem"}]))
    argv = ["refresh", "--store", str(tmp_path), "--certificates", str(listing)]
    assert cli.main([*argv, "--assume-lifetime-without-next-update", "90m"]) == 0
    assert taken[0].assume_lifetime_without_next_update == 5400


@pytest.mark.parametrize(("own", "action"), [(None, "failed"), ("1d", "updated")])
def test_an_answer_without_next_update_is_stored_only_when_opted_in(
    own: str | None, action: str, pki: Pki, pki_files: dict[str, str], responder: TestResponder, tmp_path: Path
) -> None:
    responder.configure(no_next_update=True)
    spec = CertificateSpec(
        "www", pki_files["leaf"], pki_files["ca"], responder.url, assume_lifetime_without_next_update=own
    )
    (cert,) = run([spec], str(tmp_path), options(attempts=1), clock=lambda: NOW).certificates
    assert cert.action == action, cert.message
    if own is None:
        assert [a.reason for a in cert.attempts] == ["next_update_missing"]
    else:
        expected_end = NOW - dt.timedelta(minutes=1) + dt.timedelta(days=1)
        assert cert.facts["expires_at"] == expected_end.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert json.loads((tmp_path / "www" / "state.json").read_text())["certificate"][
            "assume_lifetime_without_next_update"
        ] == own


def test_a_thaw_survives_anything_raising_for_one_certificate(
    specs: list[CertificateSpec], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses
    import shutil

    from ocsp_staple.central import freeze as freezing

    own_leaf = tmp_path / "api-leaf.pem"
    shutil.copy(specs[1].certificate, own_leaf)
    specs[1] = dataclasses.replace(specs[1], certificate=str(own_leaf))
    store = tmp_path / "store"
    freeze(specs, str(store), options(), reason="drill", who="test", clock=lambda: NOW)
    real = freezing.load_pair

    def load_or_raise(certificate: str, issuer: Any) -> Any:
        if certificate == str(own_leaf):
            raise OverflowError("odd certificate")
        return real(certificate, issuer)

    monkeypatch.setattr(freezing, "load_pair", load_or_raise)
    result = freezing.thaw(
        str(store), options(), who="test", names=["api", "www"], certificates=specs, clock=lambda: NOW
    )
    by_name = {c.name: c for c in result.certificates}
    assert by_name["api"].message == "api: not thawed: unexpected OverflowError: odd certificate"
    assert (by_name["www"].action, by_name["www"].failed) == ("thawed", False)
