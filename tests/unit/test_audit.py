# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""memory_audit domain (plugins/module_utils/audit.py) on real small databases with planted rows.

ocmlab.fixtures plants exact duplicates (same text and vector as an earlier row), near duplicates
("Note again: " + an earlier text, vector at cosine ~0.995) and secrets (an IP, an sk-live-... key and
an AKIA... key id); the audit must find exactly those, for both plugins, and never return a secret.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import lance
import numpy as np
import pyarrow as pa
import pytest
from ansible_collections.openclaw.memory.plugins.module_utils import audit as A
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError
from ocmlab import fixtures as F
from repo_env import ANSIBLE, REPO, ansible_env

DIMS = 16
N = 90
SEED = 11
PLUGINS = (F.P.MEMORY_LANCEDB, F.P.MEMORY_LANCEDB_PRO)
PLANTED_SECRET = re.compile(r"sk-live-[0-9a-f]{32}|AKIA[A-Z2-7]{16}|\b10\.\d+\.\d+\.\d+\b")


def build(home, plugin=F.P.MEMORY_LANCEDB, n=N, **kw):
    kw = {"duplicates": 3, "near_duplicates": 2, "secrets": 2, **kw}
    return F.build_state(str(home), plugin, n=n, dims=DIMS, seed=SEED, mode="batched", batch_size=40,
                         workspace=False, **kw)


@pytest.fixture(scope="module", params=PLUGINS)
def planted(request, tmp_path_factory):
    return build(tmp_path_factory.mktemp("audit") / "home", request.param)


def table(state):
    return lance.dataset(os.path.join(state["db_path"], "memories.lance"))


def append(state, rows):
    """Add rows in one commit with pylance, filling the plugin's other columns."""
    ds = table(state)
    base = {"category": "fact", "importance": 0.7, "createdAt": 1.78e12, "agentId": "main", "scope": "global",
            "timestamp": 1.78e12, "metadata": "{}"}
    full = [{c: r.get(c, base.get(c)) for c in ds.schema.names} for r in rows]
    lance.write_dataset(pa.Table.from_pylist(full, schema=ds.schema), ds.uri, mode="append")


def vec(seed, near_to=None, noise=0.0):
    v = np.random.default_rng(seed).standard_normal(DIMS) if near_to is None else np.asarray(near_to, dtype=np.float64)
    v = v + noise * np.random.default_rng(seed + 1000).standard_normal(DIMS)
    return (v / np.linalg.norm(v)).astype(np.float32).tolist()


def pairs(near):
    return {(p["a"], p["b"]) for p in near["pairs"]}


def planted_pairs(state, kind):
    """(earlier id, planted id) of each planted duplicate or near duplicate."""
    return {(d["of"], d["id"]) for d in state["planted"][kind]}


def secret_strings(state):
    """The planted secret strings, read from the table itself (so the check cannot pass vacuously)."""
    ids = ", ".join("'%s'" % i for i in state["planted"]["secrets"])
    texts = table(state).to_table(columns=["text"], filter="id IN (%s)" % ids)["text"].to_pylist()
    found = [s for t in texts for s in PLANTED_SECRET.findall(t)]
    assert len(found) == 3 * len(state["planted"]["secrets"]), texts
    return found


# --------------------------------------------------------------------------- what it finds


def test_finds_exactly_the_planted_rows(planted):
    r = A.audit(planted["db_path"], limit=1000)["audit"]
    ds = table(planted)
    assert (r["table"], r["version"], r["rows"]) == ("memories", ds.version, N)

    dup = r["exact_duplicates"]
    assert {tuple(g["ids"]) for g in dup["groups"]} == planted_pairs(planted, "duplicates")
    assert dup["count"] == dup["group_count"] == 3 and all(g["size"] == 2 for g in dup["groups"])

    near = r["near_duplicates"]
    assert pairs(near) == planted_pairs(planted, "near_duplicates")
    assert near["count"] == 2 and all(0.99 < p["cosine"] < 1.0 for p in near["pairs"])
    # Every pair of the rows whose text is not a repeat was measured.
    assert (near["method"], near["bounded"], near["rows_compared"]) == ("exact", False, N - 3)
    assert near["compared"] == (N - 3) * (N - 4) // 2 and near["unusable_vectors"] == 0

    sec = r["secrets"]
    assert sorted(i["id"] for i in sec["items"]) == sorted(planted["planted"]["secrets"]) and sec["count"] == 2
    assert all(i["kinds"] == ["aws_access_key_id", "api_key"] for i in sec["items"])
    infra = {i["id"]: i for i in r["infrastructure"]["items"]}
    assert r["infrastructure"]["count"] == len(infra)
    assert all("ipv4" in infra[i]["kinds"] for i in planted["planted"]["secrets"])

    imps = ds.to_table(columns=["id", "importance"]).to_pylist()
    low = [x["id"] for x in imps if x["importance"] < 0.3]
    assert low and sorted(r["low_importance"]["ids"]) == sorted(low) and r["low_importance"]["count"] == len(low)


