# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gateway's service manager (plugins/module_utils/gateway.py) and the openclaw_gateway module, with real processes.

`command` drives the lab's simulator (ocmlab.gateway_sim, a real writer on a tiny database). `systemd_user`,
`systemd` and `openclaw_cli` drive small fake `systemctl` and `openclaw` executables put first on PATH: they keep
each unit's state in a JSON file, log every call (argv, uid, groups, cwd and a few environment variables), and can
be told to stop slowly, to hang on stop (the unit stays up), to never come up, to fail to start, or to answer the
status with another exit code. Nothing here is mocked inside the code under test.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
from ansible_collections.openclaw.memory.plugins.module_utils import gateway as G
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError
from ocmlab import fixtures
from ocmlab import gateway_sim as sim_mod
from repo_env import ANSIBLE, ANSIBLE_DOC, ANSIBLE_PLAYBOOK, JSON_OUTPUT, PYTHON, REPO, ansible_env
from simgw import run_play

SIM_PATH = os.pathsep.join([os.path.join(REPO, "tools"), os.path.join(REPO, ".collections")])
SECRET = "s3cr3t-Token-4711"
# The fakes run as the gateway user in the user-switch tests: a Python every account can run.
FAKE_PYTHON = "/usr/bin/python3"
UNIT = "openclaw-gateway.service"

# --------------------------------------------------------------------------- the fakes

FAKE_HEAD = """#!@PYTHON@
import json, os, sys, time
STATE = @STATE@
LOG = @LOG@
ENV_KEYS = ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "HOME", "USER", "LOGNAME", "GW_SECRET")
with open(LOG, "a") as f:
    f.write(json.dumps({"prog": os.path.basename(sys.argv[0]), "argv": sys.argv[1:], "uid": os.getuid(),
                        "gid": os.getgid(), "groups": sorted(os.getgroups()), "cwd": os.getcwd(),
                        "env": {k: os.environ.get(k) for k in ENV_KEYS}}) + "\\n")
with open(STATE) as f:
    state = json.load(f)
now = time.time()
secret = os.environ.get("GW_SECRET", "")


def save():
    with open(STATE, "w") as f:
        json.dump(state, f)


def settle(u):
    if u and u.get("until") and now >= u["until"]:
        u.update(u.pop("then"))
        u.pop("until")


def later(u, mode, now_fields, then_fields):
    u.update(now_fields)
    if mode.startswith("slow:"):
        u["until"] = now + float(mode[5:])
        u["then"] = then_fields
    elif mode == "ok":
        u.update(then_fields)
"""

FAKE_SYSTEMCTL = FAKE_HEAD + """
args = sys.argv[1:]
scope = "user" if "--user" in args else "system"
rest = [a for a in args if a != "--user"]
verb, unit = rest[0], rest[-1]
u = state[scope].get(unit)
settle(u)
SUB = {"active": "running", "inactive": "dead", "failed": "failed", "activating": "start",
       "deactivating": "stop-sigterm"}
if verb == "show":
    rc = (u or {}).get("show_rc", 0)
    if rc:
        print("Failed to connect to bus: No medium found", secret, file=sys.stderr)
        sys.exit(rc)
    if u is None:
        print("LoadState=not-found\\nActiveState=inactive\\nSubState=dead\\nMainPID=0")
    else:
        print("LoadState=loaded\\nActiveState=%s\\nSubState=%s\\nMainPID=%d"
              % (u["active"], SUB[u["active"]], u["pid"]))
        if u.get("leak"):
            print("Environment=GW_SECRET=" + secret)
elif verb in ("stop", "start"):
    if u is None:
        print("Failed to %s %s: Unit %s not found." % (verb, unit, unit), file=sys.stderr)
        sys.exit(5)
    mode = u.get("on_" + verb, "ok")
    if mode == "fail":
        if verb == "start":
            u.update(active="failed", pid=0)
            save()
        print("Job for %s failed because the control process exited with error code (GW_SECRET=%s)." % (unit, secret),
              file=sys.stderr)
        sys.exit(1)
    if verb == "stop" and mode != "hang":
        later(u, mode, {"active": "deactivating"}, {"active": "inactive", "pid": 0})
    elif verb == "start" and u["active"] not in ("active", "activating"):
        u["pid"] = u.get("next_pid", 4242)
        u["next_pid"] = u["pid"] + 1
        later(u, mode, {"active": "activating"}, {"active": "active"})
else:
    print("fake systemctl: unknown verb " + verb, file=sys.stderr)
    sys.exit(2)
save()
"""

FAKE_OPENCLAW = FAKE_HEAD + """
args = sys.argv[1:]
assert args[0] == "gateway", args
verb = args[1]
profile = args[args.index("--profile") + 1] if "--profile" in args else "default"
u = state["profiles"][profile]
settle(u)
if verb == "status":
    if u.get("status_rc") is not None:
        print("error: cannot reach the gateway (token %s)" % secret, file=sys.stderr)
        sys.exit(u["status_rc"])
    if u["running"]:
        print("Gateway: running (pid %d)" % u["pid"])
        sys.exit(0)
    print("Gateway: not running")
    sys.exit(u.get("stopped_rc", 3))
mode = u.get("on_" + verb, "ok")
if mode == "fail":
    print("Error: gateway failed to %s: port 18789 in use" % verb, file=sys.stderr)
    sys.exit(1)
if verb == "stop" and mode != "hang":
    later(u, mode, {}, {"running": False, "pid": 0})
elif verb == "start" and not u["running"]:
    u["pid"] = u.get("next_pid", 5151)
    u["next_pid"] = u["pid"] + 1
    later(u, mode, {}, {"running": True})
print("Gateway %s requested" % verb)
save()
"""


