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
     the same relative path with the same size and mtime (a table file; or,
     with verify_links / for workspace files, the same sha256), else copied
     (and hashed while copying) by a small thread pool; a file that vanishes
     (a concurrent cleanup) makes the table be pinned again;
  3. everything is built in `<dest>/.<name>.partial-<pid>`, checked (the copy
     opens at the pinned versions with the source's rows and schema), the
     counts are read from the copy (only the fragments not hard-linked from
     the link-dest snapshot whose per-fragment counts are known), then
     `SHA256SUMS` and `SNAPSHOT.json` are written and the directory is renamed
     to `<dest>/<name>` in one step. A directory is a complete snapshot only
     when its `SNAPSHOT.json` has `format: openclaw.memory/snapshot-v1`;
  4. the per-fragment counts go beside it, `<dest>/.<name>.fragments.json`
     (a cache for the next snapshot, outside the snapshot and its SHA256SUMS).
The source database is only ever read.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import datetime
import errno
import grp
import hashlib
import itertools
import json
import os
import pwd
import re
import shutil
import socket
import stat
import threading
import time
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.openclaw.memory.plugins.module_utils.checksums import SUMS_NAME, read_sums, write_sums
from ansible_collections.openclaw.memory.plugins.module_utils.common import (
    CHUNK,
    MemoryToolError,
    WaitLock,
    fsync_dir,
    is_within,
    iso_utc,
    make_option_dir,
    nearest_existing,
    remove_made,
    sha256_file,
    utc_now_name,
)
from ansible_collections.openclaw.memory.plugins.module_utils.lance import (
    VERIFY_HINT,
    FragmentCounts,
    check_db_dir,
    check_probes,
    error_text,
    fragment_list,
    history_files,
    is_table_dir,
    lib_versions,
    manifest_relpath,
    missing_files_text,
    open_table,
    referenced_stat,
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
# Copy threads (see _Stager): hashlib and file I/O release the GIL. Fewer files than POOL_MIN_FILES to
# copy are copied in this thread (starting threads would cost more than it saves).
COPY_WORKERS = 4
POOL_MIN_FILES = 32
COUNTS_SUFFIX = ".fragments.json"
EMBEDDING_KEYS = ("provider", "model", "dimensions")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@:-]*$")
# `.<name>.fragments.json` (a snapshot's per-fragment counts), or `...partial-<pid>` while it is written.
_COUNTS_RE = re.compile(r"^\.([A-Za-z0-9][A-Za-z0-9._+@:-]*)\.fragments\.json(\.partial-\d+)?$")
_EXDEV = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP)
_NOSPACE = (errno.ENOSPC, errno.EDQUOT)


class _Vanished(Exception):
    """A source file disappeared between pinning and copying (concurrent cleanup)."""


# The lance_snapshot module's options (also the `snapshot` suboptions of openclaw_cutover).
ARGUMENT_SPEC = dict(
    src=dict(type="path", required=True),
    dest=dict(type="path", required=True),
    name=dict(type="str"),
    link_dest=dict(type="str", default="auto"),
    history=dict(type="str", choices=list(HISTORY), default="latest"),
    workspace=dict(type="path"),
    retain=dict(type="int"),
    retain_days=dict(type="int"),
    force=dict(type="bool", default=False),
    owner=dict(type="str"),
    group=dict(type="str"),
    mode=dict(type="raw", default="0600"),
    dir_mode=dict(type="raw", default="0700"),
    embedding=dict(type="dict"),
    probes=dict(type="int", default=3),
    lock_timeout=dict(type="int", default=60),
    verify_links=dict(type="bool", default=False),
)


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


