# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Portable export and import of a LanceDB memory table, for Lance versions that cannot read each other's files.

Plain functions, no Ansible: the `lance_export` and `lance_import` modules call
`export_table()` and `import_table()`.

Export (`export_table`): the table is pinned at its latest version and streamed
with `to_batches` (bounded batches, never the whole table in memory) into one
file beside which `<file>.manifest.json` records what it holds:
  jsonl    one JSON object per row, every column but the vectors, under the
           table's own column names and values as stored (epoch-ms floats,
           memory-lancedb-pro's `metadata` as its JSON string): for people,
           audits and re-embedding elsewhere; it cannot rebuild a memory table;
  parquet  every column, vectors included, with the exact Arrow schema;
  arrow    the same as an Arrow IPC stream.
The file is written to a hidden temp file beside it (0600) and renamed; the
database is only read.

Import (`import_table`): a parquet or arrow export is checked against its
manifest (sha256 first), written with pylance into a hidden staging dir beside
the target (`<path>/.<table>.lance.importing-<UTC>`) at the chosen Lance
`data_storage_version`, verified (rows, the set of ids, schema, vector dim,
storage version, and opened and read with lancedb) and only then renamed
to `<path>/<table>.lance`. An existing table is moved aside to
`<table>.lance.pre-import-<UTC>`, never deleted, and only with `replace`.
`<path>/.<table>.lance.import.json` records which export (sha256) made which
table version, so a re-run with the same export changes nothing.

The set of ids is compared as an order-independent hash: the sum modulo 2**256
of sha256(id) over every row (`IdsHash`), computed while streaming.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import re
import shutil
import time

from ansible_collections.openclaw.memory.plugins.module_utils.common import (
    MemoryToolError,
    WaitLock,
    free_name,
    fsync_dir,
    is_within,
    iso_utc,
    make_option_dir,
    remove_made,
    sha256_file,
    utc_now_name,
    write_json_atomic,
)
from ansible_collections.openclaw.memory.plugins.module_utils.lance import (
    FRAGMENT_READAHEAD,
    GROUP_ROWS,
    U64_MAX,
    check_db_dir,
    coalesced,
    error_text,
    is_table_dir,
    lib_versions,
    manifest_relpath,
    open_table,
    pa,
    require_lance,
    table_info,
)
from ansible_collections.openclaw.memory.plugins.module_utils.plugins import TABLE
from ansible_collections.openclaw.memory.plugins.module_utils.restore import default_owner

KIND = "openclaw.memory/export-v1"
FORMATS = ("jsonl", "parquet", "arrow")
VECTOR_FORMATS = ("parquet", "arrow")
MANIFEST_SUFFIX = ".manifest.json"
# What pylance writes as a stable format (2.3 / next are experimental: refused).
STORAGE_VERSIONS = ("legacy", "0.1", "2.0", "2.1", "2.2", "stable")
REQUIRED_COLUMNS = ("id", "text", "vector")
STAGING_TAG = ".importing-"
ASIDE_TAG = ".pre-import-"
MARKER_SUFFIX = ".import.json"
MARKER_KIND = "openclaw.memory/import-v1"
BATCH_ROWS = GROUP_ROWS  # rows per unit of work: 4096 rows of 1536-dim vectors are ~25 MB
READAHEAD_ROWS = 4 * BATCH_ROWS
DIR_MODE = 0o700
FILE_MODE = 0o600
_MOD = 1 << 256
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class IdsHash:
    """Order-independent hash of a multiset of ids: sum of sha256(id) modulo 2**256, plus the count."""

    def __init__(self):
        self.total = 0
        self.count = 0

    def add(self, ids):
        total = self.total
        for mem_id in ids:
            data = b"\xff" if mem_id is None else str(mem_id).encode("utf-8")
            total += int.from_bytes(hashlib.sha256(data).digest(), "big")
        self.total = total % _MOD
        self.count += len(ids)

    def hexdigest(self):
        return "%064x" % self.total


def manifest_path(data_file):
    """Where the manifest of an export file lives: `<file>.manifest.json`."""
    return data_file + MANIFEST_SUFFIX


def _abs(path):
    return os.path.abspath(os.path.expanduser(path)) if path else path


def pick_table(tables, table, path):
    """The table to export: `table`, else `memories`, else the only table (as lance_verify picks it)."""
    if table:
        if table not in tables:
            raise MemoryToolError(
                "Table '%s' is not in '%s' (it holds: %s); set table to one of those"
                % (table, path, ", ".join(sorted(tables))))
        return table
    if TABLE in tables:
        return TABLE
    if len(tables) == 1:
        return next(iter(tables))
    raise MemoryToolError(
        "'%s' holds no '%s' table but several others (%s); set table to the one to export"
        % (path, TABLE, ", ".join(sorted(tables))))


