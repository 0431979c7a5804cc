"""The ``ocsp-staple`` command: the same core the Ansible modules and filters call.

Subcommands: ``show`` (facts + verdict), ``check`` (monitoring plugin). Later parts of the
project add theirs through :data:`SUBCOMMANDS`. Every operational error is one line on
stderr; exit codes are documented per subcommand.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from . import __version__
from .certs import load_pair
from .check import CRITICAL, DEFAULT_CRITICAL, DEFAULT_WARNING, UNKNOWN, CheckResult, judge
from .compat import UTC
from .durations import parse_duration, parse_threshold
from .errors import OcspStapleError
from .policy import DEFAULT_CLOCK_SKEW, DEFAULT_MIN_REMAINING, Verdict, human_duration, validate_file


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
    pair = load_pair(args.cert, args.issuer)
    verdict = validate_file(args.file, pair, **policy_kwargs(args))
    name = args.name or pair.subject
    print(json.dumps({"name": name, **verdict.as_dict()}, indent=2) if args.json else render_verdict(verdict, name))
    return 0 if verdict.valid else 1


def check_file(args: argparse.Namespace) -> CheckResult:
    pair = load_pair(args.cert, args.issuer)
    name = args.name or pair.leaf.subject.rfc4514_string()
    try:
        verdict = validate_file(args.file, pair, name=name, **policy_kwargs(args))
    except OcspStapleError as exc:
        return CheckResult(CRITICAL, str(exc))
    return judge(verdict, name=name, warning=args.warning, critical=args.critical)


#: Check modes: (predicate on args, runner). Monitoring and later issues add live and store modes.
CHECK_MODES: list[tuple[Callable[[argparse.Namespace], bool], Callable[[argparse.Namespace], CheckResult]]] = [
    (lambda a: bool(getattr(a, "file", None)), check_file),
]


def cmd_check(args: argparse.Namespace) -> int:
    try:
        args.warning = parse_threshold(args.warning, what="-w/--warning") if args.warning else DEFAULT_WARNING
        args.critical = parse_threshold(args.critical, what="-c/--critical") if args.critical else DEFAULT_CRITICAL
        for wanted, runner in CHECK_MODES:
            if wanted(args):
                result = runner(args)
                break
        else:
            result = CheckResult(UNKNOWN, "check: give --file F --cert C (see ocsp-staple check --help)")
    except OcspStapleError as exc:
        result = CheckResult(UNKNOWN, str(exc))
    print(result.line)
    return result.state


def build_check_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    check = sub.add_parser(
        "check",
        help="monitoring plugin: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
        description="Judge a staple like a Nagios/Icinga plugin. Thresholds apply to the effective remaining "
        "lifetime min(nextUpdate, signer notAfter); a duration (4h, 2d) or a percentage of the staple's "
        "nextUpdate-thisUpdate window (default -w 40%% -c 20%%). An invalid staple is always CRITICAL.",
    )
    check.add_argument("--file", help="staple file (DER OCSPResponse) to judge")
    check.add_argument("--cert", help="leaf certificate PEM (may hold the chain, issuer second)")
    check.add_argument("--issuer", help="issuer certificate PEM")
    check.add_argument("--name", help="name shown in the status line (default: the leaf's subject)")
    check.add_argument("-w", "--warning", help="WARNING below this remaining life (default 40%%)")
    check.add_argument("-c", "--critical", help="CRITICAL below this remaining life (default 20%%)")
    add_policy_options(check)
    check.set_defaults(func=cmd_check)
    return check  # type: ignore[no-any-return]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocsp-staple", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="print the facts and the verdict of a staple file")
    show.add_argument("file", help="staple file (DER OCSPResponse)")
    show.add_argument("--cert", required=True, help="leaf certificate PEM (may hold the chain, issuer second)")
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
    try:
        return int(args.func(args))
    except OcspStapleError as exc:
        print(f"ocsp-staple {args.command}: {exc}", file=sys.stderr)
        return UNKNOWN if args.command == "check" else 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
