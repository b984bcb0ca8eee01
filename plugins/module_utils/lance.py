# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading LanceDB memory databases: tables, versions, exact file sets, stats.

Read-only by construction: nothing here opens a table for writing. Used by the
facts, snapshot and verify modules, the backup command and the tests.
"""

from __future__ import annotations

import hashlib
import heapq
import importlib.metadata
import os
import re
import traceback

from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError, iso_utc
from ansible_collections.openclaw.memory.plugins.module_utils.plugins import GROUP_COLUMNS, created_column

LANCE_IMPORT_ERROR = None
try:
    import lance
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError:  # reported by the modules with missing_required_lib
    lance = pa = pc = None
    LANCE_IMPORT_ERROR = traceback.format_exc()

HAS_LANCE = LANCE_IMPORT_ERROR is None

U64_MAX = (1 << 64) - 1
# Fragments read ahead by scans: a plugin-made table has one fragment per memory, and reading
# them one after the other dominates a scan (2,000 fragments: 0.55 s sequential, 0.23 s with 64).
FRAGMENT_READAHEAD = 64
# Rows per unit of Python work when a scan's batches are regrouped (coalesced): enough to make the
# per-batch cost vanish, few enough that the one-row batches held meanwhile stay small.
GROUP_ROWS = 4096
TABLE_SUFFIX = ".lance"
# What to do about a damaged table (appended to the messages that report one).
VERIFY_HINT = "run openclaw.memory.lance_verify on it, or restore it from a snapshot"
# How many missing files a damage message names.
MISSING_LISTED = 5


def require_lance():
    if not HAS_LANCE:
        raise MemoryToolError(
            "The Python libraries pylance and pyarrow are missing on this host; "
            "run the openclaw.memory.deps role or pip install the versions in requirements-host.txt",
            missing_lib="pylance",
        )


def lib_versions():
    """Versions of the Lance libraries installed here (None when absent).

    Read from the package metadata, so lancedb (about 1.3 s to import) is not imported.
    """
    out = {}
    for name, mod in (("lancedb", "lancedb"), ("pylance", "lance"), ("pyarrow", "pyarrow")):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            try:
                out[name] = __import__(mod).__version__
            except Exception:  # noqa: BLE001 - absent or broken: report None
                out[name] = None
    return out


# --------------------------------------------------------------------------- layout


def is_table_dir(path):
    return os.path.isdir(os.path.join(path, "_versions"))


def list_tables(db_dir):
    """{table name: table dir} for every `<name>.lance` table in a database dir."""
    tables = {}
    try:
        entries = sorted(os.listdir(db_dir))
    except FileNotFoundError:
        raise MemoryToolError("Database directory '%s' does not exist" % db_dir)
    except NotADirectoryError:
        raise MemoryToolError("Database path '%s' is a file, not a LanceDB directory" % db_dir)
    except PermissionError:
        raise MemoryToolError("Database directory '%s' is not readable; run as its owner or with become" % db_dir)
    for name in entries:
        full = os.path.join(db_dir, name)
        if name.endswith(TABLE_SUFFIX) and is_table_dir(full):
            tables[name[: -len(TABLE_SUFFIX)]] = full
    return tables


def check_db_dir(db_dir, hint=""):
    """Return the tables of a LanceDB database dir, or raise naming what is wrong with it."""
    if not os.path.exists(db_dir):
        raise MemoryToolError("Database directory '%s' does not exist%s" % (db_dir, hint))
    if not os.path.isdir(db_dir):
        raise MemoryToolError("Database path '%s' is a file, not a LanceDB directory%s" % (db_dir, hint))
    if not os.access(db_dir, os.R_OK | os.X_OK):
        raise MemoryToolError("Database directory '%s' is not readable; run as its owner or with become" % db_dir)
    if is_table_dir(db_dir):
        raise MemoryToolError(
            "'%s' is a single Lance table, not a LanceDB database directory; pass its parent directory '%s'"
            % (db_dir, os.path.dirname(db_dir.rstrip("/")))
        )
    tables = list_tables(db_dir)
    if not tables:
        raise MemoryToolError(
            "'%s' is not a LanceDB database directory: it holds no '<table>.lance' table%s" % (db_dir, hint)
        )
    return tables


def manifest_relpath(table_dir, version):
    """Relative path of a version's manifest: V2 naming, else V1."""
    v2 = "_versions/%020d.manifest" % (U64_MAX - version)
    if os.path.exists(os.path.join(table_dir, v2)):
        return v2
    v1 = "_versions/%d.manifest" % version
    if os.path.exists(os.path.join(table_dir, v1)):
        return v1
    raise MemoryToolError("Manifest of version %d is missing in table '%s'" % (version, table_dir))


