"""``ocsp-staple show``: facts and verdict of a staple file, or of what a TLS endpoint staples."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from ..certs import load_pair, subject_text
from ..fsutil import read_file
from ..policy import validate
from .common import (
    add_live_options,
    add_policy_options,
    live_report,
    parse_endpoint,
    policy_kwargs,
    render_served,
    render_verdict,
)


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    if args.connect:
        return show_live(args, out)
    pair = load_pair(args.cert, args.issuer)
    verdict = validate(read_file(args.file, what="staple file"), pair, **policy_kwargs(args))
    name = args.name or pair.subject
    text = json.dumps({"name": name, **verdict.as_dict()}, indent=2) if args.json else render_verdict(verdict, name)
    out.write(f"{text}\n")
    return 0 if verdict.valid else 1


def show_live(args: argparse.Namespace, out: TextIO) -> int:
    report, served = live_report(args, *parse_endpoint(args.connect))
    chain = [subject_text(cert) for cert in served.chain]
    if args.json:
        out.write(json.dumps({**report.as_dict(), "chain": chain}, indent=2) + "\n")
    else:
        out.write(render_served(report, chain) + "\n")
    return 0 if report.valid and report.matches is not False else 1


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