def _vector_columns(schema):
    return [f.name for f in schema if pa.types.is_fixed_size_list(f.type)]


def _manifest_naming(table_dir, version):
    return "v2" if manifest_relpath(table_dir, version) == "_versions/%020d.manifest" % (U64_MAX - version) else "v1"


def _schema_b64(schema):
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def _schema_from_b64(text, where):
    try:
        return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))
    except Exception as e:  # noqa: BLE001 - a damaged field
        raise MemoryToolError("%s: arrow_schema cannot be decoded (%s); export the table again" % (where, e))


def _json_default(value):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


# --------------------------------------------------------------------------- export


def _check_export_inputs(path, dest, fmt, vectors):
    if fmt not in FORMATS:
        raise MemoryToolError("format='%s' is invalid: use one of %s" % (fmt, ", ".join(FORMATS)))
    if vectors is None:
        vectors = fmt in VECTOR_FORMATS
    if vectors and fmt not in VECTOR_FORMATS:
        raise MemoryToolError(
            "vectors=true needs format: parquet or format: arrow; format: jsonl holds no vectors "
            "(set format: parquet to keep them, or drop vectors)")
    tables = check_db_dir(path, "; set path to the memory plugin's dbPath or a snapshot directory")
    if is_within(dest, path):
        raise MemoryToolError(
            "dest '%s' is inside the database '%s': an export is never written into the database; "
            "choose a dest outside it" % (dest, path))
    if os.path.isdir(dest):
        raise MemoryToolError(
            "dest '%s' is a directory; give the export file's path, for example '%s'"
            % (dest, os.path.join(dest, TABLE + "." + ("arrows" if fmt == "arrow" else fmt))))
    return tables, bool(vectors)


