"""ocmlab.gateway_sim: a real background process that keeps adding memories one row per commit."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import lance
import pytest
from ocmlab import fixtures as F
from ocmlab import gateway_sim as G

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "tools"), os.path.join(ROOT, ".collections")]))


def sim(*args, timeout=90):
    return subprocess.run([sys.executable, "-m", "ocmlab.gateway_sim", *map(str, args)], env=ENV,
                          capture_output=True, text=True, timeout=timeout, check=False)


def count(db):
    return lance.dataset(os.path.join(db, "memories.lance")).count_rows()


def wait_for(pred, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


@pytest.fixture
def paths(tmp_path):
    """pid file and log paths; whatever the test leaves running is stopped (by its pid) afterwards."""
    p = {"pidfile": str(tmp_path / "run" / "gw.pid"), "log": str(tmp_path / "gw.log")}
    yield p
    pid = G.read_pid(p["pidfile"])
    if G.is_simulator(pid):
        os.kill(pid, signal.SIGKILL)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_start_status_stop_with_a_real_writer(tmp_path, paths):
    res = F.build_state(tmp_path / "h", n=5, dims=8, seed=1)
    db = res["db_path"]
    out = sim("start", "--db", db, "--rate", 20, "--pidfile", paths["pidfile"], "--log", paths["log"])
    assert out.returncode == 0, out.stderr
    assert "started (pid" in out.stdout
    pid = G.read_pid(paths["pidfile"])
    assert G.is_simulator(pid)
    # Up and the DB open before start returned.
    assert "opened " + db in read(paths["log"])

    st = sim("status", "--pidfile", paths["pidfile"])
    assert st.returncode == 0 and f"running (pid {pid})" in st.stdout

    again = sim("start", "--db", db, "--pidfile", paths["pidfile"], "--log", paths["log"])
    assert again.returncode == 0 and "already running" in again.stdout
    assert G.read_pid(paths["pidfile"]) == pid

    assert wait_for(lambda: count(db) >= 5 + 6)

    stop = sim("stop", "--pidfile", paths["pidfile"], "--timeout", 10)
    assert stop.returncode == 0 and f"stopped (pid {pid})" in stop.stdout and "SIGKILL" not in stop.stdout
    assert not G.is_simulator(pid)
    assert G._state(pid) in (None, "Z")  # gone (or a zombie awaiting its new parent's reap)
    assert not os.path.exists(paths["pidfile"])

    st = sim("status", "--pidfile", paths["pidfile"])
    assert st.returncode == G.EXIT_STOPPED and "stopped" in st.stdout

    # One memory per commit, stopped cleanly after a commit: every write logged, nothing half-done.
    final = count(db)
    time.sleep(0.3)
    assert count(db) == final
    ds = lance.dataset(os.path.join(db, "memories.lance"))
    ds.validate()
    assert ds.version == final + 2
    log = read(paths["log"])
    written = log.count(" wrote id=")
    assert written == final - 5
    assert f"stopped after {written} writes (0 failed)" in log
    assert "got SIGTERM" in log
    ids = [r["id"] for r in ds.to_table(columns=["id"]).to_pylist()]
    assert ids[5:] == [F.memory_id(G.DEFAULT_SEED, i) for i in range(5, final)]

    again = sim("stop", "--pidfile", paths["pidfile"])
    assert again.returncode == 0 and "not running" in again.stdout


def test_creates_a_missing_table_and_stops_at_limit(tmp_path, paths):
    db = str(tmp_path / "pro-db")
    out = sim("start", "--db", db, "--plugin", "memory-lancedb-pro", "--dims", 4, "--rate", 0, "--limit", 3,
              "--seed", 2, "--agent-id", "ops", "--pidfile", paths["pidfile"], "--log", paths["log"])
    assert out.returncode == 0, out.stderr
    pid = G.read_pid(paths["pidfile"]) or int(out.stdout.split("pid ")[1].split(")")[0])
    assert wait_for(lambda: not G.is_simulator(pid))
    assert sim("status", "--pidfile", paths["pidfile"]).returncode == G.EXIT_STOPPED
    ds = lance.dataset(os.path.join(db, "memories.lance"))
    assert ds.schema.names == ["id", "text", "vector", "category", "scope", "importance", "timestamp", "metadata"]
    assert ds.count_rows() == 3 and ds.version == 5
    scopes = {r["scope"] for r in ds.to_table(columns=["scope"]).to_pylist()}
    assert scopes <= {"global", "agent:ops", "reflection:agent:ops"}
    assert "created " in read(paths["log"])


def test_start_fails_clearly_on_a_table_of_another_plugin(tmp_path, paths):
    res = F.build_state(tmp_path / "h", n=1, dims=4, workspace=False)
    out = sim("start", "--db", res["db_path"], "--plugin", "memory-lancedb-pro", "--pidfile", paths["pidfile"],
              "--log", paths["log"], "--wait", 30)
    assert out.returncode == 1
    assert "failed to start (exited with code 1)" in out.stderr
    assert "not the memory-lancedb-pro schema" in out.stderr  # the log tail
    assert not os.path.exists(paths["pidfile"])
    assert count(res["db_path"]) == 1


def test_status_ignores_a_stale_pid_file(tmp_path, paths):
    os.makedirs(os.path.dirname(paths["pidfile"]))
    with open(paths["pidfile"], "w") as f:
        f.write(f"{os.getpid()}\n")  # alive, but not a simulator
    st = sim("status", "--pidfile", paths["pidfile"])
    assert st.returncode == G.EXIT_STOPPED and "stale pid file" in st.stdout
    stop = sim("stop", "--pidfile", paths["pidfile"])
    assert stop.returncode == 0 and "removed stale pid file" in stop.stdout
    assert not os.path.exists(paths["pidfile"])
    assert sim("status", "--pidfile", str(tmp_path / "none.pid")).returncode == G.EXIT_STOPPED


@pytest.mark.skipif(os.geteuid() != 0, reason="--user needs root")
def test_runs_as_another_user(request, paths):
    import pwd

    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user")
    base = tempfile.mkdtemp(prefix="ocmlab-sim-", dir="/tmp")  # pytest's tmp dirs are 0700 root
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    os.chmod(base, 0o755)
    res = F.build_state(os.path.join(base, "h"), n=2, dims=4, workspace=False, uid=nobody.pw_uid, gid=nobody.pw_gid)
    out = sim("start", "--db", res["db_path"], "--rate", 50, "--user", "nobody", "--pidfile", paths["pidfile"],
              "--log", paths["log"])
    assert out.returncode == 0, out.stderr
    pid = G.read_pid(paths["pidfile"])
    with open(f"/proc/{pid}/status") as f:
        uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
    assert {int(u) for u in uids} == {nobody.pw_uid}
    assert wait_for(lambda: count(res["db_path"]) >= 4)
    assert sim("stop", "--pidfile", paths["pidfile"]).returncode == 0
    newest = max(os.scandir(os.path.join(res["table_path"], "data")), key=lambda e: e.stat().st_mtime)
    assert newest.stat().st_uid == nobody.pw_uid
