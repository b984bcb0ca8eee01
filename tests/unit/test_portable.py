# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lance_export / lance_import (plugins/module_utils/portable.py) on real small LanceDB tables.

Round trips on both plugins' fixtures (export -> import -> lance_verify compare_to the source), an import in
an older data storage version read by an older pylance (the old-reader venv of `make old-reader`), every bad
input's message, idempotence, check mode, and both modules through Ansible.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import lance
import lancedb
import pyarrow as pa
import pytest
from ansible_collections.openclaw.memory.plugins.module_utils import portable as P
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError, sha256_file
from ansible_collections.openclaw.memory.plugins.module_utils.verify import verify
from ocmlab.fixtures import add_memories, build_state, memory_id

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from repo_env import ANSIBLE_DOC, ANSIBLE_PLAYBOOK, JSON_OUTPUT, PYTHON, REPO, ansible_env  # noqa: E402 - shared helpers
from test_snapshot import tree_state  # noqa: E402 - shared helper

OLD_PYTHON = os.path.join(REPO, ".cache", "old-reader-venv", "bin", "python")
PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "old_reader_probe.py")
DIM = 16
N = 60
SEED = 4
LANCEDB = "memory-lancedb"
PRO = "memory-lancedb-pro"

# --------------------------------------------------------------------------- helpers


def make_db(home, plugin=LANCEDB, n=N, seed=SEED, **kw):
    """A fixture database: a bulk commit, one-row commits (as the plugin writes), a secret-like memory,
    and one deleted row (a deletion file). Returns the database dir."""
    db = build_state(str(home), plugin=plugin, n=n, dims=DIM, seed=seed, mode="batched", batch_size=25, tail=5,
                     workspace=False, secrets=1, **kw)["db_path"]
    lancedb.connect(db).open_table("memories").delete(f"id = '{memory_id(seed, 7)}'")
    return db


@pytest.fixture(scope="module")
def dbs(tmp_path_factory):
    """{plugin: database dir}, built once for the read-only tests."""
    root = tmp_path_factory.mktemp("sources")
    return {plugin: make_db(root / plugin, plugin) for plugin in (LANCEDB, PRO)}


def table_of(db, name="memories"):
    return lance.dataset(os.path.join(db, name + ".lance"))


def rows_by_id(db):
    return {r["id"]: r for r in table_of(db).to_table().to_pylist()}


def error_of(fn, *args, **kw):
    with pytest.raises(MemoryToolError) as e:
        fn(*args, **kw)
    return e.value.msg


def rewrite_manifest(path, **changes):
    """Edit an export's manifest (e.g. after changing the file on purpose): sha256/bytes of the file follow it."""
    mpath = P.manifest_path(path)
    with open(mpath) as f:
        meta = json.load(f)
    meta.update(sha256=sha256_file(path), bytes=os.path.getsize(path))
    meta.update(changes)
    with open(mpath, "w") as f:
        json.dump(meta, f)


def old_reader(table_dir, mem_id):
    if not os.path.exists(OLD_PYTHON):
        pytest.fail(f"the old-reader venv {OLD_PYTHON} is missing: run `make old-reader` (make unit does)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([OLD_PYTHON, PROBE, table_dir, mem_id], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def modes(top):
    """{(kind, mode)} of everything under top."""
    out = set()
    for root, dirs, names in os.walk(top):
        out.update(("dir", stat.S_IMODE(os.stat(os.path.join(root, d)).st_mode)) for d in dirs)
        out.update(("file", stat.S_IMODE(os.stat(os.path.join(root, n)).st_mode)) for n in names)
    return out


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("plugin", [LANCEDB, PRO])
@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_round_trip_passes_lance_verify_compare_to_the_source(tmp_path, dbs, plugin, fmt):
    src = dbs[plugin]
    before = tree_state(src)
    dest = str(tmp_path / "out" / "memories.export")
    exp = P.export_table(src, dest, fmt=fmt)
    assert exp["changed"] is True and exp["rows"] == N - 1 and exp["vectors"] is True and exp["vector_dim"] == DIM
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(dest)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(P.manifest_path(dest)).st_mode) == 0o600
    assert sorted(os.listdir(tmp_path / "out")) == ["memories.export", "memories.export.manifest.json"]

    target = str(tmp_path / "new" / "lancedb")
    imp = P.import_table(dest, target)
    assert imp["changed"] is True and imp["state"] == "imported" and imp["rows"] == N - 1
    assert imp["verify"]["lancedb_read"] is True and imp["verify"]["ids_hash"] == exp["ids_hash"]
    assert imp["data_storage_version"] == table_of(src).data_storage_version  # the source's, by default
    assert sorted(os.listdir(target)) == [".memories.lance.import.json", "memories.lance"]  # no staging dir left
    assert modes(target) <= {("dir", 0o700), ("file", 0o600)}

    res = verify(target, checks=["structure", "content", "search"], compare_to=src)
    assert res["ok"], res["mismatches"]
    assert res["checks"]["compare"]["tables"]["memories"]["rows"] == N - 1
    # Every column of every row, vectors included, and the exact schema (list child names too).
    assert rows_by_id(target) == rows_by_id(src)
    assert table_of(target).schema == table_of(src).schema
    assert tree_state(src) == before  # the source database was only read
    assert "sk-live-" not in json.dumps([exp, imp])  # results never carry memory text


