# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guide's day-3 / day-7 checks of a memory database after a migration.

Plain functions, read-only (the table is only scanned): the `memory_health`
module and playbooks/health_check.yml use them, the tests call them directly.

  growth      the count grew since the migration (or at least did not shrink)
  recent      memories stored since the migration have a category the plugin
              knows, an importance in [0, 1], and a vector that is finite and
              not all zeros
  vector_dim  the table's vector dimension equals the configured dimensions
(Recall itself is checked by lance_verify's `search` check and, optionally,
the operator's own recall command; the playbook runs both.)
"""

from __future__ import annotations

import math

from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError, iso_utc, parse_time
from ansible_collections.openclaw.memory.plugins.module_utils.lance import (
    check_db_dir,
    open_table,
    pc,
    require_lance,
    table_info,
)
from ansible_collections.openclaw.memory.plugins.module_utils.plugins import PLUGINS, TABLE, created_column

MAX_LISTED = 20
BATCH = 4096


def parse_since(value):
    """Epoch ms from an ISO 8601 time ('2026-09-01T03:00:00Z'), epoch seconds or epoch ms; None stays None."""
    if value in (None, ""):
        return None
    return parse_time(value, "since", ms_too=True) * 1000.0


def _categories(plugin):
    if plugin and not (PLUGINS.get(plugin) or {}).get("categories"):
        known = ", ".join(sorted(n for n, s in PLUGINS.items() if s["categories"]))
        raise MemoryToolError("plugin %r is not a memory plugin with a LanceDB table (%s); pass what "
                              "openclaw_memory_facts reports as plugin, or omit plugin to accept any known category"
                              % (plugin, known))
    spec = PLUGINS.get(plugin) if plugin else None
    if spec and spec["categories"]:
        return tuple(spec["categories"])
    out = set()
    for s in PLUGINS.values():
        out.update(s["categories"])
    return tuple(sorted(out))


def _bad_vector(vec):
    """Why a stored vector is unusable, or None. (Its length is the table's: a fixed-size list.)"""
    if vec is None:
        return "no vector"
    if any(x is None or not math.isfinite(x) for x in vec):
        return "not finite"
    if not any(vec):
        return "all zeros"
    return None


def health(db_path, plugin=None, dimensions=None, since=None, baseline_total=None, expect_growth=False):
    """Check a memory database; returns dict(ok, checks{growth, recent, vector_dim}, problems, stats).

    since: the migration time (ISO 8601 or epoch); baseline_total: the count
    restored at migration. Raises MemoryToolError for bad input (missing
    database, no `memories` table, bad `since`).
    """
    require_lance()
    since_ms = parse_since(since)
    cats = _categories(plugin)
    tables = check_db_dir(db_path, "; pass the memory plugin's dbPath (openclaw_memory_facts reports it as db_path)")
    if TABLE not in tables:
        raise MemoryToolError("Database '%s' has no '%s' table (it holds: %s)"
                              % (db_path, TABLE, ", ".join(sorted(tables))))
    ds = open_table(tables[TABLE])
    info = table_info(ds)
    names = ds.schema.names
    created = created_column(names)
    checks = {}
    problems = []

    # vector_dim
    ok = dimensions in (None, "") or info["vector_dim"] == int(dimensions)
    checks["vector_dim"] = {"ok": ok, "table": info["vector_dim"], "configured": dimensions,
                            "msg": "table vectors have %s dims%s" % (
                                info["vector_dim"], "" if dimensions in (None, "") else
                                (", as configured" if ok else ", the config says %s" % dimensions))}
    if not ok:
        problems.append("vector_dim: the table stores %s-dim vectors but the embedding config says %s: recall "
                        "compares vectors of different models" % (info["vector_dim"], dimensions))

    # recent memories
    bad = {"category": [], "importance": [], "vector": []}
    recent = 0
    newest = None
    if created is None and since_ms is not None:
        raise MemoryToolError("Table '%s' has no creation-time column (createdAt or timestamp), so memories since %s "
                              "cannot be told apart; omit since" % (tables[TABLE], since))
    flt = None if since_ms is None else "%s > %r" % (created, float(since_ms))
    cols = [c for c in ("id", "category", "importance", "vector", created) if c and c in names]
    for batch in ds.to_batches(columns=cols, filter=flt, batch_size=BATCH):
        recent += batch.num_rows
        rows = batch.to_pylist()
        for r in rows:
            mid = r.get("id")
            if "category" in r and r["category"] not in cats:
                bad["category"].append("%s (%r)" % (mid, r["category"]))
            imp = r.get("importance") if "importance" in names else 0.5
            if imp is None or not (0.0 <= float(imp) <= 1.0) or not math.isfinite(float(imp)):
                bad["importance"].append("%s (%r)" % (mid, imp))
            why = _bad_vector(r.get("vector")) if "vector" in names else None
            if why:
                bad["vector"].append("%s (%s)" % (mid, why))
        if created and batch.num_rows:
            mx = pc.max(batch.column(created)).as_py()
            newest = mx if newest is None else max(newest, mx)
    n_bad = sum(len(v) for v in bad.values())
    checks["recent"] = {"ok": n_bad == 0, "since": iso_utc(since_ms) if since_ms else None, "memories": recent,
                        "newest": iso_utc(newest) if newest else None,
                        "bad_category": bad["category"][:MAX_LISTED], "bad_importance": bad["importance"][:MAX_LISTED],
                        "bad_vector": bad["vector"][:MAX_LISTED],
                        "msg": "%d memories %s; %d with a bad category, importance or vector" % (
                            recent, "since %s" % iso_utc(since_ms) if since_ms else "in all", n_bad)}
    for kind, items in bad.items():
        if items:
            problems.append("recent: %d memories with a bad %s, e.g. %s" % (len(items), kind, ", ".join(items[:3])))

    # growth
    total = info["rows"]
    if baseline_total is None:
        checks["growth"] = {"ok": True, "skipped": True, "total": total, "msg": "no baseline count given"}
    else:
        base = int(baseline_total)
        grew = total - base
        ok = grew > 0 if expect_growth else grew >= 0
        checks["growth"] = {"ok": ok, "total": total, "baseline": base, "grew": grew,
                            "msg": "%d memories now, %d at migration (%+d)" % (total, base, grew)}
        if not ok:
            problems.append(
                "growth: %d memories now, %d at migration (%+d): %s" % (
                    total, base, grew, "memories were lost since the migration" if grew < 0 else
                    "nothing was stored since the migration; check autoCapture and the extraction model's config"))
    return {"ok": not problems, "checks": checks, "problems": problems,
            "stats": {"total": total, "version": info["version"], "vector_dim": info["vector_dim"],
                      "recent": recent, "categories": list(cats)}}
