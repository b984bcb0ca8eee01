# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lance_snapshot domain (plugins/module_utils/snapshot.py) on real small LanceDB databases.

Layout, consistency, incremental hard links, idempotence, check mode,
retention, every bad input's message. The stress cases (kill -9, a concurrent
writer, ENOSPC, vanishing files) are in test_snapshot_stress.py; the module
through Ansible is in test_snapshot_module.py.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import struct
import subprocess
import tempfile
import threading
import time

import lance
import lancedb
import numpy as np
import pyarrow as pa
import pytest
from ansible_collections.openclaw.memory.plugins.module_utils import snapshot as S
from ansible_collections.openclaw.memory.plugins.module_utils.checksums import read_sums, verify_sums
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError, sha256_file
from ansible_collections.openclaw.memory.plugins.module_utils.lance import fragment_stats, memory_stats, version_files
from lancedb.index import BTree, IvfPq
from ocmlab.fixtures import build_state
from repo_env import PYTHON, REPO

DIM = 16
CATEGORIES = ("preference", "fact", "decision", "entity", "other")
DAY = 86400.0

# --------------------------------------------------------------------------- helpers (shared with the other files)


def memory_rows(start, n, dim=DIM):
    """n memories shaped like memory-lancedb's table (with agentId), deterministic from `start`."""
    rng = np.random.default_rng(start)
    ids = ["m%06d" % i for i in range(start, start + n)]
    return pa.table({
        "id": ids,
        "text": ["memory number %d about project %d" % (i, i % 7) for i in range(start, start + n)],
        "vector": pa.array(rng.random((n, dim), dtype=np.float32).tolist(), pa.list_(pa.float32(), dim)),
        "importance": [0.1 + (i % 9) / 10 for i in range(start, start + n)],
        "category": [CATEGORIES[i % len(CATEGORIES)] for i in range(start, start + n)],
        "createdAt": [1.78e12 + i * 60000.0 for i in range(start, start + n)],
        "agentId": ["main" if i % 3 else "ops" for i in range(start, start + n)],
    })


def make_db(path, n=300, per_commit_tail=3, deletes=True, indexes=True, blobs=True, dim=DIM):
    """A database with a `memories` table (bulk + a few one-row commits, a delete, a BTREE
    and an IVF_PQ index) and an `attachments` table with a blob column (sidecar files)."""
    db = lancedb.connect(str(path))
    t = db.create_table("memories", memory_rows(0, n, dim))
    for i in range(per_commit_tail):
        t.add(memory_rows(n + i, 1, dim))
    if deletes:
        t.delete("id IN ('m000005', 'm000006')")
    if indexes:
        t.create_index("category", config=BTree())
        t.create_index("vector", config=IvfPq(distance_type="cosine", num_partitions=2, num_sub_vectors=2))
    if blobs:
        make_blob_table(os.path.join(str(path), "attachments.lance"))
    return db


def make_blob_table(uri, n=12):
    schema = pa.schema([pa.field("id", pa.string()),
                        pa.field("blob", pa.large_binary(), metadata={"lance-encoding:blob": "true"})])
    rng = np.random.default_rng(7)
    data = [rng.bytes(150_000 if i % 4 == 0 else 64) for i in range(n)]
    lance.write_dataset(pa.table({"id": ["a%02d" % i for i in range(n)], "blob": data}, schema=schema), uri)
    ds = lance.dataset(uri)
    ds.delete("id = 'a03'")
    return data


def add_memory(db_path, index, dim=DIM):
    lancedb.connect(str(db_path)).open_table("memories").add(memory_rows(index, 1, dim))


def tree_state(path):
    """{rel: (size, mtime_ns, sha256)} of every file: proves a tree was not touched."""
    out = {}
    for root, _dirs, names in os.walk(path):
        for n in names:
            p = os.path.join(root, n)
            st = os.lstat(p)
            out[os.path.relpath(p, path)] = (st.st_size, st.st_mtime_ns, sha256_file(p))
    return out


def visible(dest):
    """Entries of dest except the lock file and the per-fragment counts of snapshots that are there."""
    if not os.path.isdir(dest):
        return []
    names = set(os.listdir(dest)) - {S.LOCK_NAME}
    return sorted(n for n in names if not (n.startswith(".") and n.endswith(S.COUNTS_SUFFIX)
                                           and n[1:-len(S.COUNTS_SUFFIX)] in names))


def table_rows(uri, version=None):
    return lance.dataset(uri, version=version).to_table().sort_by("id")


def blob_bytes(uri, version=None):
    ds = lance.dataset(uri, version=version)
    return [b.readall() for b in ds.take_blobs("blob", indices=list(range(ds.count_rows())))]


def snap(src, dest, **kw):
    kw.setdefault("lock_timeout", 5)
    return S.take_snapshot(str(src), str(dest), **kw)


def assert_equal_at_pin(snapshot_dir, src, tables):
    """Each table of the snapshot opens (latest = pinned) and equals the source at that version row for row."""
    for name, t in tables.items():
        got = lance.dataset(os.path.join(snapshot_dir, name + ".lance"))
        assert got.version == t["version"]
        assert got.count_rows() == t["rows"]
        want = table_rows(os.path.join(str(src), name + ".lance"), t["version"])
        assert got.to_table().sort_by("id").equals(want), "table %s differs from source@%d" % (name, t["version"])


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "lancedb"
    make_db(path)
    return path


# --------------------------------------------------------------------------- layout and content


