"""A seeded, reproducible fuzzer of the validation policy (issue 10).

Corpus: real CA responses (the ``cryptography_vectors`` package, ``x509/ocsp/``; the Let's
Encrypt one is judged against the real Let's Encrypt X3 certificate and is valid on its own
date) and this project's forged responses (:mod:`testbed.forge`, :mod:`testbed.forge_interop`:
issuer-signed and delegated, RSA PKCS#1, RSASSA-PSS and ECDSA, SHA-1/256/384 CertIDs,
extensions, several SingleResponses, no nextUpdate, tryLater).

Mutations: structure-aware (walk the DER tree, the OCTET STRING that holds the
BasicOCSPResponse included, and lie in a length, change a tag, change or truncate a value,
duplicate, delete, swap, insert or splice elements), byte-level (flip, insert, delete,
overwrite, truncate, append), one to three stacked; and, now and then, a real certificate of
the vectors (580 of them, some the library cannot read) added to the unsigned certs field.

Every mutation goes through :func:`policy.validate`; mutations of the forged responses also
through ``ocsp-staple show FILE`` and ``ocsp-staple check --file`` (the CLI's main, in
process) and, in batches, through a refresh run against an HTTP server on 127.0.0.1 that
serves them. It counts exceptions that escape, verdicts without named problems, CLI exit
codes and stored staples that disagree with the verdict, and valid verdicts for bytes whose
signed part (tbsResponseData) is not one a corpus signer signed — all must be 0. (A splice
can move a whole other response of the corpus in: still genuinely signed, so valid.)

    python -m testbed.fuzz -n 20000 --seed 1        # make fuzz N=20000
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as _dt
import io
import os
import random
import re
import sys
import tempfile
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp
from ocsp_staple import policy
from ocsp_staple.certs import CertPair
from ocsp_staple.policy import PROBLEM_CODES, Verdict, validate

from testbed import forge, httpd
from testbed import forge_interop as fi

NOW = _dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=_dt.UTC)
HOUR = _dt.timedelta(hours=1)
#: The one Let's Encrypt response of the vectors whose issuer certificate the vectors also ship, and its date.
LE_RESPONSE, LE_ISSUER, LE_NOW = "resp-sha256.der", "letsencryptx3.pem", _dt.datetime(2018, 9, 1, tzinfo=_dt.UTC)


@dataclass
class Seed:
    name: str
    data: bytes
    pair: CertPair
    now: _dt.datetime
    files: tuple[str, str] | None = None  # leaf and issuer PEM files (CLI and refresh), own PKI only
    tbs: bytes | None = None
    valid: bool = False
    tree: fi.Node | None = None


@dataclass
class Counts:
    mutations: int = 0
    unchanged: int = 0
    exceptions: int = 0
    no_named_problem: int = 0
    valid_after_signed_change: int = 0
    valid_unsigned_change: int = 0
    valid: int = 0
    parsed: int = 0
    caught: int = 0
    signed_changed_parsed: int = 0
    cli_runs: int = 0
    cli_disagreements: int = 0
    refresh_runs: int = 0
    refresh_results: int = 0
    refresh_disagreements: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def bad(self) -> int:
        return (
            self.exceptions
            + self.no_named_problem
            + self.valid_after_signed_change
            + self.cli_disagreements
            + self.refresh_disagreements
        )

    def fail(self, what: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(what)

    def report(self) -> str:
        lines = [
            f"mutations run                      {self.mutations} ({self.unchanged} left the bytes unchanged)",
            f"exceptions escaping                {self.exceptions}",
            f"verdicts without a named problem   {self.no_named_problem}",
            f"valid after signed bytes changed   {self.valid_after_signed_change} (signing none of the corpus)",
            f"valid, signed bytes genuine        {self.valid_unsigned_change} (unsigned parts changed, or a whole "
            "response spliced in)",
            f"valid (unchanged or unsigned only) {self.valid}",
            f"read as an OCSPResponse            {self.parsed} (signed bytes changed: {self.signed_changed_parsed})",
            f"library refusals caught by policy  {self.caught} (malformed: '<part> cannot be read (<exception>)')",
            f"CLI show + check runs              {self.cli_runs} (exit code disagreeing with the verdict: "
            f"{self.cli_disagreements})",
            f"refresh runs / certificates        {self.refresh_runs} / {self.refresh_results} (store disagreeing "
            f"with the verdict: {self.refresh_disagreements})",
            "mutation kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(self.kinds.items())),
            "problem codes:",
            *(f"  {code:<32} {n}" for code, n in self.codes.most_common()),
        ]
        lines += [f"FAILURE: {line}" for line in self.failures]
        return "\n".join(lines)


# --- corpus --------------------------------------------------------------------------------------


def vectors_dir() -> Path:
    """``cryptography_vectors``' x509 directory; ImportError naming the requirement when it is missing."""
    try:
        import cryptography_vectors
    except ImportError as exc:
        raise ImportError(
            "the fuzz corpus needs the PyPI package cryptography_vectors (pinned in requirements-dev.txt, "
            "the version of cryptography): pip install -r requirements-dev.txt"
        ) from exc
    return Path(cryptography_vectors.__file__).parent / "x509"