@pytest.mark.parametrize("plugin", [LANCEDB, PRO])
def test_jsonl_keeps_each_plugins_column_names_and_stored_values(tmp_path, dbs, plugin):
    src = dbs[plugin]
    dest = str(tmp_path / "memories.jsonl")
    exp = P.export_table(src, dest)
    assert exp["format"] == "jsonl" and exp["vectors"] is False and exp["vector_dim"] is None
    with open(dest, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    source = rows_by_id(src)
    assert len(lines) == exp["rows"] == len(source) == N - 1
    want_keys = {LANCEDB: ["id", "text", "importance", "category", "createdAt", "agentId"],
                 PRO: ["id", "text", "category", "scope", "importance", "timestamp", "metadata"]}[plugin]
    for row in lines:
        assert list(row) == want_keys
        stored = source[row["id"]]
        assert row == {k: stored[k] for k in want_keys}  # values as stored: floats in ms, metadata a string
    if plugin == PRO:
        assert all(isinstance(r["metadata"], str) and json.loads(r["metadata"])["agentId"] for r in lines)
    with open(P.manifest_path(dest)) as f:
        meta = json.load(f)
    assert meta["rows"] == N - 1 and meta["sha256"] == sha256_file(dest) and meta["vector_dim"] is None
    assert [c["name"] for c in meta["columns"]] == want_keys and meta["source_vector_dim"] == DIM
    assert meta["source"]["data_storage_version"] == table_of(src).data_storage_version
    assert meta["source"]["version"] == table_of(src).version and meta["libraries"]["pylance"]


def test_export_check_mode_idempotence_and_a_new_version(tmp_path):
    src = make_db(tmp_path / "home")
    dest = str(tmp_path / "exports" / "m.parquet")
    plan = P.export_table(src, dest, fmt="parquet", check_mode=True)
    assert plan["changed"] is True and plan["rows"] == N - 1 and plan["file"] == dest
    assert not os.path.exists(tmp_path / "exports")
    first = P.export_table(src, dest, fmt="parquet")
    again = P.export_table(src, dest, fmt="parquet")
    assert first["changed"] is True and again["changed"] is False and again["sha256"] == first["sha256"]
    assert P.export_table(src, dest, fmt="parquet", check_mode=True)["changed"] is False
    # Another format or vectors setting is another export.
    assert P.export_table(src, dest, fmt="parquet", vectors=False)["changed"] is True
    assert P.export_table(src, dest, fmt="parquet")["changed"] is True
    # A damaged file is written again.
    with open(dest, "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    assert P.export_table(src, dest, fmt="parquet")["changed"] is True
    # A memory added since: a new version, exported again, with the new row.
    add_memories(src, LANCEDB, 1, seed=SEED, start_index=N)
    newer = P.export_table(src, dest, fmt="parquet")
    assert newer["changed"] is True and newer["rows"] == N and newer["version"] == first["version"] + 1
    assert sorted(os.listdir(tmp_path / "exports")) == ["m.parquet", "m.parquet.manifest.json"]  # no temp files
    # What a killed run leaves (a hidden temp file) goes with the next run.
    (tmp_path / "exports" / ".m.parquet.tmp-99999").write_bytes(b"partial")
    add_memories(src, LANCEDB, 1, seed=SEED, start_index=N + 1)
    assert P.export_table(src, dest, fmt="parquet")["rows"] == N + 1
    assert sorted(os.listdir(tmp_path / "exports")) == ["m.parquet", "m.parquet.manifest.json"]


def test_failed_export_leaves_no_directory_it_created(tmp_path):
    src = make_db(tmp_path / "home")
    data = os.path.join(src, "memories.lance", "data")
    os.unlink(max((os.path.join(data, n) for n in os.listdir(data)), key=os.path.getsize))  # the bulk commit's file
    dest = str(tmp_path / "exports" / "host1" / "m.parquet")
    msg = error_of(P.export_table, src, dest, fmt="parquet")
    assert msg.startswith(f"Exporting table '{src}/memories.lance' to '{dest}' failed: Not found: ")
    assert msg.endswith("; nothing was written (the database was only read)")
    assert sorted(os.listdir(tmp_path)) == ["home"]  # neither exports/ nor exports/host1/ is left
    (tmp_path / "exports").mkdir()
    error_of(P.export_table, src, dest, fmt="parquet")
    assert os.listdir(tmp_path / "exports") == []  # what existed before stays


def test_export_streams_in_bounded_row_groups(tmp_path):
    """A plugin-made table yields one-row batches; the file still holds row groups of up to BATCH_ROWS rows."""
    import pyarrow.parquet as pq

    src = build_state(str(tmp_path / "home"), n=30, dims=DIM, seed=2, workspace=False)["db_path"]  # 1 row/commit
    dest = str(tmp_path / "m.parquet")
    P.export_table(src, dest, fmt="parquet")
    meta = pq.ParquetFile(dest).metadata
    assert meta.num_rows == 30 and meta.num_row_groups == 1
    arrow = str(tmp_path / "m.arrows")
    P.export_table(src, arrow, fmt="arrow")
    with pa.OSFile(arrow, "rb") as f:
        sizes = [b.num_rows for b in pa.ipc.open_stream(f)]
    assert sizes == [30]


def test_export_bad_inputs(tmp_path, dbs):
    src = dbs[LANCEDB]
    msg = error_of(P.export_table, src, str(tmp_path / "m.jsonl"), fmt="jsonl", vectors=True)
    assert msg.startswith("vectors=true needs format: parquet or format: arrow;") and "format: jsonl" in msg
    msg = error_of(P.export_table, src, os.path.join(src, "m.jsonl"))
    assert msg == (f"dest '{src}/m.jsonl' is inside the database '{src}': an export is never written into the "
                   "database; choose a dest outside it")
    msg = error_of(P.export_table, src, str(tmp_path))
    assert msg == (f"dest '{tmp_path}' is a directory; give the export file's path, for example "
                   f"'{tmp_path}/memories.jsonl'")
    msg = error_of(P.export_table, src, str(tmp_path / "m.jsonl"), table="nope")
    assert msg == f"Table 'nope' is not in '{src}' (it holds: memories); set table to one of those"
    msg = error_of(P.export_table, str(tmp_path / "missing"), str(tmp_path / "m.jsonl"))
    assert msg.startswith(f"Database directory '{tmp_path}/missing' does not exist; set path to")
    msg = error_of(P.export_table, src, str(tmp_path / "m.x"), fmt="csv")
    assert msg == "format='csv' is invalid: use one of jsonl, parquet, arrow"
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- import: bad input


@pytest.fixture
def parquet_export(tmp_path, dbs):
    dest = str(tmp_path / "exp" / "memories.parquet")
    P.export_table(dbs[LANCEDB], dest, fmt="parquet")
    return dest


def test_import_malformed_jsonl_names_the_line(tmp_path, dbs):
    dest = str(tmp_path / "memories.jsonl")
    P.export_table(dbs[LANCEDB], dest)
    with open(dest, encoding="utf-8") as f:
        lines = f.read().splitlines(keepends=True)
    target = str(tmp_path / "db")

    # Intact: checked line by line, then refused with the format and the fix.
    msg = error_of(P.import_table, dest, target)
    assert msg == (f"'{dest}' is a JSONL export (format: jsonl, {N - 1} rows, intact): it holds no vectors, so it "
                   "cannot rebuild a memory table; export again with format: parquet (or arrow) and import that file")

    bad = lines[:]
    bad[2] = bad[2][:40] + "\n"  # line 3 cut in the middle of the text
    with open(dest, "w", encoding="utf-8") as f:
        f.writelines(bad)
    rewrite_manifest(dest)  # sha256 and bytes follow the edit, so the line check is what fails
    msg = error_of(P.import_table, dest, target)
    assert msg == (f"'{dest}' line 3 is not valid JSON (column 7: Unterminated string starting at); the file was "
                   "edited or damaged, export it again")

    row = json.loads(lines[1])
    del row["text"]
    bad = lines[:]
    bad[1] = json.dumps(row) + "\n"
    with open(dest, "w", encoding="utf-8") as f:
        f.writelines(bad)
    rewrite_manifest(dest)
    assert error_of(P.import_table, dest, target) == f"'{dest}' line 2 lacks the column(s) text; export it again"

    with open(dest, "w", encoding="utf-8") as f:
        f.writelines(lines[:4] + ["\n"] + lines[4:])
    rewrite_manifest(dest)
    assert error_of(P.import_table, dest, target).startswith(f"'{dest}' line 5 is empty;")

    with open(dest, "w", encoding="utf-8") as f:
        f.writelines(lines[:1] + ["[1, 2]\n"] + lines[1:])
    rewrite_manifest(dest)
    assert error_of(P.import_table, dest, target).startswith(f"'{dest}' line 2 holds a JSON list, not an object")

    with open(dest, "w", encoding="utf-8") as f:
        f.writelines(lines[:-1])  # the last memory lost, and the manifest's checksum made to fit
    rewrite_manifest(dest)
    assert error_of(P.import_table, dest, target) == (
        f"'{dest}' holds {N - 2} rows whose ids do not match its manifest '{dest}.manifest.json' ({N - 1} rows); "
        "export the table again")
    assert not os.path.exists(target)


def test_import_wrong_columns_are_named(tmp_path, dbs):
    no_vectors = str(tmp_path / "novec.parquet")
    P.export_table(dbs[LANCEDB], no_vectors, fmt="parquet", vectors=False)
    msg = error_of(P.import_table, no_vectors, str(tmp_path / "db"))
    assert msg == (f"'{no_vectors}' lacks the column(s) vector that a memory table needs (it has: id, text, "
                   "importance, category, createdAt, agentId) (it was exported with vectors: false; export again "
                   "with format: parquet and vectors: true)")
    # A table that is not a memory table: no text column.
    db = str(tmp_path / "other")
    vec = pa.FixedSizeListArray.from_arrays(pa.array([0.5] * 8, pa.float32()), 4)
    lance.write_dataset(pa.table({"id": ["a", "b"], "vector": vec}), os.path.join(db, "things.lance"))
    dest = str(tmp_path / "things.arrows")
    assert P.export_table(db, dest, fmt="arrow")["table"] == "things"  # the only table
    msg = error_of(P.import_table, dest, str(tmp_path / "db"))
    assert msg == f"'{dest}' lacks the column(s) text that a memory table needs (it has: id, vector)"
    assert not os.path.exists(tmp_path / "db")


def test_import_dimension_mismatch_names_both(tmp_path, parquet_export):
    msg = error_of(P.import_table, parquet_export, str(tmp_path / "db"), vector_dim=1536)
    assert msg == (f"'{parquet_export}' holds 16-dimensional vectors but the target is configured for 1536 "
                   "dimensions (vector_dim=1536): its embedding model differs, so these vectors would be useless "
                   "there; set the target plugin's embedding to the model that made them (dimensions 16), or "
                   "re-embed the texts from a format: jsonl export")
    assert not os.path.exists(tmp_path / "db")
    assert P.import_table(parquet_export, str(tmp_path / "db"), vector_dim=DIM)["state"] == "imported"


def test_import_target_exists_replace_moves_aside_and_idempotence(tmp_path, dbs, parquet_export):
    target = str(tmp_path / "db")
    table = os.path.join(target, "memories.lance")
    first = P.import_table(parquet_export, target)
    assert first["changed"] is True and first["aside"] is None
    again = P.import_table(parquet_export, target)
    assert again["changed"] is False and again["state"] == "same" and again["version"] == first["version"]
    assert P.import_table(parquet_export, target, replace=True)["changed"] is False  # equal: nothing to replace
    assert P.import_table(parquet_export, target, check_mode=True)["state"] == "same"

    other = str(tmp_path / "pro.parquet")
    P.export_table(dbs[PRO], other, fmt="parquet")
    before = tree_state(table)
    msg = error_of(P.import_table, other, target)
    assert msg == (f"Table '{table}' already exists and differs from the export (it was not imported from this "
                   f"export); set replace: true to move it aside to '{table}.pre-import-<UTC time>' (never deleted) "
                   "and import, or choose another path")
    plan = P.import_table(other, target, replace=True, check_mode=True)
    assert plan["changed"] is True and plan["state"] == "would_replace"
    assert tree_state(table) == before and sorted(os.listdir(target)) == [".memories.lance.import.json",
                                                                          "memories.lance"]

    done = P.import_table(other, target, replace=True, now=1788220800)
    aside = table + ".pre-import-20260901T000000Z"
    assert done["state"] == "imported" and done["aside"] == aside
    assert tree_state(aside) == before  # moved, not changed, not deleted
    assert sorted(os.listdir(target)) == [".memories.lance.import.json", "memories.lance",
                                          "memories.lance.pre-import-20260901T000000Z"]
    assert rows_by_id(target) == rows_by_id(dbs[PRO])
    # A different storage version of the same rows is a different table too.
    msg = error_of(P.import_table, other, target, data_storage_version="2.0")
    assert "(it is data_storage_version 2.2, not 2.0)" in msg and "replace: true" in msg
    # A memory written into the imported table since: no longer the export's table.
    add_memories(target, PRO, 1, seed=SEED, start_index=N + 5)
    msg = error_of(P.import_table, other, target)
    assert "(it changed since it was imported from this export (version 2, the import made version 1))" in msg


def test_import_damaged_or_mismatched_files_are_refused(tmp_path, parquet_export):
    target = str(tmp_path / "db")
    with open(parquet_export, "r+b") as f:
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 0xFF]))
    msg = error_of(P.import_table, parquet_export, target)
    assert msg.startswith(f"'{parquet_export}' does not match its manifest '{parquet_export}.manifest.json': sha256 ")
    assert msg.endswith("; the copy is damaged, copy it again")
    with open(parquet_export, "ab") as f:
        f.write(b"x")
    msg = error_of(P.import_table, parquet_export, target)
    assert " bytes but its manifest " in msg and msg.endswith("copy it again")
    os.unlink(P.manifest_path(parquet_export))
    msg = error_of(P.import_table, parquet_export, target)
    assert msg == (f"Manifest '{parquet_export}.manifest.json' does not exist; lance_export writes it next to the "
                   "export file as <file>.manifest.json: copy it along with the file, or pass manifest")
    msg = error_of(P.import_table, str(tmp_path / "nope.parquet"), target)
    assert msg == (f"src '{tmp_path}/nope.parquet' does not exist; copy the export file (and its manifest) to this "
                   "host first")
    assert not os.path.exists(target)