def cleanup_leftovers(dest, check_mode=False):
    """Remove what an interrupted run left in `dest`; returns the names removed (or that would be, in check mode).

    Staging and half-deleted dirs, half-written per-fragment counts files, and counts files whose snapshot
    is gone (removed by hand). Call only while holding the dest lock (`take_snapshot` does), so no live run
    owns them; `check_mode` only lists them.
    """
    removed = []
    try:
        names = sorted(os.listdir(dest))
    except OSError:
        return removed
    for name in names:
        if not name.startswith("."):
            continue
        path = os.path.join(dest, name)
        if PARTIAL_TAG in name or DELETING_TAG in name:
            if os.path.isdir(path) and not os.path.islink(path):
                if not check_mode:
                    shutil.rmtree(path, ignore_errors=True)
                removed.append(name)
                continue
        m = _COUNTS_RE.match(name)
        if m and os.path.isfile(path) and not os.path.islink(path) and (
                m.group(2) or not os.path.isdir(os.path.join(dest, m.group(1)))):
            with contextlib.suppress(OSError):
                if not check_mode:
                    os.unlink(path)
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
            with contextlib.suppress(FileNotFoundError):
                os.unlink(_counts_path(snap["path"]))
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

    __slots__ = ("rel", "src", "size", "mtime_ns", "sha", "action", "placed")

    def __init__(self, rel, src, size, mtime_ns=None):
        self.rel = rel  # path inside the snapshot ('/'-separated)
        self.src = src  # absolute source path
        self.size = size
        self.mtime_ns = mtime_ns  # of the source when pinned (table files); None: compare by sha256
        self.sha = None
        self.action = None  # "copy" | "link"
        self.placed = False  # in the staging dir, with sha and size of what is there


def _pin_table(name, table_dir, history):
    """Open a table at its latest version and list the files that version needs, with sizes.

    Raises _Vanished when a listed file is gone (a cleanup ran between open and stat), MemoryToolError when
    a file the table's latest version needs is missing (see _check_not_damaged).
    """
    ds = open_table(table_dir)
    frags = None
    try:
        if history == "latest":
            frags = fragment_list(ds)
            rels = version_files(ds, table_dir, fragments=frags)
        else:
            rels = history_files(ds, table_dir)
    except FileNotFoundError as e:
        _check_not_damaged(name, table_dir, ds)
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
            _check_not_damaged(name, table_dir, ds)
            raise _Vanished(path) from None
        except PermissionError:
            raise MemoryToolError(
                "Cannot read '%s' in src: permission denied; run as the database owner or with become" % path
            ) from None
        files.append(_File(prefix + "/" + rel, path, st.st_size, st.st_mtime_ns))
    return {"name": name, "dir": table_dir, "ds": ds, "info": table_info(ds), "files": files, "prefix": prefix,
            "fragments": frags}


def _check_not_damaged(name, table_dir, ds):
    """A file that version `ds` needs is gone: raise naming every missing file when `ds` is still the table's
    latest version, as no cleanup removes a file of the latest version (the table is damaged, pinning it
    again would find the same); else return (a cleanup after a newer commit: the caller pins again)."""
    try:
        latest = open_table(table_dir)
        if latest.version != ds.version:
            return
        ref = referenced_stat(latest, table_dir)
    except (MemoryToolError, OSError):  # that version cleaned up meanwhile: pin again
        return
    if ref["missing"]:
        raise MemoryToolError("Table '%s' cannot be snapshotted: %s; %s. Nothing was written and src was not "
                              "touched" % (name, missing_files_text(table_dir, ds.version, ref), VERIFY_HINT))


def _check_workspace(workspace):
    if not os.path.isdir(workspace):
        raise MemoryToolError(
            "workspace '%s' %s; pass the agent workspace (default ~/.openclaw/workspace) or leave workspace unset"
            % (workspace, "is not a directory" if os.path.exists(workspace) else "does not exist")
        )


def _workspace_files(workspace, warnings):
    """Files of the Markdown memory workspace to include, as workspace/<rel>, with their sha256."""
    _check_workspace(workspace)
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
        except FileNotFoundError:  # deleted since it was listed: not part of the workspace any more
            continue
        except PermissionError:
            raise MemoryToolError(
                "Cannot read '%s' in the workspace: permission denied; run as its owner or with become" % p
            ) from None
        files.append(f)
    return files


