"""Helpers for the migrate scenario's tests (run by molecule's verifier, testinfra)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import testinfra

REPO = Path(__file__).resolve().parents[3]
SCENARIO = Path(__file__).resolve().parents[1]
VENV_PY = "/opt/openclaw-memory/venv/bin/python"
DB = "/home/node/.openclaw/memory/lancedb"
EVIDENCE_DIR = "/var/lib/openclaw-memory"
GW = f"PYTHONPATH=/opt/ocmlab {VENV_PY} -m ocmlab.gateway_sim"
# Faster runs after converge: the venv is there; the tests pass its python instead of running deps again.
FAST = {"openclaw_migrate_deps": False, "openclaw_memory_python": VENV_PY}


@pytest.fixture(scope="session")
def inventory(request) -> str:
    inv = request.config.getoption("ansible_inventory")
    assert inv, "run through molecule (verifier options set ansible-inventory)"
    return inv


@pytest.fixture(scope="session")
def report_dir() -> Path:
    eph = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    assert eph, "run through molecule (MOLECULE_EPHEMERAL_DIRECTORY)"
    return Path(eph) / "migration-reports"


class Lab:
    def __init__(self, inventory):
        self.inventory = inventory
        self._hosts = {}

    def host(self, name):
        if name not in self._hosts:
            self._hosts[name] = testinfra.get_host(f"ansible://{name}", ansible_inventory=self.inventory)
        return self._hosts[name]

    def playbook(self, playbook, limit=None, extra=None, callback=None, check=False, forks=None):
        """Run a playbook against the lab (with --check when `check`, --forks when `forks`); returns (rc, output)."""
        argv = ["ansible-playbook", "-i", self.inventory, str(playbook)] + (["--check"] if check else [])
        if forks:
            argv += ["--forks", str(forks)]
        if limit:
            argv += ["--limit", limit]
        if extra:
            argv += ["-e", json.dumps(extra)]
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
        if callback:
            env["ANSIBLE_STDOUT_CALLBACK"] = callback
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, stdin=subprocess.DEVNULL,
                              cwd=str(REPO), timeout=1800)
        return proc.returncode, proc.stdout + proc.stderr

    def migrate(self, limit=None, check=False, **extra):
        return self.playbook(REPO / "playbooks/migrate.yml", limit, dict(FAST, **extra), check=check)

    def reset(self, limit, **extra):
        rc, out = self.playbook(SCENARIO.parent / "shared" / "openclaw_state.yml", limit, extra or None)
        assert rc == 0, out[-3000:]

    # ------------------------------------------------------------------ reading the hosts

    def gateway_pid(self, name):
        """pid of the running gateway simulator, else None."""
        h = self.host(name)
        if h.run(f"{GW} status --pidfile /run/ocmlab-gateway.pid").rc != 0:
            return None
        return int(h.file("/run/ocmlab-gateway.pid").content_string.split()[0])

    def evidence(self, name, pair):
        f = self.host(name).file(f"{EVIDENCE_DIR}/migration-{pair}.json")
        return json.loads(f.content_string) if f.exists else None

    def evidence_files(self, name):
        out = self.host(name).run(f"ls {EVIDENCE_DIR}/ 2>/dev/null").stdout.split()
        return [n for n in out if n.startswith("migration-")]

    def db_digest(self, name, path=DB):
        """One sha256 over every file (relative path + content) of a database dir."""
        cmd = f"cd {path} && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum"
        r = self.host(name).run(cmd)
        assert r.rc == 0, r.stderr
        return r.stdout.split()[0]

    def count(self, name, path=DB):
        r = self.host(name).run(f"{VENV_PY} -c \"import lance,sys; print(lance.dataset(sys.argv[1]).count_rows())\" "
                                f"{path}/memories.lance")
        assert r.rc == 0, r.stderr
        return int(r.stdout.strip())


@pytest.fixture(scope="session")
def lab(inventory):
    return Lab(inventory)


def recap(output):
    """{host: {ok, changed, failed, ...}} from the PLAY RECAP."""
    out = {}
    for m in re.finditer(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output, re.M):
        out[m.group(1)] = {"ok": int(m.group(2)), "changed": int(m.group(3)), "unreachable": int(m.group(4)),
                           "failed": int(m.group(5))}
    return out


def latest_report(report_dir):
    files = sorted(report_dir.glob("migration-*.json"), key=lambda p: p.stat().st_mtime)
    assert files, f"no report in {report_dir}"
    return json.loads(files[-1].read_text()), files[-1]
