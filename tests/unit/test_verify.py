# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lance_verify domain (plugins/module_utils/verify.py) on real small LanceDB databases.

Each damage from lance-facts.md's table is made on a copy of a clean
snapshot (or database), and the test asserts exactly which checks fail, with
which message, and that the other checks still report. The module through
Ansible is at the end; the table written by the plugin's own node client is
in test_verify_node.py.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import lance
import lancedb
import numpy as np
import pytest
from ansible_collections.openclaw.memory.plugins.module_utils import verify as V
from ansible_collections.openclaw.memory.plugins.module_utils.checksums import SUMS_NAME, verify_sums, write_sums
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError, sha256_file
from ansible_collections.openclaw.memory.plugins.module_utils.lance import (
    memory_stats,
    open_table,
    table_info,
    version_files,
)
from ansible_collections.openclaw.memory.plugins.module_utils.snapshot import take_snapshot
from lancedb.index import BTree, IvfPq
from ocmlab.fixtures import add_memories, build_state, memory_id
from repo_env import ANSIBLE, PYTHON, REPO, ansible_env

DIM = 16
N = 320
SEED = 5
PLUGIN = "memory-lancedb"
DEFAULT = ["checksums", "structure", "content", "search"]

# --------------------------------------------------------------------------- helpers


def build_db(home, n=N):
    """A memory-lancedb state made by ocmlab.fixtures (a bulk commit, then one-row commits), to which this
    adds deletes (deletion files), a BTree index on id, an IVF_PQ index on vector, then rows the indexes
    do not cover yet. Returns the database dir."""
    db = build_state(str(home), n=n, dims=DIM, seed=SEED, mode="batched", batch_size=n, tail=3,
                     workspace=False)["db_path"]
    t = lancedb.connect(db).open_table("memories")
    t.delete(f"id IN ('{memory_id(SEED, 5)}', '{memory_id(SEED, 6)}')")
    t.create_index("id", config=BTree())
    t.create_index("vector", config=IvfPq(distance_type="l2", num_partitions=2, num_sub_vectors=4))
    add_memories(db, PLUGIN, 4, seed=SEED, start_index=n, per_commit=2)
    lancedb.connect(db).open_table("memories").delete(f"id = '{memory_id(SEED, n + 1)}'")
    return db


def categories_of(db, ids):
    ds = lance.dataset(os.path.join(db, "memories.lance"))
    quoted = ", ".join(f"'{i}'" for i in ids)
    return ds.to_table(columns=["category"], filter=f"id IN ({quoted})")["category"].to_pylist()


def make_snapshot(db_dir, dest):
    """A snapshot laid out as lance_snapshot makes it: each table's current version files,
    SHA256SUMS (relative paths) and SNAPSHOT.json (the baseline)."""
    os.makedirs(dest)
    sums, tables, stats = {}, {}, {}
    for name in ("memories",):
        src = os.path.join(db_dir, name + ".lance")
        ds = open_table(src)
        for rel in version_files(ds, src):
            dst = os.path.join(dest, name + ".lance", rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(os.path.join(src, rel), dst)
            sums[name + ".lance/" + rel] = sha256_file(dst)
        tables[name] = table_info(ds)
        stats = memory_stats(ds, probes=3)
    write_sums(os.path.join(dest, SUMS_NAME), sums)
    meta = dict(stats, format="openclaw.memory/snapshot-v1", tables=tables, stats_table="memories",
                embedding={"provider": "openai", "model": "text-embedding-3-small", "dimensions": DIM},
                checksums={"file": SUMS_NAME, "sha256": sha256_file(os.path.join(dest, SUMS_NAME))})
    with open(os.path.join(dest, "SNAPSHOT.json"), "w") as f:
        json.dump(meta, f)
    return meta


def fingerprint(root):
    """{relative path: sha256} of every file, plus the sorted directory list."""
    out = {}
    for dirpath, dirs, names in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(dirpath, d), root) + "/"] = "dir"
        for n in names:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, root)] = sha256_file(p)
    return out


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def failed(result):
    return {k for k, r in result["checks"].items() if not r["ok"]}


def assert_all_report(result, checks=None):
    if checks is None:
        checks = DEFAULT
    for name in checks:
        r = result["checks"][name]
        assert isinstance(r["ok"], bool) and r["msg"], (name, r)


def table_dir(root):
    return os.path.join(str(root), "memories.lance")


def fragment_of(root, data_rel):
    """Id of the fragment whose data file is `data/<name>` (read from the manifest, which is intact)."""
    for frag in lance.dataset(table_dir(root)).get_fragments():
        if any("data/" + f.path == data_rel for f in frag.metadata.files):
            return frag.fragment_id
    raise AssertionError(f"no fragment holds {data_rel}")


def largest_data_file(root):
    return max(glob.glob(os.path.join(table_dir(root), "data", "*.lance")), key=os.path.getsize)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("verify-base")
    db = build_db(root / "home")
    meta = make_snapshot(db, str(root / "snap"))
    return {"db": db, "snap": str(root / "snap"), "meta": meta}


@pytest.fixture
def snap(base, tmp_path):
    dst = str(tmp_path / "snap")
    shutil.copytree(base["snap"], dst)
    return dst


