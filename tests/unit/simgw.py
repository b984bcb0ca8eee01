# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helpers: the lab's gateway simulator on a local database, driven the way the `command` manager drives it,
and ansible-playbook on localhost with a vars file, returning what the play saved as JSON."""

from __future__ import annotations

import json
import os
import subprocess

from repo_env import ANSIBLE_PLAYBOOK, PYTHON, REPO, ansible_env

SIM_ENV = {"PYTHONPATH": os.pathsep.join([os.path.join(REPO, "tools"), os.path.join(REPO, ".collections")])}


class Sim:
    """ocmlab.gateway_sim writing into `db` (one memory per commit, `rate` per second); its pid file and log in
    `base`."""

    def __init__(self, db, base, dims=16, rate=20):
        self.db = db
        self.base = base
        self.dims = dims
        self.rate = rate
        self.pidfile = str(base / "sim.pid")
        self.log = str(base / "sim.log")
        self.prog = "%s -m ocmlab.gateway_sim" % PYTHON

    def cmd(self, action):
        if action == "start":
            return "%s start --db %s --dims %d --rate %d --pidfile %s --log %s" % (
                self.prog, self.db, self.dims, self.rate, self.pidfile, self.log)
        return "%s %s --pidfile %s" % (self.prog, action, self.pidfile)

    def __call__(self, action):
        return subprocess.run(self.cmd(action).split(), env=dict(os.environ, **SIM_ENV), capture_output=True,
                              text=True, timeout=120, check=False)

    def running(self):
        return self("status").returncode == 0

    def pid(self):
        with open(self.pidfile) as f:
            return int(f.read().split()[0])

    def options(self, **extra):
        """The openclaw_gateway module's options for it."""
        return dict(dict(manager="command", start_command=self.cmd("start"), stop_command=self.cmd("stop"),
                         status_command=self.cmd("status"), environment=SIM_ENV, timeout=30), **extra)

    def role_vars(self):
        """The gateway role's openclaw_gateway_* variables for it."""
        return {"openclaw_gateway_" + k: v for k, v in self.options().items()}


def run_play(play, base, evars, result, check=False):
    """ansible-playbook `play` on localhost with `evars`; (CompletedProcess, the JSON the play wrote to `result` or
    None)."""
    varfile = base / "vars.json"
    varfile.write_text(json.dumps(dict(evars, openclaw_memory_python=PYTHON)))
    if result.exists():
        result.unlink()
    env = ansible_env()
    cmd = [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + PYTHON,
           "-e", "@" + str(varfile), str(play)] + (["--check"] if check else [])
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO, timeout=600, check=False)
    return out, (json.loads(result.read_text()) if result.exists() else None)