def test_no_planted_secret_anywhere_in_the_result(planted):
    out = json.dumps(A.audit(planted["db_path"], limit=1000))
    for s in secret_strings(planted):
        assert s not in out
    assert "[REDACTED:api_key]" in out or "[REDACTED:ipv4]" in out
    excerpts = re.findall(r'"excerpt": "((?:[^"\\]|\\.)*)"', out)
    assert excerpts and all(len(json.loads('"%s"' % e)) <= A.EXCERPT_CHARS for e in excerpts)


def test_bounded_search_beyond_max_rows_near(planted):
    r = A.audit(planted["db_path"], max_rows_near=10)["audit"]
    near = r["near_duplicates"]
    assert (near["method"], near["bounded"]) == ("lsh", True)
    # The planted pairs share the most LSH bands, so they are compared first, within the 10-row bound.
    assert pairs(near) == planted_pairs(planted, "near_duplicates")
    assert 4 <= near["rows_compared"] <= 10 and near["compared"] <= near["candidates"]
    # The rest of the audit does not depend on the bound.
    assert r["exact_duplicates"]["count"] == 3 and r["secrets"]["count"] == 2
    tight = A.audit(planted["db_path"], max_rows_near=2)["audit"]["near_duplicates"]
    assert tight["rows_compared"] == 2 and tight["compared"] == 1 and tight["count"] == 1
    assert "more may exist" in "\n".join(A.audit_summary_lines({"audit": dict(r, near_duplicates=tight)}))


def test_counts_stay_complete_with_limit(planted):
    full = A.audit(planted["db_path"], limit=1000)
    none = A.audit(planted["db_path"], limit=0)
    for key, items in (("exact_duplicates", "groups"), ("near_duplicates", "pairs"), ("low_importance", "ids"),
                       ("secrets", "items"), ("infrastructure", "items")):
        assert none["audit"][key]["count"] == full["audit"][key]["count"] > 0
        assert none["audit"][key][items] == []
    one = A.audit(planted["db_path"], limit=1)["audit"]
    assert len(one["infrastructure"]["items"]) == 1 < one["infrastructure"]["count"]
    assert none["summary"] == full["summary"]


def test_stale_infrastructure(planted):
    now = F.DEFAULT_END_MS / 1000.0
    r = A.audit(planted["db_path"], stale_days=60, now=now, limit=1000)["audit"]
    cut = F.DEFAULT_END_MS - 60 * F.DAY_MS
    stale = r["stale_infrastructure"]
    assert stale["older_than"] == "2026-07-03T00:00:00Z" and stale["stale_days"] == 60
    old = [i for i in r["infrastructure"]["items"] if i["created"] < "2026-07-03T00:00:00Z"]
    assert 0 < len(old) < r["infrastructure"]["count"]
    assert [i["id"] for i in stale["items"]] == [i["id"] for i in old] and stale["count"] == len(old)
    created = F.P.created_column(table(planted).schema.names)
    times = {x["id"]: x[created] for x in table(planted).to_table(columns=["id", created]).to_pylist()}
    assert all(times[i["id"]] < cut for i in stale["items"])
    assert A.audit(planted["db_path"])["audit"]["stale_infrastructure"]["skipped"] == "stale_days not set"