@pytest.fixture
def live(base, tmp_path):
    dst = str(tmp_path / "db")
    shutil.copytree(base["db"], dst)
    return dst


@pytest.fixture
def scratch_tmp(tmp_path, monkeypatch):
    """Point the temp dir (where readwrite makes its scratch copy) at an empty dir of this test."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def check(path, **kw):
    kw.setdefault("baseline", os.path.join(path, "SNAPSHOT.json"))
    return V.verify(path, **kw)


# --------------------------------------------------------------------------- clean


def test_clean_snapshot_passes_every_check(snap, base, scratch_tmp):
    r = check(snap, checks=V.CHECKS, compare_to=base["db"], today="2026-09-01")
    assert r["mismatches"] == []
    assert r["ok"] is True and failed(r) == set()
    c = r["checks"]
    assert set(c) == {"checksums", "structure", "content", "search", "readwrite", "compare"}
    assert c["checksums"]["files"] == len(read_text(os.path.join(snap, SUMS_NAME)).splitlines())
    assert c["checksums"]["bad"] == c["checksums"]["missing"] == c["checksums"]["extra"] == []
    assert c["structure"]["tables"]["memories"]["validate"] == "passed"
    assert c["content"]["probes_checked"] == 3
    idx = {i["name"]: i for i in c["search"]["tables"]["memories"]["indices"]}
    assert {(i["type"], i["kind"], i["ok"]) for i in idx.values()} == {("BTree", "scalar", True),
                                                                       ("IVF_PQ", "vector", True)}
    assert idx["vector_idx"]["metric"] == "l2"
    assert c["search"]["tables"]["memories"]["samples"] == 5
    rw = c["readwrite"]
    assert rw["text"] == "Memory restore verification completed on 2026-09-01"
    assert rw["found_by_vector"] and rw["found_by_id"] and rw["deleted"] and rw["removed"]
    assert rw["rows_before"] == rw["rows_after"] == base["meta"]["total"]
    assert not os.path.exists(rw["scratch"]) and os.listdir(scratch_tmp) == []
    assert c["compare"]["tables"]["memories"]["ok"] is True
    s = r["stats"]
    assert (s["total"], s["by_category"], s["by_agent"]) == (
        base["meta"]["total"], base["meta"]["by_category"], base["meta"]["by_agent"])
    assert s["tables"]["memories"]["version"] == base["meta"]["tables"]["memories"]["version"]
    assert s["embedding"]["model"] == "text-embedding-3-small"
    assert V.failure_message(r).startswith(f"Verification of '{snap}' failed (): ") or r["ok"]


def test_without_content_the_structure_check_compares_the_total_with_the_manifest(snap, base):
    want = base["meta"]["total"]
    assert check(snap, checks=["checksums", "structure"])["ok"] is True
    r = check(snap, checks=["checksums", "structure"], expect={"total": want + 1})
    assert failed(r) == {"structure"}
    assert r["mismatches"] == [f"total: expected {want + 1}, found {want}"]
    # With the content check, the total is its (from every row read), reported once.
    r = check(snap, checks=["structure", "content"], expect={"total": want + 1})
    assert failed(r) == {"content"} and r["mismatches"] == [f"total: expected {want + 1}, found {want}"]


def test_live_database_skips_checksums_and_says_so(live):
    r = V.verify(live)
    assert r["ok"] is True
    assert r["checks"]["checksums"] == {
        "ok": True, "skipped": True, "file": None,
        "msg": f"skipped: no SHA256SUMS in '{live}' (a live database has none); pass checksums=<file> to check "
               "against one"}
    assert r["stats"]["total"] == N - 2 + 4 - 1
    assert r["stats"]["embedding"] is None


def test_checksums_none_and_explicit_file(snap, tmp_path):
    assert V.verify(snap, checksums="none")["checks"]["checksums"]["msg"] == "skipped: checksums=none"
    elsewhere = str(tmp_path / "sums.txt")
    shutil.move(os.path.join(snap, SUMS_NAME), elsewhere)
    r = V.verify(snap, checksums=elsewhere, checks=["checksums"])
    assert r["ok"] is True and r["checks"]["checksums"]["file"] == elsewhere


def test_linked_from_reads_only_the_files_not_linked_from_a_verified_snapshot(tmp_path):
    """A snapshot that hard-links most files from the one before it (as rsync --link-dest and lance_snapshot
    make them): the files that are the very same files there are not read again, every other file is, and
    damage in either kind of file that makes it another file is still caught."""
    built = build_state(str(tmp_path / "home"), n=30, dims=DIM, seed=3, workspace=False)
    a = take_snapshot(built["db_path"], str(tmp_path / "snaps"), name="a")
    add_memories(built["db_path"], PLUGIN, 3, seed=3)
    b = take_snapshot(built["db_path"], str(tmp_path / "snaps"), name="b", link_dest=a["snapshot"])
    assert b["bytes_linked"] > 0
    linked = [rel for rel in b_sums(b) if os.path.exists(os.path.join(a["snapshot"], rel))
              and os.path.samefile(os.path.join(b["snapshot"], rel), os.path.join(a["snapshot"], rel))]
    assert 0 < len(linked) < len(b_sums(b))
    r = V.verify(b["snapshot"], checks=["checksums"], linked_from=a["snapshot"])
    cs = r["checks"]["checksums"]
    assert r["ok"] and cs["not_read"] == len(linked), cs
    assert "%d not read again" % len(linked) in cs["msg"]
    # A linked file replaced by a damaged copy (another inode, same size and mtime) is read and caught.
    victim = os.path.join(b["snapshot"], sorted(rel for rel in linked if "/data/" in rel)[0])
    st = os.stat(victim)
    with open(victim, "rb") as f:
        data = bytearray(f.read())
    data[40] ^= 0xFF
    os.unlink(victim)
    with open(victim, "wb") as f:
        f.write(data)
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    r = V.verify(b["snapshot"], checks=["checksums"], linked_from=a["snapshot"])
    assert failed(r) == {"checksums"} and r["checks"]["checksums"]["not_read"] == len(linked) - 1
    assert r["mismatches"] == ["checksum: '%s' differs from SHA256SUMS" % os.path.relpath(victim, b["snapshot"])]
    # linked_from that is not a snapshot: named, with the fix.
    with pytest.raises(MemoryToolError) as e:
        V.verify(b["snapshot"], checks=["checksums"], linked_from=str(tmp_path))
    assert "linked_from '%s' is not a snapshot (no SHA256SUMS in it)" % tmp_path in e.value.msg


def test_linked_from_the_verified_directory_itself_is_refused(tmp_path):
    """linked_from naming the snapshot being verified (as given, with a trailing slash, through a symlink) would
    vouch for every file with itself, so none would be hashed: refused, and damage is still found without it."""
    built = build_state(str(tmp_path / "home"), n=20, dims=DIM, seed=4, workspace=False)
    snap = take_snapshot(built["db_path"], str(tmp_path / "snaps"), name="s1")["snapshot"]
    victim = os.path.join(snap, next(rel for rel in b_sums({"snapshot": snap}) if "/data/" in rel))
    st = os.stat(victim)
    with open(victim, "r+b") as f:
        f.seek(40)
        byte = f.read(1)
        f.seek(40)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    alias = tmp_path / "alias"
    alias.symlink_to(snap)
    for same in (snap, snap + "/", os.path.join(snap, "memories.lance", ".."), str(alias)):
        with pytest.raises(MemoryToolError) as e:
            V.verify(snap, checks=["checksums"], linked_from=same)
        assert e.value.msg == (
            "linked_from '%s' is the directory being verified ('%s'): its files would vouch for themselves and none "
            "would be read; linked_from must be another, verified snapshot that '%s' hard-links its files from, or "
            "leave linked_from unset" % (os.path.abspath(same), snap, snap)), same
    r = V.verify(snap, checks=["checksums"])
    assert failed(r) == {"checksums"} and r["checks"]["checksums"]["not_read"] == 0
    assert r["mismatches"] == ["checksum: '%s' differs from SHA256SUMS" % os.path.relpath(victim, snap)]


def b_sums(snap):
    with open(os.path.join(snap["snapshot"], SUMS_NAME), encoding="utf-8") as f:
        return [line.split("  ", 1)[1].rstrip("\n") for line in f if line.strip()]


# --------------------------------------------------------------------------- other writers and layouts


def test_snapshot_made_by_lance_snapshot_with_a_workspace(tmp_path):
    """A real lance_snapshot snapshot (SNAPSHOT.json not in SHA256SUMS, workspace/ in it) verifies clean;
    a changed workspace file is caught by its checksum."""
    built = build_state(str(tmp_path / "home"), n=40, dims=DIM, seed=3)
    snap = take_snapshot(built["db_path"], str(tmp_path / "snaps"), name="s1",
                         workspace=os.path.join(built["state_dir"], "workspace"),
                         embedding={"provider": "openai", "model": "text-embedding-3-small", "dimensions": DIM})
    r = check(snap["snapshot"])
    assert r["ok"] and r["mismatches"] == []
    assert r["checks"]["checksums"]["files"] == snap["files"]
    assert (r["stats"]["total"], r["stats"]["by_category"]) == (40, built["by_category"])
    with open(os.path.join(snap["snapshot"], "workspace", "MEMORY.md"), "a", encoding="utf-8") as f:
        f.write("edited\n")
    r = check(snap["snapshot"])
    assert failed(r) == {"checksums"}
    assert r["mismatches"] == ["checksum: 'workspace/MEMORY.md' differs from SHA256SUMS"]


def test_pro_plugin_table_counts_by_scope(tmp_path):
    built = build_state(str(tmp_path / "home"), plugin="memory-lancedb-pro", n=60, dims=DIM, seed=4,
                        mode="batched", batch_size=20, workspace=False)
    snap = take_snapshot(built["db_path"], str(tmp_path / "snaps"), name="s1")["snapshot"]
    r = check(snap, checks=V.CHECKS, today="2026-09-01")
    assert r["ok"], r["mismatches"]
    assert r["stats"]["by_scope"] == built["by_scope"] and r["stats"]["by_agent"] is None
    assert r["checks"]["readwrite"]["found_by_vector"] and r["checks"]["readwrite"]["deleted"]
    scope, count = min(built["by_scope"].items())
    r = check(snap, checks=["content"], expect={"by_scope": dict(built["by_scope"], **{scope: count + 5})})
    assert r["mismatches"] == [f"by_scope.{scope}: expected {count + 5}, found {count}"]
    r = check(snap, checks=["content"], expect={"by_agent": {"main": 60}})
    assert r["mismatches"] == ["by_agent: expected main=60, the table has no 'agentId' column"]


def test_older_writer_formats_v1_manifests_and_storage_2_0(tmp_path):
    built = build_state(str(tmp_path / "home"), n=30, dims=DIM, seed=6, data_storage_version="2.0",
                        v1_manifests=True, workspace=False)
    assert glob.glob(os.path.join(table_dir(built["db_path"]), "_versions", "1.manifest"))
    r = V.verify(built["db_path"], checks=V.CHECKS, expect={
        "total": 30, "by_category": built["by_category"],
        "probes": [{"id": p["id"], "text": p["text"]} for p in built["probes"]],
        "tables": {"memories": {"version": built["version"], "rows": 30, "vector_dim": DIM}}})
    assert r["ok"], r["mismatches"]
    assert r["checks"]["structure"]["tables"]["memories"]["data_storage_version"] == "2.0"
    snap = take_snapshot(built["db_path"], str(tmp_path / "snaps"), name="s1")["snapshot"]
    assert check(snap)["ok"]


def test_duplicate_vectors_are_ties_not_failures(tmp_path):
    """The same memory stored twice has the same vector: either copy coming first is fine."""
    built = build_state(str(tmp_path / "home"), n=30, dims=DIM, seed=8, duplicates=3, workspace=False)
    assert len(built["planted"]["duplicates"]) == 3
    r = V.verify(built["db_path"], checks=["search"], sample=30)
    assert r["ok"], r["mismatches"]
    assert r["checks"]["search"]["tables"]["memories"]["flat_search"] == [
        {"field": "vector", "ok": True, "lance_queries": 1, "exact_checked": 30}]


# --------------------------------------------------------------------------- damage (lance-facts table)


def flip_vector_bytes(snap):
    """XOR 64 bytes (16 float32 = one vector) of a row that the search check does not sample:
    the values stay finite, so only the checksum can notice."""
    ds = lance.dataset(table_dir(snap))
    frag = ds.get_fragments()[0]
    vec = frag.to_table(columns=["vector"], limit=10)["vector"][7].as_py()
    raw = np.array(vec, dtype=np.float32).tobytes()
    path = os.path.join(table_dir(snap), "data", frag.metadata.files[0].path)
    data = bytearray(read_bytes(path))
    at = data.find(raw)
    assert at >= 0, f"the vector's bytes are not stored plainly in {path}: pick another way to flip them"
    for i in range(at, at + 64):
        data[i] ^= 0x01
    write_bytes(path, bytes(data))
    return os.path.relpath(path, snap)


def test_flipped_bytes_in_a_data_file_only_checksums_catch(snap):
    rel = flip_vector_bytes(snap)
    r = check(snap)
    assert failed(r) == {"checksums"}
    assert r["checks"]["checksums"]["bad"] == [rel]
    assert r["mismatches"] == [f"checksum: '{rel}' differs from SHA256SUMS"]
    assert r["checks"]["checksums"]["msg"].startswith("1 of ")
    assert_all_report(r)


def test_truncated_data_file(snap):
    path = largest_data_file(snap)
    os.truncate(path, os.path.getsize(path) // 2)
    rel = os.path.relpath(path, snap)
    r = check(snap)
    assert failed(r) == {"checksums", "structure", "content", "search"}
    m = r["mismatches"]
    assert f"checksum: '{rel}' differs from SHA256SUMS" in m
    assert any(x.startswith("table memories: validate() failed: ") for x in m), m
    data_rel = rel[len("memories.lance/"):]
    frag = fragment_of(snap, data_rel)
    assert any(x.startswith(f"table memories: fragment {frag} ({data_rel}, _deletions/")
               and x.endswith(") cannot be read: LanceError(IO): Generic LocalFileSystem error: failed to fill whole "
                              "buffer") for x in m), m
    assert r["checks"]["content"]["tables"]["memories"]["bad_fragments"] == [frag]
    assert_all_report(r)


def test_deleted_data_file(snap):
    path = largest_data_file(snap)
    os.remove(path)
    rel = os.path.relpath(path, snap)
    r = check(snap)
    assert failed(r) == {"checksums", "structure", "content", "search"}
    m = r["mismatches"]
    assert f"checksum: '{rel}' is listed in SHA256SUMS but missing" in m
    assert any(x.startswith("table memories: validate() failed: Not found: ") for x in m), m
    data_rel = rel[len("memories.lance/"):]
    assert any(x.startswith(f"table memories: fragment {fragment_of(snap, data_rel)} ({data_rel}, _deletions/")
               and ") cannot be read: Not found: " in x for x in m), m
    assert_all_report(r)


def test_deleted_deletion_file(snap):
    path = min(glob.glob(os.path.join(table_dir(snap), "_deletions", "*")))
    os.remove(path)
    rel = os.path.relpath(path, snap)
    r = check(snap)
    assert failed(r) == {"checksums", "structure", "content", "search"}
    m = r["mismatches"]
    assert f"checksum: '{rel}' is listed in SHA256SUMS but missing" in m
    assert any("validate() failed" in x and os.path.basename(path) in x for x in m), m
    assert any("cannot be read" in x and rel[len("memories.lance/"):] in x for x in m), m
    # The manifest still counts the deleted rows out: count_rows() alone would have passed.
    assert r["checks"]["structure"]["tables"]["memories"]["rows"] == r["stats"]["tables"]["memories"]["rows"]
    assert_all_report(r)


def test_deleted_vector_index_file(snap):
    path = glob.glob(os.path.join(table_dir(snap), "_indices", "*", "index.idx"))[0]
    os.remove(path)
    r = check(snap)
    assert failed(r) == {"checksums", "search"}
    m = r["mismatches"]
    assert f"checksum: '{os.path.relpath(path, snap)}' is listed in SHA256SUMS but missing" in m
    assert any(x.startswith(("table memories: index vector_idx (IVF_PQ) on 'vector' cannot be read: ",
                             "table memories: vector search via index vector_idx (IVF_PQ) failed: ")) for x in m), m
    idx = {i["name"]: i["ok"] for i in r["checks"]["search"]["tables"]["memories"]["indices"]}
    assert idx == {"id_idx": True, "vector_idx": False}
    assert r["checks"]["content"]["ok"] and r["checks"]["structure"]["ok"]
    assert_all_report(r)


def test_deleted_scalar_index_page_file(snap):
    path = glob.glob(os.path.join(table_dir(snap), "_indices", "*", "page_data.lance"))[0]
    os.remove(path)
    r = check(snap)
    assert failed(r) == {"checksums", "search"}
    m = r["mismatches"]
    assert f"checksum: '{os.path.relpath(path, snap)}' is listed in SHA256SUMS but missing" in m
    assert any(x.startswith("table memories: index id_idx (BTree on id) query failed: ") for x in m), m
    idx = {i["name"]: i["ok"] for i in r["checks"]["search"]["tables"]["memories"]["indices"]}
    assert idx == {"id_idx": False, "vector_idx": True}
    # The probes are looked up by the full scan, not through the damaged index.
    assert r["checks"]["content"]["ok"] and r["checks"]["content"]["probes_checked"] == 3
    assert_all_report(r)


def test_extra_file(snap):
    with open(os.path.join(table_dir(snap), "data", "stray.lance"), "wb") as f:
        f.write(b"not lance")
    r = check(snap)
    assert failed(r) == {"checksums"}
    assert r["checks"]["checksums"]["extra"] == ["memories.lance/data/stray.lance"]
    assert r["mismatches"] == ["checksum: 'memories.lance/data/stray.lance' is present but not listed in SHA256SUMS"]
    assert_all_report(r)


def test_missing_manifest_in_a_snapshot(snap):
    manifests = glob.glob(os.path.join(table_dir(snap), "_versions", "*.manifest"))
    assert len(manifests) == 1
    os.remove(manifests[0])
    r = check(snap)
    assert failed(r) == {"checksums", "structure", "content", "search"}
    m = r["mismatches"]
    assert f"checksum: '{os.path.relpath(manifests[0], snap)}' is listed in SHA256SUMS but missing" in m
    assert any(x.startswith(f"table memories: Lance table '{table_dir(snap)}' cannot be opened: ") for x in m), m
    assert r["checks"]["content"]["msg"] == "not run on table(s) memories: they cannot be opened (see structure)"
    assert r["checks"]["search"]["msg"] == r["checks"]["content"]["msg"]
    assert_all_report(r)


def test_missing_latest_manifest_in_a_live_database(live, base):
    """A live table falls back to the previous version: only the baseline's version and counts notice."""
    latest = min(glob.glob(os.path.join(table_dir(live), "_versions", "*.manifest")))  # V2 names: newest first
    os.remove(latest)
    r = V.verify(live, baseline=os.path.join(base["snap"], "SNAPSHOT.json"))
    v = base["meta"]["tables"]["memories"]["version"]
    total = base["meta"]["total"]
    assert failed(r) == {"structure", "content"}
    assert f"table memories: version: expected {v}, found {v - 1}" in r["mismatches"]
    assert f"table memories: rows: expected {total}, found {total + 1}" in r["mismatches"]
    assert f"total: expected {total}, found {total + 1}" in r["mismatches"]
    assert r["checks"]["checksums"]["skipped"] and r["checks"]["search"]["ok"]