class Fakes:
    """A dir every account can read, with bin/systemctl, bin/openclaw, their state, their log and a /run/user."""

    def __init__(self, base):
        self.base = base
        self.bin = os.path.join(base, "bin")
        self.state_file = os.path.join(base, "state.json")
        self.log_file = os.path.join(base, "calls.log")
        self.run_user = os.path.join(base, "run-user")
        os.makedirs(self.bin)
        os.makedirs(self.run_user)
        for name, src in (("systemctl", FAKE_SYSTEMCTL), ("openclaw", FAKE_OPENCLAW)):
            path = os.path.join(self.bin, name)
            with open(path, "w") as f:
                f.write(src.replace("@PYTHON@", FAKE_PYTHON).replace("@STATE@", repr(self.state_file))
                        .replace("@LOG@", repr(self.log_file)))
            os.chmod(path, 0o755)
        self.state = {"user": {}, "system": {}, "profiles": {}}
        self.save()
        open(self.log_file, "w").close()
        os.chmod(self.log_file, 0o666)

    def save(self):
        with open(self.state_file, "w") as f:
            json.dump(self.state, f)
        os.chmod(self.state_file, 0o666)

    def load(self):
        with open(self.state_file) as f:
            self.state = json.load(f)
        return self.state

    def unit(self, name=UNIT, scope="user", active="active", pid=4000, **behaviour):
        self.load()
        self.state[scope][name] = dict(active=active, pid=pid if active != "inactive" else 0, **behaviour)
        self.save()

    def profile(self, name="default", running=True, **behaviour):
        self.load()
        self.state["profiles"][name] = dict(running=running, pid=5000 if running else 0, **behaviour)
        self.save()

    def bus(self, uid):
        os.makedirs(os.path.join(self.run_user, str(uid)), exist_ok=True)
        open(os.path.join(self.run_user, str(uid), "bus"), "w").close()

    def calls(self):
        with open(self.log_file) as f:
            return [json.loads(line) for line in f if line.strip()]

    def clear_calls(self):
        open(self.log_file, "w").close()


@pytest.fixture
def fakes(request, monkeypatch):
    assert os.path.exists(FAKE_PYTHON), "the fakes need %s (every account must be able to run it)" % FAKE_PYTHON
    base = tempfile.mkdtemp(prefix="ocm-gateway-", dir="/tmp")  # pytest's tmp dirs are 0700: not for user node
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    os.chmod(base, 0o755)
    f = Fakes(base)
    monkeypatch.setenv("PATH", f.bin + os.pathsep + os.environ["PATH"])
    return f


def gw(fakes, state="status", check_mode=False, **options):
    options.setdefault("run_user_base", fakes.run_user)
    options.setdefault("timeout", 5)
    options.setdefault("poll_interval", 0.05)
    options.setdefault("environment", {"GW_SECRET": SECRET})
    return G.control(state, check_mode=check_mode, **options)


def failure(fakes, state, **options):
    with pytest.raises(MemoryToolError) as err:
        gw(fakes, state, **options)
    return err.value


def assert_no_secret(*things):
    for thing in things:
        text = thing if isinstance(thing, str) else json.dumps(thing, default=str)
        assert SECRET not in text, text


SHOW = ["show", "--property=LoadState,ActiveState,SubState,MainPID"]


def other_user():
    """The gateway account for the user-switch tests: `node`, else uid 1000 (nothing is created)."""
    for lookup in (lambda: pwd.getpwnam("node"), lambda: pwd.getpwuid(1000)):
        try:
            return lookup()
        except KeyError:
            pass
    raise AssertionError("no user 'node' and no uid 1000 on this host: the user-switch tests need one of them")


# --------------------------------------------------------------------------- systemd_user


def test_systemd_user_stop_start_restart_status_and_idempotence(fakes):
    me = os.geteuid()
    fakes.bus(me)
    fakes.unit(active="active", pid=4000, on_stop="slow:0.3")
    res = gw(fakes, "stopped", manager="systemd_user")
    assert res["changed"] and res["was_running"] is True and res["running"] is False
    assert res["manager"] == "systemd_user" and res["unit"] == UNIT and res["action"] == "stop"
    assert res["stop_s"] >= 0.3 and res["start_s"] is None and res["polls"] >= 2
    assert res["status"] == "LoadState=loaded ActiveState=inactive SubState=dead MainPID=0"
    assert res["commands"] == [["systemctl", "--user"] + SHOW + [UNIT], ["systemctl", "--user", "stop", UNIT],
                               ["systemctl", "--user"] + SHOW + [UNIT]]
    calls = fakes.calls()
    assert len(calls) == 2 + res["polls"]  # status, stop, then the polls
    runtime = os.path.join(fakes.run_user, str(me))
    for call in calls:
        assert call["uid"] == me
        assert call["env"]["XDG_RUNTIME_DIR"] == runtime
        assert call["env"]["DBUS_SESSION_BUS_ADDRESS"] == "unix:path=%s/bus" % runtime
        assert call["env"]["GW_SECRET"] == SECRET  # the environment reaches the commands...
    assert_no_secret(res)  # ...but never the result

    fakes.clear_calls()
    again = gw(fakes, "stopped", manager="systemd_user")
    assert not again["changed"] and again["was_running"] is False and again["running"] is False
    assert again["stop_s"] is None and len(again["commands"]) == 1 and len(fakes.calls()) == 1

    started = gw(fakes, "started", manager="systemd_user")
    assert started["changed"] and started["running"] is True and started["start_s"] is not None
    assert started["status"].startswith("LoadState=loaded ActiveState=active SubState=running MainPID=")
    assert [c[2] for c in started["commands"]] == ["show", "start", "show"]
    assert not gw(fakes, "started", manager="systemd_user")["changed"]

    pid = fakes.load()["user"][UNIT]["pid"]
    restarted = gw(fakes, "restarted", manager="systemd_user")
    assert restarted["changed"] and restarted["was_running"] and restarted["running"]
    assert restarted["stop_s"] is not None and restarted["start_s"] is not None
    assert [c[2] for c in restarted["commands"]] == ["show", "stop", "show", "start", "show"]
    assert fakes.load()["user"][UNIT]["pid"] != pid

    status = gw(fakes, "status", manager="systemd_user")
    assert status == dict(status, changed=False, was_running=True, running=True, action="status", stop_s=None,
                          start_s=None, polls=0)
    assert len(status["commands"]) == 1