def vector_certificates(root: Path) -> list[tuple[str, bytes]]:
    """Every certificate of the vectors' x509 tree as DER (PEM bundles split), loadable or not."""
    pem = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.DOTALL)
    found = []
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".pem", ".der", ".crt") or not path.is_file():
            continue
        data = path.read_bytes()
        blocks = [base64.b64decode(b"".join(m.split())) for m in pem.findall(data)] if b"-----BEGIN" in data else [data]
        found += [(f"{path.relative_to(root)}#{i}", der) for i, der in enumerate(blocks)]
    return found


def real_seeds(own: CertPair) -> list[Seed]:
    """Every response of the vectors' x509/ocsp/; the Let's Encrypt one with its real issuer (valid)."""
    root = vectors_dir()
    issuer = x509.load_pem_x509_certificate((root / LE_ISSUER).read_bytes())
    seeds = []
    for path in sorted((root / "ocsp").glob("*resp*.der")):
        data = path.read_bytes()
        if path.name == LE_RESPONSE:
            serial = ocsp.load_der_ocsp_response(data).serial_number
            stand_in = forge.make_ca("Fuzz stand-in", now=LE_NOW)
            leaf = forge.make_leaf(stand_in, "le.example", now=LE_NOW, serial=serial).cert
            seeds.append(Seed(path.name, data, CertPair(leaf, issuer, "vector"), LE_NOW))
        else:
            seeds.append(Seed(path.name, data, own, NOW))
    return seeds


#: This project's forged responses and their PKIs, made once (``--write-corpus``) so that a seed
#: always draws the same mutations: fresh keys and ECDSA signatures would change every run.
CORPUS = Path(__file__).with_name("fuzz_corpus")


def write_corpus(directory: Path = CORPUS) -> None:
    """Forge the corpus: two PKIs (EC and RSA) and responses valid at NOW unless named otherwise."""
    directory.mkdir(exist_ok=True)
    for key_type in ("ec", "rsa"):
        ca = forge.make_ca("Test CA", now=NOW, key_type=key_type)
        leaf = forge.make_leaf(ca, "www.example.org", now=NOW, key_type=key_type, serial=0x1234ABCD)
        other = forge.make_leaf(ca, "other.example.org", now=NOW, key_type=key_type)
        responder = forge.make_responder(ca, "Test CA OCSP Responder", now=NOW, key_type=key_type)
        (directory / f"{key_type}-leaf.pem").write_bytes(leaf.pem)
        (directory / f"{key_type}-ca.pem").write_bytes(ca.pem)

        def response(
            signer: forge.Issued = ca, cert: forge.Issued = leaf, issuer: forge.Issued = ca, **kw: object
        ) -> bytes:
            kw.setdefault("next_update", NOW + 7 * 24 * HOUR)
            return forge.make_response(cert.cert, issuer.cert, signer, this_update=NOW - HOUR, **kw)  # type: ignore[arg-type]

        base = response()
        nonce = fi.extension("1.3.6.1.5.5.7.48.1.2", b"\x04\x02ab", critical=False)
        shapes = {
            "issuer": base,
            "issuer-by-name": response(responder_id="name"),
            "delegated": response(responder),
            "sha256-cert-id": response(cert_id_hash="sha256"),
            "sha384-cert-id": fi.cert_id_hash_response(
                leaf.cert, ca, hashes.SHA384(), this_update=NOW - HOUR, next_update=NOW + 7 * 24 * HOUR
            ),
            "extensions": fi.with_single_extension(
                fi.with_response_extension(base, ca.key, nonce),
                ca.key,
                fi.extension("2.5.29.21", b"\x0a\x01\x00", critical=False),
            ),
            "other-entry-first": fi.with_singles_before(base, ca.key, [response(cert=other)]),
            "revoked": response(status="revoked", revocation_time=NOW - 2 * HOUR),
            "no-next-update": response(next_update=None),
            "try-later": forge.unsuccessful("try_later"),
        }
        if key_type == "rsa":
            shapes["pss"] = fi.pss_signed(base, ca.key, digest="sha256", salt=32)
        for name, data in shapes.items():
            (directory / f"{key_type}-{name}.der").write_bytes(data)


