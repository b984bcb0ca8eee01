# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prove that a snapshot or a restored LanceDB memory database is complete and usable.

Plain functions, no Ansible: the `lance_verify` module and the scheduled
backup command both call `verify()`.

The checks layer what each one can catch (lance-facts.md): only per-file
checksums catch a flipped byte; `validate()` and a scan of every fragment
catch truncated or missing data and deletion files; only queries through
each index catch a damaged index. `count_rows()` alone proves nothing.

  checksums  every file listed in SHA256SUMS matches; missing and extra files
  structure  each table opens; version, columns and types, vector_dim, rows
             match `expect`; `validate()` passes
  content    every fragment is read in full (all columns); counts by
             category / agent / scope; probe ids hold the exact text; no
             duplicate ids
  search     `sample` rows are found first by their own vector (through the
             vector index when there is one); each scalar index answers a
             query for the sampled rows' values
  readwrite  on a scratch copy (never the database itself): add a memory,
             find it by vector and by id, delete it; the copy is removed
  compare    (with `compare_to`) ids and text hashes per table equal another
             database or snapshot

Nothing here writes under `path` or `compare_to`.

Cost: a table written the plugin's way holds one fragment per memory, and every Lance pass over
it costs ~0.2 ms of CPU per fragment whatever it reads (bench/results). So each kind of read
happens once: the content scan also feeds the search check's exact nearest-neighbour test, its
one-row batches are regrouped before any Python work, and validate() and the flat vector query
run in the background (with the hashing) while it reads; each check still evaluates its own
results in its turn.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import tempfile
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.openclaw.memory.plugins.module_utils.checksums import (
    SUMS_NAME,
    linked_known,
    read_sums,
    verify_sums,
)
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError, sha256_file
from ansible_collections.openclaw.memory.plugins.module_utils.lance import (
    FRAGMENT_READAHEAD,
    StatsScan,
    check_db_dir,
    coalesced,
    error_text,
    fragment_data_files,
    index_list,
    list_tables,
    open_table,
    require_lance,
    table_info,
    version_files,
)
from ansible_collections.openclaw.memory.plugins.module_utils.plugins import GROUP_COLUMNS, PLUGINS, TABLE
from ansible_collections.openclaw.memory.plugins.module_utils.snapshot import META_NAME

CHECKS = ("checksums", "structure", "content", "search", "readwrite")
DEFAULT_CHECKS = ("checksums", "structure", "content", "search")
EXPECT_KEYS = ("total", "by_category", "by_agent", "by_scope", "probes", "tables", "embedding")
TABLE_KEYS = ("version", "rows", "vector_dim", "columns")
EMBEDDING_KEYS = ("provider", "model", "dimensions")
GROUP_KEYS = GROUP_COLUMNS
RW_TEXT = "Memory restore verification completed on %s"
SCRATCH_PREFIX = "openclaw-verify-"
MAX_LISTED = 20  # per kind of mismatch in the message; the rest are counted
MAX_DETAIL = 100  # per list in the returned details
SEARCH_K = 10
SCAN_BATCH = 4096  # rows per unit of work in the full scan: 1536-dim vectors stay ~25 MB per unit
BLOB_BATCH = 64  # rows per batch when a table has blob columns (read in full)
TIE = 1e-4  # distances this close to the first result's count as a tie (duplicate vectors)
_VECTOR_METRIC_DEFAULT = "l2"


# --------------------------------------------------------------------------- inputs