def _resolve_link_base(dest, link_dest, src):
    """The snapshot to hard-link unchanged files from: {name, path, sums, meta} or None."""
    if link_dest in LINK_NONE:
        return None
    if link_dest == "auto":
        snaps = list_snapshots(dest, src=src) or list_snapshots(dest)
        if not snaps:
            return None
        path, meta = snaps[0]["path"], snaps[0]["meta"]
    else:
        path = link_dest
        meta = _link_dest_meta(path)
    try:
        sums = read_sums(os.path.join(path, SUMS_NAME))
    except MemoryToolError:
        return None
    return {"name": os.path.basename(path.rstrip("/")), "path": path, "sums": sums, "meta": meta}


def _link_dest_meta(path):
    """SNAPSHOT.json of a link_dest given as a path; raises naming what the path is instead of a snapshot."""
    fix = "pass a snapshot directory, 'auto' or 'none'"
    if not os.path.exists(path):
        raise MemoryToolError("link_dest '%s' does not exist; %s" % (path, fix))
    if not os.path.isdir(path):
        raise MemoryToolError("link_dest '%s' is not a directory, so not a snapshot; %s" % (path, fix))
    meta = read_snapshot_meta(path)
    if meta is None:
        raise MemoryToolError("link_dest '%s' is not a complete snapshot made by lance_snapshot (no %s with format "
                              "%s); %s" % (path, META_NAME, FORMAT, fix))
    return meta