def open_table(table_dir, version=None):
    """Open a Lance table read-only (at `version`, else the latest)."""
    require_lance()
    try:
        ds = lance.dataset(table_dir, version=version)
    except Exception as e:  # noqa: BLE001 - Lance raises plain exceptions
        raise MemoryToolError("Lance table '%s' cannot be opened%s: %s" % (
            table_dir, "" if version is None else " at version %s" % version, error_text(e)))
    if _base_paths(ds):
        raise MemoryToolError(
            "Lance table '%s' is a shallow clone that references files outside itself; "
            "it cannot be snapshotted as a unit: deep-clone it first" % table_dir
        )
    return ds


def _base_paths(ds):
    try:
        return ds.base_paths() or {}
    except AttributeError:  # pylance < 9
        return {}


_RUST_LOCATION = re.compile(r",?\s*(?:/rustc/[0-9a-f]+|/home/runner|/Users/runner|/build)/\S+:\d+:\d+")


def error_text(exc):
    """First line of a (Lance) exception, without Rust source locations, at most 300 chars."""
    text = str(exc).strip().splitlines()
    if not text:
        return exc.__class__.__name__
    line = _RUST_LOCATION.sub("", text[0]).strip()
    # DataFusion's wrapper around Lance's own error says nothing.
    return line.removeprefix("External error: ")[:300]


# --------------------------------------------------------------------------- files of a version


def version_files(ds, table_dir, fragments=None):
    """Relative paths (inside the table dir) of every file that version `ds.version` needs.

    The manifest, each fragment's data files (and blob sidecar dirs), deletion
    files, and every file of each index segment. Files written once, so a copy
    of exactly these opens at the same version. `fragments`: `fragment_list(ds)`
    when the caller has it already (reading it costs ~25 us per fragment).
    """
    files = [manifest_relpath(table_dir, ds.version)]
    for _fid, data_files, dele in (fragment_list(ds) if fragments is None else fragments):
        for path in data_files:
            files.extend(_data_file_with_sidecars(table_dir, "data/" + path))
        if dele:
            files.append(dele)
    for idx in index_list(ds):
        for uuid in idx["uuids"]:
            full = os.path.join(table_dir, "_indices", uuid)
            for root, _dirs, names in os.walk(full):
                for name in names:
                    files.append(os.path.relpath(os.path.join(root, name), table_dir))
    return sorted(set(files))


def fragment_list(ds):
    """[(fragment id, [data file paths inside data/], deletion file path or None)] of a version, in table order."""
    out = []
    for frag in ds.get_fragments():
        out.append((frag.fragment_id, [_data_file_path(df) for df in fragment_data_files(frag.metadata)],
                    frag.deletion_file() or None))
    return out


def _data_file_path(df):
    """A DataFile's path; pylance 14's `path` property defines a class on every call (~20 us), `_path` is plain."""
    path = getattr(df, "_path", None)
    return path if isinstance(path, str) else df.path


def fragment_data_files(meta):
    """The data files of a fragment's metadata (`files` in pylance 14, `data_files()` before)."""
    files = getattr(meta, "files", None)
    return files if files is not None else meta.data_files()