def own_seeds(directory: Path = CORPUS) -> list[Seed]:
    """The forged corpus (``write_corpus``), each response with its PKI's leaf and issuer files."""
    seeds = []
    for key_type in ("ec", "rsa"):
        files = (str(directory / f"{key_type}-leaf.pem"), str(directory / f"{key_type}-ca.pem"))
        leaf, issuer = (x509.load_pem_x509_certificate(Path(f).read_bytes()) for f in files)
        pair = CertPair(leaf, issuer, "fuzz leaf")
        for path in sorted(directory.glob(f"{key_type}-*.der")):
            seeds.append(Seed(path.stem, path.read_bytes(), pair, NOW, files))
    if not seeds:
        raise FileNotFoundError(f"no forged corpus in {directory}: python -m testbed.fuzz --write-corpus")
    return seeds


def prepare(seeds: list[Seed]) -> list[Seed]:
    for seed in seeds:
        seed.valid = policy.validate(seed.data, seed.pair, now=seed.now).valid
        with contextlib.suppress(ValueError):
            seed.tbs = ocsp.load_der_ocsp_response(seed.data).tbs_response_bytes
        with contextlib.suppress(fi.DerParseError):
            seed.tree = fi.parse(seed.data)
    return seeds


# --- mutations ----------------------------------------------------------------------------------

#: Structure-aware mutation kinds; value changes that keep the DER readable are drawn most often.
KINDS = ["length", "tag", "value", "truncate", "duplicate", "delete", "swap", "insert", "splice"]
KIND_WEIGHTS = [1, 1, 5, 1, 1, 1, 1, 1, 2]
INTERESTING = [0x00, 0x01, 0x7F, 0x80, 0x81, 0xFF, 0x30, 0xA0, 0x04, 0x02, 0x05, 0x18]
TIMES = [b"99991231235959Z", b"19500101000000Z", b"20260301120000+0100", b"2026030112Z", b"", b"2026022930000000Z"]


def _walk(
    node: fi.Node, parent: fi.Node | None = None, index: int = -1
) -> Iterator[tuple[fi.Node, fi.Node | None, int]]:
    yield node, parent, index
    for i, child in enumerate(node.children or []):
        yield from _walk(child, node, i)


def _encode(node: fi.Node, lie: dict[int, Callable[[int], bytes]]) -> bytes:
    content = node.value if node.children is None else b"".join(_encode(c, lie) for c in node.children)
    length = lie[id(node)](len(content)) if id(node) in lie else fi.length_octets(len(content))
    return bytes([node.tag]) + length + content


def _copy(node: fi.Node) -> fi.Node:
    return fi.Node(
        node.tag, node.value, None if node.children is None else [_copy(c) for c in node.children], node.encapsulated
    )


