# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Put a snapshot in place of a live memory database, with a way back.

Plain functions, no Ansible: the `memory_restore` module calls them and the
tests call them directly. The gateway must be stopped around
`restore_snapshot()` (the restore role does that); with `start_gateway` it
starts the gateway itself once the snapshot is in place, and undoes the switch
when the gateway does not come up (a migration's cutover: one task on the new
host inside the downtime window).

How a restore goes (each part: the database dir, and each workspace entry the
snapshot holds, `MEMORY.md` and `memory/`):
  1. the snapshot's files are copied into a staging path beside the target
     (`<parent>/.<name>.restore-staging-<ts>`, same filesystem), owned by the
     gateway's account, dirs `dir_mode`, files `file_mode`;
  2. the staged copy is verified: every file against the snapshot's
     `SHA256SUMS`, then the Lance checks of lance_verify (structure, content,
     search, readwrite on a scratch copy) against the snapshot's
     `SNAPSHOT.json`. A failure removes the staging copy; the live database
     was never touched;
  3. a journal `<db_path>.restore-journal.json` records the planned moves, then
     each existing target is renamed to `<target>.pre-restore-<ts>` (never
     deleted) and the staged copy renamed into its place. A failure during
     the renames puts every original back.
`prestage_snapshot()` does steps 1 and 2 for the database ahead of time, with
the gateway still serving: the verified copy waits beside the target as
`<parent>/.<name>.restore-prestaged` (and a `.json` marker naming the snapshot
and its checksums). A later `restore_snapshot()` of a newer snapshot of the
same database starts from it: files with the same path and checksum stay,
only the newer snapshot's other files are copied and files it no longer lists
are removed, then the whole staged copy is verified as in step 2 (a migration's
cutover copies only what changed while the gateway was stopped).
`rollback_restore()` undoes the last restore from its journal: the restored
copy is renamed to `<target>.failed-restore-<ts>` and the original goes back.
A run that finds a journal of a restore interrupted mid-rename (a crash)
first puts the originals back.
"""

from __future__ import annotations

import json
import os
import shutil
import time

from ansible_collections.openclaw.memory.plugins.module_utils import gateway as G
from ansible_collections.openclaw.memory.plugins.module_utils import verify as V
from ansible_collections.openclaw.memory.plugins.module_utils.checksums import (
    SUMS_NAME,
    file_identity,
    read_sums,
    verify_sums,
    vouched_size,
)
from ansible_collections.openclaw.memory.plugins.module_utils.common import (
    MemoryToolError,
    ensure_owner,
    free_name,
    fsync_dir,
    is_within,
    makedirs_owned,
    nearest_existing,
    sha256_file,
    utc_now_name,
    write_json_atomic,
)
from ansible_collections.openclaw.memory.plugins.module_utils.gateway import Gateway
from ansible_collections.openclaw.memory.plugins.module_utils.lance import list_tables, manifest_relpath
from ansible_collections.openclaw.memory.plugins.module_utils.snapshot import (
    META_NAME,
    WORKSPACE_DIR,
    copy_file,
    parse_mode,
    read_snapshot_meta,
    resolve_owner,
)

JOURNAL_SUFFIX = ".restore-journal.json"
PRESTAGED_TAG = ".restore-prestaged"
PRESTAGED_FORMAT = "openclaw.memory/restore-prestaged-v1"
JOURNAL_FORMAT = "openclaw.memory/restore-journal-v1"
STAGING_TAG = ".restore-staging-"
ASIDE_TAG = ".pre-restore-"
FAILED_TAG = ".failed-restore-"
ALL_CHECKS = ("checksums", "structure", "content", "search", "readwrite")
# Files a running plugin writes into its database that a snapshot never holds:
# their presence does not make the database differ from the snapshot.
IGNORED_NAMES = (".memory-write.lock", "latest_version_hint.json")


# --------------------------------------------------------------------------- helpers


# The options of a restore (memory_restore's, but its `state`; openclaw_cutover's `receive`), as Ansible's
# argument_spec; restore_args() maps them onto restore_snapshot().
ARGUMENT_SPEC = {
    "snapshot": {"type": "path"},
    "db_path": {"type": "path", "required": True},
    "workspace": {"type": "path"},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "mode": {"type": "raw", "default": "0600"},
    "dir_mode": {"type": "raw", "default": "0700"},
    "verify_checks": {"type": "list", "elements": "str", "choices": list(ALL_CHECKS), "default": list(ALL_CHECKS)},
    "expect": {"type": "dict"},
    "force": {"type": "bool", "default": False},
    "start_gateway": {"type": "dict", "options": G.ARGUMENT_SPEC},
}


def restore_args(params):
    """restore_snapshot()'s keyword arguments (but snapshot and check_mode) from options of ARGUMENT_SPEC."""
    return {"db_path": params["db_path"], "workspace": params.get("workspace"), "owner": params.get("owner"),
            "group": params.get("group"), "dir_mode": params.get("dir_mode"), "file_mode": params.get("mode"),
            "checks": params.get("verify_checks", list(ALL_CHECKS)), "expect": params.get("expect"),
            "force": bool(params.get("force")), "start_gateway": params.get("start_gateway")}