def index_list(ds):
    """Indices of a version: [{name, type, fields, uuids (one per segment)}], oldest API as fallback."""
    describe = getattr(ds, "describe_indices", None)
    if describe is not None:
        return [
            {"name": d.name, "type": d.index_type, "fields": list(d.field_names),
             "uuids": [str(seg.uuid) for seg in d.segments]}
            for d in describe()
        ]
    merged = {}
    for i in ds.list_indices():  # pylance < 14: one entry per segment
        entry = merged.setdefault(i["name"], {"name": i["name"], "type": i["type"], "fields": list(i["fields"]),
                                              "uuids": []})
        entry["uuids"].append(str(i["uuid"]))
    return list(merged.values())


def _data_file_with_sidecars(table_dir, rel):
    """A data file's relative path plus its blob sidecar files `data/<stem>/*` (no API lists those)."""
    out = [rel]
    stem = os.path.splitext(rel)[0]
    full = os.path.join(table_dir, stem)
    if os.path.isdir(full):
        out.extend("%s/%s" % (stem, name) for name in sorted(os.listdir(full)))
    return out


def history_files(ds, table_dir):
    """Relative paths of every file that any version up to `ds.version` still on disk needs.

    For time travel: each such version's manifest, data files (and blob
    sidecars), deletion files and index files, from `tracked_files` (pylance
    >= 9). Versions newer than `ds.version` (a writer that committed since the
    pin) are left out; transaction files are not needed to open a version.
    """
    files = set()
    for batch in ds.tracked_files():
        for row in batch.to_pylist():
            if row["version"] > ds.version or row["type"] == "transaction file":
                continue
            if row["type"] == "data file":
                files.update(_data_file_with_sidecars(table_dir, row["path"]))
            else:
                files.add(row["path"])
    return sorted(files)


# --------------------------------------------------------------------------- table facts


def table_info(ds):
    """Version, rows, vector_dim, columns {name: type}, fragments, storage version, indices."""
    schema = ds.schema
    columns = {f.name: str(f.type) for f in schema}
    vec = schema.field("vector") if "vector" in schema.names else None
    vector_dim = None
    if vec is not None and pa.types.is_fixed_size_list(vec.type):
        vector_dim = vec.type.list_size
    return {
        "version": ds.version,
        "rows": ds.count_rows(),
        "vector_dim": vector_dim,
        "columns": columns,
        "fragments": len(ds.get_fragments()),
        "data_storage_version": str(ds.data_storage_version),
        "indices": sorted(
            ({"name": i["name"], "type": i["type"], "fields": i["fields"]} for i in index_list(ds)),
            key=lambda i: i["name"],
        ),
    }


def _probe_key(mem_id):
    return hashlib.sha256(str(mem_id).encode("utf-8")).hexdigest()


def _quote(value):
    return "'" + str(value).replace("'", "''") + "'"