def read_manifest(path, what="Manifest"):
    """A manifest written by export_table, checked; raises MemoryToolError naming the problem and the fix."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise MemoryToolError(
            "%s '%s' does not exist; lance_export writes it next to the export file as <file>%s: copy it "
            "along with the file, or pass manifest" % (what, path, MANIFEST_SUFFIX))
    except OSError as e:
        raise MemoryToolError("%s '%s' cannot be read: %s" % (what, path, e.strerror or e))
    except ValueError as e:
        raise MemoryToolError("%s '%s' is not valid JSON (%s); copy it again from the export host" % (what, path, e))
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise MemoryToolError(
            "%s '%s' is not a lance_export manifest (no kind: %s); pass the <file>%s that lance_export wrote"
            % (what, path, KIND, MANIFEST_SUFFIX))
    missing = [k for k in ("format", "table", "rows", "sha256", "bytes", "columns") if k not in data]
    if missing:
        raise MemoryToolError("%s '%s' lacks %s; export the table again" % (what, path, ", ".join(missing)))
    if data["format"] not in FORMATS:
        raise MemoryToolError("%s '%s' names format '%s', not one of %s; export the table again"
                              % (what, path, data["format"], ", ".join(FORMATS)))
    return data


def _quiet_manifest(path):
    try:
        return read_manifest(path)
    except MemoryToolError:
        return None


def _identity(meta):
    src = meta.get("source") or {}
    return (src.get("path"), meta.get("table"), src.get("version"), src.get("manifest_sha256"), meta.get("format"),
            meta.get("vectors"))


def _unchanged(dest, old, new_meta):
    """True when `dest` already holds this export: same source version, options, and the file matches its sums."""
    if old is None or _identity(old) != _identity(new_meta):
        return False
    try:
        if os.path.getsize(dest) != old["bytes"]:
            return False
        return sha256_file(dest) == old["sha256"]
    except OSError:
        return False


def export_table(path, dest, table=None, fmt="jsonl", vectors=None, check_mode=False, now=None):
    """Export one table of the database `path` to the file `dest` (+ `<dest>.manifest.json`).

    Returns the `lance_export` result: changed, file, manifest, format, vectors, table, version, rows, bytes,
    sha256, ids_hash, vector_dim, data_storage_version, columns, duration_s. Check mode writes nothing.
    Raises MemoryToolError on bad input, after removing its temp file.
    """
    started = time.monotonic()
    require_lance()
    path, dest = _abs(path), _abs(dest)
    tables, vectors = _check_export_inputs(path, dest, fmt, vectors)
    name = pick_table(tables, table, path)
    table_dir = tables[name]
    ds = open_table(table_dir)  # pinned: every read below is of this version
    info = table_info(ds)
    vec_cols = _vector_columns(ds.schema)
    columns = [f.name for f in ds.schema if vectors or f.name not in vec_cols]
    out_schema = pa.schema([ds.schema.field(c) for c in columns], metadata=ds.schema.metadata)
    mpath = manifest_path(dest)
    meta = {
        "kind": KIND,
        "format": fmt,
        "vectors": vectors,
        "table": name,
        "file": os.path.basename(dest),
        "source": {
            "path": os.path.realpath(path),
            "version": ds.version,
            "rows": info["rows"],
            "data_storage_version": info["data_storage_version"],
            "manifest_naming": _manifest_naming(table_dir, ds.version),
            "manifest_sha256": sha256_file(os.path.join(table_dir, manifest_relpath(table_dir, ds.version))),
            "columns": info["columns"],
            "indices": info["indices"],
        },
        "columns": [{"name": f.name, "type": str(f.type)} for f in out_schema],
        "schema": str(out_schema),
        "arrow_schema": _schema_b64(out_schema),
        "vector_dim": info["vector_dim"] if vectors else None,
        "source_vector_dim": info["vector_dim"],
    }
    old = _quiet_manifest(mpath)
    result = {"file": dest, "manifest": mpath, "format": fmt, "vectors": vectors, "table": name,
              "version": ds.version, "vector_dim": meta["vector_dim"],
              "data_storage_version": info["data_storage_version"], "columns": columns}
    if _unchanged(dest, old, meta):
        result.update(changed=False, rows=old["rows"], bytes=old["bytes"], sha256=old["sha256"],
                      ids_hash=old.get("ids_hash"))
    elif check_mode:
        result.update(changed=True, rows=info["rows"], bytes=None, sha256=None, ids_hash=None)
    else:
        written = _write_export(ds, dest, mpath, fmt, columns, out_schema)
        now_epoch = time.time() if now is None else float(now)
        meta.update(written, created=iso_utc(now_epoch * 1000), created_epoch=now_epoch, libraries=lib_versions())
        write_json_atomic(mpath, meta, FILE_MODE)
        fsync_dir(os.path.dirname(dest), missing_ok=True)
        result.update(changed=True, **written)
    result["duration_s"] = round(time.monotonic() - started, 3)
    return result


def _write_export(ds, dest, mpath, fmt, columns, out_schema):
    """Stream the pinned table into a temp file beside dest, rename it; returns rows, bytes, sha256, ids_hash.

    dest's directory is created when missing, and removed again (what was created of it) when the export fails.
    """
    parent = os.path.dirname(dest)
    made = make_option_dir(parent, DIR_MODE, os.geteuid(), os.getegid(), "dest", "dest's directory")
    try:
        return _stream_export(ds, dest, mpath, fmt, columns, out_schema, parent)
    except BaseException:
        remove_made(made)
        raise


def _stream_export(ds, dest, mpath, fmt, columns, out_schema, parent):
    prefix = ".%s.tmp-" % os.path.basename(dest)
    for entry in os.listdir(parent):  # what a killed run left (one export per dest at a time)
        if entry.startswith(prefix) and os.path.isfile(os.path.join(parent, entry)):
            os.unlink(os.path.join(parent, entry))
    tmp = os.path.join(parent, "%s%d" % (prefix, os.getpid()))
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE))
    except OSError as e:
        raise MemoryToolError("dest's directory '%s' is not writable (%s); fix its owner/mode or use become"
                              % (parent, e.strerror or e))
    try:
        os.chmod(tmp, FILE_MODE)
        ids = IdsHash()
        batches = ds.to_batches(columns=columns, batch_size=BATCH_ROWS, fragment_readahead=_readahead(ds))
        chunks = _counted(coalesced(batches, BATCH_ROWS), ids, "id" in columns)
        WRITERS[fmt](tmp, chunks, out_schema)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        out = {"rows": ids.count, "bytes": os.path.getsize(tmp), "sha256": sha256_file(tmp),
               "ids_hash": ids.hexdigest() if "id" in columns else None}
        # A data file without a manifest is never taken for a complete export.
        if os.path.lexists(mpath):
            os.unlink(mpath)
        os.replace(tmp, dest)
    except BaseException as e:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        if isinstance(e, MemoryToolError) or not isinstance(e, Exception):
            raise
        what = e.strerror if isinstance(e, OSError) and e.strerror else error_text(e)
        raise MemoryToolError("Exporting table '%s' to '%s' failed: %s; nothing was written (the database was only "
                              "read)" % (ds.uri, dest, what))
    return out


def _readahead(ds):
    """Fragments read ahead: FRAGMENT_READAHEAD for plugin-made tables (one row per fragment), fewer when a
    fragment is big, so that at most about READAHEAD_ROWS rows wait for a slower writer whatever the layout."""
    biggest = max((getattr(f.metadata, "physical_rows", None) or 1 for f in ds.get_fragments()), default=1)
    return max(1, min(FRAGMENT_READAHEAD, READAHEAD_ROWS // biggest))


def _counted(chunks, ids, has_id):
    for chunk in chunks:
        if has_id:
            ids.add(chunk.column("id").to_pylist())
        else:
            ids.count += chunk.num_rows
        yield chunk


def _write_jsonl(path, chunks, _schema):
    with open(path, "w", encoding="utf-8") as f:
        for chunk in chunks:
            f.write("".join(json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=_json_default) + "\n"
                            for row in chunk.to_pylist()))


def _write_parquet(path, chunks, schema):
    import pyarrow.parquet as pq

    # use_compliant_nested_type=False keeps the list child's name (`item`): the imported schema equals the source's.
    with pq.ParquetWriter(path, schema, use_compliant_nested_type=False) as writer:
        for chunk in chunks:
            writer.write_table(chunk.cast(schema), row_group_size=BATCH_ROWS)


def _write_arrow(path, chunks, schema):
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for chunk in chunks:
            writer.write_table(chunk.cast(schema).combine_chunks(), max_chunksize=BATCH_ROWS)


WRITERS = {"jsonl": _write_jsonl, "parquet": _write_parquet, "arrow": _write_arrow}


# --------------------------------------------------------------------------- reading an export


def check_jsonl(src, columns=("id", "text")):
    """Stream a JSONL export: each line a JSON object holding `columns`. Returns an IdsHash of its ids.

    Errors name the line number; no memory text is ever quoted (it may hold secrets).
    """
    ids = IdsHash()
    with open(src, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line:
                raise MemoryToolError("'%s' line %d is empty; a JSONL export holds one JSON object per line: "
                                      "the file was edited or damaged, export it again" % (src, lineno))
            try:
                obj = json.loads(line)
            except UnicodeDecodeError as e:
                raise MemoryToolError("'%s' line %d is not UTF-8 (byte %d); the file was damaged, export it again"
                                      % (src, lineno, e.start + 1))
            except ValueError as e:
                raise MemoryToolError("'%s' line %d is not valid JSON (column %d: %s); the file was edited or "
                                      "damaged, export it again" % (src, lineno, e.colno, e.msg))
            if not isinstance(obj, dict):
                raise MemoryToolError("'%s' line %d holds a JSON %s, not an object with %s; export it again"
                                      % (src, lineno, type(obj).__name__, ", ".join(columns)))
            missing = [c for c in columns if c not in obj]
            if missing:
                raise MemoryToolError("'%s' line %d lacks the column(s) %s; export it again"
                                      % (src, lineno, ", ".join(missing)))
            ids.add([obj.get("id")])
    return ids


def _file_schema(src, fmt):
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(src).schema_arrow
        with pa.OSFile(src, "rb") as f:
            return pa.ipc.open_stream(f).schema
    except Exception as e:  # noqa: BLE001 - pyarrow raises ArrowInvalid and others
        raise MemoryToolError("'%s' cannot be read as %s: %s; export the table again" % (src, fmt, error_text(e)))


def _file_batches(src, fmt, schema):
    """Record batches of the export file, cast to `schema` (bounded size)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        # No pre-buffering: with it pyarrow reads row groups ahead and memory grows with the file.
        pf = pq.ParquetFile(src, pre_buffer=False, buffer_size=1 << 20)
        try:
            for batch in pf.iter_batches(batch_size=BATCH_ROWS):
                yield batch.cast(schema)
        finally:
            pf.close()
        return
    with pa.OSFile(src, "rb") as f:
        for batch in pa.ipc.open_stream(f):
            yield batch.cast(schema)