def _decide_links(files, base, uid, gid, mode, verify_links=False):
    """Mark each file 'link' (same rel path, size and content in the base, same owner and mode) or 'copy'.

    The base's recorded checksums are reused. A table file whose size and mtime_ns equal the base's copy
    (copy_file keeps the source's mtime, and Lance writes each file once under a new name) is taken as
    that file without reading it, unless `verify_links`; any other candidate source file is hashed and
    compared with the base's checksum.
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
        if f.sha is None and not verify_links and f.mtime_ns is not None and st.st_mtime_ns == f.mtime_ns:
            f.sha = base["sums"][f.rel]
            f.action = "link"
            continue
        if f.sha is None:
            try:
                f.sha = sha256_file(f.src)
            except FileNotFoundError:  # left to copy: the copy meets the vanished file and pins again
                continue
        if f.sha == base["sums"][f.rel]:
            f.action = "link"


# --------------------------------------------------------------------------- writing


def copy_file(src, dst, mode):
    """Copy src to a new file dst (mode), hashing on the way; keeps mtime. Returns (sha256, bytes).

    Not fsynced one by one: `_sync_tree` flushes the whole staging dir once before the rename.
    Plain file descriptors: most files of a plugin-made table are a few KB, so the per-file calls count.
    """
    h = hashlib.sha256()
    n = 0
    try:
        fi = os.open(src, os.O_RDONLY)
    except FileNotFoundError:
        raise _Vanished(src) from None
    try:
        st = os.fstat(fi)
        fo = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.fchmod(fo, mode)  # the mode asked for, whatever the umask took from it
            while True:
                block = os.read(fi, CHUNK)
                if not block:
                    break
                h.update(block)
                view = memoryview(block)
                while view:
                    view = view[os.write(fo, view):]
                n += len(block)
            os.utime(fo, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fo)
    finally:
        os.close(fi)
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


class _Stager:
    """Puts planned files into the staging dir: hard links in this thread, copies in a small thread pool.

    hashlib and file I/O release the GIL, so copies overlap. Creating a file costs more than its few KB
    here, and the kernel creates the files of one directory one at a time (ext4 holds the directory's
    lock meanwhile), so each pool thread creates its files in a scratch dir of its own inside the staging
    dir and renames them into place (a rename is cheap). The first error (a vanished source file,
    ENOSPC, ...) is raised only after every copy under way has stopped, so the caller may remove the
    staging dir or re-pin at once. Results are applied in plan order, so sums and counters do not depend
    on which copy finished first.
    """

    def __init__(self, staging, base, dir_mode, mode, uid, gid, stats, progress, workers=None):
        self.staging = staging
        self.base = base
        self.dir_mode, self.mode, self.uid, self.gid = dir_mode, mode, uid, gid
        self.stats = stats
        self.progress = progress
        self.made = {staging}
        self.workers = max(1, int(COPY_WORKERS if workers is None else workers))
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="snapshot-copy") if self.workers > 1 else None
        self.scratch = []  # each pool thread's scratch dir in the staging dir
        self._local = threading.local()
        self._seq = itertools.count()

    def close(self, failed=False):
        """Stop the pool and remove the (empty) scratch dirs: before the staging dir is checked.

        `failed`: only stop the pool (the caller removes the whole staging dir).
        """
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        while self.scratch and not failed:
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(self.scratch.pop())

    def place_all(self, files):
        """Link or copy each planned file; returns when all are in place."""
        window = collections.deque()
        try:
            for f in files:
                dst = os.path.join(self.staging, f.rel)
                _ensure_dir(os.path.dirname(dst), self.dir_mode, self.uid, self.gid, self.made)
                if f.action == "link" and self._link(f, dst):
                    continue
                if self.progress:
                    self.progress("copy", f.rel)
                if self.pool is None:
                    self._copied(f, self._copy(f.src, dst))
                    continue
                window.append((f, self.pool.submit(self._copy, f.src, dst)))
                if len(window) >= 4 * self.workers:
                    f0, fut = window.popleft()
                    self._copied(f0, fut.result())
            while window:
                f0, fut = window.popleft()
                self._copied(f0, fut.result())
        except BaseException:
            for _f, fut in window:
                fut.cancel()
            futures.wait([fut for _f, fut in window])
            raise

    def _link(self, f, dst):
        try:
            os.link(os.path.join(self.base["path"], f.rel), dst)
        except OSError as e:
            if e.errno not in _EXDEV:
                raise
            self.stats["warnings"].add("link_dest '%s' cannot be hard-linked from dest (%s): files were copied "
                                       "instead" % (self.base["path"], os.strerror(e.errno)))
            f.action = "copy"
            return False
        f.placed = True
        self.stats["bytes_linked"] += f.size
        self.stats["files_linked"] += 1
        if self.progress:
            self.progress("link", f.rel)
        return True

    def _copy(self, src, dst):
        """Copy one file (in a pool thread: created in the thread's own scratch dir, then renamed into place)."""
        if self.pool is None:
            out = copy_file(src, dst, self.mode)
            _chown(dst, self.uid, self.gid)
            return out
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = os.path.join(self.staging, ".copy-%d" % next(self._seq))
            os.mkdir(scratch, 0o700)
            self.scratch.append(scratch)
        tmp = os.path.join(scratch, str(next(self._seq)))
        out = copy_file(src, tmp, self.mode)
        _chown(tmp, self.uid, self.gid)
        os.rename(tmp, dst)
        return out

    def _copied(self, f, result):
        f.sha, f.size = result  # a workspace file edited since it was hashed: the copy's hash is the truth
        f.placed = True
        self.stats["bytes_copied"] += f.size
        self.stats["files_copied"] += 1


def _stage_table(pin, src_tables, stager, history, verify_links):
    """Copy/link one table's pinned files; on a vanished file pin again (up to MAX_PINS)."""
    name = pin["name"]
    staging = stager.staging
    for attempt in range(1, MAX_PINS + 1):
        try:
            todo = pin["files"]
            if attempt > 1:
                placed = {f.rel: f for f in pin["files"] if f.placed}
                pin = _pin_table(name, src_tables[name], history)
                _decide_links(pin["files"], stager.base, stager.uid, stager.gid, stager.mode, verify_links)
                _drop_stale(staging, pin)
                todo = []
                for f in pin["files"]:
                    dst = os.path.join(staging, f.rel)
                    old = placed.get(f.rel)
                    if old is not None:  # staged by the pin before, still needed
                        f.sha, f.size, f.action, f.placed = old.sha, old.size, old.action, True
                        continue
                    if os.path.lexists(dst):  # a copy that finished after the file that vanished
                        os.unlink(dst)
                    todo.append(f)
            if stager.progress:
                stager.progress("pinned", "%s@%d" % (name, pin["ds"].version))
            stager.place_all(todo)
            return pin
        except _Vanished as e:
            stats = stager.stats
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
        fsync_dir(d)


def _load_syncfs():
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _load_syncfs()


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


def _check_inputs(src, dest, name, history, link_dest, workspace, probes):
    """Every check of the options that needs no lock: all run before anything is created in dest."""
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
    if workspace:
        _check_workspace(workspace)
    if link_dest not in LINK_NONE and link_dest != "auto":
        _link_dest_meta(link_dest)
    check_probes(probes)
    ns = os.path.join(src, NAMESPACE_TABLE)
    if is_table_dir(ns):
        tables[NAMESPACE_TABLE] = ns
    return tables


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
                  embedding=None, probes=3, check_mode=False, now=None, lock_timeout=60, progress=None,
                  verify_links=False):
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
    src_tables = _check_inputs(src, dest, name, history, link_dest, workspace, probes)
    _check_retention(retain, retain_days)
    mode = parse_mode(mode, "mode", 0o600)
    dir_mode = parse_mode(dir_mode, "dir_mode", 0o700)
    uid, gid = resolve_owner(owner, group)
    now_epoch = time.time() if now is None else float(now)
    warnings = []
    src_real = os.path.realpath(src)
    if not check_mode:
        made = make_option_dir(dest, dir_mode, uid, gid, "dest")
        try:
            if not os.access(dest, os.W_OK | os.X_OK):
                raise MemoryToolError("dest '%s' is not writable by this user; fix its owner/mode or use become"
                                      % dest)
            with WaitLock(os.path.join(dest, LOCK_NAME), lock_timeout,
                          "Another snapshot run holds '%s' (waited %ss); wait for it to finish or check for a hung "
                          "backup process"):
                try:
                    result = _run(src, src_tables, dest, name, link_dest, history, workspace, retain, retain_days,
                                  force, uid, gid, mode, dir_mode, embedding, probes, False, now_epoch, progress,
                                  warnings, src_real, verify_links=verify_links)
                except BaseException:
                    _unmake_dest(dest, made, locked=True)  # still holding the lock: no other run uses it
                    raise
        except MemoryToolError:
            _unmake_dest(dest, made)
            raise
    else:
        result = _run(src, src_tables, dest, name, link_dest, history, workspace, retain, retain_days, force,
                      uid, gid, mode, dir_mode, embedding, probes, True, now_epoch, progress, warnings, src_real,
                      verify_links=verify_links)
    result["duration_s"] = round(time.monotonic() - started, 3)
    result["warnings"] = warnings + result.pop("_warnings", [])
    return result


