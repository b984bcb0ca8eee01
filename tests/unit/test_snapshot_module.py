# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""openclaw.memory.lance_snapshot through Ansible itself: check mode, real run, idempotence, a failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from repo_env import ANSIBLE_DOC, ANSIBLE_PLAYBOOK, JSON_OUTPUT, PYTHON, REPO, ansible_env  # noqa: E402 - shared helpers
from test_snapshot import add_memory, make_db, tree_state  # noqa: E402 - shared helpers

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Plan the snapshot in check mode
      openclaw.memory.lance_snapshot: {args}
      check_mode: true
      register: planned
    - name: Take the snapshot
      openclaw.memory.lance_snapshot: {args}
      register: first
    - name: Take it again (nothing changed)
      openclaw.memory.lance_snapshot: {args}
      register: again
    - name: Snapshot a database that does not exist
      openclaw.memory.lance_snapshot:
        src: "{missing}"
        dest: "{dest}"
      register: bad
      ignore_errors: true
"""


def _env():
    return ansible_env(**JSON_OUTPUT, ANSIBLE_PYTHON_INTERPRETER=PYTHON)


def _results(stdout):
    data, _end = json.JSONDecoder().raw_decode(stdout[stdout.index("{"):])  # profile_tasks may print after it
    out = {}
    for task in data["plays"][0]["tasks"]:
        out[task["task"]["name"]] = task["hosts"]["localhost"]
    return out


def test_module_check_mode_run_idempotence_and_failure(tmp_path):
    assert os.path.exists(ANSIBLE_PLAYBOOK), "no ansible-playbook in the venv; run make venv"
    src = tmp_path / "lancedb"
    make_db(src, n=40, indexes=False)
    add_memory(src, 500)
    before = tree_state(src)
    dest = tmp_path / "snaps"
    args = json.dumps({"src": str(src), "dest": str(dest), "retain": 3, "verify_links": True,
                       # what openclaw_memory_facts returns as `embedding`: the identity, never the key
                       "embedding": {"provider": "openai", "model": "m", "dimensions": 16, "base_url": None,
                                     "api_key_set": True}})
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(args=args, missing=tmp_path / "missing", dest=dest))
    out = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(play)], capture_output=True,
                         text=True, env=_env(), cwd=REPO, timeout=300, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    res = _results(out.stdout)

    planned = res["Plan the snapshot in check mode"]
    assert planned["changed"] is True and planned["bytes_copied"] > 0 and planned["plan"]["copy"]
    first = res["Take the snapshot"]
    assert first["changed"] is True and first["reused"] is False
    assert first["bytes_copied"] == planned["bytes_copied"] and first["files"] == planned["files"]
    for key in ("snapshot", "name", "changed", "reused", "tables", "files", "bytes_total", "bytes_copied",
                "bytes_linked", "duration_s", "removed", "checksums", "metadata", "fragment_counts"):
        assert key in first, key
    assert first["fragment_counts"] == {"fragments": 5, "reused": 0, "counted": 5}
    assert first["tables"]["memories"]["rows"] == 40 + 3 - 2 + 1
    again = res["Take it again (nothing changed)"]
    assert again["changed"] is False and again["reused"] is True and again["snapshot"] == first["snapshot"]
    bad = res["Snapshot a database that does not exist"]
    assert bad["failed"] is True
    assert bad["msg"].startswith("Database directory '%s' does not exist" % (tmp_path / "missing"))
    with open(first["metadata"]) as f:
        assert json.load(f)["embedding"] == {"provider": "openai", "model": "m", "dimensions": 16}
    assert os.listdir(dest) != [] and tree_state(src) == before


def test_ansible_doc_renders():
    assert os.path.exists(ANSIBLE_DOC), "no ansible-doc in the venv; run make venv"
    out = subprocess.run([ANSIBLE_DOC, "openclaw.memory.lance_snapshot"], capture_output=True, text=True, env=_env(),
                         cwd=REPO, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "OPTIONS" in out.stdout and "RETURN VALUES" in out.stdout and "bytes_linked" in out.stdout
