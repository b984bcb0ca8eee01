# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role openclaw.memory.restore (main and switch entry points) through ansible-playbook on localhost.

The database it replaces belongs to a fixture-built OpenClaw home with the lab's gateway simulator writing into it
(the gateway role's `command` manager); the snapshot comes from another home. migrate.yml runs the `switch` and
`rollback` entry points on the lab in molecule/migrate.
"""

from __future__ import annotations

import os
import sys

import lance
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ansible_collections.openclaw.memory.plugins.module_utils import restore as R  # noqa: E402
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError  # noqa: E402
from ansible_collections.openclaw.memory.plugins.module_utils.snapshot import take_snapshot  # noqa: E402
from ocmlab import fixtures  # noqa: E402
from simgw import Sim, run_play  # noqa: E402 - shared helpers

PLAY = """
- name: Restore a snapshot
  hosts: localhost
  gather_facts: false
  tasks:
    - name: The role
      ansible.builtin.include_role:
        name: openclaw.memory.restore
        tasks_from: "{{{{ entry | default('main') }}}}"
  post_tasks:
    - name: Save the result for the test
      ansible.builtin.copy:
        content: "{{{{ openclaw_restore_result | to_json }}}}"
        dest: "{result}"
        mode: "0600"
"""


class Host:
    """The 'new host': its own small database with the simulator writing into it; a snapshot of another home."""

    def __init__(self, base):
        self.base = base
        state = fixtures.build_state(str(base / "new"), plugin="memory-lancedb", n=12, dims=16, seed=3)
        self.db = state["db_path"]
        self.state_dir = state["state_dir"]
        old = fixtures.build_state(str(base / "old"), plugin="memory-lancedb", n=40, dims=16, seed=4)
        self.snapshot = take_snapshot(old["db_path"], str(base / "snaps"), name="from-old")["snapshot"]
        self.snapshot_rows = lance.dataset(os.path.join(self.snapshot, "memories.lance")).count_rows()
        self.sim = Sim(self.db, base)
        self.play = base / "play.yml"
        self.result = base / "result.json"
        self.play.write_text(PLAY.format(result=self.result))

    def rows(self):
        return lance.dataset(os.path.join(self.db, "memories.lance")).count_rows()

    def run(self, **extra):
        evars = dict({
            "openclaw_restore_snapshot": self.snapshot,
            "openclaw_restore_user": "root",
            "openclaw_restore_state_dir": self.state_dir,
            # Its config's dbPath starts with ~, the gateway user's home: as root that would be /root, not here.
            "openclaw_restore_db_path": self.db,
            "openclaw_restore_workspace": "none",
        }, **self.sim.role_vars())
        return run_play(self.play, self.base, dict(evars, **extra), self.result)


@pytest.fixture
def host(tmp_path):
    h = Host(tmp_path)
    assert h.sim("start").returncode == 0
    yield h
    h.sim("stop")


def ids(db):
    return set(lance.dataset(os.path.join(db, "memories.lance")).to_table(columns=["id"]).column("id").to_pylist())


def asides(db):
    parent, name = os.path.split(db)
    return sorted(n for n in os.listdir(parent) if n.startswith(name + ".pre-restore-"))


def test_main_stops_switches_starts_and_reads_the_facts(host):
    out, res = host.run()
    assert out.returncode == 0, out.stdout[-4000:]
    assert res["changed"] is True and res["gateway_was_running"] is True
    assert res["total"] == host.snapshot_rows and res["verify"]["ok"] is True
    assert res["facts_after"]["total"] >= host.snapshot_rows  # the restarted gateway writes on the restored copy
    assert res["aside"] and asides(host.db) == [os.path.basename(res["aside"])], res
    assert host.sim.running()
    # The restored database is the snapshot's, carried on by the gateway.
    assert ids(host.snapshot) <= ids(host.db)
    assert "Start the gateway on the restored database" in out.stdout


def test_a_gateway_that_does_not_start_puts_the_original_back(host):
    before = host.rows()
    once = host.base / "start-fails-once.sh"
    marker = host.base / "failed-once"
    once.write_text("#!/bin/sh\nif [ ! -e %s ]; then touch %s; echo simulated start failure >&2; exit 1; fi\n"
                    "exec %s\n" % (marker, marker, host.sim.cmd("start")))
    once.chmod(0o755)
    out, res = host.run(openclaw_gateway_start_command=str(once))
    assert out.returncode != 0
    text = " ".join(out.stdout.split())
    assert "The original database was put back" in text, text[-3000:]
    assert "simulated start failure" in text
    # The original is in place again (the simulator, started again by the rollback, only adds to it): none of
    # the snapshot's memories are in it.
    assert host.rows() >= before and host.sim.running()
    assert ids(host.db) and not ids(host.db) & ids(host.snapshot)


def test_switch_alone_leaves_the_gateway_and_facts_to_the_caller(host):
    host.sim("stop")
    out, res = host.run(entry="switch", openclaw_restore_db_path=host.db)
    assert out.returncode == 0, out.stdout[-4000:]
    assert res["changed"] is True and res["facts_after"] is None and res["gateway_was_running"] is False
    assert res["total"] == host.snapshot_rows == host.rows()
    assert not host.sim.running()
    assert "Start the gateway" not in out.stdout and "Read the facts" not in out.stdout
    # auto needs the facts only main reads: a clear error naming the variable, nothing touched.
    out, res = host.run(entry="switch", openclaw_restore_db_path=host.db, openclaw_restore_workspace="auto",
                        openclaw_restore_force=True)
    assert out.returncode != 0 and res is None
    assert "openclaw_restore_workspace is 'auto'" in " ".join(out.stdout.split())
    assert host.rows() == host.snapshot_rows


# --------------------------------------------------------------------------- memory_restore start_gateway (in-process)

def test_start_gateway_serves_the_restored_database(host):
    host.sim("stop")
    res = R.restore_snapshot(host.snapshot, host.db, start_gateway=host.sim.options(), checks=("checksums",))
    assert res["state"] == "restored" and res["gateway"]["changed"] and res["gateway"]["running"] is True
    assert host.sim.running()
    assert ids(host.snapshot) <= ids(host.db)  # the gateway writes on the restored copy
    # Again: the snapshot is in place and moved on; nothing restored, the running gateway left alone.
    again = R.restore_snapshot(host.snapshot, host.db, start_gateway=host.sim.options(), checks=("checksums",))
    assert again["state"] == "moved_on" and again["gateway"]["changed"] is False and host.sim.running()


def test_a_gateway_that_does_not_come_up_undoes_the_switch(host):
    host.sim("stop")
    original = ids(host.db)
    with pytest.raises(MemoryToolError) as e:
        R.restore_snapshot(host.snapshot, host.db, checks=("checksums",),
                           start_gateway=host.sim.options(start_command="false"))
    msg = e.value.msg
    assert "the gateway start command `false` failed (exit 1)" in msg
    assert "The restore was undone: the gateway is stopped again, the original database is back in place" in msg
    assert e.value.details["rolled_back"] is True
    assert ids(host.db) == original and not host.sim.running()
    failed = [n for n in os.listdir(os.path.dirname(host.db)) if ".failed-restore-" in n]
    assert len(failed) == 1 and failed[0] in msg


def test_bad_gateway_options_fail_before_anything_is_staged(host):
    host.sim("stop")
    original = ids(host.db)
    with pytest.raises(MemoryToolError) as e:
        R.restore_snapshot(host.snapshot, host.db, start_gateway=host.sim.options(manager="upstart"))
    assert "manager 'upstart' is not one of" in e.value.msg
    assert ids(host.db) == original and not os.path.exists(R.journal_path(host.db))


def test_a_gateway_that_does_not_come_up_on_a_snapshot_already_in_place_is_not_rolled_back(host):
    host.sim("stop")
    R.restore_snapshot(host.snapshot, host.db, checks=("checksums",))
    in_place = ids(host.db)
    with pytest.raises(MemoryToolError) as e:
        R.restore_snapshot(host.snapshot, host.db, checks=("checksums",),
                           start_gateway=host.sim.options(start_command="false"))
    assert "the gateway start command `false` failed (exit 1)" in e.value.msg
    assert "The database in place was not changed by this restore (it already held the snapshot)" in e.value.msg
    assert e.value.details["rolled_back"] is False
    assert ids(host.db) == in_place == ids(host.snapshot) and not host.sim.running()


def test_a_running_gateway_is_refused_before_anything_is_staged(host):
    """memory_restore with start_gateway does not switch the database under a gateway that runs (its writes
    after the rename would land in the set-aside copy): it fails, in check mode too, and changes nothing."""
    assert host.sim.running()
    names = sorted(os.listdir(os.path.dirname(host.db)))
    for check_mode in (True, False):
        with pytest.raises(MemoryToolError) as e:
            R.restore_snapshot(host.snapshot, host.db, checks=("checksums",), start_gateway=host.sim.options(),
                               check_mode=check_mode)
        assert "the gateway (command) is running" in e.value.msg
        assert "Stop it first (module openclaw.memory.openclaw_gateway with state=stopped" in e.value.msg
        assert host.db in e.value.msg and e.value.details["rolled_back"] is False
    assert sorted(os.listdir(os.path.dirname(host.db))) == names and not os.path.exists(R.journal_path(host.db))
    assert host.sim.running() and not ids(host.snapshot) <= ids(host.db)
