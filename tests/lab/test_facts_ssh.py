"""openclaw_memory_facts over SSH on a lab host (tools/ocmlab/lab.sh), as the gateway user `node`.

Two installs are generated on host `old` (uid 1000, files owned by node): memory-lancedb under
/home/node (the defaults) and memory-core under /home/node/core (home=). The host's system python
has no pylance: without the deps role the module must fail with missing_required_lib for the
LanceDB install and still work for memory-core; with the deps role (roles/deps) the baseline
taken over SSH must equal what the generator wrote. Slow (brings the lab up): not in tests/unit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from ocmlab.fixtures import build_state, fake_secret

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB = os.path.join(REPO, "tools", "ocmlab", "lab.sh")
DEPS_ROLE = os.path.join(REPO, "roles", "deps", "tasks", "main.yml")
NODE_UID = 1000

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("sshd", path="/usr/sbin:/usr/bin"),
    reason="the lab needs root, iproute2 and openssh-server (tools/prereqs.sh)",
)

PLAYBOOK = """
- name: Baseline of the OpenClaw memory on a lab host, over SSH
  hosts: old
  gather_facts: false
  tasks:
    - name: Install the collection's libraries on the host
      ansible.builtin.include_role:
        name: openclaw.memory.deps
      when: use_deps | bool

    - name: Take the baseline of node's memory-lancedb install
      openclaw.memory.openclaw_memory_facts:
        user: node
        probe_query: "{{ probe_code }}"
      vars:
        ansible_python_interpreter: "{{ openclaw_memory_python | default('/usr/bin/python3') }}"
      register: lancedb_facts
      ignore_errors: "{{ not (use_deps | bool) }}"

    - name: Take the baseline of node's memory-core install (no database)
      openclaw.memory.openclaw_memory_facts:
        user: node
        home: /home/node/core
      vars:
        ansible_python_interpreter: "{{ openclaw_memory_python | default('/usr/bin/python3') }}"
      register: core_facts
"""


@pytest.fixture(scope="module")
def lab():
    subprocess.run([LAB, "up", "old"], check=True, timeout=3600)  # waits while another run holds the lab
    try:
        yield
    finally:
        subprocess.run([LAB, "down"], check=False, timeout=600)


def _fs(path):
    return os.path.join(os.environ.get("OCMLAB_ROOT", "/var/tmp/ocmlab"), "hosts", "old", "fs", path.lstrip("/"))


def _run_playbook(tmp_path, extra):
    play = tmp_path / "facts.yml"
    play.write_text(PLAYBOOK)
    inventory = os.path.join(os.environ.get("OCMLAB_ROOT", "/var/tmp/ocmlab"), "inventory.yml")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_NOCOLOR="1")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", inventory, str(play),
                           "-e", json.dumps(extra)], cwd=REPO, capture_output=True, text=True, timeout=3600,
                          env=env, check=False)
    start = 0 if proc.stdout.startswith("{") else proc.stdout.index("\n{") + 1
    out = json.JSONDecoder().raw_decode(proc.stdout[start:])[0]
    results = {t["task"]["name"]: t["hosts"].get("old", {}) for t in out["plays"][0]["tasks"]}
    return proc, results


def test_facts_over_ssh_on_a_lab_host(lab, tmp_path):
    home = _fs("/home/node")
    for d in (os.path.join(home, ".openclaw"), os.path.join(home, "core")):
        shutil.rmtree(d, ignore_errors=True)
    lancedb = build_state(home, n=30, dims=16, seed=11, uid=NODE_UID, gid=NODE_UID)
    core = build_state(os.path.join(home, "core"), plugin="memory-core", n=12, dims=16, seed=12,
                       uid=NODE_UID, gid=NODE_UID)
    os.chown(os.path.join(home, "core"), NODE_UID, NODE_UID)
    use_deps = os.path.exists(DEPS_ROLE)
    planted = lancedb["probes"][0]
    proc, res = _run_playbook(tmp_path, {"use_deps": use_deps, "probe_code": planted["code"]})

    core_res = res["Take the baseline of node's memory-core install (no database)"]
    assert "failed" not in core_res, core_res.get("msg")
    cf = core_res["ansible_facts"]["openclaw_memory"]
    assert (cf["user"], cf["uid"], cf["home"], cf["plugin"], cf["db_path"]) == (
        "node", NODE_UID, "/home/node/core", "memory-core", None)
    assert cf["workspace"]["path"] == "/home/node/core/.openclaw/workspace"
    assert cf["workspace"]["exists"] and cf["workspace"]["daily_notes"] > 0 and cf["warnings"] == []
    assert cf["workspace"]["memory_md"]["bytes"] == os.path.getsize(
        os.path.join(core["state_dir"], "workspace", "MEMORY.md"))

    lres = res["Take the baseline of node's memory-lancedb install"]
    if not use_deps:
        assert lres["failed"] is True
        assert lres["msg"].startswith("Failed to import the required Python library (pylance) on ")
        return
    assert proc.returncode == 0, proc.stdout[-3000:]
    f = lres["ansible_facts"]["openclaw_memory"]
    assert (f["state_dir"], f["db_path"]) == ("/home/node/.openclaw", "/home/node/.openclaw/memory/lancedb")
    assert (f["total"], f["by_category"], f["by_agent"]) == (30, lancedb["by_category"], lancedb["by_agent"])
    assert [m["id"] for m in f["query_matches"]] == [planted["id"]]
    assert f["db_owner"]["uid"] == NODE_UID and f["warnings"] == []
    assert f["plugin_version"] == lancedb["plugin_version"]
    assert fake_secret(11) not in json.dumps(lres)
