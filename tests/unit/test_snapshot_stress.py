# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lance_snapshot under stress: kill -9 mid-copy, a concurrent writer, ENOSPC, files vanishing mid-copy.

Real processes, real signals, a real full filesystem (a small tmpfs: needs root).
"""

from __future__ import annotations

import datetime
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import lance
import lancedb
import numpy as np
import pyarrow as pa
import pytest
from ansible_collections.openclaw.memory.plugins.module_utils import snapshot as S
from ansible_collections.openclaw.memory.plugins.module_utils.checksums import read_sums, verify_sums
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_snapshot import (  # noqa: E402 - helpers shared with the functional tests
    PYTHON,
    REPO,
    assert_equal_at_pin,
    make_db,
    memory_rows,
    snap,
    tree_state,
    visible,
)

ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(REPO, "tools"), os.path.join(REPO, ".collections")]))
SNAPSHOT_CMD = textwrap.dedent("""
    import json, sys
    from ansible_collections.openclaw.memory.plugins.module_utils.snapshot import take_snapshot
    print(json.dumps(take_snapshot(sys.argv[1], sys.argv[2], link_dest="none", force=True)))
""")


def _sums_ok(r):
    return verify_sums(r["snapshot"], read_sums(r["checksums"]), ignore=("SHA256SUMS", "SNAPSHOT.json"))["ok"]


@pytest.fixture(autouse=True, params=["pool", "serial"])
def copies(request, monkeypatch):
    """Every case with the copy pool (even for a few files) and with copies in the calling thread."""
    monkeypatch.setattr(S, "POOL_MIN_FILES", 1)
    monkeypatch.setattr(S, "COPY_WORKERS", 4 if request.param == "pool" else 1)
    return request.param


@pytest.fixture
def small_fs(tmp_path):
    """Mount a tmpfs of the given size (bytes) under tmp_path; unmounted at teardown."""
    mounts = []

    def mount(size, name="small"):
        path = tmp_path / name
        path.mkdir()
        out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0755" % size, "tmpfs", str(path)],
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            pytest.skip("cannot mount a tmpfs here: %s" % out.stderr.strip())
        mounts.append(path)
        return path

    yield mount
    for path in mounts:
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


# --------------------------------------------------------------------------- kill -9


def make_big_db(path, files=240, rows_per_file=10, row_bytes=16_000):
    """About 38 MB in 240 data files: big enough that a copy lasts long enough to be killed mid-way."""
    n = files * rows_per_file
    rng = np.random.default_rng(3)
    table = pa.table({"id": ["b%06d" % i for i in range(n)],
                      "payload": [rng.bytes(row_bytes) for _row in range(n)]})
    lance.write_dataset(table, str(path / "memories.lance"), max_rows_per_file=rows_per_file)


def test_kill_9_mid_copy_leaves_nothing_complete_and_next_run_recovers(tmp_path):
    src = tmp_path / "bigdb"
    make_big_db(src)
    before = tree_state(src)
    dest = tmp_path / "snaps"
    rng = random.Random(42)
    landed = 0
    for attempt in range(8):
        proc = subprocess.Popen([PYTHON, "-c", SNAPSHOT_CMD, str(src), str(dest)], env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # wait until the staging dir exists (copying has started), then kill at a random moment
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if any(S.PARTIAL_TAG in n for n in visible(dest)):
                break
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        partial = [n for n in visible(dest) if S.PARTIAL_TAG in n]
        complete = S.list_snapshots(str(dest))
        if proc.returncode == -signal.SIGKILL and partial:
            landed += 1
            # nothing looks complete: only the hidden staging dir, no SNAPSHOT.json-bearing snapshot dir
            assert complete == [] and [n for n in visible(dest) if not n.startswith(".")] == []
            staged = sum(len(f) for _r, _d, f in os.walk(dest / partial[0]))
            assert staged < 250, "killed after the copy finished"
            # the next run removes the leftovers and makes a good snapshot
            r = snap(src, dest)
            assert r["cleaned"] == partial and r["changed"]
            assert list(visible(dest)) == [r["name"]]
            assert _sums_ok(r)
            assert_equal_at_pin(r["snapshot"], src, r["tables"])
            S.prune_snapshots(str(dest), retain=1)
            os.rename(r["snapshot"], str(tmp_path / ("done-%d" % attempt)))  # next round starts from empty
            if landed >= 3:
                break
    assert landed >= 1, "no kill landed mid-copy in 8 tries"
    assert tree_state(src) == before


# --------------------------------------------------------------------------- concurrent writer

WRITER = textwrap.dedent("""
    import os, random, sys, time
    import lancedb
    sys.path.insert(0, os.path.dirname(sys.argv[3]))
    from test_snapshot import memory_rows
    t = lancedb.connect(sys.argv[1]).open_table("memories")
    rng = random.Random(5)
    i = 100000
    commits = 0
    while not os.path.exists(sys.argv[2]):
        t.add(memory_rows(i, 1))
        commits += 1
        if commits == 1:
            open(sys.argv[2] + ".ready", "w").close()
        if i % 2:
            t.delete("id = 'm%06d'" % rng.randrange(0, 300))
            commits += 1
        i += 1
    print(commits)