def journal_path(db_path):
    return db_path.rstrip("/") + JOURNAL_SUFFIX


def prestaged_path(db_path):
    """Where prestage_snapshot() keeps the verified copy of `db_path`'s next contents (beside it)."""
    db_path = db_path.rstrip("/")
    return os.path.join(os.path.dirname(db_path), "." + os.path.basename(db_path) + PRESTAGED_TAG)


def _read_prestaged(db_path):
    """The marker of a prestaged copy of `db_path` ({snapshot, snapshot_name, sums, ...}), or None."""
    marker = prestaged_path(db_path) + ".json"
    try:
        with open(marker, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != PRESTAGED_FORMAT or not isinstance(data.get("sums"), dict):
        return None
    if not os.path.isdir(prestaged_path(db_path)):
        return None
    return data


def _drop_prestaged(db_path):
    """Remove a prestaged copy of `db_path` and its marker (marker first: a copy without one is never used)."""
    marker = prestaged_path(db_path) + ".json"
    if os.path.lexists(marker):
        os.unlink(marker)
    _remove(prestaged_path(db_path))


def _read_journal(db_path):
    path = journal_path(db_path)
    try:
        with open(path, encoding="utf-8") as f:
            journal = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise MemoryToolError(
            "Restore journal '%s' cannot be read (%s); inspect it, move it away and run again" % (path, e))
    if not isinstance(journal, dict) or journal.get("format") != JOURNAL_FORMAT:
        raise MemoryToolError("'%s' is not a restore journal of this collection; move it away and run again" % path)
    return journal


def _write_journal(db_path, journal):
    write_json_atomic(journal_path(db_path), journal, 0o600, sync_dir=True)


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def default_owner(target, owner, group):
    """(uid, gid): the options, else the owner of the target, else of its nearest existing parent."""
    if owner not in (None, "") or group not in (None, ""):
        uid, gid = resolve_owner(owner, group)
        if owner in (None, ""):
            uid = os.stat(nearest_existing(target)).st_uid
        return uid, gid
    st = os.stat(nearest_existing(target))
    return st.st_uid, st.st_gid


# --------------------------------------------------------------------------- the snapshot's parts


def _parts(snapshot, sums, db_path, workspace):
    """What the snapshot restores: [{kind, name, target, prefix, sums}] (prefix: path inside the snapshot)."""
    db_sums = {}
    ws_entries = {}
    for rel, digest in sums.items():
        if rel in (META_NAME, SUMS_NAME):
            continue
        if rel.startswith(WORKSPACE_DIR + "/"):
            inner = rel[len(WORKSPACE_DIR) + 1:]
            entry = inner.split("/", 1)[0]
            ws_entries.setdefault(entry, {})[inner[len(entry) + 1:] if "/" in inner else ""] = digest
        else:
            db_sums[rel] = digest
    if not db_sums:
        raise MemoryToolError("Snapshot '%s' holds no database files (SHA256SUMS lists none outside workspace/); "
                              "it cannot be restored" % snapshot)
    parts = [{"kind": "database", "name": os.path.basename(db_path), "target": db_path, "prefix": "",
              "sums": db_sums, "is_dir": True}]
    if workspace and ws_entries:
        for entry in sorted(ws_entries):
            entry_sums = ws_entries[entry]
            is_dir = list(entry_sums) != [""]
            parts.append({"kind": "workspace", "name": entry, "target": os.path.join(workspace, entry),
                          "prefix": WORKSPACE_DIR + "/" + entry, "sums": entry_sums, "is_dir": is_dir})
    return parts


def _compare(part):
    """('same', []): the target holds the snapshot's files (a database: maybe with older history too);
    ('moved_on', [what is newer]): a database that holds them and was written to since; else ('differs', extra)."""
    target = part["target"]
    if not os.path.lexists(target):
        return "differs", []
    if not part["is_dir"]:
        ok = os.path.isfile(target) and sha256_file(target) == part["sums"][""]
        return ("same" if ok else "differs"), []
    if not os.path.isdir(target):
        return "differs", []
    for rel, digest in part["sums"].items():
        p = os.path.join(target, rel)
        try:
            if not os.path.isfile(p) or sha256_file(p) != digest:
                return "differs", []
        except OSError:
            return "differs", []
    extra = []
    for root, _dirs, names in os.walk(target):
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), target)
            if rel not in part["sums"] and name not in IGNORED_NAMES:
                extra.append(rel)
    if not extra:
        return "same", []
    if part["kind"] == "database":
        newer = _newer_than_snapshot(target, part.get("versions"))
        if newer is None:  # a snapshot that does not record its versions: any file it lacks is newer
            return "moved_on", ["%d newer files, e.g. %s" % (len(extra), sorted(extra)[0])]
        # Only older history (a history=latest snapshot leaves earlier versions out) is still the same state.
        return ("moved_on", newer) if newer else ("same", [])
    return "differs", sorted(extra)


