"""What the subcommands share: the policy options, the clock, how a verdict and a served staple read."""

from __future__ import annotations

import argparse
import datetime as _dt
import ipaddress
from typing import Any

from ..certs import CertPair, load_pair, read_pem_file
from ..durations import assumed_lifetime, parse_duration
from ..errors import FetchError
from ..node.live import DEFAULT_TIMEOUT, Served, fetch_served_staple
from ..node.served import ServedReport, inspect_served
from ..policy import DEFAULT_CLOCK_SKEW, DEFAULT_MIN_REMAINING, Verdict, human_duration
from ..times import now_or


def parse_now(value: str | None) -> _dt.datetime:
    """The clock, or ``--now`` (ISO 8601, for reproducing a verdict at a given time)."""
    return now_or(value, what="--now")


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-remaining",
        default=str(DEFAULT_MIN_REMAINING),
        help="least effective lifetime a staple must have left (default 4h)",
    )
    parser.add_argument(
        "--clock-skew",
        default=str(DEFAULT_CLOCK_SKEW),
        help="tolerated clock difference for thisUpdate/notBefore (default 300s)",
    )
    parser.add_argument(
        "--assume-lifetime-without-next-update",
        metavar="DURATION",
        help="accept a response without nextUpdate as ending this long after thisUpdate (private responders; "
        "default: refused). In --store mode: for certificates the refresh recorded no own setting for",
    )
    parser.add_argument("--now", help=argparse.SUPPRESS)


def policy_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """now, min_remaining, clock_skew and assume_lifetime for :func:`validate` from the common options."""
    return {
        "now": parse_now(args.now),
        "min_remaining": parse_duration(args.min_remaining, what="--min-remaining"),
        "clock_skew": parse_duration(args.clock_skew, what="--clock-skew"),
        "assume_lifetime": assumed_lifetime(
            args.assume_lifetime_without_next_update, None, what="--assume-lifetime-without-next-update"
        ),
    }


def render_verdict(verdict: Verdict, name: str) -> str:
    facts = verdict.facts.as_dict()
    lines = [f"{name}: {'VALID' if verdict.valid else 'INVALID'}"]
    for key in (
        "response_status",
        "status",
        "this_update",
        "next_update",
        "produced_at",
        "signer",
        "signer_delegated",
        "signer_not_after",
        "assumed_lifetime",
        "expires_at",
    ):
        if facts.get(key) is not None:
            lines.append(f"  {key:<17} {facts[key]}")
    if verdict.facts.remaining_seconds is not None:
        lines.append(f"  {'remaining':<17} {human_duration(verdict.facts.remaining_seconds)}")
    if facts.get("cert_id"):
        cid = facts["cert_id"]
        lines.append(f"  {'cert_id':<17} {cid['hash_algorithm']} serial {cid['serial_number']}")
    for problem in verdict.problems:
        lines.append(f"  problem {problem.code}: {problem.message}")
    return "\n".join(lines)


def default_servername(host: str) -> str | None:
    """SNI defaults to the host when it is a name (an IP address is not a valid SNI name)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return None


def live_pair(args: argparse.Namespace, served: Served) -> CertPair:
    """The reference: --cert (+ --issuer) files, else the served leaf with --issuer or the served issuer."""
    if args.cert:
        return load_pair(args.cert, args.issuer)
    return served.pair(read_pem_file(args.issuer) if args.issuer else None)


def live_report(args: argparse.Namespace, host: str, port: int) -> tuple[ServedReport, Served]:
    """Handshake with the endpoint of ``--connect`` and judge what it staples.

    Only an unreachable endpoint raises :class:`FetchError`; unreadable --cert/--issuer/--expect-file
    files raise other :class:`OcspStapleError` subclasses.
    """
    servername = args.servername or default_servername(host)
    served = fetch_served_staple(host, port, servername=servername, timeout=args.timeout)
    pair = live_pair(args, served)
    report = inspect_served(served, pair, name=args.name, expect_file=args.expect_file, **policy_kwargs(args))
    return report, served


def render_served(report: ServedReport, chain: list[str]) -> str:
    lines = [
        f"{report.where} ({report.protocol or 'TLS'}, SNI {report.server_name or 'none'})",
        f"  {'certificate':<17} {report.served_certificate}",
    ]
    lines += [f"  {'chain':<17} {subject}" for subject in chain]
    if report.staple is None:
        lines.append(f"  {'staple':<17} none: the server stapled nothing")
    else:
        lines.append(f"  {'staple':<17} {len(report.staple)} bytes, sha256 {report.served_sha256}")
    if report.expect_file is not None:
        state = "matches" if report.matches else (report.mismatch() or "")
        lines.append(f"  {'expect_file':<17} {report.expect_file}: {state}")
    if report.verdict is not None:
        lines.append(render_verdict(report.verdict, f"served staple ({report.reference})"))
    if not report.certificate_matches:
        lines.append(f"  problem certificate: {report.wrong_certificate().lstrip('; ')}")
    return "\n".join(lines)


def add_live_options(parser: argparse.ArgumentParser, *, what: str) -> None:
    parser.add_argument(
        "--connect", metavar="HOST:PORT", help=f"{what}: TLS endpoint to handshake with ([::1]:443 for IPv6)"
    )
    parser.add_argument(
        "--servername", metavar="NAME", help="SNI name to send (default: HOST when it is a name, none for an IP)"
    )
    parser.add_argument(
        "--expect-file",
        metavar="F",
        help="deployed staple file: the served bytes must be exactly its bytes",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"bound on connect + handshake, seconds (default {DEFAULT_TIMEOUT:g})",
    )


def parse_endpoint(value: str, *, default_port: int = 443) -> tuple[str, int]:
    """``host:port``, ``[::1]:8443`` or ``host`` -> (host, port)."""
    text = value.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, _bracket, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _colon, port_text = text.partition(":")
    if not host:
        raise FetchError(f"endpoint {value!r}: no host (expected HOST:PORT)")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise FetchError(f"endpoint {value!r}: port {port_text!r} is not a number 1-65535")
    return host, int(port_text)