def structural(rng: random.Random, tree: fi.Node, donors: list[fi.Node]) -> tuple[str, bytes]:
    """One structure-aware mutation of a copy of ``tree``."""
    root = _copy(tree)
    nodes = list(_walk(root))
    node, parent, index = rng.choice(nodes)
    kind = rng.choices(KINDS, weights=KIND_WEIGHTS)[0]
    lie: dict[int, Callable[[int], bytes]] = {}
    siblings = parent.children if parent is not None and parent.children is not None else None
    if kind == "length":
        how = rng.choice(["minus", "plus", "zero", "indefinite", "huge", "non-minimal"])
        lie[id(node)] = {
            "minus": lambda n: fi.length_octets(max(0, n - rng.randint(1, 3))),
            "plus": lambda n: fi.length_octets(n + rng.randint(1, 3)),
            "zero": lambda n: b"\x00",
            "indefinite": lambda n: b"\x80",
            "huge": lambda n: b"\x84\x7f\xff\xff\xff",
            "non-minimal": lambda n: b"\x82" + n.to_bytes(2, "big"),
        }[how]
    elif kind == "tag":
        node.tag = rng.choice(
            [rng.randrange(256) & ~0x1F | rng.randrange(31), node.tag ^ 0x20, node.tag ^ 0x80, rng.choice(INTERESTING)]
        )
    elif kind == "value":
        if node.tag == 0x18 and rng.random() < 0.5:
            node.children, node.value = None, rng.choice(TIMES)
        elif node.tag == 0x02 and rng.random() < 0.5:
            node.children, node.value = None, rng.choice([b"\x00", b"\xff", b"\x7f" + b"\xff" * 20, b"", b"\x00\x01"])
        elif node.children is None and node.value:
            value = bytearray(node.value)
            for _ in range(rng.randint(1, 4)):
                value[rng.randrange(len(value))] ^= 1 << rng.randrange(8)
            node.value = bytes(value)
        else:
            node.children, node.value = None, rng.randbytes(rng.randint(0, 40))
    elif kind == "truncate":
        if node.children:
            node.children = node.children[: rng.randrange(len(node.children))]
        else:
            node.value = node.value[: rng.randrange(len(node.value) + 1)]
    elif kind in ("duplicate", "delete", "swap", "insert") and siblings is not None:
        if kind == "duplicate":
            siblings.insert(index, _copy(node))
        elif kind == "delete":
            del siblings[index]
        elif kind == "swap":
            other = rng.randrange(len(siblings))
            siblings[index], siblings[other] = siblings[other], siblings[index]
        else:
            siblings.insert(
                rng.randrange(len(siblings) + 1), fi.Node(rng.choice(INTERESTING), rng.randbytes(rng.randint(0, 8)))
            )
    elif kind == "splice" and parent is not None and siblings is not None:
        donor = rng.choice(donors)
        siblings[index] = _copy(rng.choice([n for n, _p, _i in _walk(donor)]))
    else:
        kind = "value"
        node.children, node.value = None, rng.randbytes(rng.randint(0, 12))
    return f"der-{kind}", _encode(root, lie)


