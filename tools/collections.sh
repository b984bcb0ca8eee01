#!/usr/bin/env bash
# Make this checkout importable as the collection openclaw.memory and add
# ansible.posix (taken from the PyPI wheel of `ansible`: no Galaxy here).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
coll=.collections/ansible_collections
mkdir -p "$coll/openclaw"
ln -sfn ../../.. "$coll/openclaw/memory"
if [[ ! -f "$coll/ansible/posix/MANIFEST.json" ]]; then
  spec=$(sed -n 's/^# ANSIBLE_BUNDLE: //p' requirements/control.txt)
  mkdir -p .cache/wheels
  whl=$(find .cache/wheels -maxdepth 1 -name "ansible-*.whl" | sort | head -n1)
  if [[ -z "$whl" ]]; then
    echo "collections: downloading $spec to take ansible.posix from it"
    .venv/bin/pip download --quiet --disable-pip-version-check --no-deps "$spec" -d .cache/wheels
    whl=$(find .cache/wheels -maxdepth 1 -name "ansible-*.whl" | sort | head -n1)
  fi
  tmp=$(mktemp -d)
  .venv/bin/python - "$whl" "$tmp" <<'PY'
import sys, zipfile
whl, out = sys.argv[1:]
with zipfile.ZipFile(whl) as z:
    z.extractall(out, [n for n in z.namelist() if n.startswith("ansible_collections/ansible/posix/")])
PY
  rm -rf "$coll/ansible/posix"
  mkdir -p "$coll/ansible"
  mv "$tmp/ansible_collections/ansible/posix" "$coll/ansible/posix"
  rm -rf "$tmp"
fi
test -f "$root/$coll/openclaw/memory/galaxy.yml"