def test_duplicates_ignore_whitespace_and_case_and_near_duplicates_skip_repeats(tmp_path):
    state = build(tmp_path / "home", n=30, duplicates=0, near_duplicates=0, secrets=0)
    base = vec(1)
    append(state, [
        {"id": "t-1", "text": "User likes green tea in the morning.", "vector": base},
        {"id": "t-2", "text": "  user LIKES green\ttea in the\nmorning. ", "vector": vec(2)},
        {"id": "t-3", "text": "User likes green tea, mornings.", "vector": vec(3, base, 0.05)},
        {"id": "t-4", "text": "User likes green tea (morning).", "vector": vec(4, base, 0.05)},
        {"id": "t-5", "text": "Same vector, other words.", "vector": base},
    ])
    r = A.audit(state["db_path"])["audit"]
    assert r["exact_duplicates"]["groups"] == [
        {"ids": ["t-1", "t-2"], "size": 2, "excerpt": "User likes green tea in the morning."}]
    pairs = r["near_duplicates"]["pairs"]
    # t-2 repeats t-1's text: reported there, not again as a near duplicate (its vector is unrelated anyway).
    assert {(p["a"], p["b"]) for p in pairs} == {("t-1", "t-3"), ("t-1", "t-4"), ("t-3", "t-4"), ("t-1", "t-5"),
                                                 ("t-3", "t-5"), ("t-4", "t-5")}
    assert pairs[0]["cosine"] == 1.0 and pairs[0]["a"] == "t-1" and pairs[0]["b"] == "t-5"
    assert [p["cosine"] for p in pairs] == sorted((p["cosine"] for p in pairs), reverse=True)
    exact = A.audit(state["db_path"], near_duplicate_threshold=1.0)["audit"]["near_duplicates"]
    assert [(p["a"], p["b"]) for p in exact["pairs"]] == [("t-1", "t-5")]
    # The bounded search finds the same pairs here (all in one LSH bucket run), at most 4 rows held.
    lsh = A.audit(state["db_path"], max_rows_near=4, limit=2)["audit"]["near_duplicates"]
    assert lsh["bounded"] and lsh["count"] == 6 and len(lsh["pairs"]) == 2 and lsh["rows_compared"] == 4


def test_unusable_vectors_are_counted_not_compared(tmp_path):
    state = build(tmp_path / "home", n=30, duplicates=0, near_duplicates=0, secrets=0)
    append(state, [{"id": "z-0", "text": "zero vector", "vector": [0.0] * DIMS},
                   {"id": "z-1", "text": "nan vector", "vector": [float("nan")] * DIMS}])
    near = A.audit(state["db_path"])["audit"]["near_duplicates"]
    assert near["unusable_vectors"] == 2 and near["rows_compared"] == 30 and near["count"] == 0
    assert A.audit(state["db_path"], max_rows_near=5)["audit"]["near_duplicates"]["unusable_vectors"] == 2


def test_table_without_vector_or_importance(tmp_path):
    db = tmp_path / "db"
    lance.write_dataset(pa.table({"id": ["a", "b", "c"], "text": ["x", "X ", "password=hunter2hunter2"]}),
                        str(db / "notes.lance"))
    r = A.audit(str(db), table="notes")
    a = r["audit"]
    assert a["near_duplicates"]["skipped"] == "the table has no vector column" and a["near_duplicates"]["count"] == 0
    assert a["low_importance"]["below"] is None and a["exact_duplicates"]["count"] == 1
    assert a["secrets"]["items"] == [{"id": "c", "kinds": ["password"], "excerpt": "password=[REDACTED:password]"}]
    assert "hunter2" not in json.dumps(r)
    assert "Low importance: not checked (the table has no importance column)" in "\n".join(A.audit_summary_lines(r))


def test_the_database_is_not_written(planted):
    table_dir = os.path.join(planted["db_path"], "memories.lance")

    def tree():
        out = {}
        for root, _dirs, files in os.walk(planted["db_path"]):
            for f in files:
                st = os.stat(os.path.join(root, f))
                out[os.path.join(root, f)] = (st.st_size, st.st_mtime_ns)
        return out

    before, version = tree(), lance.dataset(table_dir).version
    A.audit(planted["db_path"], stale_days=1)
    A.audit(planted["db_path"], max_rows_near=5)
    assert tree() == before and lance.dataset(table_dir).version == version


# --------------------------------------------------------------------------- patterns


