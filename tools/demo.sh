#!/usr/bin/env bash
# make demo: a two-host lab where `old` runs an OpenClaw gateway (the lab's
# simulator, writing memories the plugin's way) and `new` is its replacement;
# then the operator's job: baseline, hot backup, and the full migration with
# its decommission gate and report.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
inv=tools/demo/inventory
out=$repo/demo-output
export ANSIBLE_CONFIG=$repo/ansible.cfg ANSIBLE_COLLECTIONS_PATH=$repo/.collections
export MOLECULE_PROJECT_DIRECTORY=$repo ANSIBLE_STDOUT_CALLBACK=default
export OCMLAB_OWNER_PID=$$
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() { tools/ocmlab/lab.sh down >/dev/null 2>&1 || tools/ocmlab/lab.sh down --force; }
trap cleanup EXIT
start=$(date +%s)
rm -rf "$out"; mkdir -p "$out"

say "Building the lab: hosts old and new, each with its own sshd and filesystem"
tools/ocmlab/lab.sh up old new

say "Installing the collection's Python needs on both hosts (air-gapped: wheelhouse from the control node)"
.venv/bin/ansible-playbook -i "$inv" tools/demo/prepare.yml

say "Baseline of old's memory (openclaw_memory_facts), gateway running"
ANSIBLE_LOAD_CALLBACK_PLUGINS=1 ANSIBLE_STDOUT_CALLBACK=ansible.posix.json \
  .venv/bin/ansible -i "$inv" old -m openclaw.memory.openclaw_memory_facts -a "user=node probes=3" \
  -e ansible_python_interpreter=/opt/openclaw-memory/venv/bin/python >"$out/baseline.json"
.venv/bin/python - "$out/baseline.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read()  # profile_tasks prints timing lines around the JSON
f = json.JSONDecoder().raw_decode(text[text.index("{"):])[0]["plays"][0]["tasks"][0]["hosts"]["old"]["ansible_facts"]["openclaw_memory"]
print(f"plugin {f['plugin']} {f.get('plugin_version')}  embedding {f['embedding']['provider']}/{f['embedding']['model']} "
      f"({f['embedding']['dimensions']} dims)")
print(f"db {f['db_path']}: {f['total']} memories {f['by_category']}")
print(f"on disk {f['size_bytes']/1e6:.1f} MB in {f['file_count']} files; latest version references "
      f"{f['referenced_bytes']/1e6:.1f} MB")
for p in f["probes"]:
    print(f"probe {p['id']}: {p['text'][:70]!r}")
PY

say "Hot backup on old (playbooks/backup.yml): no gateway stop, version-pinned, checksummed"
.venv/bin/ansible-playbook -i "$inv" playbooks/backup.yml -e openclaw_backup_hosts=openclaw_old

say "Migration old -> new (playbooks/migrate.yml): pre-sync, cutover, restore, verify, gate"
.venv/bin/ansible-playbook -i "$inv" playbooks/migrate.yml -e openclaw_migrate_report_dir="$out"

say "Migration report"
report=$(find "$out" -maxdepth 1 -name "*.md" 2>/dev/null | sort | head -n1 || true)
[[ -n "$report" ]] && cat "$report"
say "Done in $(( $(date +%s) - start )) s; report and baseline in demo-output/"