def test_systemd_user_starts_a_slow_unit_and_restarts_a_stopped_one(fakes):
    fakes.bus(os.geteuid())
    fakes.unit(active="inactive", on_start="slow:0.3")
    res = gw(fakes, "started", manager="systemd_user")
    assert res["changed"] and res["running"] and res["start_s"] >= 0.3 and res["polls"] >= 2
    # activating counts as running for the first probe, but the start waits for ActiveState=active
    fakes.unit(active="inactive")
    res = gw(fakes, "restarted", manager="systemd_user")
    assert res["changed"] and res["was_running"] is False and res["stop_s"] is None and res["start_s"] is not None
    assert [c[2] for c in res["commands"]] == ["show", "start", "show"]


def test_systemd_user_profile_and_unit_names(fakes):
    fakes.bus(os.geteuid())
    fakes.unit("openclaw-gateway-work.service", active="inactive")
    res = gw(fakes, "status", manager="systemd_user", profile="work")
    assert res["unit"] == "openclaw-gateway-work.service" and res["running"] is False
    fakes.unit("my-gw.service", active="active")
    res = gw(fakes, "status", manager="systemd_user", profile="work", unit="my-gw.service")
    assert res["unit"] == "my-gw.service" and res["running"] is True


def test_check_mode_runs_only_the_status(fakes):
    fakes.bus(os.geteuid())
    fakes.unit(active="active", pid=4000)
    for state, running in (("stopped", False), ("restarted", True)):
        fakes.clear_calls()
        res = gw(fakes, state, check_mode=True, manager="systemd_user")
        assert res["changed"] and res["was_running"] is True and res["running"] is running
        assert res["stop_s"] is None and res["start_s"] is None
        assert [c["argv"][1] for c in fakes.calls()] == ["show"] and len(res["commands"]) == 1
        assert fakes.load()["user"][UNIT] == {"active": "active", "pid": 4000}
    res = gw(fakes, "started", check_mode=True, manager="systemd_user")
    assert not res["changed"] and res["running"]
    fakes.unit(active="inactive")
    res = gw(fakes, "started", check_mode=True, manager="systemd_user")
    assert res["changed"] and res["running"] is True and fakes.load()["user"][UNIT]["active"] == "inactive"


def test_stop_timeout_names_manager_unit_timeout_and_last_status(fakes):
    fakes.bus(os.geteuid())
    fakes.unit(active="active", pid=4000, on_stop="hang", leak=True)
    t0 = time.monotonic()
    err = failure(fakes, "stopped", manager="systemd_user", timeout=0.6, poll_interval=0.1)
    assert 0.6 <= time.monotonic() - t0 < 5
    assert err.msg.startswith(
        "the gateway (systemd_user openclaw-gateway.service) still runs 0.6 s after it was told to stop (last status: "
        "LoadState=loaded ActiveState=active SubState=running MainPID=4000 Environment=GW_SECRET=********); find out "
        "what keeps it alive, or raise openclaw_gateway_timeout")
    assert err.details["changed"] is True and err.details["was_running"] is True and err.details["polls"] >= 5
    assert_no_secret(err.msg, err.details)


def test_start_timeout_names_the_journal(fakes):
    fakes.bus(os.geteuid())
    fakes.unit(active="inactive", on_start="never")
    err = failure(fakes, "started", manager="systemd_user", timeout=0.5, poll_interval=0.1)
    assert err.msg == (
        "the gateway (systemd_user openclaw-gateway.service) is not running 0.5 s after it was started (last status: "
        "LoadState=loaded ActiveState=activating SubState=start MainPID=4242); read its log (journalctl --user -u "
        "openclaw-gateway.service), or raise openclaw_gateway_timeout (timeout)")
    fakes.unit("openclaw", scope="system", active="inactive", on_start="never")
    err = failure(fakes, "started", manager="systemd", timeout=0.3, poll_interval=0.1)
    assert "(systemd openclaw) is not running 0.3 s after it was started" in err.msg
    assert "read its log (journalctl -u openclaw)" in err.msg


