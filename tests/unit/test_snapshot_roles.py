# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Roles openclaw.memory.backup and openclaw.memory.gateway through ansible-playbook on localhost.

The OpenClaw state is made by ocmlab.fixtures and the gateway is the lab's simulator
(ocmlab.gateway_sim, a real process writing one memory per commit), driven by the
gateway role's `command` manager. The same flows run on the lab in molecule/backup.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import lance
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_snapshot import PYTHON, REPO, assert_equal_at_pin  # noqa: E402 - shared helpers

fixtures = pytest.importorskip("ocmlab.fixtures")

ANSIBLE_PLAYBOOK = os.path.join(REPO, ".venv", "bin", "ansible-playbook")
SIM_ENV = {"PYTHONPATH": os.pathsep.join([os.path.join(REPO, "tools"), os.path.join(REPO, ".collections")])}
PLAY = """
- name: Back up this host's memory
  hosts: localhost
  gather_facts: false
  roles:
    - role: openclaw.memory.backup
  post_tasks:
    - name: Save the result for the test
      ansible.builtin.copy:
        content: "{{{{ openclaw_backup | to_json }}}}"
        dest: "{result}"
        mode: "0600"
      check_mode: false
      changed_when: false
"""

pytestmark = pytest.mark.skipif(not os.path.exists(ANSIBLE_PLAYBOOK), reason="no ansible-playbook in the venv")


class Lab:
    """A fixture-built OpenClaw home on this host plus a running gateway simulator."""

    def __init__(self, base):
        self.base = base
        self.home = base / "home"
        self.state = fixtures.build_state(str(self.home), plugin="memory-lancedb", n=40, dims=16, seed=11)
        self.db = self.state["db_path"]
        self.pidfile = str(base / "sim.pid")
        self.log = str(base / "sim.log")
        self.dest = base / "snaps"
        self.sim_prog = "%s -m ocmlab.gateway_sim" % PYTHON
        self.play = base / "play.yml"
        self.result = base / "result.json"
        self.play.write_text(PLAY.format(result=self.result))

    def sim_cmd(self, action):
        if action == "start":
            return "%s start --db %s --dims 16 --rate 20 --pidfile %s --log %s" % (self.sim_prog, self.db, self.pidfile,
                                                                                   self.log)
        return "%s %s --pidfile %s" % (self.sim_prog, action, self.pidfile)

    def sim(self, action):
        return subprocess.run(self.sim_cmd(action).split(), env=dict(os.environ, **SIM_ENV), capture_output=True,
                              text=True, timeout=120, check=False)

    def pid(self):
        with open(self.pidfile) as f:
            return int(f.read().split()[0])

    def running(self):
        return self.sim("status").returncode == 0

    def run(self, check=False, **extra):
        evars = {
            "openclaw_backup_home": str(self.home),
            "openclaw_backup_dest": str(self.dest),
            "openclaw_memory_python": PYTHON,
            "openclaw_gateway_manager": "command",
            "openclaw_gateway_start_command": self.sim_cmd("start"),
            "openclaw_gateway_stop_command": self.sim_cmd("stop"),
            "openclaw_gateway_status_command": self.sim_cmd("status"),
            "openclaw_gateway_environment": SIM_ENV,
            "openclaw_gateway_timeout": 30,
        }
        evars.update(extra)
        varfile = self.base / "vars.json"
        varfile.write_text(json.dumps(evars))
        if self.result.exists():
            self.result.unlink()
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCALHOST_WARNING="false")
        cmd = [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + PYTHON,
               "-e", "@" + str(varfile), str(self.play)] + (["--check"] if check else [])
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO, timeout=600, check=False)
        result = json.loads(self.result.read_text()) if self.result.exists() else None
        return out, result


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("backup-role"))
    yield lab
    lab.sim("stop")