def _check_columns(src, schema):
    missing = [c for c in REQUIRED_COLUMNS if c not in schema.names]
    if missing:
        hint = (" (it was exported with vectors: false; export again with format: parquet and vectors: true)"
                if missing == ["vector"] else "")
        raise MemoryToolError("'%s' lacks the column(s) %s that a memory table needs (it has: %s)%s"
                              % (src, ", ".join(missing), ", ".join(schema.names), hint))
    vtype = schema.field("vector").type
    if not (pa.types.is_fixed_size_list(vtype) and pa.types.is_floating(vtype.value_type)):
        raise MemoryToolError("'%s' column vector is %s, not a fixed-size list of floats as LanceDB memory tables "
                              "store it; export the table again" % (src, vtype))
    return vtype.list_size


# --------------------------------------------------------------------------- import


def _storage_version(value, meta, mpath):
    """The storage version to write: the option, else the source's as the manifest `mpath` records it."""
    readers = "(pylance 0.16 reads only 2.0, 0.38 reads 2.0-2.1, 9.x and later read all)"
    if value in (None, ""):
        value = (meta.get("source") or {}).get("data_storage_version")
        if value in (None, ""):
            return None
        if str(value) not in STORAGE_VERSIONS:
            raise MemoryToolError(
                "Manifest '%s' records source.data_storage_version '%s', which is not a stable Lance format this "
                "module writes; set the option data_storage_version to one of %s %s, or pass the manifest "
                "lance_export wrote" % (mpath, value, ", ".join(STORAGE_VERSIONS), readers))
    value = str(value)
    if value not in STORAGE_VERSIONS:
        raise MemoryToolError("data_storage_version='%s' is not a stable Lance format this module writes; use one "
                              "of %s %s" % (value, ", ".join(STORAGE_VERSIONS), readers))
    return value