def test_row_count_off_from_the_baseline(live, base):
    ids = [memory_id(SEED, 40), memory_id(SEED, 41)]
    cats = categories_of(live, ids)
    lancedb.connect(live).open_table("memories").delete(f"id IN ('{ids[0]}', '{ids[1]}')")
    r = V.verify(live, baseline=os.path.join(base["snap"], "SNAPSHOT.json"))
    total = base["meta"]["total"]
    m = r["mismatches"]
    assert failed(r) == {"structure", "content"}
    assert f"total: expected {total}, found {total - 2}" in m
    want = base["meta"]["by_category"]
    for cat in set(cats):
        assert f"by_category.{cat}: expected {want[cat]}, found {want[cat] - cats.count(cat)}" in m
    assert f"table memories: rows: expected {total}, found {total - 2}" in m
    assert V.failure_message(r).startswith(f"Verification of '{live}' failed (structure, content): ")
    assert all(x in V.failure_message(r) for x in m)
    assert r["checks"]["search"]["ok"]


def test_probe_text_changed(live, base):
    probe = base["meta"]["probes"][0]
    lancedb.connect(live).open_table("memories").update(where="id = '{}'".format(probe["id"]),
                                                        values={"text": probe["text"] + "!"})
    r = V.verify(live, baseline=os.path.join(base["snap"], "SNAPSHOT.json"), checks=["content"])
    assert failed(r) == {"content"}
    n = len(probe["text"])
    tail = "…" + probe["text"][n - 20:]
    assert r["mismatches"] == [(f"probe {probe['id']}: text differs: expected {tail!r} ({n} chars), "
                                f"found {tail + '!'!r} ({n + 1} chars), first difference at char {n}")]


