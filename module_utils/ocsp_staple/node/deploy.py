"""Everything one nginx node gets in one pass (``ocsp_deploy``): its staples and stapling snippets.

Staples are re-validated against the node's own certificates (:func:`install.plan_install`) and
written atomically with their snippets (``ssl_stapling on;`` / ``off;`` and why). All or nothing:
a rejected staple writes nothing and fails the step. Except ``hold`` (refresh failed, or check mode):
no staple or a rejected one keeps that certificate's files (a missing snippet: ``off;``), the others deploy.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..argspecs import LIFETIME
from ..certs import load_pair
from ..der import from_base64
from ..durations import assumed_lifetime
from ..errors import InputError, StoreError
from ..fsutil import atomic_write, read_bytes
from ..names import check_names
from ..policy import DEFAULT_CLOCK_SKEW, DEFAULT_MIN_REMAINING
from .install import InstallPlan, StapleRejected, apply_install, plan_install

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
    hold: bool = False
    #: Its own ``assume_lifetime_without_next_update`` (a duration), else the run's (durations.assumed_lifetime).
    assume_lifetime_without_next_update: str | None = None


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
    held: dict[str, str] = field(default_factory=dict)

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
                **({"held": self.held[name]} if name in self.held else {}),
                **({"dest": staple.dest, **staple.verdict.as_dict()} if staple else {}),
            }
        return out

    def diff(self) -> list[dict[str, Any]]:
        diffs = [plan.diff() for plan in self.staples.values() if plan.changed]
        for s in (s for s in self.snippets.values() if s.changed):
            diffs.append({"before": s.current or "", "after": s.text, "before_header": s.path, "after_header": s.path})
        return diffs


def plan_node(certificates: list[NodeCertificate], **policy: Any) -> NodePlan:
    """Decide every write of the node; writes nothing (check mode stops here). ``policy``: :func:`judge`'s
    (now, min_remaining, clock_skew, mode, owner, group, assume_lifetime)."""
    plan = NodePlan()
    twice = check_names([cert.name for cert in certificates])
    if twice is not None:
        raise InputError(f"certificate name {twice[1]!r} appears twice")
    for cert in certificates:
        current = read_bytes(cert.snippet_path)
        current_text = current.decode("utf-8", "replace") if current is not None else None
        if cert.stapled and cert.hold and cert.staple is None:
            _hold(plan, cert, current_text, "the central store has no staple for it")
            continue
        if cert.stapled:
            install = judge(cert, **policy)
            if cert.hold and not install.verdict.valid:
                _hold(plan, cert, current_text, install.rejection())
                continue
            plan.staples[cert.name] = install
        plan.snippets[cert.name] = SnippetPlan(
            path=cert.snippet_path,
            text=snippet_text(cert.name, stapled=cert.stapled, reason=cert.reason, staple_path=cert.staple_path),
            current=current_text,
        )
        _directories(plan, cert.staple_path, cert.snippet_path)
    return plan


def judge(cert: NodeCertificate, *, assume_lifetime: int | None = None, **policy: Any) -> InstallPlan:
    """The node's verdict on a stapled certificate's staple (re-validated against the node's own files,
    its own assumed lifetime else the run's) and the planned write: one rule for nginx and HAProxy."""
    if cert.staple is None:
        raise InputError(
            f"{cert.name}: stapling is on but the central store has no staple for it "
            "(run site.yml --tags ocsp_stapling_refresh, or freeze, first)"
        )
    pair = load_pair(cert.certificate, cert.issuer)
    lifetime = assumed_lifetime(
        cert.assume_lifetime_without_next_update, assume_lifetime, what=f"certificate {cert.name}: {LIFETIME}"
    )
    return plan_install(cert.staple, pair, dest=cert.staple_path, name=cert.name, assume_lifetime=lifetime, **policy)


def _hold(plan: NodePlan, cert: NodeCertificate, current: str | None, why: str) -> None:
    """Keep a held certificate's files; only a missing snippet gets the ``ssl_stapling off;`` placeholder."""
    reason = f"held (no valid staple from the central host in this run) and {why}: the node keeps its files"
    plan.held[cert.name] = reason
    text = current
    if text is None:
        text = snippet_text(cert.name, stapled=False, reason=reason, staple_path=cert.staple_path)
        _directories(plan, cert.snippet_path)
    plan.snippets[cert.name] = SnippetPlan(path=cert.snippet_path, text=text, current=current)


def _directories(plan: NodePlan, *paths: str) -> None:
    for path in paths:
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory) and directory not in plan.directories:
            plan.directories.append(directory)


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
            snippet_path=item.get("snippet_path") or "",
            staple=from_base64(item["content"], what=f"{item['name']}: content") if item.get("content") else None,
            hold=bool(item.get("hold")),
            assume_lifetime_without_next_update=str(item[LIFETIME]) if item.get(LIFETIME) not in (None, "") else None,
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
    check_mode: bool = False,
    diff: bool = False,
    assume_lifetime: int | None = None,
) -> DeployOutcome:
    """Plan, refuse or write; ``reload`` when staple bytes or snippet text change. What nginx then
    serves is checked by the caller (``ocsp_served_info``, node/served.py): the TLS client is not
    shipped with this step."""
    plan = plan_node(
        certificates,
        now=now,
        min_remaining=min_remaining,
        clock_skew=clock_skew,
        mode=mode,
        owner=owner,
        group=group,
        assume_lifetime=assume_lifetime,
    )
    result: dict[str, Any] = {"changed": plan.changed, "reload": plan.content_changed}
    result["certificates"] = plan.summary()
    if diff:
        result["diff"] = plan.diff()
    if plan.rejections:
        return DeployOutcome(result, "; ".join(plan.rejections) + " (nothing written on this node)")
    if plan.changed and not check_mode:
        apply_node(plan)
    return DeployOutcome(result)
