#!/usr/bin/env bash
# ansible-doc must render every module and every role's argument spec.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0; n=0
for f in plugins/modules/*.py; do
  [[ -e "$f" ]] || continue
  m=$(basename "$f" .py)
  if out=$(.venv/bin/ansible-doc "openclaw.memory.$m" 2>&1) && grep -q "OPTIONS\|RETURN VALUES" <<<"$out"; then
    n=$((n+1))
  else
    echo "ansible-doc openclaw.memory.$m failed:"; echo "$out" | tail -20; fail=1
  fi
done
for d in roles/*/; do
  r=$(basename "$d")
  if [[ ! -f "$d/meta/argument_specs.yml" ]]; then
    echo "role $r has no meta/argument_specs.yml"; fail=1; continue
  fi
  if out=$(.venv/bin/ansible-doc -t role "openclaw.memory.$r" 2>&1); then
    n=$((n+1))
  else
    echo "ansible-doc -t role openclaw.memory.$r failed:"; echo "$out" | tail -20; fail=1
  fi
done
((n > 0)) || { echo "check-docs: nothing documented (no modules, no roles)"; exit 1; }
((fail == 0)) || exit 1
echo "check-docs: $n modules and roles render"