def test_probe_missing_and_duplicate_ids(live):
    add_memories(live, PLUGIN, 1, seed=SEED, start_index=10)  # row 10 stored a second time
    dup = memory_id(SEED, 10)
    r = V.verify(live, checks=["content"], expect={"probes": [{"id": "no-such-id", "text": "x"}]})
    assert failed(r) == {"content"}
    assert r["mismatches"] == [f"table memories: 1 duplicate id(s), e.g. {dup}", "probe no-such-id: not found"]
    assert r["checks"]["content"]["tables"]["memories"]["duplicate_ids"] == [dup]


def test_wrong_vector_dim(snap):
    r = check(snap, expect={"embedding": {"provider": "openai", "model": "text-embedding-3-small",
                                          "dimensions": 1536},
                            "tables": {"memories": {"vector_dim": 1536}}})
    assert failed(r) == {"structure"}
    assert r["mismatches"] == [
        "table memories: vector_dim: expected 1536, found 16",
        ("embedding.dimensions: expected 1536, table memories stores 16-dim vectors (made by another embedding "
         "model; configure the model that made them or re-embed)")]
    assert_all_report(r)


def test_wrong_embedding_model_against_the_snapshot_record(snap):
    r = check(snap, expect={"embedding": {"model": "nomic-embed-text"}}, checks=["structure"])
    assert r["mismatches"] == [("embedding.model: expected 'nomic-embed-text', the snapshot's vectors were made "
                               "with 'text-embedding-3-small'")]