def test_failed_start_command_names_its_output_and_the_journal_without_the_secret(fakes):
    fakes.bus(os.geteuid())
    fakes.unit(active="inactive", on_start="fail")
    err = failure(fakes, "started", manager="systemd_user")
    assert err.msg == (
        "the gateway start command `systemctl --user start openclaw-gateway.service` failed (exit 1: Job for "
        "openclaw-gateway.service failed because the control process exited with error code (GW_SECRET=********).); "
        "read its log (journalctl --user -u openclaw-gateway.service) and fix what it says.")
    assert err.details["changed"] is True
    assert_no_secret(err.msg, err.details)


def test_failed_stop_command(fakes):
    fakes.unit("openclaw", scope="system", active="active", on_stop="fail")
    err = failure(fakes, "stopped", manager="systemd")
    assert err.msg.startswith("the gateway stop command `systemctl stop openclaw` failed (exit 1: Job for openclaw")
    assert "it was running before and may still run" in err.msg
    assert_no_secret(err.msg, err.details)


def test_missing_unit_fails_stop_and_start_but_not_status(fakes):
    fakes.bus(os.geteuid())
    res = gw(fakes, "status", manager="systemd_user")
    assert res["running"] is False and res["status"].startswith("LoadState=not-found")
    for state in ("stopped", "started", "restarted"):
        fakes.clear_calls()
        err = failure(fakes, state, manager="systemd_user")
        assert err.msg == (
            "unit openclaw-gateway.service does not exist (user scope); set openclaw_gateway_unit, "
            "openclaw_gateway_profile or openclaw_gateway_manager (unit, profile, manager) to how the gateway "
            "really runs")
        assert [c["argv"][1] for c in fakes.calls()] == ["show"]
    err = failure(fakes, "stopped", manager="systemd", unit="nope.service")
    assert err.msg.startswith("unit nope.service does not exist (system scope)")


def test_missing_user_bus_names_enable_linger(fakes):
    me = pwd.getpwuid(os.geteuid())
    fakes.unit(active="active")
    err = failure(fakes, "stopped", manager="systemd_user")
    bus = os.path.join(fakes.run_user, str(me.pw_uid), "bus")
    assert err.msg == (
        "The systemd user manager of '%s' (uid %d) is not running (no %s), so its openclaw-gateway.service cannot be "
        "controlled; run `loginctl enable-linger %s`, or set openclaw_gateway_manager (manager) to how the gateway "
        "really runs" % (me.pw_name, me.pw_uid, bus, me.pw_name))
    assert fakes.calls() == []  # nothing ran


def test_systemd_show_that_fails_is_no_clear_answer(fakes):
    fakes.unit("openclaw", scope="system", active="active", show_rc=1)
    err = failure(fakes, "stopped", manager="systemd")
    assert err.msg == (
        "the gateway status command `systemctl show --property=LoadState,ActiveState,SubState,MainPID openclaw` gave "
        "no clear answer (exit 1: Failed to connect to bus: No medium found ********); `systemctl show` exits 0 for "
        "any unit name, even one that does not exist. Check openclaw_gateway_manager (systemd), openclaw_gateway_cli "
        "or openclaw_gateway_status_command; nothing was stopped or started.")
    assert [c["argv"][0] for c in fakes.calls()] == ["show"]
    assert_no_secret(err.details)


def test_systemd_system_unit(fakes):
    fakes.unit("openclaw", scope="system", active="active")
    res = gw(fakes, "stopped", manager="systemd", user="ignored-for-system-units")
    assert res["unit"] == "openclaw" and res["changed"] and not res["running"]
    assert res["commands"][:2] == [["systemctl"] + SHOW + ["openclaw"], ["systemctl", "stop", "openclaw"]]
    for call in fakes.calls():
        assert call["env"]["XDG_RUNTIME_DIR"] != os.path.join(fakes.run_user, "0")
        assert call["uid"] == os.geteuid()


# --------------------------------------------------------------------------- openclaw_cli


def test_openclaw_cli_stop_start_with_profile(fakes):
    fakes.profile("work", running=True, on_stop="slow:0.2")
    res = gw(fakes, "stopped", manager="openclaw_cli", profile="work")
    assert res["changed"] and res["running"] is False and res["unit"] is None and res["stop_s"] >= 0.2
    assert res["commands"] == [["openclaw", "gateway", "status", "--profile", "work"],
                               ["openclaw", "gateway", "stop", "--profile", "work"],
                               ["openclaw", "gateway", "status", "--profile", "work"]]
    assert res["status"] == "exit 3: Gateway: not running"
    assert not gw(fakes, "stopped", manager="openclaw_cli", profile="work")["changed"]
    res = gw(fakes, "started", manager="openclaw_cli", profile="work", cli=os.path.join(fakes.bin, "openclaw"))
    assert res["changed"] and res["running"] and res["status"] == "exit 0: Gateway: running (pid 5151)"
    assert res["commands"][1] == [os.path.join(fakes.bin, "openclaw"), "gateway", "start", "--profile", "work"]


def test_openclaw_cli_stopped_rcs(fakes):
    fakes.profile(running=False, stopped_rc=1)
    err = failure(fakes, "started", manager="openclaw_cli")
    assert "gave no clear answer (exit 1: Gateway: not running); 0 means running and 3 stopped" in err.msg
    res = gw(fakes, "started", manager="openclaw_cli", stopped_rcs=[1, 3])
    assert res["changed"] and res["running"]


