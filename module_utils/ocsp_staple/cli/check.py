"""``ocsp-staple check``: the monitoring plugin (file, live and store modes; docs/MONITORING.md)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TextIO

from ..certs import load_pair
from ..errors import FetchError, InputError, OcspStapleError
from ..fsutil import read_file
from ..monitor import served_metrics
from ..monitor.check import (
    CRITICAL,
    DEFAULT_CRITICAL,
    DEFAULT_WARNING,
    UNKNOWN,
    CheckResult,
    judge,
    judge_served,
    parse_threshold,
    worst,
)
from ..monitor.storecheck import (
    DEFAULT_AGE_CRITICAL,
    DEFAULT_AGE_WARNING,
    DEFAULT_FAILURES_CRITICAL,
    DEFAULT_FAILURES_WARNING,
)
from ..node.served import ServedReport
from ..policy import validate
from .common import add_live_options, add_policy_options, live_report, parse_endpoint, policy_kwargs


def check_file(args: argparse.Namespace) -> CheckResult:
    pair = load_pair(args.cert, args.issuer)
    name = args.name or pair.leaf.subject.rfc4514_string()
    try:
        verdict = validate(read_file(args.file, what="staple file"), pair, name=name, **policy_kwargs(args))
    except OcspStapleError as exc:
        return CheckResult(CRITICAL, str(exc))
    return judge(verdict, name=name, warning=args.warning, critical=args.critical)


def check_live(args: argparse.Namespace) -> CheckResult:
    """Live mode. An unreachable endpoint is CRITICAL: see the --connect help for why not UNKNOWN."""
    host, port = parse_endpoint(args.connect)  # a malformed endpoint is a usage error: UNKNOWN
    report: ServedReport | None = None
    try:
        report, _served = live_report(args, host, port)
    except FetchError as exc:
        result = CheckResult(CRITICAL, f"TLS service unreachable: {exc}")
    else:
        result = judge_served(report, warning=args.warning, critical=args.critical)
    if args.metrics_file:
        name = report.name if report is not None else args.name or args.servername or host
        try:
            served_metrics.write(
                args.metrics_file, report, name=name, endpoint=args.connect, now=policy_kwargs(args)["now"]
            )
        except OcspStapleError as exc:  # the check still reports; the state is at least UNKNOWN
            state = worst([result, CheckResult(UNKNOWN, "")])
            result = CheckResult(state, f"{result.message}; {exc}", result.perfdata)
    return result


def check_store(args: argparse.Namespace) -> CheckResult:
    """Store mode: every certificate of the central store (storecheck.py)."""
    from ..monitor.storecheck import StoreThresholds, check_store
    from ..spec import load_certificates_file

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
        assume_lifetime=kwargs["assume_lifetime"],
    )


#: Check modes: (predicate on args, runner); exactly one must apply.
CHECK_MODES: list[tuple[Callable[[argparse.Namespace], bool], Callable[[argparse.Namespace], CheckResult]]] = [
    (lambda a: bool(getattr(a, "file", None)), check_file),
    (lambda a: bool(getattr(a, "connect", None)), check_live),
    (lambda a: bool(getattr(a, "store", None)), check_store),
]

PIN_WARNING_DEFAULT = ("50%", "24h")


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    args.names = args.name or []  # store mode: a filter; file and live mode: the label (the last one)
    args.name = args.names[-1] if args.names else None
    try:
        args.warning = parse_threshold(args.warning, what="-w/--warning") if args.warning else DEFAULT_WARNING
        args.critical = parse_threshold(args.critical, what="-c/--critical") if args.critical else DEFAULT_CRITICAL
        runners = [runner for wanted, runner in CHECK_MODES if wanted(args)]
        if args.metrics_file and runners != [check_live]:
            raise InputError(f"check: --metrics-file is for live mode (--connect) only, got {args.metrics_file!r}")
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
    out.write(f"{result.output}\n")
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


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
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
    check.add_argument(
        "--metrics-file",
        metavar="P",
        help="live mode: also write Prometheus textfile metrics of this check to P (atomically; for "
        "node_exporter's textfile collector: served staple present, valid, the deployed bytes or not)",
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
