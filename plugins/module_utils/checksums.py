# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SHA256SUMS manifests in the format `sha256sum -c` accepts (relative paths)."""

from __future__ import annotations

import os
import re

from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError, sha256_file

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


def verify_sums(root, sums, ignore=(SUMS_NAME,)):
    """Check files under `root` against {relpath: digest}.

    Returns dict(ok, bad=[rel], missing=[rel], extra=[rel], files=int, bytes=int).
    `extra` lists regular files present under root but not listed (except `ignore`).
    """
    bad, missing = [], []
    nbytes = 0
    for rel in sorted(sums):
        p = os.path.join(root, rel)
        try:
            nbytes += os.path.getsize(p)
            if sha256_file(p) != sums[rel]:
                bad.append(rel)
        except FileNotFoundError:
            missing.append(rel)
        except IsADirectoryError:
            bad.append(rel)
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
    }