def test_changed_sums_file_is_caught_through_snapshot_json(snap):
    with open(os.path.join(snap, SUMS_NAME), "a") as f:
        f.write("\n")
    r = check(snap, checks=["checksums"])
    recorded = json.loads(read_text(os.path.join(snap, "SNAPSHOT.json")))["checksums"]["sha256"]
    assert r["mismatches"] == [
        f"checksum: 'SHA256SUMS' differs from the sha256 {recorded[:12]} recorded in SNAPSHOT.json"]


def test_columns_differ_from_baseline(snap):
    r = check(snap, checks=["structure"], expect={"tables": {"memories": {
        "columns": {"id": "string", "text": "large_string", "vector": "fixed_size_list<item: float>[16]",
                    "scope": "string"}}}})
    assert r["mismatches"] == [
        "table memories: column 'scope' (string) expected, missing",
        "table memories: column 'agentId' (string) not expected",
        "table memories: column 'category' (string) not expected",
        "table memories: column 'createdAt' (double) not expected",
        "table memories: column 'importance' (double) not expected",
        "table memories: column 'text': expected type large_string, found string"]


def test_an_unforeseen_error_fails_only_its_check(snap, monkeypatch):
    def boom(*_a, **_kw):
        raise RuntimeError("unexpected state")

    monkeypatch.setattr(V, "_search_table", boom)
    r = check(snap)
    assert failed(r) == {"search"}
    assert r["mismatches"] == ["search: the check could not finish: unexpected state"]
    assert_all_report(r)


