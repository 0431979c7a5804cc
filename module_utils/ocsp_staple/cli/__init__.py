"""The ``ocsp-staple`` command: the same core the Ansible modules and filters call.

One file per subcommand: ``show`` (facts + verdict of a staple file, or of what a TLS endpoint
staples with ``--connect``), ``check`` (monitoring plugin: file, live and store modes, see
docs/MONITORING.md), ``refresh`` (the ocsp_response module as a command). This package is the
top of the core: nothing in the core imports it. :func:`main` returns the exit code (documented
per subcommand) and writes to the streams it is given (stdout and stderr by default); every
operational error is one line on the error stream. The fault-injecting test responder is not
part of it (``python -m testbed.responder serve``: it never ships to nodes).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from .. import __version__
from ..errors import OcspStapleError
from ..monitor.check import UNKNOWN
from . import check, refresh, show

#: The subcommands, each a module with ``register(subparsers)``. Each imports its heavy
#: dependencies (requests, pyOpenSSL) inside its handler only.
SUBCOMMANDS = (show, check, refresh)
#: Exit code when the reader of stdout went away (``ocsp-staple show ... | head``): 128 + SIGPIPE,
#: what a shell reports for a tool killed by the signal; not 1 or 2, which mean WARNING or INVALID.
PIPE_CLOSED = 141


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocsp-staple", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in SUBCOMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run one subcommand, return its exit code; a closed stdout pipe ends quietly with :data:`PIPE_CLOSED`."""
    out = sys.stdout if stdout is None else stdout
    try:
        try:
            return _main(argv, out, sys.stderr if stderr is None else stderr)
        finally:
            out.flush()  # inside the try: a closed pipe shows here at the latest, not at interpreter exit
    except BrokenPipeError:
        # The recipe of the Python docs (signal module, "Note on SIGPIPE"): send whatever is still
        # buffered to /dev/null, so the flush at exit does not complain again.
        with contextlib.suppress(AttributeError, OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())
        return PIPE_CLOSED


def _main(argv: Sequence[str] | None, out: TextIO, err: TextIO) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "show" and bool(args.file) == bool(args.connect):
        parser.error("show: give a staple FILE or --connect HOST:PORT (one of them)")
    if args.command == "show" and args.file and not args.cert:
        parser.error("show FILE: --cert is required")
    try:
        return int(args.func(args, out))
    except OcspStapleError as exc:
        err.write(f"ocsp-staple {args.command}: {exc}\n")
        return UNKNOWN if args.command == "check" else 2