def load_baseline(path):
    """Read a SNAPSHOT.json (or any JSON with the `expect` keys) as an `expect` dict."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise MemoryToolError(
            f"Baseline '{path}' does not exist; pass the SNAPSHOT.json of the snapshot you restored "
            "(fetch it to this host first), or omit baseline"
        )
    except OSError as e:
        raise MemoryToolError(f"Baseline '{path}' cannot be read: {e.strerror or e}; check its permissions")
    except UnicodeDecodeError:
        raise MemoryToolError(f"Baseline '{path}' is not text; pass the SNAPSHOT.json written by lance_snapshot")
    except ValueError as e:
        raise MemoryToolError(
            f"Baseline '{path}' is not valid JSON ({e}); pass the SNAPSHOT.json written by lance_snapshot"
        )
    if not isinstance(data, dict):
        raise MemoryToolError(
            f"Baseline '{path}' holds a JSON {type(data).__name__}, not an object with total, by_category, "
            "probes, tables ...; "
            "pass the SNAPSHOT.json written by lance_snapshot"
        )
    return {k: data[k] for k in EXPECT_KEYS if data.get(k) is not None}


def build_expect(expect=None, baseline=None):
    """The expectations: `baseline` (a SNAPSHOT.json path) overridden key by key by `expect`, checked."""
    merged = load_baseline(baseline) if baseline else {}
    if expect:
        if not isinstance(expect, dict):
            raise MemoryToolError(f"expect must be a dict with any of {', '.join(EXPECT_KEYS)}, got {expect!r}")
        unknown = sorted(set(expect) - set(EXPECT_KEYS))
        if unknown:
            raise MemoryToolError(
                "expect has unknown key(s) {}; allowed: {}".format(", ".join(unknown), ", ".join(EXPECT_KEYS))
            )
        merged.update({k: v for k, v in expect.items() if v is not None})
    return _check_expect(merged, f"baseline '{baseline}'" if baseline and not expect else "expect")


def _check_expect(exp, where):
    out = {}
    if "total" in exp:
        out["total"] = _int(exp["total"], f"{where}.total")
    for key, _col in GROUP_KEYS:
        if key in exp:
            val = exp[key]
            if not isinstance(val, dict):
                raise MemoryToolError(f"{where}.{key} must be a dict {{value: count}}, got {val!r}")
            out[key] = {str(k): _int(v, f"{where}.{key}.{k}") for k, v in val.items()}
    if "probes" in exp:
        probes = exp["probes"]
        if not isinstance(probes, list):
            raise MemoryToolError(f"{where}.probes must be a list of {{id, text}}, got {probes!r}")
        out["probes"] = []
        for i, p in enumerate(probes):
            if not isinstance(p, dict) or "id" not in p or not isinstance(p.get("text"), str):
                raise MemoryToolError(
                    f"{where}.probes[{i}] must be a dict with 'id' and 'text' (the exact memory text), "
                    f"got {p if not isinstance(p, dict) else sorted(p)!r}"
                )
            out["probes"].append({"id": str(p["id"]), "text": p["text"]})
    if "tables" in exp:
        tables = exp["tables"]
        if not isinstance(tables, dict):
            raise MemoryToolError(f"{where}.tables must be a dict {{table name: {{version, rows, vector_dim}}}}")
        out["tables"] = {}
        for name, spec in tables.items():
            if not isinstance(spec, dict):
                raise MemoryToolError(f"{where}.tables.{name} must be a dict with version, rows, vector_dim")
            t = {}
            for k in ("version", "rows", "vector_dim"):
                if spec.get(k) is not None:
                    t[k] = _int(spec[k], f"{where}.tables.{name}.{k}")
            cols = spec.get("columns", spec.get("schema"))
            if cols is not None:
                if not isinstance(cols, dict):
                    raise MemoryToolError(f"{where}.tables.{name}.columns must be a dict {{column: arrow type}}")
                t["columns"] = {str(k): str(v) for k, v in cols.items()}
            out["tables"][str(name)] = t
    if exp.get("embedding") is not None:
        emb = exp["embedding"]
        if not isinstance(emb, dict):
            raise MemoryToolError(f"{where}.embedding must be a dict with provider, model, dimensions")
        # Only the model identity: never carry apiKey or other settings along.
        out["embedding"] = {k: emb.get(k) for k in EMBEDDING_KEYS if emb.get(k) is not None}
        if "dimensions" in out["embedding"]:
            out["embedding"]["dimensions"] = _int(out["embedding"]["dimensions"], f"{where}.embedding.dimensions")
    return out


def _int(value, name):
    if isinstance(value, bool):
        raise MemoryToolError(f"{name} must be a whole number, got {value!r}")
    try:
        as_int = int(value)
    except (TypeError, ValueError):
        raise MemoryToolError(f"{name} must be a whole number, got {value!r}")
    if as_int != value and str(as_int) != str(value).strip():
        raise MemoryToolError(f"{name} must be a whole number, got {value!r}")
    return as_int


def _check_checks(checks):
    if checks is None:
        return list(DEFAULT_CHECKS)
    if isinstance(checks, str):
        checks = [c.strip() for c in checks.split(",") if c.strip()]
    unknown = [c for c in checks if c not in CHECKS]
    if unknown:
        raise MemoryToolError(f"checks: unknown check(s) {', '.join(unknown)}; choose from {', '.join(CHECKS)}")
    return [c for c in CHECKS if c in checks]


def _sums_path(path, checksums):
    """(SHA256SUMS path or None, reason when None)."""
    if checksums in (None, "none", "", False):
        return None, "skipped: checksums=none"
    if checksums == "auto":
        p = os.path.join(path, SUMS_NAME)
        if os.path.isfile(p):
            return p, None
        return None, (f"skipped: no {SUMS_NAME} in '{path}' (a live database has none); "
                      "pass checksums=<file> to check against one")
    if not os.path.exists(checksums):
        raise MemoryToolError(
            f"Checksums file '{checksums}' does not exist; pass checksums=auto to use "
            f"'{os.path.join(path, SUMS_NAME)}' when present, or none"
        )
    return checksums, None


def _check_dir(path, what):
    if not os.path.exists(path):
        raise MemoryToolError(
            f"{what} '{path}' does not exist; pass a snapshot dir (with SHA256SUMS and <table>.lance dirs) "
            "or a LanceDB database dir"
        )
    if not os.path.isdir(path):
        raise MemoryToolError(f"{what} '{path}' is a file, not a snapshot or LanceDB database directory")


# --------------------------------------------------------------------------- the run


class _Run:
    """State shared by the checks of one verification: tables opened once, mismatches collected."""

    def __init__(self, path, expect, meta):
        self.path = path
        self.expect = expect
        self.meta = meta
        self.tables = list_tables(path)
        self.mismatches = []
        self._open = {}
        self.stats_table = self._pick_stats_table()
        # When both content and search run, the content scan (which reads every vector anyway) also
        # does the search check's exact nearest-neighbour pass: one pass over the data instead of two.
        self.sample = 0  # rows the search check samples; 0 when it does not run
        self.picked = {}  # table -> the search check's sample (_pick_samples), taken up front
        self.nearest = {}  # table -> {vector column: _Nearest fed by a complete content scan}
        self.pending = {}  # (table, step, ...) -> Future of a slow Lance read started ahead (prefetch)
        self.scan_nearest = {}  # table -> the {vector column: _Nearest} its prefetched scan feeds
        self.content = False  # the content check runs (it compares the counts)
        self.today = None  # date in the read-write check's memory text
        self.scratch_link = False  # the read-write check's scratch copy hard-links the table's files

    def prefetch(self, pool, names):
        """Start the slow Lance reads of the checks now, in `pool`: each table's validate() (structure), its
        full scan (content) and the flat vector query (search, columns without an index). They overlap each
        other and the hashing; each check still evaluates its results in its turn, so results and their
        order do not change. Plugin-made tables hold one fragment per memory and every such read is a pass
        over thousands of files.
        """
        for name in sorted(self.tables):
            ds, _err = self.open(name)
            if ds is None:
                continue
            if "structure" in names:
                self.pending[(name, "validate")] = pool.submit(_validate, ds)
            if self.sample:
                try:
                    self.picked[name] = _pick_samples(name, ds, self.sample)
                except Exception:  # noqa: BLE001 - the search check picks again and reports it
                    pass
            if "content" in names:
                self.scan_nearest[name] = nearest = _nearest_for_scan(self, name, ds)
                self.pending[(name, "scan")] = pool.submit(_scan_table, name, ds, self.scan_probes(name),
                                                           list(nearest.values()))
            if "readwrite" in names and name == self.stats_table:
                # The scratch copy, its imports and its writes overlap the reads of the other checks.
                self.pending[(name, "readwrite")] = pool.submit(readwrite_check, self.tables[name], name,
                                                                self.today, None, self.scratch_link)
            if name not in self.picked:
                continue
            indices, vec_cols, rows = self.picked[name]
            indexed = {i["fields"][0] for i in indices if i["fields"]}
            for col in vec_cols:
                if col not in indexed and rows:
                    self.pending[(name, "flat", col)] = pool.submit(_vector_search, name, ds, col, rows[:1], None)

    def scan_probes(self, name):
        """{id: text} of the expected probes, looked up by the stats table's scan only."""
        if name != self.stats_table:
            return {}
        return {p["id"]: p["text"] for p in self.expect.get("probes") or []}

    def result(self, key, fn, *args):
        """The prefetched result of `key`, else fn(*args) now."""
        fut = self.pending.pop(key, None)
        return fut.result() if fut is not None else fn(*args)

    def _pick_stats_table(self):
        want = (self.meta or {}).get("stats_table")
        if want in self.tables:
            return want
        if TABLE in self.tables:
            return TABLE
        if len(self.tables) == 1:
            return next(iter(self.tables))
        return None

    def open(self, name):
        """(dataset, None) or (None, error text); each table is opened once."""
        if name not in self._open:
            try:
                self._open[name] = (open_table(self.tables[name]), None)
            except MemoryToolError as e:
                self._open[name] = (None, e.msg)
        return self._open[name]

    def add(self, entries):
        self.mismatches.extend(entries)


