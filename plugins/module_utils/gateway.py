# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OpenClaw gateway through its service manager: status, stop, start, restart, waiting until it is down or up.

Plain Python (no Ansible): the openclaw_gateway module is a thin shell around `control()`, and the gateway role
is one call of that module per action (it used to be ~25 tasks, each with its own round trip, on the critical
path of a migration's downtime window).

Managers:
  systemd_user  the gateway user's unit `openclaw-gateway[-<profile>].service`: `systemctl --user show|stop|start`
                run as that user, pointed at its user manager (XDG_RUNTIME_DIR=/run/user/<uid>,
                DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/<uid>/bus; it must be running: enable-linger);
  systemd       a system unit (default `openclaw`): `systemctl show|stop|start`;
  openclaw_cli  `<cli> gateway status|stop|start [--profile P]`, run as the gateway user;
  command       three command lines of your own, split like ansible.builtin.command does (no shell), run as
                this process's user;
  none          nothing manages the gateway: nothing runs, its state is unknown (None).

Running: systemd - ActiveState active, activating, reloading, deactivating or refreshing; down when ActiveState
is inactive or failed and MainPID=0; up when ActiveState=active. Commands - exit 0 running (and up), an exit
code of `stopped_rcs` stopped; anything else (or a command that cannot run) is no clear answer, which fails
before anything is stopped or started, and is only "not yet" while waiting.

Values of `environment` may be secrets: they are never returned, and every text this code returns or raises
(command output included) has them masked.
"""

from __future__ import annotations

import os
import pwd
import shlex
import subprocess
import tempfile
import time

from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError, check_profile, one_line

MANAGERS = ("systemd_user", "systemd", "openclaw_cli", "command", "none")
# The module's `state` -> the role's `openclaw_gateway_action` (what the result calls `action`).
STATES = {"status": "status", "stopped": "stop", "started": "start", "restarted": "restart"}
SYSTEMD_PROPS = "LoadState,ActiveState,SubState,MainPID"
# systemd ActiveState values that mean "the gateway runs (or is on its way up or down)".
ACTIVE_STATES = ("active", "activating", "reloading", "deactivating", "refreshing")
DOWN_STATES = ("inactive", "failed")
DEFAULT_STOPPED_RCS = (3,)
RUN_USER_BASE = "/run/user"
MASK = "********"
STATUS_MAX = 300  # characters of a status or command output kept in results and messages


# The options of the openclaw_gateway module but `state`: also the `gateway` suboptions of openclaw_cutover.
ARGUMENT_SPEC = {
    "manager": {"type": "str", "choices": list(MANAGERS), "default": "systemd_user"},
    "user": {"type": "str"},
    "profile": {"type": "str"},
    "unit": {"type": "str"},
    "cli": {"type": "str", "default": "openclaw"},
    "start_command": {"type": "str"},
    "stop_command": {"type": "str"},
    "status_command": {"type": "str"},
    "stopped_rcs": {"type": "list", "elements": "int", "default": list(DEFAULT_STOPPED_RCS)},
    "environment": {"type": "dict", "default": {}, "no_log": True},
    "timeout": {"type": "float", "default": 60.0},
    "poll_interval": {"type": "float", "default": 0.2},
}


def _cmdline(argv):
    return shlex.join(argv)


class Probe:
    """One answer of the status command: exit code (None when it could not run) and what it means."""

    def __init__(self, gw, rc, out, err, error):
        self.rc = rc
        self.out = out
        self.err = err
        self.error = error
        self.props = {}
        if gw.systemd:
            for line in out.splitlines():
                key, sep, value = line.strip().partition("=")
                if sep:
                    self.props[key] = value
            active = self.props.get("ActiveState")
            self.clear = rc == 0
            self.running = active in ACTIVE_STATES
            self.down = active in DOWN_STATES and self.props.get("MainPID") == "0"
            self.up = active == "active"
            self.missing = self.props.get("LoadState") == "not-found"
        else:
            self.clear = rc is not None and (rc == 0 or rc in gw.stopped_rcs)
            self.running = self.up = rc == 0
            self.down = rc is not None and rc in gw.stopped_rcs
            self.missing = False
        self.summary = gw.redact(self._summary(gw))

    def _summary(self, gw):
        if self.error:
            return self.error
        if gw.systemd and self.rc == 0:
            return one_line(self.out, STATUS_MAX)
        output = one_line(self.out + " " + self.err, STATUS_MAX)
        return "exit %s: %s" % (self.rc, output) if output else "exit %s" % self.rc


class Gateway:
    """One gateway on this host and how its manager is driven; `apply(action)` does the work."""

    def __init__(self, manager="systemd_user", user=None, profile=None, unit=None, cli="openclaw",
                 start_command=None, stop_command=None, status_command=None, stopped_rcs=DEFAULT_STOPPED_RCS,
                 environment=None, timeout=60.0, poll_interval=0.2, run_user_base=RUN_USER_BASE):
        if manager not in MANAGERS:
            raise MemoryToolError("manager %r is not one of %s (openclaw_gateway_manager); choose how the gateway "
                                  "is managed on this host" % (manager, ", ".join(MANAGERS)))
        try:
            timeout, poll_interval = float(timeout), float(poll_interval)
            ok = timeout > 0 and poll_interval > 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise MemoryToolError("timeout (%s) and poll_interval (%s) must be positive seconds "
                                  "(openclaw_gateway_timeout, openclaw_gateway_poll_interval)"
                                  % (timeout, poll_interval))
        check_profile(profile, "set openclaw_gateway_profile (profile) to the name the gateway runs with")
        self.manager = manager
        self.systemd = manager in ("systemd", "systemd_user")
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.stopped_rcs = tuple(int(rc) for rc in (DEFAULT_STOPPED_RCS if stopped_rcs is None else stopped_rcs))
        environment = {str(k): "" if v is None else str(v) for k, v in (environment or {}).items()}
        # Longest first, so that a value containing another is masked whole.
        self.secrets = sorted({v for v in environment.values() if v}, key=len, reverse=True)
        self.env = dict(os.environ, **environment)
        self.commands = []
        self.polls = 0
        self.runas = None
        self.unit = None
        self.argv = {}
        if manager == "none":
            return
        if self.systemd:
            self.unit = unit or ("openclaw-gateway%s.service" % ("-" + profile if profile else "")
                                 if manager == "systemd_user" else "openclaw")
        if manager in ("systemd_user", "openclaw_cli"):
            self.runas = self._run_as(user, manager)
        if manager == "systemd_user":
            self._user_bus(user, run_user_base)
        self.argv = self._commands(cli, profile, start_command, stop_command, status_command)

    # ------------------------------------------------------------------ setup

    def _run_as(self, user, manager):
        """The passwd entry to switch to, or None when the commands run as this process's user."""
        if not user:
            return None
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            raise MemoryToolError("User '%s' (openclaw_gateway_user) does not exist on this host; set it to the "
                                  "account that runs the OpenClaw gateway, or leave it empty to run the %s "
                                  "commands as the connection's user" % (user, manager))
        if pw.pw_uid == os.geteuid():
            return None
        if os.geteuid() != 0:
            me = _user_name(os.geteuid())
            raise MemoryToolError("The %s commands must run as the gateway user '%s' (openclaw_gateway_user), but "
                                  "this runs as '%s' (uid %d), which cannot switch users; run the task with "
                                  "become: true (the gateway role does when openclaw_gateway_user is set), or "
                                  "connect as '%s'" % (manager, user, me, os.geteuid(), user))
        return pw

    def _user_bus(self, user, run_user_base):
        """Point systemctl --user at the gateway user's manager; fail when that manager is not running."""
        uid = self.runas.pw_uid if self.runas else os.geteuid()
        name = user or _user_name(uid)
        runtime = os.path.join(run_user_base, str(uid))
        bus = os.path.join(runtime, "bus")
        if not os.path.exists(bus):
            raise MemoryToolError(
                "The systemd user manager of '%s' (uid %d) is not running (no %s), so its %s cannot be controlled; "
                "run `loginctl enable-linger %s`, or set openclaw_gateway_manager (manager) to how the gateway "
                "really runs" % (name, uid, bus, self.unit, name))
        self.env["XDG_RUNTIME_DIR"] = runtime
        self.env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + bus

    def _commands(self, cli, profile, start_command, stop_command, status_command):
        if self.systemd:
            base = ["systemctl"] + (["--user"] if self.manager == "systemd_user" else [])
            return {"status": base + ["show", "--property=" + SYSTEMD_PROPS, self.unit],
                    "stop": base + ["stop", self.unit], "start": base + ["start", self.unit]}
        if self.manager == "openclaw_cli":
            prog = self._split(cli or "openclaw", "cli", "openclaw_gateway_cli")
            extra = ["--profile", profile] if profile else []
            return {action: prog + ["gateway", action] + extra for action in ("status", "stop", "start")}
        given = {"start": start_command or "", "stop": stop_command or "", "status": status_command or ""}
        if not all(given.values()):
            raise MemoryToolError(
                "manager is 'command' but start_command / stop_command / status_command are not all set "
                "(start='%s', stop='%s', status='%s'); set all three (openclaw_gateway_start_command, "
                "_stop_command, _status_command), or choose another manager"
                % tuple(self.redact(given[k]) for k in ("start", "stop", "status")))
        return {k: self._split(v, "%s_command" % k, "openclaw_gateway_%s_command" % k) for k, v in given.items()}

    def _split(self, line, option, variable):
        """A command line as ansible.builtin.command splits it (shlex, no shell)."""
        try:
            argv = shlex.split(line)
        except ValueError as e:
            raise MemoryToolError("%s (%s) '%s' cannot be split into arguments (%s); quote it the way a shell "
                                  "would, without pipes or redirections" % (option, variable, self.redact(line), e))
        if not argv:
            raise MemoryToolError("%s (%s) is empty; give the command line" % (option, variable))
        return argv

    # ------------------------------------------------------------------ running commands

    def redact(self, text):
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def run(self, argv, record=True):
        """(rc, stdout, stderr, error) of one command; rc is None and error says why when it could not run.

        Output goes to temp files, not pipes: a daemon the command leaves behind holding its stdout does not
        keep us waiting. A command that runs longer than `timeout` is killed.
        """
        if record:
            self.commands.append(list(argv))
        kwargs = {}
        if self.runas:
            pw = self.runas
            kwargs = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": os.getgrouplist(pw.pw_name, pw.pw_gid),
                      "cwd": pw.pw_dir if os.path.isdir(pw.pw_dir) else "/",
                      "env": dict(self.env, HOME=pw.pw_dir, USER=pw.pw_name, LOGNAME=pw.pw_name)}
        else:
            kwargs["env"] = self.env
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, **kwargs)
            except OSError as e:
                return None, "", "", "could not run: %s: '%s'" % (e.strerror or e, e.filename or argv[0])
            error = None
            try:
                rc = proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                rc, error = None, "did not return within %g s (killed)" % self.timeout
            out.seek(0)
            err.seek(0)
            return (rc, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"), error)

    def probe(self, strict=True, record=True):
        """The gateway's state now; with `strict`, an answer that is neither running nor stopped fails."""
        p = Probe(self, *self.run(self.argv["status"], record=record))
        if strict and not p.clear:
            if self.systemd:
                meaning = "`systemctl show` exits 0 for any unit name, even one that does not exist"
            else:
                meaning = "0 means running and %s stopped (openclaw_gateway_stopped_rcs)" % (
                    "/".join(str(rc) for rc in self.stopped_rcs) or "no code")
            raise MemoryToolError(
                "the gateway status command `%s` gave no clear answer (%s); %s. Check openclaw_gateway_manager "
                "(%s), openclaw_gateway_cli or openclaw_gateway_status_command; nothing was stopped or started."
                % (self.redact(_cmdline(self.argv["status"])), p.summary, meaning, self.manager),
                **self.details())
        return p

    def wait(self, done):
        """Poll the status every `poll_interval` s until done(probe) or `timeout` s; the last probe."""
        deadline = time.monotonic() + self.timeout
        first = True
        while True:
            p = self.probe(strict=False, record=first)
            first = False
            self.polls += 1
            if done(p):
                return p
            left = deadline - time.monotonic()
            if left <= 0:
                return p
            time.sleep(min(self.poll_interval, left))

    def details(self, **extra):
        """What happened so far, for a failure's result (no environment values)."""
        out = {"manager": self.manager, "unit": self.unit, "commands": self.commands, "polls": self.polls}
        out.update(extra)
        return redact_all(out, self.redact)

    # ------------------------------------------------------------------ actions

    @property
    def label(self):
        return "%s %s" % (self.manager, self.unit) if self.systemd else self.manager

    @property
    def log_hint(self):
        if self.manager == "systemd_user":
            return "journalctl --user -u " + self.unit
        if self.manager == "systemd":
            return "journalctl -u " + self.unit
        return "the start command output"

    def _issue(self, action, was_running):
        """Run the stop or start command; fails when it exits non-zero or cannot run. Its output, on one line."""
        argv = self.argv[action]
        rc, out, err, error = self.run(argv)
        output = one_line(self.redact(out + " " + err), 2 * STATUS_MAX, middle=True)
        if rc != 0:
            why = error or "exit %s" % rc
            if action == "stop":
                after = ("it was running before and may still run; fix what the output says, or check "
                         "openclaw_gateway_manager (%s)" % self.manager)
            else:
                after = "read its log (%s) and fix what it says" % self.log_hint
            raise MemoryToolError(
                "the gateway %s command `%s` failed (%s%s); %s." % (
                    action, self.redact(_cmdline(argv)), self.redact(why), (": " + output) if output else "", after),
                **self.details(changed=True, was_running=was_running))
        return output

    def stop(self, was_running):
        t0 = time.monotonic()
        self._issue("stop", was_running)
        p = self.wait(lambda p: p.down)
        if not p.down:
            raise MemoryToolError(
                "the gateway (%s) still runs %g s after it was told to stop (last status: %s); find out what "
                "keeps it alive, or raise openclaw_gateway_timeout (timeout)" % (self.label, self.timeout, p.summary),
                **self.details(changed=True, was_running=was_running, status=p.summary))
        return round(time.monotonic() - t0, 3), p

    def start(self, was_running):
        t0 = time.monotonic()
        output = self._issue("start", was_running)
        p = self.wait(lambda p: p.up)
        if not p.up:
            where = self.log_hint
            if not self.systemd:
                where += ": " + (output or "none")
            raise MemoryToolError(
                "the gateway (%s) is not running %g s after it was started (last status: %s); read its log "
                "(%s), or raise openclaw_gateway_timeout (timeout)" % (self.label, self.timeout, p.summary, where),
                **self.details(changed=True, was_running=was_running, status=p.summary))
        return round(time.monotonic() - t0, 3), p

    def apply(self, action, check_mode=False):
        """Do `action` (status, stop, start, restart); the result dict (see the module's RETURN)."""
        if action not in STATES.values():
            raise MemoryToolError("action %r is not one of %s" % (action, ", ".join(STATES.values())))
        result = {"manager": self.manager, "unit": self.unit, "action": action, "was_running": None,
                  "running": None, "changed": False, "stop_s": None, "start_s": None, "status": None,
                  "commands": self.commands, "polls": 0}
        if self.manager == "none":
            result["status"] = "unknown: manager none, nothing manages the gateway here"
            if action != "status":
                result["msg"] = "openclaw_gateway_manager is none: the gateway was not %s." % (
                    {"stop": "stopped", "start": "started", "restart": "restarted"}[action])
            return result
        p = self.probe()
        running = p.running
        result.update(was_running=running, status=p.summary)
        if p.missing and action != "status":
            raise MemoryToolError(
                "unit %s does not exist (%s scope); set openclaw_gateway_unit, openclaw_gateway_profile or "
                "openclaw_gateway_manager (unit, profile, manager) to how the gateway really runs"
                % (self.unit, "user" if self.manager == "systemd_user" else "system"),
                **self.details(status=p.summary))
        if action in ("stop", "restart") and running:
            result["changed"] = True
            if not check_mode:
                result["stop_s"], p = self.stop(result["was_running"])
                result["status"] = p.summary
            running = False
        if action in ("start", "restart") and not running:
            result["changed"] = True
            if not check_mode:
                result["start_s"], p = self.start(result["was_running"])
                result["status"] = p.summary
            running = True
        result["running"] = running
        result["polls"] = self.polls
        return redact_all(result, self.redact)


def _user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "uid %d" % uid


def redact_all(value, redact):
    """`value` with `redact` applied to every string in it (dicts, lists)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_all(v, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_all(v, redact) for v in value]
    return value


def control(state="status", check_mode=False, **options):
    """Bring the gateway to `state` (status, stopped, started, restarted) with the options of Gateway.

    Returns dict(manager, unit, action, was_running, running, changed, stop_s, start_s, status, commands, polls
    [, msg]); raises MemoryToolError (with what was done so far as details) when the gateway's state is unclear
    or it does not go down or come up in time. In check mode only the status command runs: `changed` and
    `running` say what would happen.
    """
    if state not in STATES:
        raise MemoryToolError("state %r is not one of %s" % (state, ", ".join(STATES)))
    return Gateway(**options).apply(STATES[state], check_mode=check_mode)
