"""openclaw_memory_facts: gather() on generated OpenClaw installs, and the module end to end through Ansible."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import lance
import pytest
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError, iso_utc, tree_size
from ansible_collections.openclaw.memory.plugins.module_utils.config import account
from ansible_collections.openclaw.memory.plugins.module_utils.facts import cleanup_window_s, gather
from ansible_collections.openclaw.memory.plugins.module_utils.lance import version_files
from ocmlab.fixtures import build_state, fake_secret
from repo_env import ANSIBLE, JSON_OUTPUT, REPO, ansible_env

# --------------------------------------------------------------------------- helpers


def _state(tmp, name="home", **kw):
    kw.setdefault("n", 40)
    kw.setdefault("dims", 16)
    kw.setdefault("seed", 7)
    return build_state(str(tmp / name), **kw)


def _set_config(built, text):
    with open(built["config_path"], "w") as f:
        f.write(text)


def _tree_fingerprint(*roots):
    """{path: (size, mtime_ns, sha256)} of every file and {dir: mtime_ns}: proves nothing was written."""
    out = {}
    for root in roots:
        for dirpath, _dirs, names in os.walk(root):
            out[dirpath] = os.stat(dirpath).st_mtime_ns
            for name in names:
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                with open(p, "rb") as f:
                    out[p] = (st.st_size, st.st_mtime_ns, hashlib.sha256(f.read()).hexdigest())
    return out


@pytest.fixture(scope="module")
def lancedb_home(tmp_path_factory):
    """A memory-lancedb install (agentId column), made the plugin's way: one row per commit."""
    tmp = tmp_path_factory.mktemp("facts")
    built = _state(tmp, n=60, seed=3, extra_tables=["archive"],
                   embedding={"baseUrl": "https://bob:hunter2@llm.internal:8443/v1?api-key=sk-in-url"})
    return built


# --------------------------------------------------------------------------- the baseline


def test_memory_lancedb_baseline(lancedb_home):
    b = lancedb_home
    f = gather(home=b["home"])
    assert f["warnings"] == []
    assert (f["state_dir"], f["config_path"], f["config_found"]) == (b["state_dir"], b["config_path"], True)
    assert (f["plugin"], f["plugin_enabled"], f["plugin_source"]) == ("memory-lancedb", True, "config")
    assert (f["plugin_version"], f["plugin_lancedb_version"]) == (b["plugin_version"], b["client_version"])
    assert f["plugin_dir"] == os.path.dirname(b["package_json"])
    assert f["embedding"] == {"provider": "openai", "model": "text-embedding-3-small", "dimensions": 16,
                              "base_url": "https://llm.internal:8443/v1", "api_key_set": True}
    assert f["scopes"] is None
    assert (f["db_path"], f["db_path_source"], f["db_exists"]) == (b["db_path"], "default", True)
    assert f["db_owner"]["uid"] == os.geteuid()
    assert (f["total"], f["by_category"], f["by_agent"], f["by_scope"]) == (
        b["count"], b["by_category"], b["by_agent"], None)
    assert (f["oldest"], f["newest"]) == (iso_utc(b["oldest_ms"]), iso_utc(b["newest_ms"]))
    mem = f["tables"]["memories"]
    assert (mem["version"], mem["rows"], mem["vector_dim"], mem["fragments"]) == (b["version"], 60, 16, 60)
    assert mem["data_storage_version"] == str(b["data_storage_version"])
    assert list(mem["columns"]) == b["columns"]
    assert (mem["missing_files"], mem["auto_cleanup"], mem["error"]) == (0, {}, None)
    assert f["tables"]["archive"]["rows"] == 3
    assert (f["size_bytes"], f["file_count"]) == tree_size(b["db_path"])
    assert 0 < mem["referenced_bytes"] < f["referenced_bytes"] < f["size_bytes"]
    assert f["libs"]["pylance"] == lance.__version__
    assert f["gateway"]["manager"] == "unknown"