def verify(path, checksums="auto", expect=None, baseline=None, checks=None, compare_to=None, sample=5,
           workers=None, today=None, scratch_link=False, linked_from=None):
    """Verify a snapshot or database dir; returns dict(ok, path, checks, mismatches, stats, duration_s).

    checksums: "auto" (`<path>/SHA256SUMS` when present), a file path, or "none".
    expect: dict of expectations (see EXPECT_KEYS); baseline: path of a
    SNAPSHOT.json read as expect (expect keys override). checks: names from
    CHECKS (default DEFAULT_CHECKS). compare_to: another database or snapshot
    dir. sample: rows for the search check. workers: hashing threads.
    today: date for the read-write memory text (default: today, UTC).
    scratch_link: the read-write check's scratch copy hard-links the table's
    files beside `path` instead of copying them to the temp dir (restore's
    staged copies: thousands of files, same filesystem).
    linked_from: a verified snapshot dir that `path` hard-links files from (rsync --link-dest): a file that
    is the very same file there (same device and inode, size, mtime) with the same sha256 listed in both
    SHA256SUMS is not read again.
    Raises MemoryToolError for bad input; damage is reported, never raised.
    """
    t0 = time.monotonic()
    _check_dir(path, "Path")
    path = os.path.abspath(path)
    names = _check_checks(checks)
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 0:
        raise MemoryToolError(f"sample must be a whole number >= 0 (rows for the search check), got {sample!r}")
    if compare_to:
        _check_dir(compare_to, "compare_to")
        compare_to = os.path.abspath(compare_to)
    if not names and not compare_to:
        raise MemoryToolError("Nothing to verify: checks is empty and compare_to is not set")
    exp = build_expect(expect, baseline)
    sums_file, sums_skip = _sums_path(path, checksums) if "checksums" in names else (None, None)
    sums = read_sums(sums_file) if sums_file else None
    known = _linked_known(path, sums, linked_from) if sums and linked_from else None
    lance_needed = [n for n in names if n != "checksums"] or compare_to
    if lance_needed:
        require_lance()
    if not list_tables(path) and sums is None and lance_needed:
        check_db_dir(path)  # raises, naming what is wrong with the directory
    meta = _read_meta(path)
    run = _Run(path, exp, meta)
    run.sample = sample if "search" in names else 0
    run.today, run.scratch_link, run.content = today, scratch_link, "content" in names

    results = {}
    with ThreadPoolExecutor(max_workers=5) as bg:
        # Hashing (hashlib releases the GIL) overlaps the Lance checks (Rust releases it too).
        fut = bg.submit(_timed, check_checksums, path, sums_file, sums, meta, workers, known) if sums else None
        run.prefetch(bg, names)
        if "checksums" in names and not sums:
            results["checksums"] = {"ok": True, "skipped": True, "msg": sums_skip, "file": sums_file}
        structure = None
        for name in names:
            if name == "checksums":
                continue
            if name == "structure":
                res = _timed(check_structure, run)
                structure = res
            elif name == "content":
                res = _timed(check_content, run)
            elif name == "search":
                res = _timed(check_search, run, sample)
            else:
                res = _timed(check_readwrite, run)
            run.add(res.pop("_mismatches", []))
            results[name] = res
        if compare_to:
            results["compare"] = _timed(check_compare, run, compare_to)
            run.add(results["compare"].pop("_mismatches", []))
        if fut is not None:
            res = fut.result()
            run.mismatches[:0] = res.pop("_mismatches", [])
            results["checksums"] = res
    ordered = {k: results[k] for k in list(CHECKS) + ["compare"] if k in results}
    ok = all(r["ok"] for r in ordered.values())
    return {
        "ok": ok,
        "path": path,
        "checks": ordered,
        "mismatches": run.mismatches,
        "stats": _stats(run, ordered, structure),
        "duration_s": round(time.monotonic() - t0, 3),
    }


def failure_message(result):
    """One message naming the path, the failed checks and every mismatch."""
    failed = [k for k, r in result["checks"].items() if not r["ok"]]
    return "Verification of '{}' failed ({}): {}".format(
        result["path"], ", ".join(failed) or "no check", "; ".join(result["mismatches"]) or "see checks")


def _timed(fn, *args):
    """Run one check; an unexpected error fails that check (and is listed) instead of stopping the others."""
    t = time.monotonic()
    try:
        out = fn(*args)
    except MemoryToolError:
        raise
    except Exception as e:  # noqa: BLE001 - damage we did not foresee is still a finding, not a traceback
        name = fn.__name__.replace("check_", "")
        msg = f"{name}: the check could not finish: {error_text(e)}"
        out = {"ok": False, "msg": msg, "_mismatches": [msg]}
    out["duration_s"] = round(time.monotonic() - t, 3)
    return out


