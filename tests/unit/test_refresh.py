"""The refresh run against the fault-injecting responder: due rule, retry until good, selection, failure rule."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from ocsp_staple import cli
from ocsp_staple.central.options import RefreshOptions
from ocsp_staple.central.refresh import run
from ocsp_staple.central.results import RunResult
from ocsp_staple.central.selection import better, due_reason
from ocsp_staple.certs import iso
from ocsp_staple.policy import validate
from ocsp_staple.spec import CertificateSpec, parse_certificates

from testbed import forge
from testbed.ocsp_responder import FAULTS, TestResponder

from ..conftest import NOW, Pki, responder_stats

#: What each fault leaves as the attempt's reason (fetch reason or first problem code).
FAULT_REASONS = {
    "try_later": "try_later",
    "internal_error": "internal_error",
    "unauthorized": "unauthorized",
    "http_500": "http_500",
    "http_503": "http_503",
    "timeout": "timeout",
    "slow_body": "timeout",
    "garbage": "malformed",
    "html": "content_type",
    "oversized": "oversized",
    "expired_signer": "signer_expired",
    "signer_expiring": "signer_expires_too_soon",
    "stale": "expired",
    "revoked": "revoked",
    "unknown": "unknown_status",
    "wrong_cert": "cert_id_mismatch",
    "bad_signature": "bad_signature",
}


def test_every_fault_but_the_valid_ones_is_covered() -> None:
    assert set(FAULT_REASONS) == set(FAULTS) - {"good", "short_lived"}


def options(**kw: Any) -> RefreshOptions:
    base: dict[str, Any] = {"backoff": 0.01, "timeout": 1.0, "deadline": 30.0}
    base.update(kw)
    return RefreshOptions(**base)


def refresh(specs: list[CertificateSpec], store: Path, **kw: Any) -> RunResult:
    return run(specs, str(store), options(**kw), clock=lambda: NOW)


@pytest.fixture
def spec(pki_files: dict[str, str], responder: TestResponder) -> CertificateSpec:
    return CertificateSpec("www", pki_files["leaf"], pki_files["ca"], responder.url)


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root`` with its bytes and mtime (nothing written = identical snapshots)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def seed(store: Path, data: bytes, name: str = "www") -> None:
    (store / name).mkdir(parents=True, exist_ok=True)
    (store / name / "current.der").write_bytes(data)


def requests_served(responder: TestResponder) -> int:
    return int(responder_stats(responder.url)["requests"])


# -- the first run, the re-run, check mode ----------------------------------------------------


def test_a_first_run_stores_a_valid_staple(spec: CertificateSpec, pki: Pki, tmp_path: Path) -> None:
    result = refresh([spec], tmp_path)
    cert = result.certificates[0]
    assert (cert.action, result.changed, result.failed) == ("updated", True, False)
    current = (tmp_path / "www" / "current.der").read_bytes()
    assert validate(current, pki.pair, now=NOW).valid
    state = json.loads((tmp_path / "www" / "state.json").read_text())
    assert state["last_outcome"] == "ok"
    assert state["consecutive_failures"] == 0
    assert state["current"]["valid"] is True
    assert state["last_success_at"] == iso(NOW)
    assert cert.before == {"this_update": None, "next_update": None, "expires_at": None}
    assert cert.after["expires_at"] == cert.facts["expires_at"]
    assert result.diff()["after"]["www"] == cert.after


def test_a_rerun_while_fresh_sends_no_request_and_changes_nothing(
    spec: CertificateSpec, responder: TestResponder, tmp_path: Path
) -> None:
    assert refresh([spec], tmp_path).changed
    served = requests_served(responder)
    before = snapshot(tmp_path)
    again = refresh([spec], tmp_path)
    assert requests_served(responder) == served
    assert again.changed is False
    assert again.certificates[0].action == "kept"
    assert again.certificates[0].due is None
    assert snapshot(tmp_path) == before


def test_check_mode_fetches_and_validates_but_writes_nothing(
    spec: CertificateSpec, responder: TestResponder, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    result = refresh([spec], store, check_mode=True)
    assert result.changed is True  # would update
    assert result.certificates[0].action == "updated"
    assert requests_served(responder) == 1
    assert not store.exists()
    assert refresh([spec], store).changed is True
    before = snapshot(store)
    responder.configure(fault="try_later")
    checked = refresh([spec], store, check_mode=True, force=True)
    assert checked.changed is False
    assert snapshot(store) == before


# -- every fault keeps the previous staple ------------------------------------------------------


@pytest.mark.parametrize("fault", sorted(FAULT_REASONS))
def test_every_fault_keeps_the_previous_staple_and_is_recorded(
    fault: str, spec: CertificateSpec, responder: TestResponder, pki: Pki, tmp_path: Path
) -> None:
    previous = pki.response()
    seed(tmp_path, previous)
    responder.configure(fault=fault)
    result = refresh([spec], tmp_path, force=True, attempts=1)
    cert = result.certificates[0]
    reason = FAULT_REASONS[fault]
    assert (tmp_path / "www" / "current.der").read_bytes() == previous
    assert (result.changed, cert.action, cert.failed) == (False, "kept", False)
    state = json.loads((tmp_path / "www" / "state.json").read_text())
    assert state["last_outcome"] == reason
    assert state["consecutive_failures"] == 1
    assert state["last_run"]["attempts"][0]["reason"] == reason
    quarantined = json.loads(next((tmp_path / "www" / "quarantine").glob("*.json")).read_text())
    assert quarantined["reason"] == reason
    assert reason in [p["code"] for p in quarantined["problems"]]
    assert any(reason in w for w in cert.warnings)
    if quarantined.get("file"):
        kept = (tmp_path / "www" / "quarantine" / quarantined["file"]).read_bytes()
        assert not validate(kept, pki.pair, now=NOW).valid


# -- retry until good ---------------------------------------------------------------------------


def test_alternating_answers_end_with_the_longest_lived_valid_one(
    spec: CertificateSpec, responder: TestResponder, pki: Pki, tmp_path: Path
) -> None:
    responder.configure(sequence=["try_later", "short_lived", "bad_signature", "good", "signer_expiring"])
    result = refresh([spec], tmp_path, attempts=5)
    cert = result.certificates[0]
    assert [a.reason for a in cert.attempts] == ["try_later", "ok", "bad_signature", "ok"]  # stops at a full-lived one
    verdict = validate((tmp_path / "www" / "current.der").read_bytes(), pki.pair, now=NOW)
    assert verdict.valid
    short = cert.attempts[1].facts
    assert short is not None
    assert iso(verdict.facts.expires_at) == iso(verdict.facts.next_update)
    assert iso(verdict.facts.expires_at) > short["expires_at"]
    assert cert.action == "updated"


def test_only_short_lived_answers_still_give_a_valid_staple_after_all_attempts(
    spec: CertificateSpec, responder: TestResponder, pki: Pki, tmp_path: Path
) -> None:
    responder.configure(sequence=["short_lived", "try_later"])
    result = refresh([spec], tmp_path, attempts=5)
    assert len(result.certificates[0].attempts) == 5
    verdict = validate((tmp_path / "www" / "current.der").read_bytes(), pki.pair, now=NOW)
    assert verdict.valid
    assert verdict.facts.signer_delegated is True
    assert result.certificates[0].warnings


def test_bad_then_good_with_two_attempts_is_good(
    spec: CertificateSpec, responder: TestResponder, tmp_path: Path
) -> None:
    responder.configure(sequence=["expired_signer", "good"])
    assert refresh([spec], tmp_path, attempts=1).failed
    responder.configure(sequence=["expired_signer", "good"])
    result = refresh([spec], tmp_path, attempts=2)
    assert result.certificates[0].action == "updated"
    state = json.loads((tmp_path / "www" / "state.json").read_text())
    assert state["consecutive_failures"] == 0


def test_the_deadline_bounds_the_run(spec: CertificateSpec, responder: TestResponder, tmp_path: Path) -> None:
    responder.configure(fault="timeout")
    started = time.monotonic()
    result = refresh([spec], tmp_path, attempts=10, timeout=0.5, deadline=1.5)
    elapsed = time.monotonic() - started
    assert elapsed < 2.5
    assert 1 <= len(result.certificates[0].attempts) <= 3
    assert result.failed  # nothing stored, nothing valid


# -- the selection rule ---------------------------------------------------------------------


def test_a_valid_answer_expiring_earlier_does_not_replace_the_current_one(
    spec: CertificateSpec, responder: TestResponder, pki: Pki, tmp_path: Path
) -> None:
    longer = pki.response(this_update=NOW - dt.timedelta(hours=2), next_update=NOW + dt.timedelta(days=10))
    seed(tmp_path, longer)
    result = refresh([spec], tmp_path, force=True)
    assert (tmp_path / "www" / "current.der").read_bytes() == longer
    assert result.changed is False
    assert "no answer better" in result.certificates[0].message


def test_an_invalid_current_staple_is_replaced_by_any_valid_answer(
    spec: CertificateSpec, pki: Pki, tmp_path: Path
) -> None:
    seed(tmp_path, forge.unsuccessful("try_later"))
    result = refresh([spec], tmp_path)
    assert result.certificates[0].due is not None
    assert "current staple invalid (try_later)" in (result.certificates[0].due or "")
    assert result.changed
    assert validate((tmp_path / "www" / "current.der").read_bytes(), pki.pair, now=NOW).valid


@pytest.mark.node
def test_selection_rule_table(pki: Pki) -> None:
    def verdict(this_hours: int, next_days: int) -> Any:
        data = pki.response(
            this_update=NOW - dt.timedelta(hours=this_hours), next_update=NOW + dt.timedelta(days=next_days)
        )
        return validate(data, pki.pair, now=NOW)

    current = verdict(5, 5)
    assert better(verdict(1, 6), current)  # newer and longer
    assert better(verdict(5, 6), current)  # same age, longer
    assert not better(verdict(1, 4), current)  # newer but expires earlier
    assert not better(verdict(6, 6), current)  # older
    assert not better(verdict(5, 5), current)  # the same times: no churn
    assert better(verdict(5, 1), None)
    assert not better(validate(b"", pki.pair, now=NOW), None)


@pytest.mark.node
def test_due_rule_uses_the_effective_window(pki: Pki) -> None:
    fresh = validate(pki.response(this_update=NOW - dt.timedelta(days=1)), pki.pair, now=NOW)
    assert due_reason(fresh, now=NOW, refresh_fraction=0.5) is None
    used = validate(pki.response(this_update=NOW - dt.timedelta(days=4)), pki.pair, now=NOW)
    assert "57% of the current staple's validity window used" in (due_reason(used, now=NOW, refresh_fraction=0.5) or "")
    # A delegated signer that ends the window early makes the staple due sooner.
    short_signer = forge.make_responder(pki.ca, "short", now=NOW, not_after=NOW + dt.timedelta(days=1))
    this_update = NOW - dt.timedelta(hours=30)
    uncut = validate(pki.response(this_update=this_update), pki.pair, now=NOW)
    cut = validate(pki.response(short_signer, this_update=this_update), pki.pair, now=NOW)
    assert cut.valid
    assert due_reason(uncut, now=NOW, refresh_fraction=0.5) is None  # 30 h of 7 d
    assert "56% of the current staple" in (due_reason(cut, now=NOW, refresh_fraction=0.5) or "")  # 30 h of 54 h
    assert due_reason(None, now=NOW, refresh_fraction=0.5) == "no current staple"


# -- failure rule and per-certificate outcomes ----------------------------------------------------


def test_no_valid_staple_at_all_fails_with_a_message(
    spec: CertificateSpec, responder: TestResponder, tmp_path: Path
) -> None:
    responder.configure(fault="try_later")
    result = refresh([spec], tmp_path, attempts=2)
    cert = result.certificates[0]
    assert (result.failed, cert.action) == (True, "failed")
    assert cert.message.startswith("www: no valid staple after 2 attempts")
    assert not (tmp_path / "www" / "current.der").exists()


def test_a_staple_below_critical_remaining_fails(
    spec: CertificateSpec, responder: TestResponder, pki: Pki, tmp_path: Path
) -> None:
    responder.configure(fault="try_later")
    seed(tmp_path, pki.response(this_update=NOW - dt.timedelta(days=6)))  # 23 h left
    assert not refresh([spec], tmp_path, critical_remaining=12 * 3600).failed
    result = refresh([spec], tmp_path, critical_remaining=2 * 86400)
    assert result.failed
    assert "less than critical_remaining 2 d" in result.certificates[0].message


def test_without_an_ocsp_url_a_certificate_is_not_applicable_unless_must_staple(pki: Pki, tmp_path: Path) -> None:
    plain = forge.make_leaf(pki.ca, "plain.example.org", now=NOW, ocsp_url=None)
    strict = forge.make_leaf(pki.ca, "strict.example.org", now=NOW, ocsp_url=None, must_staple=True)
    for name, issued in (("plain", plain), ("strict", strict)):
        (tmp_path / f"{name}.pem").write_bytes(issued.pem + pki.ca.pem)
    specs = parse_certificates(
        [
            {"name": "plain", "certificate": str(tmp_path / "plain.pem")},
            {"name": "strict", "certificate": str(tmp_path / "strict.pem")},
        ]
    )
    result = refresh(specs, tmp_path / "store")
    plain_result, strict_result = result.certificates
    assert (plain_result.action, plain_result.failed) == ("not_applicable", False)
    assert (strict_result.action, strict_result.failed) == ("failed", True)
    assert "Must-Staple" in strict_result.message
    assert result.failed


def test_an_unreadable_certificate_fails_alone(spec: CertificateSpec, tmp_path: Path) -> None:
    broken = CertificateSpec("broken", str(tmp_path / "missing.pem"), None, spec.responder_url)
    result = refresh([broken, spec], tmp_path / "store")
    assert [c.action for c in result.certificates] == ["failed", "updated"]
    assert "missing.pem" in result.certificates[0].message


@pytest.mark.parametrize(
    ("items", "match"),
    [
        ("www", "expected a list"),
        ([{"name": "a/b", "certificate": "x"}], "certificate name 'a/b'"),
        ([{"name": "a", "certificate": "x"}, {"name": "a", "certificate": "y"}], "appears twice"),
        ([{"name": "a"}], "'certificate'"),
        ([{"name": "a", "certificate": "x", "responder_url": "ftp://h/"}], "scheme 'ftp'"),
        ([{"name": "a", "certificate": "x", "colour": "red"}], "unknown keys colour"),
    ],
)
def test_bad_certificate_lists_are_refused(items: Any, match: str) -> None:
    from ocsp_staple.errors import InputError

    with pytest.raises(InputError, match=match):
        parse_certificates(items)


# -- freeze: observe, never change --------------------------------------------------------------


def test_a_frozen_certificate_is_observed_but_never_changed(
    spec: CertificateSpec, responder: TestResponder, pki: Pki, tmp_path: Path
) -> None:
    current = pki.response(this_update=NOW - dt.timedelta(days=5))
    pinned = pki.response(this_update=NOW - dt.timedelta(hours=3))
    seed(tmp_path, current)
    (tmp_path / "www" / "pinned.der").write_bytes(pinned)
    (tmp_path / "www" / "pin.json").write_text(json.dumps({"by": "ops", "reason": "CA incident"}))
    result = refresh([spec], tmp_path)
    cert = result.certificates[0]
    assert (cert.action, cert.frozen, result.changed) == ("frozen", True, False)
    assert requests_served(responder) == 1  # still observed
    assert (tmp_path / "www" / "current.der").read_bytes() == current
    state = json.loads((tmp_path / "www" / "state.json").read_text())
    assert state["frozen"] is True
    assert state["last_outcome"] == "ok"
    assert cert.facts["this_update"] == iso(NOW - dt.timedelta(hours=3))  # facts of the pinned staple


# -- concurrency ------------------------------------------------------------------------------


def test_two_concurrent_runs_leave_a_consistent_store(
    pki: Pki, responder: TestResponder, tmp_path: Path, pki_files: dict[str, str]
) -> None:
    responder.configure(mix={"try_later": 0.3, "bad_signature": 0.2, "short_lived": 0.2}, seed=7)
    specs = [CertificateSpec(f"cert{n}", pki_files["leaf"], pki_files["ca"], responder.url) for n in range(6)]
    outcomes: list[RunResult] = []

    def one() -> None:
        outcomes.append(refresh(specs, tmp_path, force=True, attempts=4, concurrency=3))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == 2
    for spec_ in specs:
        directory = tmp_path / spec_.name
        best = max(
            (
                a.facts["expires_at"]
                for o in outcomes
                for c in o.certificates
                if c.name == spec_.name
                for a in c.attempts
                if a.outcome == "valid" and a.facts
            ),
            default=None,
        )
        if best is None:
            # Eight bad answers in a row happen (about 1 run in 40 over six certificates): nothing is stored.
            assert not (directory / "current.der").exists()
            assert all(c.failed for o in outcomes for c in o.certificates if c.name == spec_.name)
            continue
        current = (directory / "current.der").read_bytes()
        verdict = validate(current, pki.pair, now=NOW)
        assert verdict.valid
        state = json.loads((directory / "state.json").read_text())
        assert state["current"]["expires_at"] == iso(verdict.facts.expires_at)
        assert current in [p.read_bytes() for p in (directory / "history").iterdir()]
        for record in (directory / "quarantine").glob("*.json"):
            data = json.loads(record.read_text())
            if "file" in data:
                assert (directory / "quarantine" / data["file"]).exists()
        assert not list(directory.rglob("*.tmp"))
        assert iso(verdict.facts.expires_at) == best


# -- the command ------------------------------------------------------------------------------


def test_the_refresh_command_prints_one_line_per_certificate_and_exits_by_the_failure_rule(
    spec: CertificateSpec, responder: TestResponder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = tmp_path / "certs.yml"
    listing.write_text(
        f"- name: www\n  certificate: {spec.certificate}\n  issuer: {spec.issuer}\n"
        f"  responder_url: {spec.responder_url}\n"
    )
    argv = ["refresh", "--store", str(tmp_path / "store"), "--certificates", str(listing), "--now", NOW.isoformat()]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"www: updated, expires {iso(NOW + dt.timedelta(days=7) - dt.timedelta(minutes=1))} (6 d 23 h left)"
    ]
    responder.configure(fault="try_later")
    assert cli.main([*argv, "--force", "--critical-remaining", "8d"]) == 2
    line = capsys.readouterr().out.strip()
    assert line.startswith("www: staple expires")
    assert "critical_remaining 8 d" in line


def test_options_parse_durations_and_refuse_nonsense() -> None:
    parsed = RefreshOptions.from_params({"timeout": "2.5", "deadline": "2m", "min_remaining": "6h", "proxy": None})
    assert (parsed.timeout, parsed.deadline, parsed.min_remaining) == (2.5, 120.0, 6 * 3600)
    from ocsp_staple.errors import InputError

    with pytest.raises(InputError, match="refresh_fraction"):
        dataclasses.replace(parsed, refresh_fraction=1.5)
    with pytest.raises(InputError, match="attempts"):
        RefreshOptions(attempts=0)


def test_an_unreadable_state_record_is_started_afresh_with_a_warning(
    spec: CertificateSpec, pki: Pki, tmp_path: Path
) -> None:
    seed(tmp_path, pki.response(this_update=NOW - dt.timedelta(days=5)))
    (tmp_path / "www" / "state.json").write_text("")  # what a crash may leave: it is not fsync'd
    result = refresh([spec], tmp_path)
    cert = result.certificates[0]
    assert (cert.action, cert.failed) == ("updated", False)
    assert any("state.json: not JSON" in w for w in cert.warnings)
    assert json.loads((tmp_path / "www" / "state.json").read_text())["last_outcome"] == "ok"


def test_an_expired_certificate_fails_without_a_request_and_keeps_the_store(
    pki: Pki, responder: TestResponder, tmp_path: Path
) -> None:
    leaf = forge.make_leaf(pki.ca, "old.example.org", now=NOW, not_after=NOW - dt.timedelta(hours=1))
    (tmp_path / "old.pem").write_bytes(leaf.pem + pki.ca.pem)
    previous = pki.response()
    seed(tmp_path / "store", previous, name="old")
    spec = CertificateSpec("old", str(tmp_path / "old.pem"), None, responder.url)
    cert = refresh([spec], tmp_path / "store", force=True).certificates[0]
    assert (cert.action, cert.failed) == ("failed", True)
    assert cert.message == (
        f"old: certificate file {tmp_path / 'old.pem'}: CN=old.example.org expired 2026-03-01T11:00:00Z: "
        "renew it, nothing to staple"
    )
    assert requests_served(responder) == 0
    assert (tmp_path / "store" / "old" / "current.der").read_bytes() == previous
