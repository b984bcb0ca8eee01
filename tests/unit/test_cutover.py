# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cutover.cutover(): the old host's side of a migration's cutover, with a real gateway (the lab's simulator,
writing one memory per commit) and real rsync. Over ssh between lab hosts it runs in molecule/migrate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import lance
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ansible_collections.openclaw.memory.plugins.module_utils import cutover as C  # noqa: E402
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError  # noqa: E402
from ansible_collections.openclaw.memory.plugins.module_utils.snapshot import take_snapshot  # noqa: E402
from ocmlab import fixtures  # noqa: E402
from repo_env import ANSIBLE, ANSIBLE_DOC, ANSIBLE_PLAYBOOK, JSON_OUTPUT, PYTHON, REPO, ansible_env  # noqa: E402 - shared helpers
from simgw import SIM_ENV, Sim  # noqa: E402 - shared helpers


class Old:
    """A fixture-built OpenClaw home with the simulator running on it, a pre-sync snapshot, and a 'new host'
    directory that already holds that snapshot (as the pre-sync transfer leaves it)."""

    def __init__(self, base):
        self.base = base
        state = fixtures.build_state(str(base / "home"), plugin="memory-lancedb", n=30, dims=16, seed=5)
        self.db = state["db_path"]
        self.sim = Sim(self.db, base)
        self.snaps = str(base / "snaps")
        self.incoming = base / "incoming"
        self.incoming.mkdir(mode=0o700)
        self.presync = take_snapshot(self.db, self.snaps, name="presync")["snapshot"]
        self.new_presync = str(self.incoming / "presync")
        subprocess.run(["rsync", "-a", self.presync + "/", self.new_presync + "/"], check=True)
        assert self.sim("start").returncode == 0

    def snapshot(self, name, **extra):
        return dict(dict(src=self.db, dest=self.snaps, name=name, link_dest=self.presync), **extra)

    def push(self, name, **extra):
        return dict(dict(dest=str(self.incoming / (".%s.partial-transfer" % name)), link_dest=self.new_presync),
                    **extra)

    def versions(self):
        return {t: lance.dataset(os.path.join(self.db, t)).version for t in os.listdir(self.db) if t.endswith(".lance")}


@pytest.fixture
def old(tmp_path):
    o = Old(tmp_path)
    yield o
    o.sim("stop")


def sums(path):
    with open(os.path.join(path, "SHA256SUMS"), encoding="utf-8") as f:
        return dict(reversed(line.rstrip("\n").split("  ", 1)) for line in f if line.strip())


def test_stops_snapshots_and_pushes_only_the_delta(old):
    res = C.cutover(old.sim.options(), old.snapshot("final"), push_to=old.push("final"))
    assert res["gateway"]["was_running"] is True and res["gateway"]["running"] is False
    assert not old.sim.running()
    snap = res["snapshot"]["snapshot"]
    # What arrived is the final snapshot byte for byte: every file its SHA256SUMS lists, same content.
    arrived = res["push"]["dest"]
    assert res["push"]["target"] == arrived + "/"
    assert arrived == str(old.incoming / ".final.partial-transfer")
    assert sums(arrived) == sums(snap)
    for rel, digest in sums(snap).items():
        assert subprocess.run(["sha256sum", os.path.join(arrived, rel)], capture_output=True, text=True,
                              check=True).stdout.split()[0] == digest
    # The simulator wrote while the pre-sync snapshot was the newest: the final one holds more, and only the new
    # files travelled; the rest are hard links into the new host's pre-sync copy.
    assert res["snapshot"]["tables"]["memories"]["rows"] > 30
    pre = sums(old.new_presync)
    shared = [rel for rel in sums(snap) if rel in pre and rel.startswith("memories.lance/data/")]
    assert shared
    for rel in shared:
        assert os.stat(os.path.join(arrived, rel)).st_ino == os.stat(os.path.join(old.new_presync, rel)).st_ino
    assert 0 < res["push"]["files_transferred"] < len(sums(snap))
    assert oct(os.stat(arrived).st_mode & 0o777) == "0o700"
    # The downtime bookkeeping: the stop came after this process's start, and the window covers the work.
    assert res["stop_offset_s"] > 0 and res["window_s"] >= res["gateway"]["stop_s"]