def test_import_bad_storage_version(tmp_path, parquet_export):
    msg = error_of(P.import_table, parquet_export, str(tmp_path / "db"), data_storage_version="next")
    assert msg == ("data_storage_version='next' is not a stable Lance format this module writes; use one of legacy, "
                   "0.1, 2.0, 2.1, 2.2, stable (pylance 0.16 reads only 2.0, 0.38 reads 2.0-2.1, 9.x and later "
                   "read all)")
    # The same value in the manifest is the manifest's fault, not the option's: named as such.
    with open(P.manifest_path(parquet_export)) as f:
        source = json.load(f)["source"]
    rewrite_manifest(parquet_export, source=dict(source, data_storage_version="bogus"))
    msg = error_of(P.import_table, parquet_export, str(tmp_path / "db"))
    assert msg == (f"Manifest '{parquet_export}.manifest.json' records source.data_storage_version 'bogus', which is "
                   "not a stable Lance format this module writes; set the option data_storage_version to one of "
                   "legacy, 0.1, 2.0, 2.1, 2.2, stable (pylance 0.16 reads only 2.0, 0.38 reads 2.0-2.1, 9.x and "
                   "later read all), or pass the manifest lance_export wrote")
    assert not os.path.exists(tmp_path / "db")
    res = P.import_table(parquet_export, str(tmp_path / "db"), data_storage_version="2.0")  # the option wins
    assert res["state"] == "imported" and res["data_storage_version"] == "2.0"