def _unmake_dest(dest, made, locked=False):
    """After a failed run: remove the directories make_option_dir created, each only while empty but for (`locked`:
    this run holds it) the lock file; a failed run leaves nothing behind."""
    if locked and made:
        with contextlib.suppress(OSError):
            if os.listdir(dest) == [LOCK_NAME]:
                os.unlink(os.path.join(dest, LOCK_NAME))
    remove_made(made)


def _run(src, src_tables, dest, name, link_dest, history, workspace, retain, retain_days, force, uid, gid, mode,
         dir_mode, embedding, probes, check_mode, now_epoch, progress, warnings, src_real, verify_links=False):
    cleaned = cleanup_leftovers(dest, check_mode=check_mode)
    snaps = list_snapshots(dest) if os.path.isdir(dest) else []
    own = [s for s in snaps if s["meta"].get("src") == src_real]
    pins = {}
    for tname in sorted(src_tables):
        last = None
        for _attempt in range(MAX_PINS):
            try:
                pins[tname] = _pin_table(tname, src_tables[tname], history)
                break
            except _Vanished as e:
                last = str(e)
        else:
            raise MemoryToolError(
                "Table '%s' in '%s' kept losing files while being pinned (%d pins in a row, last: %s): a cleanup with "
                "a short retention window is running (optimize or lance.auto_cleanup); pause it or use a cold backup"
                % (tname, src_tables[tname], MAX_PINS, last))
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
        _decide_links(pin["files"], base, uid, gid, mode, verify_links)
        all_files.extend(pin["files"])
    _decide_links(ws_files, base, uid, gid, mode, verify_links)
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
            "cleaned": cleaned,
            "repins": 0,
            "checksums": os.path.join(final, SUMS_NAME),
            "metadata": os.path.join(final, META_NAME),
        }

    staging = os.path.join(dest, ".%s%s%d" % (name, PARTIAL_TAG, os.getpid()))
    stats = {"bytes_copied": 0, "bytes_linked": 0, "files_copied": 0, "files_linked": 0, "repins": 0,
             "warnings": set()}
    stats_table = _stats_table(pins)
    base_counts = _read_counts(base, stats_table)
    stager = _Stager(staging, base, dir_mode, mode, uid, gid, stats, progress,
                     workers=None if len(to_copy) >= POOL_MIN_FILES else 1)
    try:
        os.mkdir(staging, dir_mode)
        _chown(staging, uid, gid)
        for tname in sorted(pins):
            pins[tname] = _stage_table(pins[tname], src_tables, stager, history, verify_links)
        stager.place_all(ws_files)
        stager.close()
        meta, sums = _finish(staging, name, src_real, pins, ws_files, workspace, history, base, base_counts,
                             embedding, probes, now_epoch, stats, mode, uid, gid)
        written = [f for p in pins.values() for f in p["files"]] + ws_files
        _sync_tree(staging, sorted(stager.made, key=len, reverse=True),
                   [os.path.join(staging, f.rel) for f in written if f.action == "copy"]
                   + [os.path.join(staging, n) for n in (SUMS_NAME, META_NAME)])
        if os.path.lexists(final):
            raise MemoryToolError("Snapshot '%s' appeared while this run was writing it; re-run" % final)
        os.rename(staging, final)
        fsync_dir(dest)
    except OSError as e:
        stager.close(failed=True)
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
    except _Vanished as e:  # a workspace file deleted while it was copied (table files are pinned again instead)
        stager.close(failed=True)
        shutil.rmtree(staging, ignore_errors=True)
        raise MemoryToolError("'%s' was deleted while snapshot '%s' copied it; nothing was kept: re-run the snapshot"
                              % (e, name)) from None
    except BaseException:
        stager.close(failed=True)
        shutil.rmtree(staging, ignore_errors=True)
        raise

    if stats.get("counts_record") is not None:
        err = _write_counts(final, stats["counts_record"], stats_table, meta, mode, uid, gid)
        if err:
            stats["warnings"].add(err)
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
        "fragment_counts": stats.get("fragment_counts"),
        "checksums": os.path.join(final, SUMS_NAME),
        "metadata": os.path.join(final, META_NAME),
        "_warnings": sorted(stats["warnings"]),
    }