def test_hot_backup_while_the_simulator_writes(lab):
    assert lab.sim("start").returncode == 0
    pid = lab.pid()
    out, res = lab.run()
    assert out.returncode == 0, out.stdout[-4000:]
    assert res["consistency"] == "hot" and res["gateway_downtime_s"] == 0 and res["changed"]
    assert lab.running() and lab.pid() == pid, "a hot backup must not touch the gateway"
    # consistent although the simulator kept committing: equal to the source at the pinned version
    assert_equal_at_pin(res["snapshot"], lab.db, res["tables"])
    assert lance.dataset(os.path.join(lab.db, "memories.lance")).version >= res["tables"]["memories"]["version"]
    with open(res["metadata"]) as f:
        meta = json.load(f)
    assert meta["embedding"] == {"provider": "openai", "model": "text-embedding-3-small", "dimensions": 16}
    assert meta["workspace"]["files"] > 0 and res["workspace"].endswith("workspace")
    assert "snapshot %s" % res["snapshot"] in out.stdout and "gateway down 0 s" in out.stdout


def test_cold_backup_stops_and_restarts_the_gateway(lab):
    if not lab.running():
        assert lab.sim("start").returncode == 0
    pid = lab.pid()
    out, res = lab.run(openclaw_backup_consistency="cold")
    assert out.returncode == 0, out.stdout[-4000:]
    assert res["consistency"] == "cold" and res["gateway_downtime_s"] > 0
    assert lab.running() and lab.pid() != pid, "the gateway was not restarted"
    with open(lab.log) as f:
        assert "got SIGTERM" in f.read()
    assert_equal_at_pin(res["snapshot"], lab.db, res["tables"])


def test_failed_cold_snapshot_still_restarts_the_gateway(lab):
    if not lab.running():
        assert lab.sim("start").returncode == 0
    pid = lab.pid()
    not_a_dir = lab.base / "dest-is-a-file"
    not_a_dir.write_text("")
    out, res = lab.run(openclaw_backup_consistency="cold", openclaw_backup_dest=str(not_a_dir))
    assert out.returncode != 0 and res is None
    assert "dest '%s' is a file; dest must be a directory that holds snapshots" % not_a_dir in out.stdout
    assert "Start the gateway again, also when the snapshot failed" in out.stdout
    assert lab.running() and lab.pid() != pid, "the gateway must run again after a failed cold backup"


def test_idempotent_and_check_mode_with_the_gateway_stopped(lab):
    lab.sim("stop")
    assert not lab.running()
    out, first = lab.run()
    assert out.returncode == 0, out.stdout[-4000:]
    before = sorted(os.listdir(lab.dest))
    out, planned = lab.run(check=True, openclaw_backup_force=True)
    assert out.returncode == 0 and planned["changed"] and sorted(os.listdir(lab.dest)) == before
    out, again = lab.run()
    assert out.returncode == 0
    assert again["reused"] and not again["changed"] and again["snapshot"] == first["snapshot"]
    assert "changed=0" in out.stdout.split("PLAY RECAP")[1].split("\n")[1]
    # a cold backup of a stopped gateway leaves it stopped
    out, res = lab.run(openclaw_backup_consistency="cold")
    assert out.returncode == 0 and not lab.running() and res["gateway_downtime_s"] == 0


def test_missing_database_fails_before_touching_the_gateway(lab):
    assert lab.sim("start").returncode == 0
    pid = lab.pid()
    out, res = lab.run(openclaw_backup_consistency="cold", openclaw_backup_src=str(lab.base / "nope"))
    assert out.returncode != 0 and res is None
    assert "nope" in out.stdout and "does not exist" in out.stdout
    assert lab.running() and lab.pid() == pid


def test_unclear_gateway_status_fails_without_stopping_anything(lab):
    """A status command that cannot answer (exit 1, 126, 127...) is never taken for "stopped"."""
    if not lab.running():
        assert lab.sim("start").returncode == 0
    pid = lab.pid()
    out, res = lab.run(openclaw_backup_consistency="cold", openclaw_gateway_status_command="false")
    assert out.returncode != 0 and res is None
    assert "the gateway status command `false` gave no clear answer (exit 1" in " ".join(out.stdout.split())
    assert lab.running() and lab.pid() == pid
