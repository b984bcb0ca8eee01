# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark datasets: OpenClaw state dirs made by ocmlab.fixtures, cached under .cache/bench/.

Each dataset is keyed by everything that shapes it (plugin, n, dims, mode,
batch size, tail, seed, recipe version), built once into
`<cache>/<key>.partial-<pid>` and renamed to `<cache>/<key>` when complete, so
an interrupted build is never mistaken for a finished one. `<cache>/<key>/BUILD.json`
records how it was made and what it holds (on-disk size, file count, the
bytes and files its latest version references).

A "+k" dataset (`ensure(spec, plus=k)`) is a full copy of the base dataset
with k memories appended the plugin's way (one row per commit): what a host
looks like a while after a snapshot of the base. The cached bases are never
written to.

CLI: `python bench/bench_data.py [--cache DIR] NAME ...` builds the named
datasets of DATASETS ahead of a run (`--list` shows them).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(REPO, ".cache", "bench")
# The fixture generator (tools/) and the collection (.collections/), for this process and its children
# (make exports the same PYTHONPATH; this makes `python bench/run_bench.py` work without it).
for _p in (os.path.join(REPO, ".collections"), os.path.join(REPO, "tools")):
    if _p not in sys.path:
        sys.path.insert(0, _p)
    if _p not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(x for x in (_p, os.environ.get("PYTHONPATH")) if x)
RECIPE = 1  # bump when the way datasets are built changes: old cache entries are then ignored
BUILD_NAME = "BUILD.json"
PLUS_STEP_MS = 60_000.0  # createdAt of appended memories: one a minute after the base's newest


@dataclass(frozen=True)
class Spec:
    """What a dataset is made of. mode "plugin": one row per commit (the plugin's way); "batched":
    `batch_size` rows per commit, then the last `tail` rows one per commit."""

    n: int
    dims: int = 1536
    mode: str = "plugin"
    batch_size: int = 1000
    tail: int = 0
    seed: int = 8
    plugin: str = "memory-lancedb"

    @property
    def key(self):
        shape = f"-b{self.batch_size}-t{self.tail}" if self.mode == "batched" else ""
        return f"{self.plugin}-n{self.n}-d{self.dims}-{self.mode}{shape}-s{self.seed}-r{RECIPE}"

    @property
    def label(self):
        how = "one row per commit" if self.mode == "plugin" else (
            f"{self.batch_size:,} rows per commit, last {self.tail:,} one per commit")
        return f"{self.n:,} memories x {self.dims} dims ({how})"


# The datasets. 50,000 and 100,000 one row per commit would hold ~110 GB / ~450 GB of
# manifests (each commit writes a manifest listing every fragment): built in batches with a
# per-row tail, so their latest version still has thousands of one-row fragments like a real one.
DATASETS = {
    "n500": Spec(500),
    "n5000": Spec(5000),
    "n50000": Spec(50000, mode="batched", batch_size=1000, tail=3000),
    "n5000_d1024": Spec(5000, dims=1024),
    "n100000": Spec(100000, mode="batched", batch_size=1000, tail=3000),
}
# Small and quick, the same code paths: for `make bench-smoke`.
SMOKE_DATASETS = {
    "n120": Spec(120, dims=16, seed=3),
    "n360": Spec(360, dims=16, mode="batched", batch_size=100, tail=40, seed=3),
    "n400": Spec(400, dims=16, mode="batched", batch_size=200, tail=20, seed=4),
}


def _paths(root, home):
    """db_path and table dir of a dataset whose home is `home` (the plugin's default dbPath)."""
    from ocmlab import fixtures as F

    db = F.resolve_db_path(home, os.path.join(home, ".openclaw"), "memory-lancedb")[0]
    return db, os.path.join(db, "memories.lance")


def _describe(db):
    """On-disk size and files of the database dir; bytes, files and fragments of its latest version."""
    from ansible_collections.openclaw.memory.plugins.module_utils.common import tree_size
    from ansible_collections.openclaw.memory.plugins.module_utils.lance import open_table, referenced_stat

    table = os.path.join(db, "memories.lance")
    ds = open_table(table)
    ref = referenced_stat(ds, table)
    size, files = tree_size(db)
    versions = len(os.listdir(os.path.join(table, "_versions")))
    return {"db_bytes": size, "db_files": files, "referenced_bytes": ref["bytes"], "referenced_files": ref["files"],
            "fragments": len(ds.get_fragments()), "version": ds.version, "rows": ds.count_rows(),
            "manifests": versions}


