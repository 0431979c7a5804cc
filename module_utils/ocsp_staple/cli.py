"""The ``ocsp-staple`` command: the same core the Ansible modules and filters call.

Subcommands: ``show`` (facts + verdict of a staple file, or of what a TLS endpoint staples
with ``--connect``), ``check`` (monitoring plugin: file, live and store modes, see docs/MONITORING.md).
Later parts of the project add subcommands through :data:`SUBCOMMAND_MODULES` and check
modes through :data:`CHECK_MODES`. Every operational error is one line on
stderr; exit codes are documented per subcommand.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import ipaddress
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from . import __version__
from .certs import CertPair, load_pair, read_pem_file, subject_text
from .check import CRITICAL, DEFAULT_CRITICAL, DEFAULT_WARNING, UNKNOWN, CheckResult, judge, judge_served
from .compat import UTC
from .durations import parse_duration, parse_threshold
from .errors import FetchError, OcspStapleError
from .live import DEFAULT_TIMEOUT, Served, fetch_served_staple, parse_endpoint
from .policy import DEFAULT_CLOCK_SKEW, DEFAULT_MIN_REMAINING, Verdict, human_duration, validate_file
from .served import ServedReport, inspect_served
from .storecheck import DEFAULT_AGE_CRITICAL, DEFAULT_AGE_WARNING, DEFAULT_FAILURES_CRITICAL, DEFAULT_FAILURES_WARNING


def parse_now(value: str | None) -> _dt.datetime:
    """The clock, or ``--now`` (ISO 8601, for reproducing a verdict at a given time)."""
    if not value:
        return _dt.datetime.now(UTC)
    try:
        parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise OcspStapleError(f"--now: expected an ISO 8601 time like 2015-08-20T15:00Z, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


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
    parser.add_argument("--now", help=argparse.SUPPRESS)


def policy_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """now, min_remaining and clock_skew for :func:`validate` from the common options."""
    return {
        "now": parse_now(args.now),
        "min_remaining": parse_duration(args.min_remaining, what="--min-remaining"),
        "clock_skew": parse_duration(args.clock_skew, what="--clock-skew"),
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


def cmd_show(args: argparse.Namespace) -> int:
    if args.connect:
        return show_live(args)
    pair = load_pair(args.cert, args.issuer)
    verdict = validate_file(args.file, pair, **policy_kwargs(args))
    name = args.name or pair.subject
    print(json.dumps({"name": name, **verdict.as_dict()}, indent=2) if args.json else render_verdict(verdict, name))
    return 0 if verdict.valid else 1


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


def show_live(args: argparse.Namespace) -> int:
    report, served = live_report(args, *parse_endpoint(args.connect))
    chain = [subject_text(cert) for cert in served.chain]
    if args.json:
        print(json.dumps({**report.as_dict(), "chain": chain}, indent=2))
    else:
        print(render_served(report, chain))
    return 0 if report.valid and report.matches is not False else 1


def check_file(args: argparse.Namespace) -> CheckResult:
    pair = load_pair(args.cert, args.issuer)
    name = args.name or pair.leaf.subject.rfc4514_string()
    try:
        verdict = validate_file(args.file, pair, name=name, **policy_kwargs(args))
    except OcspStapleError as exc:
        return CheckResult(CRITICAL, str(exc))
    return judge(verdict, name=name, warning=args.warning, critical=args.critical)


def check_live(args: argparse.Namespace) -> CheckResult:
    """Live mode. An unreachable endpoint is CRITICAL: see the --connect help for why not UNKNOWN."""
    host, port = parse_endpoint(args.connect)  # a malformed endpoint is a usage error: UNKNOWN
    try:
        report, _served = live_report(args, host, port)
    except FetchError as exc:
        return CheckResult(CRITICAL, f"TLS service unreachable: {exc}")
    return judge_served(report, warning=args.warning, critical=args.critical)


def check_store(args: argparse.Namespace) -> CheckResult:
    """Store mode: every certificate of the central store (storecheck.py)."""
    from .refresh import load_certificates_file
    from .storecheck import StoreThresholds, check_store

    thresholds = StoreThresholds(
        warning=args.warning,
        critical=args.critical,
        failures_warning=args.failures_warning,
        failures_critical=args.failures_critical,
        age_warning=parse_threshold(args.age_warning, what="--age-warning"),
        age_critical=parse_threshold(args.age_critical, what="--age-critical"),
        pin_warning=tuple(parse_threshold(v, what="--pin-warning") for v in args.pin_warning or PIN_WARNING_DEFAULT),
    )
    specs = load_certificates_file(args.certificates) if args.certificates else None
    kwargs = policy_kwargs(args)
    return check_store(
        args.store,
        now=kwargs["now"],
        specs=specs,
        only=args.names,
        thresholds=thresholds,
        min_remaining=kwargs["min_remaining"],
        clock_skew=kwargs["clock_skew"],
    )


#: Check modes: (predicate on args, runner); exactly one must apply.
CHECK_MODES: list[tuple[Callable[[argparse.Namespace], bool], Callable[[argparse.Namespace], CheckResult]]] = [
    (lambda a: bool(getattr(a, "file", None)), check_file),
    (lambda a: bool(getattr(a, "connect", None)), check_live),
    (lambda a: bool(getattr(a, "store", None)), check_store),
]
PIN_WARNING_DEFAULT = ("50%", "24h")


def cmd_check(args: argparse.Namespace) -> int:
    args.names = args.name or []  # store mode: a filter; file and live mode: the label (the last one)
    args.name = args.names[-1] if args.names else None
    try:
        args.warning = parse_threshold(args.warning, what="-w/--warning") if args.warning else DEFAULT_WARNING
        args.critical = parse_threshold(args.critical, what="-c/--critical") if args.critical else DEFAULT_CRITICAL
        runners = [runner for wanted, runner in CHECK_MODES if wanted(args)]
        if len(runners) == 1:
            result = runners[0](args)
        elif runners:
            result = CheckResult(UNKNOWN, "check: give one mode only (--file, --connect or --store), not several")
        else:
            result = CheckResult(
                UNKNOWN,
                "check: give --file F --cert C, --connect HOST:PORT or --store DIR (see ocsp-staple check --help)",
            )
    except OcspStapleError as exc:
        result = CheckResult(UNKNOWN, str(exc))
    print(result.output)
    return result.state


LIVE_HELP = (
    "Live mode: a real TLS handshake to HOST:PORT requesting the staple (status_request), then the full "
    "validation of the served bytes. No staple served is CRITICAL (stapling expected). --expect-file F also "
    "compares the served bytes with the deployed file: CRITICAL when they differ (nginx was not reloaded or the "
    "reload failed). An endpoint that cannot be reached (refused, timeout, handshake failure) is CRITICAL, not "
    "UNKNOWN: the check then sees what every TLS client sees, a service that cannot staple, and UNKNOWN is kept "
    "for what the check itself cannot decide (bad options, unreadable certificate or issuer files). Without --cert "
    "the staple is validated against the served leaf and the issuer the server sends; pass --cert/--issuer (the "
    "node's own files) to also catch a node serving an old or wrong certificate."
)


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


def build_check_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    check = sub.add_parser(
        "check",
        help="monitoring plugin: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
        description="Judge a staple like a Nagios/Icinga plugin. Thresholds apply to the effective remaining "
        "lifetime min(nextUpdate, signer notAfter); a duration (4h, 2d) or a percentage of the staple's "
        "nextUpdate-thisUpdate window (default -w 40% -c 20%). An invalid staple is always CRITICAL. " + LIVE_HELP,
    )
    check.add_argument("--file", help="file mode: staple file (DER OCSPResponse) to judge (needs --cert)")
    add_live_options(check, what="live mode")
    check.add_argument(
        "--cert",
        help="leaf certificate PEM (may hold the chain, issuer second); live mode without it validates "
        "against the served leaf and the issuer the server sends",
    )
    check.add_argument("--issuer", help="issuer certificate PEM")
    check.add_argument(
        "--name",
        action="append",
        help="file/live mode: name shown in the status line (default: --servername, else the leaf's subject); "
        "store mode: check only this certificate (repeatable)",
    )
    check.add_argument("-w", "--warning", help="WARNING below this remaining life (default 40%%)")
    check.add_argument("-c", "--critical", help="CRITICAL below this remaining life (default 20%%)")
    store = check.add_argument_group(
        "store mode",
        "--store DIR: every certificate of the central store (or of --certificates, or only --name N): the staple "
        "to deploy (the pinned one while frozen) against -w/-c, pins nearing expiry, failed attempts in a row, the "
        "age of the last valid answer; certificates without an OCSP URL are listed as information. One status "
        "line naming the closest limit, then one line per certificate.",
    )
    store.add_argument("--store", metavar="DIR", help="store mode: the central store directory")
    store.add_argument(
        "--certificates",
        metavar="FILE",
        help="the refresh's certificates list (YAML/JSON): check exactly these, with these certificate files "
        "(default: every certificate directory of the store, with the files the refresh recorded in state.json)",
    )
    store.add_argument(
        "--failures-warning",
        type=int,
        default=DEFAULT_FAILURES_WARNING,
        help=f"WARNING from this many failed attempts in a row (default {DEFAULT_FAILURES_WARNING}, 0 off)",
    )
    store.add_argument(
        "--failures-critical",
        type=int,
        default=DEFAULT_FAILURES_CRITICAL,
        help=f"CRITICAL from this many failed attempts in a row (default {DEFAULT_FAILURES_CRITICAL}, 0 off)",
    )
    store.add_argument(
        "--age-warning",
        default=str(DEFAULT_AGE_WARNING),
        help="WARNING when the last valid answer is older than this (duration or %% of the staple's window; "
        "default 75%%)",
    )
    store.add_argument(
        "--age-critical",
        default=str(DEFAULT_AGE_CRITICAL),
        help="CRITICAL when the last valid answer is older than this (default 90%%)",
    )
    store.add_argument(
        "--pin-warning",
        action="append",
        help="WARNING when a pinned staple has less than this left (duration or %% of its window; repeatable, the "
        "largest applies; default 50%% and 24h)",
    )
    add_policy_options(check)
    check.set_defaults(func=cmd_check)
    return check  # type: ignore[no-any-return]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocsp-staple", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser(
        "show",
        help="print the facts and the verdict of a staple file, or of what a TLS endpoint staples",
        description="ocsp-staple show FILE --cert C: the facts and verdict of a staple file. "
        "ocsp-staple show --connect HOST:PORT --servername NAME: what a TLS client sees (certificate, chain, "
        "staple, its facts and verdict). Exit 0 valid (and matching --expect-file), 1 not, 2 operational error.",
    )
    show.add_argument("file", nargs="?", help="staple file (DER OCSPResponse); not with --connect")
    add_live_options(show, what="instead of FILE")
    show.add_argument(
        "--cert",
        help="leaf certificate PEM (may hold the chain, issuer second); required with FILE, "
        "with --connect it defaults to the served leaf and chain",
    )
    show.add_argument("--issuer", help="issuer certificate PEM")
    show.add_argument("--name", help="name used in messages (default: the leaf's subject)")
    show.add_argument("--json", action="store_true", help="print the verdict as JSON")
    add_policy_options(show)
    show.set_defaults(func=cmd_show)
    build_check_parser(sub)
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(f".{module_name}", __package__).register(sub)
    return parser


#: Core modules that add a subcommand through their ``register(subparsers)`` function.
#: Each imports its heavy dependencies (requests, pyOpenSSL) inside its handler only.
SUBCOMMAND_MODULES: tuple[str, ...] = ("refresh", "responder")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "show" and bool(args.file) == bool(args.connect):
        parser.error("show: give a staple FILE or --connect HOST:PORT (one of them)")
    if args.command == "show" and args.file and not args.cert:
        parser.error("show FILE: --cert is required")
    try:
        return int(args.func(args))
    except OcspStapleError as exc:
        print(f"ocsp-staple {args.command}: {exc}", file=sys.stderr)
        return UNKNOWN if args.command == "check" else 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