def test_import_failing_verification_or_a_crash_leaves_nothing_that_looks_complete(tmp_path, parquet_export):
    target = str(tmp_path / "db")
    rewrite_manifest(parquet_export, rows=N)  # one row more than the file holds
    msg = error_of(P.import_table, parquet_export, target)
    assert msg == (f"The imported table failed verification, so nothing was put in place: the file held {N - 1} rows, "
                   f"its manifest says {N}; rows: expected {N}, found {N - 1}")
    assert not os.path.exists(target)  # the staging dir is gone, and so is the path the run created
    nested = tmp_path / "new" / "host1" / "db"
    error_of(P.import_table, parquet_export, str(nested))
    assert not os.path.exists(tmp_path / "new")  # every directory the run created
    os.mkdir(target)
    error_of(P.import_table, parquet_export, target)
    assert os.listdir(target) == []  # a path that existed stays
    rewrite_manifest(parquet_export, rows=N - 1)
    # What a crash mid-import leaves: a hidden staging dir holding a half-written table.
    crashed = os.path.join(target, ".memories.lance.importing-20260901T000000Z")
    os.makedirs(os.path.join(crashed, "memories.lance", "data"))
    assert P.import_table(parquet_export, target, check_mode=True)["state"] == "would_import"
    res = P.import_table(parquet_export, target)
    assert res["cleaned"] == [".memories.lance.importing-20260901T000000Z"] and res["state"] == "imported"
    assert sorted(os.listdir(target)) == [".memories.lance.import.json", "memories.lance"]


