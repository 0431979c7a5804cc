"""Which certificates a node staples, and why not: one decision for the role and the docs.

The role calls this through the ``ocsp_stapling_node`` filter; nothing else
decides ``ssl_stapling on/off``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from .argspecs import LIFETIME
from .errors import InputError
from .names import check_names
from .spec import pick_url, refuse_disabling_must_staple

#: The TLS servers a node can run (ocsp_stapling_server).
SERVERS = ("nginx", "haproxy")
#: HAProxy reads a certificate's staple from ``<crt>.ocsp`` beside the ``crt`` file.
HAPROXY_SUFFIX = ".ocsp"


@dataclass(frozen=True)
class Decision:
    name: str
    stapled: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "stapled": self.stapled, "reason": self.reason}


def decide(
    name: str,
    *,
    enabled: bool,
    frozen: bool,
    has_responder: bool,
    must_staple: bool,
    force_disable_must_staple: bool = False,
    disabled_by: str | None = None,
) -> Decision:
    """Stapling on or off for one certificate.

    - frozen (a pin exists): on - the pinned staple is served whatever the schedule says,
      unless stapling is disabled, which wins (the emergency switch is the last word);
    - disabled: off - refused for a Must-Staple certificate unless forced, because
      hard-fail clients then reject the site;
    - no OCSP responder (AIA URL or override): off (nothing to staple), unless frozen;
    - otherwise on.

    ``disabled_by`` names what switched stapling off when it was not the variable (the
    disable command's record in the store), for the reason shown in the snippet.
    """
    if not enabled:
        refuse_disabling_must_staple(name, must_staple=must_staple, force=force_disable_must_staple)
        return Decision(name, False, f"disabled by {disabled_by or 'ocsp_stapling_enabled'}")
    if frozen:
        return Decision(name, True, "frozen: the pinned staple is served")
    if not has_responder:
        return Decision(name, False, "the certificate has no OCSP responder URL")
    return Decision(name, True, "stapled")


def plan(
    certificates: list[Mapping[str, Any]],
    facts: Mapping[str, Mapping[str, Any]],
    store: Mapping[str, Mapping[str, Any]],
    *,
    enabled: bool = True,
    force_disable_must_staple: bool = False,
    server: str = "nginx",
) -> dict[str, dict[str, Any]]:
    """Decisions for a list of role certificate entries.

    ``server`` (nginx or haproxy) is the node's TLS server: nginx applies one staple file to every
    certificate of a ``server {}`` block, so a shared block with a stapled certificate is refused;
    HAProxy staples per certificate (``<crt>.ocsp``) and has no such trap.

    ``facts[name]`` holds ``ocsp_urls`` and ``must_staple`` of the certificate; ``store[name]``
    holds ``frozen`` and ``disabled`` (the disable command's record in the store, see
    ``store.switch_for``). A certificate entry's own ``enabled`` and the store's record AND
    with the global switch; a record made with ``force_disable_must_staple`` carries that
    consent to later runs, so a scheduled run does not fail on what the operator forced.
    """
    if server not in SERVERS:
        raise InputError(f"ocsp_stapling_server must be one of {', '.join(SERVERS)}, got {server!r}")
    out: dict[str, dict[str, Any]] = {}
    blocks: dict[str, list[str]] = {}
    twice = check_names([cert.get("name") for cert in certificates])
    if twice is not None:
        raise InputError(f"certificate name {twice[1]!r} is listed twice in ocsp_stapling_certificates")
    for cert in certificates:
        name = str(cert["name"])
        cert_facts = facts.get(name, {})
        stored = store.get(name, {})
        switch = stored.get("disabled")
        record = switch if isinstance(switch, Mapping) else None
        decision = decide(
            name,
            enabled=bool(enabled) and bool(cert.get("enabled", True)) and record is None,
            frozen=bool(stored.get("frozen", False)),
            has_responder=pick_url(cert.get("responder_url"), cert_facts.get("ocsp_urls") or ()) is not None,
            must_staple=bool(cert_facts.get("must_staple", False)),
            force_disable_must_staple=force_disable_must_staple
            or bool(record is not None and record.get("force_disable_must_staple")),
            disabled_by=_describe(record) if record is not None and enabled and cert.get("enabled", True) else None,
        )
        out[name] = decision.as_dict()
        if cert.get("server_block") and server == "nginx":
            blocks.setdefault(str(cert["server_block"]), []).append(name)
    for block, members in blocks.items():
        stapled = [m for m in members if out[m]["stapled"]]
        if len(members) > 1 and stapled:
            raise InputError(
                f"nginx server block {block!r} holds certificates {' and '.join(members)} and staples "
                f"{' and '.join(stapled)}: nginx applies one ssl_stapling_file to every certificate of a "
                "server {} block, so the others would be served a staple for the wrong certificate; "
                "give each certificate its own server block (docs/DUAL_CERTIFICATES.md)"
            )
    return out


def _describe(record: Mapping[str, Any]) -> str:
    """``playbooks/disable.yml (alice@ops1, 2015-08-20T15:00:00Z: CA responder broken)``."""
    return f"playbooks/disable.yml ({record.get('who', '?')}, {record.get('when', '?')}: {record.get('why', '?')})"


def node_items(
    certificates: list[Mapping[str, Any]],
    store: Mapping[str, Mapping[str, Any]],
    decisions: Mapping[str, Mapping[str, Any]],
    *,
    staple_dir: str,
    snippet_dir: str,
    verify_port: int,
    held: Collection[str] = (),
    server: str = "nginx",
) -> dict[str, Any]:
    """The role's per-node work list from its certificate entries, the store view and the plan.

    ``deploy`` feeds ``ocsp_deploy`` (one entry per certificate), ``checks`` feeds
    ``ocsp_served_info`` (one per stapled certificate not ``held``: see ocsp_deploy's hold). Paths: the staple is
    ``<staple_dir>/<name>.der``, the snippet ``<snippet_dir>/ocsp-<name>.conf``; on the node
    the certificate is ``node_certificate`` (default ``certificate``), likewise the issuer.
    On a haproxy node the staple is ``<crt>.ocsp`` beside ``haproxy_crt`` (the PEM HAProxy's ``crt``
    loads, default the node certificate), which is also the certificate re-validated against; no snippet.
    """
    if not certificates:
        raise InputError("ocsp_stapling_certificates is empty: list at least one certificate")
    for what, path in (("ocsp_stapling_staple_dir", staple_dir), ("ocsp_stapling_nginx_snippet_dir", snippet_dir)):
        if not str(path).startswith("/"):
            raise InputError(f"{what} must be an absolute path, got {path!r}")
    deploy, checks = [], []
    for cert in certificates:
        # Its own assume_lifetime_without_next_update goes along: the node re-validates as the refresh did.
        lifetime = {LIFETIME: cert[LIFETIME]} if cert.get(LIFETIME) not in (None, "") else {}
        name = str(cert["name"])  # checked by plan.plan, which made ``decisions``
        decision = decisions[name]
        stapled = bool(decision["stapled"])
        certificate = cert.get("node_certificate") or cert["certificate"]
        issuer = cert.get("node_issuer") or cert.get("issuer")
        snippet_path: str | None = f"{snippet_dir.rstrip('/')}/ocsp-{name}.conf"
        staple_path = f"{staple_dir.rstrip('/')}/{name}.der"
        if server == "haproxy":
            certificate = cert.get("haproxy_crt") or certificate
            if not str(certificate).startswith("/"):
                raise InputError(f"certificate {name}: haproxy_crt must be an absolute path, got {certificate!r}")
            staple_path, snippet_path = f"{certificate}{HAPROXY_SUFFIX}", None
        deploy.append(
            {
                **({"hold": True} if name in held else {}),
                "name": name,
                "stapled": stapled,
                "reason": str(decision["reason"]),
                "content": store.get(name, {}).get("staple") if stapled else None,
                "certificate": certificate,
                "issuer": issuer,
                "staple_path": staple_path,
                **({"snippet_path": snippet_path} if snippet_path else {}),
                **lifetime,
            }
        )
        if stapled and name not in held:
            checks.append(
                {
                    "name": name,
                    "server_name": cert.get("server_name") or name,
                    "port": int(cert.get("port") or verify_port),
                    "expect_file": staple_path,
                    "certificate": certificate,
                    "issuer": issuer,
                    **lifetime,
                }
            )
    return {"plan": dict(decisions), "deploy": deploy, "checks": checks}