# --------------------------------------------------------------------------- readwrite and compare


def test_readwrite_leaves_the_database_byte_identical(live, scratch_tmp):
    before = fingerprint(live)
    r = V.verify(live, checks=["readwrite"], today="2026-09-01")
    assert r["ok"] and r["checks"]["readwrite"]["found_by_vector"] and r["checks"]["readwrite"]["deleted"]
    assert fingerprint(live) == before
    assert os.listdir(scratch_tmp) == []


def test_readwrite_scratch_removed_when_a_step_fails(live, scratch_tmp, monkeypatch):
    def broken(*_a, **_kw):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(V, "_probe_row", broken)
    before = fingerprint(live)
    r = V.verify(live, checks=["readwrite"])
    assert r["ok"] is False
    assert r["mismatches"] == ["readwrite: memories failed on a scratch copy: disk on fire"]
    assert r["checks"]["readwrite"]["removed"] is True and os.listdir(scratch_tmp) == []
    assert fingerprint(live) == before


def test_readwrite_on_a_table_with_a_missing_data_file(live, scratch_tmp):
    os.remove(largest_data_file(live))
    r = V.verify(live, checks=["readwrite"])
    assert r["ok"] is False and r["mismatches"][0].startswith("readwrite: scratch copy of memories failed: ")
    assert os.listdir(scratch_tmp) == []