def test_a_failed_push_starts_the_gateway_again_and_leaves_the_database_alone(old):
    before = old.versions()
    bad = old.push("final", dest=str(old.base / "no-such-dir" / "sub" / "x"))
    with pytest.raises(MemoryToolError) as e:
        C.cutover(old.sim.options(), old.snapshot("final"), push_to=bad)
    msg = e.value.msg
    assert "push of '%s/final'" % old.snaps in msg and "rsync exit" in msg
    assert str(old.base / "no-such-dir" / "sub") in msg
    assert "the gateway was started again and the database was never written to" in msg
    assert e.value.details["restarted"] is True
    assert old.sim.running()
    # The simulator goes on writing: the database only ever moved forward from the versions before.
    after = old.versions()
    assert all(after[t] >= v for t, v in before.items())


def test_a_failed_snapshot_starts_the_gateway_again(old):
    # dest inside src: refused by the snapshot, after the stop.
    snap = old.snapshot("final")
    snap["dest"] = os.path.join(old.db, "snaps")
    with pytest.raises(MemoryToolError) as e:
        C.cutover(old.sim.options(), snap, push_to=old.push("final"))
    assert "inside" in e.value.msg and "the gateway was started again" in e.value.msg
    assert old.sim.running()
    assert not os.path.exists(os.path.join(old.db, "snaps"))
    assert not os.path.exists(old.incoming / ".final.partial-transfer")


def test_bad_gateway_options_fail_before_anything_is_stopped(old):
    with pytest.raises(MemoryToolError) as e:
        C.cutover(old.sim.options(timeout=0), old.snapshot("final"), push_to=old.push("final"))
    assert "timeout (0" in e.value.msg and "openclaw_gateway_timeout" in e.value.msg
    assert old.sim.running()
    assert not os.path.exists(os.path.join(old.snaps, "final"))


def test_check_mode_stops_writes_and_sends_nothing(old):
    res = C.cutover(old.sim.options(), old.snapshot("final"), push_to=old.push("final"), check_mode=True)
    assert res["gateway"]["changed"] is True and res["push"] is None
    assert old.sim.running()
    assert not os.path.exists(os.path.join(old.snaps, "final"))
    assert not os.path.exists(old.incoming / ".final.partial-transfer")


