#!/usr/bin/env bash
# Run every molecule scenario (molecule/*/molecule.yml) with `molecule test`, one after the
# other, and fail if any fails. Each scenario destroys what it created, also after a failure
# (molecule test's default --destroy=always). Usage: scripts/molecule-all.sh [SCENARIO...]
set -uo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
export ANSIBLE_CONFIG="$REPO/ansible.cfg"
export PATH="$REPO/.venv/bin:$PATH"
export CI=true ANSIBLE_FORCE_COLOR=false PY_COLORS=0 NO_COLOR=1

if [ $# -gt 0 ]; then
  scenarios=("$@")
else
  scenarios=()
  for file in molecule/*/molecule.yml; do scenarios+=("$(basename "$(dirname "$file")")"); done
fi
if [ ${#scenarios[@]} -eq 0 ]; then
  echo "molecule: no scenario under molecule/" >&2; exit 1
fi

failed=()
for scenario in "${scenarios[@]}"; do
  echo "== molecule test -s $scenario"
  start=$SECONDS
  if molecule test -s "$scenario" </dev/null; then
    echo "== molecule test -s $scenario: passed in $((SECONDS - start)) s"
  else
    echo "== molecule test -s $scenario: FAILED after $((SECONDS - start)) s" >&2
    failed+=("$scenario")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "molecule: failed scenarios: ${failed[*]}" >&2
  exit 1
fi
echo "molecule: all ${#scenarios[@]} scenarios passed (${scenarios[*]})"