def test_status_exit_5_is_no_clear_answer_and_nothing_is_stopped(fakes):
    fakes.profile(running=True, status_rc=5)
    err = failure(fakes, "stopped", manager="openclaw_cli")
    assert err.msg == (
        "the gateway status command `openclaw gateway status` gave no clear answer (exit 5: error: cannot reach the "
        "gateway (token ********)); 0 means running and 3 stopped (openclaw_gateway_stopped_rcs). Check "
        "openclaw_gateway_manager (openclaw_cli), openclaw_gateway_cli or openclaw_gateway_status_command; nothing "
        "was stopped or started.")
    assert [c["argv"][1] for c in fakes.calls()] == ["status"]
    assert err.details["commands"] == [["openclaw", "gateway", "status"]]
    assert_no_secret(err.msg, err.details)


def test_openclaw_cli_hangs_on_stop_and_fails_to_start(fakes):
    fakes.profile(running=True, on_stop="hang")
    err = failure(fakes, "stopped", manager="openclaw_cli", timeout=0.4, poll_interval=0.1)
    assert err.msg == (
        "the gateway (openclaw_cli) still runs 0.4 s after it was told to stop (last status: exit 0: Gateway: "
        "running (pid 5000)); find out what keeps it alive, or raise openclaw_gateway_timeout (timeout)")
    fakes.profile(running=False, on_start="fail")
    err = failure(fakes, "started", manager="openclaw_cli")
    assert err.msg == (
        "the gateway start command `openclaw gateway start` failed (exit 1: Error: gateway failed to start: port "
        "18789 in use); read its log (the start command output) and fix what it says.")


def test_missing_cli_is_no_clear_answer(fakes):
    err = failure(fakes, "stopped", manager="openclaw_cli", cli="/nonexistent/openclaw")
    assert err.msg.startswith(
        "the gateway status command `/nonexistent/openclaw gateway status` gave no clear answer (could not run: No "
        "such file or directory: '/nonexistent/openclaw'); 0 means running and 3 stopped")
    assert err.msg.endswith("nothing was stopped or started.")


# --------------------------------------------------------------------------- running as the gateway user


def test_runs_as_the_gateway_user(fakes):
    assert os.geteuid() == 0, "the user switch needs root (make test runs as root)"
    node = other_user()
    fakes.bus(node.pw_uid)
    fakes.unit(active="active")
    res = gw(fakes, "stopped", manager="systemd_user", user=node.pw_name)
    assert res["changed"] and not res["running"]
    runtime = os.path.join(fakes.run_user, str(node.pw_uid))
    calls = fakes.calls()
    assert calls
    for call in calls:
        assert (call["uid"], call["gid"]) == (node.pw_uid, node.pw_gid)
        assert call["groups"] == sorted(set(os.getgrouplist(node.pw_name, node.pw_gid)))
        assert call["env"]["HOME"] == node.pw_dir and call["env"]["USER"] == call["env"]["LOGNAME"] == node.pw_name
        assert call["env"]["XDG_RUNTIME_DIR"] == runtime and call["env"]["GW_SECRET"] == SECRET
        assert call["cwd"] == (node.pw_dir if os.path.isdir(node.pw_dir) else "/")

    fakes.clear_calls()
    fakes.profile(running=False)
    res = gw(fakes, "started", manager="openclaw_cli", user=node.pw_name)
    assert res["changed"] and res["running"]
    assert {c["uid"] for c in fakes.calls()} == {node.pw_uid}

    # the user's own bus is checked, not root's
    os.unlink(os.path.join(runtime, "bus"))
    fakes.bus(0)
    err = failure(fakes, "status", manager="systemd_user", user=node.pw_name)
    assert "of '%s' (uid %d) is not running" % (node.pw_name, node.pw_uid) in err.msg
    assert "loginctl enable-linger %s" % node.pw_name in err.msg

    # command and systemd commands never switch
    fakes.clear_calls()
    gw(fakes, "status", manager="command", user=node.pw_name, start_command="true", stop_command="true",
       status_command=os.path.join(fakes.bin, "openclaw") + " gateway status")
    assert {c["uid"] for c in fakes.calls()} == {0}


def test_same_user_needs_no_switch_and_unknown_user_fails(fakes):
    me = pwd.getpwuid(os.geteuid())
    fakes.profile(running=True)
    res = gw(fakes, "status", manager="openclaw_cli", user=me.pw_name)
    assert res["running"] and {c["uid"] for c in fakes.calls()} == {me.pw_uid}
    err = failure(fakes, "status", manager="openclaw_cli", user="no-such-gateway-user")
    assert err.msg == (
        "User 'no-such-gateway-user' (openclaw_gateway_user) does not exist on this host; set it to the account that "
        "runs the OpenClaw gateway, or leave it empty to run the openclaw_cli commands as the connection's user")


