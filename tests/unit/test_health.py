# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""memory_health domain (plugins/module_utils/health.py) on real small generated databases."""

from __future__ import annotations

import json
import os
import subprocess

import lance
import pyarrow as pa
import pytest
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError, parse_time
from ansible_collections.openclaw.memory.plugins.module_utils.health import health, parse_since
from ocmlab import fixtures as F
from repo_env import ANSIBLE, REPO, ansible_env

DIMS = 16
MIGRATED = "2026-09-01T00:00:00Z"  # fixtures' rows are all older (DEFAULT_END_MS)


@pytest.fixture
def state(tmp_path):
    return F.build_state(str(tmp_path / "home"), n=20, dims=DIMS, seed=5, mode="batched", batch_size=10)


def add_rows(db_path, rows):
    """Append rows shaped like memory-lancedb's (with agentId) in one commit, with pylance (lancedb would
    refuse a NaN vector; another client need not)."""
    uri = os.path.join(db_path, "memories.lance")
    schema = lance.dataset(uri).schema
    lance.write_dataset(pa.Table.from_pylist(rows, schema=schema), uri, mode="append")


def row(i, category="fact", importance=0.7, vector=None, created=1.79e12):
    return {"id": "late-%d" % i, "text": "stored after the migration %d" % i,
            "vector": vector if vector is not None else [0.1 * (i + 1)] * DIMS,
            "importance": importance, "category": category, "createdAt": created, "agentId": "main"}


def test_healthy_after_migration_with_growth(state):
    F.add_memories(state["db_path"], F.P.MEMORY_LANCEDB, 3, seed=5)  # the gateway's new memories (wall clock)
    r = health(state["db_path"], plugin="memory-lancedb", dimensions=DIMS, since=MIGRATED, baseline_total=20,
               expect_growth=True)
    assert r["ok"], r["problems"]
    assert r["checks"]["growth"] == {"ok": True, "total": 23, "baseline": 20, "grew": 3,
                                     "msg": "23 memories now, 20 at migration (+3)"}
    assert r["checks"]["recent"]["memories"] == 3 and r["checks"]["vector_dim"]["ok"]


def test_no_growth_fails_only_when_growth_is_expected(state):
    r = health(state["db_path"], baseline_total=20, expect_growth=True, since=MIGRATED)
    assert not r["ok"] and "nothing was stored since the migration; check autoCapture" in r["problems"][0]
    assert health(state["db_path"], baseline_total=20, since=MIGRATED)["ok"]
    lost = health(state["db_path"], baseline_total=25)
    assert not lost["ok"] and "memories were lost since the migration" in lost["problems"][0]


def test_bad_recent_memories_are_named(state):
    add_rows(state["db_path"], [row(0, category="gossip"), row(1, importance=1.7), row(2, vector=[0.0] * DIMS),
                                row(3, vector=[float("nan")] * DIMS), row(4)])
    r = health(state["db_path"], plugin="memory-lancedb", dimensions=DIMS, since=MIGRATED)
    rec = r["checks"]["recent"]
    assert not r["ok"] and rec["memories"] == 5
    assert rec["bad_category"] == ["late-0 ('gossip')"] and rec["bad_importance"] == ["late-1 (1.7)"]
    assert rec["bad_vector"] == ["late-2 (all zeros)", "late-3 (not finite)"]
    assert any(p.startswith("recent: 1 memories with a bad category, e.g. late-0") for p in r["problems"])
    # Only memories since the migration are judged: older ones are not the new host's doing.
    assert health(state["db_path"], plugin="memory-lancedb", since="2027-01-01T00:00:00Z")["ok"]


def test_reflection_is_a_category_only_for_the_pro_plugin(state):
    add_rows(state["db_path"], [row(0, category="reflection")])
    assert not health(state["db_path"], plugin="memory-lancedb", since=MIGRATED)["ok"]
    assert health(state["db_path"], plugin="memory-lancedb-pro", since=MIGRATED)["ok"]


def test_vector_dim_mismatch_with_config(state):
    r = health(state["db_path"], dimensions=1536)
    assert not r["ok"] and r["problems"] == [
        "vector_dim: the table stores 16-dim vectors but the embedding config says 1536: recall compares vectors of "
        "different models"]


def test_since_formats_and_bad_input(state, tmp_path):
    assert parse_since("2026-09-01T00:00:00Z") == parse_since(1788220800) == parse_since(1788220800000.0)
    with pytest.raises(MemoryToolError, match="since 'yesterday' is not a time"):
        health(state["db_path"], since="yesterday")
    with pytest.raises(MemoryToolError, match="does not exist"):
        health(str(tmp_path / "nope"))
    # Numbers a date cannot hold name the value and the range instead of failing inside Lance or the clock.
    for bad in ("nan", "inf", "-inf", "1e20", -5):
        with pytest.raises(MemoryToolError) as e:
            health(state["db_path"], since=bad)
        assert e.value.msg.startswith("since %r is not a time: epoch seconds must lie between 0 and 253402300799 "
                                      "(9999-12-31)" % bad), e.value.msg
    with pytest.raises(MemoryToolError) as e:
        health(state["db_path"], plugin="memory-lancdb")
    assert e.value.msg == ("plugin 'memory-lancdb' is not a memory plugin with a LanceDB table (memory-lancedb, "
                           "memory-lancedb-pro); pass what openclaw_memory_facts reports as plugin, or omit plugin "
                           "to accept any known category")


def test_parse_time_range_and_milliseconds_hint():
    assert parse_time("1788220800", "--now") == 1788220800.0 == parse_time("2026-09-01", "--now")
    assert parse_time(1788220800000, "since", ms_too=True) == 1788220800.0
    with pytest.raises(MemoryToolError) as e:
        parse_time(1788220800000, "--now")
    assert "(1788220800000 looks like milliseconds: divide by 1000)" in e.value.msg


def test_module_end_to_end(state):
    env = ansible_env()
    args = {"db_path": state["db_path"], "since": MIGRATED, "baseline_total": 20, "expect_growth": True}
    p = subprocess.run([ANSIBLE, "localhost", "-o", "-m",
                        "openclaw.memory.memory_health", "-a", json.dumps(args)],
                       check=False, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert "FAILED!" in p.stdout and "nothing was stored since the migration" in p.stdout, p.stdout + p.stderr
    args["expect_growth"] = False
    p = subprocess.run([ANSIBLE, "localhost", "-o", "-m",
                        "openclaw.memory.memory_health", "-a", json.dumps(args)],
                       check=False, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert "SUCCESS" in p.stdout and '"ok": true' in p.stdout, p.stdout + p.stderr
