"""Offline stand-in for ansible-test's pip bootstrap script (get-pip-<version>.py).

ansible-test creates each sanity test's virtual environment without pip, then downloads
``https://ci-files.testing.ansible.com/ansible-test/get-pip-<version>.py`` to put pip in it, and
reads the script from ``~/.ansible/test/cache/get_pip_<version>.py`` when it is there (its error
message says so). That host is not reachable from this project's machines, so scripts/sanity.sh
saves this file under that name. It does what get-pip does, from the standard library: bootstrap
the pip Python bundles (ensurepip), then ``pip install`` what ansible-test asked for (its pinned
pip) from the configured package index. ``--no-setuptools`` / ``--no-wheel`` are get-pip's own
flags; ensurepip installs neither, so they are dropped.

    python get_pip_<version>.py [pip install arguments] [--no-setuptools] [--no-wheel]
"""

import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main(argv: list[str]) -> int:
    pip_args = [arg for arg in argv if arg not in GET_PIP_ONLY]
    bootstrapped = subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=False)
    if bootstrapped.returncode != 0:
        return bootstrapped.returncode
    return subprocess.run([sys.executable, "-m", "pip", "install", *pip_args], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