def test_import_check_mode_reports_the_leftovers_it_would_clean(tmp_path, dbs):
    src = str(tmp_path / "ex" / "m.arrows")
    P.export_table(dbs[LANCEDB], src, fmt="arrow")
    target = str(tmp_path / "imp" / "db")
    leftover = ".memories.lance.importing-20200101T000000Z"
    os.makedirs(os.path.join(target, leftover))
    plan = P.import_table(src, target, check_mode=True)
    assert (plan["changed"], plan["state"], plan["cleaned"]) == (True, "would_import", [leftover])
    assert os.listdir(target) == [leftover]  # check mode removes nothing
    done = P.import_table(src, target)
    assert (done["changed"], done["state"], done["cleaned"]) == (True, "imported", [leftover])
    # The table is already there: only the leftover would change, and check mode says so.
    os.mkdir(os.path.join(target, leftover))
    before = tree_state(target)
    plan = P.import_table(src, target, check_mode=True)
    assert (plan["changed"], plan["state"], plan["cleaned"]) == (True, "same", [leftover])
    assert tree_state(target) == before and leftover in os.listdir(target)
    done = P.import_table(src, target)
    assert (done["changed"], done["state"], done["cleaned"]) == (True, "same", [leftover])
    plan = P.import_table(src, target, check_mode=True)
    assert (plan["changed"], plan["state"], plan["cleaned"]) == (False, "same", [])
    assert P.import_table(str(src), str(tmp_path / "none"), check_mode=True)["cleaned"] == []


