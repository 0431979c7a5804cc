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
3. every node gets what the store deploys (the pin while frozen, ``current.der``, or stapling
   off) through the role's path: :func:`plan.plan` for the decisions, then
   :func:`node.deploy.plan_node` / :func:`node.deploy.apply_node` (what ``ocsp_deploy`` calls)
   against the node's own certificate file, then every node whose staple changed is tested and reloaded
   (``nginx -t`` then ``nginx -s reload``, like the role's handlers);
4. node-side chaos: with probability ``--bad-deploy`` a rejected answer from the store's
   quarantine is offered to a random node, which must refuse it and keep its file;
5. emergency drills (``--drills``, default one cycle in three): an operator's freeze,
   re-freeze, thaw, disable or enable of one certificate, through the functions the playbooks'
   modules call (``freeze.freeze`` / ``freeze.thaw`` with the freeze defaults: no attempt cap,
   asking until the deadline; ``switch.set_switch``, whose Must-Staple guard must refuse an
   unforced disable of the Must-Staple certificate). A pin that would come within
   ``MIN_REMAINING`` of its end before the next cycle is re-frozen, or thawed when that fails;
6. checks, all at the same ``now``: the staple the store deploys (the pin while frozen, else
   ``current.der``) validates; every node's deployed staple validates against that node's
   certificate and is the store's (pinned bytes while frozen, ``current.der`` once thawed);
   every nginx serves (real TLS client, :func:`live.fetch_served_staple`) a valid staple equal
   to its deployed file, or - stapling disabled - no staple at all, its snippet naming who
   disabled it and why; a thawed certificate is refreshed by the normal selection rule again.

A failed check is a *violation*; the run prints the figures and exits 1 when there is any.

Run: ``make soak N=1000`` or ``python -m benchmarks.soak --cycles 1000 [--seed 7] [--nodes 3] [--drills 0.33]``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
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

from ocsp_staple import plan as stapling_plan
from ocsp_staple.central.freeze import freeze, thaw
from ocsp_staple.central.options import RefreshOptions
from ocsp_staple.central.refresh import run
from ocsp_staple.central.store import Store, deploy_view, leaf_summary
from ocsp_staple.central.switch import set_switch
from ocsp_staple.certs import CertPair, load_pair
from ocsp_staple.errors import InputError, OcspStapleError
from ocsp_staple.node.deploy import apply_node, certificates_from_params, plan_node
from ocsp_staple.node.install import StapleRejected, apply_install, plan_install
from ocsp_staple.node.live import fetch_served_staple
from ocsp_staple.policy import validate
from ocsp_staple.spec import CertificateSpec
from ocsp_staple.times import parse_time

from testbed import forge
from testbed.fleet import Fleet, FleetError, Node, Site, free_port_block
from testbed.ocsp_responder import Behaviour, TestResponder

#: The fault mix: the 2015 incident's answers first (tryLater, expired / expiring signers), then
#: every other fault of the test responder. 50 % of the answers are faults, 50 % good.
MIX: dict[str, float] = {
    "try_later": 0.10,
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
#: A freeze as playbooks/freeze.yml runs it: no attempt cap, asking until the deadline.
FREEZE_OPTIONS = dataclasses.replace(OPTIONS, attempts=None, deadline=30.0)
DRILLS = 1 / 3  # chance per cycle of an emergency operation
OPERATIONS = ("freeze", "refreeze", "thaw", "disable", "enable")
WHO = "soak@drill"


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
    #: per operation: how often it ran and its outcomes (``done``, ``not frozen``, ``refused``, ...)
    operations: dict[str, dict[str, int]] = field(default_factory=dict)
    freeze_failures: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    wall: float = 0.0

    def count(self, operation: str, outcome: str) -> None:
        outcomes = self.operations.setdefault(operation, {})
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

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
            "operations": {op: dict(sorted(v.items())) for op, v in sorted(self.operations.items())},
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
        drills: float = DRILLS,
        mix: dict[str, float] | None = None,
    ) -> None:
        self.root = root
        self.drills = drills
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
        self.thawed: set[str] = set()  # thawed in the previous cycle: this cycle's refresh must treat them as usual

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
        """Advance the clock, refresh, drill, deploy, reload what changed, offer a bad staple; the violations."""
        self.now += self.step
        outcome = run(self.specs, self.store, OPTIONS, clock=lambda: self.now, rng=self.refresh_rng)
        figures = self.figures
        violations: list[str] = []
        for cert in outcome.certificates:
            figures.replaced += cert.changed
            figures.kept_cycles += cert.action == "kept"
            figures.failed_results += cert.failed
            if cert.name in self.thawed:
                # Thawed: the normal selection rule again (a newer valid answer replaces current.der).
                if cert.frozen or cert.action == "frozen":
                    violations.append(f"{cert.name}: refreshed as frozen after the thaw ({cert.message})")
                else:
                    figures.count("refresh after thaw", "replaced" if cert.changed else str(cert.action))
        self.thawed = set()
        violations += self.drill()
        changed_nodes = self.deploy()
        violations += [f"reload: {error}" for error in self.reload(changed_nodes)]
        if self.rng.random() < self.bad_deploy:
            violations += self.offer_bad_staple()
        violations += self.check()
        figures.cycles += 1
        figures.violations += [f"cycle {figures.cycles} ({self.now:%Y-%m-%dT%H:%MZ}): {v}" for v in violations]
        return violations

    # -- emergency drills -------------------------------------------------------------------------
    def drill(self) -> list[str]:
        """The operator's work this cycle: pins about to run short first, then (``drills``) one random operation."""
        problems: list[str] = []
        for spec in self.specs:
            pin = self.store.read_pin(spec.name)
            expires = pin.record.get("facts", {}).get("expires_at") if pin is not None else None
            horizon = self.now + self.step + dt.timedelta(seconds=MIN_REMAINING)
            running_short = expires is not None and parse_time(expires, what="pin expires_at") <= horizon
            if running_short and not self.operate("refreeze", spec.name, problems):
                self.operate("thaw", spec.name, problems)
        if self.rng.random() < self.drills:
            spec = self.rng.choice(self.specs)
            frozen = self.store.read_pin(spec.name) is not None
            disabled = deploy_view(self.store.root, spec.name)["disabled"] is not None
            choices = ["enable"] if disabled else []
            choices += ["refreeze", "thaw"] if frozen else ["freeze"]
            choices += [] if disabled else ["disable"]
            self.operate(self.rng.choice(choices), spec.name, problems)
        return problems

    def operate(self, operation: str, name: str, problems: list[str]) -> bool:
        """One operation on one certificate, as the playbook's module runs it; True when it took effect."""
        figures = self.figures
        clock = lambda: self.now  # noqa: E731 - the simulated clock
        if operation in ("freeze", "refreeze"):
            before = self.store.read_pin(name)
            result = freeze(
                self.specs,
                self.store,
                FREEZE_OPTIONS,
                reason=f"drill: {operation}",
                who=WHO,
                names=[name],
                clock=clock,
                rng=self.refresh_rng,
            ).certificates[0]
            figures.count(operation, "not frozen" if result.failed else str(result.action))
            if result.failed:
                figures.freeze_failures.append(f"{self.now:%Y-%m-%dT%H:%MZ} {result.message}")
                if before is not None and self.store.read_pin(name) != before:
                    problems.append(f"{name}: a failed {operation} changed the pin")
                return False
            pin = self.store.read_pin(name)
            if pin is None or pin.staple is None:
                problems.append(f"{name}: {operation} said {result.action} but pin.json has no staple")
                return False
            return bool(result.changed)
        if operation == "thaw":
            result = thaw(
                self.store,
                FREEZE_OPTIONS,
                who=WHO,
                reason="drill: thaw",
                names=[name],
                certificates=self.specs,
                clock=clock,
            ).certificates[0]
            figures.count("thaw", str(result.action))
            if result.failed or self.store.read_pin(name) is not None:
                problems.append(f"{name}: thaw left a pin ({result.message})")
                return False
            self.thawed.add(name)
            return True
        if operation == "disable":
            must_staple = bool(leaf_summary(self.spec(name).certificate)["must_staple"])
            try:
                set_switch(
                    self.store.root,
                    enabled=False,
                    who=WHO,
                    now=self.now,
                    reason=f"drill: disable {name}",
                    names=[name],
                    certificates=self.specs,
                )
            except InputError as exc:
                if must_staple and "Must-Staple" in str(exc):
                    figures.count("disable", "refused (Must-Staple)")
                    return False
                problems.append(f"{name}: disable failed: {exc}")
                return False
            if must_staple:
                problems.append(f"{name}: stapling disabled for a Must-Staple certificate without force")
            figures.count("disable", "done")
            return True
        if operation == "enable":
            result = set_switch(
                self.store.root, enabled=True, who=WHO, now=self.now, names=[name], certificates=self.specs
            )
            figures.count("enable", "done" if result.changed else "unchanged")
            return result.changed
        raise ValueError(f"operation: expected one of {', '.join(OPERATIONS)}, got {operation!r}")

    def spec(self, name: str) -> CertificateSpec:
        return next(spec for spec in self.specs if spec.name == name)

    # -- the rollout ------------------------------------------------------------------------------
    def views(self) -> dict[str, dict[str, Any]]:
        """The store as the role's central play reads it (ocsp_store_info: store.deploy_view)."""
        return {site.name: deploy_view(self.store.root, site.name) for site in self.fleet.sites}

    def decisions(self, views: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Stapling on or off per certificate (plan.plan, what the ocsp_stapling_node filter calls)."""
        entries = [{"name": site.name, "certificate": site.certificate} for site in self.fleet.sites]
        facts = {site.name: leaf_summary(site.certificate) for site in self.fleet.sites}
        return stapling_plan.plan(entries, facts, views)

    def deploy(self) -> list[Node]:
        """The store's staples to every node through ocsp_deploy's code path; the nodes whose files changed."""
        views = self.views()
        decisions = self.decisions(views)
        changed = []
        for node in self.fleet.nodes:
            items = [
                {
                    "name": site.name,
                    "stapled": decisions[site.name]["stapled"],
                    "reason": decisions[site.name]["reason"],
                    "certificate": str(node.certificate(site.name)),
                    "staple_path": str(node.staple_path(site.name)),
                    "snippet_path": str(node.snippet(site.name)),
                    "content": _base64(views[site.name]["staple"]) if decisions[site.name]["stapled"] else None,
                }
                for site in self.fleet.sites
            ]
            certificates = certificates_from_params(items)
            plan = plan_node(certificates, now=self.now, min_remaining=MIN_REMAINING, mode=0o644)
            if plan.rejections:
                continue  # refused like the module refuses: nothing written; the check reports what is served
            self.figures.installed += sum(staple.content_changed for staple in plan.staples.values())
            if plan.changed:
                apply_node(plan)
            if plan.content_changed:
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
        views = self.views()
        decisions = self.decisions(views)
        for site in self.fleet.sites:
            view = views[site.name]
            central = self.pairs[(self.fleet.nodes[0].name, site.name)]
            what = "pinned staple" if view["frozen"] else "current.der"
            verdict = validate(view["staple"] or b"", central, now=self.now, min_remaining=MIN_REMAINING)
            if view["staple"] is None or not verdict.valid:
                problems.append(f"store {site.name}: {what} invalid: {verdict.summary()}")
        for node in self.fleet.nodes:
            for site in self.fleet.sites:
                problems += self.check_node(node, site.name, views[site.name], decisions[site.name])
        return problems

    def check_node(self, node: Node, name: str, view: dict[str, Any], decision: dict[str, Any]) -> list[str]:
        where = f"{node.name} {name}"
        pair = self.pairs[(node.name, name)]
        try:
            served = fetch_served_staple(node.host, node.port, servername=name, timeout=5)
        except OcspStapleError as exc:
            return [f"{where}: TLS client: {exc}"]
        self.figures.served_checks += 1
        if not decision["stapled"]:
            # Disabled: no staple served, whatever file is still on disk; the snippet says who and why.
            record = view["disabled"] or {}
            snippet = node.snippet(name).read_text()
            problems = []
            if served.staple is not None:
                problems.append(f"{where}: stapling disabled, yet {len(served.staple)} bytes served")
            says = ("ssl_stapling off;", record.get("who", "?"), record.get("why", "?"))
            if not all(text in snippet for text in says):
                problems.append(f"{where}: the snippet of a disabled certificate lacks who or why: {snippet!r}")
            return problems
        path = node.staple_path(name)
        deployed = path.read_bytes() if path.exists() else None
        if deployed is None:
            return [f"{where}: no staple deployed"]
        problems = []
        verdict = validate(deployed, pair, now=self.now, min_remaining=MIN_REMAINING)
        if not verdict.valid:
            problems.append(f"{where}: deployed staple invalid: {verdict.summary()}")
        if deployed != view["staple"]:
            what = "pinned staple" if view["frozen"] else "current.der"
            problems.append(f"{where}: deployed staple is not the store's {what}")
        if served.staple != deployed:
            size = len(served.staple) if served.staple else 0
            return [*problems, f"{where}: serves {size} bytes, not the deployed {len(deployed)}-byte staple"]
        verdict = validate(served.staple, pair, now=self.now, min_remaining=MIN_REMAINING)
        if not verdict.valid:
            problems.append(f"{where}: served staple invalid: {verdict.summary()}")
        return problems

    def collect(self) -> Figures:
        stats = self.responder.stats()
        self.figures.requests = int(stats["requests"])
        self.figures.faults = dict(stats["faults"])
        return self.figures


def _base64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode() if data is not None else None


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
        "drills            "
        + (
            "; ".join(
                f"{op} {sum(v.values())} (" + ", ".join(f"{k} {n}" for k, n in sorted(v.items())) + ")"
                for op, v in sorted(figures.operations.items())
            )
            or "none"
        ),
        f"violations        {len(figures.violations)}",
        f"wall time         {figures.wall:.1f} s",
    ]
    lines += [f"  NOT FROZEN {f}" for f in figures.freeze_failures[:10]]
    lines += [f"  VIOLATION {v}" for v in figures.violations[:20]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--step", type=int, default=STEP, help="simulated seconds per cycle (default 7200)")
    parser.add_argument("--bad-deploy", type=float, default=0.1, help="chance per cycle of offering a bad staple")
    parser.add_argument("--drills", type=float, default=DRILLS, help="chance per cycle of an emergency operation")
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
        args.cycles,
        seed=args.seed,
        nodes=args.nodes,
        step=args.step,
        bad_deploy=args.bad_deploy,
        drills=args.drills,
        progress=True,
    )
    print(json.dumps(figures.as_dict(), indent=2) if args.json else report(figures))
    return 1 if figures.violations else 0


if __name__ == "__main__":
    sys.exit(main())