def _finish(staging, name, src_real, pins, ws_files, workspace, history, base, base_counts, embedding, probes,
            now_epoch, stats, mode, uid, gid):
    """Check the staged tables, then write SHA256SUMS and SNAPSHOT.json into the staging dir.

    The counts come from the staged copy; with `base_counts` (the link-dest snapshot's per-fragment counts)
    only fragments whose files were not all hard-linked from it are read.
    """
    sums = {}
    tables = {}
    stats_table = _stats_table(pins)
    stats_ds = None
    for tname, pin in sorted(pins.items()):
        ds, info = _post_check(staging, pin)
        manifest_rel = pin["prefix"] + "/" + _manifest_of(pin)
        manifest = None
        nbytes = 0
        for f in pin["files"]:
            sums[f.rel] = f.sha if f.sha is not None else base["sums"][f.rel]
            nbytes += f.size
            if f.rel == manifest_rel:
                manifest = f.rel
        info = dict(info, files=len(pin["files"]), bytes=nbytes, manifest=manifest, schema=info["columns"])
        tables[tname] = info
        if tname == stats_table:
            stats_ds = ds
    for f in ws_files:
        sums[f.rel] = f.sha
    found = {}
    if stats_ds is not None:
        pin = pins[stats_table]
        try:
            found, record, info = _plan_counts(pin, base_counts, probes, stats_ds).result(stats_ds)
        except Exception as e:  # noqa: BLE001 - Lance raises plain exceptions on a file it cannot decode
            raise MemoryToolError("The snapshot copy of table '%s' does not read: %s; nothing was kept, re-run the "
                                  "snapshot" % (stats_table, error_text(e))) from None
        stats["fragment_counts"] = {k: info[k] for k in ("fragments", "reused", "counted")}
        stats["counts_record"] = record
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
        "total": found.get("total"),
        "by_category": found.get("by_category"),
        "by_agent": found.get("by_agent"),
        "by_scope": found.get("by_scope"),
        "oldest": found.get("oldest"),
        "newest": found.get("newest"),
        "probes": found.get("probes", []),
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
    with os.fdopen(fd, "w", encoding="utf-8") as f:  # flushed to disk with the rest by _sync_tree
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")
    for p in (sums_path, meta_path):
        os.chmod(p, mode)
        _chown(p, uid, gid)
    return meta, sums