def test_full_snapshot_is_a_database_with_checksums_and_baseline(db, tmp_path):
    before = tree_state(db)
    dest = tmp_path / "snaps"
    r = snap(db, dest, embedding={"provider": "openai", "model": "text-embedding-3-small", "dimensions": DIM,
                                  "apiKey": "sk-secret-never-stored"})
    assert r["changed"] and not r["reused"]
    snapdir = r["snapshot"]
    assert os.path.dirname(snapdir) == str(dest) and os.path.basename(snapdir) == r["name"]
    assert sorted(os.listdir(snapdir)) == ["SHA256SUMS", "SNAPSHOT.json", "attachments.lance", "memories.lance"]
    assert visible(dest) == [r["name"]]

    # opens as a LanceDB database, every table equal to the source at its pinned version, row for row
    assert sorted(lancedb.connect(snapdir).list_tables().tables) == ["attachments", "memories"]
    assert_equal_at_pin(snapdir, db, r["tables"])
    assert blob_bytes(os.path.join(snapdir, "attachments.lance")) == blob_bytes(str(db / "attachments.lance"))
    # both indexes came along and work: a scalar-filtered vector search finds a row by its own vector
    mem = lancedb.connect(snapdir).open_table("memories")
    assert sorted(i.name for i in mem.list_indices()) == ["category_idx", "vector_idx"]
    row = mem.search().where("id = 'm000042'").limit(1).to_list()[0]
    hit = mem.search(row["vector"]).where("category = '%s'" % row["category"]).limit(1).to_list()[0]
    assert hit["id"] == "m000042"
    # exactly the files of the pinned version: no transactions, no version hint, no older manifests
    files = read_sums(r["checksums"])
    assert not [f for f in files if "_transactions/" in f or "latest_version_hint" in f]
    assert sum(1 for f in files if f.startswith("memories.lance/_versions/")) == 1
    assert any("/data/" in f and f.endswith(".blob") for f in files), "blob sidecar missing"
    assert any(f.startswith("memories.lance/_deletions/") for f in files)
    assert sum(1 for f in files if f.startswith("memories.lance/_indices/")) >= 4

    # sha256sum -c accepts SHA256SUMS; it covers every file but itself and SNAPSHOT.json
    out = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=snapdir, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    check = verify_sums(snapdir, files, ignore=("SHA256SUMS", "SNAPSHOT.json"))
    assert check["ok"] and check["files"] == r["files"] == len(files)
    assert r["bytes_total"] == check["bytes"] == r["bytes_copied"] and r["bytes_linked"] == 0

    meta = json.load(open(r["metadata"]))
    assert meta["format"] == S.FORMAT and meta["src"] == str(db) and meta["history"] == "latest"
    assert meta["total"] == 301 and sum(meta["by_category"].values()) == 301
    assert meta["by_agent"] == {"main": 201, "ops": 100} and meta["by_scope"] is None
    assert [set(p) >= {"id", "text"} for p in meta["probes"]] == [True] * 3
    assert meta["tables"]["memories"]["version"] == r["tables"]["memories"]["version"]
    assert meta["tables"]["memories"]["rows"] == 301 and meta["tables"]["memories"]["vector_dim"] == DIM
    assert meta["tables"]["memories"]["columns"]["agentId"] == "string"
    assert meta["embedding"] == {"provider": "openai", "model": "text-embedding-3-small", "dimensions": DIM}
    assert "sk-secret" not in open(r["metadata"]).read()
    assert meta["libs"]["pylance"] == lance.__version__
    assert meta["files"] == r["files"] and meta["bytes"] == r["bytes_total"]
    assert meta["checksums"]["sha256"] == sha256_file(r["checksums"])
    for key in ("host", "created", "created_epoch", "oldest", "newest"):
        assert meta[key]

    # owner-only modes: memories hold secrets
    for root, _dirs, names in os.walk(snapdir):
        assert os.stat(root).st_mode & 0o7777 == 0o700
        for n in names:
            assert os.stat(os.path.join(root, n)).st_mode & 0o7777 == 0o600
    assert tree_state(db) == before, "src was modified"


def test_history_all_keeps_every_version_for_time_travel(db, tmp_path):
    r = snap(db, tmp_path / "snaps", history="all")
    snapdir = r["snapshot"]
    src_ds = lance.dataset(str(db / "memories.lance"))
    versions = [v["version"] for v in src_ds.versions()]
    assert len(versions) > 5
    got = lance.dataset(os.path.join(snapdir, "memories.lance"))
    assert [v["version"] for v in got.versions()] == versions
    for v in versions:
        assert table_rows(os.path.join(snapdir, "memories.lance"), v).equals(table_rows(str(db / "memories.lance"), v))
    assert json.load(open(r["metadata"]))["history"] == "all"
    # a later latest-only snapshot is different content (history), not "the same snapshot"
    r2 = snap(db, tmp_path / "snaps")
    assert r2["changed"] and not r2["reused"] and r2["bytes_copied"] == 0


def test_v1_manifest_names_are_copied(tmp_path):
    src = tmp_path / "v1db"
    lance.write_dataset(memory_rows(0, 20), str(src / "memories.lance"), enable_v2_manifest_paths=False)
    ds = lance.dataset(str(src / "memories.lance"))
    ds.insert(memory_rows(20, 1))
    r = snap(src, tmp_path / "snaps")
    assert any(f.endswith("_versions/2.manifest") for f in read_sums(r["checksums"]))
    assert_equal_at_pin(r["snapshot"], src, r["tables"])


# --------------------------------------------------------------------------- incremental, idempotent, check mode


def test_incremental_copies_only_the_new_fragment_and_manifest(db, tmp_path):
    dest = tmp_path / "snaps"
    first = snap(db, dest)
    add_memory(db, 5000)
    second = snap(db, dest)
    assert second["changed"] and second["link_dest"] == first["snapshot"]
    assert second["tables"]["memories"]["version"] == first["tables"]["memories"]["version"] + 1
    new_sums, old_sums = read_sums(second["checksums"]), read_sums(first["checksums"])
    copied = sorted(set(new_sums) - set(old_sums))
    assert len(copied) == 2 and {os.path.dirname(c) for c in copied} == {"memories.lance/_versions",
                                                                         "memories.lance/data"}
    assert second["files_copied"] == 2
    assert second["bytes_copied"] == sum(os.path.getsize(os.path.join(second["snapshot"], c)) for c in copied)
    assert second["bytes_copied"] < 0.05 * second["bytes_total"]
    assert second["bytes_linked"] + second["bytes_copied"] == second["bytes_total"]
    # linked files are the same inodes as the first snapshot's, and their recorded checksums were reused
    for rel in set(new_sums) & set(old_sums):
        assert os.stat(os.path.join(second["snapshot"], rel)).st_ino == os.stat(
            os.path.join(first["snapshot"], rel)).st_ino
        assert new_sums[rel] == old_sums[rel]
    assert verify_sums(second["snapshot"], new_sums, ignore=("SHA256SUMS", "SNAPSHOT.json"))["ok"]
    assert_equal_at_pin(second["snapshot"], db, second["tables"])
    assert json.load(open(second["metadata"]))["total"] == 302
    # link_dest none copies everything again
    third = snap(db, dest, link_dest="none", force=True)
    assert third["bytes_linked"] == 0 and third["bytes_copied"] == third["bytes_total"]
    # an explicit link_dest path
    fourth = snap(db, dest, link_dest=first["snapshot"], force=True)
    assert fourth["link_dest"] == first["snapshot"] and fourth["files_copied"] == 2


