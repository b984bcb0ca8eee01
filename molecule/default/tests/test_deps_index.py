"""openclaw_deps_source=index: the host installs from a package index itself.

The lab hosts have no internet, so the control node serves a PEP 503 simple
index (built from the cached wheelhouse) on the lab bridge, 10.77.0.1, and the
role installs into a second venv on `old` from there."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

CACHE = Path(os.path.expanduser("~/.cache/openclaw-memory/wheelhouse"))
VENV = "/opt/ocm-index-venv"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture
def index_url(tmp_path):
    tars = sorted(CACHE.glob("*/wheelhouse.tar"))
    assert tars, f"no cached wheelhouse under {CACHE}: converge builds it"
    files = tmp_path / "files"
    with tarfile.open(tars[0]) as tar:
        tar.extractall(files, filter="data")
    simple = tmp_path / "simple"
    projects: dict[str, list[str]] = {}
    for whl in sorted(files.glob("*.whl")):
        projects.setdefault(_norm(whl.name.split("-", 1)[0]), []).append(whl.name)
    for project, wheels in projects.items():
        (simple / project).mkdir(parents=True)
        links = "".join(f'<a href="../../files/{w}">{w}</a>\n' for w in wheels)
        (simple / project / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    server = subprocess.Popen(
        ["ip", "netns", "exec", "ocm-ctl", "python3", "-m", "http.server", "--bind", "10.77.0.1", "8765"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while subprocess.run(["ip", "netns", "exec", "ocm-ctl", "nc", "-z", "10.77.0.1", "8765"], check=False).returncode:
        assert time.monotonic() < deadline, "index server did not start"
        time.sleep(0.1)
    yield "http://10.77.0.1:8765/simple"
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=10)


def test_index_source_installs_on_the_host(run_role, lab_host, index_url, pins):
    host = lab_host("old")
    try:
        args = {
            "openclaw_deps_source": "index",
            "openclaw_deps_index_url": index_url,
            "openclaw_deps_venv_dir": VENV,
            "openclaw_deps_pip_extra_args": ["--trusted-host", "10.77.0.1"],
        }
        rc, out = run_role("old", **args)
        assert rc == 0, out
        version = host.check_output(f"{VENV}/bin/python -c 'import lancedb; print(lancedb.__version__)'")
        assert version == pins["lancedb"]
        rc, out = run_role("old", **args)
        assert rc == 0, out
        assert re.search(r"old\s+: ok=\d+\s+changed=0 ", out), out
    finally:
        host.run(f"rm -rf {VENV}")
