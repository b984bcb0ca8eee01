# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lance.memory_stats on a plugin-made table (one fragment per memory): one pass over the fragments.

The counts come from one streaming scan; the probe rows (and the probe_query
matches) are then read by their row offsets with take(), which touches only
their fragments, instead of a second, filtered pass over every fragment.
"""

from __future__ import annotations

import lance
import pytest
from ansible_collections.openclaw.memory.plugins.module_utils.lance import (
    coalesced,
    fetch_memories,
    memory_stats,
    open_table,
)
from ocmlab.fixtures import build_state

DIM = 16


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_state(str(tmp_path_factory.mktemp("scan") / "home"), n=80, dims=DIM, seed=21, workspace=False)


@pytest.fixture
def passes(monkeypatch):
    """Counts full passes (to_batches / to_table) and takes on any Lance dataset."""
    counts = {"to_batches": 0, "filtered to_table": 0, "take": 0}
    for attr in ("to_batches", "take"):
        orig = getattr(lance.LanceDataset, attr)

        def wrapper(ds, *a, _orig=orig, _attr=attr, **kw):
            counts[_attr] += 1
            return _orig(ds, *a, **kw)

        monkeypatch.setattr(lance.LanceDataset, attr, wrapper)
    orig_table = lance.LanceDataset.to_table

    def to_table(ds, *a, **kw):
        if kw.get("filter"):
            counts["filtered to_table"] += 1
        return orig_table(ds, *a, **kw)

    monkeypatch.setattr(lance.LanceDataset, "to_table", to_table)
    return counts


def test_one_pass_then_probes_by_offset(built, passes):
    ds = open_table(built["table_path"])
    assert len(ds.get_fragments()) == 80
    planted = built["probes"][0]
    stats = memory_stats(ds, probes=3, probe_query=planted["text"][:40])
    assert passes == {"to_batches": 1, "filtered to_table": 0, "take": 2}
    assert stats["total"] == 80
    assert stats["by_category"] == built["by_category"] and stats["by_agent"] == built["by_agent"]
    assert [m["id"] for m in stats["query_matches"]] == [planted["id"]]
    assert stats["query_matches"][0]["text"] == planted["text"]
    # The same probes as the id filter finds: the deterministic smallest sha256(id).
    again = fetch_memories(ds, [p["id"] for p in stats["probes"]])
    assert again == stats["probes"] and len(again) == 3


def test_wrong_offsets_fall_back_to_the_id_filter(built, passes):
    ds = open_table(built["table_path"])
    ids = [r["id"] for r in ds.take([3, 40], columns=["id"]).to_pylist()]
    passes["take"] = 0
    assert [m["id"] for m in fetch_memories(ds, ids, offsets=[3, 40])] == ids
    assert passes == {"to_batches": 0, "filtered to_table": 0, "take": 1}
    assert [m["id"] for m in fetch_memories(ds, ids, offsets=[4, 41])] == ids  # rows moved: the filter decides
    assert [m["id"] for m in fetch_memories(ds, ids, offsets=[3, 10_000])] == ids  # out of range
    assert passes["filtered to_table"] == 2


def test_coalesced_groups_without_losing_rows(built):
    ds = open_table(built["table_path"])
    groups = list(coalesced(ds.to_batches(columns=["id"]), 32))
    assert [g.num_rows for g in groups] == [32, 32, 16]
    assert [i for g in groups for i in g.column("id").to_pylist()] == ds.to_table(columns=["id"])["id"].to_pylist()
    assert list(coalesced(iter([]), 32)) == []