""")


def test_twenty_snapshots_while_a_writer_adds_and_deletes(tmp_path):
    src = tmp_path / "lancedb"
    make_db(src, blobs=False)
    stop = tmp_path / "stop"
    writer = subprocess.Popen([PYTHON, "-c", WRITER, str(src), str(stop), os.path.abspath(__file__)], env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = []
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(str(stop) + ".ready"):  # the writer is committing
            assert writer.poll() is None and time.monotonic() < deadline, writer.stderr.read()
            time.sleep(0.01)
        dest = tmp_path / "snaps"
        for _round in range(20):
            results.append(snap(src, dest, force=True))
    finally:
        stop.write_text("")
        out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    commits = int(out.strip())
    versions = [r["tables"]["memories"]["version"] for r in results]
    assert commits > 40 and len(set(versions)) >= 10, (commits, versions)
    # every snapshot opens and equals the source at its pinned version, row for row; checksums hold
    for r in results:
        assert_equal_at_pin(r["snapshot"], src, r["tables"])
        assert _sums_ok(r)
        meta = json.load(open(r["metadata"]))
        assert meta["total"] == lance.dataset(str(src / "memories.lance"), version=r["tables"]["memories"][
            "version"]).count_rows()
    # increments were linked, not copied
    assert all(r["bytes_linked"] > r["bytes_copied"] for r in results[1:])


# --------------------------------------------------------------------------- files vanishing mid-copy


def _compact_and_cleanup(src, start):
    t = lancedb.connect(str(src)).open_table("memories")
    t.add(memory_rows(start, 1))
    t.optimize(cleanup_older_than=datetime.timedelta(0), delete_unverified=True)


def test_a_file_vanishing_mid_copy_re_pins_and_retries(tmp_path):
    src = tmp_path / "lancedb"
    make_db(src, blobs=False)
    first_version = lance.dataset(str(src / "memories.lance")).version
    fired = []

    def cleanup_once(event, detail):
        if event == "copy" and detail.startswith("memories.lance/") and not fired:
            fired.append(detail)
            _compact_and_cleanup(src, 20000)  # a real compaction + cleanup with zero retention

    r = snap(src, tmp_path / "snaps", progress=cleanup_once)
    assert fired and r["repins"] >= 1
    pinned = r["tables"]["memories"]["version"]
    assert pinned > first_version
    assert lance.dataset(str(src / "memories.lance")).version == pinned
    assert_equal_at_pin(r["snapshot"], src, r["tables"])
    sums = read_sums(r["checksums"])
    assert sum(1 for f in sums if f.startswith("memories.lance/_versions/")) == 1, "stale files of the first pin kept"
    assert _sums_ok(r)


def test_files_vanishing_at_every_pin_fail_clearly(tmp_path):
    src = tmp_path / "lancedb"
    make_db(src, blobs=False, indexes=False)
    calls = []

    def cleanup_always(event, detail):
        if event == "copy":
            calls.append(detail)
            _compact_and_cleanup(src, 30000 + len(calls))

    dest = tmp_path / "snaps"
    with pytest.raises(MemoryToolError) as e:
        snap(src, dest, progress=cleanup_always)
    assert ("Table 'memories' in '%s' kept losing files while being copied (%d pins in a row" % (
        src / "memories.lance", S.MAX_PINS)) in e.value.msg
    assert "pause it or use a cold backup" in e.value.msg
    assert visible(dest) == []


# --------------------------------------------------------------------------- ENOSPC


def test_enospc_mid_copy_keeps_nothing_and_src_untouched(tmp_path, small_fs):
    src = tmp_path / "lancedb"
    make_db(src)
    before = tree_state(src)
    dest = small_fs(8 << 20) / "snaps"
    filler = dest.parent / "filler"

    def fill_disk(event, _detail):
        if event == "copy" and not filler.exists():
            with open(filler, "wb") as f:  # a real full filesystem, right after the copy started
                try:
                    while True:
                        f.write(b"\0" * (1 << 16))
                        f.flush()
                except OSError:
                    pass

    with pytest.raises(MemoryToolError) as e:
        snap(src, dest, progress=fill_disk)
    assert e.value.msg.startswith("dest '%s' ran out of space while writing snapshot '" % dest)
    assert e.value.msg.endswith("(No space left on device): no partial snapshot was kept and src was not touched; "
                                "free space in dest or choose another dest")
    assert visible(dest) == [] and tree_state(src) == before
    filler.unlink()
    r = snap(src, dest)
    assert _sums_ok(r) and visible(dest) == [r["name"]]


def test_enospc_detected_before_copying(tmp_path, small_fs):
    src = tmp_path / "lancedb"
    make_db(src)
    before = tree_state(src)
    dest = small_fs(256 << 10) / "snaps"
    with pytest.raises(MemoryToolError) as e:
        snap(src, dest)
    assert e.value.msg.startswith("dest '%s' has " % dest)
    assert "bytes free but the snapshot needs about" in e.value.msg
    assert e.value.msg.endswith("free space or choose another dest; nothing was written and src was not touched")
    assert visible(dest) == [] and tree_state(src) == before