def _newer_than_snapshot(db_dir, versions):
    """What the database `db_dir` holds beyond the snapshot's tables at their `versions` ({table: version}): a
    later version of one of them (Lance numbers versions one by one) or another table; None when `versions`
    is not known."""
    if not versions or not all(isinstance(v, int) for v in versions.values()):
        return None
    newer = []
    for name, table_dir in list_tables(db_dir).items():
        if name not in versions:
            newer.append("table %s, which the snapshot does not hold" % name)
            continue
        try:
            manifest_relpath(table_dir, versions[name] + 1)
        except MemoryToolError:
            continue
        newer.append("table %s has version %d and later; the snapshot holds version %d"
                     % (name, versions[name] + 1, versions[name]))
    return newer


# --------------------------------------------------------------------------- staging and verification


def _stage(snapshot, part, staging, uid, gid, dir_mode, file_mode):
    """Copy a part of the snapshot to `staging`; returns bytes copied (see _copy_in for part["known"])."""
    made = []
    nbytes = 0
    src_root = os.path.join(snapshot, part["prefix"]) if part["prefix"] else snapshot
    if not part["is_dir"]:
        makedirs_owned(os.path.dirname(staging), dir_mode, uid, gid, made)
        return _copy_in(src_root, staging, file_mode, uid, gid, part, "")
    makedirs_owned(staging, dir_mode, uid, gid, made)
    for rel in sorted(part["sums"]):
        dst = os.path.join(staging, rel)
        makedirs_owned(os.path.dirname(dst), dir_mode, uid, gid, made)
        nbytes += _copy_in(os.path.join(src_root, rel), dst, file_mode, uid, gid, part, rel)
    return nbytes


def _copy_in(src, dst, file_mode, uid, gid, part, rel):
    """Copy one snapshot file into a staging copy, owned and moded; bytes copied. Names the file on failure.

    The copy is hashed as it is made: part["known"][rel] = (that sha256, the identity of the copy), so the
    checksums check compares it with SHA256SUMS without reading the file a second time."""
    try:
        sha, n = copy_file(src, dst, file_mode)
    except Exception as e:  # noqa: BLE001 - _Vanished or OSError: name the file
        raise MemoryToolError("Snapshot file '%s' cannot be copied to '%s': %s; the snapshot is incomplete, "
                              "transfer it again" % (src, dst, getattr(e, "strerror", None) or "it is missing"))
    os.chmod(dst, file_mode)
    ensure_owner(dst, uid, gid)
    part.setdefault("known", {})[rel] = (sha, file_identity(os.stat(dst)))
    return n


def _verify_checksums(part, staging):
    """Every staged file against SHA256SUMS. Files hashed while they were copied in, and prestaged files
    verified before and unchanged since (same inode, size, mtime), are not read again."""
    known = part.get("known") or {}
    if not part["is_dir"]:
        digest = part["sums"][""]
        vouched = vouched_size(staging, digest, known.get("")) is not None
        ok = vouched or sha256_file(staging) == digest
        return {"ok": ok, "bad": [] if ok else [part["name"]], "missing": [], "extra": [], "files": 1,
                "known": int(vouched)}
    return verify_sums(staging, part["sums"], ignore=(), known=known)


def verify_database(path, baseline, checks, expect=None):
    """Run lance_verify's checks (minus checksums) on a staged database dir; returns its result dict.

    The read-write check's scratch copy hard-links the staged files beside it
    (same filesystem, proven unchanged afterwards), so it costs no copy.
    """
    return V.verify(path, checksums="none", baseline=baseline, expect=expect or None,
                    checks=[c for c in checks if c != "checksums"], scratch_link=True)