def test_idempotent_unless_force_or_new_content(db, tmp_path):
    dest = tmp_path / "snaps"
    ws = tmp_path / "workspace"
    (ws / "memory").mkdir(parents=True)
    (ws / "MEMORY.md").write_text("# Memory\n- prefers tea\n")
    (ws / "memory" / "2026-09-01.md").write_text("daily note\n")
    (ws / "USER.md").write_text("not memory, not included\n")
    first = snap(db, dest, workspace=ws)
    assert sorted(f for f in read_sums(first["checksums"]) if f.startswith("workspace/")) == [
        "workspace/MEMORY.md", "workspace/memory/2026-09-01.md"]
    again = snap(db, dest, workspace=ws)
    assert (again["changed"], again["reused"], again["snapshot"]) == (False, True, first["snapshot"])
    assert again["bytes_copied"] == 0 and again["tables"]["memories"]["version"] == first["tables"]["memories"][
        "version"]
    assert visible(dest) == [first["name"]]
    # the same name again: reused; check mode too
    assert snap(db, dest, workspace=ws, name=first["name"])["reused"]
    assert snap(db, dest, workspace=ws, check_mode=True)["changed"] is False
    # a workspace edit is new content: a new snapshot that links the unchanged tables
    (ws / "MEMORY.md").write_text("# Memory\n- prefers coffee now\n")
    third = snap(db, dest, workspace=ws)
    assert third["changed"] and third["files_copied"] == 1 and third["bytes_copied"] == len("# Memory\n- prefers "
                                                                                            "coffee now\n")
    with open(os.path.join(third["snapshot"], "workspace", "MEMORY.md")) as f:
        assert "coffee" in f.read()
    # force makes a new one although nothing changed
    forced = snap(db, dest, workspace=ws, force=True)
    assert forced["changed"] and forced["snapshot"] != third["snapshot"] and forced["bytes_copied"] == 0
    assert len(visible(dest)) == 3


def test_check_mode_writes_nothing_and_reports_the_plan(db, tmp_path):
    dest = tmp_path / "snaps"
    r = snap(db, dest, check_mode=True)
    assert r["changed"] and not os.path.exists(dest)
    assert r["bytes_copied"] == r["bytes_total"] > 0 and r["plan"]["link"] == [] and len(r["plan"]["copy"]) == r[
        "files"]
    first = snap(db, dest)
    add_memory(db, 6000)
    before = tree_state(dest)
    plan = snap(db, dest, check_mode=True, retain=1)
    assert tree_state(dest) == before
    assert len(plan["plan"]["copy"]) == 2 and plan["files_copied"] == 2
    assert plan["removed"] == [first["name"]]
    real = snap(db, dest, retain=1)
    assert real["bytes_copied"] == plan["bytes_copied"] and real["bytes_linked"] == plan["bytes_linked"]
    assert real["removed"] == [first["name"]] and visible(dest) == [real["name"]]


# --------------------------------------------------------------------------- retention


def test_retention_removes_only_complete_snapshots_of_this_source(db, tmp_path):
    dest = tmp_path / "snaps"
    t0 = time.time() - 10 * DAY
    names = []
    for day in range(5):
        add_memory(db, 7000 + day)
        names.append(snap(db, dest, now=t0 + day * DAY)["name"])
    # things retention must never touch
    (dest / "notes").mkdir()
    (dest / "notes" / "SNAPSHOT.json").write_text(json.dumps({"format": "something-else"}))
    (dest / "README").write_text("operator notes")
    other = tmp_path / "otherdb"
    make_db(other, n=20, indexes=False, blobs=False)
    foreign = snap(other, dest, now=t0 - DAY)["name"]

    # keep newest 2 by count (t0 + 10 days = now)
    r = snap(db, dest, retain=2, now=t0 + 10 * DAY)
    assert r["reused"] and r["removed"] == names[:3] and r["changed"]
    assert visible(dest) == sorted(names[3:] + [foreign, "README", "notes"])
    # age rule: keep younger than 1 day -> only the newest remains (the newest is always kept)
    r = snap(db, dest, retain_days=1, now=t0 + 10 * DAY)
    assert r["removed"] == [names[3]]
    r = snap(db, dest, retain_days=0, retain=1, now=t0 + 30 * DAY)
    assert r["removed"] == [] and names[4] in visible(dest) and foreign in visible(dest)
    assert not any(n.startswith(".") for n in visible(dest))


def test_prune_keeps_union_of_rules(db, tmp_path):
    dest = tmp_path / "snaps"
    t0 = 1_790_000_000.0
    names = []
    for day in range(4):
        add_memory(db, 8000 + day)
        names.append(snap(db, dest, now=t0 + day * DAY)["name"])
    now = t0 + 3 * DAY + 60
    # ages: 3d, 2d, 1d (and a minute each), 1 min. retain=1 keeps the newest, retain_days=2 the two
    # youngest: a snapshot stays when either rule keeps it
    assert S.prune_snapshots(str(dest), retain=1, retain_days=2, src=str(db), now=now, check_mode=True) == names[:2]
    assert S.prune_snapshots(str(dest), retain=3, src=str(db), now=now, check_mode=True) == names[:1]
    assert S.prune_snapshots(str(dest), retain_days=1, src=str(db), now=now, check_mode=True) == names[:3]
    assert visible(dest) == names  # check mode removed nothing
    assert S.prune_snapshots(str(dest), retain=2, src=str(db), now=now) == names[:2]
    assert [s["name"] for s in S.list_snapshots(str(dest))] == names[:1:-1]


# --------------------------------------------------------------------------- ownership


