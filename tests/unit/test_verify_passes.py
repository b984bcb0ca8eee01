# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How lance_verify reads a plugin-made table (one fragment per memory): each Lance pass once.

A pass over a table written one row per commit costs ~0.2 ms of CPU per fragment (bench/), so
verify() reads it once for the content check and lets the search check's exact
nearest-neighbour test ride on that read; validate() and the flat vector query run
in the background while it reads. These tests pin that down and show that the
shared read gives the same answers (and the same failures) as the search check on
its own, on real tables made by ocmlab.fixtures.
"""

from __future__ import annotations

import os

import lance
import numpy as np
import pyarrow as pa
import pytest
from ansible_collections.openclaw.memory.plugins.module_utils import verify as V
from ansible_collections.openclaw.memory.plugins.module_utils.lance import coalesced
from ocmlab.fixtures import build_state, memory_id

DIM = 16
SEED = 11


@pytest.fixture(scope="module")
def plugin_db(tmp_path_factory):
    """60 memories one per commit (60 one-row fragments), two planted exact duplicates, no index."""
    built = build_state(str(tmp_path_factory.mktemp("passes") / "home"), n=60, dims=DIM, seed=SEED, duplicates=2,
                        workspace=False)
    return built


class Calls:
    """Counts the Lance reads verify() makes (LanceDataset is a Python class around the Rust dataset)."""

    def __init__(self, monkeypatch):
        self.counts = {"validate": 0, "to_batches": 0, "nearest": 0, "take": 0}
        for name in ("validate", "to_batches", "take"):
            self._wrap(monkeypatch, name, name)
        orig = lance.LanceDataset.to_table

        def to_table(ds, *a, **kw):
            if kw.get("nearest"):
                self.counts["nearest"] += 1
            return orig(ds, *a, **kw)

        monkeypatch.setattr(lance.LanceDataset, "to_table", to_table)

    def _wrap(self, monkeypatch, attr, key):
        orig = getattr(lance.LanceDataset, attr)

        def wrapper(ds, *a, **kw):
            self.counts[key] += 1
            return orig(ds, *a, **kw)

        monkeypatch.setattr(lance.LanceDataset, attr, wrapper)


def test_default_checks_read_each_way_once(plugin_db, monkeypatch):
    calls = Calls(monkeypatch)
    r = V.verify(plugin_db["db_path"], sample=5)
    assert r["ok"], r["mismatches"]
    # validate() once (structure), one full scan (content, also the exact search), one flat vector query
    # (the plugin's own query path, search) and one take of the sampled rows.
    assert calls.counts == {"validate": 1, "to_batches": 1, "nearest": 1, "take": 1}
    assert r["checks"]["search"]["tables"]["memories"]["flat_search"] == [
        {"field": "vector", "ok": True, "lance_queries": 1, "exact_checked": 5}]
    assert r["checks"]["content"]["tables"]["memories"]["rows_read"] == 60


def test_search_alone_makes_its_own_exact_pass(plugin_db, monkeypatch):
    calls = Calls(monkeypatch)
    r = V.verify(plugin_db["db_path"], checks=["search"], sample=5)
    assert r["ok"], r["mismatches"]
    assert calls.counts == {"validate": 0, "to_batches": 1, "nearest": 1, "take": 1}


def test_shared_and_separate_exact_search_agree_on_every_row(plugin_db, monkeypatch):
    """sample=60: every row, the planted duplicates included (ties, not failures)."""
    shared = V.verify(plugin_db["db_path"], checks=["content", "search"], sample=60)
    alone = V.verify(plugin_db["db_path"], checks=["search"], sample=60)
    assert shared["ok"] and alone["ok"], (shared["mismatches"], alone["mismatches"])
    assert shared["checks"]["search"]["tables"] == alone["checks"]["search"]["tables"]

    def no_second_pass(*_a, **_kw):
        raise AssertionError("the content scan already did the exact search")

    monkeypatch.setattr(V, "_exact_nearest", no_second_pass)
    assert V.verify(plugin_db["db_path"], checks=["content", "search"], sample=60)["ok"]


def _table_with_nan_vector(tmp_path, n=20, bad=4):
    """A memory-lancedb table (one bulk commit) whose row `bad` has a NaN in its vector."""
    built = build_state(str(tmp_path / "home"), n=n, dims=DIM, seed=SEED, mode="batched", batch_size=n,
                        workspace=False)
    ds = lance.dataset(os.path.join(built["db_path"], "memories.lance"))
    data = ds.to_table()
    vecs = data["vector"].combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(n, DIM).copy()
    vecs[bad, 3] = np.nan
    col = pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1)), DIM).cast(data.schema.field("vector").type)
    data = data.set_column(data.schema.get_field_index("vector"), "vector", col)
    # lancedb refuses NaN vectors on add; Lance itself stores what it is given (as damage would).
    lance.write_dataset(data, os.path.join(built["db_path"], "memories.lance"), mode="overwrite")
    return built["db_path"], memory_id(SEED, bad)


def test_a_vector_that_cannot_be_measured_fails_the_same_way_both_ways(tmp_path):
    db, bad_id = _table_with_nan_vector(tmp_path)
    want = f"table memories: row {bad_id} not found among the stored vectors of 'vector'"
    shared = V.verify(db, checks=["content", "search"], sample=5)
    alone = V.verify(db, checks=["search"], sample=5)
    assert shared["checks"]["search"]["ok"] is False and alone["checks"]["search"]["ok"] is False
    assert want in shared["mismatches"] and want in alone["mismatches"]
    assert shared["checks"]["content"]["ok"] is True
    assert [m for m in shared["mismatches"] if m.startswith("table memories: row")] == \
        [m for m in alone["mismatches"] if m.startswith("table memories: row")]


def test_nearest_equals_brute_force_over_many_small_groups():
    """_Nearest (matrix product, then exact float64 for the candidates) against plain numpy, fed as the
    scan feeds it: one-row batches regrouped by coalesced(), plus exact duplicates and near ties."""
    rng = np.random.default_rng(7)
    n, dim = 300, 24
    vecs = rng.standard_normal((n, dim)).astype(np.float32)
    vecs[10] = vecs[200]  # exact duplicate: a tie
    vecs[50] = vecs[51] + np.float32(1e-4)  # near tie, below TIE
    ids = [f"m{i:03d}" for i in range(n)]
    queries = {"m010": vecs[10], "m050": vecs[50], "m123": vecs[123],
               "stranger": vecs[77] + np.float32(0.5)}  # not stored: someone else is nearest
    rows = [{"_key": k, "vector": v.tolist()} for k, v in queries.items()]
    batches = [pa.record_batch([pa.array([ids[i]]), pa.FixedSizeListArray.from_arrays(pa.array(vecs[i]), dim)],
                               names=["id", "vector"]) for i in range(n)]
    near = V._Nearest("vector", rows)
    groups = list(coalesced(iter(batches), 64))
    assert [g.num_rows for g in groups] == [64, 64, 64, 64, 44]
    for g in groups:
        near.add(g)
    for j, q in enumerate(queries.values()):
        d = ((vecs.astype(np.float64) - np.asarray(q, dtype=np.float64)) ** 2).sum(axis=1)
        assert near.best[j] == pytest.approx(d.min(), abs=1e-9)
        assert d[ids.index(near.best_id[j])] == pytest.approx(d.min(), abs=1e-9)
    assert near.problems("memories") == [
        "table memories: row stranger not found among the stored vectors of 'vector'"]
    # A stored row whose vector is not its own nearest: caught, naming the closer row.
    other = V._Nearest("vector", [{"_key": "m123", "vector": (vecs[40] + np.float32(0.01)).tolist()}])
    for g in groups:
        other.add(g)
    assert other.problems("memories") == [
        "table memories: row m123 is not the nearest to its own vector in 'vector': m040 is closer (exact search)"]