def _verify_part(part, staging, snapshot, checks, expect):
    """(ok, result) of verifying one staged part; result = {checks: {...}, mismatches: [...]}."""
    result = {"checks": {}, "mismatches": []}
    if "checksums" in checks:
        cs = _verify_checksums(part, staging)
        msg = ("%d file(s) match SHA256SUMS (%d read now; the others were hashed as they were copied in, or "
               "verified when prestaged and unchanged since)" % (cs["files"], cs["files"] - cs["known"]))
        if not cs["ok"]:
            msg = "; ".join("%s: %s" % (k, ", ".join(cs[k][:10])) for k in ("bad", "missing", "extra") if cs[k])
            result["mismatches"].append("checksums of the staged %s: %s" % (part["kind"], msg))
        result["checks"]["checksums"] = {"ok": cs["ok"], "msg": msg, "bad": cs["bad"], "missing": cs["missing"],
                                         "extra": cs["extra"]}
        if not cs["ok"]:
            return False, result
    lance_checks = [c for c in checks if c != "checksums"]
    if part["kind"] == "database" and lance_checks:
        v = verify_database(staging, os.path.join(snapshot, META_NAME), lance_checks, expect)
        result["checks"].update(v.get("checks") or {})
        result["mismatches"].extend(v.get("mismatches") or [])
        result["stats"] = v.get("stats")
        if not v.get("ok"):
            return False, result
    return True, result


def _stage_from_prestaged(snapshot, part, staging, prestaged, uid, gid, dir_mode, file_mode):
    """Turn the prestaged copy into `staging` for `part`: keep files whose checksum the snapshot repeats,
    copy the others, remove what the snapshot does not list. Returns bytes copied."""
    os.rename(prestaged_path(part["target"]), staging)
    os.unlink(prestaged_path(part["target"]) + ".json")  # the copy it describes is the staging copy now
    old_sums = prestaged["sums"]
    identities = prestaged.get("identities") or {}
    known = part.setdefault("known", {})
    same_owner = (prestaged.get("uid"), prestaged.get("gid"), prestaged.get("file_mode")) == (uid, gid, file_mode)
    for root, _dirs, names in os.walk(staging):
        for name in names:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, staging)
            if part["sums"].get(rel) is None or part["sums"][rel] != old_sums.get(rel):
                os.unlink(path)
            elif rel in identities:
                known[rel] = (old_sums[rel], identities[rel])  # verified when prestaged (changing mode keeps it)
    made = []
    nbytes = 0
    for rel in sorted(part["sums"]):
        dst = os.path.join(staging, rel)
        if os.path.lexists(dst):
            if not same_owner:
                os.chmod(dst, file_mode)
                ensure_owner(dst, uid, gid)
            continue
        makedirs_owned(os.path.dirname(dst), dir_mode, uid, gid, made)
        nbytes += _copy_in(os.path.join(snapshot, rel), dst, file_mode, uid, gid, part, rel)
    return nbytes


def prestage_snapshot(snapshot, db_path, owner=None, group=None, dir_mode=None, file_mode=None, checks=ALL_CHECKS,
                      expect=None, check_mode=False, stamp=None):
    """Stage and verify `snapshot`'s database beside `db_path` without touching it (see the module docs).

    Returns dict(changed, state, db_path, prestaged, snapshot, snapshot_name, verify, bytes_copied, warnings,
    duration_s). state: prestaged, already_prestaged (the same snapshot waits there, verified), would_prestage.
    Raises MemoryToolError (nothing staged is left) when the staged copy fails verification.
    """
    started = time.monotonic()
    snapshot, db_path, _workspace, checks, dir_mode, file_mode, stamp, meta, sums = _inputs(
        snapshot, db_path, None, checks, dir_mode, file_mode, stamp)
    warnings = []
    part = _parts(snapshot, sums, db_path, None)[0]
    target = prestaged_path(db_path)
    result = {"changed": False, "db_path": db_path, "prestaged": target, "snapshot": snapshot,
              "snapshot_name": meta.get("name"), "total": meta.get("total"), "verify": None, "bytes_copied": 0,
              "warnings": warnings}
    current = _read_prestaged(db_path)
    if current and current.get("sums") == part["sums"] and set(checks) <= set(current.get("checks") or []):
        result["state"] = "already_prestaged"
        result["verify"] = current.get("verify")
        result["duration_s"] = round(time.monotonic() - started, 3)
        return result
    result["changed"] = True
    if check_mode:
        result["state"] = "would_prestage"
        result["duration_s"] = round(time.monotonic() - started, 3)
        return result
    _recover(db_path, warnings)
    _clean_staging([part], warnings)
    uid, gid = default_owner(db_path, owner, group)
    parent = os.path.dirname(db_path)
    makedirs_owned(parent, dir_mode, uid, gid, [])
    staging = os.path.join(parent, "." + os.path.basename(db_path) + STAGING_TAG + stamp)
    try:
        if current:
            # Start from the earlier prestaged copy (an earlier pre-sync of the same database).
            result["bytes_copied"] = _stage_from_prestaged(snapshot, part, staging, current, uid, gid, dir_mode,
                                                           file_mode)
        else:
            _drop_prestaged(db_path)
            result["bytes_copied"] = _stage(snapshot, part, staging, uid, gid, dir_mode, file_mode)
        ok, res = _verify_part(part, staging, snapshot, checks, expect)
        verify = {"ok": ok, "checks": res["checks"], "mismatches": res["mismatches"], "stats": res.get("stats")}
        result["verify"] = verify
        if not ok:
            raise MemoryToolError(
                "The prestaged copy of snapshot %s failed verification and was removed; '%s' is untouched: %s"
                % (meta.get("name"), db_path, "; ".join(res["mismatches"]) or "see verify"), result=result)
        _drop_prestaged(db_path)
        os.rename(staging, target)
        # Each verified file's identity: a restore that keeps it hashes it again only if it changed since.
        identities = {rel: file_identity(os.stat(os.path.join(target, rel)))
                      for rel in part["sums"] if os.path.isfile(os.path.join(target, rel))}
        marker = {"format": PRESTAGED_FORMAT, "snapshot": snapshot, "snapshot_name": meta.get("name"),
                  "sums": part["sums"], "identities": identities, "checks": checks, "uid": uid, "gid": gid,
                  "file_mode": file_mode, "verified": time.time(), "verify": verify}
        write_json_atomic(target + ".json", marker, 0o600, sync_dir=True)
    finally:
        if os.path.lexists(staging):
            _remove(staging)
    result["state"] = "prestaged"
    result["duration_s"] = round(time.monotonic() - started, 3)
    return result