class StatsScan:
    """Streaming counts over record batches (or Tables, see coalesced) of a `memories`-like table.

    The one counting code: `memory_stats` feeds it the columns it needs; the
    verify module feeds it full batches (every column) while it checks that
    every fragment reads. `columns` lists what `add()` needs from a batch.
    """

    def __init__(self, names, probes=3, probe_query=None, query_limit=20):
        self.names = list(names)
        self.created = created_column(self.names)
        self.groups = [(key, col) for key, col in GROUP_COLUMNS if col in self.names]
        self.probes = probes if "id" in self.names else 0
        self.probe_query = probe_query if "text" in self.names else None
        self.query_limit = query_limit
        cols = ["id", self.created] + [col for _key, col in self.groups]
        self.columns = [c for c in cols if c and c in self.names] + (["text"] if self.probe_query else [])
        self.counts = {key: {} for key, _col in self.groups}
        self.total = 0
        self.oldest = self.newest = None
        self._heap = []  # max-heap via _Rev ordering: keeps the `probes` smallest keys
        self.matches = []  # (id, row offset)

    def add(self, batch):
        """Count one batch; batches must come in the table's order (row offsets locate the probes)."""
        start = self.total
        self.total += batch.num_rows
        for key, col in self.groups:
            bucket = self.counts[key]
            for item in pc.value_counts(batch.column(col)).to_pylist():
                v = item["values"] if item["values"] is not None else "(none)"
                bucket[v] = bucket.get(v, 0) + item["counts"]
        if self.created:
            mm = pc.min_max(batch.column(self.created)).as_py()
            if mm["min"] is not None:
                self.oldest = mm["min"] if self.oldest is None else min(self.oldest, mm["min"])
                self.newest = mm["max"] if self.newest is None else max(self.newest, mm["max"])
        if self.probes:
            heap = self._heap
            for i, mem_id in enumerate(batch.column("id").to_pylist()):
                k = _probe_key(mem_id)
                if len(heap) < self.probes:
                    heapq.heappush(heap, _Rev(k, mem_id, start + i))
                elif k < heap[0].key:
                    heapq.heapreplace(heap, _Rev(k, mem_id, start + i))
        if self.probe_query and len(self.matches) < self.query_limit:
            mask = pc.match_substring(batch.column("text"), self.probe_query, ignore_case=True)
            ids = batch.column("id")
            for i in pc.indices_nonzero(mask).to_pylist()[: self.query_limit - len(self.matches)]:
                self.matches.append((ids[i].as_py(), start + i))

    def result(self, ds):
        """total, by_category/by_agent/by_scope (None when the column is absent), oldest, newest, probes."""
        probes = sorted(self._heap, key=lambda r: r.key)
        out = {
            "total": self.total,
            "by_category": self.counts.get("by_category"),
            "by_agent": self.counts.get("by_agent"),
            "by_scope": self.counts.get("by_scope"),
            "oldest": iso_utc(self.oldest),
            "newest": iso_utc(self.newest),
            "probes": fetch_memories(ds, [r.mem_id for r in probes], [r.offset for r in probes]),
        }
        if self.probe_query is not None:
            out["query_matches"] = fetch_memories(ds, [m[0] for m in self.matches], [m[1] for m in self.matches])
        return out


def coalesced(batches, rows):
    """The record batches regrouped into pyarrow Tables of at least `rows` rows (the last may hold fewer).

    A plugin-made table yields one one-row batch per fragment, and per-batch Python work (pyarrow
    compute calls, to_pylist) then costs more than the reading itself. Grouping copies nothing.
    """
    buf, n = [], 0
    for batch in batches:
        if not batch.num_rows:
            continue
        buf.append(batch)
        n += batch.num_rows
        if n >= rows:
            yield pa.Table.from_batches(buf)
            buf, n = [], 0
    if buf:
        yield pa.Table.from_batches(buf)


def memory_stats(ds, probes=3, probe_query=None, query_limit=20):
    """Counts and spot-check probes of a `memories`-like table, streaming only needed columns.

    Returns total, by_category, by_agent, by_scope (None when the column is
    absent), oldest, newest (ISO 8601 UTC), probes and query_matches. Probes
    are the `probes` rows with the smallest sha256(id): deterministic and
    stable between runs. Never loads the table into memory.
    """
    scan = StatsScan(ds.schema.names, probes, probe_query, query_limit)
    batches = ds.to_batches(columns=scan.columns, batch_size=65536, fragment_readahead=FRAGMENT_READAHEAD)
    for chunk in coalesced(batches, GROUP_ROWS):
        scan.add(chunk)
    out = scan.result(ds)
    if probe_query is not None and "query_matches" not in out:
        out["query_matches"] = []
    return out


# --------------------------------------------------------------------------- counts fragment by fragment

FRAGMENT_COUNTS_FORMAT = "openclaw.memory/fragment-counts-v1"
FRAGMENT_FIELDS = ("id", "files", "deletion", "rows", "oldest", "newest", "counts", "probes")


