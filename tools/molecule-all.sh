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
  log=$(mktemp -t "molecule-$s.XXXXXX.log")
  if ! molecule test -s "$s" </dev/null 2>&1 | tee "$log"; then
    # The verifier's failures scroll away under cleanup and destroy: say them again last, where a CI tail shows them.
    echo "molecule-all: what failed in '$s' (full output above; also in $log):" >&2
    sed 's/\x1b\[[0-9;]*m//g; s/^ *│ //' "$log" |
      grep -E '^(FAILED |ERROR |E  |fatal: |failed: |TASK \[|=* ?[0-9]+ (failed|passed))' | grep -B1 -E '^(FAILED|ERROR|E |fatal|failed|=* ?[0-9]+ failed)' |
      tail -n 60 >&2 || true
    echo "molecule-all: scenario '$s' FAILED after $((SECONDS - start)) s" >&2
    printf 'molecule-all: %s\n' "${summary[@]}" "$s: FAILED"
    exit 1
  fi
  summary+=("$s: passed in $((SECONDS - start)) s")
done
printf 'molecule-all: %s\n' "${summary[@]}"