def _concrete(dsv):
    """The storage version a value writes, where it is fixed ('legacy' -> '0.1'); None for 'stable'/default."""
    if dsv == "legacy":
        return "0.1"
    return dsv if dsv not in (None, "stable") else None


def marker_path(path, name):
    """The record of what was imported into `<path>/<name>.lance`: `<path>/.<name>.lance.import.json`."""
    return os.path.join(path, ".%s.lance%s" % (name, MARKER_SUFFIX))


def _lance_manifest_sha(ds, table_dir):
    return sha256_file(os.path.join(table_dir, manifest_relpath(table_dir, ds.version)))


def _target_state(target, marker, meta, dsv):
    """'absent', 'same' or the reason the table differs.

    'same': the marker says this export (same sha256) was imported there, and the table is still at the version
    (and Lance manifest) the import made, in the requested storage version.
    """
    if not os.path.lexists(target):
        return "absent"
    try:
        ds = open_table(target)
    except MemoryToolError as e:
        return "it does not open: %s" % e.msg
    try:
        with open(marker, encoding="utf-8") as f:
            rec = json.load(f)
    except (OSError, ValueError):
        rec = None
    if not isinstance(rec, dict) or rec.get("kind") != MARKER_KIND or rec.get("export_sha256") != meta["sha256"]:
        return "it was not imported from this export"
    if rec.get("table_version") != ds.version or rec.get("manifest_sha256") != _lance_manifest_sha(ds, target):
        return "it changed since it was imported from this export (version %d, the import made version %s)" % (
            ds.version, rec.get("table_version"))
    want = _concrete(dsv)
    if want and str(ds.data_storage_version) != want:
        return "it is data_storage_version %s, not %s" % (ds.data_storage_version, want)
    return "same"


def _ids_of(ds):
    ids = IdsHash()
    for batch in ds.to_batches(columns=["id"], batch_size=65536, fragment_readahead=FRAGMENT_READAHEAD):
        ids.add(batch.column("id").to_pylist())
    return ids


def _check_import_inputs(src, path, table, vector_dim):
    if not os.path.exists(src):
        raise MemoryToolError("src '%s' does not exist; copy the export file (and its manifest) to this host first"
                              % src)
    if not os.path.isfile(src):
        raise MemoryToolError("src '%s' is not a file; pass the export file lance_export wrote" % src)
    if table is not None and (not _TABLE_NAME.match(table) or table.endswith(".lance")):
        raise MemoryToolError("table '%s' is invalid: a table name is letters, digits and _.- without the .lance "
                              "suffix, for example '%s'" % (table, TABLE))
    if vector_dim is not None and int(vector_dim) < 1:
        raise MemoryToolError("vector_dim=%s is invalid: give the target's embedding dimensions, for example 1536"
                              % vector_dim)
    if os.path.exists(path) and not os.path.isdir(path):
        raise MemoryToolError("path '%s' is a file; path is the database directory the table is imported into" % path)
    if os.path.isdir(path) and is_table_dir(path):
        raise MemoryToolError("path '%s' is a single Lance table, not a database directory; pass its parent '%s'"
                              % (path, os.path.dirname(path.rstrip("/"))))
    if is_within(src, path):
        raise MemoryToolError("src '%s' is inside the target database '%s'; keep export files outside it"
                              % (src, path))