@pytest.mark.parametrize("text, secrets, infra, hidden", [
    ("AWS key AKIAIOSFODNN7EXAMPLE here", ["aws_access_key_id"], [], "AKIAIOSFODNN7EXAMPLE"),
    ("key sk-proj-Abc123Def456Ghi789Jkl0", ["api_key"], [], "Abc123Def456Ghi789Jkl0"),
    ("gh token ghp_abcdefghijklmnopqrstuvwxyz0123456789", ["github_token"], [], "ghp_abcdefghij"),
    ("slack xoxb-1234567890-abcdefghij", ["slack_token"], [], "xoxb-1234567890"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
     ["private_key"], [], "b3BlbnNzaC1rZXktdjEAAAAA"),
    ("curl -H 'Authorization: Bearer abcDEF123456ghiJKL789'", ["bearer_token"], [], "abcDEF123456ghiJKL789"),
    ("db password: Tr0ub4dor&3 for prod", ["password"], [], "Tr0ub4dor&3"),
    ('config "apiKey": "abc123secretvalue"', ["secret_assignment"], [], "abc123secretvalue"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ["secret_assignment"], [], "wJalrXUtnFEMI"),
    ("postgres://app:s3cr3tpw@db.internal:5432/app", ["url_credentials"], ["port"], "s3cr3tpw"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     ["jwt"], [], "dozjgNryP4J3jVmNHl0w5N"),
    ("bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1", ["telegram_bot_token"], [], "AAHdqTcvCH1vGWJxfSeofSAs0K5"),
    ("google AIzaSyA1234567890abcdefghijklmnopqrstuv", ["google_api_key"], [], "AIzaSyA123"),
    ("token 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c", ["long_hex"], [], "9f86d081884c7d659a2f"),
    ("blob QWxhZGRpbjpvcGVuIHNlc2FtZQ0123456789abcdEFGH", ["long_base64"], [], "QWxhZGRpbjpvcGVu"),
    ("the NAS is 192.168.1.20, ssh on port 2222", [], ["ipv4", "port"], "192.168.1.20"),
    ("router fe80::1ff:fe23:4567:890a and ::1", [], ["ipv6"], "fe80::1ff"),
    ("grafana at https://grafana.ops.example.com:3000/d/x", [], ["hostname", "port"], None),
    ("files on nas.local and localhost:8080", [], ["hostname", "port"], None),
])
def test_patterns(text, secrets, infra, hidden):
    found_secrets, found_infra, _spans = A.scan_text(text)
    assert (found_secrets, found_infra) == (secrets, infra)
    if hidden:
        assert hidden not in A.redact_text(text) and "[REDACTED:" in A.redact_text(text)


@pytest.mark.parametrize("text", [
    "Meeting at 14:30 on Friday; standup 09:15:00.",
    "id 3f2a91c0-5b7e-4d6a-9c1e-0b8f7d2e4a61, version 1.2.3, Node.js and Fly.io, see docs/CHANGELOG.md",
    "The passwords policy is strict; rotate tokens monthly.",
    "Path /var/lib/openclaw-memory/migration-reports/latest stays.",
    "std::vector and Foo::Bar are C++.",
])
def test_ordinary_text_is_not_flagged(text):
    assert A.scan_text(text)[:2] == ([], [])
    assert A.redact_text(text) == text


def test_generated_memories_hold_no_false_secrets(tmp_path):
    state = build(tmp_path / "home", n=400, duplicates=0, near_duplicates=0, secrets=0)
    r = A.audit(state["db_path"])["audit"]
    assert r["secrets"]["count"] == 0 and r["infrastructure"]["count"] > 0


def test_excerpt_never_cuts_a_marker():
    text = "x" * 60 + " AKIAIOSFODNN7EXAMPLE and more text after it"
    out = A.excerpt(text)
    assert len(out) <= A.EXCERPT_CHARS and "AKIA" not in out and out.endswith("...")
    assert "[REDACTED" not in out or "[REDACTED:aws_access_key_id]" in out


# --------------------------------------------------------------------------- bad input