def fragment_stats(ds, probes=3, previous=None, fragments=None):
    """`memory_stats(ds, probes)` counted fragment by fragment, reusing `previous` for fragments that did not change.

    Lance never rewrites a file, so a fragment with the same id, data files and deletion file as one in
    `previous` (the `record` of an earlier call, for an earlier version of this table or a copy of it)
    holds the same live rows: its counts, oldest/newest and probe candidates are taken from there and only
    the other fragments are read. The caller passes only entries that describe the same bytes (a snapshot
    passes the fragments whose files it hard-linked from the snapshot the record belongs to).
    Probes stay exact: each fragment keeps its own `probes` smallest sha256(id) rows with their offsets
    among its live rows; the table's probes are the smallest of those, at the fragment's start offset plus
    that offset (the row offsets `fetch_memories` takes, as in memory_stats).
    `fragments`: `fragment_list(ds)` when the caller has it.

    Returns (stats, record, info): stats as memory_stats returns them; record, a JSON-ready dict to pass
    as `previous` next time (None when a value cannot round-trip through JSON); info {fragments, reused,
    counted, probe_offsets (the probes' row offsets, in the order of stats["probes"])}.
    """
    return FragmentCounts(ds.schema, probes, previous, fragment_list(ds) if fragments is None else fragments).result(ds)


class FragmentCounts:
    """fragment_stats in two steps: plan (`todo`, the fragment ids to read, in table order), then `result(ds)`."""

    def __init__(self, schema, probes, previous, fragments):
        self.scan = StatsScan(schema.names, probes)
        self.columns = {c: str(schema.field(c).type) for c in self.scan.columns}
        self.frags = fragments
        self.previous = previous
        known = _known_fragments(previous, self.scan, self.columns)
        self.entries = {}  # fragment id: [rows, oldest, newest, counts, probes] (FRAGMENT_FIELDS[3:])
        self.todo = []
        for fid, files, dele in fragments:
            hit = known.get((fid, tuple(files), dele))
            if hit is None:
                self.todo.append(fid)
            else:
                self.entries[fid] = hit
        self.counted = {}

    def result(self, ds):
        """What fragment_stats returns: reads the fragments to read, adds up every fragment."""
        if self.todo:
            whole = len(self.todo) == len(self.frags)
            self.counted = _count_fragments(ds, self.scan, None if whole else self.todo)
        try:
            return self._merge(ds)
        except (TypeError, ValueError, KeyError, IndexError):
            if len(self.todo) == len(self.frags):
                raise
            # A reused entry that does not hold what it should (a damaged record): count everything.
            return fragment_stats(ds, self.scan.probes, None, self.frags)

    def _merge(self, ds):
        scan, frags, entries, todo = self.scan, self.frags, dict(self.entries), self.todo
        entries.update(self.counted)
        heap = []
        start = 0
        for fid, _files, _dele in frags:
            e = entries.get(fid)
            if e is None:  # no live rows
                e = entries[fid] = _new_entry(scan)
            rows, oldest, newest, counts, cands = e
            for mem_id, local in cands[:scan.probes]:
                k = _probe_key(mem_id)
                if len(heap) < scan.probes:
                    heapq.heappush(heap, _Rev(k, mem_id, start + local))
                elif k < heap[0].key:
                    heapq.heapreplace(heap, _Rev(k, mem_id, start + local))
            start += rows
            for key, bucket in counts.items():
                total = scan.counts[key]
                for v, n in bucket.items():
                    total[v] = total.get(v, 0) + n
            if oldest is not None:
                scan.oldest = oldest if scan.oldest is None else min(scan.oldest, oldest)
                scan.newest = newest if scan.newest is None else max(scan.newest, newest)
        if len(todo) < len(frags) and start != ds.count_rows():
            raise ValueError("reused entries do not add up to the table's %d rows" % ds.count_rows())
        scan.total = start
        scan._heap = heap
        record = None
        if all(_recordable(e) for e in self.counted.values()):
            record = {
                "format": FRAGMENT_COUNTS_FORMAT,
                "columns": self.columns,
                "probes": scan.probes,
                "fields": list(FRAGMENT_FIELDS),
                "fragments": [[fid, list(files), dele] + list(entries[fid]) for fid, files, dele in frags],
            }
        info = {"fragments": len(frags), "reused": len(frags) - len(todo), "counted": len(todo),
                "probe_offsets": [r.offset for r in sorted(heap, key=lambda r: r.key)]}
        stats = scan.result(ds)
        if len(todo) < len(frags) and len(stats["probes"]) != len(heap):
            raise ValueError("a reused probe row is not in the table")
        return stats, record, info