# --------------------------------------------------------------------------- restore


def _clean(path):
    """~ expanded, normalised, no trailing slash; relative paths stay relative (and are refused)."""
    return os.path.normpath(os.path.expanduser(path)) if path else None


def _check_inputs(snapshot, db_path, workspace, checks):
    for name, value in (("snapshot", snapshot), ("db_path", db_path)):
        if not value or not os.path.isabs(value):
            raise MemoryToolError("%s '%s' must be an absolute path" % (name, value))
    if not os.path.isdir(snapshot):
        raise MemoryToolError("Snapshot '%s' does not exist or is not a directory; transfer it to this host first "
                              "(openclaw.memory.transfer)" % snapshot)
    meta = read_snapshot_meta(snapshot)
    if meta is None and os.path.isfile(os.path.join(snapshot, META_NAME)):
        raise MemoryToolError("'%s' has a %s that lance_snapshot did not write as it is (not valid JSON, or not its "
                              "format): the snapshot is damaged; take or transfer it again" % (snapshot, META_NAME))
    if meta is None:
        raise MemoryToolError("'%s' is not a complete snapshot: it has no SNAPSHOT.json written by lance_snapshot; "
                              "an interrupted transfer leaves such a directory: transfer it again" % snapshot)
    sums_file = os.path.join(snapshot, SUMS_NAME)
    if not os.path.isfile(sums_file):
        raise MemoryToolError("Snapshot '%s' has no %s; it cannot be verified, so it is not restored" % (
            snapshot, SUMS_NAME))
    sums = read_sums(sums_file)
    if is_within(db_path, snapshot) or is_within(snapshot, db_path):
        raise MemoryToolError("db_path '%s' and snapshot '%s' overlap; restore a snapshot kept outside the database"
                              % (db_path, snapshot))
    if os.path.lexists(db_path) and not os.path.isdir(db_path):
        raise MemoryToolError("db_path '%s' is a file, not a database directory; move it away or fix db_path" % db_path)
    if workspace is not None and not os.path.isabs(workspace):
        raise MemoryToolError("workspace '%s' must be an absolute path" % workspace)
    if workspace is not None and os.path.lexists(workspace) and not os.path.isdir(workspace):
        raise MemoryToolError("workspace '%s' is a file, not a directory; give the agent's workspace directory "
                              "(openclaw_memory_facts reports it as workspace.path)" % workspace)
    for name, value in (("db_path", db_path), ("workspace", workspace)):
        parent = nearest_existing(os.path.dirname(value)) if value else None
        if parent and not os.path.isdir(parent):
            raise MemoryToolError("%s '%s' cannot be created: '%s' is a file, not a directory; fix %s"
                                  % (name, value, parent, name))
    unknown = [c for c in checks if c not in ALL_CHECKS]
    if unknown:
        raise MemoryToolError("verify_checks has unknown check(s) %s; choose from %s" % (
            ", ".join(unknown), ", ".join(ALL_CHECKS)))
    return meta, sums