def test_owner_group_and_modes(db, tmp_path):
    r = snap(db, tmp_path / "snaps", owner="nobody", group="nogroup" if _has_group("nogroup") else "nobody",
             mode="0640", dir_mode="0750")
    nobody = __import__("pwd").getpwnam("nobody").pw_uid
    for root, _dirs, names in os.walk(r["snapshot"]):
        st = os.stat(root)
        assert (st.st_uid, st.st_mode & 0o7777) == (nobody, 0o750)
        for n in names:
            st = os.stat(os.path.join(root, n))
            assert (st.st_uid, st.st_mode & 0o7777) == (nobody, 0o640)
    # a later snapshot with other modes does not hard-link (that would change the old files' modes)
    r2 = snap(db, tmp_path / "snaps", force=True)
    assert r2["bytes_linked"] == 0
    assert os.stat(os.path.join(r["snapshot"], "SHA256SUMS")).st_mode & 0o7777 == 0o640


def _has_group(name):
    try:
        __import__("grp").getgrnam(name)
        return True
    except KeyError:
        return False


# --------------------------------------------------------------------------- bad input


def _bad(tmp_path, db, **kw):
    """The message of a run that fails; asserts src and dest (the lock file too, and whether it exists) unchanged."""
    src = kw.pop("src", db)
    dest = kw.pop("dest", tmp_path / "snaps")
    before, listed = tree_state(db), _entries(dest)
    with pytest.raises(MemoryToolError) as e:
        snap(src, dest, **kw)
    assert tree_state(db) == before, "src was modified"
    assert _entries(dest) == listed, "something was left in dest"
    return e.value.msg


def _entries(dest):
    """Every entry of dest, hidden ones too; None when dest does not exist (a file: its content)."""
    if not os.path.lexists(dest):
        return None
    return sorted(os.listdir(dest)) if os.path.isdir(dest) else sha256_file(dest)


def test_bad_src(db, tmp_path):
    missing = tmp_path / "nope"
    msg = _bad(tmp_path, db, src=missing)
    assert msg.startswith("Database directory '%s' does not exist; set src to the memory plugin's dbPath" % missing)
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert "Database path '%s' is a file, not a LanceDB directory" % afile in _bad(tmp_path, db, src=afile)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "'%s' is not a LanceDB database directory: it holds no '<table>.lance' table" % empty in _bad(
        tmp_path, db, src=empty)
    msg = _bad(tmp_path, db, src=db / "memories.lance")
    assert msg == ("'%s' is a single Lance table, not a LanceDB database directory; pass its parent directory "
                   "'%s'" % (db / "memories.lance", db))
    assert not os.path.exists(tmp_path / "snaps")


def test_bad_dest_name_and_options(db, tmp_path):
    inside = db / "backups"
    msg = _bad(tmp_path, db, dest=inside)
    assert msg == ("dest '%s' is inside src '%s': snapshots are never written into the live database; choose a dest "
                   "outside it" % (inside, db))
    assert not inside.exists()
    afile = tmp_path / "destfile"
    afile.write_text("")
    assert "dest '%s' is a file" % afile in _bad(tmp_path, db, dest=afile)
    assert "name '../x' is invalid" in _bad(tmp_path, db, name="../x")
    assert "name '.hidden' is invalid" in _bad(tmp_path, db, name=".hidden")
    assert "history='some' is invalid: use 'latest' or 'all'" in _bad(tmp_path, db, history="some")
    assert "retain=0 is invalid: it must be at least 1" in _bad(tmp_path, db, retain=0)
    assert "retain_days=-1 is invalid" in _bad(tmp_path, db, retain_days=-1)
    assert "mode='rw' is not a mode" in _bad(tmp_path, db, mode="rw")
    assert "dir_mode=0600 would lock the owner out" in _bad(tmp_path, db, dir_mode="0600")
    assert "owner 'no-such-user-x' is not a user on this host" in _bad(tmp_path, db, owner="no-such-user-x")
    missing_ws = tmp_path / "no-ws"
    assert "workspace '%s' does not exist" % missing_ws in _bad(tmp_path, db, workspace=missing_ws)
    assert "link_dest '%s' does not exist" % (tmp_path / "x") in _bad(tmp_path, db, link_dest=str(tmp_path / "x"))
    assert ("link_dest '%s' is not a directory, so not a snapshot; pass a snapshot directory, 'auto' or 'none'"
            % afile) == _bad(tmp_path, db, link_dest=str(afile))
    assert _bad(tmp_path, db, probes=-1) == ("probes=-1 is invalid: probes must be 0 or more (how many spot-check "
                                             "memories to record; 0 records none)")
    notsnap = tmp_path / "notsnap"
    notsnap.mkdir()
    assert ("link_dest '%s' is not a complete snapshot made by lance_snapshot" % notsnap) in _bad(
        tmp_path, db, link_dest=str(notsnap))


