"""The short form of the fuzzer (issue 10): 2,000 seeded mutations of real and forged responses
through policy.validate, ``ocsp-staple show``/``check --file`` and refresh runs against a
server on 127.0.0.1. ``make fuzz N=20000`` is the long form."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from ocsp_staple.policy import Verdict

from testbed import fuzz

SHORT = 2000


def with_real_vectors() -> bool:
    """The real CA responses are part of the corpus; in .venv (requirements-dev.txt) their absence fails."""
    if Path(sys.prefix).name == ".venv":
        fuzz.vectors_dir()  # ImportError naming the requirement
        return True
    return importlib.util.find_spec("cryptography_vectors") is not None


def with_refresh() -> bool:
    """The refresh path needs requests (the central host's); Debian's bare python3 may lack it."""
    return Path(sys.prefix).name == ".venv" or importlib.util.find_spec("requests") is not None


@pytest.fixture(scope="module")
def short_run() -> fuzz.Counts:
    refresh_every = 10 if with_refresh() else 0
    return fuzz.run_fuzz(SHORT, seed=1, cli_every=1, refresh_every=refresh_every, real=with_real_vectors())


def test_no_exception_escapes_and_every_verdict_names_its_problems(short_run: fuzz.Counts) -> None:
    print(short_run.report())
    assert short_run.mutations == SHORT
    assert short_run.failures == []
    assert short_run.exceptions == 0
    assert short_run.no_named_problem == 0


def test_no_mutation_of_the_signed_bytes_is_valid(short_run: fuzz.Counts) -> None:
    assert short_run.valid_after_signed_change == 0
    # ... and the run was able to tell: many mutations still parse while changing signed bytes
    assert short_run.signed_changed_parsed >= 100
    assert short_run.codes["bad_signature"] >= 30


def test_cli_and_refresh_agree_with_the_verdicts(short_run: fuzz.Counts) -> None:
    assert short_run.cli_disagreements == 0
    assert short_run.refresh_disagreements == 0
    assert short_run.cli_runs >= 300
    if with_refresh():
        assert short_run.refresh_runs >= 2
        assert short_run.refresh_results >= 50


@pytest.mark.parametrize("fresh", [False, True], ids=["stored", "forged-anew"])
def test_corpus_holds_real_and_forged_responses_valid_at_their_dates(fresh: bool, tmp_path: Path) -> None:
    if fresh:
        fuzz.write_corpus(tmp_path)
    own = fuzz.own_seeds(tmp_path if fresh else fuzz.CORPUS)
    real = fuzz.real_seeds(own[0].pair) if with_real_vectors() else []
    valid = {seed.name for seed in fuzz.prepare(own + real) if seed.valid}
    assert {
        "ec-issuer",
        "ec-delegated",
        "rsa-pss",
        "ec-sha384-cert-id",
        "ec-other-entry-first",
        "ec-extensions",
    } <= valid
    if real:
        assert len(real) >= 15
        assert fuzz.LE_RESPONSE in valid


def test_same_seed_same_mutations() -> None:
    first = fuzz.run_fuzz(150, seed=7, cli_every=0, refresh_every=0, real=False)
    second = fuzz.run_fuzz(150, seed=7, cli_every=0, refresh_every=0, real=False)
    assert first.codes == second.codes
    assert first.kinds == second.kinds


def test_the_fuzzer_catches_a_policy_that_accepts_changed_bytes_or_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """The assertions above can fail: a policy that says yes to everything, or raises, is caught."""
    monkeypatch.setattr(fuzz, "validate", lambda data, pair, **kw: Verdict(valid=True))
    lenient = fuzz.run_fuzz(100, seed=3, cli_every=0, refresh_every=0, real=False)
    assert lenient.valid_after_signed_change > 50

    def raising(data: bytes, pair: Any, **kw: Any) -> Verdict:
        raise ValueError("boom")

    monkeypatch.setattr(fuzz, "validate", raising)
    crashing = fuzz.run_fuzz(20, seed=3, cli_every=0, refresh_every=0, real=False)
    assert crashing.exceptions == 20