def _new_entry(scan):
    return [0, None, None, {key: {} for key, _col in scan.groups}, []]


def _count_fragments(ds, scan, fids):
    """{fragment id: entry} for the fragments `fids` (None: every fragment), in one ordered scan."""
    kw = {}
    if fids is not None:
        kw["fragments"] = [ds.get_fragment(fid) for fid in fids]
    scanner = ds.scanner(columns=scan.columns, with_row_address=True, batch_size=65536, scan_in_order=True,
                         fragment_readahead=FRAGMENT_READAHEAD, **kw)
    out = {}
    heaps = {}
    seen = {}
    aggs = [("_frag", "count")] + ([(scan.created, "min"), (scan.created, "max")] if scan.created else [])
    for chunk in coalesced(scanner.to_batches(), GROUP_ROWS):
        t = chunk.combine_chunks()
        frag = pc.shift_right(t.column("_rowaddr"), 32).cast(pa.int64())
        t = t.append_column("_frag", frag)
        g = t.group_by("_frag", use_threads=False).aggregate(aggs)
        cols = [g.column("_frag").to_pylist(), g.column("_frag_count").to_pylist()]
        if scan.created:
            cols += [g.column(scan.created + "_min").to_pylist(), g.column(scan.created + "_max").to_pylist()]
        for i, fid in enumerate(cols[0]):
            e = out.get(fid)
            if e is None:
                e = out[fid] = _new_entry(scan)
                heaps[fid] = []
            e[0] += cols[1][i]
            if scan.created and cols[2][i] is not None:
                e[1] = cols[2][i] if e[1] is None else min(e[1], cols[2][i])
                e[2] = cols[3][i] if e[2] is None else max(e[2], cols[3][i])
        for key, col in scan.groups:
            g = t.group_by(["_frag", col], use_threads=False).aggregate([("_frag", "count")])
            for fid, v, n in zip(g.column("_frag").to_pylist(), g.column(col).to_pylist(),
                                 g.column("_frag_count").to_pylist(), strict=True):
                bucket = out[fid][3][key]
                v = v if v is not None else "(none)"
                bucket[v] = bucket.get(v, 0) + n
        if scan.probes:
            for fid, mem_id in zip(frag.to_pylist(), t.column("id").to_pylist(), strict=True):
                # Rows of a fragment come in order (ordered scan): the row's offset among its live rows.
                local = seen.get(fid, 0)
                seen[fid] = local + 1
                k = _probe_key(mem_id)
                heap = heaps[fid]
                if len(heap) < scan.probes:
                    heapq.heappush(heap, _Rev(k, mem_id, local))
                elif k < heap[0].key:
                    heapq.heapreplace(heap, _Rev(k, mem_id, local))
    for fid, heap in heaps.items():
        out[fid][4] = [[r.mem_id, r.offset] for r in sorted(heap, key=lambda r: r.key)]
    return out


def _known_fragments(previous, scan, columns):
    """{(id, files, deletion): entry} of a previous record that counted the same columns, else {}.

    An entry of an unexpected shape (a damaged record) makes the whole record unusable; what this cheap check
    lets through fails the checks in FragmentCounts.result, which then counts every fragment.
    """
    if not isinstance(previous, dict) or previous.get("format") != FRAGMENT_COUNTS_FORMAT:
        return {}
    if previous.get("columns") != columns or previous.get("fields") != list(FRAGMENT_FIELDS):
        return {}
    if not isinstance(previous.get("probes"), int) or previous["probes"] < scan.probes:
        return {}
    groups = {key for key, _col in scan.groups}
    out = {}
    try:
        for item in previous.get("fragments") or []:
            fid, files, dele, rows, _oldest, _newest, counts, cands = item
            # type(), not isinstance(): exact JSON types (a bool is no row count), checked 5,000 times
            if not (type(rows) is int and type(counts) is dict  # noqa: E721  # pylint: disable=unidiomatic-typecheck
                    and counts.keys() == groups
                    and type(cands) is list):  # noqa: E721  # pylint: disable=unidiomatic-typecheck
                return {}
            out[(fid, tuple(files), dele)] = item[3:]
    except (TypeError, ValueError):
        return {}
    return out


