#!/usr/bin/env bash
# Run every molecule scenario (each molecule/<name>/ with a molecule.yml) with
# `molecule test`, one after the other: `default` (the deps role) first, then
# the rest by name. Stops at the first failure. Always tears the lab down at
# the end, whatever happened. Usage: tools/molecule-all.sh [scenario...]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/.venv/bin:$PATH"          # molecule shells out to ansible-config
export ANSIBLE_COLLECTIONS_PATH="$root/.collections"   # molecule ignores the cfg key
export PYTHONPATH="$root/tools:$root/.collections"
export PYTHONDONTWRITEBYTECODE=1

command -v molecule >/dev/null || { echo "molecule-all: molecule is not installed; run 'make venv'" >&2; exit 1; }

finish() {
  local rc=$?
  echo "molecule-all: tearing the lab down"
  tools/ocmlab/lab.sh down || rc=1
  exit "$rc"
}
trap finish EXIT

if (($#)); then
  scenarios=("$@")
else
  scenarios=()
  [[ -f molecule/default/molecule.yml ]] && scenarios+=(default)
  for f in molecule/*/molecule.yml; do
    s=$(basename "$(dirname "$f")")
    [[ $s == default ]] || scenarios+=("$s")
  done
fi
((${#scenarios[@]})) || { echo "molecule-all: no scenario found (molecule/*/molecule.yml)" >&2; exit 1; }

summary=()
for s in "${scenarios[@]}"; do
  [[ -f molecule/$s/molecule.yml ]] || { echo "molecule-all: no scenario molecule/$s/molecule.yml" >&2; exit 1; }
  echo "molecule-all: === molecule test -s $s"
  start=$SECONDS
  if ! molecule test -s "$s" </dev/null; then
    echo "molecule-all: scenario '$s' FAILED after $((SECONDS - start)) s" >&2
    printf 'molecule-all: %s\n' "${summary[@]}" "$s: FAILED"
    exit 1
  fi
  summary+=("$s: passed in $((SECONDS - start)) s")
done
printf 'molecule-all: %s\n' "${summary[@]}"