def test_probes_are_deterministic_and_complete(lancedb_home):
    b = lancedb_home
    first = gather(home=b["home"])["probes"]
    again = gather(home=b["home"], probes=3)["probes"]
    assert first == again and len(first) == 3
    assert {p["id"] for p in first} <= set(b["ids"])
    for p in first:
        assert set(p) == {"id", "text", "category", "importance", "created", "agent_id"}
        assert p["created"].endswith("Z") and p["agent_id"] == "main"
    more = gather(home=b["home"], probes=5)["probes"]
    assert more[:3] == first and len(more) == 5
    assert gather(home=b["home"], probes=0)["probes"] == []


def test_probe_query_finds_the_planted_memory(lancedb_home):
    planted = lancedb_home["probes"][1]
    f = gather(home=lancedb_home["home"], probe_query=planted["code"].lower())
    assert [(m["id"], m["text"]) for m in f["query_matches"]] == [(planted["id"], planted["text"])]
    assert gather(home=lancedb_home["home"], probe_query="no such text anywhere")["query_matches"] == []
    assert gather(home=lancedb_home["home"])["query_matches"] is None


def test_workspace_facts(lancedb_home):
    ws = gather(home=lancedb_home["home"])["workspace"]
    path = os.path.join(lancedb_home["state_dir"], "workspace")
    with open(os.path.join(path, "MEMORY.md"), "rb") as fh:
        data = fh.read()
    notes = sorted(n[:10] for n in os.listdir(os.path.join(path, "memory")))
    assert ws["path"] == path and ws["exists"] is True
    assert ws["memory_md"] == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert ws["user_md"]["bytes"] > 0 and ws["dreams_md"] is None
    assert (ws["daily_notes"], ws["daily_first"], ws["daily_last"]) == (len(notes), notes[0], notes[-1])
    assert (ws["bytes"], ws["files"]) == tree_size(path)


def test_gather_writes_nothing_and_leaks_no_secret(lancedb_home):
    b = lancedb_home
    before = _tree_fingerprint(b["home"])
    f = gather(home=b["home"], probe_query="x")
    assert _tree_fingerprint(b["home"]) == before
    dumped = json.dumps(f)
    for secret in (fake_secret(b["seed"]), b["secret"], "hunter2", "sk-in-url", "bob:"):
        assert secret not in dumped
    assert "apiKey" not in dumped


def test_gather_stats_false(lancedb_home):
    f = gather(home=lancedb_home["home"], gather_stats=False)
    assert all(f[k] is None for k in ("total", "by_category", "by_agent", "oldest", "newest"))
    assert f["probes"] == [] and f["tables"]["memories"]["rows"] == 60 and f["size_bytes"] > 0


# --------------------------------------------------------------------------- plugins and writers


def test_memory_lancedb_without_agent_id(tmp_path):
    b = _state(tmp_path, agent_id=False)
    f = gather(home=b["home"])
    assert f["by_agent"] is None and "agentId" not in f["tables"]["memories"]["columns"]
    assert f["total"] == b["count"]
    assert f["warnings"] == [
        (f"Table '{b['table_path']}' has no agentId column: memory-lancedb from 2026-07 on refuses to open it until "
         "`openclaw doctor --fix` adds it; run that on the new host after a restore (on a copy, never here)")]


def test_memory_lancedb_pro(tmp_path):
    b = _state(tmp_path, plugin="memory-lancedb-pro", n=50,
               embedding={"baseURL": "http://10.0.0.5:8080/v1?token=abc", "model": "jina-embeddings-v3"})
    f = gather(home=b["home"])
    assert f["warnings"] == []
    assert (f["plugin"], f["plugin_version"]) == ("memory-lancedb-pro", b["plugin_version"])
    assert f["db_path"].endswith("/.openclaw/memory/lancedb-pro")
    assert (f["total"], f["by_category"], f["by_scope"], f["by_agent"]) == (
        b["count"], b["by_category"], b["by_scope"], None)
    assert (f["oldest"], f["newest"]) == (iso_utc(b["oldest_ms"]), iso_utc(b["newest_ms"]))
    assert f["embedding"] == {"provider": "openai", "model": "jina-embeddings-v3", "dimensions": 16,
                              "base_url": "http://10.0.0.5:8080/v1", "api_key_set": True}
    assert f["scopes"]["default"] == "global"
    assert set(f["scopes"]["definitions"]) == set(b["scopes"])
    assert {"scope", "created"} <= set(f["probes"][0])
    assert {"timestamp", "metadata", "scope"} <= set(f["tables"]["memories"]["columns"])


