# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small helpers shared by every part of the collection (stdlib only)."""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import os
import re
import tempfile
import time

CHUNK = 1 << 20


class MemoryToolError(Exception):
    """An error the user can act on: the message names the value at fault and the fix."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


def iso_utc(epoch_ms):
    """ISO 8601 UTC string for an epoch-milliseconds value, or None."""
    if epoch_ms is None:
        return None
    dt = datetime.datetime.fromtimestamp(float(epoch_ms) / 1000.0, tz=datetime.timezone.utc)
    return dt.isoformat(timespec="seconds").replace("+00:00", "Z")


def one_line(text, limit, middle=False):
    """`text` on one line (whitespace runs collapsed), cut to about `limit` characters: the end cut off, or with
    `middle` its middle (a failing command's first line says what failed, its last lines why)."""
    text = " ".join(("" if text is None else str(text)).split())
    if len(text) <= limit:
        return text
    if middle:
        return text[:limit // 3] + " ... " + text[-(limit - limit // 3):]
    return text[:limit - 3] + "..."


def utc_now_name(now=None):
    """Default snapshot name: UTC `YYYYMMDDTHHMMSSZ`."""
    now = now or datetime.datetime.now(tz=datetime.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ")


def sha256_file(path):
    """Hex sha256 of a file, read in 1 MiB chunks."""
    return sha256_size(path)[0]


def sha256_size(path):
    """(hex sha256, size) of a file, through a plain descriptor: no buffered reader, one fstat (per-file cost
    is what counts when a snapshot holds thousands of 8 KB files)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        h = hashlib.sha256()
        while True:
            block = os.read(fd, CHUNK)
            if not block:
                break
            h.update(block)
        return h.hexdigest(), size
    finally:
        os.close(fd)


def tree_size(path):
    """(bytes, files) under `path`, what `cp -r` would copy; symlinks not followed."""
    stats = tree_stats(path)
    return stats["bytes"], stats["files"]


def tree_stats(path, uid=None):
    """dict(bytes, files, foreign) under `path`; symlinks not followed.

    `foreign` counts files and dirs (including `path`) not owned by `uid`
    (None when `uid` is None): what the gateway's account could not rewrite.
    """
    total = files = 0
    foreign = 0 if uid is None else _foreign(path, uid)
    for root, dirs, names in os.walk(path):
        for name in names:
            try:
                st = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            total += st.st_size
            files += 1
            if uid is not None and st.st_uid != uid:
                foreign += 1
        if uid is not None:
            foreign += sum(_foreign(os.path.join(root, name), uid) for name in dirs)
    return {"bytes": total, "files": files, "foreign": None if uid is None else foreign}


def _foreign(path, uid):
    try:
        return int(os.lstat(path).st_uid != uid)
    except FileNotFoundError:
        return 0


def blocked_ancestor(path):
    """For a path that looks absent: its nearest existing ancestor when this account cannot search it, else None.

    Tells "does not exist" apart from "cannot be seen" (a 0700 dir of another user on the way).
    """
    parent = os.path.dirname(path)
    while parent != path and not os.path.lexists(parent):
        path, parent = parent, os.path.dirname(parent)
    return parent if os.path.isdir(parent) and not os.access(parent, os.X_OK) else None


def nearest_existing(path):
    """`path` itself when it exists, else its nearest existing ancestor (what a mkdir -p would start from)."""
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MAX_EPOCH_S = 253402300799  # 9999-12-31T23:59:59Z, the last second datetime can hold
MS_FROM = 1e11  # parse_time(ms_too=True): epoch values above this are milliseconds


def check_profile(profile, fix):
    """`profile` as given when it is an OpenClaw profile name (letters, digits, '-', '_'); else raises, ending
    with `fix` (what to set, in the caller's terms)."""
    if profile and not PROFILE_NAME.fullmatch(profile):
        raise MemoryToolError(
            "profile %r is not a profile name: OpenClaw profile names are letters, digits, '-' and '_' (at most "
            "64, no path separators or '..'), as in `openclaw --profile work`; %s" % (profile, fix))
    return profile


def parse_time(value, what, ms_too=False):
    """Epoch seconds from ISO 8601 ('2026-09-01T03:00:00Z', '2026-09-01'; naive = UTC) or epoch seconds
    (`ms_too`: a number above 1e11, a time after the year 5138 in seconds, is taken as epoch milliseconds).

    `what` names the option in the error, e.g. "--now" or "since".
    """
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        pass
    else:
        if ms_too and seconds > MS_FROM:
            seconds /= 1000.0
        if not 0 <= seconds <= MAX_EPOCH_S:  # also nan and inf
            hint = " (%r looks like milliseconds: divide by 1000)" % value if (
                not ms_too and MAX_EPOCH_S < seconds < 1e15) else ""
            raise MemoryToolError("%s %r is not a time: epoch seconds must lie between 0 and %d (9999-12-31)%s; or "
                                  "use ISO 8601 (2026-09-01T03:00:00Z)" % (what, value, MAX_EPOCH_S, hint))
        return seconds
    text = str(value).strip().replace("Z", "+00:00")
    try:
        dt = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise MemoryToolError(
            "%s %r is not a time: use ISO 8601 (2026-09-01T03:00:00Z) or epoch seconds" % (what, value)
        )
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


def is_within(child, parent):
    """True when `child` is `parent` or lies below it (after resolving symlinks)."""
    child = os.path.realpath(child)
    parent = os.path.realpath(parent)
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


class WaitLock:
    """An exclusive flock on `path`, waited for up to `timeout` seconds (the kernel frees it on a crash).

    `create`: open (and create, 0600) a lock file; else lock an existing file or directory read-only, leaving
    nothing in it. When the wait runs out, MemoryToolError(busy % (path, timeout)).
    """

    def __init__(self, path, timeout, busy, create=True):
        self.path = path
        self.timeout = timeout
        self.busy = busy
        self.create = create
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT if self.create else os.O_RDONLY, 0o600)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    raise MemoryToolError(self.busy % (self.path, self.timeout)) from None
                time.sleep(0.2)

    def __exit__(self, *exc):
        os.close(self.fd)


def write_json_atomic(path, data, mode=0o600, sync_dir=False):
    """Write `data` as JSON to `path` through a temp file in its directory, fsynced and renamed (`mode`);
    `sync_dir` also fsyncs the directory (the rename itself survives a crash). The directory must exist."""
    parent = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if sync_dir:
        fsync_dir(parent or ".")


def fsync_dir(path, missing_ok=False):
    """fsync a directory, so that a rename or create in it survives a crash; `missing_ok`: a directory that
    cannot be opened is skipped instead of raising."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if missing_ok:
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def free_name(path):
    """`path`, or `path-2`, `path-3`... when it exists: a move aside never overwrites."""
    candidate, n = path, 1
    while os.path.lexists(candidate):
        n += 1
        candidate = "%s-%d" % (path, n)
    return candidate


def ensure_owner(path, uid, gid):
    """chown `path` to uid:gid unless it is ours already (what this account creates needs no chown)."""
    if (uid, gid) != (os.geteuid(), os.getegid()) or os.lstat(path).st_uid != uid:
        os.chown(path, uid, gid)


def makedirs_owned(path, dir_mode, uid, gid, made):
    """Create `path` and missing parents with `dir_mode`, owned by uid:gid; `made` collects what was created."""
    if os.path.isdir(path):
        return
    makedirs_owned(os.path.dirname(path), dir_mode, uid, gid, made)
    os.mkdir(path, dir_mode)
    os.chmod(path, dir_mode)
    ensure_owner(path, uid, gid)
    made.append(path)


def make_option_dir(path, dir_mode, uid, gid, option, label=None):
    """makedirs_owned for the directory an option names (`label`: how to call it, default the option's name);
    returns the directories created. A failure removes what it created and raises naming `option`."""
    made = []
    try:
        makedirs_owned(path, dir_mode, uid, gid, made)
    except OSError as e:
        remove_made(made)
        raise MemoryToolError("%s '%s' cannot be created: %s; create it or choose another %s"
                              % (label or option, path, e.strerror or e, option)) from None
    return made


def remove_made(made):
    """Undo makedirs_owned on failure: remove the directories in `made`, deepest first, each only while empty."""
    for path in reversed(made):
        try:
            os.rmdir(path)
        except OSError:
            pass
    del made[:]