def _inputs(snapshot, db_path, workspace, checks, dir_mode, file_mode, stamp):
    """The options of prestage_snapshot / restore_snapshot, cleaned and checked, in the same order, then the
    snapshot's (meta, sums). Raises MemoryToolError naming the option at fault."""
    snapshot, db_path, workspace = (_clean(p) for p in (snapshot, db_path, workspace))
    checks = list(checks or [])
    meta, sums = _check_inputs(snapshot, db_path, workspace, checks)
    dir_mode = parse_mode(dir_mode, "dir_mode", 0o700)
    file_mode = parse_mode(file_mode, "mode", 0o600)
    return snapshot, db_path, workspace, checks, dir_mode, file_mode, stamp or utc_now_name(), meta, sums


def _recover(db_path, warnings):
    """Put originals back after a restore that crashed mid-rename (journal state 'swapping')."""
    journal = _read_journal(db_path)
    if journal and journal.get("state") == "swapping":
        _undo(journal, journal.get("stamp") or utc_now_name())
        journal["state"] = "rolled_back"
        journal["recovered"] = True
        _write_journal(db_path, journal)
        warnings.append("A restore of '%s' was interrupted while renaming (journal %s); the original was put back "
                        "before this run" % (db_path, journal_path(db_path)))


def _clean_staging(parts, warnings):
    """Remove staging copies an interrupted run left beside each target (only ours: the staging tag)."""
    seen = set()
    for part in parts:
        parent = os.path.dirname(part["target"])
        prefix = "." + os.path.basename(part["target"]) + STAGING_TAG
        if (parent, prefix) in seen or not os.path.isdir(parent):
            continue
        seen.add((parent, prefix))
        for name in os.listdir(parent):
            if name.startswith(prefix):
                _remove(os.path.join(parent, name))
                warnings.append("Removed '%s' left by an interrupted restore" % os.path.join(parent, name))


def restore_snapshot(snapshot, db_path, workspace=None, owner=None, group=None, dir_mode=None, file_mode=None,
                     checks=ALL_CHECKS, expect=None, force=False, check_mode=False, stamp=None, start_gateway=None):
    """Restore `snapshot` at `db_path` (and its workspace entries under `workspace`); see the module docs.

    start_gateway: None, or the options of gateway.Gateway: once the snapshot is in place (restored now, or
    already), the gateway is started and waited for; if it does not come up after a switch made now, it is
    stopped again and the switch undone (the original back in place) before the error is raised.

    Returns dict(changed, state, db_path, snapshot, snapshot_name, tables, parts, aside, verify, bytes_copied,
    journal, warnings, duration_s[, gateway]). Raises MemoryToolError with the reason after undoing whatever it
    did.
    """
    gateway = Gateway(**start_gateway) if start_gateway is not None else None  # its options checked first
    guard = (lambda: _refuse_if_running(gateway, db_path)) if gateway is not None else None
    result = _restore(snapshot, db_path, workspace, owner, group, dir_mode, file_mode, checks, expect, force,
                      check_mode, stamp, guard)
    if gateway is not None:
        _start_on_it(gateway, result, check_mode)
    return result


def failure_details(error):
    """A failed restore's details for a task result: verify (the staged copy's checks, when they ran) and the
    rest of what the error carries (rolled_back, undone), without the partial result."""
    details = dict(error.details)
    partial = details.pop("result", None) or {}
    return dict(details, verify=partial.get("verify"))


def _refuse_if_running(gateway, db_path):
    """Fail before anything is staged when the gateway that start_gateway names is running: the switch would
    happen under it, and what it wrote after the rename would land in the set-aside copy."""
    if gateway.manager == "none":
        return
    p = gateway.probe()
    if p.running:
        raise MemoryToolError(
            "the gateway (%s) is running (status: %s): restoring would switch '%s' under it, and what it writes "
            "after the switch would land in the copy set aside. Stop it first (module "
            "openclaw.memory.openclaw_gateway with state=stopped, or role openclaw.memory.gateway); start_gateway "
            "then starts it on the restored copy. Nothing was changed" % (gateway.label, p.summary, db_path),
            rolled_back=False)