def test_memory_core_workspace_only(tmp_path):
    b = _state(tmp_path, plugin="memory-core", n=30)
    f = gather(home=b["home"])
    assert (f["plugin"], f["db_path"], f["db_exists"], f["tables"], f["total"]) == ("memory-core", None, False, {},
                                                                                    None)
    assert f["plugin_version"] is None and f["warnings"] == []
    assert f["workspace"]["memory_md"]["bytes"] > 0 and f["workspace"]["daily_notes"] > 0


@pytest.mark.parametrize("storage,v1", [("legacy", True), ("2.0", True), ("2.1", False)])
def test_tables_of_older_writers(tmp_path, storage, v1):
    b = _state(tmp_path, n=20, data_storage_version=storage, v1_manifests=v1)
    names = os.listdir(os.path.join(b["table_path"], "_versions"))
    assert (f"{b['version']}.manifest" in names) is v1
    f = gather(home=b["home"])
    mem = f["tables"]["memories"]
    assert (f["total"], mem["version"], mem["missing_files"]) == (20, b["version"], 0)
    assert mem["data_storage_version"] == ("0.1" if storage == "legacy" else storage)
    assert len(f["probes"]) == 3 and f["warnings"] == []


def test_table_written_by_the_plugins_node_client(tmp_path):
    """The plugin's own client (@lancedb/lancedb 0.27.2 on node), via the writer lance_verify's test uses."""
    from test_verify_node import node_client  # noqa: PLC0415 - installs the client once into .cache/node-verify

    b = _state(tmp_path, n=0)
    shutil.rmtree(b["db_path"])
    p = subprocess.run(["node", node_client(), b["db_path"], "15", "16"], capture_output=True, text=True,
                       timeout=300, check=False)
    assert p.returncode == 0, "make_memories.mjs failed:\n" + p.stderr[-2000:]
    made = json.loads(p.stdout.strip().splitlines()[-1])
    f = gather(home=b["home"])
    assert f["warnings"] == []
    assert f["tables"]["memories"]["auto_cleanup"] == {"lance.auto_cleanup.interval": "20",
                                                       "lance.auto_cleanup.older_than": "14days"}
    assert (f["total"], f["by_category"], f["by_agent"]) == (15, made["by_category"], {"main": 15})
    mem = f["tables"]["memories"]
    assert (mem["version"], mem["fragments"], mem["data_storage_version"]) == (made["version"], 15, "2.0")
    assert f["oldest"] <= f["newest"] and len(f["probes"]) == 3
    assert {p["id"] for p in f["probes"]} <= set(made["ids"])
    wanted = made["probes"][0]
    matches = gather(home=b["home"], probe_query=wanted["text"])["query_matches"]
    assert [(m["id"], m["text"]) for m in matches] == [(wanted["id"], wanted["text"])]


# --------------------------------------------------------------------------- warnings


def test_warning_vector_dim_differs_from_config(tmp_path):
    b = _state(tmp_path, embedding={"dimensions": 32})
    f = gather(home=b["home"])
    assert f["embedding"]["dimensions"] == 32
    assert f["warnings"] == [
        (f"Table '{b['table_path']}' holds 16-dimension vectors but the configured embedding (openai / "
         "text-embedding-3-small) has 32 dimensions: the plugin fails or recalls wrong memories; configure the model "
         "the vectors were made with")]


def test_warning_plugin_disabled(tmp_path):
    b = _state(tmp_path)
    _set_config(b, "{plugins: {slots: {memory: 'memory-lancedb'}, entries: {'memory-lancedb': {enabled: false, "
                   "config: {embedding: {dimensions: 16}}}}}}")
    f = gather(home=b["home"])
    assert f["plugin_enabled"] is False and f["total"] == 40
    assert f["warnings"] == [
        ("Memory plugin memory-lancedb is disabled (plugins.entries.memory-lancedb.enabled is false): the gateway does "
         "not read or write its memories")]


