"""Chaos soak (issue 7): refresh-and-deploy cycles against a misbehaving CA, checked after every cycle.

Each cycle runs the production code paths end to end against the fault-injecting test
responder (in this process, 127.0.0.1 only) and a fleet of real nginx nodes:

1. the simulated clock ``now`` advances by ``--step`` (default 2 h), past ``refresh_fraction``
   of the staples' window, so every cycle is due and staples change; the responder signs at
   the same ``now``;
2. :func:`ocsp_staple.central.refresh.run` (what ``ocsp_response`` and ``ocsp-staple refresh`` call)
   refreshes the central store; the responder answers with a seeded random fault mix in the
   2015 incident's proportions (tryLater, expired / expiring / short-lived signer, HTTP 5xx,
   hangs, slow bodies, garbage, HTML, oversized, stale, revoked, unknown, another
   certificate's response, bad signature);
3. every node gets the store's staple through :func:`install.plan_install` /
   :func:`install.apply_install` (what ``library/ocsp_staple.py`` calls) against the node's own
   certificate file, then every node whose staple changed is tested and reloaded
   (``nginx -t`` then ``nginx -s reload``, like the role's handlers);
4. node-side chaos: with probability ``--bad-deploy`` a rejected answer from the store's
   quarantine is offered to a random node, which must refuse it and keep its file;
5. checks, all at the same ``now``: the store's ``current.der`` validates; every node's
   deployed staple validates against that node's certificate; every nginx serves (real TLS
   client, :func:`live.fetch_served_staple`) a valid staple equal to its deployed file.

A failed check is a *violation*; the run prints the figures and exits 1 when there is any.

Run: ``make soak N=1000`` or ``python -m benchmarks.soak --cycles 1000 [--seed 7] [--nodes 3]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "module_utils"))

from ocsp_staple.central.options import RefreshOptions
from ocsp_staple.central.refresh import run
from ocsp_staple.central.store import Store
from ocsp_staple.certs import CertPair, load_pair
from ocsp_staple.errors import OcspStapleError
from ocsp_staple.node.install import StapleRejected, apply_install, plan_install
from ocsp_staple.node.live import fetch_served_staple
from ocsp_staple.policy import validate
from ocsp_staple.spec import CertificateSpec

from testbed import forge
from testbed.fleet import Fleet, FleetError, Node, Site, free_port_block
from testbed.ocsp_responder import Behaviour, TestResponder

#: The fault mix: the 2015 incident's answers first (tryLater, expired / expiring signers), then
#: every other fault of the test responder. 48 % of the answers are faults, 52 % good.
MIX: dict[str, float] = {
    "try_later": 0.08,
    "expired_signer": 0.05,
    "signer_expiring": 0.05,
    "http_500": 0.03,
    "http_503": 0.03,
    "timeout": 0.03,
    "garbage": 0.03,
    "stale": 0.03,
    "wrong_cert": 0.03,
    "revoked": 0.02,
    "short_lived": 0.02,
    "bad_signature": 0.02,
    "internal_error": 0.01,
    "unauthorized": 0.01,
    "html": 0.01,
    "oversized": 0.01,
    "unknown": 0.01,
    "slow_body": 0.01,
}
SITES = ("www.soak.test", "must-staple.soak.test")
VALIDITY = 12 * 3600  # nextUpdate - thisUpdate of the responder's answers
STEP = 2 * 3600  # clock advance per cycle: past refresh_fraction (0.15 of 12 h = 1.8 h), so every cycle is due
MIN_REMAINING = 4 * 3600
OPTIONS = RefreshOptions(
    attempts=5,
    refresh_fraction=0.15,
    timeout=0.5,  # the hang / slow-body faults cost this much per answer
    deadline=8.0,
    concurrency=4,
    min_remaining=MIN_REMAINING,
    critical_remaining=5 * 3600,
    backoff=0.02,
    backoff_max=0.1,
)


@dataclass
class Figures:
    cycles: int = 0
    requests: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    replaced: int = 0  # current.der changes in the store
    installed: int = 0  # node staple files written
    reloads: int = 0
    bad_deploys_refused: int = 0
    kept_cycles: int = 0  # certificate-cycles where no answer beat the current staple
    failed_results: int = 0  # certificate-cycles where the module would fail (critical_remaining)
    served_checks: int = 0
    violations: list[str] = field(default_factory=list)
    wall: float = 0.0

    @property
    def fault_share(self) -> float:
        total = sum(self.faults.values())
        bad = total - self.faults.get("good", 0)
        return bad / total if total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cycles": self.cycles,
            "requests": self.requests,
            "fault_share": round(self.fault_share, 3),
            "faults": dict(sorted(self.faults.items(), key=lambda kv: (-kv[1], kv[0]))),
            "replaced": self.replaced,
            "installed": self.installed,
            "reloads": self.reloads,
            "bad_deploys_refused": self.bad_deploys_refused,
            "kept_cycles": self.kept_cycles,
            "failed_results": self.failed_results,
            "served_checks": self.served_checks,
            "violations": len(self.violations),
            "wall_seconds": round(self.wall, 1),
        }


class Soak:
    """The fleet, the responder, the store and the simulated clock of one soak run."""

    def __init__(
        self,
        root: Path,
        *,
        seed: int = 7,
        nodes: int = 3,
        step: int = STEP,
        cycles: int = 1000,
        bad_deploy: float = 0.1,
        mix: dict[str, float] | None = None,
    ) -> None:
        self.root = root
        self.rng = random.Random(seed)  # noqa: S311 - chaos draws, not cryptography
        self.step = dt.timedelta(seconds=step)
        self.bad_deploy = bad_deploy
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        lifetime = dt.timedelta(seconds=step) * (cycles + 10) + dt.timedelta(days=2)
        ca = forge.make_ca("Soak CA", now=self.now)
        signer = forge.make_responder(ca, "Soak CA OCSP Responder", now=self.now, not_after=self.now + lifetime)
        pki = root / "pki"
        pki.mkdir(parents=True)
        sites = []
        for index, name in enumerate(SITES):
            leaf = forge.make_leaf(
                ca, name, now=self.now, must_staple=index == 1, not_after=self.now + lifetime, serial=0x50AC00 + index
            )
            forge.write(str(pki / f"{name}.pem"), leaf.pem + ca.pem)
            forge.write(str(pki / f"{name}.key"), leaf.key_pem(), 0o600)
            sites.append(Site(name, str(pki / f"{name}.pem"), str(pki / f"{name}.key"), name))
        self.responder = TestResponder(
            ca,
            signer=signer,
            clock=lambda: self.now,
            hang=1.0,
            slow_interval=0.05,
            behaviour=Behaviour(mix=dict(MIX if mix is None else mix), seed=seed, validity=VALIDITY),
        )
        self.fleet = Fleet(root / "fleet", nodes=nodes, base_port=free_port_block(nodes), sites=sites)
        self.store = Store(str(root / "store"))
        self.specs: list[CertificateSpec] = []
        self.pairs: dict[tuple[str, str], CertPair] = {}
        self.refresh_rng = random.Random(seed + 1)  # noqa: S311 - backoff jitter
        self.figures = Figures()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self.responder.start()
        self.specs = [
            CertificateSpec(site.name, site.certificate, None, self.responder.url) for site in self.fleet.sites
        ]
        self.fleet.create()
        for node in self.fleet.nodes:
            for site in self.fleet.sites:
                self.pairs[(node.name, site.name)] = load_pair(str(node.certificate(site.name)))
        self.fleet.start()

    def stop(self) -> None:
        try:
            self.fleet.stop()
        finally:
            self.responder.stop()

    # -- one cycle ------------------------------------------------------------------------------
    def cycle(self) -> list[str]:
        """Advance the clock, refresh, deploy, reload what changed, offer a bad staple; return the violations."""
        self.now += self.step
        outcome = run(self.specs, self.store, OPTIONS, clock=lambda: self.now, rng=self.refresh_rng)
        figures = self.figures
        for cert in outcome.certificates:
            figures.replaced += cert.changed
            figures.kept_cycles += cert.action == "kept"
            figures.failed_results += cert.failed
        changed_nodes = self.deploy()
        violations = [f"reload: {error}" for error in self.reload(changed_nodes)]
        if self.rng.random() < self.bad_deploy:
            violations += self.offer_bad_staple()
        violations += self.check()
        figures.cycles += 1
        figures.violations += [f"cycle {figures.cycles} ({self.now:%Y-%m-%dT%H:%MZ}): {v}" for v in violations]
        return violations

    def deploy(self) -> list[Node]:
        """The store's staple to every node through the module's code path; the nodes whose files changed."""
        changed = []
        for node in self.fleet.nodes:
            node_changed = False
            for site in self.fleet.sites:
                data, _pin = self.store.to_deploy(site.name)
                if data is None:
                    continue
                plan = plan_install(
                    data,
                    self.pairs[(node.name, site.name)],
                    dest=str(node.staple_path(site.name)),
                    now=self.now,
                    min_remaining=MIN_REMAINING,
                    name=site.name,
                    mode=0o644,
                )
                if not plan.verdict.valid:
                    continue  # refused like the module refuses; the check below reports what the node serves
                if plan.changed:
                    apply_install(plan)
                    self.figures.installed += 1
                    node_changed = True
                snippet = node.snippet(site.name)
                wanted = f"ssl_stapling on;\nssl_stapling_file {node.staple_path(site.name)};\n"
                if snippet.read_text() != wanted:
                    snippet.write_text(wanted)
                    node_changed = True
            if node_changed:
                changed.append(node)
        return changed

    def reload(self, nodes: list[Node]) -> list[str]:
        """Test-then-reload the nodes at once (Ansible runs a handler on every host in parallel); the errors."""

        def one(node: Node) -> str | None:
            try:
                node.reload()  # nginx -t, then nginx -s reload, then wait for the new workers
            except FleetError as exc:
                return str(exc)
            return None

        with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
            errors = list(pool.map(one, nodes))
        self.figures.reloads += sum(error is None for error in errors)
        return [error for error in errors if error is not None]

    def offer_bad_staple(self) -> list[str]:
        """Offer a quarantined (rejected) answer to a random node: it must be refused, the file kept."""
        site = self.rng.choice(self.fleet.sites)
        records = [r for r in self.store.quarantined(site.name) if r.get("file")]
        if not records:
            return []
        record = self.rng.choice(records)
        bad = (Path(self.store.path(site.name, "quarantine")) / record["file"]).read_bytes()
        node = self.rng.choice(self.fleet.nodes)
        dest = node.staple_path(site.name)
        before = dest.read_bytes() if dest.exists() else None
        pair = self.pairs[(node.name, site.name)]
        plan = plan_install(bad, pair, dest=str(dest), now=self.now, min_remaining=MIN_REMAINING, name=site.name)
        try:
            apply_install(plan)
        except StapleRejected:
            self.figures.bad_deploys_refused += 1
        else:
            return [f"{node.name} {site.name}: quarantined answer ({record.get('code')}) was installed"]
        after = dest.read_bytes() if dest.exists() else None
        return [] if after == before else [f"{node.name} {site.name}: file changed by a refused install"]

    def check(self) -> list[str]:
        """The invariants, all judged at ``now``."""
        problems = []
        for site in self.fleet.sites:
            current = self.store.read_current(site.name)
            central = self.pairs[(self.fleet.nodes[0].name, site.name)]
            verdict = validate(current or b"", central, now=self.now, min_remaining=MIN_REMAINING)
            if current is None or not verdict.valid:
                problems.append(f"store {site.name}: current.der invalid: {verdict.summary()}")
        for node in self.fleet.nodes:
            for site in self.fleet.sites:
                pair = self.pairs[(node.name, site.name)]
                path = node.staple_path(site.name)
                deployed = path.read_bytes() if path.exists() else None
                where = f"{node.name} {site.name}"
                if deployed is None:
                    problems.append(f"{where}: no staple deployed")
                    continue
                verdict = validate(deployed, pair, now=self.now, min_remaining=MIN_REMAINING)
                if not verdict.valid:
                    problems.append(f"{where}: deployed staple invalid: {verdict.summary()}")
                try:
                    served = fetch_served_staple(node.host, node.port, servername=site.server_name, timeout=5)
                except OcspStapleError as exc:
                    problems.append(f"{where}: TLS client: {exc}")
                    continue
                self.figures.served_checks += 1
                if served.staple != deployed:
                    size = len(served.staple) if served.staple else 0
                    problems.append(f"{where}: serves {size} bytes, not the deployed {len(deployed)}-byte staple")
                    continue
                verdict = validate(served.staple, pair, now=self.now, min_remaining=MIN_REMAINING)
                if not verdict.valid:
                    problems.append(f"{where}: served staple invalid: {verdict.summary()}")
        return problems

    def collect(self) -> Figures:
        stats = self.responder.stats()
        self.figures.requests = int(stats["requests"])
        self.figures.faults = dict(stats["faults"])
        return self.figures


@contextlib.contextmanager
def soak(root: Path | None = None, **kw: Any) -> Iterator[Soak]:
    """A started :class:`Soak` under ``root`` (a temporary directory when None); everything stopped afterwards."""
    own = root is None
    directory = Path(tempfile.mkdtemp(prefix="ocsp-soak-")) if root is None else root
    run_ = Soak(directory, **kw)
    try:
        run_.start()
        yield run_
    finally:
        run_.stop()
        if own:
            shutil.rmtree(directory, ignore_errors=True)


def run_soak(cycles: int, *, root: Path | None = None, progress: bool = False, **kw: Any) -> Figures:
    start = time.perf_counter()
    with soak(root, cycles=cycles, **kw) as s:
        for number in range(1, cycles + 1):
            s.cycle()
            if progress and number % 100 == 0:
                f = s.collect()
                print(
                    f"  cycle {number}: {f.requests} requests, {f.replaced} replaced, {f.reloads} reloads, "
                    f"{len(f.violations)} violations, {time.perf_counter() - start:.0f} s",
                    flush=True,
                )
        figures = s.collect()
    figures.wall = time.perf_counter() - start
    return figures


def report(figures: Figures) -> str:
    lines = [
        f"cycles            {figures.cycles}",
        f"requests          {figures.requests} ({figures.fault_share:.1%} faults)",
        "faults by kind    "
        + ", ".join(f"{k}={v}" for k, v in sorted(figures.faults.items(), key=lambda kv: (-kv[1], kv[0]))),
        f"staples replaced  {figures.replaced} in the store, {figures.installed} node files written",
        f"reloads           {figures.reloads}",
        f"bad staples       {figures.bad_deploys_refused} offered to nodes, all refused",
        f"kept (no better)  {figures.kept_cycles} certificate-cycles; "
        f"{figures.failed_results} below critical_remaining",
        f"served checks     {figures.served_checks} TLS handshakes",
        f"violations        {len(figures.violations)}",
        f"wall time         {figures.wall:.1f} s",
    ]
    lines += [f"  VIOLATION {v}" for v in figures.violations[:20]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--step", type=int, default=STEP, help="simulated seconds per cycle (default 7200)")
    parser.add_argument("--bad-deploy", type=float, default=0.1, help="chance per cycle of offering a bad staple")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.cycles < 1:
        parser.error("--cycles must be at least 1")
    print(
        f"chaos soak: {args.cycles} cycles, seed {args.seed}, {args.nodes} nginx nodes x {len(SITES)} certificates, "
        f"{sum(MIX.values()):.0%} faults in the mix, clock +{args.step}s per cycle",
        flush=True,
    )
    figures = run_soak(
        args.cycles, seed=args.seed, nodes=args.nodes, step=args.step, bad_deploy=args.bad_deploy, progress=True
    )
    print(json.dumps(figures.as_dict(), indent=2) if args.json else report(figures))
    return 1 if figures.violations else 0


if __name__ == "__main__":
    sys.exit(main())
