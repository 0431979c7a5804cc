"""Everything one nginx node gets in one pass: its staples and its stapling snippets.

The role's deploy step is one module call per node (``ocsp_deploy``) rather than one per
file: on a fleet, the cost of a run is the number of module executions per host. For each
certificate of the node:

* stapled: the staple (from the central store, pinned while frozen) is re-validated
  against the node's own certificate files with :func:`install.plan_install` and written
  atomically; the snippet says ``ssl_stapling on; ssl_stapling_file …;``;
* not stapled: no staple is written; the snippet says ``ssl_stapling off;`` and why.

All or nothing: when any staple is rejected on this node, nothing at all is written (the
files on disk stay what nginx serves) and the caller fails, naming every rejection. A
partial write would leave new staples on disk that no reload picks up.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..certs import load_pair
from ..der import from_base64
from ..errors import InputError, StoreError
from ..fsutil import atomic_write, read_bytes
from ..names import check_names
from ..policy import DEFAULT_CLOCK_SKEW, DEFAULT_MIN_REMAINING
from .install import InstallPlan, StapleRejected, apply_install, plan_install
from .served import run_checks

SNIPPET_MODE = 0o644
DIR_MODE = 0o755


def snippet_text(name: str, *, stapled: bool, reason: str, staple_path: str) -> str:
    """The nginx snippet a certificate's ``server {}`` block includes."""
    head = (
        "# Managed by ocsp-stapling (role ocsp_stapling); changes are overwritten.\n"
        f"# OCSP stapling for {name}: include this file in the nginx server {{}} block of that\n"
        "# certificate only (nginx applies one ssl_stapling_file to every certificate of a block).\n"
    )
    if stapled:
        return head + f"ssl_stapling on;\nssl_stapling_file {staple_path};\n"
    return head + f"# stapling off: {reason}\nssl_stapling off;\n"


@dataclass(frozen=True)
class NodeCertificate:
    """One certificate as this node sees it."""

    name: str
    stapled: bool
    reason: str
    certificate: str
    issuer: str | None
    staple_path: str
    snippet_path: str
    staple: bytes | None = None


@dataclass
class SnippetPlan:
    path: str
    text: str
    current: str | None

    @property
    def changed(self) -> bool:
        return self.current != self.text


@dataclass
class NodePlan:
    staples: dict[str, InstallPlan] = field(default_factory=dict)
    snippets: dict[str, SnippetPlan] = field(default_factory=dict)
    directories: list[str] = field(default_factory=list)

    @property
    def rejections(self) -> list[str]:
        return [plan.rejection() for plan in self.staples.values() if not plan.verdict.valid]

    @property
    def content_changed(self) -> bool:
        """True when a reload is needed: staple bytes or snippet text change."""
        return any(p.content_changed for p in self.staples.values()) or any(s.changed for s in self.snippets.values())

    @property
    def changed(self) -> bool:
        return (
            self.content_changed or any(p.attributes_changed for p in self.staples.values()) or bool(self.directories)
        )

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, snippet in self.snippets.items():
            staple = self.staples.get(name)
            out[name] = {
                "stapled": staple is not None,
                "staple_changed": bool(staple and staple.changed),
                "snippet_changed": snippet.changed,
                "snippet": snippet.path,
                **({"dest": staple.dest, **staple.verdict.as_dict()} if staple else {}),
            }
        return out

    def diff(self) -> list[dict[str, Any]]:
        diffs = [plan.diff() for plan in self.staples.values() if plan.changed]
        for snippet in self.snippets.values():
            if snippet.changed:
                diffs.append(
                    {
                        "before": snippet.current or "",
                        "after": snippet.text,
                        "before_header": snippet.path,
                        "after_header": snippet.path,
                    }
                )
        return diffs


def plan_node(
    certificates: list[NodeCertificate],
    *,
    now: _dt.datetime,
    min_remaining: int = DEFAULT_MIN_REMAINING,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    mode: int = 0o644,
    owner: int | None = None,
    group: int | None = None,
) -> NodePlan:
    """Decide every write of the node; writes nothing (check mode stops here)."""
    plan = NodePlan()
    twice = check_names([cert.name for cert in certificates])
    if twice is not None:
        raise InputError(f"certificate name {twice[1]!r} appears twice")
    for cert in certificates:
        if cert.stapled:
            if cert.staple is None:
                raise InputError(
                    f"{cert.name}: stapling is on but the central store has no staple for it "
                    "(run site.yml --tags ocsp_stapling_refresh, or freeze, first)"
                )
            plan.staples[cert.name] = plan_install(
                cert.staple,
                load_pair(cert.certificate, cert.issuer),
                dest=cert.staple_path,
                now=now,
                min_remaining=min_remaining,
                clock_skew=clock_skew,
                name=cert.name,
                mode=mode,
                owner=owner,
                group=group,
            )
        current = read_bytes(cert.snippet_path)
        plan.snippets[cert.name] = SnippetPlan(
            path=cert.snippet_path,
            text=snippet_text(cert.name, stapled=cert.stapled, reason=cert.reason, staple_path=cert.staple_path),
            current=current.decode("utf-8", "replace") if current is not None else None,
        )
        for path in (cert.staple_path, cert.snippet_path):
            directory = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(directory) and directory not in plan.directories:
                plan.directories.append(directory)
    return plan


