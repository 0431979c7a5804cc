"""``make bench``: run every benchmark in turn and print its figures."""

from __future__ import annotations

import importlib
import sys

#: Benchmark modules, each with main(argv) -> int.
BENCHMARKS = [
    "benchmarks.validate_bench",
    "benchmarks.refresh_bench",
    "benchmarks.rollout_bench",
    "benchmarks.freeze_bench",
]


def main() -> int:
    status = 0
    for name in BENCHMARKS:
        print(f"\n== {name}", flush=True)
        status |= importlib.import_module(name).main([])
    return status


if __name__ == "__main__":
    sys.exit(main())