def import_table(src, path, manifest=None, table=None, data_storage_version=None, vector_dim=None, replace=False,
                 owner=None, group=None, check_mode=False, now=None, lock_timeout=60):
    """Import a parquet/arrow export into `<path>/<table>.lance`; see the lance_import module docs.

    Returns dict(changed, state, table, db_path, table_path, rows, vector_dim, data_storage_version, version,
    format, src, manifest, aside, cleaned, verify, source, warnings, duration_s); state is imported, same,
    would_import or would_replace. Raises MemoryToolError with the reason; nothing that looks complete is left.
    """
    started = time.monotonic()
    require_lance()
    src, path = _abs(src), _abs(path)
    mpath = _abs(manifest) if manifest else manifest_path(src)
    _check_import_inputs(src, path, table, vector_dim)
    meta = read_manifest(mpath)
    name = table or meta["table"]
    if not _TABLE_NAME.match(name):
        raise MemoryToolError("Manifest '%s' names table '%s', which is not a table name; set table" % (mpath, name))
    dsv = _storage_version(data_storage_version, meta, mpath)
    fmt = meta["format"]
    size = os.path.getsize(src)
    if size != meta["bytes"]:
        raise MemoryToolError("'%s' has %d bytes but its manifest '%s' says %d: the copy is incomplete or another "
                              "file; copy it again" % (src, size, mpath, meta["bytes"]))
    sha = sha256_file(src)
    if sha != meta["sha256"]:
        raise MemoryToolError("'%s' does not match its manifest '%s': sha256 %s, expected %s; the copy is damaged, "
                              "copy it again" % (src, mpath, sha, meta["sha256"]))
    if fmt == "jsonl":
        ids = check_jsonl(src, [c["name"] for c in meta["columns"]] or ("id", "text"))
        if ids.count != meta["rows"] or ids.hexdigest() != meta.get("ids_hash"):
            raise MemoryToolError("'%s' holds %d rows whose ids do not match its manifest '%s' (%d rows); export "
                                  "the table again" % (src, ids.count, mpath, meta["rows"]))
        raise MemoryToolError(
            "'%s' is a JSONL export (format: jsonl, %d rows, intact): it holds no vectors, so it cannot rebuild a "
            "memory table; export again with format: parquet (or arrow) and import that file" % (src, ids.count))
    schema = _file_schema(src, fmt)
    if meta.get("arrow_schema"):
        want = _schema_from_b64(meta["arrow_schema"], "Manifest '%s'" % mpath)
        if want.names != schema.names:
            raise MemoryToolError("'%s' has the columns %s but its manifest '%s' lists %s; export the table again"
                                  % (src, ", ".join(schema.names), mpath, ", ".join(want.names)))
        schema = want
    dim = _check_columns(src, schema)
    if meta.get("vector_dim") not in (None, dim):
        raise MemoryToolError("'%s' holds %d-dimensional vectors but its manifest '%s' says %s; export the table "
                              "again" % (src, dim, mpath, meta["vector_dim"]))
    if vector_dim is not None and int(vector_dim) != dim:
        raise MemoryToolError(
            "'%s' holds %d-dimensional vectors but the target is configured for %d dimensions (vector_dim=%d): "
            "its embedding model differs, so these vectors would be useless there; set the target plugin's "
            "embedding to the model that made them (dimensions %d), or re-embed the texts from a format: jsonl "
            "export" % (src, dim, int(vector_dim), int(vector_dim), dim))
    target = os.path.join(path, name + ".lance")
    warnings = []
    indices = (meta.get("source") or {}).get("indices") or []
    if indices:
        warnings.append("the source table had the index(es) %s; an import does not rebuild indexes (the plugins "
                        "search without one; create them again if you need them)"
                        % ", ".join(sorted(i.get("name", "?") for i in indices)))
    result = {"changed": False, "table": name, "db_path": path, "table_path": target, "rows": meta["rows"],
              "vector_dim": dim, "data_storage_version": _concrete(dsv) or dsv, "version": None, "format": fmt,
              "src": src, "manifest": mpath, "aside": None, "cleaned": [], "verify": None,
              "source": meta.get("source"), "warnings": warnings}
    if check_mode:
        result["cleaned"] = _leftovers(path, name)  # what the run would remove first
        state = _target_state(target, marker_path(path, name), meta, dsv)
        _decide(state, target, replace)
        result.update(changed=state != "same", state={"same": "same", "absent": "would_import"}.get(
            state, "would_replace"))
    else:
        uid, gid = default_owner(path, owner, group)
        made = make_option_dir(path, DIR_MODE, uid, gid, "path")
        try:
            if not os.access(path, os.W_OK | os.X_OK):
                raise MemoryToolError("path '%s' is not writable by this user; fix its owner/mode or use become"
                                      % path)
            with WaitLock(path, lock_timeout, "Another import into '%s' holds its lock (waited %ss); wait for it "
                          "to finish", create=False):
                if not os.path.isdir(path):
                    raise MemoryToolError("path '%s' was removed while this import waited for its lock (an import "
                                          "that created it failed); run the task again" % path)
                result["cleaned"] = _clean_leftovers(path, name)
                state = _target_state(target, marker_path(path, name), meta, dsv)
                _decide(state, target, replace)
                if state == "same":
                    result["state"] = "same"
                else:
                    stamp = utc_now_name(None if now is None else datetime.datetime.fromtimestamp(
                        float(now), tz=datetime.timezone.utc))
                    result.update(_import(src, fmt, schema, meta, path, name, target, dsv, dim, uid, gid, stamp))
                    result.update(changed=True, state="imported")
        except BaseException:
            remove_made(made)  # a failed import leaves no directory it created
            raise
        if result["state"] == "same":
            result["version"] = open_table(target).version
    result["changed"] = bool(result["changed"] or result["cleaned"])
    result["duration_s"] = round(time.monotonic() - started, 3)
    return result