def _read_meta(path):
    """SNAPSHOT.json of a snapshot dir as a dict, else None (a live database has none)."""
    try:
        with open(os.path.join(path, META_NAME), encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _stats(run, checks, structure):
    content = checks.get("content") or {}
    stats = dict(content.get("_stats") or {})
    content.pop("_stats", None)
    tables = {}
    if structure:
        for name, t in structure["tables"].items():
            tables[name] = {k: t.get(k) for k in ("version", "rows", "vector_dim", "fragments", "indices")}
    if "total" not in stats:
        rows = tables.get(run.stats_table, {}).get("rows")
        stats = {"total": rows, "by_category": None, "by_agent": None, "by_scope": None,
                 "oldest": None, "newest": None}
    stats["table"] = run.stats_table
    stats["tables"] = tables
    stats["embedding"] = (run.meta or {}).get("embedding")
    return stats


def _problems(mism, unreadable=()):
    """A check's failure summary: how many problems, and the first three."""
    if not mism:
        return "not run on table(s) {}: they cannot be opened (see structure)".format(", ".join(unreadable))
    head = "; ".join(mism[:3]) + ("; ..." if len(mism) > 3 else "")
    return f"{len(mism)} problem(s): {head}"


def _listed(entries, what, limit=MAX_LISTED):
    """`checksum: '<file>' <what>` for the first `limit` files, then how many more."""
    out = [f"checksum: '{e}' {what}" for e in entries[:limit]]
    if len(entries) > limit:
        out.append(f"checksum: ... and {len(entries) - limit} more files like that ({what})")
    return out


# --------------------------------------------------------------------------- checksums


def _linked_known(path, sums, linked_from):
    """verify_sums' `known` from the verified snapshot `linked_from` (see verify)."""
    linked_from = os.path.abspath(linked_from)
    linked_sums_file = os.path.join(linked_from, SUMS_NAME)
    if not os.path.isfile(linked_sums_file):
        raise MemoryToolError(f"linked_from '{linked_from}' is not a snapshot (no {SUMS_NAME} in it); give the "
                              f"verified snapshot that '{path}' hard-links its files from, or leave linked_from unset")
    if os.path.samefile(linked_from, path):
        raise MemoryToolError(f"linked_from '{linked_from}' is the directory being verified ('{path}'): its files "
                              "would vouch for themselves and none would be read; linked_from must be another, "
                              f"verified snapshot that '{path}' hard-links its files from, or leave linked_from unset")
    return linked_known(sums, linked_from, read_sums(linked_sums_file))


def check_checksums(path, sums_file, sums, meta=None, workers=None, known=None):
    """Every listed file matches its sha256; lists files that differ, are missing, or are not listed."""
    ignore = (SUMS_NAME, META_NAME, os.path.relpath(sums_file, path))
    res = verify_sums(path, sums, ignore=ignore, workers=workers, known=known)
    mism = []
    mism += _listed(res["bad"], f"differs from {SUMS_NAME}")
    mism += _listed(res["missing"], f"is listed in {SUMS_NAME} but missing")
    mism += _listed(res["extra"], f"is present but not listed in {SUMS_NAME}")
    recorded = ((meta or {}).get("checksums") or {}).get("sha256")
    sums_changed = bool(recorded) and os.path.abspath(sums_file) == os.path.join(path, SUMS_NAME) and \
        sha256_file(sums_file) != recorded
    if sums_changed:
        mism.append(f"checksum: '{SUMS_NAME}' differs from the sha256 {recorded[:12]} recorded in {META_NAME}")
    ok = res["ok"] and not sums_changed
    if ok:
        msg = f"{res['files']} files ({res['bytes']} bytes) match {sums_file}" + (
            f" ({res['known']} not read again: the same files as in the verified snapshot they are linked from)"
            if res["known"] else "")
    else:
        msg = (f"{len(res['bad'])} of {res['files']} files differ, {len(res['missing'])} missing, "
               f"{len(res['extra'])} not listed" + ("; SHA256SUMS itself changed" if sums_changed else ""))
    return {
        "ok": ok,
        "msg": msg,
        "file": sums_file,
        "files": res["files"],
        "bytes": res["bytes"],
        "not_read": res["known"],
        "bad": res["bad"][:MAX_DETAIL],
        "missing": res["missing"][:MAX_DETAIL],
        "extra": res["extra"][:MAX_DETAIL],
        "_mismatches": mism,
    }


# --------------------------------------------------------------------------- structure


def check_structure(run):
    """Each table opens and validates; version, rows, vector_dim, columns and embedding match expect."""
    exp_tables = run.expect.get("tables") or {}
    out_tables = {}
    mism = []
    if not run.tables:
        mism.append(f"tables: no '<table>.lance' table in '{run.path}'")
    for name in sorted(set(exp_tables) - set(run.tables)):
        mism.append("table {}: expected (version {}, {} rows), missing in '{}'".format(
            name, exp_tables[name].get("version", "?"), exp_tables[name].get("rows", "?"), run.path))
    for name in sorted(run.tables):
        ds, err = run.open(name)
        if ds is None:
            mism.append(f"table {name}: {err}")
            out_tables[name] = {"ok": False, "error": err}
            continue
        t_mism = []
        try:
            info = table_info(ds)
        except Exception as e:  # noqa: BLE001 - a damaged index or manifest: report it
            t_mism.append(f"table {name}: cannot read its metadata: {error_text(e)}")
            info = {}
        err = run.result((name, "validate"), _validate, ds)
        info["validate"] = err or "passed"
        if err:
            t_mism.append(f"table {name}: validate() failed: {err}")
        want = exp_tables.get(name, {})
        for key in ("version", "rows", "vector_dim"):
            if key in want and info.get(key) != want[key]:
                t_mism.append(f"table {name}: {key}: expected {want[key]}, found {info.get(key)}")
        if "columns" in want and info.get("columns") is not None:
            t_mism += _column_mismatches(name, want["columns"], info["columns"])
        if name == run.stats_table and "total" in run.expect and not run.content and info.get("rows") is not None \
                and info["rows"] != run.expect["total"]:
            # Without the content check, the manifest's row count stands for the total.
            t_mism.append(f"total: expected {run.expect['total']}, found {info['rows']}")
        if name == run.stats_table and info.get("columns") is not None:
            t_mism += _schema_knowledge(name, info["columns"])
            t_mism += _embedding_mismatches(name, run, info.get("vector_dim"))
        info["ok"] = not t_mism
        out_tables[name] = info
        mism += t_mism
    run.add(mism)
    ok = not mism
    opened = sum(1 for t in out_tables.values() if "error" not in t)
    msg = f"{opened} table(s) open and validate; version, rows and schema as expected" if ok else _problems(mism)
    return {"ok": ok, "msg": msg, "tables": out_tables}


def _validate(ds):
    """None when ds.validate() passes, else its error text."""
    try:
        ds.validate()
    except Exception as e:  # noqa: BLE001
        return error_text(e)
    return None


def _column_mismatches(name, want, have):
    out = []
    for col in sorted(set(want) - set(have)):
        out.append(f"table {name}: column '{col}' ({want[col]}) expected, missing")
    for col in sorted(set(have) - set(want)):
        out.append(f"table {name}: column '{col}' ({have[col]}) not expected")
    for col in sorted(set(want) & set(have)):
        if want[col] != have[col]:
            out.append(f"table {name}: column '{col}': expected type {want[col]}, found {have[col]}")
    return out


def _schema_knowledge(name, columns):
    """Columns every memory plugin needs (plugins.py): id and text strings, vector a float list."""
    need = {col: kind for spec in PLUGINS.values() if spec["lancedb"] for col, kind in spec["columns"]
            if col in ("id", "text", "vector")}
    out = []
    for col, kind in sorted(need.items()):
        have = columns.get(col)
        if have is None:
            out.append(f"table {name}: column '{col}' missing: no OpenClaw memory plugin can read this table")
        elif kind == "vector" and not have.startswith("fixed_size_list<"):
            out.append(f"table {name}: column 'vector' is {have}, not fixed_size_list<float>[dim]")
        elif kind == "string" and have not in ("string", "large_string"):
            out.append(f"table {name}: column '{col}' is {have}, not string")
    return out


def _embedding_mismatches(name, run, vector_dim):
    emb = run.expect.get("embedding") or {}
    out = []
    dims = emb.get("dimensions")
    if dims is not None and vector_dim is not None and dims != vector_dim:
        out.append(
            f"embedding.dimensions: expected {dims}, table {name} stores {vector_dim}-dim vectors "
            "(made by another embedding model; "
            "configure the model that made them or re-embed)"
        )
    recorded = (run.meta or {}).get("embedding") or {}
    for key in ("provider", "model"):
        if emb.get(key) is not None and recorded.get(key) is not None and emb[key] != recorded[key]:
            out.append(f"embedding.{key}: expected '{emb[key]}', "
                       f"the snapshot's vectors were made with '{recorded[key]}'")
    return out


# --------------------------------------------------------------------------- content


def check_content(run):
    """Read every fragment of every table in full; counts, probes and duplicate ids against expect."""
    out_tables = {}
    mism = []
    stats = {}
    probes = {p["id"]: p["text"] for p in run.expect.get("probes") or []}
    for name in sorted(run.tables):
        ds, _err = run.open(name)
        if ds is None:
            out_tables[name] = {"ok": False, "error": "not read: the table cannot be opened (see structure)"}
            continue
        is_stats = name == run.stats_table
        nearest = run.scan_nearest.pop(name, None)
        if nearest is None:
            nearest = _nearest_for_scan(run, name, ds)
        res, t_mism, found = run.result((name, "scan"), _scan_table, name, ds, run.scan_probes(name),
                                        list(nearest.values()))
        if res["ok"]:
            run.nearest[name] = {col: near for col, near in nearest.items() if near.error is None}
        out_tables[name] = res
        mism += t_mism
        if is_stats and res.get("stats"):
            stats = res.pop("stats")
            mism += _count_mismatches(run.expect, stats)
            mism += _probe_mismatches(probes, found)
        else:
            res.pop("stats", None)
    if run.expect.get("probes") and run.stats_table is None:
        mism.append("probes: no memory table to look them up in (tables: %s)" % (", ".join(run.tables) or "none"))
    run.add(mism)
    unreadable = [n for n, t in out_tables.items() if not t["ok"] and "error" in t]
    ok = not mism and not unreadable
    if ok:
        nrows = sum(t.get("rows_read", 0) for t in out_tables.values())
        msg = f"{nrows} rows in {len(out_tables)} table(s) read in full"
        if probes:
            msg += f"; counts and {len(probes)} probe(s) as expected"
    else:
        msg = _problems(mism, unreadable)
    return {"ok": ok, "msg": msg, "tables": out_tables, "probes_checked": len(probes), "_stats": stats}


def _nearest_for_scan(run, name, ds):
    """{vector column: _Nearest} for the content scan to feed when the search check runs after it.

    Only for vector columns without an index (those get the exact check), with the sample
    Run.prefetch picked. Anything unusual: {} and the search check does its own pass.
    """
    picked = run.picked.get(name)
    if picked is None or "id" not in ds.schema.names:
        return {}
    indices, vec_cols, rows = picked
    indexed = {i["fields"][0] for i in indices if i["fields"]}
    if len(rows) < 2:
        return {}
    return {col: _Nearest(col, rows) for col in vec_cols if col not in indexed}


def _scan_table(name, ds, probes, nearest=()):
    """Full scan (every column, every fragment) feeding the shared StatsScan; returns (result, mismatches, found).

    `nearest`: _Nearest accumulators fed with the same rows (the search check's exact pass).
    """
    mism = []
    scan = StatsScan(ds.schema.names, probes=0)
    has_id = "id" in ds.schema.names
    has_text = "text" in ds.schema.names
    seen = set()
    dups = []
    ndups = 0
    found = {}
    rows = 0
    args = _scan_args(ds)
    try:
        # One-row fragments (the plugin's way) come as one-row batches: regroup them so that the
        # Python work below runs per few thousand rows, not per row.
        for batch in coalesced(ds.to_batches(fragment_readahead=FRAGMENT_READAHEAD, **args), args["batch_size"]):
            rows += batch.num_rows
            scan.add(batch)
            for near in nearest:
                near.feed(batch)
            if has_id:
                ids = batch.column("id").to_pylist()
                for mem_id in ids:
                    if mem_id in seen:
                        ndups += 1
                        if len(dups) < MAX_DETAIL:
                            dups.append(mem_id)
                    else:
                        seen.add(mem_id)
                if probes and has_text:
                    texts = None
                    for i, mem_id in enumerate(ids):
                        if mem_id in probes:
                            if texts is None:
                                texts = batch.column("text").to_pylist()
                            found[mem_id] = texts[i]
    except Exception as e:  # noqa: BLE001 - a damaged fragment: find which
        bad = _bad_fragments(ds)
        if bad:
            for frag_id, files, text in bad[:MAX_LISTED]:
                mism.append(f"table {name}: fragment {frag_id} ({', '.join(files)}) cannot be read: {text}")
            if len(bad) > MAX_LISTED:
                mism.append(f"table {name}: ... and {len(bad) - MAX_LISTED} more unreadable fragments")
        else:
            mism.append(f"table {name}: full scan failed: {error_text(e)}")
        return {"ok": False, "error": mism[0], "rows_read": None,
                "bad_fragments": [b[0] for b in bad[:MAX_DETAIL]]}, mism, found
    expected_rows = ds.count_rows()
    if rows != expected_rows:
        mism.append(f"table {name}: the manifest counts {expected_rows} rows, a full scan read {rows}")
    if ndups:
        mism.append(f"table {name}: {ndups} duplicate id(s), e.g. {', '.join(dups[:5])}")
    stats = scan.result(ds)
    stats.pop("probes", None)
    res = {"ok": not mism, "rows_read": rows, "fragments": len(ds.get_fragments()), "duplicate_ids": dups,
           "stats": stats}
    return res, mism, found


def _scan_args(ds):
    """Read every column in full: blob columns as bytes (so their sidecar files are read), in small batches."""
    blobs = any(str(f.type).startswith("extension<lance.blob") or (f.metadata or {}).get(b"lance-encoding:blob")
                for f in ds.schema)
    return {"batch_size": BLOB_BATCH if blobs else SCAN_BATCH, "blob_handling": "all_binary"}


def _bad_fragments(ds):
    """[(fragment id, [files], error)] for each fragment that cannot be read in full."""
    bad = []
    for frag in ds.get_fragments():
        try:
            for _batch in frag.to_batches(**_scan_args(ds)):
                pass
        except Exception as e:  # noqa: BLE001
            meta = frag.metadata
            files = ["data/" + df.path for df in fragment_data_files(meta)]
            if meta.deletion_file is not None:
                try:
                    dele = frag.deletion_file()
                    if dele:
                        files.append(dele)
                except Exception:  # noqa: BLE001,S110 - best effort naming
                    pass
            bad.append((frag.fragment_id, files, error_text(e)))
    return bad


def _count_mismatches(exp, stats):
    out = []
    if "total" in exp and stats.get("total") != exp["total"]:
        out.append(f"total: expected {exp['total']}, found {stats.get('total')}")
    for key, col in GROUP_KEYS:
        if key not in exp:
            continue
        have = stats.get(key)
        if have is None:
            out.append(f"{key}: expected {_fmt_counts(exp[key])}, the table has no '{col}' column")
            continue
        for value in sorted(set(exp[key]) | set(have)):
            want_n, have_n = exp[key].get(value, 0), have.get(value, 0)
            if want_n != have_n:
                out.append(f"{key}.{value}: expected {want_n}, found {have_n}")
    return out


def _fmt_counts(counts):
    return ", ".join("{}={}".format(*kv) for kv in sorted(counts.items()))


def _probe_mismatches(probes, found):
    out = []
    for mem_id, text in probes.items():
        if mem_id not in found:
            out.append(f"probe {mem_id}: not found")
        elif found[mem_id] != text:
            out.append(f"probe {mem_id}: text differs: {_text_diff(text, found[mem_id])}")
    return out


def _text_diff(want, have):
    have = have if have is not None else ""
    pos = next((i for i, (a, b) in enumerate(zip(want, have, strict=False)) if a != b), min(len(want), len(have)))
    start = max(0, pos - 20)

    def cut(s):
        return ("…" if start else "") + s[start:pos + 30] + ("…" if len(s) > pos + 30 else "")

    return (f"expected {cut(want)!r} ({len(want)} chars), found {cut(have)!r} ({len(have)} chars), "
            f"first difference at char {pos}")


# --------------------------------------------------------------------------- search


def check_search(run, sample=5):
    """Sampled rows are found first by their own vector; every index answers a query for them."""
    out_tables = {}
    mism = []
    if sample == 0:
        return {"ok": True, "skipped": True, "msg": "skipped: sample=0", "tables": {}}
    for name in sorted(run.tables):
        ds, _err = run.open(name)
        if ds is None:
            out_tables[name] = {"ok": False, "error": "not searched: the table cannot be opened (see structure)"}
            continue
        res, t_mism = _search_table(name, ds, sample, run.picked.get(name), run.nearest.get(name), run)
        out_tables[name] = res
        mism += t_mism
    run.add(mism)
    unreadable = [n for n, t in out_tables.items() if not t["ok"] and "error" in t]
    ok = not mism and not unreadable
    if ok:
        n_idx = sum(len(t.get("indices", [])) for t in out_tables.values())
        n_rows = sum(t.get("samples", 0) for t in out_tables.values())
        msg = f"{n_rows} sampled row(s) found first by their own vector; {n_idx} index(es) answered"
    else:
        msg = _problems(mism, unreadable)
    return {"ok": ok, "msg": msg, "tables": out_tables}


def _vector_columns(ds):
    import pyarrow as pa  # present whenever lance is; imported here to keep the module importable without it

    return [f.name for f in ds.schema if pa.types.is_fixed_size_list(f.type)]


class _NotSearchable(Exception):
    def __init__(self, error, msg):
        super().__init__(msg)
        self.error = error
        self.msg = msg


def _pick_samples(name, ds, sample):
    """(indices, vector columns, rows): `sample` rows spread evenly over the table, each with `_key`.

    rows is [] for an empty table. Raises _NotSearchable(error, message) when the indexes cannot be
    listed or the rows cannot be read.
    """
    vec_cols = _vector_columns(ds)
    try:
        indices = index_list(ds)
    except Exception as e:  # noqa: BLE001
        raise _NotSearchable(error_text(e), f"table {name}: indexes cannot be listed: {error_text(e)}")
    n = ds.count_rows()
    if n == 0:
        return indices, vec_cols, []
    names = ds.schema.names
    idx_fields = [i["fields"][0] for i in indices if i["fields"]]
    want_cols = [c for c in dict.fromkeys((["id"] if "id" in names else []) + vec_cols + idx_fields) if c in names]
    offsets = sorted({i * n // min(sample, n) for i in range(min(sample, n))})
    try:
        rows = ds.take(offsets, columns=want_cols).to_pylist()
    except Exception as e:  # noqa: BLE001
        msg = f"table {name}: sampled rows cannot be read: {error_text(e)}"
        raise _NotSearchable(msg, msg)
    for r, off in zip(rows, offsets, strict=True):
        r["_key"] = r.get("id", f"row {off}")
    return indices, vec_cols, rows


def _search_table(name, ds, sample, picked=None, nearest=None, run=None):
    """Search one table. `picked`: its sample taken up front; `nearest`: {vector column: _Nearest} that a
    complete content scan fed (the exact pass already done); `run`: where prefetched flat queries wait."""
    mism = []
    try:
        indices, vec_cols, rows = picked or _pick_samples(name, ds, sample)
    except _NotSearchable as e:
        return {"ok": False, "error": e.error}, [e.msg]
    res = {"ok": True, "samples": 0, "indices": []}
    if not rows:
        res["msg"] = "empty table: nothing to search"
        return res, mism
    res["samples"] = len(rows)
    indexed_vec = set()
    for idx in sorted(indices, key=lambda i: i["name"]):
        field = idx["fields"][0] if idx["fields"] else None
        entry = {"name": idx["name"], "type": idx["type"], "field": field}
        if field in vec_cols:
            indexed_vec.add(field)
            entry["kind"] = "vector"
            entry["metric"], problems = _vector_search(name, ds, field, rows, idx)
        else:
            entry["kind"] = "scalar"
            problems, note = _scalar_queries(name, ds, field, rows, idx)
            if note:
                entry["note"] = note
        entry["ok"] = not problems
        res["indices"].append(entry)
        mism += problems
    for col in vec_cols:
        if col in indexed_vec:
            continue
        # No index: the plugin's own query is Lance's flat search, one full pass per query. One
        # sampled row goes through it; every sampled row is then checked against an exact
        # nearest-neighbour search over all stored vectors, in one more pass.
        if run is not None:
            _metric, problems = run.result((name, "flat", col), _vector_search, name, ds, col, rows[:1], None)
        else:
            _metric, problems = _vector_search(name, ds, col, rows[:1], None)
        if not problems and len(rows) > 1:
            near = (nearest or {}).get(col)
            problems = near.problems(name) if near is not None else _exact_nearest(name, ds, col, rows)
        res.setdefault("flat_search", []).append({"field": col, "ok": not problems, "lance_queries": 1,
                                                  "exact_checked": len(rows)})
        mism += problems
    res["ok"] = not mism
    return res, mism


def _exact_nearest(name, ds, col, rows):
    """Each sampled row's stored vector must be nearest (L2, ties allowed) to its own vector among all rows."""
    if "id" not in ds.schema.names:
        return []
    near = _Nearest(col, rows)
    if not near.keys:
        return []
    try:
        batches = ds.to_batches(columns=["id", col], batch_size=SCAN_BATCH, fragment_readahead=FRAGMENT_READAHEAD)
        for batch in coalesced(batches, SCAN_BATCH):
            near.add(batch)
    except Exception as e:  # noqa: BLE001
        return [f"table {name}: stored vectors of '{col}' cannot be read for the exact search: {error_text(e)}"]
    return near.problems(name)


class _Nearest:
    """Exact nearest neighbour (squared L2) of each sampled row's vector among all rows fed to it.

    Distances go through one matrix product per group of rows (float32); the rows within `slack` of
    each minimum, and each sampled row itself, are then measured exactly (float64), so the result is
    that of an exact search. Fed by its own pass (_exact_nearest) or by the content scan (`feed`).
    """

    def __init__(self, col, rows):
        import numpy as np  # present whenever pyarrow is

        sample = [r for r in rows if r.get(col) is not None]
        self.col = col
        self.keys = [r["_key"] for r in sample]
        self.where = {k: j for j, k in enumerate(self.keys)}
        self.queries = np.array([r[col] for r in sample], dtype=np.float32).reshape(len(sample), -1)
        self.q64 = self.queries.astype(np.float64)
        self.qnorm = np.einsum("ij,ij->i", self.queries, self.queries)
        self.best = np.full(len(sample), np.inf)
        self.best_id = [None] * len(sample)
        self.own = np.full(len(sample), np.inf)
        self.error = None

    def feed(self, batch):
        """add(), but an error stops this accumulator (the search check then reads on its own) instead of the scan."""
        if self.error is None and self.keys:
            try:
                self.add(batch)
            except Exception as e:  # noqa: BLE001
                self.error = error_text(e)

    def _exact(self, mat, j):
        import numpy as np

        d = ((mat.astype(np.float64) - self.q64[j]) ** 2).sum(axis=1)
        d[np.isnan(d)] = np.inf
        return d

    def add(self, batch):
        import numpy as np

        vecs, ids = batch.column(self.col), batch.column("id")
        if hasattr(vecs, "combine_chunks"):
            vecs, ids = vecs.combine_chunks(), ids.combine_chunks()
        if vecs.null_count:
            keep = vecs.is_valid()
            vecs, ids = vecs.filter(keep), ids.filter(keep)
        if not len(vecs):
            return
        mat = vecs.flatten().to_numpy(zero_copy_only=False).reshape(len(vecs), -1)
        ids = ids.to_pylist()
        norms = np.einsum("ij,ij->i", mat, mat)
        with np.errstate(invalid="ignore", over="ignore"):
            approx = norms[:, None] - 2.0 * (mat @ self.queries.T) + self.qnorm[None, :]
        approx[np.isnan(approx)] = np.inf
        finite = norms[np.isfinite(norms)]
        top = float(finite.max()) if len(finite) else 0.0
        for j in range(len(self.keys)):
            low = approx[:, j].min()
            if not np.isfinite(low):
                continue
            slack = 1e-3 * (top + float(self.qnorm[j])) + TIE  # well above float32 rounding
            cand = np.flatnonzero(approx[:, j] <= low + slack)
            exact = self._exact(mat[cand], j)
            k = int(np.argmin(exact))
            if exact[k] < self.best[j]:
                self.best[j], self.best_id[j] = exact[k], ids[cand[k]]
        for i, key in enumerate(ids):
            j = self.where.get(key)
            if j is not None:
                self.own[j] = min(self.own[j], float(self._exact(mat[i:i + 1], j)[0]))

    def problems(self, name):
        import numpy as np

        out = []
        for j, key in enumerate(self.keys):
            if self.own[j] == np.inf:
                out.append(f"table {name}: row {key} not found among the stored vectors of '{self.col}'")
            elif self.own[j] > self.best[j] + TIE:
                out.append(f"table {name}: row {key} is not the nearest to its own vector in '{self.col}': "
                           f"{self.best_id[j]} is closer (exact search)")
        return out


def _index_metric(ds, idx):
    stats = ds.stats.index_stats(idx["name"])
    for seg in stats.get("indices") or []:
        if seg.get("metric_type"):
            return str(seg["metric_type"]).lower()
    return _VECTOR_METRIC_DEFAULT


def _vector_search(name, ds, col, rows, idx):
    """Each sampled row must come back first (or tied first) when searching with its own vector."""
    label = "index {} ({})".format(idx["name"], idx["type"]) if idx else "flat search (no index)"
    try:
        metric = _index_metric(ds, idx) if idx else _VECTOR_METRIC_DEFAULT
    except Exception as e:  # noqa: BLE001 - the index file itself is damaged
        return None, [f"table {name}: {label} on '{col}' cannot be read: {error_text(e)}"]
    problems = []
    has_id = "id" in ds.schema.names
    for r in rows:
        vec = r.get(col)
        if vec is None:
            continue
        query = {"column": col, "q": vec, "k": SEARCH_K, "metric": metric}
        if idx:
            query["refine_factor"] = 4  # re-rank PQ/SQ candidates with the stored vectors: self-distance 0
        try:
            got = ds.to_table(columns=(["id"] if has_id else []) + ["_distance"], nearest=query,
                              with_row_id=not has_id, fragment_readahead=FRAGMENT_READAHEAD).to_pylist()
        except Exception as e:  # noqa: BLE001
            problems.append(f"table {name}: vector search via {label} failed: {error_text(e)}")
            break
        key = "id" if has_id else "_rowid"
        ids = [g[key] for g in got]
        want = r["_key"] if has_id else None
        if not has_id:
            continue  # without ids only the search path itself is exercised
        if want not in ids:
            problems.append("table {}: row {} not returned by a vector search with its own vector via {} "
                            "(top result {})".format(name, want, label, ids[0] if ids else "none"))
            continue
        pos = ids.index(want)
        if metric != "dot" and got[pos]["_distance"] > got[0]["_distance"] + TIE:
            problems.append(f"table {name}: row {want} ranked {pos + 1}, not first, by a vector search with its own "
                            f"vector via {label} (distance {got[pos]['_distance']:.4g} vs {got[0]['_distance']:.4g})")
    return metric, problems


def _literal(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return None


def _scalar_queries(name, ds, field, rows, idx):
    """Query through a scalar index for each sampled row's value; the row must be in the answer."""
    kind = idx["type"].lower()
    has_id = "id" in ds.schema.names
    problems = []
    exercised = 0
    for r in rows:
        value = r.get(field)
        if value is None:
            continue
        kw = {"columns": ["id"] if has_id else [], "with_row_id": not has_id, "disable_scoring_autoprojection": True}
        if kind in ("inverted", "fts"):
            if not isinstance(value, str) or not value.strip():
                continue
            kw.update(full_text_query={"query": value, "columns": [field]}, limit=100)
            what = "full-text query for its text"
        else:
            if kind == "labellist":
                lit = _literal(value[0]) if isinstance(value, list) and value else None
                flt = f"array_has_any({field}, [{lit}])" if lit else None
            elif kind == "ngram":
                lit = _literal(value) if isinstance(value, str) and value else None
                flt = f"contains({field}, {lit})" if lit else None
            else:
                lit = _literal(value)
                flt = f"{field} = {lit}" if lit else None
            if flt is None:
                continue
            kw.update(filter=flt, use_scalar_index=True)
            what = "filter %s" % (flt if len(flt) < 80 else flt[:77] + "...")
        exercised += 1
        try:
            got = ds.to_table(**kw).to_pylist()
        except Exception as e:  # noqa: BLE001
            problems.append("table {}: index {} ({} on {}) query failed: {}".format(
                name, idx["name"], idx["type"], field, error_text(e)))
            break
        if has_id and r["_key"] not in {g["id"] for g in got}:
            problems.append("table {}: index {} ({} on {}): {} did not return row {}".format(
                name, idx["name"], idx["type"], field, what, r["_key"]))
    note = None if exercised else "not exercised: no sampled row has a value it can be queried with"
    return problems, note


# --------------------------------------------------------------------------- read-write (scratch copy)


def lancedb_import_error():
    """None when lancedb imports here, else the traceback (for missing_required_lib)."""
    try:
        import lancedb  # noqa: F401 - 1.3 s to import: only for the read-write check
    except ImportError:
        return traceback.format_exc()
    return None


def _lancedb():
    try:
        import lancedb
    except ImportError:
        raise MemoryToolError(
            "The read-write check needs the Python library lancedb on this host; run the openclaw.memory.deps "
            "role or pip install the version in requirements-host.txt, or leave readwrite out of checks"
        )
    return lancedb


def scratch_copy(table_dir, name, ds=None, parent=None, link=False):
    """Copy exactly the files of one table's current version into a new temp dir; returns (dir, linked).

    The copy is a LanceDB database with one table `name`; the caller removes it.
    With `link`, files are hard-linked instead of copied where the filesystem
    allows (the scratch dir is then made in `parent`, which must be on the
    table's filesystem): Lance writes every file once under a new name, so a
    write to the scratch table never changes a linked file. `linked` maps each
    linked path to its (size, mtime_ns) so the caller can prove that.
    """
    ds = ds or open_table(table_dir)
    scratch = tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=parent)
    linked = {}
    try:
        dst_table = os.path.join(scratch, name + ".lance")
        for rel in version_files(ds, table_dir):
            src = os.path.join(table_dir, rel)
            dst = os.path.join(dst_table, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if link:
                try:
                    os.link(src, dst)
                    st = os.stat(src)
                    linked[src] = (st.st_size, st.st_mtime_ns)
                    continue
                except OSError:
                    link = False  # another filesystem, or links not allowed: copy from here on
            shutil.copyfile(src, dst)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return scratch, linked


def _changed_links(linked):
    """Paths of `linked` whose size or mtime moved (a write through a hard link would show there)."""
    out = []
    for path, (size, mtime) in linked.items():
        try:
            st = os.stat(path)
        except OSError:
            out.append(path)
            continue
        if (st.st_size, st.st_mtime_ns) != (size, mtime):
            out.append(path)
    return sorted(out)


def _probe_row(schema, text, seed):
    """A row for `schema`: the verification text, a unique vector, plugin defaults elsewhere."""
    import numpy as np  # present whenever pyarrow is
    import pyarrow as pa  # present whenever lance is; imported here to keep the module importable without it

    mem_id = str(uuid.uuid4())
    now_ms = float(int(time.time() * 1000))
    known = {"id": mem_id, "text": text, "importance": 0.7, "category": "other", "createdAt": now_ms,
             "timestamp": now_ms, "scope": "global", "metadata": "{}", "agentId": "main"}
    cols = {}
    vector = None
    rng = np.random.default_rng(int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16))
    for field in schema:
        if pa.types.is_fixed_size_list(field.type):
            dim = field.type.list_size
            vec = (rng.standard_normal(dim) * 10.0).astype("float32")
            cols[field.name] = pa.FixedSizeListArray.from_arrays(pa.array(vec), dim).cast(field.type)
            if vector is None:
                vector = (field.name, vec.tolist())
        elif field.name in known:
            cols[field.name] = pa.array([known[field.name]]).cast(field.type)
        elif field.nullable:
            cols[field.name] = pa.nulls(1, field.type)
        elif pa.types.is_floating(field.type) or pa.types.is_integer(field.type):
            cols[field.name] = pa.array([0]).cast(field.type)
        else:
            cols[field.name] = pa.array([""]).cast(field.type)
    return pa.Table.from_pydict(cols, schema=schema), mem_id, vector


def readwrite_check(table_dir, name, today=None, parent=None, link=False):
    """Add, find (by vector and by id) and delete a memory on a scratch copy of one table.

    Returns dict(ok, msg, problems, scratch, removed, ...). The table itself is
    only read; the scratch copy is removed even when a step fails. `link`: the
    scratch copy hard-links the table's files (see scratch_copy), made beside
    the table's database dir; afterwards every linked file must be unchanged.
    """
    lancedb = _lancedb()
    today = today or datetime.datetime.now(tz=datetime.timezone.utc).date().isoformat()
    text = RW_TEXT % today
    problems = []
    out = {"table": name, "text": text}
    if link and parent is None:
        parent = os.path.dirname(os.path.dirname(os.path.abspath(table_dir)))
    scratch, linked = scratch_copy(table_dir, name, parent=parent, link=link)
    out["scratch"] = scratch
    out["linked_files"] = len(linked)
    try:
        db = lancedb.connect(scratch)
        tbl = db.open_table(name)
        before = tbl.count_rows()
        row, mem_id, vector = _probe_row(tbl.schema, text, scratch)
        out.update(rows_before=before, id=mem_id)
        tbl.add(row)
        out["version_after_add"] = tbl.version
        if vector is not None:
            hit = tbl.search(vector[1], vector_column_name=vector[0]).limit(1).select(["id", "text"]).to_list()
            out["found_by_vector"] = bool(hit) and hit[0]["id"] == mem_id and hit[0]["text"] == text
            if not out["found_by_vector"]:
                problems.append("readwrite: the added memory was not the first vector-search result (got %s)"
                                % (hit[0]["id"] if hit else "nothing"))
        by_id = tbl.search().where(f"id = '{mem_id}'").select(["id", "text"]).limit(2).to_list()
        out["found_by_id"] = len(by_id) == 1 and by_id[0]["text"] == text
        if not out["found_by_id"]:
            problems.append(f"readwrite: the added memory was not found by id ({len(by_id)} rows)")
        tbl.delete(f"id = '{mem_id}'")
        after = lancedb.connect(scratch).open_table(name).count_rows()
        out.update(rows_after=after, deleted=after == before)
        if after != before:
            problems.append(f"readwrite: after deleting the added memory the table has {after} rows, "
                            f"expected {before}")
    except MemoryToolError:
        raise
    except Exception as e:  # noqa: BLE001 - a write or read failed on the copy
        problems.append(f"readwrite: {name} failed on a scratch copy: {error_text(e)}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        out["removed"] = not os.path.exists(scratch)
    changed = _changed_links(linked)
    if changed:
        problems.append("readwrite: the write to the scratch copy changed %d file(s) it shares with %s by hard link "
                        "(e.g. %s); the table can no longer be trusted" % (len(changed), name, changed[0]))
    out["ok"] = not problems
    out["problems"] = problems
    out["msg"] = (f"added, found by vector and by id, and deleted a memory on a scratch copy of {name} (removed)"
                  if not problems else "; ".join(problems))
    return out


def check_readwrite(run):
    name = run.stats_table
    if name is None:
        msg = "readwrite: no memory table to write to (tables: %s)" % (", ".join(run.tables) or "none")
        run.add([msg])
        return {"ok": False, "msg": msg}
    ds, _err = run.open(name)
    if ds is None:
        return {"ok": False, "msg": f"not run: table {name} cannot be opened (see structure)"}
    try:
        res = run.result((name, "readwrite"), readwrite_check, run.tables[name], name, run.today, None,
                         run.scratch_link)
    except OSError as e:
        res = {"ok": False, "problems": [f"readwrite: scratch copy of {name} failed: {e}"]}
        res["msg"] = res["problems"][0]
    except MemoryToolError:
        raise
    except Exception as e:  # noqa: BLE001 - version_files on a damaged table
        res = {"ok": False, "problems": [f"readwrite: scratch copy of {name} failed: {error_text(e)}"]}
        res["msg"] = res["problems"][0]
    run.add(res.pop("problems"))
    return res


# --------------------------------------------------------------------------- compare


def _id_hashes(ds):
    """{id: sha256(text)[:16]} of a table (streaming two columns)."""
    out = {}
    names = ds.schema.names
    cols = [c for c in ("id", "text") if c in names]
    for batch in ds.to_batches(columns=cols, batch_size=65536):
        ids = batch.column("id").to_pylist()
        texts = batch.column("text").to_pylist() if "text" in cols else [None] * len(ids)
        for mem_id, text in zip(ids, texts, strict=True):
            out[mem_id] = hashlib.sha256((text or "").encode("utf-8")).hexdigest()[:16]
    return out


def compare_dbs(path, other):
    """Per table: ids only on one side and ids whose text differs. Returns (tables, mismatches)."""
    here, there = list_tables(path), list_tables(other)
    tables, mism = {}, []
    for name in sorted(set(here) - set(there)):
        mism.append(f"compare: table {name} only in '{path}'")
    for name in sorted(set(there) - set(here)):
        mism.append(f"compare: table {name} only in '{other}'")
    for name in sorted(set(here) & set(there)):
        try:
            a, b = open_table(here[name]), open_table(there[name])
            if "id" not in a.schema.names or "id" not in b.schema.names:
                ra, rb = a.count_rows(), b.count_rows()
                tables[name] = {"rows": ra, "other_rows": rb, "ok": ra == rb}
                if ra != rb:
                    mism.append(f"compare: table {name} has {ra} rows, '{other}' has {rb} (no id column to compare)")
                continue
            ha, hb = _id_hashes(a), _id_hashes(b)
        except MemoryToolError as e:
            mism.append(f"compare: table {name}: {e.msg}")
            tables[name] = {"ok": False}
            continue
        except Exception as e:  # noqa: BLE001
            mism.append(f"compare: table {name} cannot be read: {error_text(e)}")
            tables[name] = {"ok": False}
            continue
        only_here = sorted(set(ha) - set(hb))
        only_there = sorted(set(hb) - set(ha))
        differ = sorted(k for k in set(ha) & set(hb) if ha[k] != hb[k])
        t = {"rows": len(ha), "other_rows": len(hb), "only_here": only_here[:MAX_DETAIL],
             "only_other": only_there[:MAX_DETAIL], "text_differs": differ[:MAX_DETAIL],
             "ok": not (only_here or only_there or differ)}
        tables[name] = t
        if only_here:
            mism.append(f"compare: table {name}: {len(only_here)} id(s) only in '{path}', "
                        f"e.g. {', '.join(only_here[:5])}")
        if only_there:
            mism.append(f"compare: table {name}: {len(only_there)} id(s) only in '{other}', "
                        f"e.g. {', '.join(only_there[:5])}")
        if differ:
            mism.append(f"compare: table {name}: text differs for {len(differ)} id(s), e.g. {', '.join(differ[:5])}")
    return tables, mism


def check_compare(run, other):
    tables, mism = compare_dbs(run.path, other)
    run.add(mism)
    ok = not mism
    msg = f"ids and texts of {len(tables)} table(s) equal those in '{other}'" if ok else _problems(mism)
    return {"ok": ok, "msg": msg, "other": other, "tables": tables}
