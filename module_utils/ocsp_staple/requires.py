"""Is this host's cryptography usable? Imports nothing that needs it: every module asks first."""

from __future__ import annotations

import sys

#: The oldest cryptography the core works with (RHEL 9 ships 36.0, Debian 12 38.0).
CRYPTOGRAPHY_MINIMUM = (36, 0)


def cryptography_problem(module: str, minimum: tuple[int, int] = CRYPTOGRAPHY_MINIMUM) -> str | None:
    """One line naming the package, this Python, the version found and the minimum; None when usable."""
    try:
        import cryptography
    except ImportError:
        found = "none installed"
    else:
        version = str(getattr(cryptography, "__version__", "unknown"))
        found, parts = f"version {version}", version.split(".")[:2]
        if all(part.isdigit() for part in parts) and tuple(int(part) for part in parts) >= minimum:
            return None
    return (
        f"{module} needs the Python package cryptography >= {minimum[0]}.{minimum[1]} on this host: {sys.executable} "
        f"(Python {sys.version.split()[0]}) has {found} (install python3-cryptography, or set "
        "ansible_python_interpreter to a Python that has it)"
    )