def _is_time(v):
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _recordable(entry):
    """True when an entry survives JSON unchanged (str group values and ids, numeric times)."""
    _rows, oldest, newest, counts, cands = entry
    if not (_is_time(oldest) and _is_time(newest)):
        return False
    if not all(isinstance(v, str) for bucket in counts.values() for v in bucket):
        return False
    return all(isinstance(c[0], str) for c in cands)


class _Rev:
    """Heap item ordered so the heap top is the largest key (we keep the smallest)."""

    __slots__ = ("key", "mem_id", "offset")

    def __init__(self, key, mem_id, offset=None):
        self.key = key
        self.mem_id = mem_id
        self.offset = offset

    def __lt__(self, other):
        return self.key > other.key


def fetch_memories(ds, ids, offsets=None):
    """Rows for `ids` (in that order) as dicts: id, text, category, importance, created, agent/scope.

    `offsets`: the rows' positions in the table when known (from a scan): read with take(), which
    touches only their fragments, instead of a filtered pass over every fragment (a plugin-made table
    has one per memory). The ids read there must be the ids asked for, else the filter decides.
    """
    if not ids:
        return []
    names = ds.schema.names
    created = created_column(names)
    want = [c for c in ("id", "text", "category", "importance", created, "agentId", "scope") if c and c in names]
    rows = {}
    if offsets is not None and None not in offsets:
        try:
            taken = ds.take(list(offsets), columns=want).to_pylist()
        except Exception:  # noqa: BLE001 - offsets out of range (table changed since the scan): filter instead
            taken = []
        if [r["id"] for r in taken] == list(ids):
            rows = {r["id"]: r for r in taken}
    if not rows:
        flt = "id IN (%s)" % ", ".join(_quote(i) for i in ids)
        found = ds.to_table(columns=want, filter=flt, fragment_readahead=FRAGMENT_READAHEAD)
        rows = {r["id"]: r for r in found.to_pylist()}
    out = []
    for mem_id in ids:
        r = rows.get(mem_id)
        if r is None:
            continue
        item = {
            "id": r["id"],
            "text": r.get("text"),
            "category": r.get("category"),
            "importance": r.get("importance"),
            "created": iso_utc(r.get(created)) if created else None,
        }
        if "agentId" in r:
            item["agent_id"] = r["agentId"]
        if "scope" in r:
            item["scope"] = r["scope"]
        out.append(item)
    return out


def missing_files_text(table_dir, version, ref):
    """'Lance table ... is damaged: ...' naming the files version `version` needs that are gone (`ref`: a
    `referenced_stat` with missing files); the callers append what to do (VERIFY_HINT)."""
    missing = ref["missing"]
    named = ", ".join(missing[:MISSING_LISTED])
    if len(missing) > MISSING_LISTED:
        named += " and %d more" % (len(missing) - MISSING_LISTED)
    return "Lance table '%s' is damaged: %d of the %d files its version %s needs %s missing: %s" % (
        table_dir, len(missing), ref["files"], version, "is" if len(missing) == 1 else "are", named)


def check_probes(probes):
    """Raise unless `probes` (how many spot-check memories to pick) is a whole number >= 0."""
    if isinstance(probes, bool) or not isinstance(probes, int) or probes < 0:
        raise MemoryToolError("probes=%r is invalid: probes must be 0 or more (how many spot-check memories to "
                              "record; 0 records none)" % (probes,))


def referenced_bytes(ds, table_dir):
    """Bytes of the files the version `ds` references (what a snapshot copies)."""
    return referenced_stat(ds, table_dir)["bytes"]


def referenced_stat(ds, table_dir):
    """dict(bytes, files, missing): the files the version `ds` references; `missing` lists absent ones."""
    total = 0
    rels = version_files(ds, table_dir)
    missing = []
    for rel in rels:
        try:
            total += os.path.getsize(os.path.join(table_dir, rel))
        except FileNotFoundError:
            missing.append(rel)
    return {"bytes": total, "files": len(rels), "missing": missing}
