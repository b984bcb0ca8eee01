# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Consistent, incremental snapshots of a LanceDB memory database.

Plain functions, no Ansible: the `lance_snapshot` module and the scheduled
backup command both call `take_snapshot()`.

How a snapshot is made (Lance files are written once, see lance.py):
  1. each table is pinned at its latest version and exactly the files that
     version references are listed (`lance.version_files`, or
     `lance.history_files` for time travel);
  2. each file is hard-linked from the link-dest snapshot when that one holds
     the same relative path with the same size and sha256, else copied (and
     hashed while copying); a file that vanishes (a concurrent cleanup) makes
     the table be pinned again;
  3. everything is built in `<dest>/.<name>.partial-<pid>`, checked (the copy
     opens at the pinned versions with the source's rows and schema), then
     `SHA256SUMS` and `SNAPSHOT.json` are written and the directory is renamed
     to `<dest>/<name>` in one step. A directory is a complete snapshot only
     when its `SNAPSHOT.json` has `format: openclaw.memory/snapshot-v1`.
The source database is only ever read.
"""

from __future__ import annotations

import ctypes
import datetime
import errno
import fcntl
import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import socket
import stat
import time

from ansible_collections.openclaw.memory.plugins.module_utils.checksums import SUMS_NAME, read_sums, write_sums
from ansible_collections.openclaw.memory.plugins.module_utils.common import (
    CHUNK,
    MemoryToolError,
    is_within,
    iso_utc,
    nearest_existing,
    sha256_file,
    utc_now_name,
)
from ansible_collections.openclaw.memory.plugins.module_utils.lance import (
    check_db_dir,
    history_files,
    is_table_dir,
    lib_versions,
    manifest_relpath,
    memory_stats,
    open_table,
    require_lance,
    table_info,
    version_files,
)
from ansible_collections.openclaw.memory.plugins.module_utils.plugins import TABLE

FORMAT = "openclaw.memory/snapshot-v1"
META_NAME = "SNAPSHOT.json"
WORKSPACE_DIR = "workspace"
# What of an agent workspace is memory: the curated file and the daily notes tree.
WORKSPACE_FILES = ("MEMORY.md",)
WORKSPACE_TREES = ("memory",)
# LanceDB's optional namespace table at the database root (not a `<name>.lance` dir).
NAMESPACE_TABLE = "__manifest"
LOCK_NAME = ".openclaw-memory-snapshot.lock"
PARTIAL_TAG = ".partial-"
DELETING_TAG = ".deleting-"
HISTORY = ("latest", "all")
LINK_NONE = ("none", "", None)
MAX_PINS = 5
EMBEDDING_KEYS = ("provider", "model", "dimensions")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@:-]*$")
_EXDEV = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP)
_NOSPACE = (errno.ENOSPC, errno.EDQUOT)


class _Vanished(Exception):
    """A source file disappeared between pinning and copying (concurrent cleanup)."""


# --------------------------------------------------------------------------- reading snapshots


def read_snapshot_meta(path):
    """SNAPSHOT.json of a complete snapshot made by this module, else None."""
    try:
        with open(os.path.join(path, META_NAME), encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        return None
    return meta


def list_snapshots(dest, src=None):
    """Complete snapshots in `dest`, newest first: [{name, path, created_epoch, meta}].

    Only directories holding a SNAPSHOT.json with this module's format count;
    hidden (staging) directories never do. With `src`, only snapshots of that
    database directory (compared after resolving symlinks).
    """
    out = []
    try:
        names = os.listdir(dest)
    except OSError:
        return out
    want_src = os.path.realpath(src) if src else None
    for name in names:
        path = os.path.join(dest, name)
        if name.startswith(".") or os.path.islink(path) or not os.path.isdir(path):
            continue
        meta = read_snapshot_meta(path)
        if meta is None:
            continue
        if want_src and meta.get("src") != want_src:
            continue
        out.append({"name": name, "path": path, "created_epoch": float(meta.get("created_epoch") or 0), "meta": meta})
    out.sort(key=lambda s: (s["created_epoch"], s["name"]), reverse=True)
    return out


def cleanup_leftovers(dest):
    """Remove staging and half-deleted dirs an interrupted run left in `dest`; returns their names.

    Call only while holding the dest lock (`take_snapshot` does), so no live run owns them.
    """
    removed = []
    try:
        names = sorted(os.listdir(dest))
    except OSError:
        return removed
    for name in names:
        if name.startswith(".") and (PARTIAL_TAG in name or DELETING_TAG in name):
            path = os.path.join(dest, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(name)
    return removed


def prune_snapshots(dest, retain=None, retain_days=None, src=None, now=None, check_mode=False):
    """Retention: remove complete snapshots of `src` beyond the newest `retain` and older than `retain_days`.

    A snapshot is kept when any rule keeps it (it is among the newest `retain`,
    or younger than `retain_days`); the newest is always kept; directories this
    module did not make are never touched. Returns the names removed (or that
    would be, in check mode), oldest first.
    """
    _check_retention(retain, retain_days)
    if retain is None and retain_days is None:
        return []
    now = time.time() if now is None else float(now)
    snaps = list_snapshots(dest, src=src)
    doomed = []
    for i, snap in enumerate(snaps):
        if i == 0:
            continue
        keep_by_count = retain is not None and i < retain
        keep_by_age = retain_days is not None and now - snap["created_epoch"] < float(retain_days) * 86400
        if not (keep_by_count or keep_by_age):
            doomed.append(snap)
    removed = []
    for snap in reversed(doomed):
        if not check_mode:
            # Rename first: a crash mid-delete leaves a hidden dir, never a damaged "complete" one.
            trash = os.path.join(dest, ".%s%s%d" % (snap["name"], DELETING_TAG, os.getpid()))
            os.rename(snap["path"], trash)
            shutil.rmtree(trash)
        removed.append(snap["name"])
    return removed


def _check_retention(retain, retain_days):
    if retain is not None and int(retain) < 1:
        raise MemoryToolError(
            "retain=%s is invalid: it must be at least 1 (the newest snapshot is always kept)" % retain
        )
    if retain_days is not None and float(retain_days) < 0:
        raise MemoryToolError("retain_days=%s is invalid: it must be 0 or more days" % retain_days)


# --------------------------------------------------------------------------- planning


class _File:
    """One file of the snapshot: where it comes from and how it gets there."""

    __slots__ = ("rel", "src", "size", "sha", "action")

    def __init__(self, rel, src, size):
        self.rel = rel  # path inside the snapshot ('/'-separated)
        self.src = src  # absolute source path
        self.size = size
        self.sha = None
        self.action = None  # "copy" | "link"


def _pin_table(name, table_dir, history):
    """Open a table at its latest version and list the files that version needs, with sizes.

    Raises _Vanished when a listed file is gone (a cleanup ran between open and stat).
    """
    ds = open_table(table_dir)
    try:
        rels = version_files(ds, table_dir) if history == "latest" else history_files(ds, table_dir)
    except FileNotFoundError as e:
        raise _Vanished(str(e)) from None
    except MemoryToolError:
        if open_table(table_dir).version != ds.version:
            raise _Vanished("version %d of '%s' was cleaned up" % (ds.version, table_dir)) from None
        raise
    prefix = os.path.basename(table_dir)
    files = []
    for rel in rels:
        path = os.path.join(table_dir, rel)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise _Vanished(path) from None
        except PermissionError:
            raise MemoryToolError(
                "Cannot read '%s' in src: permission denied; run as the database owner or with become" % path
            ) from None
        files.append(_File(prefix + "/" + rel, path, st.st_size))
    return {"name": name, "dir": table_dir, "ds": ds, "info": table_info(ds), "files": files, "prefix": prefix}


def _workspace_files(workspace, warnings):
    """Files of the Markdown memory workspace to include, as workspace/<rel>, with their sha256."""
    if not os.path.isdir(workspace):
        raise MemoryToolError(
            "workspace '%s' %s; pass the agent workspace (default ~/.openclaw/workspace) or leave workspace unset"
            % (workspace, "is not a directory" if os.path.exists(workspace) else "does not exist")
        )
    rels = []
    for name in WORKSPACE_FILES:
        p = os.path.join(workspace, name)
        if os.path.isfile(p) and not os.path.islink(p):
            rels.append(name)
    for tree in WORKSPACE_TREES:
        top = os.path.join(workspace, tree)
        if not os.path.isdir(top) or os.path.islink(top):
            continue
        for root, dirs, names in os.walk(top):
            dirs.sort()
            for n in sorted(names):
                p = os.path.join(root, n)
                if os.path.isfile(p) and not os.path.islink(p):
                    rels.append(os.path.relpath(p, workspace))
    if not rels:
        warnings.append("workspace '%s' holds neither %s nor %s/: nothing of it was included"
                        % (workspace, " nor ".join(WORKSPACE_FILES), "/ nor ".join(WORKSPACE_TREES)))
    files = []
    for rel in rels:
        p = os.path.join(workspace, rel)
        try:
            f = _File(WORKSPACE_DIR + "/" + rel.replace(os.sep, "/"), p, os.path.getsize(p))
            f.sha = sha256_file(p)
        except PermissionError:
            raise MemoryToolError(
                "Cannot read '%s' in the workspace: permission denied; run as its owner or with become" % p
            ) from None
        files.append(f)
    return files


def _resolve_link_base(dest, link_dest, src):
    """The snapshot to hard-link unchanged files from: {name, path, sums} or None."""
    if link_dest in LINK_NONE:
        return None
    if link_dest == "auto":
        snaps = list_snapshots(dest, src=src) or list_snapshots(dest)
        if not snaps:
            return None
        path = snaps[0]["path"]
    else:
        path = link_dest
        if read_snapshot_meta(path) is None:
            raise MemoryToolError(
                "link_dest '%s' is not a complete snapshot made by lance_snapshot (no %s with format %s); "
                "pass a snapshot directory, 'auto' or 'none'" % (path, META_NAME, FORMAT)
            )
    try:
        sums = read_sums(os.path.join(path, SUMS_NAME))
    except MemoryToolError:
        return None
    return {"name": os.path.basename(path.rstrip("/")), "path": path, "sums": sums}


def _decide_links(files, base, uid, gid, mode):
    """Mark each file 'link' (same rel path, size and sha256 in the base, same owner and mode) or 'copy'.

    The base's recorded checksums are reused; a candidate source file is hashed to compare.
    """
    for f in files:
        f.action = "copy"
        if base is None or f.rel not in base["sums"]:
            continue
        try:
            st = os.lstat(os.path.join(base["path"], f.rel))
        except OSError:
            continue
        if (not stat.S_ISREG(st.st_mode) or st.st_size != f.size or st.st_uid != uid or st.st_gid != gid
                or stat.S_IMODE(st.st_mode) != mode):
            continue
        if f.sha is None:
            try:
                f.sha = sha256_file(f.src)
            except FileNotFoundError:
                raise _Vanished(f.src) from None
        if f.sha == base["sums"][f.rel]:
            f.action = "link"


# --------------------------------------------------------------------------- writing


def copy_file(src, dst, mode):
    """Copy src to a new file dst (mode), hashing on the way; keeps mtime. Returns (sha256, bytes).

    Not fsynced one by one: `_sync_tree` flushes the whole staging dir once before the rename.
    """
    h = hashlib.sha256()
    n = 0
    try:
        fi = open(src, "rb")
    except FileNotFoundError:
        raise _Vanished(src) from None
    with fi:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as fo:
            while True:
                block = fi.read(CHUNK)
                if not block:
                    break
                h.update(block)
                fo.write(block)
                n += len(block)
        st = os.fstat(fi.fileno())
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    return h.hexdigest(), n


def _ensure_dir(path, dir_mode, uid, gid, made):
    if path in made:
        return
    parent = os.path.dirname(path)
    if parent not in made and not os.path.isdir(parent):
        _ensure_dir(parent, dir_mode, uid, gid, made)
    try:
        os.mkdir(path, dir_mode)
    except FileExistsError:
        pass
    os.chmod(path, dir_mode)
    _chown(path, uid, gid)
    made.add(path)


def _chown(path, uid, gid):
    if (uid, gid) != (os.geteuid(), os.getegid()):
        os.chown(path, uid, gid)


def _place(f, staging, base, dir_mode, mode, uid, gid, made, stats, progress):
    """Put one planned file into the staging dir (link or copy)."""
    dst = os.path.join(staging, f.rel)
    _ensure_dir(os.path.dirname(dst), dir_mode, uid, gid, made)
    if f.action == "link":
        try:
            os.link(os.path.join(base["path"], f.rel), dst)
            stats["bytes_linked"] += f.size
            stats["files_linked"] += 1
            if progress:
                progress("link", f.rel)
            return
        except OSError as e:
            if e.errno not in _EXDEV:
                raise
            stats["warnings"].add("link_dest '%s' cannot be hard-linked from dest (%s): files were copied instead"
                                  % (base["path"], os.strerror(e.errno)))
            f.action = "copy"
    if progress:
        progress("copy", f.rel)
    sha, n = copy_file(f.src, dst, mode)
    f.sha, f.size = sha, n  # a workspace file edited since it was hashed: the copy's hash is the truth
    _chown(dst, uid, gid)
    stats["bytes_copied"] += n
    stats["files_copied"] += 1


def _stage_table(pin, src_tables, staging, base, history, dir_mode, mode, uid, gid, made, stats, progress):
    """Copy/link one table's pinned files; on a vanished file pin again (up to MAX_PINS)."""
    name = pin["name"]
    for attempt in range(1, MAX_PINS + 1):
        try:
            if attempt > 1:
                pin = _pin_table(name, src_tables[name], history)
                _decide_links(pin["files"], base, uid, gid, mode)
                _drop_stale(staging, pin)
            if progress:
                progress("pinned", "%s@%d" % (name, pin["ds"].version))
            for f in pin["files"]:
                if not os.path.lexists(os.path.join(staging, f.rel)):
                    _place(f, staging, base, dir_mode, mode, uid, gid, made, stats, progress)
            return pin
        except _Vanished as e:
            stats["repins"] += 1
            last = str(e)
    raise MemoryToolError(
        "Table '%s' in '%s' kept losing files while being copied (%d pins in a row, last: %s): a cleanup with a "
        "short retention window is running (optimize or lance.auto_cleanup); pause it or use a cold backup"
        % (name, src_tables[name], MAX_PINS, last)
    )


def _drop_stale(staging, pin):
    """After a re-pin: remove staged files of this table that the new version does not need."""
    top = os.path.join(staging, pin["prefix"])
    keep = {f.rel for f in pin["files"]}
    for root, _dirs, names in os.walk(top):
        for n in names:
            p = os.path.join(root, n)
            if os.path.relpath(p, staging).replace(os.sep, "/") not in keep:
                os.unlink(p)


def _post_check(staging, pin):
    """Open the staged copy at the pinned version; its rows and schema must equal the source's."""
    try:
        ds = open_table(os.path.join(staging, pin["prefix"]), version=pin["ds"].version)
        info = table_info(ds)
    except MemoryToolError as e:
        raise MemoryToolError("The snapshot copy of table '%s' does not open: %s" % (pin["name"], e.msg)) from None
    want = pin["info"]
    for key in ("version", "rows", "columns", "vector_dim"):
        if info[key] != want[key]:
            raise MemoryToolError(
                "The snapshot copy of table '%s' differs from the source at version %d: %s is %r, source has %r; "
                "nothing was kept, re-run the snapshot" % (pin["name"], want["version"], key, info[key], want[key])
            )
    return ds, info


def _sync_tree(path, dirs, files):
    """Make everything written under `path` durable before it is renamed into place.

    One syncfs(2) of the filesystem (Linux) instead of an fsync per file (2,000 fsyncs cost seconds); where
    syncfs is not available, fsync every file and directory.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        if _SYNCFS is not None:
            if _SYNCFS(fd) == 0:
                return
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
    finally:
        os.close(fd)
    for p in files:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for d in dirs:
        _fsync_dir(d)


def _load_syncfs():
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _load_syncfs()


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- inputs


def resolve_owner(owner, group):
    uid, gid = os.geteuid(), os.getegid()
    if owner not in (None, ""):
        try:
            pw = pwd.getpwuid(int(owner)) if str(owner).isdigit() else pwd.getpwnam(owner)
        except KeyError:
            raise MemoryToolError(
                "owner '%s' is not a user on this host; set owner to an existing account" % owner
            ) from None
        uid = pw.pw_uid
        if group in (None, ""):
            gid = pw.pw_gid
    if group not in (None, ""):
        try:
            gid = (grp.getgrgid(int(group)) if str(group).isdigit() else grp.getgrnam(group)).gr_gid
        except KeyError:
            raise MemoryToolError(
                "group '%s' is not a group on this host; set group to an existing group" % group
            ) from None
    return uid, gid


def parse_mode(value, what, default):
    """A file/dir mode from an int or an octal string ('0600', '600', '0o600'); what: the option name."""
    if value in (None, ""):
        return default
    try:
        mode = value if isinstance(value, int) else int(str(value).strip().lower().replace("0o", "", 1), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        raise MemoryToolError("%s=%r is not a mode; give it in octal, for example '%04o'" % (what, value, default))
    need = 0o700 if what == "dir_mode" else 0o600
    if mode & need != need:
        raise MemoryToolError(
            "%s=%04o would lock the owner out of the snapshot; it must include %04o (default %04o)"
            % (what, mode, need, default)
        )
    return mode


def _check_inputs(src, dest, name, history, link_dest, workspace):
    if history not in HISTORY:
        raise MemoryToolError("history='%s' is invalid: use 'latest' or 'all'" % history)
    if name is not None and (not _NAME_RE.match(name) or name in (".", "..") or len(name) > 200):
        raise MemoryToolError(
            "name '%s' is invalid: a snapshot name is one path component of letters, digits and ._+@:- "
            "that does not start with a dot" % name
        )
    tables = check_db_dir(src, "; set src to the memory plugin's dbPath (openclaw_memory_facts reports it as db_path)")
    if is_within(dest, src):
        raise MemoryToolError(
            "dest '%s' is inside src '%s': snapshots are never written into the live database; "
            "choose a dest outside it" % (dest, src)
        )
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise MemoryToolError("dest '%s' is a file; dest must be a directory that holds snapshots" % dest)
    if workspace and is_within(dest, workspace):
        for tree in WORKSPACE_TREES:
            if is_within(dest, os.path.join(workspace, tree)):
                raise MemoryToolError(
                    "dest '%s' is inside the workspace's %s/ tree, which the snapshot includes; choose a dest outside"
                    " '%s'" % (dest, tree, os.path.join(workspace, tree))
                )
    if link_dest not in LINK_NONE and link_dest != "auto" and not os.path.isdir(link_dest):
        raise MemoryToolError("link_dest '%s' does not exist; pass a snapshot directory, 'auto' or 'none'" % link_dest)
    ns = os.path.join(src, NAMESPACE_TABLE)
    if is_table_dir(ns):
        tables[NAMESPACE_TABLE] = ns
    return tables


class _DestLock:
    """An exclusive flock on <dest>/.openclaw-memory-snapshot.lock (released by the kernel on a crash)."""

    def __init__(self, dest, timeout):
        self.path = os.path.join(dest, LOCK_NAME)
        self.timeout = timeout
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    raise MemoryToolError(
                        "Another snapshot run holds '%s' (waited %ss); wait for it to finish or check for a hung "
                        "backup process" % (self.path, self.timeout)
                    ) from None
                time.sleep(0.2)

    def __exit__(self, *exc):
        os.close(self.fd)


# --------------------------------------------------------------------------- the snapshot


def _identity(tables_meta, sums, history, src_real):
    """What makes two snapshots the same: src, history, table versions + manifest checksums, workspace sums."""
    tables = {}
    for name, t in sorted(tables_meta.items()):
        tables[name] = (t.get("version"), sums.get(t.get("manifest")))
    ws = tuple(sorted((rel, sha) for rel, sha in sums.items() if rel.startswith(WORKSPACE_DIR + "/")))
    return (src_real, history, tuple(sorted(tables.items())), ws)


def _snapshot_identity(snap):
    try:
        sums = read_sums(os.path.join(snap["path"], SUMS_NAME))
    except MemoryToolError:
        return None
    return _identity(snap["meta"].get("tables") or {}, sums, snap["meta"].get("history", "latest"),
                     snap["meta"].get("src"))


def _free_space_check(dest, nbytes, nfiles):
    st = os.statvfs(nearest_existing(dest))
    need = nbytes + nfiles * 4096 + (1 << 20)
    free = st.f_bavail * st.f_frsize
    if need > free:
        raise MemoryToolError(
            "dest '%s' has %d bytes free but the snapshot needs about %d bytes (%d files to copy); free space or "
            "choose another dest; nothing was written and src was not touched" % (dest, free, need, nfiles)
        )
    if st.f_files and st.f_favail < nfiles + 64:
        raise MemoryToolError(
            "dest '%s' has %d free inodes but the snapshot writes %d files; free inodes or choose another dest; "
            "nothing was written and src was not touched" % (dest, st.f_favail, nfiles)
        )


def _unique_default_name(dest, now):
    base = utc_now_name(now)
    name, i = base, 1
    while os.path.lexists(os.path.join(dest, name)):
        i += 1
        name = "%s-%d" % (base, i)
    return name


def take_snapshot(src, dest, name=None, link_dest="auto", history="latest", workspace=None, retain=None,
                  retain_days=None, force=False, owner=None, group=None, mode=None, dir_mode=None,
                  embedding=None, probes=3, check_mode=False, now=None, lock_timeout=60, progress=None):
    """Snapshot the LanceDB database `src` into `dest/<name>`; see the module docs for every option.

    Returns the result dict of the `lance_snapshot` module (snapshot, name,
    changed, reused, tables, files, bytes_total, bytes_copied, bytes_linked,
    duration_s, removed, checksums, metadata, ...). Raises MemoryToolError on
    bad input or failure, after removing anything it wrote.
    `now`: epoch seconds to use as the current time (tests, simulated dates).
    `progress(event, detail)`: optional callback ("pinned", "copy", "link").
    """
    started = time.monotonic()
    require_lance()
    src = os.path.abspath(os.path.expanduser(src))
    dest = os.path.abspath(os.path.expanduser(dest))
    workspace = os.path.abspath(os.path.expanduser(workspace)) if workspace else None
    if link_dest not in LINK_NONE and link_dest != "auto":
        link_dest = os.path.abspath(os.path.expanduser(link_dest))
    src_tables = _check_inputs(src, dest, name, history, link_dest, workspace)
    _check_retention(retain, retain_days)
    mode = parse_mode(mode, "mode", 0o600)
    dir_mode = parse_mode(dir_mode, "dir_mode", 0o700)
    uid, gid = resolve_owner(owner, group)
    now_epoch = time.time() if now is None else float(now)
    warnings = []
    src_real = os.path.realpath(src)
    if not check_mode:
        if not os.path.isdir(dest):
            try:
                os.makedirs(dest, dir_mode)
            except OSError as e:
                raise MemoryToolError("dest '%s' cannot be created: %s; create it or choose another dest"
                                      % (dest, e.strerror or e)) from None
            _chown(dest, uid, gid)
        if not os.access(dest, os.W_OK | os.X_OK):
            raise MemoryToolError("dest '%s' is not writable by this user; fix its owner/mode or use become" % dest)
        with _DestLock(dest, lock_timeout):
            result = _run(src, src_tables, dest, name, link_dest, history, workspace, retain, retain_days, force,
                          uid, gid, mode, dir_mode, embedding, probes, False, now_epoch, progress, warnings, src_real)
    else:
        result = _run(src, src_tables, dest, name, link_dest, history, workspace, retain, retain_days, force,
                      uid, gid, mode, dir_mode, embedding, probes, True, now_epoch, progress, warnings, src_real)
    result["duration_s"] = round(time.monotonic() - started, 3)
    result["warnings"] = warnings + result.pop("_warnings", [])
    return result


def _run(src, src_tables, dest, name, link_dest, history, workspace, retain, retain_days, force, uid, gid, mode,
         dir_mode, embedding, probes, check_mode, now_epoch, progress, warnings, src_real):
    cleaned = [] if check_mode else cleanup_leftovers(dest)
    snaps = list_snapshots(dest) if os.path.isdir(dest) else []
    own = [s for s in snaps if s["meta"].get("src") == src_real]
    pins = {}
    for tname in sorted(src_tables):
        for _attempt in range(MAX_PINS):
            try:
                pins[tname] = _pin_table(tname, src_tables[tname], history)
                break
            except _Vanished:
                continue
        else:
            raise MemoryToolError("Table '%s' in '%s' kept losing files while being pinned; pause the cleanup that "
                                  "runs on it or use a cold backup" % (tname, src_tables[tname]))
        _warn_auto_cleanup(pins[tname], warnings)
    ws_files = _workspace_files(workspace, warnings) if workspace else []

    # Idempotence: the same table versions (manifest checksums) and workspace already saved.
    existing = os.path.join(dest, name) if name else None
    if existing and os.path.lexists(existing):
        snap = next((s for s in snaps if s["name"] == name), None)
        if snap is None or not _same_content(snap, pins, ws_files, history, src_real):
            raise MemoryToolError(
                "Snapshot name '%s' already exists in '%s' and holds other content (%s); choose another name, or "
                "remove that directory if it is not needed" % (
                    name, dest, "not a complete snapshot made by lance_snapshot" if snap is None
                    else "tables %s" % _versions_text(snap["meta"].get("tables") or {}))
            )
        return _reused(snap, dest, retain, retain_days, src_real, now_epoch, check_mode, cleaned)
    if not force and own and _same_content(own[0], pins, ws_files, history, src_real):
        return _reused(own[0], dest, retain, retain_days, src_real, now_epoch, check_mode, cleaned)

    name = name or _unique_default_name(dest, _dt(now_epoch))
    final = os.path.join(dest, name)
    base = _resolve_link_base(dest, link_dest, src_real)
    all_files = []
    for pin in pins.values():
        _decide_links(pin["files"], base, uid, gid, mode)
        all_files.extend(pin["files"])
    _decide_links(ws_files, base, uid, gid, mode)
    all_files.extend(ws_files)
    to_copy = [f for f in all_files if f.action == "copy"]
    plan_copy = sum(f.size for f in to_copy)
    plan_link = sum(f.size for f in all_files if f.action == "link")
    _free_space_check(dest, plan_copy, len(to_copy) + 2)

    if check_mode:
        removed = _would_prune(own, retain, retain_days, now_epoch)
        return {
            "changed": True,
            "reused": False,
            "snapshot": final,
            "name": name,
            "tables": {n: _table_result(p) for n, p in pins.items()},
            "files": len(all_files),
            "bytes_total": plan_copy + plan_link,
            "bytes_copied": plan_copy,
            "bytes_linked": plan_link,
            "files_copied": len(to_copy),
            "files_linked": len(all_files) - len(to_copy),
            "link_dest": base["path"] if base else None,
            "plan": _plan(all_files),
            "removed": removed,
            "cleaned": [],
            "repins": 0,
            "checksums": os.path.join(final, SUMS_NAME),
            "metadata": os.path.join(final, META_NAME),
        }

    staging = os.path.join(dest, ".%s%s%d" % (name, PARTIAL_TAG, os.getpid()))
    stats = {"bytes_copied": 0, "bytes_linked": 0, "files_copied": 0, "files_linked": 0, "repins": 0,
             "warnings": set()}
    try:
        os.mkdir(staging, dir_mode)
        _chown(staging, uid, gid)
        made = {staging}
        for tname in sorted(pins):
            pins[tname] = _stage_table(pins[tname], src_tables, staging, base, history, dir_mode, mode, uid, gid,
                                       made, stats, progress)
        for f in ws_files:
            _place(f, staging, base, dir_mode, mode, uid, gid, made, stats, progress)
        meta, sums = _finish(staging, name, src_real, pins, ws_files, workspace, history, base, embedding, probes,
                             now_epoch, stats, mode, uid, gid)
        written = [f for p in pins.values() for f in p["files"]] + ws_files
        _sync_tree(staging, sorted(made, key=len, reverse=True),
                   [os.path.join(staging, f.rel) for f in written if f.action == "copy"])
        if os.path.lexists(final):
            raise MemoryToolError("Snapshot '%s' appeared while this run was writing it; re-run" % final)
        os.rename(staging, final)
        _fsync_dir(dest)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        if e.errno in _NOSPACE:
            raise MemoryToolError(
                "dest '%s' ran out of space while writing snapshot '%s' (%s): no partial snapshot was kept and src "
                "was not touched; free space in dest or choose another dest" % (dest, name, os.strerror(e.errno))
            ) from None
        if isinstance(e, PermissionError) and e.filename and is_within(e.filename, src):
            raise MemoryToolError("Cannot read '%s' in src: permission denied; run as the database owner or with "
                                  "become; nothing was kept" % e.filename) from None
        raise MemoryToolError("Snapshot '%s' failed while writing to '%s': %s; nothing was kept and src was not "
                              "touched" % (name, dest, e)) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    removed = prune_snapshots(dest, retain, retain_days, src=src_real, now=now_epoch)
    return {
        "changed": True,
        "reused": False,
        "snapshot": final,
        "name": name,
        "tables": {n: _table_result(p) for n, p in pins.items()},
        "files": len(sums),
        "bytes_total": meta["bytes"],
        "bytes_copied": stats["bytes_copied"],
        "bytes_linked": stats["bytes_linked"],
        "files_copied": stats["files_copied"],
        "files_linked": stats["files_linked"],
        "link_dest": base["path"] if base else None,
        "removed": removed,
        "cleaned": cleaned,
        "repins": stats["repins"],
        "checksums": os.path.join(final, SUMS_NAME),
        "metadata": os.path.join(final, META_NAME),
        "_warnings": sorted(stats["warnings"]),
    }


def _finish(staging, name, src_real, pins, ws_files, workspace, history, base, embedding, probes, now_epoch, stats,
            mode, uid, gid):
    """Check the staged tables, then write SHA256SUMS and SNAPSHOT.json into the staging dir."""
    sums = {}
    tables = {}
    stats_table = _stats_table(pins)
    stats_ds = None
    for tname, pin in sorted(pins.items()):
        ds, info = _post_check(staging, pin)
        manifest = None
        nbytes = 0
        for f in pin["files"]:
            sums[f.rel] = f.sha if f.sha is not None else base["sums"][f.rel]
            nbytes += f.size
            if f.rel == pin["prefix"] + "/" + _manifest_of(pin):
                manifest = f.rel
        info = dict(info, files=len(pin["files"]), bytes=nbytes, manifest=manifest, schema=info["columns"])
        tables[tname] = info
        if tname == stats_table:
            stats_ds = ds
    for f in ws_files:
        sums[f.rel] = f.sha
    counts = memory_stats(stats_ds, probes=probes) if stats_ds is not None else {}
    sums_path = write_sums(os.path.join(staging, SUMS_NAME), sums)
    total_bytes = sum(f.size for p in pins.values() for f in p["files"]) + sum(f.size for f in ws_files)
    meta = {
        "format": FORMAT,
        "name": name,
        "host": socket.gethostname(),
        "src": src_real,
        "created": iso_utc(now_epoch * 1000),
        "created_epoch": now_epoch,
        "history": history,
        "tables": tables,
        "total": counts.get("total"),
        "by_category": counts.get("by_category"),
        "by_agent": counts.get("by_agent"),
        "by_scope": counts.get("by_scope"),
        "oldest": counts.get("oldest"),
        "newest": counts.get("newest"),
        "probes": counts.get("probes", []),
        "stats_table": stats_table,
        "embedding": {k: embedding.get(k) for k in EMBEDDING_KEYS} if embedding else None,
        "libs": lib_versions(),
        "files": len(sums),
        "bytes": total_bytes,
        "bytes_copied": stats["bytes_copied"],
        "bytes_linked": stats["bytes_linked"],
        "link_dest": base["name"] if base else None,
        "workspace": {
            "path": workspace,
            "files": len(ws_files),
            "bytes": sum(f.size for f in ws_files),
        } if workspace else None,
        "checksums": {"file": SUMS_NAME, "sha256": sha256_file(sums_path)},
    }
    meta_path = os.path.join(staging, META_NAME)
    fd = os.open(meta_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    for p in (sums_path, meta_path):
        os.chmod(p, mode)
        _chown(p, uid, gid)
    return meta, sums


def _manifest_of(pin):
    return manifest_relpath(pin["dir"], pin["ds"].version)


def _same_content(snap, pins, ws_files, history, src_real):
    ident = _snapshot_identity(snap)
    if ident is None:
        return False
    tables = {}
    for tname, pin in pins.items():
        rel = pin["prefix"] + "/" + _manifest_of(pin)
        mf = next(f for f in pin["files"] if f.rel == rel)
        if mf.sha is None:
            mf.sha = sha256_file(mf.src)
        tables[tname] = (pin["ds"].version, mf.sha)
    ws = tuple(sorted((f.rel, f.sha) for f in ws_files))
    return ident == (src_real, history, tuple(sorted(tables.items())), ws)


def _reused(snap, dest, retain, retain_days, src_real, now_epoch, check_mode, cleaned):
    meta = snap["meta"]
    removed = prune_snapshots(dest, retain, retain_days, src=src_real, now=now_epoch, check_mode=check_mode)
    return {
        "changed": bool(removed) or bool(cleaned),
        "reused": True,
        "snapshot": snap["path"],
        "name": snap["name"],
        "tables": {n: {k: t.get(k) for k in ("version", "rows", "files", "bytes")}
                   for n, t in (meta.get("tables") or {}).items()},
        "files": meta.get("files"),
        "bytes_total": meta.get("bytes"),
        "bytes_copied": 0,
        "bytes_linked": 0,
        "files_copied": 0,
        "files_linked": 0,
        "link_dest": None,
        "removed": removed,
        "cleaned": cleaned,
        "repins": 0,
        "checksums": os.path.join(snap["path"], SUMS_NAME),
        "metadata": os.path.join(snap["path"], META_NAME),
    }


def _would_prune(own, retain, retain_days, now_epoch):
    """Check mode: names retention would remove once the new snapshot exists (it becomes the newest)."""
    if retain is None and retain_days is None:
        return []
    doomed = []
    for i, snap in enumerate(own, start=1):
        keep_by_count = retain is not None and i < retain
        keep_by_age = retain_days is not None and now_epoch - snap["created_epoch"] < float(retain_days) * 86400
        if not (keep_by_count or keep_by_age):
            doomed.append(snap["name"])
    return list(reversed(doomed))


def _stats_table(pins):
    """The table whose rows are counted at the top level: `memories`, else the first user table."""
    if TABLE in pins:
        return TABLE
    return next((n for n in sorted(pins) if n != NAMESPACE_TABLE), None)


def _table_result(pin):
    return {
        "version": pin["ds"].version,
        "rows": pin["info"]["rows"],
        "files": len(pin["files"]),
        "bytes": sum(f.size for f in pin["files"]),
    }


def _plan(files, limit=1000):
    copy = [f.rel for f in files if f.action == "copy"]
    link = [f.rel for f in files if f.action == "link"]
    return {"copy": copy[:limit], "link": link[:limit], "truncated": len(copy) > limit or len(link) > limit}


def _versions_text(tables):
    return ", ".join("%s@%s" % (n, t.get("version")) for n, t in sorted(tables.items())) or "none"


def _warn_auto_cleanup(pin, warnings):
    try:
        cfg = pin["ds"].config() or {}
    except Exception:  # noqa: BLE001 - older pylance: no table config
        return
    keys = sorted(k for k in cfg if k.startswith("lance.auto_cleanup"))
    if keys:
        warnings.append("table '%s' has auto-cleanup configured (%s): old versions may vanish during snapshots; "
                        "vanished files are re-pinned and retried" % (pin["name"], ", ".join(keys)))


def _dt(epoch):
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