def test_auto_cleanup_keys(tmp_path):
    b = _state(tmp_path)
    ds = lance.dataset(b["table_path"])
    ds.update_config({"lance.auto_cleanup.interval": "20", "lance.auto_cleanup.older_than": "14days"})
    f = gather(home=b["home"])  # what the plugin's node client sets: reported, harmless for a copy
    assert f["tables"]["memories"]["auto_cleanup"] == {"lance.auto_cleanup.interval": "20",
                                                       "lance.auto_cleanup.older_than": "14days"}
    assert f["warnings"] == []
    ds.update_config({"lance.auto_cleanup.older_than": "30s"})
    f = gather(home=b["home"])
    assert f["warnings"] == [
        (f"Lance table '{b['table_path']}' has auto-cleanup with a short or unreadable retention window "
         "(lance.auto_cleanup.interval=20, lance.auto_cleanup.older_than=30s): commits delete the files of versions "
         "older than that, so a copy taken while the gateway writes can lose files; set "
         "lance.auto_cleanup.older_than to days (the plugin's client uses 14days) or back it up with the gateway "
         "stopped")]


@pytest.mark.parametrize("value,seconds", [
    ("14days", 14 * 86400), ("2h 30min", 9000), ("1d12h", 129600), ("0s", 0), ("90 sec", 90), ("1.5h", 5400),
    ("soon", None), ("10 parsecs", None), ("", None), ("5", None),
])
def test_cleanup_window(value, seconds):
    assert cleanup_window_s({"lance.auto_cleanup.older_than": value}) == seconds
    assert cleanup_window_s({"lance.auto_cleanup.interval": "20"}) == 14 * 86400


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_warning_database_not_owned_by_the_gateway_user(tmp_path):
    b = _state(tmp_path)
    me = gather(home=b["home"])["user"]
    one = os.path.join(b["table_path"], "_versions")
    os.chown(one, 4242, 4242)
    f = gather(home=b["home"])
    assert f["warnings"] == [
        (f"1 files or directories under '{b['db_path']}' are not owned by {me} (uid 0) who runs the gateway: the "
         f"plugin may fail to write; chown -R {me} '{b['db_path']}'")]
    os.chown(b["db_path"], 4242, 4242)
    f = gather(home=b["home"])
    assert f["db_owner"] == {"user": None, "uid": 4242, "group": None, "gid": 4242, "mode": "0755"}
    assert f["warnings"] == [
        (f"Database directory '{b['db_path']}' is owned by ? (uid 4242), not by {me} (uid 0) who runs the gateway: the "
         f"plugin cannot write to it; chown -R {me} '{b['db_path']}'")]


def test_warning_legacy_state_dir(tmp_path):
    home = tmp_path / "home"
    b = build_state(str(home), n=10, dims=16, state_dir_name=".clawdbot", db_path=str(tmp_path / "db"))
    f = gather(home=str(home))
    assert f["state_dir"] == str(home / ".clawdbot") and f["total"] == 10 and f["db_path"] == b["db_path"]
    assert f["warnings"] == [
        "OpenClaw state was found only under the legacy name '%s' (no ~/.openclaw): OpenClaw still reads it, but new "
        "installs and this collection's defaults expect ~/.openclaw" % (home / ".clawdbot")]


