# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SHA256SUMS manifests in the format `sha256sum -c` accepts (relative paths)."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError, sha256_size

SUMS_NAME = "SHA256SUMS"
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def write_sums(path, digests):
    """Write {relpath: hexdigest} sorted by path; returns the path written."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for rel in sorted(digests):
            f.write("%s  %s\n" % (digests[rel], rel))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def read_sums(path):
    """Parse a SHA256SUMS file into {relpath: hexdigest}.

    Raises MemoryToolError naming the line number of the first malformed line.
    """
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise MemoryToolError("Checksums file '%s' cannot be read: %s" % (path, e.strerror or e))
    except UnicodeDecodeError:
        raise MemoryToolError("Checksums file '%s' is not text; expected lines '<sha256>  <relative path>'" % path)
    sums = {}
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        m = _LINE.match(line)
        if not m:
            raise MemoryToolError(
                "Checksums file '%s' line %d is malformed: expected '<64 hex digits>  <relative path>', got %r"
                % (path, lineno, line[:120])
            )
        rel = m.group(2)
        if rel.startswith("/") or ".." in rel.split("/"):
            raise MemoryToolError(
                "Checksums file '%s' line %d names '%s': paths must be relative and stay inside the snapshot"
                % (path, lineno, rel)
            )
        sums[rel] = m.group(1)
    return sums


def default_workers():
    """Hashing threads: hashlib releases the GIL, so threads use every core (at most 8)."""
    return max(1, min(8, os.cpu_count() or 1))


def file_identity(st):
    """What identifies one unchanged file: (device, inode, size, mtime_ns) of an os.stat result."""
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def linked_known(sums, linked_root, linked_sums):
    """`known` for verify_sums from a verified snapshot that `root` hard-links files from (rsync --link-dest):
    {rel: (digest listed there, identity of its file)} for each rel both lists give the same digest."""
    known = {}
    for rel, digest in sums.items():
        if linked_sums.get(rel) != digest:
            continue
        try:
            known[rel] = (digest, file_identity(os.stat(os.path.join(linked_root, rel))))
        except OSError:
            continue
    return known


def vouched_size(path, digest, entry):
    """The size of `path` when `entry` = (digest, identity) vouches for it: that digest is `digest` and `path` is
    still that very file (see file_identity); else None, and the file must be hashed."""
    if entry is None or entry[0] != digest:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size if file_identity(st) == list(entry[1]) else None


def _check_one(root, rel, digest):
    """(rel, size, state) with state 'ok', 'bad' or 'missing'."""
    try:
        have, size = sha256_size(os.path.join(root, rel))
        return rel, size, "ok" if have == digest else "bad"
    except FileNotFoundError:
        return rel, 0, "missing"
    except (IsADirectoryError, PermissionError):
        return rel, 0, "bad"


def verify_sums(root, sums, ignore=(SUMS_NAME,), workers=None, known=None):
    """Check files under `root` against {relpath: digest}, hashing in `workers` threads.

    Returns dict(ok, bad=[rel], missing=[rel], extra=[rel], files=int, bytes=int, known=int).
    `extra` lists regular files present under root but not listed (except `ignore`).
    `workers` None: one thread per core (hashlib releases the GIL).
    `known`: {rel: (digest, identity)} of files whose content was verified before (a hard link into a
    verified snapshot, a file verified when it was staged): a file that is still that very file (same
    device, inode, size and mtime, see file_identity) with that digest listed is not read again.
    """
    workers = default_workers() if workers is None else max(1, int(workers))
    known = known or {}
    results = []
    items = []
    for rel, digest in sorted(sums.items()):
        size = vouched_size(os.path.join(root, rel), digest, known.get(rel)) if known else None
        if size is None:
            items.append((rel, digest))
        else:
            results.append((rel, size, "known"))
    if workers == 1 or len(items) < 2:
        results += [_check_one(root, rel, digest) for rel, digest in items]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results += pool.map(lambda item: _check_one(root, item[0], item[1]), items)
    bad = [rel for rel, _size, state in results if state == "bad"]
    missing = [rel for rel, _size, state in results if state == "missing"]
    nbytes = sum(size for _rel, size, _state in results)
    listed = set(sums)
    extra = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            if rel not in listed and rel not in ignore:
                extra.append(rel)
    extra.sort()
    return {
        "ok": not (bad or missing or extra),
        "bad": bad,
        "missing": missing,
        "extra": extra,
        "files": len(sums),
        "bytes": nbytes,
        "known": sum(1 for _rel, _size, state in results if state == "known"),
    }
