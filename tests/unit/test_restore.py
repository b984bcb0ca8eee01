# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""memory_restore domain (plugins/module_utils/restore.py) on real small OpenClaw states.

A snapshot of one generated state is restored over another: staged, verified,
swapped, idempotent, rolled back; each failure leaves the live database as it
was; each bad input's message is asserted. The module through Ansible is the
last test.
"""

from __future__ import annotations

import json
import os
import subprocess

import lance
import pytest
from ansible_collections.openclaw.memory.plugins.module_utils import restore as R
from ansible_collections.openclaw.memory.plugins.module_utils import snapshot as S
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError, sha256_file
from ocmlab import fixtures as F
from repo_env import ANSIBLE, REPO, ansible_env

DIMS = 16
EMB = {"provider": "openai", "model": "text-embedding-3-small", "dimensions": DIMS}
FAST = ["checksums", "structure", "content"]


def tree(path):
    """{relpath: sha256} of every file under path."""
    out = {}
    for root, _dirs, names in os.walk(path):
        for name in names:
            p = os.path.join(root, name)
            out[os.path.relpath(p, path)] = sha256_file(p)
    return out


@pytest.fixture(scope="module")
def old_snapshot(tmp_path_factory):
    """A snapshot (with workspace) of a 24-memory memory-lancedb state."""
    base = tmp_path_factory.mktemp("old")
    st = F.build_state(str(base / "home"), n=24, dims=DIMS, seed=11)
    snap = S.take_snapshot(st["db_path"], str(base / "snaps"), workspace=st["workspace"]["path"], embedding=EMB)
    return {"state": st, "snapshot": snap["snapshot"], "name": snap["name"], "total": 24}


@pytest.fixture
def new_state(tmp_path):
    """The new host: its own small database and workspace that the restore replaces."""
    st = F.build_state(str(tmp_path / "home"), n=4, dims=DIMS, seed=12)
    st["before_db"] = tree(st["db_path"])
    st["before_md"] = sha256_file(os.path.join(st["workspace"]["path"], "MEMORY.md"))
    return st


def journal_state(db_path):
    with open(R.journal_path(db_path), encoding="utf-8") as f:
        return json.load(f)["state"]


def rows(db_path):
    return lance.dataset(os.path.join(db_path, "memories.lance")).count_rows()


def siblings(path):
    return sorted(os.listdir(os.path.dirname(path)))


# --------------------------------------------------------------------------- the happy path


def test_restore_replaces_database_and_workspace_keeps_originals_aside(old_snapshot, new_state):
    db = new_state["db_path"]
    ws = new_state["workspace"]["path"]
    r = R.restore_snapshot(old_snapshot["snapshot"], db, workspace=ws, stamp="T1")
    assert r["changed"] and r["state"] == "restored"
    assert r["verify"]["ok"], r["verify"]["mismatches"]
    assert set(r["verify"]["checks"]) >= {"checksums", "structure", "content", "search", "readwrite",
                                          "workspace/MEMORY.md:checksums", "workspace/memory:checksums"}
    assert r["verify"]["stats"]["total"] == 24
    # The restored database opens with the snapshot's rows, at its version.
    assert rows(db) == 24
    snap_tree = {k[len("memories.lance/"):]: v for k, v in tree(old_snapshot["snapshot"]).items()
                 if k.startswith("memories.lance/")}
    assert {k[len("memories.lance/"):]: v for k, v in tree(db).items()} == snap_tree
    # The original is kept beside it, byte for byte; nothing was deleted.
    assert r["aside"] == db + ".pre-restore-T1"
    assert tree(r["aside"]) == new_state["before_db"]
    assert sha256_file(os.path.join(ws, "MEMORY.md.pre-restore-T1")) == new_state["before_md"]
    assert sha256_file(os.path.join(ws, "MEMORY.md")) == sha256_file(
        os.path.join(old_snapshot["snapshot"], "workspace", "MEMORY.md"))
    assert os.path.isdir(os.path.join(ws, "memory.pre-restore-T1"))
    # No staging copy is left, the journal says done, modes are private.
    assert not [n for n in siblings(db) if R.STAGING_TAG in n]
    assert journal_state(db) == "done"
    some_file = next(os.path.join(d, f) for d, _s, fs in os.walk(db) for f in fs)
    assert oct(os.stat(some_file).st_mode & 0o777) == "0o600"
    assert oct(os.stat(db).st_mode & 0o777) == "0o700"


def test_restoring_the_same_snapshot_again_changes_nothing(old_snapshot, new_state):
    db = new_state["db_path"]
    ws = new_state["workspace"]["path"]
    R.restore_snapshot(old_snapshot["snapshot"], db, workspace=ws, checks=FAST, stamp="T1")
    before = siblings(db)
    again = R.restore_snapshot(old_snapshot["snapshot"], db, workspace=ws, checks=FAST, stamp="T2")
    assert again["changed"] is False and again["state"] == "same"
    assert siblings(db) == before
    assert [p["state"] for p in again["parts"]] == ["same", "same", "same"]


def test_check_mode_reports_and_writes_nothing(old_snapshot, new_state):
    db = new_state["db_path"]
    before = siblings(db)
    r = R.restore_snapshot(old_snapshot["snapshot"], db, check_mode=True)
    assert r["changed"] and r["state"] == "would_restore"
    assert siblings(db) == before and tree(db) == new_state["before_db"]


def test_restore_into_a_path_that_does_not_exist_yet(old_snapshot, tmp_path):
    db = str(tmp_path / "home" / ".openclaw" / "memory" / "lancedb")
    os.makedirs(str(tmp_path / "home"))
    os.chown(str(tmp_path / "home"), 65534, 65534)
    r = R.restore_snapshot(old_snapshot["snapshot"], db, checks=FAST)
    assert r["changed"] and r["aside"] is None
    assert rows(db) == 24
    # Owned like the nearest existing parent (the gateway's home), parents included.
    for p in (db, os.path.dirname(db), os.path.join(db, "memories.lance", "_versions")):
        assert (os.stat(p).st_uid, os.stat(p).st_gid) == (65534, 65534), p


def test_owner_option_chowns_every_file(old_snapshot, new_state):
    db = new_state["db_path"]
    R.restore_snapshot(old_snapshot["snapshot"], db, owner="nobody", checks=FAST)
    owners = {os.lstat(os.path.join(d, f)).st_uid for d, _s, fs in os.walk(db) for f in fs}
    assert owners == {65534}


def test_database_that_moved_on_is_left_alone_unless_forced(old_snapshot, new_state):
    db = new_state["db_path"]
    R.restore_snapshot(old_snapshot["snapshot"], db, checks=FAST, stamp="T1")
    F.add_memories(db, F.P.MEMORY_LANCEDB, 2, seed=11, start_index=100)  # the new gateway wrote two memories
    r = R.restore_snapshot(old_snapshot["snapshot"], db, checks=FAST, stamp="T2")
    assert r["changed"] is False and r["state"] == "moved_on"
    v = r["tables"]["memories"]["version"]
    assert ("has moved on since (table memories has version %d and later; the snapshot holds version %d)"
            % (v + 1, v)) in r["warnings"][0] and "force=true" in r["warnings"][0]
    assert rows(db) == 26
    forced = R.restore_snapshot(old_snapshot["snapshot"], db, checks=FAST, force=True, stamp="T3")
    assert forced["changed"] and rows(db) == 24
    assert rows(db + ".pre-restore-T3") == 26  # the newer state is kept, not deleted


def test_older_history_than_the_snapshot_is_not_moving_on(new_state, tmp_path):
    """A history=latest snapshot leaves earlier versions out: restoring it onto the database it was taken from
    finds that database in the same state (no warning, nothing done), until a new version is written."""
    db = new_state["db_path"]
    snap = S.take_snapshot(db, str(tmp_path / "snaps"))
    older = set(tree(db)) - set(tree(snap["snapshot"]))
    assert any("_versions/" in rel for rel in older)  # the history the snapshot left out is there
    r = R.restore_snapshot(snap["snapshot"], db, checks=FAST)
    assert (r["changed"], r["state"], r["warnings"]) == (False, "same", [])
    assert tree(db) == new_state["before_db"]
    F.add_memories(db, F.P.MEMORY_LANCEDB, 1, seed=12, start_index=50)
    again = R.restore_snapshot(snap["snapshot"], db, checks=FAST)
    v = snap["tables"]["memories"]["version"]
    assert again["state"] == "moved_on" and ("table memories has version %d and later; the snapshot holds "
                                             "version %d" % (v + 1, v)) in again["warnings"][0]


# --------------------------------------------------------------------------- failures leave the live database alone


def test_corrupt_snapshot_file_fails_naming_it_and_leaves_database_untouched(old_snapshot, new_state, tmp_path):
    snap = str(tmp_path / "snapcopy")
    subprocess.run(["cp", "-a", old_snapshot["snapshot"], snap], check=True)
    data = min(os.listdir(os.path.join(snap, "memories.lance", "data")))
    victim = os.path.join(snap, "memories.lance", "data", data)
    with open(victim, "r+b") as f:
        f.seek(40)
        b = f.read(1)
        f.seek(40)
        f.write(bytes([b[0] ^ 0xFF]))
    db = new_state["db_path"]
    with pytest.raises(MemoryToolError) as e:
        R.restore_snapshot(snap, db)
    assert "failed verification, so it was not put in place" in e.value.msg
    assert "memories.lance/data/%s" % data in e.value.msg
    assert tree(db) == new_state["before_db"]
    assert not [n for n in siblings(db) if R.STAGING_TAG in n or R.ASIDE_TAG in n]


def test_failed_lance_verification_leaves_database_untouched(old_snapshot, new_state):
    db = new_state["db_path"]
    with pytest.raises(MemoryToolError) as e:
        R.restore_snapshot(old_snapshot["snapshot"], db, expect={"total": 5000})
    assert "total: expected 5000, found 24" in e.value.msg
    assert e.value.details["result"]["verify"]["ok"] is False
    assert tree(db) == new_state["before_db"]
    assert not [n for n in siblings(db) if R.STAGING_TAG in n or R.ASIDE_TAG in n]


def test_failure_while_renaming_puts_every_original_back(old_snapshot, new_state, monkeypatch):
    db = new_state["db_path"]
    ws = new_state["workspace"]["path"]
    real = os.rename
    calls = []

    def flaky(src, dst):
        calls.append((src, dst))
        if len(calls) == 4:  # db aside, db in place, MEMORY.md aside, then the 4th rename fails
            raise OSError(28, "No space left on device", src)
        return real(src, dst)

    monkeypatch.setattr(R.os, "rename", flaky)
    with pytest.raises(MemoryToolError) as e:
        R.restore_snapshot(old_snapshot["snapshot"], db, workspace=ws, checks=FAST, stamp="T1")
    monkeypatch.setattr(R.os, "rename", real)
    assert "every original was put back" in e.value.msg and "No space left on device" in e.value.msg
    assert tree(db) == new_state["before_db"]
    assert sha256_file(os.path.join(ws, "MEMORY.md")) == new_state["before_md"]
    assert journal_state(db) == "rolled_back"
    assert not [n for n in siblings(db) if R.STAGING_TAG in n]


def test_crash_mid_swap_is_recovered_by_the_next_run(old_snapshot, new_state):
    db = new_state["db_path"]
    # What a kill -9 between the two renames leaves: original aside, nothing in place, journal "swapping".
    aside = db + ".pre-restore-T0"
    os.rename(db, aside)
    R._write_journal(db, {"format": R.JOURNAL_FORMAT, "state": "swapping", "stamp": "T0", "moves": [
        {"kind": "database", "target": db, "aside": aside, "staging": db + ".gone", "placed": False,
         "moved_aside": True}]})
    r = R.restore_snapshot(old_snapshot["snapshot"], db, checks=FAST, stamp="T1")
    assert any("interrupted while renaming" in w for w in r["warnings"])
    assert r["changed"] and rows(db) == 24
    assert tree(r["aside"]) == new_state["before_db"]  # the recovered original was then moved aside properly


# --------------------------------------------------------------------------- rollback


def test_rollback_puts_the_original_back_and_keeps_the_restored_copy(old_snapshot, new_state):
    db = new_state["db_path"]
    ws = new_state["workspace"]["path"]
    R.restore_snapshot(old_snapshot["snapshot"], db, workspace=ws, checks=FAST, stamp="T1")
    check = R.rollback_restore(db, check_mode=True)
    assert check["changed"] and check["state"] == "would_roll_back" and rows(db) == 24
    r = R.rollback_restore(db, stamp="T2")
    assert r["changed"] and r["state"] == "rolled_back"
    assert tree(db) == new_state["before_db"]
    assert sha256_file(os.path.join(ws, "MEMORY.md")) == new_state["before_md"]
    assert rows(db + ".failed-restore-T2") == 24
    assert not os.path.exists(db + ".pre-restore-T1")
    again = R.rollback_restore(db)
    assert again["changed"] is False and again["state"] == "rolled_back"


def test_rollback_naming_another_snapshot_undoes_nothing(old_snapshot, new_state, tmp_path):
    db = new_state["db_path"]
    R.restore_snapshot(old_snapshot["snapshot"], db, checks=FAST, stamp="T1")
    r = R.rollback_restore(db, snapshot=str(tmp_path / "some-other-snapshot"))
    assert r["changed"] is False and r["state"] == "other_restore" and rows(db) == 24
    r = R.rollback_restore(db, snapshot=old_snapshot["snapshot"] + "/")
    assert r["changed"] and r["state"] == "rolled_back"


def test_rollback_of_a_restore_into_an_empty_path_moves_the_copy_away(old_snapshot, tmp_path):
    db = str(tmp_path / "lancedb")
    R.restore_snapshot(old_snapshot["snapshot"], db, checks=FAST)
    r = R.rollback_restore(db, stamp="T9")
    assert r["changed"] and not os.path.exists(db) and rows(db + ".failed-restore-T9") == 24


def test_rollback_without_a_journal_changes_nothing(tmp_path):
    r = R.rollback_restore(str(tmp_path / "lancedb"))
    assert r == {"changed": False, "db_path": str(tmp_path / "lancedb"), "journal": str(tmp_path / "lancedb") +
                 R.JOURNAL_SUFFIX, "undone": [], "snapshot_name": None, "state": "nothing_to_undo"}


def test_rollback_refuses_when_the_original_has_vanished(old_snapshot, new_state):
    db = new_state["db_path"]
    r = R.restore_snapshot(old_snapshot["snapshot"], db, checks=FAST, stamp="T1")
    os.rename(r["aside"], r["aside"] + ".moved-by-someone")
    with pytest.raises(MemoryToolError) as e:
        R.rollback_restore(db)
    assert "is no longer at '%s'" % r["aside"] in e.value.msg and "restored copy is left in place" in e.value.msg
    assert rows(db) == 24


# --------------------------------------------------------------------------- bad input


def test_bad_inputs_name_the_value_and_the_fix(old_snapshot, new_state, tmp_path):
    db = new_state["db_path"]
    snap = old_snapshot["snapshot"]
    cases = [
        ({"snapshot": str(tmp_path / "nope"), "db_path": db}, "does not exist or is not a directory; transfer it"),
        ({"snapshot": str(tmp_path), "db_path": db}, "is not a complete snapshot: it has no SNAPSHOT.json"),
        ({"snapshot": "relative/snap", "db_path": db}, "snapshot 'relative/snap' must be an absolute path"),
        ({"snapshot": snap, "db_path": os.path.join(snap, "memories.lance")}, "overlap"),
        ({"snapshot": snap, "db_path": db, "checks": ["checksums", "bogus"]}, "unknown check(s) bogus"),
        ({"snapshot": snap, "db_path": db, "file_mode": "0400"}, "would lock the owner out"),
        ({"snapshot": snap, "db_path": db, "owner": "no-such-user-x"}, "owner 'no-such-user-x' is not a user"),
    ]
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    cases.append(({"snapshot": snap, "db_path": str(a_file)}, "is a file, not a database directory"))
    cases.append(({"snapshot": snap, "db_path": str(a_file / "db")},
                  "db_path '%s/db' cannot be created: '%s' is a file, not a directory; fix db_path" % (a_file, a_file)))
    ws = new_state["workspace"]["path"]
    cases.append(({"snapshot": snap, "db_path": db, "workspace": str(a_file)},
                  "workspace '%s' is a file, not a directory; give the agent's workspace directory" % a_file))
    cases.append(({"snapshot": snap, "db_path": db, "workspace": str(a_file / "ws" / "deeper")},
                  "workspace '%s/ws/deeper' cannot be created: '%s' is a file" % (a_file, a_file)))
    damaged = tmp_path / "damaged"
    subprocess.run(["cp", "-a", snap, str(damaged)], check=True)
    (damaged / "SNAPSHOT.json").write_text("{not json")
    cases.append(({"snapshot": str(damaged), "db_path": db}, "'%s' has a SNAPSHOT.json that lance_snapshot did not "
                  "write as it is (not valid JSON, or not its format): the snapshot is damaged" % damaged))
    for kwargs, text in cases:
        with pytest.raises(MemoryToolError) as e:
            R.restore_snapshot(**kwargs)
        assert text in e.value.msg, (kwargs, e.value.msg)
    assert tree(db) == new_state["before_db"] and a_file.read_text() == "x"
    assert sha256_file(os.path.join(ws, "MEMORY.md")) == new_state["before_md"]


def test_snapshot_without_sums_is_refused(old_snapshot, new_state, tmp_path):
    snap = str(tmp_path / "nosums")
    subprocess.run(["cp", "-a", old_snapshot["snapshot"], snap], check=True)
    os.unlink(os.path.join(snap, "SHA256SUMS"))
    with pytest.raises(MemoryToolError) as e:
        R.restore_snapshot(snap, new_state["db_path"])
    assert "has no SHA256SUMS; it cannot be verified, so it is not restored" in e.value.msg


# --------------------------------------------------------------------------- the module through Ansible


def _ansible(args, check=False):
    env = ansible_env()
    cmd = [ANSIBLE, "localhost", "-o", "-m", "openclaw.memory.memory_restore",
           "-a", json.dumps(args)] + (["--check"] if check else [])
    p = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    out = p.stdout.strip()
    status = out.split(" | ")[1].split(" ")[0] if " | " in out else "?"
    payload = json.loads(out.split("=> ", 1)[1]) if "=> " in out else {}
    return status, payload, p


def test_module_end_to_end(old_snapshot, new_state):
    db = new_state["db_path"]
    args = {"snapshot": old_snapshot["snapshot"], "db_path": db, "workspace": new_state["workspace"]["path"],
            "verify_checks": FAST}
    status, res, p = _ansible(args, check=True)
    assert status == "CHANGED" and res["state"] == "would_restore", p.stdout + p.stderr
    status, res, p = _ansible(args)
    assert status == "CHANGED" and res["state"] == "restored" and res["verify"]["ok"], p.stdout + p.stderr
    status, res, p = _ansible(args)
    assert status == "SUCCESS" and res["changed"] is False and res["state"] == "same", p.stdout + p.stderr
    status, res, p = _ansible({"state": "rolled_back", "db_path": db})
    assert status == "CHANGED" and res["state"] == "rolled_back", p.stdout + p.stderr
    assert tree(db) == new_state["before_db"]
    status, res, p = _ansible(dict(args, expect={"total": 1}))
    assert status == "FAILED!" and "total: expected 1, found 24" in res["msg"], p.stdout + p.stderr
    assert res["verify"]["ok"] is False
    assert tree(db) == new_state["before_db"]


# --------------------------------------------------------------------------- prestaged copies (a migration's pre-sync)


@pytest.fixture
def two_snapshots(tmp_path):
    """Snapshot A of a 30-memory state, then 5 memories added and one deleted, and snapshot B linked to A."""
    st = F.build_state(str(tmp_path / "old"), n=30, dims=DIMS, seed=21)
    snaps = str(tmp_path / "snaps")
    a = S.take_snapshot(st["db_path"], snaps, name="A", embedding=EMB)
    F.add_memories(st["db_path"], F.P.MEMORY_LANCEDB, 5, seed=21, start_index=30)
    tbl = lance.dataset(os.path.join(st["db_path"], "memories.lance"))
    gone = tbl.to_table(columns=["id"], limit=1).column("id")[0].as_py()
    tbl.delete("id = '%s'" % gone)
    b = S.take_snapshot(st["db_path"], snaps, name="B", link_dest=a["snapshot"], embedding=EMB)
    return {"a": a, "b": b, "gone": gone}


def kept_data_file(snaps):
    """A data file of snapshot A that B still lists (the deleted row's one-row fragment is gone from B)."""
    b = db_tree(snaps["b"]["snapshot"])
    return min(os.path.basename(k) for k in db_tree(snaps["a"]["snapshot"])
               if k.startswith("memories.lance/data/") and k in b)


def db_tree(snapshot):
    return {k: v for k, v in tree(snapshot).items() if k.startswith("memories.lance/")}


def test_prestage_verifies_beside_the_database_and_touches_nothing_live(two_snapshots, new_state):
    db = new_state["db_path"]
    r = R.prestage_snapshot(two_snapshots["a"]["snapshot"], db, stamp="P1")
    assert r["changed"] and r["state"] == "prestaged", r
    assert r["verify"]["ok"] and {"checksums", "structure", "content", "search", "readwrite"} <= set(
        r["verify"]["checks"])
    assert r["verify"]["checks"]["readwrite"]["linked_files"] > 0  # the scratch copy cost no copy
    assert r["prestaged"] == R.prestaged_path(db) and tree(r["prestaged"]) == db_tree(two_snapshots["a"]["snapshot"])
    assert tree(db) == new_state["before_db"]  # the live database is untouched
    assert not [n for n in siblings(db) if R.STAGING_TAG in n or R.ASIDE_TAG in n]
    assert oct(os.stat(r["prestaged"]).st_mode & 0o777) == "0o700"
    # Same snapshot again: nothing to do. Check mode of another snapshot writes nothing.
    again = R.prestage_snapshot(two_snapshots["a"]["snapshot"], db)
    assert again["changed"] is False and again["state"] == "already_prestaged"
    would = R.prestage_snapshot(two_snapshots["b"]["snapshot"], db, check_mode=True)
    assert would["changed"] and would["state"] == "would_prestage"
    assert tree(r["prestaged"]) == db_tree(two_snapshots["a"]["snapshot"])


def test_restore_of_a_newer_snapshot_copies_only_what_the_prestaged_copy_lacks(two_snapshots, new_state):
    db = new_state["db_path"]
    R.prestage_snapshot(two_snapshots["a"]["snapshot"], db, stamp="P1")
    full = sum(os.path.getsize(os.path.join(two_snapshots["b"]["snapshot"], k))
               for k in db_tree(two_snapshots["b"]["snapshot"]))
    r = R.restore_snapshot(two_snapshots["b"]["snapshot"], db, stamp="T1")
    assert r["changed"] and r["prestaged"] == "A" and r["verify"]["ok"], r["verify"]["mismatches"]
    # Five new fragments, a deletion file and the manifest: a small part of the snapshot's bytes.
    assert 0 < r["bytes_copied"] < full / 2, (r["bytes_copied"], full)
    # The database is exactly B (A's files that B no longer lists are gone), with B's rows.
    assert tree(db) == db_tree(two_snapshots["b"]["snapshot"])
    assert rows(db) == 34
    assert tree(r["aside"]) == new_state["before_db"]
    assert not os.path.exists(R.prestaged_path(db)) and not os.path.exists(R.prestaged_path(db) + ".json")


def test_the_checksums_check_reads_only_what_it_cannot_prove_unchanged(two_snapshots, new_state):
    """Files copied in are hashed as they are copied; prestaged files kept from A were verified then and are
    still the same inode, size and mtime: the check reads none of them again, and says so."""
    db = new_state["db_path"]
    R.prestage_snapshot(two_snapshots["a"]["snapshot"], db, checks=FAST, stamp="P1")
    with open(R.prestaged_path(db) + ".json", encoding="utf-8") as f:
        marker = json.load(f)
    assert set(marker["identities"]) == set(marker["sums"])  # one identity per verified file
    r = R.restore_snapshot(two_snapshots["b"]["snapshot"], db, checks=FAST, stamp="T1")
    n = len(db_tree(two_snapshots["b"]["snapshot"]))
    cs = r["verify"]["checks"]["checksums"]
    assert cs["ok"] and cs["msg"].startswith("%d file(s) match SHA256SUMS (0 read now;" % n), cs["msg"]
    assert tree(db) == db_tree(two_snapshots["b"]["snapshot"])


def test_a_prestaged_file_replaced_with_the_same_size_and_mtime_is_still_caught(two_snapshots, new_state):
    """Another file under the same name (a new inode), even with the old size and mtime, is read and caught."""
    db = new_state["db_path"]
    R.prestage_snapshot(two_snapshots["a"]["snapshot"], db, checks=FAST, stamp="P1")
    victim = os.path.join(R.prestaged_path(db), "memories.lance", "data", kept_data_file(two_snapshots))
    st = os.stat(victim)
    with open(victim, "rb") as f:
        data = bytearray(f.read())
    data[40] ^= 0xFF
    with open(victim + ".new", "wb") as f:
        f.write(data)
    os.chmod(victim + ".new", st.st_mode & 0o777)
    os.utime(victim + ".new", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.rename(victim + ".new", victim)
    with pytest.raises(MemoryToolError) as e:
        R.restore_snapshot(two_snapshots["b"]["snapshot"], db, checks=FAST, stamp="T1")
    assert "failed verification" in e.value.msg and os.path.basename(victim) in e.value.msg
    assert tree(db) == new_state["before_db"]


def test_a_damaged_prestaged_copy_is_caught_and_the_database_stays(two_snapshots, new_state):
    db = new_state["db_path"]
    R.prestage_snapshot(two_snapshots["a"]["snapshot"], db, checks=FAST, stamp="P1")
    data_dir = os.path.join(R.prestaged_path(db), "memories.lance", "data")
    victim = os.path.join(data_dir, kept_data_file(two_snapshots))
    with open(victim, "r+b") as f:
        f.seek(40)
        b = f.read(1)
        f.seek(40)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(MemoryToolError) as e:
        R.restore_snapshot(two_snapshots["b"]["snapshot"], db, checks=FAST, stamp="T1")
    assert "failed verification, so it was not put in place" in e.value.msg
    assert os.path.basename(victim) in e.value.msg
    assert tree(db) == new_state["before_db"]
    # Neither the damaged copy nor its marker is left to be used again.
    assert not [n for n in siblings(db) if R.STAGING_TAG in n or R.ASIDE_TAG in n or R.PRESTAGED_TAG in n]


def test_prestage_of_a_corrupt_snapshot_leaves_nothing(two_snapshots, new_state, tmp_path):
    snap = str(tmp_path / "snapcopy")
    subprocess.run(["cp", "-a", two_snapshots["a"]["snapshot"], snap], check=True)
    data_dir = os.path.join(snap, "memories.lance", "data")
    victims = sorted(os.listdir(data_dir))[:2]
    with open(os.path.join(data_dir, victims[0]), "r+b") as f:
        f.seek(40)
        b = f.read(1)
        f.seek(40)
        f.write(bytes([b[0] ^ 0xFF]))
    db = new_state["db_path"]
    with pytest.raises(MemoryToolError) as e:
        R.prestage_snapshot(snap, db, checks=FAST)
    assert "prestaged copy of snapshot A failed verification and was removed" in e.value.msg
    assert victims[0] in e.value.msg
    assert tree(db) == new_state["before_db"]
    assert not [n for n in siblings(db) if R.STAGING_TAG in n or R.PRESTAGED_TAG in n]
    # A file missing from the snapshot is named while staging.
    os.unlink(os.path.join(data_dir, victims[1]))
    with pytest.raises(MemoryToolError) as e:
        R.prestage_snapshot(snap, db, checks=FAST)
    assert "%s' cannot be copied" % victims[1] in e.value.msg and "it is missing" in e.value.msg
    assert tree(db) == new_state["before_db"]
    assert not [n for n in siblings(db) if R.STAGING_TAG in n or R.PRESTAGED_TAG in n]


def test_a_write_through_a_hard_link_is_caught(tmp_path):
    from ansible_collections.openclaw.memory.plugins.module_utils import verify as V

    src = tmp_path / "f"
    src.write_bytes(b"x" * 10)
    os.link(str(src), str(tmp_path / "g"))
    st = os.stat(str(src))
    linked = {str(src): (st.st_size, st.st_mtime_ns)}
    assert V._changed_links(linked) == []
    with open(str(tmp_path / "g"), "ab") as f:  # a write through the link
        f.write(b"y")
    assert V._changed_links(linked) == [str(src)]


def test_a_prestage_that_starts_from_a_damaged_copy_fails_and_leaves_nothing(two_snapshots, new_state):
    db = new_state["db_path"]
    R.prestage_snapshot(two_snapshots["a"]["snapshot"], db, checks=FAST, stamp="P1")
    data_dir = os.path.join(R.prestaged_path(db), "memories.lance", "data")
    os.truncate(os.path.join(data_dir, kept_data_file(two_snapshots)), 10)
    with pytest.raises(MemoryToolError) as e:
        R.prestage_snapshot(two_snapshots["b"]["snapshot"], db, checks=FAST, stamp="P2")
    assert "prestaged copy of snapshot B failed verification and was removed" in e.value.msg
    assert not [n for n in siblings(db) if R.STAGING_TAG in n or R.PRESTAGED_TAG in n]
    assert tree(db) == new_state["before_db"]
    # The next prestage starts from scratch and passes.
    assert R.prestage_snapshot(two_snapshots["b"]["snapshot"], db, checks=FAST, stamp="P3")["verify"]["ok"]