def test_legacy_install_beside_the_plugins_openclaw_dir(tmp_path):
    """The plugin's default database makes ~/.openclaw/memory/lancedb on a legacy install too: OpenClaw still finds
    its config in ~/.clawdbot (it looks in the legacy dirs after ~/.openclaw), and so do the facts."""
    home = tmp_path / "home"
    b = build_state(str(home), n=10, dims=8, state_dir_name=".clawdbot")
    assert b["db_path"] == str(home / ".openclaw" / "memory" / "lancedb")
    f = gather(home=str(home))
    assert (f["state_dir"], f["state_dir_exists"]) == (b["state_dir"], True)
    assert (f["config_path"], f["config_found"], f["plugin"]) == (b["config_path"], True, "memory-lancedb")
    assert (f["db_path"], f["db_path_source"], f["total"]) == (b["db_path"], "default", 10)
    assert f["plugin_version"] == b["plugin_version"]  # <state dir>/extensions, in the legacy dir
    assert f["workspace"]["path"] == os.path.join(b["state_dir"], "workspace") and f["workspace"]["exists"] is True
    assert f["warnings"] == [
        f"OpenClaw config was found only under the legacy name '{b['state_dir']}' (no config in {home}/.openclaw; "
        "memory-lancedb creates ~/.openclaw/memory for its database even on a legacy install): OpenClaw still reads "
        "it, but new installs and this collection's defaults expect ~/.openclaw"]
    res = _ansible(f"home={home}")
    assert "failed" not in res and res["ansible_facts"]["openclaw_memory"]["state_dir"] == b["state_dir"]
    assert res["warnings"][-1] == f["warnings"][0]


def test_configured_database_not_created_yet_and_empty(tmp_path):
    b = _state(tmp_path)
    shutil.rmtree(b["db_path"])
    f = gather(home=b["home"])
    assert (f["db_exists"], f["tables"], f["total"], f["db_owner"]) == (False, {}, None, None)
    assert f["db_free_bytes"] > 0
    assert f["warnings"] == [
        (f"Database directory '{b['db_path']}' does not exist (yet): the plugin creates it with its first memory, so "
         "there is nothing to back up on this host; it is memory-lancedb's default path: pass db_path or set dbPath in "
         "the config if the database is elsewhere")]
    os.mkdir(b["db_path"])
    f = gather(home=b["home"])
    assert (f["db_exists"], f["size_bytes"], f["tables"]) == (True, 0, {})
    assert f["warnings"] == [f"Database directory '{b['db_path']}' is empty: the plugin has not stored a memory yet"]


def test_damaged_table_reports_what_it_can(tmp_path):
    b = _state(tmp_path, n=10, extra_tables=["archive"])
    needed = version_files(lance.dataset(b["table_path"]), b["table_path"])
    os.remove(os.path.join(b["table_path"], next(rel for rel in needed if rel.startswith("data/"))))
    archive = os.path.join(b["db_path"], "archive.lance")
    shutil.rmtree(os.path.join(archive, "_versions"))
    os.mkdir(os.path.join(archive, "_versions"))
    f = gather(home=b["home"])
    mem = f["tables"]["memories"]
    assert (mem["rows"], mem["missing_files"], mem["error"]) == (10, 1, None)
    assert f["total"] is None and f["probes"] == []
    assert f["tables"]["archive"]["error"].startswith(f"Lance table '{archive}' cannot be opened: ")
    assert len(f["warnings"]) == 3
    assert f["warnings"][0].startswith(f"Lance table '{archive}' cannot be opened: ")
    assert f["warnings"][1].startswith(
        f"Lance table '{b['table_path']}' is damaged: 1 of the 11 files its version {b['version']} needs is missing: "
        "data/")
    assert f["warnings"][2].startswith(f"Table '{b['table_path']}' could not be read in full (")
    assert f["warnings"][2].endswith("the database is damaged: run openclaw.memory.lance_verify on it, or restore "
                                     "it from a snapshot")


# --------------------------------------------------------------------------- overrides


def test_overrides_state_dir_config_path_workspace_plugin_dir(tmp_path):
    b = _state(tmp_path)
    elsewhere = tmp_path / "etc" / "oc.json5"
    elsewhere.parent.mkdir()
    shutil.move(b["config_path"], elsewhere)
    moved_ws = tmp_path / "ws"
    shutil.move(os.path.join(b["state_dir"], "workspace"), moved_ws)
    pkg = os.path.dirname(b["package_json"])
    shutil.move(pkg, tmp_path / "plugin")
    f = gather(home=str(tmp_path / "other-home"), state_dir=b["state_dir"], config_path=str(elsewhere),
               db_path=b["db_path"], workspace=str(moved_ws), plugin_dir=str(tmp_path / "plugin"))
    assert (f["config_path"], f["config_found"], f["db_path_source"]) == (str(elsewhere), True, "option")
    assert f["total"] == 40 and f["workspace"]["memory_md"] is not None
    assert f["plugin_version"] == b["plugin_version"] and f["plugin_lancedb_version"] == b["client_version"]