def test_bad_input_creates_nothing_in_dest(db, tmp_path):
    """Every option is checked before dest is created or locked: a run refused for its input leaves no dest (and
    no missing parent of it) behind, nor a lock file in a dest that exists."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    bad = {"workspace": str(tmp_path / "nonexist"), "probes": -1, "link_dest": str(afile)}
    for key, value in bad.items():
        new = tmp_path / "new" / "snaps"
        assert "%s" % value in _bad(tmp_path, db, dest=new, **{key: value}), key
        assert not os.path.lexists(tmp_path / "new"), key
        empty = tmp_path / "empty-dest"
        empty.mkdir(exist_ok=True)
        _bad(tmp_path, db, dest=empty, **{key: value})
        assert os.listdir(empty) == [], key
    # The same options, valid, then work in that dest.
    r = snap(db, tmp_path / "new" / "snaps", probes=0)
    assert r["changed"] and os.path.isdir(r["snapshot"])


def test_damaged_table_is_named_without_pinning_again(tmp_path, monkeypatch):
    """A data file of the table's latest version deleted (damage, not a cleanup: the latest version did not
    move): the run fails at once naming the missing file and lance_verify, and leaves nothing behind."""
    built = build_state(str(tmp_path / "home"), n=40, dims=DIM, workspace=False)
    db = built["db_path"]
    table = os.path.join(db, "memories.lance")
    needed = version_files(lance.dataset(table), table)
    gone = [rel for rel in needed if rel.startswith("data/")][:2]
    for rel in gone:
        os.unlink(os.path.join(table, rel))
    version = lance.dataset(table).version
    pins = []
    real_pin = S._pin_table
    monkeypatch.setattr(S, "_pin_table", lambda *a: pins.append(a) or real_pin(*a))
    for history in S.HISTORY:
        pins.clear()
        msg = _bad(tmp_path, db, dest=tmp_path / "snaps", history=history)
        assert msg == (
            "Table 'memories' cannot be snapshotted: Lance table '%s' is damaged: 2 of the %d files its version %d "
            "needs are missing: %s, %s; run openclaw.memory.lance_verify on it, or restore it from a snapshot. "
            "Nothing was written and src was not touched" % (table, len(needed), version, gone[0], gone[1])), history
        assert len(pins) == 1, "pinned %d times" % len(pins)
        assert not os.path.lexists(tmp_path / "snaps")
    # In a dest that holds snapshots: nothing is added there either.
    healthy = build_state(str(tmp_path / "home2"), n=10, dims=DIM, workspace=False)["db_path"]
    kept = snap(healthy, tmp_path / "snaps")
    assert "is damaged: 2 of the" in _bad(tmp_path, db, dest=tmp_path / "snaps")
    assert visible(tmp_path / "snaps") == [kept["name"]]


def test_check_mode_reports_the_leftovers_a_run_would_clean(db, tmp_path):
    dest = tmp_path / "snaps"
    first = snap(db, dest)
    leftover = dest / (".x%s1" % S.PARTIAL_TAG)
    leftover.mkdir()
    orphan = dest / (".gone%s" % S.COUNTS_SUFFIX)
    orphan.write_text("{}")
    before = tree_state(dest)
    plan = snap(db, dest, check_mode=True)
    assert plan["changed"] is True and plan["reused"] is True and plan["snapshot"] == first["snapshot"]
    assert plan["cleaned"] == sorted([leftover.name, orphan.name])
    assert tree_state(dest) == before and leftover.is_dir()
    real = snap(db, dest)
    assert (real["changed"], real["cleaned"]) == (True, plan["cleaned"])
    assert not leftover.exists() and not orphan.exists()
    # With a new snapshot to make, check mode lists them too.
    leftover.mkdir()
    add_memory(db, 7000)
    plan = snap(db, dest, check_mode=True)
    assert plan["reused"] is False and plan["cleaned"] == [leftover.name] and leftover.is_dir()
    assert snap(db, dest)["cleaned"] == [leftover.name]
    # Nothing left over: check mode and the run agree on changed=false.
    assert snap(db, dest, check_mode=True)["changed"] is False and snap(db, dest)["changed"] is False


def test_existing_name_with_other_content(db, tmp_path):
    dest = tmp_path / "snaps"
    r = snap(db, dest, name="nightly")
    add_memory(db, 9000)
    msg = _bad(tmp_path, db, name="nightly")
    assert msg == ("Snapshot name 'nightly' already exists in '%s' and holds other content (tables attachments@%d, "
                   "memories@%d); choose another name, or remove that directory if it is not needed"
                   % (dest, r["tables"]["attachments"]["version"], r["tables"]["memories"]["version"]))
    (dest / "manual-copy").mkdir()
    assert "(not a complete snapshot made by lance_snapshot)" in _bad(tmp_path, db, name="manual-copy")
    assert visible(dest) == ["manual-copy", "nightly"]
    # the existing snapshot is untouched
    assert verify_sums(r["snapshot"], read_sums(r["checksums"]), ignore=("SHA256SUMS", "SNAPSHOT.json"))["ok"]


def test_shallow_clone_is_refused(db, tmp_path):
    src = tmp_path / "clone"
    ds = lance.dataset(str(db / "memories.lance"))
    ds.shallow_clone(str(src / "memories.lance"), ds.version)
    msg = _bad(tmp_path, db, src=src)
    assert "is a shallow clone that references files outside itself" in msg and "deep-clone it first" in msg


@pytest.fixture
def world_dir():
    """A scratch dir that an unprivileged user can traverse (pytest's tmp dirs are 0700)."""
    path = tempfile.mkdtemp(prefix="ocm-snapshot-perm-")
    os.chmod(path, 0o755)
    yield __import__("pathlib").Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a process as nobody")
def test_unreadable_src_as_another_user(world_dir):
    """As an unprivileged user: an unreadable database dir is named with the fix (root reads everything)."""
    base = world_dir
    src = base / "lancedb"
    make_db(src, n=20, indexes=False, blobs=False)
    os.chmod(src, 0o700)
    dest = base / "snaps"
    dest.mkdir()
    os.chown(dest, 65534, 65534)
    # Import as root (the venv's interpreter lives under /root), then drop to nobody before snapshotting.
    code = ("import os, sys\n"
            "from ansible_collections.openclaw.memory.plugins.module_utils.snapshot import take_snapshot\n"
            "from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError\n"
            "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
            "try:\n    take_snapshot(sys.argv[1], sys.argv[2])\nexcept MemoryToolError as e:\n    print(e.msg)\n")
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, ".collections"))
    out = subprocess.run([PYTHON, "-c", code, str(src), str(dest)], capture_output=True, text=True, env=env,
                         timeout=120, check=False)
    assert out.stdout.strip() == ("Database directory '%s' is not readable; run as its owner or with become" % src)
    assert visible(dest) == []
    # the directory is readable but one data file is not: named, and nothing is kept
    os.chmod(src, 0o755)
    data = sorted((src / "memories.lance" / "data").iterdir())[0]
    os.chmod(data, 0o600)
    out = subprocess.run([PYTHON, "-c", code, str(src), str(dest)], capture_output=True, text=True, env=env,
                         timeout=120, check=False)
    assert out.stdout.strip() == ("Cannot read '%s' in src: permission denied; run as the database owner or with "
                                  "become; nothing was kept" % data), out.stderr
    assert visible(dest) == []


def test_snapshot_json_baseline_keys_for_lance_verify(db, tmp_path):
    """The keys lance_verify reads as its baseline, at the top level, with the types it expects."""
    meta = json.load(open(snap(db, tmp_path / "s")["metadata"]))
    for key in ("total", "by_category", "by_agent", "by_scope", "probes", "tables", "embedding"):
        assert key in meta
    assert isinstance(meta["total"], int) and isinstance(meta["by_category"], dict)
    for p in meta["probes"]:
        row = lance.dataset(str(db / "memories.lance")).to_table(filter="id = '%s'" % p["id"]).to_pylist()[0]
        assert p["text"] == row["text"]
    for t in meta["tables"].values():
        assert {"version", "rows", "vector_dim"} <= set(t)


