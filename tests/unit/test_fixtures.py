"""ocmlab.fixtures: schemas from plugins.py, one row per commit, determinism, JSON5 config, workspace."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys

import lance
import lancedb
import numpy as np
import pyarrow.compute as pc
import pytest
from ansible_collections.openclaw.memory.plugins.module_utils import plugins as P
from ocmlab import fixtures as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "tools"), os.path.join(ROOT, ".collections")]))
DIMS = 8

VARIANTS = [
    (P.MEMORY_LANCEDB, True),
    (P.MEMORY_LANCEDB, False),
    (P.MEMORY_LANCEDB_PRO, False),
]


def build(tmp_path, name="h", **kw):
    kw.setdefault("dims", DIMS)
    kw.setdefault("n", 12)
    return F.build_state(tmp_path / name, **kw)


def rows(table_path, version=None):
    ds = lance.dataset(table_path, version=version)
    return ds.to_table().to_pylist()


# --------------------------------------------------------------------------- schema


@pytest.mark.parametrize(("plugin", "agent_id"), VARIANTS)
def test_schema_matches_plugins_py_exactly(tmp_path, plugin, agent_id):
    res = build(tmp_path, plugin=plugin, agent_id=agent_id)
    schema = lance.dataset(res["table_path"]).schema
    expected = P.table_columns(plugin, optional=("agentId",) if agent_id else ())
    assert schema.names == [c for c, _t in expected]
    for field, (_name, kind) in zip(schema, expected, strict=True):
        if kind == "vector":
            assert str(field.type) == f"fixed_size_list<item: float>[{DIMS}]"
            assert field.type.list_size == DIMS
        else:
            assert str(field.type) == kind  # pyarrow's names: string (utf8), double (float64)
    assert res["columns"] == schema.names
    assert res["agent_id"] is agent_id
    assert ("agentId" in schema.names) is agent_id


def test_table_columns_helper():
    assert [c for c, _t in P.table_columns(P.MEMORY_LANCEDB)] == [
        "id", "text", "vector", "importance", "category", "createdAt",
    ]
    assert P.table_columns(P.MEMORY_LANCEDB, True)[-1] == ("agentId", "string")
    assert P.table_columns(P.MEMORY_LANCEDB_PRO, True) == P.PLUGINS[P.MEMORY_LANCEDB_PRO]["columns"]
    with pytest.raises(KeyError):
        P.table_columns("memory-nope")


@pytest.mark.parametrize(("plugin", "agent_id"), VARIANTS)
def test_values_are_plausible(tmp_path, plugin, agent_id):
    res = build(tmp_path, plugin=plugin, agent_id=agent_id, n=60)
    data = rows(res["table_path"])
    assert len(data) == 60
    created = P.PLUGINS[plugin]["created_column"]
    assert {r["category"] for r in data} <= set(P.PLUGINS[plugin]["categories"])
    assert all(0.0 <= r["importance"] <= 1.0 for r in data)
    times = [r[created] for r in data]
    assert times == sorted(times) and all(t == int(t) for t in times)
    assert times[-1] - times[0] > 60 * F.DAY_MS  # spread over months
    assert len({r["id"] for r in data}) == 60
    uuid4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    assert all(re.fullmatch(uuid4, r["id"]) for r in data)
    assert all(abs(np.linalg.norm(np.asarray(r["vector"], dtype=np.float64)) - 1.0) < 1e-5 for r in data)
    if plugin == P.MEMORY_LANCEDB_PRO:
        assert {r["scope"] for r in data} <= set(F.DEFAULT_SCOPES) | {"reflection:agent:main"}
        meta = [json.loads(r["metadata"]) for r in data]
        assert all(m["agentId"] == "main" for m in meta)
        assert all(r["timestamp"] <= m["lastAccessedAt"] for r, m in zip(data, meta, strict=True))
    elif agent_id:
        assert {r["agentId"] for r in data} == {"main"}


def test_counts_match_the_table(tmp_path):
    res = build(tmp_path, plugin=P.MEMORY_LANCEDB_PRO, n=80, agents=("main", "ops"))
    tbl = lance.dataset(res["table_path"]).to_table(columns=["category", "scope"])
    for key, col in (("by_category", "category"), ("by_scope", "scope")):
        counts = {d["values"]: d["counts"] for d in pc.value_counts(tbl.column(col)).to_pylist()}
        assert res[key] == dict(sorted(counts.items()))
    assert sum(res["by_category"].values()) == res["count"] == 80
    assert res["by_agent"] == {}


def test_agents_are_spread(tmp_path):
    res = build(tmp_path, n=100, agents=("main", "ops", "research"))
    assert set(res["by_agent"]) == {"main", "ops", "research"}
    assert res["by_agent"]["main"] == max(res["by_agent"].values())
    assert sum(res["by_agent"].values()) == 100


# --------------------------------------------------------------------------- commits


def test_plugin_mode_one_version_per_memory(tmp_path):
    n = 15
    res = build(tmp_path, n=n)
    ds = lance.dataset(res["table_path"])
    # version 1: the __schema__ row; version 2: its delete; then one version per memory.
    assert ds.version == res["version"] == n + 2
    assert len(ds.versions()) == n + 2
    assert res["commits"] == n
    assert len(ds.get_fragments()) == n
    assert lance.dataset(res["table_path"], version=1).count_rows() == 1
    assert rows(res["table_path"], 1)[0]["id"] == F.SCHEMA_ROW_ID
    assert lance.dataset(res["table_path"], version=2).count_rows() == 0
    for k in (3, 9, n + 2):
        assert lance.dataset(res["table_path"], version=k).count_rows() == k - 2
    manifests = [f for f in os.listdir(os.path.join(res["table_path"], "_versions")) if f.endswith(".manifest")]
    assert len(manifests) == n + 2


def test_batched_mode_with_a_per_row_tail(tmp_path, monkeypatch):
    seen = []
    orig = F.MemoryWriter.batch

    def spy(self, start, count):
        seen.append(count)
        return orig(self, start, count)

    monkeypatch.setattr(F.MemoryWriter, "batch", spy)
    res = build(tmp_path, n=25, mode="batched", batch_size=10, tail=5)
    ds = lance.dataset(res["table_path"])
    assert ds.count_rows() == 25
    assert res["commits"] == 2 + 5  # 20 rows in two batches, then 5 single-row commits
    assert ds.version == 2 + 7
    assert seen == [10, 10, 1, 1, 1, 1, 1]  # never more than batch_size vectors at once
    assert [r["id"] for r in rows(res["table_path"])] == [F.memory_id(0, i) for i in range(25)]


def test_batched_equals_plugin_mode_content(tmp_path):
    a = build(tmp_path, "a", n=20, seed=4)
    b = build(tmp_path, "b", n=20, seed=4, mode="batched", batch_size=7)
    assert rows(a["table_path"]) == rows(b["table_path"])
    assert a["version"] == 22 and b["version"] == 2 + 3


@pytest.mark.parametrize("dsv", ["2.0", "2.1", "2.2", "legacy"])
def test_data_storage_version(tmp_path, dsv):
    res = build(tmp_path, n=3, data_storage_version=dsv)
    ds = lance.dataset(res["table_path"])
    assert ds.data_storage_version == {"legacy": "0.1"}.get(dsv, dsv) == res["data_storage_version"]
    assert ds.count_rows() == 3


def test_v1_manifest_names(tmp_path):
    res = build(tmp_path, n=3, v1_manifests=True)
    names = sorted(os.listdir(os.path.join(res["table_path"], "_versions")))
    assert {"1.manifest", "2.manifest", "5.manifest"} <= set(names)
    assert res["manifest_naming"] == "v1"
    assert lance.dataset(res["table_path"]).version == 5
    v2 = build(tmp_path, "v2", n=1)
    assert f"{(1 << 64) - 1 - 1:020d}.manifest" in os.listdir(os.path.join(v2["table_path"], "_versions"))


def test_extra_tables(tmp_path):
    res = build(tmp_path, n=3, extra_tables={"archive": 4, "scratch": 0})
    db = lancedb.connect(res["db_path"])
    names = set(db.list_tables().tables if hasattr(db.list_tables(), "tables") else db.list_tables())
    assert names == {"memories", "archive", "scratch"}
    assert db.open_table("archive").count_rows() == 4
    assert db.open_table("archive").schema == db.open_table("memories").schema
    assert res["extra_tables"] == {"archive": 4, "scratch": 0}


# --------------------------------------------------------------------------- determinism and search


def test_same_seed_same_rows_other_seed_differs(tmp_path):
    a = build(tmp_path, "a", plugin=P.MEMORY_LANCEDB_PRO, seed=11)
    b = build(tmp_path, "b", plugin=P.MEMORY_LANCEDB_PRO, seed=11)
    c = build(tmp_path, "c", plugin=P.MEMORY_LANCEDB_PRO, seed=12)
    assert rows(a["table_path"]) == rows(b["table_path"])
    assert a["ids"] == b["ids"] and a["probes"] == b["probes"]
    assert not set(a["ids"]) & set(c["ids"])
    assert [r["text"] for r in rows(a["table_path"])] != [r["text"] for r in rows(c["table_path"])]
    for name in ("openclaw.json", ".env", "workspace/MEMORY.md"):
        with open(os.path.join(a["state_dir"], name)) as fa, open(os.path.join(b["state_dir"], name)) as fb:
            assert fa.read() == fb.read()


def test_texts_are_varied():
    cols = ("id", "text", "category", "importance", "createdAt")
    texts = [F.memory_record(P.MEMORY_LANCEDB, 0, i, 0.0, cols)["text"] for i in range(3000)]
    assert len(set(texts)) == len(texts)  # no natural exact duplicates at this size
    assert len({t.split()[0] for t in texts}) > 30


def test_own_vector_finds_the_row(tmp_path):
    res = build(tmp_path, n=30, seed=5)
    table = lancedb.connect(res["db_path"]).open_table("memories")
    for i in (0, 13, 29):
        hit = table.search(F.memory_vector(5, i, DIMS)).limit(1).to_list()[0]
        assert hit["id"] == F.memory_id(5, i)
        assert hit["_distance"] < 1e-6


def test_probes_are_findable(tmp_path):
    res = build(tmp_path, n=40, probes=3)
    assert [p["index"] for p in res["probes"]] == [0, 20, 39]
    data = {r["id"]: r for r in rows(res["table_path"])}
    for p in res["probes"]:
        assert data[p["id"]]["text"] == p["text"]
        assert p["code"] in p["text"]
        assert sum(p["code"] in r["text"] for r in data.values()) == 1


def test_add_memories_continues_the_sequence(tmp_path):
    res = build(tmp_path, n=5, seed=3)
    before = lance.dataset(res["table_path"]).version
    out = F.add_memories(res["db_path"], P.MEMORY_LANCEDB, 4, seed=3, created=F.schedule(100, seed=3))
    assert out["start_index"] == 5 and out["count"] == 4 and out["commits"] == 4
    assert out["ids"] == [F.memory_id(3, i) for i in range(5, 9)]
    ds = lance.dataset(res["table_path"])
    assert ds.version == before + 4 == out["version"]
    assert [r["id"] for r in rows(res["table_path"])][5:] == out["ids"]
    again = F.add_memories(res["db_path"], P.MEMORY_LANCEDB, 2, seed=9, start_index=0, per_commit=2)
    assert again["commits"] == 1 and again["ids"] == [F.memory_id(9, 0), F.memory_id(9, 1)]
    assert ds.count_rows() == 9  # the old handle still sees its version
    assert lance.dataset(res["table_path"]).count_rows() == 11


def test_add_memories_refuses_the_wrong_plugin(tmp_path):
    res = build(tmp_path, n=1)
    with pytest.raises(ValueError, match="not the memory-lancedb-pro schema"):
        F.add_memories(res["db_path"], P.MEMORY_LANCEDB_PRO, 1)


def test_planted_duplicates_and_secrets(tmp_path):
    res = build(tmp_path, n=50, duplicates=2, near_duplicates=2, secrets=2)
    data = {r["id"]: r for r in rows(res["table_path"])}
    planted = res["planted"]
    assert len(planted["duplicates"]) == 2 and len(planted["near_duplicates"]) == 2 and len(planted["secrets"]) == 2
    for d in planted["duplicates"]:
        assert data[d["id"]]["text"] == data[d["of"]]["text"]
        assert data[d["id"]]["vector"] == data[d["of"]]["vector"]
    for d in planted["near_duplicates"]:
        a, b = (np.asarray(data[x]["vector"], dtype=np.float64) for x in (d["id"], d["of"]))
        assert 0.97 <= float(a @ b) < 0.9999
        assert data[d["id"]]["text"] == F.NEAR_DUPLICATE_PREFIX + data[d["of"]]["text"]
    for mem_id in planted["secrets"]:
        assert re.search(r"10\.\d+\.\d+\.\d+", data[mem_id]["text"]) and "sk-live-" in data[mem_id]["text"]
    texts = [r["text"] for r in data.values()]
    assert len(texts) - len(set(texts)) == 2  # only the planted exact duplicates


# --------------------------------------------------------------------------- config, secrets, package


def _strip_json5(text):
    """Tiny JSON5-subset -> JSON transform (comments, trailing commas, bare keys, single quotes)."""
    out, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            j = i + 1
            while text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            body = text[i + 1 : j]
            out.append(json.dumps(json.loads('"' + body.replace("\\'", "'") + '"')) if ch == "'" else text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            i = text.index("\n", i)
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        else:
            out.append(ch)
            i += 1
    s = "".join(out)
    s = re.sub(r",(\s*[}\]])", r"\1", s)
    return re.sub(r"(?m)^(\s*)([A-Za-z_$][A-Za-z0-9_$]*)\s*:", r'\1"\2":', s)


@pytest.mark.parametrize("plugin", [P.MEMORY_LANCEDB, P.MEMORY_LANCEDB_PRO, P.MEMORY_CORE])
def test_config_is_json5_and_selects_the_plugin(tmp_path, plugin):
    res = build(tmp_path, plugin=plugin, n=4)
    with open(res["config_path"], encoding="utf-8") as f:
        text = f.read()
    assert stat.S_IMODE(os.stat(res["config_path"]).st_mode) == 0o600
    # The JSON5 features are really there.
    assert re.search(r"(?m)^\s*//", text) and "/*" in text  # line and block comments
    assert re.search(r",\s*\n\s*}", text)  # trailing commas
    assert re.search(r"(?m)^\s+plugins: {", text) and re.search(r"(?m)^\s+slots: {", text)  # unquoted keys
    assert f'"{plugin}": {{' in text  # a key that needs quotes
    assert "'" in text  # a single-quoted string
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    cfg = json.loads(_strip_json5(text))
    assert cfg["plugins"]["slots"]["memory"] == plugin
    entry = cfg["plugins"]["entries"][plugin]
    assert entry["enabled"] is True
    assert cfg["agents"]["defaults"]["workspace"] == "~/.openclaw/workspace"
    if P.PLUGINS[plugin]["lancedb"]:
        emb = entry["config"]["embedding"]
        assert emb["apiKey"] == "${OPENAI_API_KEY}"
        assert emb[P.PLUGINS[plugin]["base_url_key"]].startswith("https://")
        assert emb["model"] == "text-embedding-3-small" and emb["dimensions"] == DIMS
        assert "dbPath" not in entry["config"]  # the plugin default
        assert res["embedding"] == {k: v for k, v in emb.items() if k != "apiKey"}
    if plugin == P.MEMORY_LANCEDB_PRO:
        assert entry["config"]["scopes"]["default"] == "global"
        assert set(entry["config"]["scopes"]["definitions"]) == set(F.DEFAULT_SCOPES)
    assert res["secret"] not in text


def test_config_parses_with_the_collection_json5_parser(tmp_path):
    try:
        from ansible_collections.openclaw.memory.plugins.module_utils.config import parse_json5
    except ImportError:
        pytest.skip("module_utils/config.py (the collection's JSON5 parser) is not there yet")
    for plugin in (P.MEMORY_LANCEDB, P.MEMORY_LANCEDB_PRO):
        res = build(tmp_path, plugin, plugin=plugin, n=1)
        with open(res["config_path"], encoding="utf-8") as f:
            text = f.read()
        assert parse_json5(text) == json.loads(_strip_json5(text))


def test_default_embedding_dimensions_omitted_when_builtin(tmp_path):
    res = build(tmp_path, n=1, dims=1536)
    assert "dimensions" not in res["embedding"]
    pro = build(tmp_path, "pro", plugin=P.MEMORY_LANCEDB_PRO, n=1, dims=1024,
                embedding={"provider": "openai-compatible", "model": "bge-m3"})
    assert pro["embedding"]["dimensions"] == 1024 and pro["embedding"]["model"] == "bge-m3"


def test_env_file_holds_a_fake_secret(tmp_path):
    res = build(tmp_path, n=1, seed=2)
    with open(res["env_path"]) as f:
        env = f.read()
    assert f"OPENAI_API_KEY={res['secret']}\n" in env
    assert res["secret"].startswith("sk-ocmlab-FAKE-") and res["secret"] == F.fake_secret(2)
    assert stat.S_IMODE(os.stat(res["env_path"]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(res["state_dir"]).st_mode) == 0o700


@pytest.mark.parametrize("plugin", [P.MEMORY_LANCEDB, P.MEMORY_LANCEDB_PRO])
def test_plugin_package_json(tmp_path, plugin):
    res = build(tmp_path, plugin=plugin, n=1, plugin_version="9.9.9", client_version="0.30.0")
    assert res["package_json"] == P.package_json_path(res["state_dir"], plugin)
    with open(res["package_json"]) as f:
        pkg = json.load(f)
    assert pkg["name"] == P.PACKAGE_NAMES[plugin] and pkg["version"] == "9.9.9" == res["plugin_version"]
    with open(P.client_package_json_path(res["state_dir"], plugin)) as f:
        assert json.load(f) == {"name": "@lancedb/lancedb", "version": "0.30.0"}
    assert os.path.isfile(os.path.join(os.path.dirname(res["package_json"]), "openclaw.plugin.json"))


def test_db_path_forms_and_legacy_state_dir(tmp_path):
    res = build(tmp_path, n=2, state_dir_name=".clawdbot", db_path="~/.clawdbot/memory/lancedb")
    home = str(tmp_path / "h")
    assert res["state_dir"] == os.path.join(home, ".clawdbot")
    assert res["db_path"] == os.path.join(home, ".clawdbot", "memory", "lancedb")
    assert not os.path.exists(os.path.join(home, ".openclaw"))
    with open(res["config_path"]) as f:
        cfg = json.loads(_strip_json5(f.read()))
    assert cfg["plugins"]["entries"][P.MEMORY_LANCEDB]["config"]["dbPath"] == "~/.clawdbot/memory/lancedb"
    assert cfg["agents"]["defaults"]["workspace"] == "~/.clawdbot/workspace"
    custom = build(tmp_path, "abs", n=1, db_path=str(tmp_path / "elsewhere" / "db"))
    assert custom["table_path"] == str(tmp_path / "elsewhere" / "db" / "memories.lance")
    rel = build(tmp_path, "rel", n=1, db_path="data/lancedb")
    assert rel["db_path"] == os.path.join(rel["state_dir"], "extensions", P.MEMORY_LANCEDB, "data", "lancedb")
    default = build(tmp_path, "def", plugin=P.MEMORY_LANCEDB_PRO, n=1)
    assert default["db_path"] == str(tmp_path / "def" / ".openclaw" / "memory" / "lancedb-pro")


# --------------------------------------------------------------------------- workspace


def _bullets(path):
    with open(path, encoding="utf-8") as f:
        return [line for line in f if line.startswith("- ")]


def test_memory_core_is_workspace_only(tmp_path):
    res = build(tmp_path, plugin=P.MEMORY_CORE, n=40, seed=6)
    ws = res["workspace"]
    assert res["db_path"] is None and res["package_json"] is None and res["version"] is None
    assert not os.path.exists(os.path.join(res["state_dir"], "memory"))
    assert not os.path.exists(os.path.join(res["state_dir"], "extensions"))
    notes = sorted(os.listdir(os.path.join(ws["path"], "memory")))
    assert notes == ws["daily_notes"] and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}\.md", n) for n in notes)
    entries = len(_bullets(ws["memory_md"])) + sum(len(_bullets(os.path.join(ws["path"], "memory", n))) for n in notes)
    assert entries == 40 == ws["memory_md_entries"] + ws["daily_note_entries"] == res["count"]
    assert sum(res["by_category"].values()) == 40
    for p in res["probes"]:
        with open(os.path.join(ws["path"], p["file"]), encoding="utf-8") as f:
            assert p["text"] in f.read()


def test_lancedb_plugin_workspace_is_a_bounded_sample(tmp_path):
    res = build(tmp_path, n=200, mode="batched")
    ws = res["workspace"]
    assert os.path.isfile(os.path.join(ws["path"], "MEMORY.md")) and os.path.isfile(os.path.join(ws["path"], "USER.md"))
    assert 1 <= len(ws["daily_notes"]) <= 10
    texts = {r["text"] for r in rows(res["table_path"])}
    for name in ws["daily_notes"]:
        for line in _bullets(os.path.join(ws["path"], "memory", name)):
            assert line.split("] ", 1)[1].rstrip("\n") in texts
    none = build(tmp_path, "nows", n=2, workspace=False)
    assert none["workspace"] is None and not os.path.exists(os.path.join(none["state_dir"], "workspace"))


# --------------------------------------------------------------------------- ownership, errors, CLI


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_chown_everything_created(tmp_path):
    res = build(tmp_path, n=2, uid=4321, gid=4322, db_path=str(tmp_path / "other" / "db"))
    assert res["chowned"] is True
    for top in (str(tmp_path / "h"), str(tmp_path / "other")):
        for root, dirs, files in os.walk(top):
            for name in [root] + [os.path.join(root, x) for x in dirs + files]:
                st = os.lstat(name)
                assert (st.st_uid, st.st_gid) == (4321, 4322), name
    assert os.stat(tmp_path).st_uid == 0  # pre-existing parents untouched


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="unknown plugin 'memory-nope'"):
        build(tmp_path, plugin="memory-nope")
    with pytest.raises(ValueError, match="mode must be one of"):
        build(tmp_path, mode="fast")
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        build(tmp_path, seed=-1)
    with pytest.raises(ValueError, match="too small to plant"):
        build(tmp_path, n=4, duplicates=3)
    with pytest.raises(ValueError, match="data_storage_version must be one of"):
        build(tmp_path, "x", data_storage_version="3.7")
    build(tmp_path, "again", n=1)
    with pytest.raises(FileExistsError, match="already exists"):
        build(tmp_path, "again", n=1)


def test_cli_help_build_and_add(tmp_path):
    run = [sys.executable, "-m", "ocmlab.fixtures"]
    out = subprocess.run(run + ["--help"], env=ENV, capture_output=True, text=True, check=True)
    assert "build" in out.stdout and "add" in out.stdout
    out = subprocess.run(run + ["build", "--home", str(tmp_path / "c"), "-n", "6", "--dims", "4",
                                "--plugin", "memory-lancedb-pro", "--mode", "batched", "--tail", "2"],
                         env=ENV, capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    assert res["count"] == 6 and res["commits"] == 3 and "ids" not in res
    out = subprocess.run(run + ["add", "--db", res["db_path"], "--plugin", "memory-lancedb-pro", "-n", "2",
                                "--with-ids"], env=ENV, capture_output=True, text=True, check=True)
    added = json.loads(out.stdout)
    assert added["start_index"] == 6 and added["ids"] == [F.memory_id(0, 6), F.memory_id(0, 7)]
    assert lance.dataset(res["table_path"]).count_rows() == 8