def test_import_keeps_the_source_storage_version_and_manifest_naming(tmp_path):
    src = make_db(tmp_path / "home", data_storage_version="2.0", v1_manifests=True)
    dest = str(tmp_path / "m.arrows")
    P.export_table(src, dest, fmt="arrow")
    target = str(tmp_path / "db")
    res = P.import_table(dest, target, table="restored")
    assert res["data_storage_version"] == "2.0" and res["table_path"] == os.path.join(target, "restored.lance")
    versions = os.listdir(os.path.join(target, "restored.lance", "_versions"))
    assert [v for v in versions if v.endswith(".manifest")] == ["1.manifest"]  # V1 names, as the source
    assert rows_by_id_table(target, "restored") == rows_by_id(src)


def rows_by_id_table(db, name):
    return {r["id"]: r for r in table_of(db, name).to_table().to_pylist()}


# --------------------------------------------------------------------------- older reader


def test_import_in_an_older_storage_version_is_read_by_an_older_pylance(tmp_path, dbs, parquet_export):
    src = rows_by_id(dbs[LANCEDB])
    probe = memory_id(SEED, 30)
    read = {}
    for dsv in ("2.0", "2.1", "stable"):
        target = str(tmp_path / dsv)
        res = P.import_table(parquet_export, target, data_storage_version=dsv)
        assert res["data_storage_version"] == {"stable": "2.2"}.get(dsv, dsv)
        read[dsv] = old_reader(os.path.join(target, "memories.lance"), probe)
    for dsv in ("2.0", "2.1"):
        out = read[dsv]
        assert out.returncode == 0, out.stderr[-2000:]
        got = json.loads(out.stdout)
        assert got["lance"].startswith("0.38.") and got["data_storage_version"] == dsv
        assert got["rows"] == len(src) and got["ids"] == sorted(src)
        assert got["vector"] == pytest.approx(src[probe]["vector"], abs=0)
    # pylance 14's default format (2.2) is beyond that reader: proves the check can fail.
    assert read["stable"].returncode != 0 and not read["stable"].stdout