def test_compare_to_reports_missing_extra_and_changed_rows(live, base):
    tbl = lancedb.connect(live).open_table("memories")
    gone, changed, new = memory_id(SEED, 20), memory_id(SEED, 21), memory_id(SEED, 900)
    tbl.delete(f"id = '{gone}'")
    tbl.update(where=f"id = '{changed}'", values={"text": "edited"})
    add_memories(live, PLUGIN, 1, seed=SEED, start_index=900)
    r = V.verify(live, checks=[], compare_to=base["snap"])
    assert r["ok"] is False and set(r["checks"]) == {"compare"}
    assert r["mismatches"] == [
        f"compare: table memories: 1 id(s) only in '{live}', e.g. {new}",
        "compare: table memories: 1 id(s) only in '{}', e.g. {}".format(base["snap"], gone),
        f"compare: table memories: text differs for 1 id(s), e.g. {changed}"]
    t = r["checks"]["compare"]["tables"]["memories"]
    assert (t["only_here"], t["only_other"], t["text_differs"]) == ([new], [gone], [changed])


# --------------------------------------------------------------------------- checksums helper


def test_parallel_and_serial_hashing_agree(snap):
    from ansible_collections.openclaw.memory.plugins.module_utils.checksums import read_sums

    os.truncate(largest_data_file(snap), 10)
    os.remove(min(glob.glob(os.path.join(table_dir(snap), "_deletions", "*"))))
    sums = read_sums(os.path.join(snap, SUMS_NAME))
    one = verify_sums(snap, sums, ignore=(SUMS_NAME, "SNAPSHOT.json"), workers=1)
    four = verify_sums(snap, sums, ignore=(SUMS_NAME, "SNAPSHOT.json"), workers=4)
    assert one == four and len(one["bad"]) == 1 and len(one["missing"]) == 1


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kw, msg", [
    ({"checks": ["structure", "speed"]},
     "checks: unknown check(s) speed; choose from checksums, structure, content, search, readwrite"),
    ({"expect": {"totl": 5}},
     "expect has unknown key(s) totl; allowed: total, by_category, by_agent, by_scope, probes, tables, embedding"),
    ({"expect": {"total": "many"}}, "expect.total must be a whole number, got 'many'"),
    ({"expect": {"probes": [{"id": "x"}]}},
     "expect.probes[0] must be a dict with 'id' and 'text' (the exact memory text), got ['id']"),
    ({"expect": {"by_category": [1]}}, "expect.by_category must be a dict {value: count}, got [1]"),
    ({"sample": -1}, "sample must be a whole number >= 0 (rows for the search check), got -1"),
    ({"checks": []}, "Nothing to verify: checks is empty and compare_to is not set"),
])
def test_bad_options(live, kw, msg):
    with pytest.raises(MemoryToolError) as e:
        V.verify(live, **kw)
    assert e.value.msg == msg


def test_path_missing_or_a_file(tmp_path):
    with pytest.raises(MemoryToolError) as e:
        V.verify(str(tmp_path / "nope"))
    assert e.value.msg == ("Path '%s' does not exist; pass a snapshot dir (with SHA256SUMS and <table>.lance dirs) "
                           "or a LanceDB database dir" % (tmp_path / "nope"))
    (tmp_path / "f").write_text("x")
    with pytest.raises(MemoryToolError) as e:
        V.verify(str(tmp_path / "f"))
    assert e.value.msg == "Path '%s' is a file, not a snapshot or LanceDB database directory" % (tmp_path / "f")


def test_path_not_a_database(tmp_path, live):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MemoryToolError) as e:
        V.verify(str(tmp_path / "empty"))
    assert e.value.msg == "'%s' is not a LanceDB database directory: it holds no '<table>.lance' table" % (
        tmp_path / "empty")
    with pytest.raises(MemoryToolError) as e:
        V.verify(table_dir(live))
    assert "is a single Lance table, not a LanceDB database directory; pass its parent directory" in e.value.msg


def test_malformed_checksums_file_names_the_line(snap):
    path = os.path.join(snap, SUMS_NAME)
    lines = read_text(path).splitlines()
    lines[2] = "not-a-digest  memories.lance/x"
    write_bytes(path, ("\n".join(lines) + "\n").encode())
    with pytest.raises(MemoryToolError) as e:
        V.verify(snap)
    assert e.value.msg == (f"Checksums file '{path}' line 3 is malformed: expected '<64 hex digits>  <relative path>', "
                           "got 'not-a-digest  memories.lance/x'")


def test_checksums_file_given_but_missing(snap):
    with pytest.raises(MemoryToolError) as e:
        V.verify(snap, checksums="/nonexistent/SUMS")
    assert e.value.msg == ("Checksums file '/nonexistent/SUMS' does not exist; pass checksums=auto to use "
                           f"'{snap}/SHA256SUMS' when present, or none")


