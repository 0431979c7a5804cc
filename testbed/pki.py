"""A demo PKI on disk: CA, delegated OCSP responder, leaf certificates (test material).

Layout under the directory (keys mode 0600)::

    ca.pem ca.key responder.pem responder.key pki.json
    <leaf name>/cert.pem  <leaf name>/key.pem  <leaf name>/fullchain.pem (leaf then CA)

Default leaves: ``www.demo.test`` (OCSP URL), ``must-staple.demo.test`` (OCSP URL and
Must-Staple) and ``no-ocsp.demo.test`` (no OCSP URL, as many certificates since 2025).
``pki.json`` records what was made; with ``reuse=True`` an existing PKI made for the same
OCSP URL and leaves is returned as is, so a demo can be restarted without new keys.

CLI: ``python -m testbed.pki --dir DIR --ocsp-url http://127.0.0.1:8880/ [--json]``
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import forge

DEFAULT_OCSP_URL = "http://127.0.0.1:8880/"


@dataclass(frozen=True)
class LeafSpec:
    name: str
    ocsp: bool = True
    must_staple: bool = False
    key_type: str = "ec"


DEFAULT_LEAVES: tuple[LeafSpec, ...] = (
    LeafSpec("www.demo.test"),
    LeafSpec("must-staple.demo.test", must_staple=True),
    LeafSpec("no-ocsp.demo.test", ocsp=False),
)


@dataclass(frozen=True)
class LeafFiles:
    name: str
    cert: str
    key: str
    fullchain: str
    ocsp_url: str | None
    must_staple: bool


@dataclass(frozen=True)
class DemoPki:
    directory: str
    ocsp_url: str
    ca_cert: str
    ca_key: str
    responder_cert: str
    responder_key: str
    leaves: dict[str, LeafFiles]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DemoPki:
        leaves = {name: LeafFiles(**leaf) for name, leaf in data["leaves"].items()}
        return cls(**{**data, "leaves": leaves})

    def ca(self) -> forge.Issued:
        return forge.load_issued(self.ca_cert, self.ca_key)

    def responder(self) -> forge.Issued:
        return forge.load_issued(self.responder_cert, self.responder_key)

    def leaf(self, name: str) -> forge.Issued:
        files = self.leaves[name]
        return forge.load_issued(files.cert, files.key)


def _write(path: Path, data: bytes, mode: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    forge.write(str(path), data, mode)
    os.chmod(path, mode)  # forge.write's mode only applies to a new file
    return str(path)


def load_demo_pki(directory: str | Path) -> DemoPki | None:
    """The PKI recorded in ``directory/pki.json`` when every file it names exists, else None."""
    manifest = Path(directory) / "pki.json"
    try:
        pki = DemoPki.from_dict(json.loads(manifest.read_text()))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    files = [pki.ca_cert, pki.ca_key, pki.responder_cert, pki.responder_key]
    for leaf in pki.leaves.values():
        files += [leaf.cert, leaf.key, leaf.fullchain]
    return pki if all(os.path.exists(f) for f in files) else None


def write_demo_pki(
    directory: str | Path,
    *,
    ocsp_url: str = DEFAULT_OCSP_URL,
    now: _dt.datetime | None = None,
    leaves: Sequence[LeafSpec] = DEFAULT_LEAVES,
    key_type: str = "ec",
    reuse: bool = True,
) -> DemoPki:
    """Write (or, with ``reuse``, find) the demo PKI under ``directory``."""
    root = Path(directory).resolve()
    if reuse:
        existing = load_demo_pki(root)
        if existing and existing.ocsp_url == ocsp_url and set(existing.leaves) == {spec.name for spec in leaves}:
            return existing
    now = now or _dt.datetime.now(_dt.UTC)
    root.mkdir(parents=True, exist_ok=True)
    ca = forge.make_ca("Demo CA", now=now, key_type=key_type)
    responder = forge.make_responder(ca, "Demo CA OCSP Responder", now=now, key_type=key_type)
    made: dict[str, LeafFiles] = {}
    for spec in leaves:
        url = ocsp_url if spec.ocsp else None
        leaf = forge.make_leaf(
            ca, spec.name, now=now, ocsp_url=url, must_staple=spec.must_staple, key_type=spec.key_type
        )
        folder = root / spec.name
        made[spec.name] = LeafFiles(
            name=spec.name,
            cert=_write(folder / "cert.pem", leaf.pem, 0o644),
            key=_write(folder / "key.pem", leaf.key_pem(), 0o600),
            fullchain=_write(folder / "fullchain.pem", leaf.pem + ca.pem, 0o644),
            ocsp_url=url,
            must_staple=spec.must_staple,
        )
    pki = DemoPki(
        directory=str(root),
        ocsp_url=ocsp_url,
        ca_cert=_write(root / "ca.pem", ca.pem, 0o644),
        ca_key=_write(root / "ca.key", ca.key_pem(), 0o600),
        responder_cert=_write(root / "responder.pem", responder.pem, 0o644),
        responder_key=_write(root / "responder.key", responder.key_pem(), 0o600),
        leaves=made,
    )
    _write(root / "pki.json", json.dumps(pki.as_dict(), indent=2).encode() + b"\n", 0o644)
    return pki


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testbed.pki", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    parser.add_argument("--dir", required=True, help="directory to write the PKI into")
    parser.add_argument(
        "--ocsp-url", default=DEFAULT_OCSP_URL, help=f"AIA OCSP URL of the leaves (default {DEFAULT_OCSP_URL})"
    )
    parser.add_argument("--key-type", choices=("ec", "rsa"), default="ec")
    parser.add_argument("--fresh", action="store_true", help="make new keys even when a matching PKI exists")
    parser.add_argument("--json", action="store_true", help="print the file paths as JSON")
    args = parser.parse_args(argv)
    pki = write_demo_pki(args.dir, ocsp_url=args.ocsp_url, key_type=args.key_type, reuse=not args.fresh)
    if args.json:
        print(json.dumps(pki.as_dict(), indent=2))
    else:
        leaves = ", ".join(pki.leaves)
        print(f"demo PKI in {pki.directory}: CA {pki.ca_cert}, responder {pki.responder_cert}, leaves {leaves}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