# --------------------------------------------------------------------------- through Ansible

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Plan the export
      openclaw.memory.lance_export: {export}
      check_mode: true
      register: export_plan
    - name: Export
      openclaw.memory.lance_export: {export}
      register: export_first
    - name: Export again
      openclaw.memory.lance_export: {export}
      register: export_again
    - name: Plan the import
      openclaw.memory.lance_import: {imp}
      check_mode: true
      register: import_plan
    - name: Import
      openclaw.memory.lance_import: {imp}
      register: import_first
    - name: Import again
      openclaw.memory.lance_import: {imp}
      register: import_again
    - name: Import with the wrong dimensions
      openclaw.memory.lance_import: {bad}
      register: import_bad
      ignore_errors: true
"""


def _env():
    return ansible_env(**JSON_OUTPUT, ANSIBLE_PYTHON_INTERPRETER=PYTHON)


def test_modules_through_ansible(tmp_path, dbs):
    dest = str(tmp_path / "exports" / "memories.parquet")
    target = str(tmp_path / "new" / "lancedb")
    export = json.dumps({"path": dbs[PRO], "dest": dest, "format": "parquet"})
    imp = json.dumps({"src": dest, "path": target, "data_storage_version": "2.1", "expect_dim": DIM})
    bad = json.dumps({"src": dest, "path": str(tmp_path / "other"), "vector_dim": 768})
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(export=export, imp=imp, bad=bad))
    out = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local",
                          str(play)], capture_output=True, text=True, env=_env(), cwd=REPO, timeout=300, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    data, _end = json.JSONDecoder().raw_decode(out.stdout[out.stdout.index("{"):])
    res = {t["task"]["name"]: t["hosts"]["localhost"] for t in data["plays"][0]["tasks"]}
    assert res["Plan the export"]["changed"] is True and res["Plan the export"]["rows"] == N - 1
    assert res["Export"]["changed"] is True and res["Export"]["sha256"] == sha256_file(dest)
    assert res["Export again"]["changed"] is False
    assert res["Plan the import"]["state"] == "would_import" and res["Plan the import"]["changed"] is True
    assert res["Import"]["changed"] is True and res["Import"]["data_storage_version"] == "2.1"
    assert res["Import again"]["changed"] is False and res["Import again"]["state"] == "same"
    assert res["Import with the wrong dimensions"]["failed"] is True
    assert "holds 16-dimensional vectors but the target is configured for 768 dimensions" in \
        res["Import with the wrong dimensions"]["msg"]
    assert verify(target, checks=["structure", "content"], compare_to=dbs[PRO])["ok"]


@pytest.mark.parametrize("module", ["lance_export", "lance_import"])
def test_ansible_doc_renders(module):
    out = subprocess.run([ANSIBLE_DOC, "openclaw.memory." + module],
                         capture_output=True, text=True, env=_env(), cwd=REPO, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "OPTIONS" in out.stdout and "RETURN VALUES" in out.stdout and "data_storage_version" in out.stdout


def test_ids_hash_is_order_independent_and_counts_duplicates():
    a, b, c = P.IdsHash(), P.IdsHash(), P.IdsHash()
    a.add(["x", "y", "z"])
    b.add(["z"])
    b.add(["y", "x"])
    c.add(["x", "y", "z", "z"])
    assert a.hexdigest() == b.hexdigest() and a.count == b.count == 3
    assert c.hexdigest() != a.hexdigest()
