"""Benchmark of the validation policy (issue 2).

For an RSA-2048 and an ECDSA P-256 CA, with a staple signed by a delegated responder (the
2015 shape: two signatures to check), measure the median of:

- in-process: ``policy.validate`` on the staple (every check of the policy);
- floor: the bare signature verifications that staple needs - the response signature with
  the responder key and the responder certificate with the issuer key;
- CLI: ``openssl ocsp -respin ... -issuer ... -verify_other ... -VAfile ... -cert ...`` as a
  subprocess, which is what shell updaters run per staple.

Prints the three medians and the ratios. Targets: in-process <= 2x the floor, >= 20x
faster than the CLI. Run: ``make bench`` or ``python -m benchmarks.validate_bench``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "module_utils"))

from ocsp_staple.certs import CertPair, verify_signature
from ocsp_staple.policy import validate

from testbed import forge


def median_seconds(func: Callable[[], object], *, rounds: int, per_round: int) -> float:
    """Median over ``rounds`` of the mean time of ``per_round`` calls."""
    func()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            func()
        samples.append((time.perf_counter() - start) / per_round)
    return statistics.median(samples)


def bench(key_type: str, *, rounds: int, per_round: int, cli_runs: int) -> dict[str, float]:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ca = forge.make_ca("Bench CA", now=now, key_type=key_type)
    leaf = forge.make_leaf(ca, "www.bench.test", now=now, key_type=key_type)
    responder = forge.make_responder(ca, "Bench CA OCSP Responder", now=now, key_type=key_type)
    data = forge.make_response(
        leaf.cert, ca.cert, responder, this_update=now - dt.timedelta(hours=1), next_update=now + dt.timedelta(days=7)
    )
    pair = CertPair(leaf=leaf.cert, issuer=ca.cert, source="bench")
    verdict = validate(data, pair, now=now)
    if not verdict.valid:
        raise SystemExit(f"bench staple is not valid: {verdict.summary()}")

    from cryptography.x509 import ocsp

    parsed = ocsp.load_der_ocsp_response(data)
    responder_key, issuer_key = responder.cert.public_key(), ca.cert.public_key()
    rcert = responder.cert

    def floor() -> None:
        ok = verify_signature(
            responder_key, parsed.signature, parsed.tbs_response_bytes, parsed.signature_hash_algorithm
        ) and verify_signature(issuer_key, rcert.signature, rcert.tbs_certificate_bytes, rcert.signature_hash_algorithm)
        if not ok:
            raise SystemExit("floor verification failed")

    in_process = median_seconds(lambda: validate(data, pair, now=now), rounds=rounds, per_round=per_round)
    floor_s = median_seconds(floor, rounds=rounds, per_round=per_round)

    with tempfile.TemporaryDirectory() as tmp:
        paths = {n: os.path.join(tmp, n) for n in ("resp.der", "ca.pem", "leaf.pem", "responder.pem")}
        forge.write(paths["resp.der"], data)
        forge.write(paths["ca.pem"], ca.pem)
        forge.write(paths["leaf.pem"], leaf.pem)
        forge.write(paths["responder.pem"], responder.pem)
        cmd = [
            "openssl", "ocsp", "-respin", paths["resp.der"], "-issuer", paths["ca.pem"], "-cert", paths["leaf.pem"],
            "-CAfile", paths["ca.pem"], "-verify_other", paths["responder.pem"], "-no_nonce",
        ]  # fmt: skip
        check = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if check.returncode != 0 or ": good" not in check.stdout:
            raise SystemExit(f"openssl ocsp did not verify the bench staple: {check.stdout} {check.stderr}")
        cli = median_seconds(lambda: subprocess.run(cmd, capture_output=True, check=True), rounds=cli_runs, per_round=1)
    return {"in_process": in_process, "floor": floor_s, "cli": cli}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=200)
    parser.add_argument("--cli-runs", type=int, default=25)
    args = parser.parse_args(argv)
    print("validation benchmark: staple signed by a delegated responder (2 signatures), medians")
    print(f"{'CA':<16}{'in-process':>12}{'floor':>10}{'openssl CLI':>13}{'in/floor':>10}{'CLI/in':>9}")
    failed = False
    for key_type, label in (("rsa", "RSA-2048"), ("ec", "ECDSA P-256")):
        r = bench(key_type, rounds=args.rounds, per_round=args.per_round, cli_runs=args.cli_runs)
        ratio_floor = r["in_process"] / r["floor"]
        ratio_cli = r["cli"] / r["in_process"]
        print(
            f"{label:<16}{r['in_process'] * 1e3:>10.3f}ms{r['floor'] * 1e3:>8.3f}ms{r['cli'] * 1e3:>11.2f}ms"
            f"{ratio_floor:>9.2f}x{ratio_cli:>8.0f}x"
        )
        failed |= ratio_floor > 2 or ratio_cli < 20
    print("targets: in-process <= 2x floor, >= 20x faster than the CLI:", "MISSED" if failed else "met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