class _Lock:
    """One builder at a time per cache dir (a second `make bench` waits instead of building twice)."""

    def __init__(self, cache):
        os.makedirs(cache, exist_ok=True)
        self.path = os.path.join(cache, ".lock")

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def load(spec, plus=0, cache=CACHE):
    """BUILD.json of a complete cached dataset (with paths), else None."""
    root = os.path.join(cache, spec.key + (f"-plus{plus}" if plus else ""))
    try:
        with open(os.path.join(root, BUILD_NAME), encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    home = os.path.join(root, "home")
    info["home"] = home
    info["db_path"], info["table_path"] = _paths(root, home)
    info["root"] = root
    return info


def ensure(spec, plus=0, cache=CACHE, log=None):
    """The dataset `spec` (with `plus` memories appended when > 0), built if not cached; returns its BUILD info."""
    info = load(spec, plus, cache)
    if info is not None:
        return info
    with _Lock(cache):
        info = load(spec, plus, cache)
        if info is not None:
            return info
        if plus:
            base = ensure_unlocked(spec, 0, cache, log)
            return ensure_unlocked(spec, plus, cache, log, base)
        return ensure_unlocked(spec, 0, cache, log)


def ensure_unlocked(spec, plus, cache, log, base=None):
    info = load(spec, plus, cache)
    if info is not None:
        return info
    from ocmlab import fixtures as F

    key = spec.key + (f"-plus{plus}" if plus else "")
    final = os.path.join(cache, key)
    partial = f"{final}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    home = os.path.join(partial, "home")
    t0 = time.monotonic()
    if log:
        log(f"building dataset {key} ({spec.label}{f' + {plus}' if plus else ''}) ...")
    try:
        if plus:
            # A real copy, not hard links: the appended commits must never touch the cached base.
            subprocess.run(["cp", "-a", base["home"], home], check=True)
            db, _table = _paths(partial, home)
            start = base["rows"]
            newest = base["newest_ms"]
            added = F.add_memories(db, spec.plugin, plus, seed=spec.seed, start_index=start,
                                   created=lambda i: newest + (i - start + 1) * PLUS_STEP_MS)
            made = {"added": plus, "added_commits": added["commits"], "base": base["key"]}
        else:
            built = F.build_state(home, plugin=spec.plugin, n=spec.n, dims=spec.dims, seed=spec.seed,
                                  mode=spec.mode, batch_size=spec.batch_size, tail=spec.tail, keep_ids=False)
            db = built["db_path"]
            made = {"commits": built["commits"], "newest_ms": built["newest_ms"],
                    "probes": [{k: p[k] for k in ("id", "text")} for p in built["probes"]]}
        info = dict(asdict(spec), key=key, label=spec.label + (f" + {plus} one per commit" if plus else ""),
                    plus=plus, recipe=RECIPE, build_s=round(time.monotonic() - t0, 1), **made)
        if plus:
            info["newest_ms"] = base["newest_ms"] + plus * PLUS_STEP_MS
        info.update(_describe(db))
        with open(os.path.join(partial, BUILD_NAME), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=1, sort_keys=True)
        os.rename(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if log:
        log(f"built {key} in {info['build_s']} s: {info['db_bytes'] / 1e6:.1f} MB, {info['db_files']:,} files")
    return load(spec, plus, cache)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Build the benchmark datasets into the cache ahead of a run.")
    ap.add_argument("names", nargs="*", help="dataset names (default: all of DATASETS)")
    ap.add_argument("--cache", default=CACHE)
    ap.add_argument("--plus", type=int, default=0, help="also build the +PLUS variant of each")
    ap.add_argument("--smoke", action="store_true", help="the smoke datasets instead")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args(argv)
    table = SMOKE_DATASETS if args.smoke else DATASETS
    if args.list:
        for name, spec in table.items():
            print(f"{name:12} {spec.key:55} {spec.label}")
        return 0
    for name in args.names or list(table):
        if name not in table:
            ap.error(f"unknown dataset {name!r}; known: {', '.join(table)}")
        info = ensure(table[name], cache=args.cache, log=lambda m: print(m, flush=True))
        if args.plus:
            ensure(table[name], plus=args.plus, cache=args.cache, log=lambda m: print(m, flush=True))
        print(json.dumps({k: info[k] for k in ("key", "db_bytes", "db_files", "referenced_bytes", "build_s")}),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