def test_bad_input_is_named(planted, tmp_path):
    db = planted["db_path"]
    cases = [
        ({"path": str(tmp_path / "nope")}, "Database directory '%s' does not exist; pass the memory plugin's dbPath"
         % (tmp_path / "nope")),
        ({"path": os.path.join(db, "memories.lance")}, "is a single Lance table, not a LanceDB database directory; "
         "pass its parent directory '%s'" % db),
        ({"path": str(tmp_path)}, "'%s' is not a LanceDB database directory: it holds no '<table>.lance' table"
         % tmp_path),
        ({"path": db, "table": "notes"}, "Database '%s' has no table 'notes' (it holds: memories); set table to one "
         "of them" % db),
        ({"path": db, "near_duplicate_threshold": 0}, "near_duplicate_threshold 0 is out of range (0, 1]; use a "
         "cosine in (0, 1], e.g. 0.97"),
        ({"path": db, "near_duplicate_threshold": 1.5}, "near_duplicate_threshold 1.5 is out of range (0, 1]"),
        ({"path": db, "near_duplicate_threshold": "high"}, "near_duplicate_threshold 'high' is not a number"),
        ({"path": db, "low_importance": -0.1}, "low_importance -0.1 is out of range [0, 1]; use an importance in "
         "[0, 1], e.g. 0.3"),
        ({"path": db, "max_rows_near": 0}, "max_rows_near 0 must be an integer >= 1; e.g. 20000"),
        ({"path": db, "limit": -1}, "limit -1 must be an integer >= 0; use 0 for counts only"),
        ({"path": db, "stale_days": -3}, "stale_days -3 is out of range [0, 36500]; use a number of days, e.g. 90"),
        ({"path": db, "stale_days": "inf"}, "stale_days 'inf' is out of range [0, 36500]; use a number of days"),
        ({"path": db, "stale_days": 1e6}, "stale_days 1000000.0 is out of range [0, 36500]; use a number of days"),
        ({"path": db, "stale_days": "nan"}, "stale_days 'nan' is out of range [0, 36500]; use a number of days"),
    ]
    for kwargs, msg in cases:
        path = kwargs.pop("path")
        with pytest.raises(MemoryToolError) as e:
            A.audit(path, **kwargs)
        assert msg in e.value.msg, (kwargs, e.value.msg)


def test_table_without_memory_columns_or_creation_time(tmp_path):
    db = tmp_path / "db"
    lance.write_dataset(pa.table({"key": ["a"], "value": ["b"]}), str(db / "memories.lance"))
    with pytest.raises(MemoryToolError, match=r"has no 'id' column \(it has: key, value\): it is not a memory table"):
        A.audit(str(db))
    lance.write_dataset(pa.table({"id": ["a"], "text": ["b"]}), str(db / "notes.lance"))
    with pytest.raises(MemoryToolError, match="has no creation-time column .*; omit stale_days"):
        A.audit(str(db), table="notes", stale_days=30)


# --------------------------------------------------------------------------- reporting and the module


def test_summary_lines_for_the_migration_report(planted):
    r = A.audit(planted["db_path"], stale_days=60, now=F.DEFAULT_END_MS / 1000.0)
    lines = A.audit_summary_lines(r)
    assert all(line.startswith("- ") for line in lines) and len(lines) == 7
    text = "\n".join(lines)
    assert "Exact duplicates: 3 memories repeat an earlier text (3 groups)" in text
    assert "Near duplicates: 2 pairs at cosine >= 0.97 (every pair of %d memories compared)" % (N - 3) in text
    assert "Secret-like strings: 2 memories (api_key, aws_access_key_id)" in text
    assert "Stale infrastructure (created before 2026-07-03T00:00:00Z)" in text
    for s in secret_strings(planted):
        assert s not in text
    assert A.audit_summary_lines(r["audit"]) == lines
    json.dumps(r)  # JSON-serialisable as it is
    assert r["summary"].startswith("%d memories in table memories: 3 exact duplicates (3 groups), 2 near-duplicate "
                                   "pairs (cosine >= 0.97)" % N)


def run_module(args, check=False):
    env = ansible_env()
    cmd = [ANSIBLE, "localhost", "-o", "-m", "openclaw.memory.memory_audit",
           "-a", json.dumps(args)] + (["--check"] if check else [])
    return subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


def test_module_end_to_end(planted, tmp_path):
    p = run_module({"path": planted["db_path"]}, check=True)
    assert "SUCCESS" in p.stdout and '"changed": false' in p.stdout, p.stdout + p.stderr
    assert '"summary": "%d memories in table memories: 3 exact duplicates' % N in p.stdout
    for s in secret_strings(planted):
        assert s not in p.stdout + p.stderr
    p = run_module({"path": str(tmp_path / "nope"), "near_duplicate_threshold": 0.9})
    assert "FAILED!" in p.stdout and "Database directory '%s' does not exist" % (tmp_path / "nope") in p.stdout
    p = run_module({"path": planted["db_path"], "near_duplicate_threshold": 2})
    assert "FAILED!" in p.stdout and "near_duplicate_threshold 2.0 is out of range (0, 1]" in p.stdout
