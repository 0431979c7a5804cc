#!/usr/bin/env bash
# make sanity: ansible-test sanity on the built collection, offline, with no ignore file.
#   1. scripts/build_collection.py --no-tarball assembles build/collection/ansible_collections/ocsp/stapling;
#   2. that directory becomes a git repository of its own: ansible-test lists a collection's files
#      through git, and the assembled tree sits inside this (git-ignored) checkout's build/;
#   3. ansible-test runs from .venv-sanity (requirements-sanity.txt: its pinned sanity requirements)
#      with a HOME under .tmp/, where scripts/ansible_test_get_pip.py stands in for the pip bootstrap
#      script it would download (not reachable from here) for the virtual environments it creates.
# Arguments go to ansible-test sanity (e.g. --test pylint).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
venv="$repo/.venv-sanity"
python="$venv/bin/python"
version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

"$python" scripts/build_collection.py --no-tarball --out build/collection >/dev/null
root="$repo/build/collection/ansible_collections/ocsp/stapling"
if [ -e "$root/tests/sanity" ] && [ -n "$(find "$root/tests/sanity" -name 'ignore-*.txt' -size +0 2>/dev/null)" ]; then
  echo "sanity: $root/tests/sanity has a non-empty ignore file" >&2; exit 1
fi
git -C "$root" init -q
git -C "$root" add -A

# ansible-test keeps its virtual environments and the pip bootstrap under ~/.ansible/test.
export XDG_CONFIG_HOME="${XDG_CONFIG_HOME:-$HOME/.config}"  # pip's configuration (index, wheels) stays the user's
export HOME="$repo/.tmp/sanity-home"
pip_version="$("$python" -c 'import types; from ansible_test._internal.python_requirements import get_venv_packages as g; print(g(types.SimpleNamespace(version="'"$version"'"))["pip"])')"
mkdir -p "$HOME/.ansible/test/cache"
cp scripts/ansible_test_get_pip.py "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"

cd "$root"
exec "$venv/bin/ansible-test" sanity --local --python "$version" --color no "$@"