def test_leftovers_of_an_interrupted_run_are_cleaned(db, tmp_path):
    dest = tmp_path / "snaps"
    dest.mkdir()
    partial = dest / (".20260101T000000Z%s123" % S.PARTIAL_TAG)
    (partial / "memories.lance").mkdir(parents=True)
    (partial / "SNAPSHOT.json").write_text(json.dumps({"format": S.FORMAT}))
    half_deleted = dest / (".old%s77" % S.DELETING_TAG)
    half_deleted.mkdir()
    assert S.list_snapshots(str(dest)) == []
    r = snap(db, dest)
    assert sorted(r["cleaned"]) == sorted([partial.name, half_deleted.name])
    assert visible(dest) == [r["name"]]


def test_default_names_never_collide(db, tmp_path):
    dest = tmp_path / "snaps"
    now = datetime.datetime(2026, 9, 1, 3, 0, 0, tzinfo=datetime.timezone.utc).timestamp()
    a = snap(db, dest, now=now)
    b = snap(db, dest, now=now, force=True)
    assert (a["name"], b["name"]) == ("20260901T030000Z", "20260901T030000Z-2")


def test_domain_does_not_need_ansible():
    """The cron command calls the domain directly: module_utils/snapshot.py never imports AnsibleModule."""
    with open(S.__file__) as f:
        code = f.read()
    assert "AnsibleModule" not in code and "ansible.module_utils" not in code


def test_durable_without_syncfs(db, tmp_path, monkeypatch):
    """Where syncfs(2) is missing every copied file and directory is fsynced instead; same snapshot."""
    assert S._SYNCFS is not None  # Linux: one syncfs per snapshot is the normal path
    monkeypatch.setattr(S, "_SYNCFS", None)
    r = snap(db, tmp_path / "snaps")
    assert_equal_at_pin(r["snapshot"], db, r["tables"])
    assert verify_sums(r["snapshot"], read_sums(r["checksums"]), ignore=("SHA256SUMS", "SNAPSHOT.json"))["ok"]


def test_namespace_manifest_table_is_kept(tmp_path):
    """LanceDB may keep a `__manifest` table at the database root (not a `<name>.lance` dir): it comes along."""
    src = tmp_path / "db"
    make_db(src, n=20, indexes=False, blobs=False)
    lance.write_dataset(pa.table({"object_id": ["memories"], "location": ["memories.lance"]}), str(src / "__manifest"))
    r = snap(src, tmp_path / "snaps")
    assert sorted(r["tables"]) == ["__manifest", "memories"]
    assert lance.dataset(os.path.join(r["snapshot"], "__manifest")).to_table().equals(
        lance.dataset(str(src / "__manifest")).to_table())
    meta = json.load(open(r["metadata"]))
    assert meta["stats_table"] == "memories" and meta["total"] == 21


# --------------------------------------------------------------------------- incremental counts and fast links


def _recount(snapshot_dir, probes=3):
    """Counts and probes of a snapshot's memories table read row by row (lance.memory_stats, a full scan)."""
    return memory_stats(lance.dataset(os.path.join(snapshot_dir, "memories.lance")), probes=probes)


def _baseline(meta):
    return {k: meta[k] for k in ("total", "by_category", "by_agent", "by_scope", "oldest", "newest", "probes")}


def _assert_counts_are_a_full_recount(r, probes=3):
    meta = json.load(open(r["metadata"]))
    full = _recount(r["snapshot"], probes)
    assert _baseline(meta) == {k: full[k] for k in _baseline(meta)}
    assert len(meta["probes"]) == probes
    return meta


def _fragment_ids(db):
    return [f.fragment_id for f in lance.dataset(str(db / "memories.lance")).get_fragments()]


def test_incremental_counts_equal_a_full_recount_after_adds_deletes_and_compaction(tmp_path):
    """The counts a snapshot reuses from the previous one's per-fragment record are the rows' own counts."""
    db = tmp_path / "lancedb"
    make_db(db, n=200, per_commit_tail=6, blobs=False)
    dest = tmp_path / "snaps"
    first = snap(db, dest)
    fragments = len(_fragment_ids(db))
    assert first["fragment_counts"] == {"fragments": fragments, "reused": 0, "counted": fragments}
    _assert_counts_are_a_full_recount(first)
    assert os.path.isfile(S._counts_path(first["snapshot"]))

    # adds: only the new fragments are read
    for i in range(5):
        add_memory(db, 1000 + i)
    second = snap(db, dest)
    assert second["fragment_counts"] == {"fragments": fragments + 5, "reused": fragments, "counted": 5}
    meta = _assert_counts_are_a_full_recount(second)
    assert meta["total"] == json.load(open(first["metadata"]))["total"] + 5

    # deletes: a new deletion file for the bulk fragment, a one-row fragment gone, and each probe row of the
    # last snapshot deleted, so the probes must come from rows never picked before
    t = lancedb.connect(str(db)).open_table("memories")
    gone = [p["id"] for p in meta["probes"]]
    doomed = set(gone) | {"m000010", "m000203", "m001002"}
    t.delete("id IN (%s)" % ", ".join("'%s'" % i for i in sorted(doomed)))
    third = snap(db, dest)
    counts = third["fragment_counts"]
    assert counts["fragments"] == len(_fragment_ids(db)) and 0 < counts["counted"] < counts["fragments"]
    meta3 = _assert_counts_are_a_full_recount(third)
    assert not set(gone) & {p["id"] for p in meta3["probes"]}
    assert meta3["total"] == meta["total"] - len(doomed)

    # compaction renumbers every fragment: nothing can be reused, everything is counted again
    before = set(_fragment_ids(db))
    t.optimize()
    assert not before & set(_fragment_ids(db))
    fourth = snap(db, dest)
    assert fourth["fragment_counts"]["reused"] == 0
    assert _assert_counts_are_a_full_recount(fourth)["total"] == meta3["total"]

    # and the compacted fragments are reused by the next one
    add_memory(db, 2000)
    fifth = snap(db, dest)
    assert fifth["fragment_counts"]["counted"] == 1
    _assert_counts_are_a_full_recount(fifth)
    assert_equal_at_pin(fifth["snapshot"], db, fifth["tables"])