def test_switching_users_without_root_asks_for_become(fakes):
    """Run as the unprivileged account, asking for another one: a clear error, nothing run."""
    assert os.geteuid() == 0, "this test runs a child as another user (make test runs as root)"
    node = other_user()
    fakes.profile(running=True)
    code = (
        "import json, sys\n"
        "from ansible_collections.openclaw.memory.plugins.module_utils import gateway as G\n"
        "from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError\n"
        "try:\n"
        "    G.control('stopped', manager='openclaw_cli', user='root', cli=%r)\n"
        "except MemoryToolError as e:\n"
        "    print(e.msg)\n"
        "    sys.exit(0)\n"
        "sys.exit('no error')\n" % os.path.join(fakes.bin, "openclaw"))
    out = subprocess.run([FAKE_PYTHON, "-c", code], user=node.pw_uid, group=node.pw_gid, extra_groups=[], cwd="/",
                         env={"PATH": os.environ["PATH"], "PYTHONPATH": os.path.join(REPO, ".collections")},
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (
        "The openclaw_cli commands must run as the gateway user 'root' (openclaw_gateway_user), but this runs as '%s' "
        "(uid %d), which cannot switch users; run the task with become: true (the gateway role does when "
        "openclaw_gateway_user is set), or connect as 'root'" % (node.pw_name, node.pw_uid))
    assert fakes.calls() == []


# --------------------------------------------------------------------------- bad inputs, none


def test_bad_inputs(fakes):
    err = failure(fakes, "status", manager="command", start_command="", stop_command="x", status_command=None)
    assert err.msg == (
        "manager is 'command' but start_command / stop_command / status_command are not all set (start='', "
        "stop='x', status=''); set all three (openclaw_gateway_start_command, _stop_command, _status_command), or "
        "choose another manager")
    err = failure(fakes, "status", manager="command", start_command="a", stop_command="b", status_command="st 'x")
    assert err.msg.startswith("status_command (openclaw_gateway_status_command) 'st 'x' cannot be split into "
                              "arguments (No closing quotation)")
    for timeout, poll in ((0, 0.2), (5, 0), (-1, 1)):
        err = failure(fakes, "status", manager="none", timeout=timeout, poll_interval=poll)
        assert err.msg == ("timeout (%s) and poll_interval (%s) must be positive seconds (openclaw_gateway_timeout, "
                           "openclaw_gateway_poll_interval)" % (float(timeout), float(poll)))
    assert "manager 'upstart' is not one of" in failure(fakes, "status", manager="upstart").msg
    assert "state 'reloaded' is not one of" in failure(fakes, "reloaded", manager="none").msg
    for profile in ("../x", "a/b", "work\n"):
        assert failure(fakes, "stopped", manager="systemd_user", profile=profile).msg == (
            "profile %r is not a profile name: OpenClaw profile names are letters, digits, '-' and '_' (at most 64, no "
            "path separators or '..'), as in `openclaw --profile work`; set openclaw_gateway_profile (profile) to the "
            "name the gateway runs with" % profile)
    assert fakes.calls() == []  # nothing ran


def test_none_manager_does_nothing(fakes):
    for state in ("status", "stopped", "started", "restarted"):
        res = gw(fakes, state, manager="none")
        assert res["was_running"] is None and res["running"] is None and not res["changed"]
        assert res["commands"] == [] and res["unit"] is None
    assert res["msg"] == "openclaw_gateway_manager is none: the gateway was not restarted."
    assert fakes.calls() == []


# --------------------------------------------------------------------------- command manager, real simulator


class Sim:
    """The lab's gateway simulator on a tiny database, driven through the command manager."""

    def __init__(self, base):
        state = fixtures.build_state(str(base / "home"), plugin="memory-lancedb", n=3, dims=4, seed=5,
                                     workspace=False)
        self.db = state["db_path"]
        self.pidfile = str(base / "gw.pid")
        self.log = str(base / "gw.log")
        prog = "%s -m ocmlab.gateway_sim" % PYTHON
        self.options = {
            "manager": "command",
            "start_command": "%s start --db %s --dims 4 --rate 20 --pidfile %s --log %s" % (prog, self.db,
                                                                                            self.pidfile, self.log),
            "stop_command": "%s stop --pidfile %s" % (prog, self.pidfile),
            "status_command": "%s status --pidfile %s" % (prog, self.pidfile),
            # The simulator only starts with PYTHONPATH set: proof that `environment` reaches the commands.
            "environment": {"PYTHONPATH": SIM_PATH, "GW_SECRET": SECRET},
            "timeout": 30,
            "poll_interval": 0.05,
        }

    def pid(self):
        pid = sim_mod.read_pid(self.pidfile)
        return pid if sim_mod.is_simulator(pid) else None

    def control(self, state, check_mode=False, **extra):
        return G.control(state, check_mode=check_mode, **dict(self.options, **extra))

    def kill(self):
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Sim(tmp_path_factory.mktemp("gateway-sim"))
    yield s
    s.kill()


def test_command_manager_with_the_simulator(sim):
    res = sim.control("status")
    assert res["running"] is False and res["status"] == "exit 3: gateway_sim: stopped"

    res = sim.control("started")
    pid = sim.pid()
    assert pid and res["changed"] and res["was_running"] is False and res["running"] is True
    assert res["start_s"] > 0 and res["status"] == "exit 0: gateway_sim: running (pid %d)" % pid
    assert [c[3] for c in res["commands"]] == ["status", "start", "status"]
    assert res["commands"][1] == sim.options["start_command"].split()
    assert_no_secret(res)

    again = sim.control("started")
    assert not again["changed"] and again["running"] and len(again["commands"]) == 1 and sim.pid() == pid

    planned = sim.control("stopped", check_mode=True)
    assert planned["changed"] and planned["running"] is False and len(planned["commands"]) == 1
    assert sim.pid() == pid

    res = sim.control("restarted")
    assert res["changed"] and res["stop_s"] > 0 and res["start_s"] > 0
    assert sim.pid() not in (None, pid)
    with open(sim.log) as f:
        assert "got SIGTERM" in f.read()

    res = sim.control("stopped")
    assert res["changed"] and res["running"] is False and sim.pid() is None
    assert res["status"] == "exit 3: gateway_sim: stopped"
    again = sim.control("stopped")
    assert not again["changed"] and again["stop_s"] is None and len(again["commands"]) == 1


def test_command_manager_timeouts_and_failures(sim):
    assert sim.pid() is None
    # a start command that does nothing: the status never says running
    err = pytest.raises(MemoryToolError, sim.control, "started", start_command="true", timeout=0.5).value
    assert err.msg == ("the gateway (command) is not running 0.5 s after it was started (last status: exit 3: "
                       "gateway_sim: stopped); read its log (the start command output: none), or raise "
                       "openclaw_gateway_timeout (timeout)")
    # a start that fails: its output (the simulator's log tail) is in the message
    bad = sim.options["start_command"].replace("--dims 4", "--dims 4 --plugin memory-lancedb-pro")
    err = pytest.raises(MemoryToolError, sim.control, "started", start_command=bad).value
    assert err.msg.startswith("the gateway start command `%s` failed (exit 1: " % bad)
    assert "failed to start (exited with code 1)" in err.msg and "not the memory-lancedb-pro schema" in err.msg
    assert err.msg.endswith("read its log (the start command output) and fix what it says.")
    assert sim.pid() is None
    # a stop command that does nothing while the gateway runs
    assert sim.control("started")["running"]
    pid = sim.pid()
    err = pytest.raises(MemoryToolError, sim.control, "stopped", stop_command="true", timeout=0.5).value
    assert err.msg == ("the gateway (command) still runs 0.5 s after it was told to stop (last status: exit 0: "
                       "gateway_sim: running (pid %d)); find out what keeps it alive, or raise "
                       "openclaw_gateway_timeout (timeout)" % pid)
    # a status command that cannot run, and one that answers 5: nothing is stopped
    err = pytest.raises(MemoryToolError, sim.control, "stopped", status_command="/nonexistent/gw status").value
    assert "`/nonexistent/gw status` gave no clear answer (could not run: No such file or directory: " in err.msg
    err = pytest.raises(MemoryToolError, sim.control, "stopped", status_command="sh -c 'exit 5'").value
    assert err.msg.startswith("the gateway status command `sh -c 'exit 5'` gave no clear answer (exit 5); 0 means "
                              "running and 3 stopped")
    assert err.details["commands"] == [["sh", "-c", "exit 5"]]
    assert sim.pid() == pid
    # a status command that hangs is killed after the timeout
    t0 = time.monotonic()
    err = pytest.raises(MemoryToolError, sim.control, "stopped", status_command="sleep 30", timeout=0.5).value
    assert time.monotonic() - t0 < 10
    assert "`sleep 30` gave no clear answer (did not return within 0.5 s (killed))" in err.msg
    assert sim.control("stopped")["changed"] and sim.pid() is None


# --------------------------------------------------------------------------- the module through Ansible


def _ansible(args, check=False):
    env = ansible_env(**JSON_OUTPUT)
    cmd = [ANSIBLE, "localhost", "-c", "local", "-e", "ansible_python_interpreter=" + PYTHON,
           "-m", "openclaw.memory.openclaw_gateway", "-a", json.dumps(args)] + (["--check"] if check else [])
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
    data, _end = json.JSONDecoder().raw_decode(out.stdout[out.stdout.index("{"):])  # profile_tasks prints after
    return out, data["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_module_through_ansible(sim):
    assert os.path.exists(ANSIBLE), "no ansible in the venv; run make venv"
    assert sim.pid() is None
    args = dict(sim.options, state="started")
    out, res = _ansible(args, check=True)
    assert out.returncode == 0 and res["changed"] and res["running"] is True and sim.pid() is None
    assert len(res["commands"]) == 1
    out, res = _ansible(args)
    assert out.returncode == 0, out.stdout[-3000:]
    pid = sim.pid()
    assert pid and res["changed"] and res["was_running"] is False and res["running"] is True
    # (the json callback writes the module's name over a result's `action`; a registered result keeps "start")
    assert res["manager"] == "command" and res["unit"] is None
    assert res["start_s"] > 0 and res["stop_s"] is None and res["status"].startswith("exit 0: gateway_sim: running")
    out, res = _ansible(args)
    assert out.returncode == 0 and not res["changed"] and sim.pid() == pid
    out, res = _ansible(dict(args, state="stopped"))
    assert out.returncode == 0 and res["changed"] and res["running"] is False and sim.pid() is None
    out, res = _ansible(dict(args, state="stopped", status_command="sh -c 'exit 5'"))
    assert out.returncode != 0 and res["failed"]
    assert res["msg"].startswith("the gateway status command `sh -c 'exit 5'` gave no clear answer (exit 5)")
    assert SECRET not in out.stdout and SECRET not in out.stderr  # no_log: the environment's values never show


def test_module_doc_renders():
    assert os.path.exists(ANSIBLE_DOC), "no ansible-doc in the venv; run make venv"
    env = ansible_env()
    out = subprocess.run([ANSIBLE_DOC, "openclaw.memory.openclaw_gateway"], capture_output=True, text=True, env=env,
                         cwd=REPO, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "OPTIONS" in out.stdout and "RETURN VALUES" in out.stdout and "poll_interval" in out.stdout


def test_role_is_one_module_call_and_sets_the_same_fact(fakes, tmp_path):
    """The role's fact keeps its keys and meaning; one stop or start is one module task."""
    fakes.profile(running=True)
    facts_file = tmp_path / "facts.json"
    play = tmp_path / "play.yml"
    plays = []  # one play per action (the role's fact is per host: each play notes it before the next)
    for action, check in (("status", False), ("restart", False), ("stop", False), ("stop", False), ("start", True),
                          ("start", False)):
        plays.append(ROLE_PLAY.format(action=action, check=str(check).lower(), cli=os.path.join(fakes.bin, "openclaw"),
                                      secret=SECRET))
    plays.append(SAVE_PLAY.format(out=facts_file))
    play.write_text("".join(plays))
    env = ansible_env()
    out = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local",
                          "-e", "ansible_python_interpreter=" + PYTHON, str(play)], env=env, capture_output=True,
                         text=True, cwd=REPO, timeout=600, check=False)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert SECRET not in out.stdout
    with open(facts_file) as f:
        runs = json.load(f)
    keys = {"manager", "unit", "action", "was_running", "running", "changed", "stopped_at", "started_at"}
    for run in runs:
        assert set(run) - {"before", "after"} == keys
        assert run["manager"] == "openclaw_cli" and run["unit"] is None
    status, restart, stop, stop_again, check_start, start = runs
    assert status["action"] == "status" and status["running"] is True and not status["changed"]
    assert status["stopped_at"] is None and status["started_at"] is None
    # restart: stopped_at just before the module task, started_at right after it
    assert restart["action"] == "restart" and restart["changed"] and restart["was_running"] and restart["running"]
    assert restart["before"] <= restart["stopped_at"] < restart["started_at"] <= restart["after"]
    assert stop["changed"] and stop["running"] is False and stop["started_at"] is None
    assert stop["before"] <= stop["stopped_at"] <= stop["after"]
    assert not stop_again["changed"] and stop_again["stopped_at"] is None and stop_again["was_running"] is False
    # check mode: what would happen, nothing done (the next, real start still finds it stopped)
    assert check_start["changed"] and check_start["running"] is True and check_start["started_at"] is not None
    assert start["changed"] and start["was_running"] is False and start["running"] is True
    assert start["before"] <= start["started_at"] <= start["after"] and start["stopped_at"] is None
    assert fakes.load()["profiles"]["default"]["running"] is True
    # each action is the role's argument check + its 3 tasks (time, the module, the fact)
    role_tasks = [line for line in out.stdout.splitlines() if line.startswith("TASK [openclaw.memory.gateway : ")]
    assert len(role_tasks) == 6 * 4, role_tasks
    assert sum("Act on the gateway and wait until it is down or up" in line for line in role_tasks) == 6


ROLE_PLAY = """
- name: Gateway {action}
  hosts: localhost
  gather_facts: false
  check_mode: {check}
  tasks:
    - name: Note the control node's time
      ansible.builtin.set_fact:
        before: "{{{{ now(utc=true, fmt='%s.%f') | float }}}}"
    - name: Act on the gateway
      ansible.builtin.include_role:
        name: openclaw.memory.gateway
      vars:
        openclaw_gateway_action: {action}
        openclaw_gateway_manager: openclaw_cli
        openclaw_gateway_cli: "{cli}"
        openclaw_gateway_poll_interval: 0.05
        openclaw_gateway_environment: {{GW_SECRET: "{secret}"}}
    - name: Keep the fact
      ansible.builtin.set_fact:
        runs: "{{{{ (runs | default([])) + [openclaw_gateway | combine({{'before': before | float,
                   'after': now(utc=true, fmt='%s.%f') | float}})] }}}}"
"""

SAVE_PLAY = """
- name: Save the facts
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write them for the test
      ansible.builtin.copy:
        content: "{{{{ runs | to_json }}}}"
        dest: "{out}"
        mode: "0600"
"""


def test_role_bad_inputs_fail_with_the_variable_named_before_anything_runs(tmp_path):
    """The role has no check of its own: the module's, naming the role's variables, comes before any command."""
    ran = tmp_path / "ran"
    play = tmp_path / "play.yml"
    result = tmp_path / "result.json"
    play.write_text(
        "- name: Gateway with bad inputs\n  hosts: localhost\n  gather_facts: false\n  roles:\n"
        "    - role: openclaw.memory.gateway\n      openclaw_gateway_action: stop\n")
    touch = "touch %s" % ran
    out, _fact = run_play(play, tmp_path, {
        "openclaw_gateway_manager": "command", "openclaw_gateway_stop_command": touch,
        "openclaw_gateway_status_command": touch}, result)
    text = " ".join(out.stdout.split())
    assert out.returncode != 0
    assert "manager is 'command' but start_command / stop_command / status_command are not all set" in text
    assert "openclaw_gateway_start_command" in text
    out, _fact = run_play(play, tmp_path, {
        "openclaw_gateway_manager": "command", "openclaw_gateway_start_command": touch,
        "openclaw_gateway_stop_command": touch, "openclaw_gateway_status_command": touch,
        "openclaw_gateway_timeout": 0}, result)
    text = " ".join(out.stdout.split())
    assert out.returncode != 0 and "must be positive seconds (openclaw_gateway_timeout" in text
    assert not ran.exists()  # no status probe, no stop
