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
import sys

import lance
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from repo_env import ANSIBLE_PLAYBOOK  # noqa: E402 - shared helpers
from simgw import Sim, run_play  # noqa: E402 - shared helpers
from test_snapshot import assert_equal_at_pin  # noqa: E402

fixtures = pytest.importorskip("ocmlab.fixtures")

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
        self.sim = Sim(self.db, base)
        self.dest = base / "snaps"
        self.play = base / "play.yml"
        self.result = base / "result.json"
        self.play.write_text(PLAY.format(result=self.result))

    def run(self, check=False, **extra):
        evars = dict({"openclaw_backup_home": str(self.home), "openclaw_backup_dest": str(self.dest)},
                     **self.sim.role_vars())
        return run_play(self.play, self.base, dict(evars, **extra), self.result, check=check)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("backup-role"))
    yield lab
    lab.sim("stop")


def test_hot_backup_while_the_simulator_writes(lab):
    assert lab.sim("start").returncode == 0
    pid = lab.sim.pid()
    out, res = lab.run()
    assert out.returncode == 0, out.stdout[-4000:]
    assert res["consistency"] == "hot" and res["gateway_downtime_s"] == 0 and res["changed"]
    assert lab.sim.running() and lab.sim.pid() == pid, "a hot backup must not touch the gateway"
    # consistent although the simulator kept committing: equal to the source at the pinned version
    assert_equal_at_pin(res["snapshot"], lab.db, res["tables"])
    assert lance.dataset(os.path.join(lab.db, "memories.lance")).version >= res["tables"]["memories"]["version"]
    with open(res["metadata"]) as f:
        meta = json.load(f)
    assert meta["embedding"] == {"provider": "openai", "model": "text-embedding-3-small", "dimensions": 16}
    assert meta["workspace"]["files"] > 0 and res["workspace"].endswith("workspace")
    assert "snapshot %s" % res["snapshot"] in out.stdout and "gateway down 0 s" in out.stdout


def test_cold_backup_stops_and_restarts_the_gateway(lab):
    if not lab.sim.running():
        assert lab.sim("start").returncode == 0
    pid = lab.sim.pid()
    out, res = lab.run(openclaw_backup_consistency="cold")
    assert out.returncode == 0, out.stdout[-4000:]
    assert res["consistency"] == "cold" and res["gateway_downtime_s"] > 0
    assert lab.sim.running() and lab.sim.pid() != pid, "the gateway was not restarted"
    with open(lab.sim.log) as f:
        assert "got SIGTERM" in f.read()
    assert_equal_at_pin(res["snapshot"], lab.db, res["tables"])


def test_bad_cold_snapshot_input_fails_before_the_gateway_stops(lab):
    if not lab.sim.running():
        assert lab.sim("start").returncode == 0
    pid = lab.sim.pid()
    not_a_dir = lab.base / "dest-is-a-file"
    not_a_dir.write_text("")
    out, res = lab.run(openclaw_backup_consistency="cold", openclaw_backup_dest=str(not_a_dir))
    assert out.returncode != 0 and res is None
    assert "dest '%s' is a file; dest must be a directory that holds snapshots" % not_a_dir in out.stdout
    assert "Stop the gateway before the snapshot" not in out.stdout
    assert lab.sim.running() and lab.sim.pid() == pid, "a bad input must fail before the gateway is stopped"


def test_failed_cold_snapshot_still_restarts_the_gateway(lab):
    if not lab.sim.running():
        assert lab.sim("start").returncode == 0
    pid = lab.sim.pid()
    # A failure only the real run meets: the stop command itself turns dest into a file after the check.
    dest = lab.base / "dest-broken-at-stop"
    stop = "sh -c '%s && rm -rf %s && touch %s'" % (lab.sim.cmd("stop"), dest, dest)
    try:
        out, res = lab.run(openclaw_backup_consistency="cold", openclaw_backup_dest=str(dest),
                           openclaw_gateway_stop_command=stop)
        assert out.returncode != 0 and res is None
        assert "dest '%s' is a file; dest must be a directory that holds snapshots" % dest in out.stdout
        assert "Start the gateway again, also when the snapshot failed" in out.stdout
        assert lab.sim.running() and lab.sim.pid() != pid, "the gateway must run again after a failed cold backup"
    finally:
        dest.unlink(missing_ok=True)


def test_idempotent_and_check_mode_with_the_gateway_stopped(lab):
    lab.sim("stop")
    assert not lab.sim.running()
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
    assert out.returncode == 0 and not lab.sim.running() and res["gateway_downtime_s"] == 0


def test_missing_database_fails_before_touching_the_gateway(lab):
    assert lab.sim("start").returncode == 0
    pid = lab.sim.pid()
    out, res = lab.run(openclaw_backup_consistency="cold", openclaw_backup_src=str(lab.base / "nope"))
    assert out.returncode != 0 and res is None
    assert "nope" in out.stdout and "does not exist" in out.stdout
    assert lab.sim.running() and lab.sim.pid() == pid


def test_unclear_gateway_status_fails_without_stopping_anything(lab):
    """A status command that cannot answer (exit 1, 126, 127...) is never taken for "stopped"."""
    if not lab.sim.running():
        assert lab.sim("start").returncode == 0
    pid = lab.sim.pid()
    out, res = lab.run(openclaw_backup_consistency="cold", openclaw_gateway_status_command="false")
    assert out.returncode != 0 and res is None
    assert "the gateway status command `false` gave no clear answer (exit 1" in " ".join(out.stdout.split())
    assert lab.sim.running() and lab.sim.pid() == pid
