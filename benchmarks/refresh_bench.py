"""Benchmark of the central refresh (issue 3).

Refreshes N certificates (default 1,000) of one EC CA against the test responder with
50 ms latency per answer, into an empty store on disk, and reports:

- the wall time of ``refresh.run`` (what ``ocsp_response`` and ``ocsp-staple refresh``
  call), measured inside a child process that does nothing else, and that child's
  whole lifetime (interpreter start and imports included);
- the child's peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss`` in the child): the
  responder runs in this parent process, so its memory is not counted;
- a sequential ``openssl ocsp`` loop (request, fetch, verify against the CA, write the
  response) over a sample of certificates against the same responder, the way shell
  updaters work; its mean time per certificate times N is the sequential estimate.

The responder (ThreadingHTTPServer in this process) and the refresh share the machine's
cores. Leaves share one key (distinct serials) so generating them stays quick.
Targets: refresh <= 5 s wall, >= 10x faster than sequential, peak RSS <= 150 MB.
Run: ``make bench`` or ``python -m benchmarks.refresh_bench [--count N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "module_utils"))

from ocsp_staple.central.options import RefreshOptions
from ocsp_staple.central.refresh import run
from ocsp_staple.spec import load_certificates_file

from testbed import forge
from testbed.ocsp_responder import Behaviour, TestResponder

TARGET_WALL = 5.0
TARGET_SPEEDUP = 10.0
TARGET_RSS_MB = 150.0


def make_certificates(directory: Path, count: int, url: str) -> Path:
    """``count`` leaves of one EC CA sharing one key; returns the certificates list file."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ca = forge.make_ca("Bench CA", now=now)
    shared = forge.new_key("ec")
    (directory / "ca.pem").write_bytes(ca.pem)
    (directory / "ca.key").write_bytes(ca.key_pem())
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    listing = []
    for index in range(count):
        name = f"site{index:04d}.bench.test"
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca.cert.subject)
            .public_key(shared.public_key())
            .serial_number(0x100000 + index)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=90))
            .sign(ca.key, hashes.SHA256())
        )
        path = directory / f"{name}.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        listing.append(
            {"name": name, "certificate": str(path), "issuer": str(directory / "ca.pem"), "responder_url": url}
        )
    certificates = directory / "certificates.json"
    certificates.write_text(json.dumps(listing))
    return certificates


def child(certificates: str, store: str, concurrency: int) -> int:
    """The measured refresh: load the list, run it, print wall time and own peak RSS as JSON."""
    specs = load_certificates_file(certificates)
    options = RefreshOptions(concurrency=concurrency, deadline=120, timeout=10)
    start = time.perf_counter()
    outcome = run(specs, store, options, clock=lambda: dt.datetime.now(dt.UTC))
    wall = time.perf_counter() - start
    actions: dict[str, int] = {}
    for cert in outcome.certificates:
        actions[cert.action] = actions.get(cert.action, 0) + 1
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "wall": wall,
                "rss_mb": usage.ru_maxrss / 1024,
                "cpu": usage.ru_utime + usage.ru_stime,
                "user": usage.ru_utime,
                "actions": actions,
                "failed": outcome.failed,
            }
        )
    )
    return 0


def openssl_loop(directory: Path, url: str, sample: int) -> float:
    """Mean seconds per certificate of a sequential ``openssl ocsp`` loop over ``sample`` leaves."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SystemExit("openssl not found on PATH")
    leaves = sorted(directory.glob("site*.pem"))[:sample]
    start = time.perf_counter()
    for leaf in leaves:
        out = directory / f"{leaf.stem}.openssl.der"
        done = subprocess.run(
            [
                openssl, "ocsp", "-issuer", str(directory / "ca.pem"), "-cert", str(leaf), "-url", url,
                "-CAfile", str(directory / "ca.pem"), "-respout", str(out), "-no_nonce",
            ],
            capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        if done.returncode != 0 or ": good" not in done.stdout:
            raise SystemExit(f"openssl ocsp failed for {leaf.name}: {done.stdout} {done.stderr}")
    return (time.perf_counter() - start) / len(leaves)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--child", nargs=2, metavar=("CERTIFICATES", "STORE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child[0], args.child[1], args.concurrency)

    with tempfile.TemporaryDirectory(prefix="refresh-bench-") as tmp:
        directory = Path(tmp)
        # The responder needs the CA before the certificates exist: build both, then point it at the CA.
        start = time.perf_counter()
        placeholder = "http://127.0.0.1:1/"
        certificates = make_certificates(directory, args.count, placeholder)
        made = time.perf_counter() - start
        ca_cert = forge.load_issued(str(directory / "ca.pem"), str(directory / "ca.key"))
        server = TestResponder(ca_cert, behaviour=Behaviour(latency=args.latency))
        server.start()
        try:
            certificates.write_text(certificates.read_text().replace(placeholder, server.url))
            env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "module_utils")}
            command = [sys.executable, "-m", "benchmarks.refresh_bench", "--concurrency", str(args.concurrency)]
            command += ["--child", str(certificates), str(directory / "store")]
            started = time.perf_counter()
            before = resource.getrusage(resource.RUSAGE_SELF)
            done = subprocess.run(
                command, capture_output=True, text=True, env=env, check=False, timeout=600,
                cwd=Path(__file__).resolve().parent.parent,
            )  # fmt: skip
            child_total = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_SELF)
            responder_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            if done.returncode != 0:
                raise SystemExit(f"refresh child failed: {done.stderr}")
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            served = server.stats()["requests"]
            per_cert = openssl_loop(directory, server.url, args.sample)
        finally:
            server.stop()
    sequential = per_cert * args.count
    speedup = sequential / figures["wall"]
    print(f"refresh of {args.count} certificates, responder latency {args.latency * 1000:.0f} ms, "
          f"concurrency {args.concurrency} (certificates generated in {made:.1f} s)")  # fmt: skip
    print(f"  refresh.run wall time          {figures['wall']:.2f} s   (target <= {TARGET_WALL:g} s)")
    print(f"  child process wall (w/ start)  {child_total:.2f} s")
    print(
        f"  CPU (user+sys)                 refresh child {figures['cpu']:.2f} s (user {figures['user']:.2f} s), "
        f"responder {responder_cpu:.2f} s, on 2 shared cores"
    )
    print(f"  child peak RSS                 {figures['rss_mb']:.1f} MB (target <= {TARGET_RSS_MB:g} MB)")
    print(f"  actions                        {figures['actions']}, requests served {served}")
    print(f"  openssl ocsp, sequential       {per_cert * 1000:.1f} ms/cert over {args.sample} certs "
          f"-> {sequential:.1f} s for {args.count} (mean x {args.count})")  # fmt: skip
    print(f"  speed-up                       {speedup:.1f}x  (target >= {TARGET_SPEEDUP:g}x)")
    ok = (
        figures["wall"] <= TARGET_WALL
        and speedup >= TARGET_SPEEDUP
        and figures["rss_mb"] <= TARGET_RSS_MB
        and not figures["failed"]
    )
    print(f"  targets {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