def _decide(state, target, replace):
    if state in ("same", "absent") or replace:
        return
    raise MemoryToolError(
        "Table '%s' already exists and differs from the export (%s); set replace: true to move it aside to "
        "'%s<UTC time>' (never deleted) and import, or choose another path" % (target, state, target + ASIDE_TAG))


def _leftovers(path, name):
    """Names of the staging dirs of this table that an interrupted import left in `path` (none when it is missing)."""
    prefix = "." + name + ".lance" + STAGING_TAG
    try:
        entries = sorted(os.listdir(path))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise MemoryToolError("path '%s' cannot be read (%s); fix its owner/mode or use become"
                              % (path, e.strerror or e))
    return [entry for entry in entries if entry.startswith(prefix) and os.path.isdir(os.path.join(path, entry))
            and not os.path.islink(os.path.join(path, entry))]


def _clean_leftovers(path, name):
    """Remove staging dirs of this table that an interrupted import left (call while holding the lock)."""
    removed = _leftovers(path, name)
    for entry in removed:
        shutil.rmtree(os.path.join(path, entry), ignore_errors=True)
    return removed


def _import(src, fmt, schema, meta, path, name, target, dsv, dim, uid, gid, stamp):
    """Write into a staging dir, verify, put in place; the staging dir is removed whatever happens."""
    staging = os.path.join(path, "." + name + ".lance" + STAGING_TAG + stamp)
    os.mkdir(staging, DIR_MODE)
    try:
        staged = os.path.join(staging, name + ".lance")
        file_ids = IdsHash()

        def batches():
            for batch in _file_batches(src, fmt, schema):
                file_ids.add(batch.column("id").to_pylist())
                yield batch

        options = {"mode": "create", "schema": schema,
                   "enable_v2_manifest_paths": (meta.get("source") or {}).get("manifest_naming") != "v1"}
        if dsv is not None:
            options["data_storage_version"] = dsv
        import lance

        try:
            lance.write_dataset(pa.RecordBatchReader.from_batches(schema, batches()), staged, **options)
        except Exception as e:  # noqa: BLE001 - Lance and pyarrow raise plain exceptions
            raise MemoryToolError("Writing the table into the staging dir '%s' failed: %s; nothing was put in place"
                                  % (staging, error_text(e)))
        check = _verify_staged(staged, staging, name, schema, meta, file_ids, dsv, dim)
        _own_tree(staging, uid, gid)
        # Written before the rename: it names the staged version's Lance manifest, so until the rename it matches
        # no table in place, and a crash in between leaves no record that passes for this import.
        marker = marker_path(path, name)
        write_json_atomic(marker, {
            "kind": MARKER_KIND, "export_sha256": meta["sha256"], "src": src, "rows": check["rows"],
            "ids_hash": check["ids_hash"], "table_version": check["version"],
            "manifest_sha256": _lance_manifest_sha(open_table(staged), staged),
            "data_storage_version": check["data_storage_version"], "imported": iso_utc(time.time() * 1000)}, FILE_MODE)
        if (uid, gid) != (os.geteuid(), os.getegid()):
            os.chown(marker, uid, gid)
        aside = None
        if os.path.lexists(target):
            aside = free_name(target + ASIDE_TAG + stamp)
            os.rename(target, aside)
        try:
            os.rename(staged, target)
        except OSError as e:
            if aside:
                os.rename(aside, target)
            raise MemoryToolError("Renaming the imported table into place as '%s' failed (%s); the original was "
                                  "left in place" % (target, e.strerror or e))
        fsync_dir(path, missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"aside": aside, "verify": check, "version": check["version"],
            "data_storage_version": check["data_storage_version"]}