def _start_on_it(gateway, result, check_mode):
    """Start the gateway on what `result` put in place; undo a switch made now if it does not come up."""
    t0 = time.monotonic()
    try:
        result["gateway"] = gateway.apply("start", check_mode=check_mode)
    except MemoryToolError as e:
        if result["state"] != "restored":
            raise MemoryToolError("%s. The database in place was not changed by this restore (it already held "
                                  "the snapshot)" % e.msg, result=result, rolled_back=False) from None
        try:
            gateway.apply("stop")
            stopped = "stopped again"
        except MemoryToolError as again:
            stopped = "not confirmed stopped (%s)" % again.msg
        undone = rollback_restore(result["db_path"], snapshot=result["snapshot"])
        kept = ", ".join(u["failed_copy"] for u in undone["undone"] if u.get("failed_copy")) or "none"
        raise MemoryToolError(
            "%s. The restore was undone: the gateway is %s, the original database is back in place and the "
            "restored copy is kept as %s" % (e.msg, stopped, kept),
            result=result, rolled_back=True, undone=undone["undone"]) from None
    result["duration_s"] = round(result["duration_s"] + time.monotonic() - t0, 3)


def _restore(snapshot, db_path, workspace, owner, group, dir_mode, file_mode, checks, expect, force, check_mode,
             stamp, guard=None):
    started = time.monotonic()
    snapshot, db_path, workspace, checks, dir_mode, file_mode, stamp, meta, sums = _inputs(
        snapshot, db_path, workspace, checks, dir_mode, file_mode, stamp)
    warnings = []
    parts = _parts(snapshot, sums, db_path, workspace)
    if not check_mode:
        _recover(db_path, warnings)
    states = {}
    parts[0]["versions"] = {n: t.get("version") for n, t in (meta.get("tables") or {}).items()}
    for part in parts:
        part["state"], part["extra"] = _compare(part)
        states[part["target"]] = part["state"]
    result = {
        "changed": False,
        "db_path": db_path,
        "snapshot": snapshot,
        "snapshot_name": meta.get("name"),
        "tables": {n: {"version": t.get("version"), "rows": t.get("rows")}
                   for n, t in (meta.get("tables") or {}).items()},
        "total": meta.get("total"),
        "parts": [],
        "aside": None,
        "verify": None,
        "bytes_copied": 0,
        "prestaged": None,
        "journal": journal_path(db_path),
        "warnings": warnings,
    }
    todo = [p for p in parts if force or p["state"] == "differs"]
    for part in parts:
        result["parts"].append({"kind": part["kind"], "target": part["target"], "state": part["state"],
                                "files": len(part["sums"]), "restore": part in todo})
        if part["state"] == "moved_on" and not force:
            warnings.append(
                "'%s' already holds snapshot %s and has moved on since (%s): left as is; "
                "force=true would roll it back to the snapshot (the current state is kept as %s<timestamp>)"
                % (part["target"], meta.get("name"), "; ".join(part["extra"]), ASIDE_TAG))
    if not todo:
        result["state"] = "moved_on" if "moved_on" in states.values() else "same"
        result["duration_s"] = round(time.monotonic() - started, 3)
        return result
    if guard is not None:  # only when something would be switched: a restore already in place needs no stop
        guard()
    result["changed"] = True
    result["state"] = "restored"
    if check_mode:
        result["state"] = "would_restore"
        result["duration_s"] = round(time.monotonic() - started, 3)
        return result

    _clean_staging(todo, warnings)
    uid, gid = default_owner(db_path, owner, group)
    staged = []
    try:
        verify = {"ok": True, "checks": {}, "mismatches": []}
        for part in todo:
            parent = os.path.dirname(part["target"])
            made = []
            makedirs_owned(parent, dir_mode, uid, gid, made)
            part["staging"] = os.path.join(parent, "." + os.path.basename(part["target"]) + STAGING_TAG + stamp)
            _remove(part["staging"])
            staged.append(part)
            prestaged = _read_prestaged(db_path) if part["kind"] == "database" else None
            if prestaged:
                result["bytes_copied"] += _stage_from_prestaged(snapshot, part, part["staging"], prestaged, uid, gid,
                                                                dir_mode, file_mode)
                result["prestaged"] = prestaged.get("snapshot_name")
            else:
                result["bytes_copied"] += _stage(snapshot, part, part["staging"], uid, gid, dir_mode, file_mode)
            ok, res = _verify_part(part, part["staging"], snapshot, checks, expect)
            key = "database" if part["kind"] == "database" else "workspace/" + part["name"]
            verify["checks"].update({(name if key == "database" else key + ":" + name): c
                                     for name, c in res["checks"].items()})
            verify["mismatches"].extend(res["mismatches"])
            if res.get("stats") is not None:
                verify["stats"] = res["stats"]
            if not ok:
                verify["ok"] = False
                result["verify"] = verify
                raise MemoryToolError(
                    "The staged copy of snapshot %s failed verification, so it was not put in place and '%s' is "
                    "untouched: %s" % (meta.get("name"), part["target"], "; ".join(res["mismatches"]) or "see verify"),
                    result=result)
        result["verify"] = verify
        _swap(todo, db_path, snapshot, meta, stamp, result)
    finally:
        for part in staged:
            if os.path.lexists(part["staging"]):
                _remove(part["staging"])
    result["duration_s"] = round(time.monotonic() - started, 3)
    return result


