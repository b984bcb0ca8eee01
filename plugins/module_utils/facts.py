# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One host's OpenClaw memory setup and its baseline, as one dict.

Composes the config side (config.discover), the Lance core (tables, exact
version file sets, streaming stats and probes) and the Markdown workspace.
Read-only: nothing here writes a file, and a damaged table is reported with a
warning, not an exception. Used by the openclaw_memory_facts module.
"""

from __future__ import annotations

import grp
import os
import pwd
import re

from ansible_collections.openclaw.memory.plugins.module_utils.common import (
    MemoryToolError,
    blocked_ancestor,
    nearest_existing,
    sha256_file,
    tree_stats,
)
from ansible_collections.openclaw.memory.plugins.module_utils.config import account, discover
from ansible_collections.openclaw.memory.plugins.module_utils.lance import (
    VERIFY_HINT,
    check_db_dir,
    check_probes,
    error_text,
    lib_versions,
    memory_stats,
    missing_files_text,
    open_table,
    referenced_stat,
    require_lance,
    table_info,
)
from ansible_collections.openclaw.memory.plugins.module_utils.plugins import (
    MEMORY_LANCEDB,
    MEMORY_LANCEDB_PRO,
    PLUGINS,
    TABLE,
    plugin_spec,
)

STAT_KEYS = ("total", "by_category", "by_agent", "by_scope", "oldest", "newest")
DAILY_NOTE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:-.+)?\.md$")


def gather(user=None, home=None, profile=None, state_dir=None, config_path=None, db_path=None, workspace=None,
           plugin_dir=None, probes=3, probe_query=None, gather_stats=True):
    """The facts of one install: config side, database (tables, counts, probes, sizes), workspace, libs.

    Returns the dict the module puts into ansible_facts.openclaw_memory.
    Raises MemoryToolError (message names the path or value and the fix) on bad input.
    """
    check_probes(probes)
    acct = account(user, home)
    facts = discover(acct, profile=profile, state_dir=state_dir, config_path=config_path, db_path=db_path,
                     workspace=workspace, plugin_dir=plugin_dir)
    warnings = facts["warnings"]
    facts.update(database_facts(facts, acct, probes, probe_query, gather_stats, warnings))
    facts["workspace"] = workspace_facts(facts.pop("workspace_path"), warnings)
    facts["libs"] = lib_versions()
    return facts


# --------------------------------------------------------------------------- database


def _empty_db():
    out = {
        "db_exists": False,
        "db_owner": None,
        "db_free_bytes": None,
        "tables": {},
        "probes": [],
        "query_matches": None,
        "size_bytes": None,
        "file_count": None,
        "referenced_bytes": None,
    }
    out.update(dict.fromkeys(STAT_KEYS))
    return out


def _hint(facts):
    source = facts["db_path_source"]
    if source == "option":
        return "; fix db_path"
    if source == "config":
        return f"; check plugins.entries.{facts['plugin']}.config.dbPath in '{facts['config_path']}' or pass db_path"
    return (f"; it is {facts['plugin']}'s default path: pass db_path or set dbPath in the config if the database is "
            "elsewhere")


def free_bytes(path):
    """Bytes available to unprivileged users on the filesystem that holds `path` (or its nearest parent)."""
    try:
        st = os.statvfs(nearest_existing(path))
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _owner(path):
    st = os.stat(path)
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = None
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = None
    return {"user": user, "uid": st.st_uid, "group": group, "gid": st.st_gid, "mode": "%04o" % (st.st_mode & 0o7777)}


def infer_plugin(columns):
    """The plugin whose `memories` table has these columns (scope+metadata: pro), else memory-lancedb."""
    pro = [c for c, _t in PLUGINS[MEMORY_LANCEDB_PRO]["columns"]]
    return MEMORY_LANCEDB_PRO if all(c in columns for c in pro) else MEMORY_LANCEDB


def database_facts(facts, acct, probes, probe_query, gather_stats, warnings):
    """Database part of the facts: existence, owner, tables, stats, probes, sizes. Appends to `warnings`."""
    out = _empty_db()
    path = facts["db_path"]
    if path is None:
        return out
    if facts["db_remote"]:
        out["db_exists"] = None
        warnings.append(
            f"Database '{path}' is in object storage: this module reads only local databases, so no tables, counts or "
            "sizes are reported; back it up with the storage provider's tools"
        )
        return out
    hint = _hint(facts)
    out["db_free_bytes"] = free_bytes(path)
    if not os.path.lexists(path):
        blocked = blocked_ancestor(path)
        if blocked:
            raise MemoryToolError(
                f"Database directory '{path}' cannot be reached: '{blocked}' is not readable by this account; run the "
                "module with become or as the gateway's user"
            )
        if facts["db_path_source"] == "option":
            raise MemoryToolError(f"Database directory '{path}' (db_path) does not exist; fix db_path")
        warnings.append(
            f"Database directory '{path}' does not exist (yet): the plugin creates it with its first memory, so "
            f"there is nothing to back up on this host{hint}"
        )
        return out
    if os.path.isdir(path) and os.access(path, os.R_OK | os.X_OK) and not os.listdir(path):
        out.update(db_exists=True, db_owner=_owner(path), size_bytes=0, file_count=0, referenced_bytes=0)
        warnings.append(f"Database directory '{path}' is empty: the plugin has not stored a memory yet")
        return out
    tables = check_db_dir(path, hint)
    if TABLE not in tables:
        raise MemoryToolError(
            f"Database directory '{path}' has no '{TABLE}' table (it holds: {', '.join(sorted(tables))}); "
            f"{MEMORY_LANCEDB} and {MEMORY_LANCEDB_PRO} keep memories in '{TABLE}.lance'{hint}"
        )
    require_lance()
    out["db_exists"] = True
    out["db_owner"] = owner = _owner(path)
    tree = tree_stats(path, acct.uid)
    out["size_bytes"], out["file_count"] = tree["bytes"], tree["files"]
    if owner["uid"] != acct.uid:
        warnings.append(
            f"Database directory '{path}' is owned by {owner['user'] or '?'} (uid {owner['uid']}), not by "
            f"{acct.name} (uid {acct.uid}) who runs the gateway: the plugin cannot write to it; "
            f"chown -R {acct.name} '{path}'"
        )
    elif tree["foreign"]:
        warnings.append(
            f"{tree['foreign']} files or directories under '{path}' are not owned by {acct.name} (uid {acct.uid}) "
            f"who runs the gateway: the plugin may fail to write; chown -R {acct.name} '{path}'"
        )
    referenced = 0
    memories_ds = None
    for name, table_dir in sorted(tables.items()):
        entry, ds = _table_facts(name, table_dir, warnings)
        out["tables"][name] = entry
        referenced += entry["referenced_bytes"] or 0
        if name == TABLE:
            memories_ds = ds
    out["referenced_bytes"] = referenced
    entry = out["tables"][TABLE]
    if entry["columns"] is not None:
        out.update(_check_schema(facts, entry, warnings))
    if memories_ds is not None and gather_stats:
        try:
            stats = memory_stats(memories_ds, probes=probes, probe_query=probe_query)
        except Exception as e:  # noqa: BLE001 - a damaged table raises whatever Lance raises
            warnings.append(
                f"Table '{entry['path']}' could not be read in full ({error_text(e)}): counts and probes are not "
                f"reported; the database is damaged: {VERIFY_HINT}"
            )
        else:
            out.update({k: stats[k] for k in STAT_KEYS})
            out["probes"] = stats["probes"]
            out["query_matches"] = stats.get("query_matches")
    return out


def _table_facts(name, table_dir, warnings):
    entry = {"path": table_dir, "version": None, "rows": None, "vector_dim": None, "columns": None,
             "fragments": None, "data_storage_version": None, "indices": None, "referenced_bytes": None,
             "referenced_files": None, "missing_files": None, "auto_cleanup": None, "error": None}
    try:
        ds = open_table(table_dir)
        entry.update(table_info(ds))
    except MemoryToolError as e:
        entry["error"] = e.msg
        warnings.append(f"{e.msg}; {VERIFY_HINT}")
        return entry, None
    except Exception as e:  # noqa: BLE001 - Lance raises plain exceptions on damaged tables
        entry["error"] = error_text(e)
        warnings.append(f"Lance table '{table_dir}' cannot be read: {entry['error']}; {VERIFY_HINT}")
        return entry, None
    ref = referenced_stat(ds, table_dir)
    entry.update(referenced_bytes=ref["bytes"], referenced_files=ref["files"], missing_files=len(ref["missing"]))
    if ref["missing"]:
        warnings.append(f"{missing_files_text(table_dir, entry['version'], ref)}; {VERIFY_HINT}")
    try:
        config = ds.config() or {}
    except AttributeError:  # pylance without table config
        config = {}
    entry["auto_cleanup"] = {k: v for k, v in sorted(config.items()) if k.startswith(AUTO_CLEANUP_PREFIX)}
    window = cleanup_window_s(entry["auto_cleanup"])
    if entry["auto_cleanup"] and (window is None or window < SAFE_CLEANUP_WINDOW_S):
        keys = ", ".join(f"{k}={v}" for k, v in entry["auto_cleanup"].items())
        warnings.append(
            f"Lance table '{table_dir}' has auto-cleanup with a short or unreadable retention window ({keys}): "
            "commits delete the files of versions older than that, so a copy taken while the gateway writes can "
            "lose files; set lance.auto_cleanup.older_than to days (the plugin's client uses 14days) or back it up "
            "with the gateway stopped"
        )
    return entry, ds


# Table config keys of Lance's automatic cleanup. @lancedb/lancedb (the plugins' node client)
# creates tables with interval=20, older_than=14days: every 20 commits, the files of versions
# older than 14 days go. Harmless for a copy of the latest version; a window of seconds is not.
AUTO_CLEANUP_PREFIX = "lance.auto_cleanup."
SAFE_CLEANUP_WINDOW_S = 3600
DEFAULT_CLEANUP_WINDOW = "14days"
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)")
_UNIT_S = {
    "ns": 1e-9, "nsec": 1e-9, "us": 1e-6, "usec": 1e-6, "ms": 1e-3, "msec": 1e-3,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400, "w": 604800, "week": 604800, "weeks": 604800,
}


def cleanup_window_s(auto_cleanup):
    """Seconds of `lance.auto_cleanup.older_than` (humantime text such as "14days", "2h 30min"), None if unreadable.

    Without the key, Lance's default applies (14 days).
    """
    text = str(auto_cleanup.get(AUTO_CLEANUP_PREFIX + "older_than", DEFAULT_CLEANUP_WINDOW)).strip()
    total, pos = 0.0, 0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos or m.group(2).lower() not in _UNIT_S:
            return None
        total += float(m.group(1)) * _UNIT_S[m.group(2).lower()]
        pos = m.end()
    return total if pos and pos == len(text) else None


def _check_schema(facts, entry, warnings):
    """Warnings on the `memories` table against the plugin and its embedding; infers the plugin without a config."""
    out = {}
    columns = entry["columns"]
    plugin = facts["plugin"]
    if plugin is None and not facts["config_found"]:
        plugin = infer_plugin(columns)
        out.update(plugin=plugin, plugin_source="schema")
    spec = plugin_spec(plugin) if plugin else None
    if not spec or not spec["lancedb"]:
        warnings.append(
            f"db_path '{facts['db_path']}' was read, but the memory plugin in the config is {plugin}, which keeps no "
            "LanceDB database"
        )
        return out
    missing = [c for c, _t in spec["columns"] if c not in columns]
    if missing:
        warnings.append(
            f"Table '{entry['path']}' lacks the column(s) {', '.join(missing)} that {plugin} writes (it has: "
            f"{', '.join(columns)}): is this the database of another plugin?"
        )
    if plugin == MEMORY_LANCEDB and "agentId" not in columns:
        warnings.append(
            f"Table '{entry['path']}' has no agentId column: memory-lancedb from 2026-07 on refuses to open it until "
            "`openclaw doctor --fix` adds it; run that on the new host after a restore (on a copy, never here)"
        )
    dims = facts["embedding"]["dimensions"]
    if dims and entry["vector_dim"] and dims != entry["vector_dim"]:
        emb = facts["embedding"]
        warnings.append(
            f"Table '{entry['path']}' holds {entry['vector_dim']}-dimension vectors but the configured embedding "
            f"({emb['provider']} / {emb['model']}) has {dims} dimensions: the plugin fails or recalls wrong memories; "
            "configure the model the vectors were made with"
        )
    return out


# --------------------------------------------------------------------------- workspace


def _digest(path, warnings):
    if not os.path.isfile(path):
        return None
    try:
        return {"bytes": os.path.getsize(path), "sha256": sha256_file(path)}
    except OSError as e:
        warnings.append(f"Workspace file '{path}' cannot be read: {e.strerror or e}")
        return None


def workspace_facts(path, warnings):
    """The Markdown memory workspace: MEMORY.md (size, sha256), USER.md, DREAMS.md, daily notes, totals."""
    out = {"path": path, "exists": False, "memory_md": None, "user_md": None, "dreams_md": None,
           "daily_notes": 0, "daily_first": None, "daily_last": None, "files": 0, "bytes": 0}
    if not path or not os.path.isdir(path):
        return out
    out["exists"] = True
    out["memory_md"] = _digest(os.path.join(path, "MEMORY.md"), warnings)
    out["user_md"] = _digest(os.path.join(path, "USER.md"), warnings)
    out["dreams_md"] = _digest(os.path.join(path, "DREAMS.md"), warnings)
    notes_dir = os.path.join(path, "memory")
    try:
        names = os.listdir(notes_dir) if os.path.isdir(notes_dir) else []
    except PermissionError:
        warnings.append(f"Workspace directory '{notes_dir}' is not readable; run with become or as its owner")
        names = []
    dates = sorted(m.group(1) for m in map(DAILY_NOTE.match, names) if m)
    out["daily_notes"] = len(dates)
    if dates:
        out["daily_first"], out["daily_last"] = dates[0], dates[-1]
    tree = tree_stats(path)
    out["files"], out["bytes"] = tree["files"], tree["bytes"]
    return out