def _verify_staged(staged, staging, name, schema, meta, file_ids, dsv, dim):
    """Rows, ids, schema, dim and storage version of the staged table, then lancedb opens and reads it."""
    problems = []
    ds = open_table(staged)
    info = table_info(ds)
    got_ids = _ids_of(ds)
    if file_ids.count != meta["rows"]:
        problems.append("the file held %d rows, its manifest says %d" % (file_ids.count, meta["rows"]))
    if info["rows"] != meta["rows"]:
        problems.append("rows: expected %d, found %d" % (meta["rows"], info["rows"]))
    if file_ids.hexdigest() != meta.get("ids_hash"):
        problems.append("the ids in the file differ from those its manifest recorded")
    if got_ids.hexdigest() != file_ids.hexdigest():
        problems.append("the ids in the imported table differ from those in the file")
    if not ds.schema.equals(schema):
        problems.append("schema: expected %s, found %s" % (schema, ds.schema))
    if info["vector_dim"] != dim:
        problems.append("vector_dim: expected %d, found %s" % (dim, info["vector_dim"]))
    want = _concrete(dsv)
    if want and info["data_storage_version"] != want:
        problems.append("data_storage_version: expected %s, found %s" % (want, info["data_storage_version"]))
    read = _lancedb_check(staging, name, ds, info["rows"], problems)
    if problems:
        raise MemoryToolError("The imported table failed verification, so nothing was put in place: %s"
                              % "; ".join(problems))
    return {"rows": info["rows"], "ids_hash": got_ids.hexdigest(), "vector_dim": info["vector_dim"],
            "data_storage_version": info["data_storage_version"], "version": info["version"], "schema": True,
            "lancedb_read": read}


def _lancedb_check(staging, name, ds, rows, problems):
    """Open the staged table with lancedb (as the plugin would), count it, and read one row back with its vector."""
    try:
        import lancedb
    except ImportError:
        raise MemoryToolError("lance_import needs the Python library lancedb on this host to check the imported "
                              "table; run the openclaw.memory.deps role or pip install the version in "
                              "requirements-host.txt")
    try:
        tbl = lancedb.connect(staging).open_table(name)
        if tbl.count_rows() != rows:
            problems.append("lancedb counts %d rows, pylance %d" % (tbl.count_rows(), rows))
        if not rows:
            return None
        row = ds.take([0], columns=["id", "vector"]).to_pylist()[0]
        # Read back by id, vector included. (A vector search, even prefiltered, holds every vector in memory at
        # once: lance_verify's search check does that, on purpose, after the import.)
        hit = (tbl.search().where("id = '%s'" % str(row["id"]).replace("'", "''")).select(["id", "vector"])
               .limit(2).to_list())
        found = len(hit) == 1 and list(hit[0]["vector"]) == list(row["vector"])
        if not found:
            problems.append("lancedb did not read row %s back with its vector" % row["id"])
        return found
    except Exception as e:  # noqa: BLE001 - lancedb raises plain exceptions
        problems.append("lancedb cannot use the imported table: %s" % error_text(e))
        return False


def _own_tree(top, uid, gid):
    """Dirs 0700, files 0600 (memories hold secrets), owned by uid:gid."""
    chown = (uid, gid) != (os.geteuid(), os.getegid())
    for root, _dirs, names in os.walk(top):
        os.chmod(root, DIR_MODE)
        if chown:
            os.chown(root, uid, gid)
        for n in names:
            p = os.path.join(root, n)
            os.chmod(p, FILE_MODE)
            if chown:
                os.chown(p, uid, gid)