def bytewise(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    value = bytearray(data)
    kind = rng.choice(["flip", "insert", "delete", "overwrite", "truncate", "append"])
    at = rng.randrange(len(value) + 1)
    if kind == "flip" and value:
        for _ in range(rng.randint(1, 8)):
            value[rng.randrange(len(value))] ^= 1 << rng.randrange(8)
    elif kind == "insert":
        value[at:at] = rng.randbytes(rng.randint(1, 16))
    elif kind == "delete":
        del value[at : at + rng.randint(1, 16)]
    elif kind == "overwrite" and value:
        value[min(at, len(value) - 1)] = rng.choice(INTERESTING)
    elif kind == "truncate":
        del value[at:]
    else:
        kind = "append"
        value += rng.randbytes(rng.randint(1, 16))
    return f"byte-{kind}", bytes(value)


def mutate(rng: random.Random, seed: Seed, donors: list[fi.Node], certs: list[bytes]) -> tuple[str, bytes]:
    """One to three stacked mutations; now and then a real certificate added to the unsigned certs field."""
    kinds, data = [], seed.data
    if certs and seed.tree is not None and rng.random() < 0.05:
        with contextlib.suppress(fi.DerParseError, IndexError):
            return "certs-field", fi.with_included(data, [rng.choice(certs)])
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        tree = None
        if rng.random() < 0.7:
            with contextlib.suppress(fi.DerParseError):
                tree = seed.tree if data == seed.data else fi.parse(data)
        kind, data = structural(rng, tree, donors) if tree is not None else bytewise(rng, data)
        kinds.append(kind)
    return "+".join(kinds) if len(kinds) == 1 else kinds[0] + "+more", data


# --- judging ------------------------------------------------------------------------------------


def signed_bytes_changed(seed: Seed, data: bytes) -> bool:
    """True when the seed's tbsResponseData is no longer what ``data`` signs (or not in it at all)."""
    if seed.tbs is None or seed.tbs not in data:
        return True
    try:
        return ocsp.load_der_ocsp_response(data).tbs_response_bytes != seed.tbs
    except ValueError:
        return True


def signed_by_a_corpus_signer(data: bytes, genuine: set[bytes]) -> bool:
    """True when what ``data`` signs is the tbsResponseData of a corpus response: its own, or one that a
    splice moved in whole with its signature. Anything else valid would be a forgery the policy accepted."""
    try:
        return ocsp.load_der_ocsp_response(data).tbs_response_bytes in genuine
    except ValueError:
        return False


def judge_one(counts: Counts, seed: Seed, kind: str, data: bytes, genuine: set[bytes]) -> Verdict | None:
    counts.mutations += 1
    counts.kinds[kind.split("+", maxsplit=1)[0]] += 1
    if data == seed.data:
        counts.unchanged += 1
    try:
        verdict = validate(data, seed.pair, now=seed.now)
    except Exception:
        counts.exceptions += 1
        counts.fail(f"validate raised on {seed.name} {kind} {data.hex()}: {traceback.format_exc(limit=3)}")
        return None
    counts.codes.update(verdict.codes)
    counts.caught += any(p.code == "malformed" and " cannot be read (" in p.message for p in verdict.problems)
    if not {"empty", "malformed"} & set(verdict.codes):
        counts.parsed += 1
        if data != seed.data and signed_bytes_changed(seed, data):
            counts.signed_changed_parsed += 1
    named = all(p.code in PROBLEM_CODES and p.message and "\n" not in p.message for p in verdict.problems)
    if verdict.valid == bool(verdict.problems) or not named:
        counts.no_named_problem += 1
        counts.fail(f"{seed.name} {kind}: valid={verdict.valid} problems={verdict.codes}")
    if verdict.valid:
        counts.valid += 1
        if data != seed.data:
            if not signed_by_a_corpus_signer(data, genuine):
                counts.valid_after_signed_change += 1
                counts.fail(f"{seed.name} {kind}: VALID after its signed bytes changed: {data.hex()}")
            else:
                counts.valid_unsigned_change += 1
    return verdict


def cli_one(counts: Counts, seed: Seed, data: bytes, verdict: Verdict, path: str) -> None:
    """``ocsp-staple show FILE`` (exit 0 valid / 1 not) and ``check --file`` (2 CRITICAL when invalid)."""
    from ocsp_staple.cli import main

    assert seed.files is not None
    Path(path).write_bytes(data)
    common = ["--cert", seed.files[0], "--issuer", seed.files[1], "--now", seed.now.isoformat()]
    counts.cli_runs += 1
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            shown = main(["show", path, *common])
            checked = main(["check", "--file", path, *common])
    except BaseException:  # SystemExit included: an argparse exit or a traceback is a failure here
        counts.exceptions += 1
        counts.fail(f"CLI raised on {seed.name} {data.hex()}: {traceback.format_exc(limit=3)}")
        return
    if shown != (0 if verdict.valid else 1) or (not verdict.valid and checked != 2) or (verdict.valid and checked == 2):
        counts.cli_disagreements += 1
        counts.fail(
            f"CLI on {seed.name}: show {shown}, check {checked}, verdict {verdict.codes}: {out.getvalue()[:300]}"
        )


@contextlib.contextmanager
def serving(bodies: list[bytes]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering ``POST /<i>`` with ``bodies[i]``; stopped when the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = bodies[int(self.path.strip("/"))]
            self.send_response(200)
            self.send_header("Content-Type", "application/ocsp-response")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            pass

    with httpd.serving(Handler) as url:
        yield url


def refresh_batch(counts: Counts, batch: list[tuple[Seed, bytes, Verdict]], directory: str) -> None:
    """One refresh run, one certificate per mutation, each asking the server for its own mutation."""
    from ocsp_staple.central.options import RefreshOptions
    from ocsp_staple.central.refresh import run
    from ocsp_staple.spec import CertificateSpec

    with serving([data for _s, data, _v in batch]) as url, tempfile.TemporaryDirectory(dir=directory) as store:
        specs = []
        for i, (seed, _data, _verdict) in enumerate(batch):
            assert seed.files is not None
            specs.append(CertificateSpec(f"m{i}", seed.files[0], seed.files[1], responder_url=f"{url}{i}"))
        options = RefreshOptions(attempts=1, deadline=60, timeout=10, concurrency=4, backoff=0.01, lock_timeout=10)
        counts.refresh_runs += 1
        try:
            outcome = run(specs, store, options, clock=lambda: batch[0][0].now)
        except Exception:
            counts.exceptions += 1
            counts.fail(f"refresh raised: {traceback.format_exc(limit=4)}")
            return
        for i, result in enumerate(outcome.certificates):
            counts.refresh_results += 1
            _seed, data, verdict = batch[i]
            stored = Path(store, f"m{i}", "current.der")
            kept = stored.read_bytes() if stored.exists() else None
            if (kept is not None) != verdict.valid or (kept is not None and kept != data) or not result.message:
                counts.refresh_disagreements += 1
                counts.fail(f"refresh m{i}: verdict {verdict.codes}, stored {kept is not None}: {result.message}")


def run_fuzz(
    n: int,
    *,
    seed: int = 1,
    cli_every: int = 1,
    refresh_every: int = 10,
    refresh_batch_size: int = 40,
    real: bool = True,
) -> Counts:
    """``n`` mutations of the corpus; every ``cli_every``-th own-PKI mutation through the CLI, every
    ``refresh_every``-th through a refresh run (in batches of ``refresh_batch_size``)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible fuzzing, not cryptography
    counts = Counts()
    with tempfile.TemporaryDirectory(prefix="ocsp-fuzz-") as directory:
        corpus = own_seeds()
        if real:
            corpus += real_seeds(corpus[0].pair)
        prepare(corpus)
        donors = [s.tree for s in corpus if s.tree is not None]
        genuine = {s.tbs for s in corpus if s.tbs is not None}
        certs = [der for _where, der in vector_certificates(vectors_dir())] if real else []
        pending: list[tuple[Seed, bytes, Verdict]] = []
        staple = os.path.join(directory, "staple.der")
        own_count = 0
        for _ in range(n):
            picked = rng.choice(corpus)
            kind, data = mutate(rng, picked, donors, certs)
            verdict = judge_one(counts, picked, kind, data, genuine)
            if verdict is None or picked.files is None:
                continue
            own_count += 1
            if cli_every and own_count % cli_every == 0:
                cli_one(counts, picked, data, verdict, staple)
            if refresh_every and own_count % refresh_every == 0:
                pending.append((picked, data, verdict))
                if len(pending) >= refresh_batch_size:
                    refresh_batch(counts, pending, directory)
                    pending = []
        if pending:
            refresh_batch(counts, pending, directory)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testbed.fuzz", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("-n", type=int, default=20000, help="mutations to run (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (the same seed, the same mutations)")
    parser.add_argument("--cli-every", type=int, default=1, help="every Nth own-PKI mutation through the CLI (0 off)")
    parser.add_argument("--refresh-every", type=int, default=10, help="every Nth own-PKI mutation through a refresh")
    parser.add_argument("--write-corpus", action="store_true", help=f"forge the corpus anew into {CORPUS} and stop")
    args = parser.parse_args(argv)
    if args.write_corpus:
        write_corpus()
        print(f"fuzz: forged corpus written to {CORPUS}")
        return 0
    counts = run_fuzz(args.n, seed=args.seed, cli_every=args.cli_every, refresh_every=args.refresh_every)
    print(f"fuzz: seed {args.seed}")
    print(counts.report())
    return 1 if counts.bad else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