def test_db_path_without_any_config_infers_the_plugin(tmp_path):
    b = _state(tmp_path, plugin="memory-lancedb-pro", n=12)
    f = gather(home=str(tmp_path / "nobody"), db_path=b["db_path"])
    assert (f["config_found"], f["plugin"], f["plugin_source"], f["total"]) == (False, "memory-lancedb-pro",
                                                                                "schema", 12)
    assert f["embedding"]["model"] is None
    assert f["warnings"] == [
        "No OpenClaw config at '%s': reading db_path without one (plugin inferred from the table schema, embedding "
        "unknown)" % (tmp_path / "nobody" / ".openclaw" / "openclaw.json")]


def test_relative_db_path_resolves_against_the_plugin_dir(tmp_path):
    b = _state(tmp_path, db_path="data/lancedb")
    f = gather(home=b["home"])
    assert f["db_path"] == os.path.join(os.path.dirname(b["package_json"]), "data", "lancedb") == b["db_path"]
    assert f["db_path_source"] == "config" and f["total"] == 40


# --------------------------------------------------------------------------- bad input


def _fails(**kw):
    with pytest.raises(MemoryToolError) as e:
        gather(**kw)
    return e.value.msg


def test_bad_input_config_missing(tmp_path):
    home = tmp_path / "h"
    me = account().name
    assert _fails(home=str(home)).startswith(
        f"No OpenClaw config found for user '{me}' (tried openclaw.json, clawdbot.json, moldbot.json, moltbot.json in "
        f"{home}/.openclaw, {home}/.clawdbot, {home}/.moldbot, {home}/.moltbot); ")
    assert _fails(home=str(home), config_path="~/conf.json") == (
        f"Config file '{home}/conf.json' (config_path) does not exist; fix config_path, or leave it unset to use "
        f"'{home}/.openclaw/openclaw.json'")


def test_bad_input_config_not_json5(tmp_path):
    b = _state(tmp_path)
    _set_config(b, "// config\n{\n  plugins: {\n    slots: {memory: 'memory-lancedb',},\n  }\n  gateway: {},\n}\n")
    assert _fails(home=b["home"]) == (
        f"Config file '{b['config_path']}' is not valid JSON5 at line 6, column 3: expected ',' or '}}' after the "
        "value of 'plugins', got 'g'; fix the file (`openclaw doctor` checks it) or point config_path at the right one")


def test_bad_input_unknown_plugin(tmp_path):
    b = _state(tmp_path)
    _set_config(b, "{plugins: {slots: {memory: 'supermemory'}}}")
    assert _fails(home=b["home"]) == (
        f"plugins.slots.memory in config file '{b['config_path']}' names 'supermemory', a plugin openclaw.memory does "
        "not know; known plugins: memory-core, memory-lancedb, memory-lancedb-pro. Fix the slot in the config or "
        "point config_path at the right file")


def test_bad_input_db_path(tmp_path, lancedb_home):
    home = lancedb_home["home"]
    assert _fails(home=home, db_path=str(tmp_path / "none")) == (
        "Database directory '%s' (db_path) does not exist; fix db_path" % (tmp_path / "none"))
    (tmp_path / "file").write_text("x")
    assert _fails(home=home, db_path=str(tmp_path / "file")) == (
        "Database path '%s' is a file, not a LanceDB directory; fix db_path" % (tmp_path / "file"))
    (tmp_path / "notdb").mkdir()
    (tmp_path / "notdb" / "notes.txt").write_text("x")
    assert _fails(home=home, db_path=str(tmp_path / "notdb")) == (
        "'%s' is not a LanceDB database directory: it holds no '<table>.lance' table; fix db_path"
        % (tmp_path / "notdb"))
    table = os.path.join(lancedb_home["db_path"], "memories.lance")
    assert _fails(home=home, db_path=table) == (
        f"'{table}' is a single Lance table, not a LanceDB database directory; pass its parent directory "
        f"'{lancedb_home['db_path']}'")


