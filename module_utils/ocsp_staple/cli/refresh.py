"""``ocsp-staple refresh``: the ocsp_response module as a command (same core, same store)."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from ..central.options import RefreshOptions
from ..central.refresh import run
from ..spec import load_certificates_file
from ..times import now_or


def cmd_refresh(args: argparse.Namespace, out: TextIO) -> int:
    fixed = now_or(args.now, what="--now") if args.now else None
    options = RefreshOptions.from_params(
        {
            "attempts": args.attempts,
            "refresh_fraction": args.refresh_fraction,
            "force": args.force,
            "timeout": args.timeout,
            "deadline": args.deadline,
            "concurrency": args.concurrency,
            "min_remaining": args.min_remaining,
            "critical_remaining": args.critical_remaining,
            "clock_skew": args.clock_skew,
            "assume_lifetime_without_next_update": args.assume_lifetime_without_next_update,
            "proxy": args.proxy,
            "metrics_path": args.metrics_path,
            "check_mode": args.check,
        },
        method=args.method,
    )
    specs = load_certificates_file(args.certificates)
    outcome = run(specs, args.store, options, clock=(lambda: fixed) if fixed else (lambda: now_or(None)))
    if args.json:
        out.write(json.dumps(outcome.as_dict(), indent=2) + "\n")
    else:
        for cert in outcome.certificates:
            out.write(f"{cert.message}\n")
    return 2 if outcome.failed else 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "refresh",
        help="fetch, validate and store OCSP staples (the ocsp_response module as a command)",
        description="Refresh the central store like the ocsp_response Ansible module: fetch only when due, retry "
        "until good, keep the best valid answer. One line per certificate. Exit 0 when every certificate is ok "
        "(warnings included), 2 when the module would fail (no valid staple, or less than --critical-remaining).",
    )
    parser.add_argument("--store", required=True, help="store directory")
    parser.add_argument(
        "--certificates", required=True, help="YAML/JSON file: list of {name, certificate, issuer?, responder_url?, "
        "assume_lifetime_without_next_update?}"
    )
    parser.add_argument("--attempts", type=int, help="answers to ask for per certificate (default 3)")
    parser.add_argument("--refresh-fraction", type=float, help="refresh after this share of the window (default 0.5)")
    parser.add_argument("--force", action="store_true", help="fetch even when the current staple is fresh")
    parser.add_argument("--timeout", help="per-attempt timeout (default 10s)")
    parser.add_argument("--deadline", help="overall deadline of the run (default 120s)")
    parser.add_argument("--concurrency", type=int, help="certificates refreshed at once (default 10)")
    parser.add_argument("--min-remaining", help="least effective lifetime of a valid staple (default 4h)")
    parser.add_argument("--critical-remaining", help="fail below this remaining life (default 6h)")
    parser.add_argument("--clock-skew", help="tolerated clock difference (default 5m)")
    parser.add_argument(
        "--assume-lifetime-without-next-update",
        metavar="DURATION",
        help="accept answers without nextUpdate as ending this long after thisUpdate, for every certificate "
        "without its own setting (default off: such answers are refused)",
    )
    parser.add_argument(
        "--method",
        choices=("POST", "GET"),
        default="POST",
        help="HTTP method of the OCSP request: POST (default) or GET as RFC 5019 describes",
    )
    parser.add_argument("--proxy", help="HTTP(S) proxy URL (the *_proxy environment is used otherwise)")
    parser.add_argument("--metrics-path", help="write a Prometheus textfile here")
    parser.add_argument("--check", action="store_true", help="fetch and validate but write nothing")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument("--now", help=argparse.SUPPRESS)
    parser.set_defaults(func=cmd_refresh)