def test_the_module_through_ansible(old):
    """Nested options are checked by Ansible, the environment's values never show, the result is the same."""
    args = {"gateway": old.sim.options(environment=dict(SIM_ENV, OCM_TOKEN="sk-cutover-secret-123")),
            "snapshot": old.snapshot("final"), "push": old.push("final")}
    env = ansible_env(**JSON_OUTPUT, ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.json")
    cmd = [ANSIBLE, "localhost", "-c", "local", "-e",
           "ansible_python_interpreter=" + PYTHON, "-m", "openclaw.memory.openclaw_cutover", "-a", json.dumps(args)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "sk-cutover-secret-123" not in out.stdout + out.stderr
    res = json.loads(out.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert res["changed"] is True and res["push"]["files_transferred"] > 0
    assert res["snapshot"]["name"] == "final" and not old.sim.running()
    # An unknown suboption is Ansible's clear error, before anything runs.
    args["push"]["hots"] = "x"
    cmd[-1] = json.dumps(args)
    assert old.sim("start").returncode == 0
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
    assert out.returncode != 0 and "hots" in out.stdout
    assert old.sim.running()


# --------------------------------------------------------------------------- both sides at once: push, word, receive


class New:
    """A second OpenClaw home: the 'new host', its gateway stopped (as the migration leaves it before the cutover)."""

    def __init__(self, base):
        base.mkdir()
        state = fixtures.build_state(str(base / "home"), plugin="memory-lancedb", n=4, dims=16, seed=9)
        self.db = state["db_path"]
        self.sim = Sim(self.db, base)

    def digest(self):
        out = subprocess.run("cd %s && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum" % self.db,
                             shell=True, capture_output=True, text=True, check=True)
        return out.stdout.split()[0]


@pytest.fixture
def new(tmp_path):
    n = New(tmp_path / "new")
    yield n
    n.sim("stop")


def receiving(path, restore, **kw):
    """receive() in a thread started now; call the returned function to join it: (result, MemoryToolError)."""
    out = {}

    def run():
        try:
            out["result"] = C.receive(path, restore, **kw)
        except MemoryToolError as e:
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()

    def join():
        t.join(120)
        assert not t.is_alive()
        return out.get("result"), out.get("error")
    return join


def test_the_new_host_restores_the_moment_the_push_ends(old, new):
    dest = old.push("final")["dest"]
    join = receiving(dest, {"db_path": new.db, "checks": ["checksums", "structure"],
                            "start_gateway": new.sim.options()})
    cut = C.cutover(old.sim.options(), old.snapshot("final"), push_to=old.push("final", notify=True))
    got, err = join()
    assert err is None, err.msg
    # The receiving side waited for the word (it started first), then restored exactly what was pushed.
    assert got["waited_s"] > 0 and got["push"] == cut["push"]
    assert got["restore"]["state"] == "restored" and got["restore"]["snapshot"] == dest
    assert got["restore"]["verify"]["ok"] and got["changed"] is True
    rows = cut["snapshot"]["tables"]["memories"]["rows"]
    assert got["restore"]["total"] == rows
    # Its gateway serves the old host's memories now (and writes on), the old one is stopped.
    assert new.sim.running() and not old.sim.running()
    assert lance.dataset(os.path.join(new.db, "memories.lance")).count_rows() >= rows
    assert got["restore"]["aside"]  # new's own database moved aside, never deleted
    # The word is consumed; nothing else is left beside what arrived.
    assert sorted(os.listdir(old.incoming)) == [".final.partial-transfer", "presync"]


def test_a_failed_cutover_tells_the_new_host_which_touches_nothing(old, new):
    before = new.digest()
    snap = old.snapshot("final")
    snap["dest"] = os.path.join(old.db, "snaps")  # refused after the stop: the old gateway runs again
    join = receiving(old.push("final")["dest"], {"db_path": new.db, "start_gateway": new.sim.options()})
    with pytest.raises(MemoryToolError) as e:
        C.cutover(old.sim.options(), snap, push_to=old.push("final", notify=True))
    got, err = join()
    assert got is None
    assert err.msg.startswith("the old host's cutover failed, so nothing was restored here: ")
    assert e.value.msg in err.msg  # the old host's reason, word for word
    assert old.sim.running() and not new.sim.running()
    assert new.digest() == before
    assert os.listdir(old.incoming) == ["presync"]


def test_no_word_within_the_timeout_fails_with_nothing_touched(old, new):
    before = new.digest()
    dest = old.push("final")["dest"]
    with pytest.raises(MemoryToolError) as e:
        C.receive(dest, {"db_path": new.db, "start_gateway": new.sim.options()}, timeout=0.3)
    assert "no word from the old host within 0.3 s" in e.value.msg and dest + ".pushed never appeared" in e.value.msg
    assert "nothing was restored here" in e.value.msg and "raise receive.timeout" in e.value.msg
    assert new.digest() == before and not new.sim.running()


def test_bad_receive_inputs_fail_before_the_wait(old, new):
    dest = old.push("final")["dest"]
    with pytest.raises(MemoryToolError) as e:  # would wait 900 s if the options were checked after the wait
        C.receive(dest, {"db_path": new.db, "start_gateway": new.sim.options(timeout=0)})
    assert "timeout (0" in e.value.msg
    with pytest.raises(MemoryToolError) as e:
        C.receive(str(old.base / "nowhere" / "x"), {"db_path": new.db})
    assert "receive: path '%s'" % (old.base / "nowhere" / "x") in e.value.msg and "existing directory" in e.value.msg
    res = C.receive(dest, {"db_path": new.db}, check_mode=True)
    assert res["restore"] is None and res["waited_s"] == 0.0


def test_receive_and_cutover_are_exclusive_in_the_module(old, new):
    args = {"gateway": old.sim.options(), "snapshot": old.snapshot("final"),
            "receive": {"path": old.push("final")["dest"], "db_path": new.db}}
    env = ansible_env()
    cmd = [ANSIBLE, "localhost", "-c", "local", "-e",
           "ansible_python_interpreter=" + PYTHON, "-m", "openclaw.memory.openclaw_cutover", "-a", json.dumps(args)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
    assert out.returncode != 0 and "mutually exclusive: receive|gateway" in out.stdout, out.stdout[-2000:]
    assert old.sim.running()


def test_one_task_on_both_hosts_even_with_one_fork(old, new, tmp_path):
    """The task as migrate.yml runs it: one task, each host its own side. With forks=1 the hosts run one after the
    other; the old host comes first (as migrate.yml orders them), so the new host finds the word and never waits
    out its timeout."""
    inv = tmp_path / "hosts.yml"
    inv.write_text(json.dumps({"all": {"hosts": {
        "oldhost": {"ansible_connection": "local", "ansible_python_interpreter": PYTHON},
        "newhost": {"ansible_connection": "local", "ansible_python_interpreter": PYTHON}}}}))
    evars = tmp_path / "vars.json"
    evars.write_text(json.dumps({
        "old_side": {"gateway": old.sim.options(), "snapshot": old.snapshot("final"),
                     "push": old.push("final", notify=True)},
        "new_side": {"path": old.push("final")["dest"], "db_path": new.db, "verify_checks": ["checksums", "structure"],
                     "start_gateway": new.sim.options(), "timeout": 60}}))
    play = tmp_path / "cutover.yml"
    play.write_text("""
- name: Cutover on both hosts
  hosts: oldhost:newhost
  gather_facts: false
  tasks:
    - name: Each host its side
      openclaw.memory.openclaw_cutover:
        gateway: "{{ old_side.gateway if inventory_hostname == 'oldhost' else omit }}"
        snapshot: "{{ old_side.snapshot if inventory_hostname == 'oldhost' else omit }}"
        push: "{{ old_side.push if inventory_hostname == 'oldhost' else omit }}"
        receive: "{{ new_side if inventory_hostname == 'newhost' else omit }}"
""")
    env = ansible_env(**JSON_OUTPUT, ANSIBLE_FORKS="1")
    cmd = [ANSIBLE_PLAYBOOK, "-i", str(inv), "-e", "@" + str(evars), str(play)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO, timeout=600, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # profile_tasks (ansible.cfg) prints its lines before the JSON document
    res = json.JSONDecoder().raw_decode(out.stdout[out.stdout.index("{"):])[0]["plays"][0]["tasks"][0]["hosts"]
    assert res["oldhost"]["push"]["files_transferred"] > 0 and not old.sim.running()
    got = res["newhost"]
    assert got["restore"]["state"] == "restored" and got["push"] == res["oldhost"]["push"]
    assert got["waited_s"] < 30 and new.sim.running()


def test_ansible_doc_lists_every_sub_option_of_the_shared_options():
    """openclaw_cutover's gateway, snapshot and receive (and memory_restore's start_gateway) take the options of
    other modules; their documentation (one text, in the doc fragment openclaw.memory.options) lists exactly the
    options the argument specs take, each O() reference pointing at the nested option."""
    import re

    from ansible_collections.openclaw.memory.plugins.module_utils import gateway as G
    from ansible_collections.openclaw.memory.plugins.module_utils import restore as R
    from ansible_collections.openclaw.memory.plugins.module_utils import snapshot as S

    env = ansible_env()
    docs = {}
    for module in ("openclaw_cutover", "memory_restore"):
        out = subprocess.run([ANSIBLE_DOC, "--json", "openclaw.memory." + module],
                             capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False)
        assert out.returncode == 0, out.stderr
        docs[module] = json.loads(out.stdout)["openclaw.memory." + module]["doc"]["options"]
    cut = docs["openclaw_cutover"]
    receive = cut["receive"]["suboptions"]
    nested = {"gateway": (cut["gateway"]["suboptions"], G.ARGUMENT_SPEC),
              "snapshot": (cut["snapshot"]["suboptions"], S.ARGUMENT_SPEC),
              "receive": (receive, {k: v for k, v in R.ARGUMENT_SPEC.items() if k != "snapshot"}
                          | {"path": None, "timeout": None}),
              "receive.start_gateway": (receive["start_gateway"]["suboptions"], G.ARGUMENT_SPEC),
              "start_gateway": (docs["memory_restore"]["start_gateway"]["suboptions"], G.ARGUMENT_SPEC)}
    for prefix, (documented, spec) in nested.items():
        assert sorted(documented) == sorted(spec), prefix
        for name, opt in documented.items():
            if spec[name] and "default" in spec[name]:
                assert opt.get("default") == spec[name]["default"], (prefix, name)
            text = " ".join(opt["description"]) if isinstance(opt["description"], list) else opt["description"]
            for ref in re.findall(r"\bO\(([^()#]*)\)", text):
                assert ref.startswith(prefix + "."), (prefix, name, ref)
    assert receive["timeout"]["default"] == 900 and receive["db_path"]["required"] is True
    assert "O(gateway.stopped_rcs)" in " ".join(cut["gateway"]["suboptions"]["status_command"]["description"])
