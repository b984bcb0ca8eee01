"""Helpers for the deps scenario's testinfra tests (run by molecule's verifier)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import testinfra

REPO = Path(__file__).resolve().parents[3]
PINS_FILE = REPO / "roles/deps/files/requirements-host.txt"


@pytest.fixture(scope="session")
def inventory(request) -> str:
    inv = request.config.getoption("ansible_inventory")
    assert inv, "run through molecule (verifier options set ansible-inventory)"
    return inv


@pytest.fixture(scope="session")
def lab_host(inventory):
    """Any lab host by name, independent of the host parametrization."""

    def get(name: str):
        return testinfra.get_host(f"ansible://{name}", ansible_inventory=inventory)

    return get


@pytest.fixture(scope="session")
def pins() -> dict[str, str]:
    out = {}
    for line in PINS_FILE.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[name.strip().lower()] = version.strip()
    return out


@pytest.fixture(scope="session")
def run_role(inventory, tmp_path_factory):
    """Run openclaw.memory.deps with extra vars against the lab; return (rc, output)."""
    playbook = tmp_path_factory.mktemp("deps") / "deps.yml"
    playbook.write_text(
        "- name: Run the deps role\n  hosts: all\n  gather_facts: false\n  roles:\n    - role: openclaw.memory.deps\n"
    )

    def run(limit: str, **extra: object) -> tuple[int, str]:
        argv = ["ansible-playbook", "-i", inventory, "--limit", limit, str(playbook), "-e", json.dumps(extra)]
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, stdin=subprocess.DEVNULL)
        return proc.returncode, proc.stdout + proc.stderr

    return run