def _swap(todo, db_path, snapshot, meta, stamp, result):
    """Move each target aside and the staged copy into its place; undo everything on failure."""
    moves = []
    for part in todo:
        aside = free_name(part["target"] + ASIDE_TAG + stamp) if os.path.lexists(part["target"]) else None
        moves.append({"kind": part["kind"], "target": part["target"], "aside": aside, "staging": part["staging"],
                      "placed": False, "moved_aside": False})
    journal = {"format": JOURNAL_FORMAT, "state": "swapping", "stamp": stamp, "snapshot": snapshot,
               "snapshot_name": meta.get("name"), "db_path": db_path, "moves": moves,
               "started": time.time()}
    _write_journal(db_path, journal)
    try:
        for move in moves:
            if move["aside"]:
                os.rename(move["target"], move["aside"])
                move["moved_aside"] = True
                _write_journal(db_path, journal)
            os.rename(move["staging"], move["target"])
            move["placed"] = True
            _write_journal(db_path, journal)
            fsync_dir(os.path.dirname(move["target"]), missing_ok=True)
    except OSError as e:
        _undo(journal, stamp)
        journal["state"] = "rolled_back"
        _write_journal(db_path, journal)
        raise MemoryToolError("Renaming the restored copy into place failed (%s: %s); every original was put back"
                              % (e.filename or "?", e.strerror or e), result=result)
    journal["state"] = "done"
    journal["finished"] = time.time()
    _write_journal(db_path, journal)
    result["aside"] = next((m["aside"] for m in moves if m["kind"] == "database"), None)
    result["workspace_aside"] = [m["aside"] for m in moves if m["kind"] == "workspace" and m["aside"]]
    result["moves"] = [{k: m[k] for k in ("kind", "target", "aside")} for m in moves]


def _undo(journal, stamp):
    """Reverse the moves of a journal (newest first): restored copy -> .failed-restore-, original back."""
    undone = []
    for move in reversed(journal.get("moves") or []):
        target = move["target"]
        failed = None
        if move.get("placed") and os.path.lexists(target):
            failed = free_name(target + FAILED_TAG + stamp)
            os.rename(target, failed)
            move["placed"] = False
        elif not move.get("placed") and move.get("staging") and os.path.lexists(move["staging"]):
            _remove(move["staging"])
        if move.get("aside") and os.path.lexists(move["aside"]) and not os.path.lexists(target):
            os.rename(move["aside"], target)
            move["moved_aside"] = False
        undone.append({"kind": move.get("kind"), "target": target, "original_back": bool(move.get("aside")),
                       "failed_copy": failed})
        fsync_dir(os.path.dirname(target), missing_ok=True)
    return undone


def rollback_restore(db_path, snapshot=None, check_mode=False, stamp=None):
    """Undo the last restore of `db_path` from its journal.

    The restored copy is kept as `<target>.failed-restore-<ts>` and each
    original goes back in place. changed=false when there is nothing to undo
    (no journal, or it was already rolled back), and when `snapshot` is given
    but the last restore was of another snapshot (state `other_restore`): a
    caller undoing its own restore never undoes an earlier one.
    """
    db_path = _clean(db_path)
    if not db_path or not os.path.isabs(db_path):
        raise MemoryToolError("db_path '%s' must be an absolute path" % db_path)
    journal = _read_journal(db_path)
    result = {"changed": False, "db_path": db_path, "journal": journal_path(db_path), "undone": [],
              "snapshot_name": (journal or {}).get("snapshot_name")}
    if not journal or journal.get("state") not in ("done", "swapping"):
        result["state"] = "nothing_to_undo" if not journal else journal.get("state")
        return result
    if snapshot and _clean(snapshot) != journal.get("snapshot"):
        result["state"] = "other_restore"
        return result
    for move in journal.get("moves") or []:
        if move.get("aside") and not os.path.lexists(move["aside"]) and not move.get("placed"):
            continue
        if move.get("aside") and not os.path.lexists(move["aside"]):
            raise MemoryToolError(
                "The original of '%s' is no longer at '%s', where the restore moved it; the restored copy is left in "
                "place. Find the original (or restore another snapshot) by hand" % (move["target"], move["aside"]))
    result["changed"] = True
    result["state"] = "rolled_back"
    if check_mode:
        result["state"] = "would_roll_back"
        return result
    result["undone"] = _undo(journal, stamp or utc_now_name())
    journal["state"] = "rolled_back"
    journal["rolled_back"] = time.time()
    _write_journal(db_path, journal)
    return result