def test_fragment_stats_reuse_is_exact_and_refused_when_it_cannot_be(tmp_path):
    """lance.fragment_stats against memory_stats on real tables: reused through JSON, more probes, other schema."""
    db = tmp_path / "lancedb"
    make_db(db, n=30, per_commit_tail=30, indexes=False, blobs=False)  # most probes in one-row fragments
    uri = str(db / "memories.lance")
    ds = lance.dataset(uri)
    stats, record, info = fragment_stats(ds, probes=5)
    assert stats == memory_stats(ds, probes=5) and info["counted"] == info["fragments"]
    record = json.loads(json.dumps(record))
    for i in range(3):
        add_memory(db, 500 + i)
    # one one-row fragment deleted whole, the bulk fragment gets a new deletion file
    lancedb.connect(str(db)).open_table("memories").delete("id IN ('m000031', 'm000007')")
    ds = lance.dataset(uri)
    stats, _rec, info = fragment_stats(ds, probes=5, previous=record)
    assert stats == memory_stats(ds, probes=5)
    assert {k: info[k] for k in ("fragments", "reused", "counted")} == {"fragments": 33, "reused": 29, "counted": 4}
    # the probes' row offsets (what fetch_memories takes) point at the probe rows themselves
    taken = ds.take(info["probe_offsets"], columns=["id"]).column("id").to_pylist()
    assert taken == [p["id"] for p in stats["probes"]] and len(taken) == 5
    # a record made for fewer probes cannot give more: counted again
    _s, _r, info = fragment_stats(ds, probes=7, previous=record)
    assert info["reused"] == 0
    # entries that do not add up to the table's rows (a damaged record) are not trusted
    bad = json.loads(json.dumps(record))
    bad["fragments"][-1][3] += 1  # the last one-row fragment: unchanged, so it would be reused
    stats, _r, info = fragment_stats(ds, probes=5, previous=bad)
    assert stats == memory_stats(ds, probes=5) and info["reused"] == 0
    # an entry of the wrong shape makes the whole record unusable, it is not half trusted
    for damage in ({"by_category": {"fact": "1"}, "by_agent": {}}, {"by_category": {}}, None):
        bad = json.loads(json.dumps(record))
        bad["fragments"][-1][6] = damage
        stats, _r, info = fragment_stats(ds, probes=5, previous=bad)
        assert stats == memory_stats(ds, probes=5) and info["reused"] == 0
    # other counted columns (a column renamed in the manifest only): nothing is reused
    lance.dataset(uri).alter_columns({"path": "agentId", "name": "agent"})
    ds = lance.dataset(uri)
    stats, _r, info = fragment_stats(ds, probes=5, previous=record)
    assert info["reused"] == 0 and stats == memory_stats(ds, probes=5) and stats["by_agent"] is None


def test_counts_file_lives_beside_the_snapshot_and_goes_with_it(db, tmp_path):
    dest = tmp_path / "snaps"
    first = snap(db, dest, mode="0640")
    path = S._counts_path(first["snapshot"])
    assert os.path.dirname(path) == str(dest) and os.path.basename(path) == ".%s.fragments.json" % first["name"]
    assert os.stat(path).st_mode & 0o7777 == 0o640
    # not part of the snapshot: lance_verify's checksums check and restore see only SHA256SUMS' files
    assert verify_sums(first["snapshot"], read_sums(first["checksums"]), ignore=("SHA256SUMS", "SNAPSHOT.json"))["ok"]
    data = json.load(open(path))
    assert (data["snapshot"], data["table"]) == (first["name"], "memories")
    assert data["sums_sha256"] == sha256_file(first["checksums"])

    # damaged or foreign: ignored, every row counted, same result
    add_memory(db, 3000)
    with open(path, "w") as f:
        f.write('{"snapshot": "%s", "fragments": [' % first["name"])
    second = snap(db, dest)
    assert second["fragment_counts"]["reused"] == 0
    _assert_counts_are_a_full_recount(second)
    data = json.load(open(S._counts_path(second["snapshot"])))
    data["sums_sha256"] = "0" * 64  # the counts of an earlier snapshot that had the same name
    with open(S._counts_path(second["snapshot"]), "w") as f:
        json.dump(data, f)
    add_memory(db, 3001)
    third = snap(db, dest)
    assert third["fragment_counts"]["reused"] == 0

    # a snapshot removed by hand leaves its counts file: removed by the next run, like a staging leftover;
    # retention removes a snapshot's counts with it
    shutil.rmtree(third["snapshot"])
    partial = dest / (".%s.fragments.json%s99" % (second["name"], S.PARTIAL_TAG))
    partial.write_text("{")
    add_memory(db, 3002)
    fourth = snap(db, dest, retain=1)
    assert sorted(fourth["cleaned"]) == sorted([".%s.fragments.json" % third["name"], partial.name])
    assert fourth["removed"] == [first["name"], second["name"]]
    assert sorted(os.listdir(dest)) == sorted([S.LOCK_NAME, fourth["name"], ".%s.fragments.json" % fourth["name"]])
    # a snapshot whose name ends like a counts file is not mistaken for one
    odd = snap(db, dest, name="x.fragments.json", force=True)
    assert snap(db, dest, name="x.fragments.json")["reused"] and os.path.isdir(odd["snapshot"])