def apply_node(plan: NodePlan) -> None:
    """Carry out a node plan: nothing at all when a staple is rejected, else every write."""
    rejections = plan.rejections
    if rejections:
        first = next(p for p in plan.staples.values() if not p.verdict.valid)
        raise StapleRejected("; ".join(rejections) + " (nothing written on this node)", first.verdict)
    for directory in plan.directories:
        try:
            os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{directory}: cannot create: {exc.strerror or exc}") from None
    # Staples first, then snippets: a snippet never names a staple file that is not there yet.
    for staple in plan.staples.values():
        if staple.changed:
            apply_install(staple)
    for snippet in plan.snippets.values():
        if snippet.changed:
            atomic_write(snippet.path, snippet.text.encode(), mode=SNIPPET_MODE)


def certificates_from_params(items: Sequence[Mapping[str, Any]]) -> list[NodeCertificate]:
    """The ``certificates`` parameter of ocsp_deploy (staples as base64) as NodeCertificates."""
    return [
        NodeCertificate(
            name=item["name"],
            stapled=item["stapled"],
            reason=item.get("reason") or "",
            certificate=item["certificate"],
            issuer=item.get("issuer"),
            staple_path=item["staple_path"],
            snippet_path=item["snippet_path"],
            staple=from_base64(item["content"], what=f"{item['name']}: content") if item.get("content") else None,
        )
        for item in items
    ]


@dataclass
class DeployOutcome:
    """What the node step reports (``result``) and, when it failed, the one-line reason."""

    result: dict[str, Any]
    failure: str | None = None


def deploy(
    certificates: list[NodeCertificate],
    *,
    now: _dt.datetime,
    min_remaining: int = DEFAULT_MIN_REMAINING,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    mode: int = SNIPPET_MODE,
    owner: int | None = None,
    group: int | None = None,
    checks: Sequence[Mapping[str, Any]] | None = None,
    verify_host: str = "127.0.0.1",
    verify_port: int = 443,
    verify_timeout: float = 10.0,
    check_mode: bool = False,
    diff: bool = False,
) -> DeployOutcome:
    """The node's whole step: plan, refuse, write; and the reload / verify decision.

    - a staple the node's own re-validation rejects: nothing is written on this node (failure);
    - files to change: write them (not in check mode); ``reload`` asks the role for
      ``nginx -t`` + reload and the post-reload check;
    - nothing to change and ``checks`` given: ask nginx what it serves. Served bytes that differ
      from the files mean an earlier reload failed or never happened: ``reload`` again. Other
      check failures fail the step; all passing sets ``verified``.
    """
    plan = plan_node(
        certificates, now=now, min_remaining=min_remaining, clock_skew=clock_skew, mode=mode, owner=owner, group=group
    )
    result: dict[str, Any] = {
        "changed": plan.changed,
        "reload": plan.content_changed,
        "certificates": plan.summary(),
        "verified": False,
    }
    if diff:
        result["diff"] = plan.diff()
    if plan.rejections:
        return DeployOutcome(result, "; ".join(plan.rejections) + " (nothing written on this node)")
    if plan.changed:
        if not check_mode:
            apply_node(plan)
        return DeployOutcome(result)
    if not checks:
        return DeployOutcome(result)
    served, failures = run_checks(
        [dict(check) for check in checks],
        host=verify_host,
        default_port=verify_port,
        timeout=verify_timeout,
        now=now,
        min_remaining=min_remaining,
        clock_skew=clock_skew,
        require_valid=True,
    )
    result["served"] = served
    if any(item.get("matches") is False for item in served):
        result["reload"] = True
        return DeployOutcome(result)
    if failures:
        return DeployOutcome(result, "; ".join(failures))
    result["verified"] = True
    return DeployOutcome(result)
