"""Does a node serve the central store's staples? A real TLS client's answer (molecule verify).

For each certificate name, one handshake to ``HOST:PORT`` with SNI = the name, requesting the
OCSP staple (:func:`ocsp_staple.node.live.fetch_served_staple`), then:

* the served leaf has an OCSP URL: the served bytes must be exactly ``<store>/<name>/current.der``
  and the policy must find them valid for the served leaf and its served issuer;
* the served leaf has no OCSP URL: nothing may be stapled.

CLI (exit 0 when every name matches, 1 otherwise; one line per name)::

    python -m testbed.served --store DIR --connect HOST:PORT --name www.demo.test [--name ...]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ocsp_staple.aia import ocsp_urls
from ocsp_staple.central.store import CURRENT
from ocsp_staple.cli.common import parse_endpoint
from ocsp_staple.errors import OcspStapleError
from ocsp_staple.node.live import fetch_served_staple
from ocsp_staple.policy import validate


@dataclass(frozen=True)
class Match:
    name: str
    endpoint: str
    ok: bool
    detail: str
    served_size: int | None = None


def check(store: str | Path, host: str, port: int, name: str, *, now: _dt.datetime, timeout: float = 10.0) -> Match:
    endpoint = f"{host}:{port}"
    try:
        served = fetch_served_staple(host, port, servername=name, timeout=timeout)
    except OcspStapleError as exc:
        return Match(name, endpoint, False, f"no handshake: {exc}")
    size = len(served.staple) if served.staple else None
    pair = served.pair()
    if not ocsp_urls(pair.leaf):
        ok = served.staple is None
        detail = "no OCSP URL, nothing stapled" if ok else f"no OCSP URL but a {size}-byte staple was served"
        return Match(name, endpoint, ok, detail, size)
    current_path = Path(store) / name / CURRENT
    try:
        current = current_path.read_bytes()
    except OSError as exc:
        return Match(name, endpoint, False, f"cannot read {current_path}: {exc.strerror}", size)
    if served.staple is None:
        return Match(name, endpoint, False, f"nothing stapled; {current_path} has {len(current)} bytes", size)
    if served.staple != current:
        return Match(name, endpoint, False, f"served {size} bytes differ from {current_path} ({len(current)})", size)
    verdict = validate(served.staple, pair, now=now, name=name)
    if not verdict.valid:
        return Match(name, endpoint, False, f"served staple is current.der but invalid: {verdict.summary()}", size)
    return Match(name, endpoint, True, f"served {size} bytes == current.der, {verdict.summary()}", size)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.served", description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="the central store directory")
    parser.add_argument("--connect", required=True, help="HOST:PORT of the node")
    parser.add_argument("--name", action="append", required=True, help="certificate name = SNI name (repeatable)")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--json", action="store_true", help="print the results as a JSON list")
    args = parser.parse_args(argv)
    try:
        host, port = parse_endpoint(args.connect)
    except OcspStapleError as exc:
        parser.error(str(exc))
    now = _dt.datetime.now(_dt.UTC)
    results = [check(args.store, host, port, name, now=now, timeout=args.timeout) for name in args.name]
    if args.json:
        print(json.dumps([asdict(result) for result in results], indent=2))
    else:
        for result in results:
            print(f"{'OK  ' if result.ok else 'FAIL'} {result.endpoint} {result.name}: {result.detail}")
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