def _rewrite_in_place_keeping_size_and_mtime(path, vectors):
    """Flip the lowest bit of one stored vector value: the file still reads and keeps its size; mtime put back."""
    st = os.stat(path)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    at = next(i for i in (data.find(struct.pack("<f", v[0])) for v in vectors) if i >= 0)
    data[at] ^= 0x01
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_links_trust_size_and_mtime_unless_verify_links(tmp_path):
    """The documented trade-off of verify_links=false, and that a touched file is still compared by content."""
    db = tmp_path / "lancedb"
    make_db(db, n=50, indexes=False, blobs=False)
    dest = tmp_path / "snaps"
    first = snap(db, dest)
    data_dir = db / "memories.lance" / "data"
    victim = sorted(data_dir.iterdir())[0]
    rel = "memories.lance/data/" + victim.name
    base_sha = read_sums(first["checksums"])[rel]

    # rewritten in place with the same size and mtime (Lance never does this): linked without reading it,
    # so the snapshot holds the previous snapshot's bytes, which still match its own SHA256SUMS
    _rewrite_in_place_keeping_size_and_mtime(victim, lance.dataset(str(db / "memories.lance")).to_table(
        columns=["vector"]).column("vector").to_pylist())
    assert sha256_file(str(victim)) != base_sha
    trusted = snap(db, dest, force=True)
    assert trusted["files_copied"] == 0 and read_sums(trusted["checksums"])[rel] == base_sha
    assert verify_sums(trusted["snapshot"], read_sums(trusted["checksums"]),
                       ignore=("SHA256SUMS", "SNAPSHOT.json"))["ok"]
    # verify_links=true reads it, sees the difference and copies it
    verified = snap(db, dest, force=True, verify_links=True)
    assert verified["files_copied"] == 1
    new_sha = sha256_file(str(victim))
    assert read_sums(verified["checksums"])[rel] == new_sha
    assert os.stat(os.path.join(verified["snapshot"], rel)).st_ino != os.stat(
        os.path.join(trusted["snapshot"], rel)).st_ino

    # touched (a new mtime, the same bytes as the newest snapshot's copy): hashed, found equal, linked
    os.utime(victim, ns=(time.time_ns(), time.time_ns()))
    touched = snap(db, dest, force=True)
    assert touched["link_dest"] == verified["snapshot"]
    assert touched["files_copied"] == 0 and read_sums(touched["checksums"])[rel] == new_sha


def test_copies_run_in_a_bounded_pool_and_sums_do_not_depend_on_it(db, tmp_path, monkeypatch):
    running, peak, threads = [0], [0], set()
    lock = threading.Lock()
    real = S.copy_file

    def counting_copy(src, dst, mode):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            threads.add(threading.current_thread().name)
        try:
            time.sleep(0.002)
            return real(src, dst, mode)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(S, "copy_file", counting_copy)
    monkeypatch.setattr(S, "POOL_MIN_FILES", 2)  # a test table has few files
    pooled = snap(db, tmp_path / "a", link_dest="none")
    assert 1 < peak[0] <= S.COPY_WORKERS
    assert all(n.startswith("snapshot-copy") for n in threads)
    monkeypatch.setattr(S, "COPY_WORKERS", 1)
    serial = snap(db, tmp_path / "b", link_dest="none")
    with open(pooled["checksums"], "rb") as a, open(serial["checksums"], "rb") as b:
        assert a.read() == b.read()
    assert pooled["files_copied"] == serial["files_copied"] and pooled["bytes_copied"] == serial["bytes_copied"]
    assert_equal_at_pin(pooled["snapshot"], db, pooled["tables"])


def test_wait_lock_names_the_holder_path_and_the_wait(tmp_path):
    from ansible_collections.openclaw.memory.plugins.module_utils.common import WaitLock

    busy = "Another run holds '%s' (waited %ss)"
    lock = str(tmp_path / ".lock")
    with WaitLock(lock, 1, busy):
        with pytest.raises(MemoryToolError) as e:
            with WaitLock(lock, 0.3, busy):
                pass
        assert e.value.msg == "Another run holds '%s' (waited 0.3s)" % lock
    with WaitLock(lock, 0.3, busy):  # released: taken at once
        pass
    # A directory is locked in place, nothing is created in it.
    with WaitLock(str(tmp_path), 0.3, busy, create=False):
        with pytest.raises(MemoryToolError):
            with WaitLock(str(tmp_path), 0.3, busy, create=False):
                pass
    assert sorted(os.listdir(tmp_path)) == [".lock"]


def test_copy_file_gives_the_mode_asked_for_whatever_the_umask(tmp_path):
    src = tmp_path / "src"
    src.write_bytes(b"memories" * 100)
    old = os.umask(0o027)
    try:
        S.copy_file(str(src), str(tmp_path / "dst"), 0o660)
    finally:
        os.umask(old)
    assert oct(os.stat(str(tmp_path / "dst")).st_mode & 0o777) == "0o660"


def test_files_deleted_while_the_snapshot_reads_them(db, tmp_path, monkeypatch):
    """A table file gone when it is compared with link_dest is left to the copy (which pins again when it is
    really gone); a workspace note deleted after it was listed is left out; one deleted while it is copied
    fails naming it, with nothing kept."""
    dest = tmp_path / "snaps"
    ws = tmp_path / "workspace"
    (ws / "memory").mkdir(parents=True)
    (ws / "MEMORY.md").write_text("# Memory\n")
    (ws / "memory" / "a.md").write_text("note a\n")
    (ws / "memory" / "b.md").write_text("note b\n")
    first = snap(db, dest, workspace=ws)
    add_memory(db, 900)
    real_sha = S.sha256_file
    seen = []

    def flaky_sha(path):  # the first two table files read (the manifest compared with the newest snapshot, a
        # table file compared with link_dest) read as gone, once each
        if "/memories.lance/" in str(path) and len(seen) < 2:
            seen.append(path)
            raise FileNotFoundError(path)
        if str(path).endswith("b.md"):
            os.unlink(path)  # deleted by the agent between listing and hashing
            raise FileNotFoundError(path)
        return real_sha(path)

    monkeypatch.setattr(S, "sha256_file", flaky_sha)
    second = snap(db, dest, workspace=ws, verify_links=True, link_dest=first["snapshot"])
    assert len(seen) == 2 and "_versions/" not in seen[1] and second["changed"] and second["files_copied"] >= 2
    assert_equal_at_pin(second["snapshot"], db, second["tables"])
    listed = read_sums(second["checksums"])
    assert "workspace/memory/a.md" in listed and "workspace/memory/b.md" not in listed
    monkeypatch.setattr(S, "sha256_file", real_sha)

    real_copy = S.copy_file

    def deleting_copy(src, dst, mode):
        if src.endswith("a.md"):
            os.unlink(src)
        return real_copy(src, dst, mode)

    monkeypatch.setattr(S, "copy_file", deleting_copy)
    before = sorted(os.listdir(dest))
    with pytest.raises(MemoryToolError) as e:
        snap(db, dest, workspace=ws, force=True, link_dest="none")
    assert e.value.msg.startswith("'%s' was deleted while snapshot" % (ws / "memory" / "a.md"))
    assert "nothing was kept: re-run the snapshot" in e.value.msg
    assert sorted(os.listdir(dest)) == before
