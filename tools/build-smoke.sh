#!/usr/bin/env bash
# Build the collection tarball, install it into a temporary collections path,
# and prove the installed copy works on its own (import, ansible-doc, a module run).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d /tmp/ocm-build.XXXXXX)
trap 'rm -rf "$out"' EXIT
printf '[defaults]\n' >"$out/ansible.cfg"
.venv/bin/ansible-galaxy collection build --force --output-path "$out" . >/dev/null
tarball=$(ls "$out"/openclaw-memory-*.tar.gz)
echo "build-smoke: built $(basename "$tarball") ($(du -h "$tarball" | cut -f1))"
# Nothing of the dev tree may leak into the artifact.
if tar -tzf "$tarball" | grep -E '^(\.venv|\.collections|\.cache|tools|bench|molecule|\.issues)/' ; then
  echo "build-smoke: the tarball contains dev-only paths (above); fix build_ignore in galaxy.yml"; exit 1
fi
ANSIBLE_CONFIG="$out/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$out/collections" \
  .venv/bin/ansible-galaxy collection install --force --no-deps -p "$out/collections" "$tarball" >/dev/null
inst="$out/collections/ansible_collections/openclaw/memory"
test -f "$inst/MANIFEST.json"
export ANSIBLE_COLLECTIONS_PATH="$out/collections"
# Only the installed copy of openclaw.memory may be found: run from a dir without our ansible.cfg.
cd "$out"
export ANSIBLE_CONFIG="$out/ansible.cfg"
PYTHONPATH="$out/collections" "$OLDPWD/.venv/bin/python" - <<'PY'
import importlib, pkgutil, os
import ansible_collections.openclaw.memory.plugins.module_utils as mu
path = os.path.dirname(mu.__file__) if getattr(mu, "__file__", None) else list(mu.__path__)[0]
assert "/tmp/ocm-build" in path, path
names = [m.name for m in pkgutil.iter_modules(mu.__path__)]
for name in names:
    importlib.import_module("ansible_collections.openclaw.memory.plugins.module_utils." + name)
print("build-smoke: imported module_utils", ", ".join(sorted(names)))
PY
for f in "$inst"/plugins/modules/*.py; do
  [[ -e "$f" ]] || continue
  m=$(basename "$f" .py)
  "$OLDPWD/.venv/bin/ansible-doc" "openclaw.memory.$m" >/dev/null
done
if [[ -f "$inst/plugins/modules/openclaw_memory_facts.py" ]]; then
  mkdir -p "$out/home/.openclaw"
  printf '// memory-core host\n{plugins: {slots: {memory: "memory-core",},},}\n' >"$out/home/.openclaw/openclaw.json"
  "$OLDPWD/.venv/bin/ansible" localhost -o -m openclaw.memory.openclaw_memory_facts \
    -a "state_dir=$out/home/.openclaw" >"$out/run.log" 2>&1 || true
  grep -q '"plugin": "memory-core"' "$out/run.log" \
    || { echo "build-smoke: openclaw_memory_facts from the installed copy did not report plugin memory-core:"; cat "$out/run.log"; exit 1; }
fi
echo "build-smoke: installed tarball imports and documents cleanly"