def _counts_path(snapshot_path):
    """The per-fragment counts of a snapshot: `<dest>/.<name>.fragments.json`, beside it.

    Not inside the snapshot: there every file is in SHA256SUMS (lance_verify reports any other), and
    what SHA256SUMS lists outside workspace/ is restored into the database directory. A cache: when it is
    missing or does not belong to that snapshot, the next snapshot counts every row.
    """
    parent, name = os.path.split(snapshot_path.rstrip("/"))
    return os.path.join(parent, "." + name + COUNTS_SUFFIX)


def _read_counts(base, table):
    """The link-dest snapshot's per-fragment counts record of `table`, or None."""
    if base is None or table is None:
        return None
    try:
        with open(_counts_path(base["path"]), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    want = ((base.get("meta") or {}).get("checksums") or {}).get("sha256")
    if (not isinstance(data, dict) or data.get("snapshot") != base["name"] or data.get("table") != table
            or not want or data.get("sums_sha256") != want):
        return None
    return data


def _plan_counts(pin, base_counts, probes, ds):
    """A FragmentCounts of the staged copy `ds` of the counted table, reusing what the link-dest's record allows."""
    previous = _reusable_counts(base_counts, pin) if base_counts else None
    frags = pin["fragments"] if pin["fragments"] is not None else fragment_list(ds)
    return FragmentCounts(ds.schema, probes, previous, frags)


def _reusable_counts(record, pin):
    """The record's fragments whose data and deletion files this snapshot hard-linked from the record's snapshot.

    Linked files are the same bytes the record was counted from; any other fragment is counted again.
    """
    linked = {f.rel for f in pin["files"] if f.action == "link"}
    data = pin["prefix"] + "/data/"
    top = pin["prefix"] + "/"
    keep = []
    try:
        for item in record.get("fragments") or []:
            files, dele = item[1], item[2]
            if all(data + p in linked for p in files) and (dele is None or top + dele in linked):
                keep.append(item)
    except (TypeError, IndexError, KeyError):
        return None
    return dict(record, fragments=keep)


def _write_counts(snapshot_path, record, table, meta, mode, uid, gid):
    """Save the per-fragment counts beside the snapshot (compact JSON); returns a warning or None."""
    path = _counts_path(snapshot_path)
    tmp = "%s%s%d" % (path, PARTIAL_TAG, os.getpid())
    head = dict(record, snapshot=os.path.basename(snapshot_path), table=table,
                sums_sha256=meta["checksums"]["sha256"])
    text = json.dumps(head, separators=(",", ":")) + "\n"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        _chown(tmp, uid, gid)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return ("the per-fragment counts of snapshot '%s' could not be saved to '%s' (%s): the next snapshot will "
                "count every row again" % (snapshot_path, path, e.strerror or e))
    return None


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
            try:
                mf.sha = sha256_file(mf.src)
            except FileNotFoundError:  # cleaned up since the pin: not the same; the copy pins again
                return False
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