def test_bad_input_config_db_path_is_a_file(tmp_path):
    b = _state(tmp_path)
    shutil.rmtree(b["db_path"])
    with open(b["db_path"], "w") as fh:
        fh.write("x")
    assert _fails(home=b["home"]) == (
        f"Database path '{b['db_path']}' is a file, not a LanceDB directory; it is memory-lancedb's default path: pass "
        "db_path or set dbPath in the config if the database is elsewhere")


def test_bad_input_memories_table_missing(tmp_path):
    b = _state(tmp_path, n=5, extra_tables=["archive"])
    shutil.rmtree(b["table_path"])
    assert _fails(home=b["home"]) == (
        f"Database directory '{b['db_path']}' has no 'memories' table (it holds: archive); memory-lancedb and "
        "memory-lancedb-pro keep memories in 'memories.lance'; it is memory-lancedb's default path: pass db_path or "
        "set dbPath in the config if the database is elsewhere")


def test_bad_input_workspace_option(tmp_path, lancedb_home):
    home = lancedb_home["home"]
    (tmp_path / "MEMORY.md").write_text("# notes\n")
    assert _fails(home=home, workspace=str(tmp_path / "MEMORY.md")) == (
        f"workspace '{tmp_path}/MEMORY.md' is a file, not a directory; set workspace to the Markdown memory "
        "workspace directory (the one holding MEMORY.md), or leave it unset to use agents.defaults.workspace from "
        "the config")
    f = gather(home=home, workspace=str(tmp_path / "gone"), gather_stats=False)
    assert f["workspace"] == {"path": str(tmp_path / "gone"), "exists": False, "memory_md": None, "user_md": None,
                              "dreams_md": None, "daily_notes": 0, "daily_first": None, "daily_last": None,
                              "files": 0, "bytes": 0}
    assert f["warnings"] == [
        f"workspace '{tmp_path}/gone' does not exist, so no workspace files are reported; set workspace to the "
        "Markdown memory workspace directory (the one holding MEMORY.md), or leave it unset to use "
        "agents.defaults.workspace from the config"]
    # A configured workspace that does not exist (yet) is no one's typo: no warning, as before.
    b = _state(tmp_path, name="h", n=3, workspace=False)
    assert gather(home=b["home"])["warnings"] == [] and gather(home=b["home"])["workspace"]["exists"] is False


def test_bad_input_profile(tmp_path, lancedb_home):
    for profile in ("../../etc", "work/x", ".."):
        assert _fails(home=lancedb_home["home"], profile=profile) == (
            f"profile '{profile}' is not a profile name: OpenClaw profile names are letters, digits, '-' and '_' (at "
            "most 64, no path separators or '..'), as in `openclaw --profile work`; set profile to the name the "
            "gateway runs with, or state_dir to a directory")
    # Also with state_dir given: the profile still names the workspace and the gateway unit.
    assert _fails(home=lancedb_home["home"], state_dir=lancedb_home["state_dir"], profile="../x").startswith(
        "profile '../x' is not a profile name")
    assert _fails(home=str(tmp_path), profile="work").startswith("No OpenClaw config found")


def test_bad_input_probes_and_user(lancedb_home):
    assert _fails(home=lancedb_home["home"], probes=-1) == (
        "probes=-1 is invalid: probes must be 0 or more (how many spot-check memories to record; 0 records none)")
    assert _fails(user="no-such-user-x") == (
        "User 'no-such-user-x' does not exist on this host; set user to the account that runs the OpenClaw gateway")


def _as_nobody(home, **kw):
    """gather() as uid 65534 in a subprocess: the MemoryToolError message, or 'ok'."""
    code = ("import json, sys\n"
            "from ansible_collections.openclaw.memory.plugins.module_utils.facts import gather\n"
            "from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError\n"
            "try:\n    gather(home=sys.argv[1], **json.loads(sys.argv[2]))\n    print('ok')\n"
            "except MemoryToolError as e:\n    print(e.msg)\n")
    out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code,
                          home, json.dumps(kw)], capture_output=True, text=True, timeout=120, check=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join([REPO + "/tools", REPO + "/.collections"])))
    return out.stdout.strip()


