#!/usr/bin/env bash
# The OpenClaw memory test lab: hosts as network namespaces, each with its own
# sshd. Thin wrapper: the logic is in lab.py (standard library only), run by the
# system Python so it works before any venv exists. `lab.sh help` for usage.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=/usr/bin/python3
[[ -x $py ]] || py=$(command -v python3) || { echo "ocmlab: error: python3 is missing" >&2; exit 1; }
exec "$py" "$here/lab.py" "$@"