def test_bad_baselines(tmp_path, live):
    missing = str(tmp_path / "SNAPSHOT.json")
    with pytest.raises(MemoryToolError) as e:
        V.verify(live, baseline=missing)
    assert e.value.msg == (f"Baseline '{missing}' does not exist; pass the SNAPSHOT.json of the snapshot you restored "
                           "(fetch it to this host first), or omit baseline")
    (tmp_path / "bad.json").write_text('{"total": 5,\n "probes": [}\n')
    with pytest.raises(MemoryToolError) as e:
        V.verify(live, baseline=str(tmp_path / "bad.json"))
    assert e.value.msg.startswith("Baseline '%s' is not valid JSON (Expecting value: line 2 column 13" % (
        tmp_path / "bad.json"))
    assert e.value.msg.endswith("pass the SNAPSHOT.json written by lance_snapshot")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(MemoryToolError) as e:
        V.verify(live, baseline=str(tmp_path / "list.json"))
    assert e.value.msg == ("Baseline '%s' holds a JSON list, not an object with total, by_category, probes, "
                           "tables ...; pass the SNAPSHOT.json written by lance_snapshot" % (tmp_path / "list.json"))
    (tmp_path / "unreadable.json").write_text("{}")
    os.chmod(tmp_path / "unreadable.json", 0)
    if os.access(tmp_path / "unreadable.json", os.R_OK):  # root reads anything: use a directory instead
        bad = str(tmp_path)
    else:
        bad = str(tmp_path / "unreadable.json")
    with pytest.raises(MemoryToolError) as e:
        V.verify(live, baseline=bad)
    assert e.value.msg.startswith(f"Baseline '{bad}' cannot be read: ")
    assert e.value.msg.endswith("; check its permissions")


def test_baseline_secrets_are_not_carried(tmp_path, live):
    (tmp_path / "b.json").write_text(json.dumps({"total": 1, "embedding": {
        "provider": "openai", "model": "m", "dimensions": 16, "apiKey": "sk-secret-123"}}))
    r = V.verify(live, baseline=str(tmp_path / "b.json"), checks=["structure", "content"])
    assert "sk-secret-123" not in json.dumps(r) and "sk-secret-123" not in V.failure_message(r)


def test_compare_to_missing(live):
    with pytest.raises(MemoryToolError) as e:
        V.verify(live, compare_to="/nonexistent/db")
    assert e.value.msg.startswith("compare_to '/nonexistent/db' does not exist; ")


# --------------------------------------------------------------------------- the module through Ansible


def run_module(args, check_mode=False):
    env = ansible_env()
    cmd = [ANSIBLE, "localhost", "-o", "-m", "openclaw.memory.lance_verify",
           "-e", "ansible_python_interpreter={}".format(PYTHON),
           "-a", json.dumps(args)] + (["--check"] if check_mode else [])
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False)
    line = next(x for x in p.stdout.splitlines() if x.startswith("localhost | "))
    status, _sep, payload = line.partition(" => ")
    return status.split("|")[1].strip(), json.loads(payload)


def test_module_clean_snapshot_in_check_mode(snap):
    status, out = run_module({"path": snap, "baseline": os.path.join(snap, "SNAPSHOT.json")}, check_mode=True)
    assert status == "SUCCESS", out
    assert out["ok"] is True and out["changed"] is False and out["mismatches"] == []
    assert set(out["checks"]) == set(DEFAULT)
    assert "path" not in out and "mode" not in out  # no file attributes added by Ansible


def test_module_fails_listing_every_mismatch(snap):
    os.remove(glob.glob(os.path.join(table_dir(snap), "_indices", "*", "page_data.lance"))[0])
    status, out = run_module({"path": snap, "expect": {"total": 1}})
    assert status == "FAILED!"
    assert out["msg"].startswith(f"Verification of '{snap}' failed (checksums, content, search): ")
    assert all(m in out["msg"] for m in out["mismatches"]) and len(out["mismatches"]) == 3
    assert out["changed"] is False and out["ok"] is False


def test_module_fail_on_mismatch_false_reports(snap):
    status, out = run_module({"path": snap, "expect": {"total": 1}, "fail_on_mismatch": False,
                              "checks": ["content"]})
    assert status == "SUCCESS" and out["ok"] is False
    assert out["mismatches"] == [f"total: expected 1, found {out['stats']['total']}"]


def test_module_bad_input(tmp_path):
    status, out = run_module({"path": str(tmp_path / "missing")})
    assert status == "FAILED!"
    assert out["msg"] == ("Path '%s' does not exist; pass a snapshot dir (with SHA256SUMS and <table>.lance dirs) "
                          "or a LanceDB database dir" % (tmp_path / "missing"))
    status, out = run_module({"path": str(tmp_path), "checks": ["nope"]})
    assert status == "FAILED!" and "value of checks must be one or more of" in out["msg"]


def test_verify_sums_states_of_listed_files(tmp_path):
    """verify_sums: each listed path is counted as it is: matching (bytes added up), differing, missing, or a
    directory where a file was listed (bad, not a crash); an unlisted file is extra."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "good").write_bytes(b"x" * 70000)
    (root / "flip").write_bytes(b"abc")
    (root / "stray").write_bytes(b"")
    sums = {"good": hashlib.sha256(b"x" * 70000).hexdigest(), "flip": hashlib.sha256(b"abd").hexdigest(),
            "gone": hashlib.sha256(b"").hexdigest(), "sub": hashlib.sha256(b"").hexdigest()}
    for workers in (1, 4):
        r = verify_sums(str(root), sums, workers=workers)
        assert (r["bad"], r["missing"], r["extra"]) == (["flip", "sub"], ["gone"], ["stray"])
        assert (r["ok"], r["files"], r["bytes"]) == (False, 4, 70003)