@pytest.fixture
def world_dir():
    """A fresh dir every account can search (pytest's tmp_path sits under a 0700 dir)."""
    path = tempfile.mkdtemp(prefix="facts-unreadable-")
    os.chmod(path, 0o755)
    yield pathlib.Path(path)
    shutil.rmtree(path)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_bad_input_unreadable_state_and_database(world_dir):
    b = _state(world_dir, n=5)
    for d in (b["home"], os.path.dirname(b["db_path"])):
        os.chmod(d, 0o755)
    # the state dir is 0700 and the config 0600 (as OpenClaw makes them): nothing below can be read
    assert _as_nobody(b["home"]) == (
        f"State dir '{b['state_dir']}' cannot be read: '{b['state_dir']}' is not readable by this account; run the "
        "module with become (it only reads) or as the gateway's user")
    assert _as_nobody(str(world_dir / "nobody"), db_path=b["db_path"]) == (
        f"Database directory '{b['db_path']}' cannot be reached: '{b['state_dir']}' is not readable by this account; "
        "run the module with become or as the gateway's user")
    os.chmod(b["state_dir"], 0o755)
    assert _as_nobody(b["home"]) == (
        f"Config file '{b['config_path']}' is not readable by this account; run the module with become or as the "
        "gateway's user")
    os.chmod(b["config_path"], 0o644)
    os.chmod(b["db_path"], 0o700)
    assert _as_nobody(b["home"]) == (
        f"Database directory '{b['db_path']}' is not readable; run as its owner or with become")


# --------------------------------------------------------------------------- the module through Ansible


def _ansible(args, python=None, check=False):
    cmd = [ANSIBLE, "localhost", "-m", "openclaw.memory.openclaw_memory_facts",
           "-a", args]
    if python:
        cmd += ["-e", f"ansible_python_interpreter={python}"]
    if check:
        cmd.append("--check")
    env = ansible_env(**JSON_OUTPUT)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env, check=False)
    start = 0 if proc.stdout.startswith("{") else proc.stdout.index("\n{") + 1  # around profile_tasks' lines
    out = json.JSONDecoder().raw_decode(proc.stdout[start:])[0]
    return out["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_module_end_to_end(lancedb_home):
    res = _ansible(f"home={lancedb_home['home']} probe_query={lancedb_home['probes'][0]['code']}")
    assert res["changed"] is False and "failed" not in res
    facts = res["ansible_facts"]["openclaw_memory"]
    assert facts["total"] == 60 and len(facts["probes"]) == 3 and len(facts["query_matches"]) == 1
    direct = gather(home=lancedb_home["home"], probe_query=lancedb_home["probes"][0]["code"])
    assert facts["probes"] == direct["probes"] and facts["by_category"] == direct["by_category"]
    assert lancedb_home["secret"] not in json.dumps(res)
    checked = _ansible(f"home={lancedb_home['home']}", check=True)
    assert checked["changed"] is False and checked["ansible_facts"]["openclaw_memory"]["total"] == 60


def test_module_failure_message(tmp_path):
    res = _ansible(f"home={tmp_path} db_path={tmp_path / 'none'}")
    assert res["failed"] is True
    assert res["msg"] == "Database directory '%s' (db_path) does not exist; fix db_path" % (tmp_path / "none")


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3") or subprocess.run(
    ["/usr/bin/python3", "-c", "import lance"], capture_output=True, check=False).returncode == 0,
    reason="needs a system python3 without pylance")
def test_module_without_pylance_on_the_host(tmp_path, lancedb_home):
    res = _ansible(f"home={lancedb_home['home']}", python="/usr/bin/python3")
    assert res["failed"] is True
    assert res["msg"].startswith("Failed to import the required Python library (pylance) on ")
    assert "Traceback" not in res["msg"]
    core = _state(tmp_path, plugin="memory-core", n=5)
    res = _ansible(f"home={core['home']}", python="/usr/bin/python3")
    assert "failed" not in res and res["ansible_facts"]["openclaw_memory"]["libs"]["pylance"] is None
    assert res["ansible_facts"]["openclaw_memory"]["workspace"]["exists"] is True
