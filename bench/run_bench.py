# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make bench`: the collection against the guide's methods, side by side, at growing scale.

Writes bench/results/<date>.md and .json (and <date>-growth.png) and prints the
headline table. Every comparison is measured in one run on the same data, the
methods interleaved round by round (bench_util.interleave); numbers are medians
of --runs rounds with min and max, ratios are per round. Datasets come from
bench_data (cached under .cache/bench/). Items (issue 8):

  1 snapshot     full lance_snapshot vs cp -r, rsync -a, tar czf (and cp -r + sync)
  2 incremental  snapshot after +1% (and after a fixed +K) with link_dest vs a full one,
                 and vs the guide's rsync --link-dest
  3 verify       full lance_verify (default checks) vs sha256sum -c over the same files
  4 cutover      migrate.yml on the lab vs the guide's cold procedure (bench/cutover.py)
  5 facts        openclaw_memory_facts at 100,000 memories: time and peak RSS
  6 growth       time against N for snapshot, incremental and verify (table + PNG)

`--smoke` runs the same code on tiny datasets with 2 rounds into a temp dir and
fails when any part breaks or comes back without numbers: it checks the
harness, not the performance (make bench-smoke, part of make test).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time

import bench_data as D
import bench_util as U

REPO = D.REPO
RESULTS = os.path.join(REPO, "bench", "results")
NOTES = os.path.join(REPO, "bench", "notes.md")
PY = sys.executable
ITEMS = ("snapshot", "incremental", "verify", "cutover", "facts", "growth")
# Floors measured beside the snapshot: the same files moved by cp in C, no listing, hashing or checks.
FLOOR_COPY = "cp of the referenced files only"
FLOOR_LINK = "cp -l / cp of the referenced files only"

FULL = {
    "datasets": D.DATASETS,
    "growth": ["n500", "n5000", "n50000"],
    "extra": ["n5000_d1024"],
    "headline": "n5000",
    "facts": "n100000",
    "fixed_add": 50,
    "profile": ["n5000", "n50000"],
}
SMOKE = {
    "datasets": D.SMOKE_DATASETS,
    "growth": ["n120", "n360"],
    "extra": [],
    "headline": "n120",
    "facts": "n400",
    "fixed_add": 5,
    "profile": ["n120"],
}


FS_STATE = {"state": "settled"}  # --fs-state: what the file system is like before each timed run


def settle_on(*paths):
    """interleave's settle step for --fs-state settled (drop the page cache, read `paths` back), else None."""
    return U.settler(paths) if FS_STATE["state"] == "settled" else None


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def snapshot_mod():
    from ansible_collections.openclaw.memory.plugins.module_utils import snapshot

    return snapshot


BEFORE = {}  # --compare-to: {"rev": short commit, "mod": snapshot.py of that commit, imported}


def load_before(rev):
    """snapshot.py as it was at `rev`, imported beside the current one (it uses the current other module_utils)."""
    import importlib.util

    code = subprocess.run(["git", "show", f"{rev}:plugins/module_utils/snapshot.py"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout
    short = subprocess.run(["git", "rev-parse", "--short", rev], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.strip()
    path = os.path.join(tempfile.mkdtemp(prefix="bench-before-"), f"snapshot_{short}.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(code)
    spec = importlib.util.spec_from_file_location(f"snapshot_{short}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    BEFORE.update(rev=short, mod=mod)


def before_name(what):
    return f"{what} ({BEFORE['rev']}, before)"


def before_key(res, what):
    """The method name of the --compare-to code in stored results."""
    return f"{what} ({res.get('before')}, before)"


def verify_mod():
    from ansible_collections.openclaw.memory.plugins.module_utils import verify

    return verify


def referenced(db):
    """Paths (relative to the database dir) of the files each table's latest version references."""
    from ansible_collections.openclaw.memory.plugins.module_utils.lance import list_tables, open_table, version_files

    out = []
    for _name, table_dir in sorted(list_tables(db).items()):
        prefix = os.path.basename(table_dir)
        out += [prefix + "/" + rel for rel in version_files(open_table(table_dir), table_dir)]
    return out


def cp_parents(rels, src_root, dest, link=False):
    """`cp --parents` of `rels` (relative to src_root) into dest, through xargs: one C process, no Python."""
    if not rels:
        return
    argv = ["xargs", "-0", "cp", "--parents"] + (["-l"] if link else ["-p"]) + ["-t", dest]
    p = subprocess.run(argv, input="\0".join(rels), cwd=src_root, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed (rc {p.returncode}): {p.stderr.strip()[:500]}")


# --------------------------------------------------------------------------- 1. full snapshot


def bench_snapshot(info, work, runs, warmup):
    """Full snapshot vs the guide's copies of the same database directory."""
    db = info["db_path"]
    out = os.path.join(work, "snapshot")
    S = snapshot_mod()

    def snap(dest):
        r = S.take_snapshot(db, dest, name="s", link_dest="none")
        meta = sum(os.path.getsize(os.path.join(r["snapshot"], n)) for n in ("SHA256SUMS", "SNAPSHOT.json"))
        return {"bytes_written": r["bytes_copied"] + meta, "files_written": r["files_copied"] + 2}

    def tree(dest):
        b, f = U.written(dest)
        return {"bytes_written": b, "files_written": f}

    def cp(dest):
        U.run_cmd(["cp", "-r", db, dest])
        return tree(dest)

    def cp_sync(dest):
        U.run_cmd(["cp", "-r", db, dest])
        U.run_cmd(["sync", "-f", dest])
        return tree(dest)

    def rsync(dest):
        U.run_cmd(["rsync", "-a", db + "/", dest + "/"])
        return tree(dest)

    def tar(dest):
        os.makedirs(dest)
        archive = os.path.join(dest, "memory.tar.gz")
        U.run_cmd(["tar", "czf", archive, "-C", os.path.dirname(db), os.path.basename(db)])
        return tree(dest)

    rels = referenced(db)

    def cp_referenced(dest):
        # The floor of any copying snapshot: the same files, created by cp in C, nothing else.
        os.makedirs(dest)
        cp_parents(rels, db, dest)
        return tree(dest)

    named = [("lance_snapshot", snap), ("cp -r", cp), ("rsync -a", rsync), ("tar czf", tar),
             ("cp -r + sync", cp_sync), (FLOOR_COPY, cp_referenced)]
    if BEFORE:
        def snap_before(dest):
            r = BEFORE["mod"].take_snapshot(db, dest, name="s", link_dest="none")
            meta = sum(os.path.getsize(os.path.join(r["snapshot"], n)) for n in ("SHA256SUMS", "SNAPSHOT.json"))
            return {"bytes_written": r["bytes_copied"] + meta, "files_written": r["files_copied"] + 2}

        named.append((before_name("lance_snapshot"), snap_before))
    methods = [U.Method(name, fn, prepare=lambda: U.fresh_dir(out, "d"), cleanup=U.remove) for name, fn in named]
    samples = U.interleave(methods, runs, warmup, log, label=f"snapshot {info['key']}", settle=settle_on(db))
    U.remove(out)
    return _result(samples, "lance_snapshot", [n for n, _fn in named[1:]])


def _result(samples, base, others):
    return {"methods": U.summarize(samples),
            "ratios": {o: U.ratios(samples, base, o) for o in others},
            "samples": samples}


# --------------------------------------------------------------------------- 2. incremental


def bench_incremental(base, plus, work, runs, warmup):
    """Snapshot of `plus` (base + k memories) hard-linking from a snapshot of `base`, vs a full one."""
    S = snapshot_mod()
    root = os.path.join(work, "incremental")
    U.remove(root)
    prev = S.take_snapshot(base["db_path"], os.path.join(root, "prev"), name="s0", link_dest="none")["snapshot"]
    rsync_prev = os.path.join(root, "rsync-prev")
    U.run_cmd(["rsync", "-a", base["db_path"] + "/", rsync_prev + "/"])
    out = os.path.join(root, "out")

    def incremental(dest):
        r = S.take_snapshot(plus["db_path"], dest, name="s1", link_dest=prev)
        meta = sum(os.path.getsize(os.path.join(r["snapshot"], n)) for n in ("SHA256SUMS", "SNAPSHOT.json"))
        return {"bytes_written": r["bytes_copied"] + meta, "files_written": r["files_copied"] + 2,
                "files_linked": r["files_linked"], "bytes_linked": r["bytes_linked"]}

    def full(dest):
        r = S.take_snapshot(plus["db_path"], dest, name="s1", link_dest="none")
        meta = sum(os.path.getsize(os.path.join(r["snapshot"], n)) for n in ("SHA256SUMS", "SNAPSHOT.json"))
        return {"bytes_written": r["bytes_copied"] + meta, "files_written": r["files_copied"] + 2,
                "files_linked": r["files_linked"], "bytes_linked": r["bytes_linked"]}

    def rsync_link(dest):
        U.run_cmd(["rsync", "-a", "--link-dest=" + rsync_prev, plus["db_path"] + "/", dest + "/"])
        b, f = U.written(dest)
        lb, lf = U.linked(dest)
        return {"bytes_written": b, "files_written": f, "files_linked": lf, "bytes_linked": lb}

    from ansible_collections.openclaw.memory.plugins.module_utils.checksums import read_sums

    in_prev = set(read_sums(os.path.join(prev, "SHA256SUMS")))
    rels = referenced(plus["db_path"])
    old_rels = [r for r in rels if r in in_prev]
    new_rels = [r for r in rels if r not in in_prev]

    def cp_link_referenced(dest):
        # The floor of any hard-linking snapshot: link what the previous one has, cp the rest, in C.
        os.makedirs(dest)
        cp_parents(old_rels, prev, dest, link=True)
        cp_parents(new_rels, plus["db_path"], dest)
        b, f = U.written(dest)
        lb, lf = U.linked(dest)
        return {"bytes_written": b, "files_written": f, "files_linked": lf, "bytes_linked": lb}

    named = [("incremental snapshot", incremental), ("full snapshot", full), ("rsync -a --link-dest", rsync_link),
             (FLOOR_LINK, cp_link_referenced)]
    if BEFORE:
        def incremental_before(dest):
            r = BEFORE["mod"].take_snapshot(plus["db_path"], dest, name="s1", link_dest=prev)
            meta = sum(os.path.getsize(os.path.join(r["snapshot"], n)) for n in ("SHA256SUMS", "SNAPSHOT.json"))
            return {"bytes_written": r["bytes_copied"] + meta, "files_written": r["files_copied"] + 2,
                    "files_linked": r["files_linked"], "bytes_linked": r["bytes_linked"]}

        def full_before(dest):
            r = BEFORE["mod"].take_snapshot(plus["db_path"], dest, name="s1", link_dest="none")
            meta = sum(os.path.getsize(os.path.join(r["snapshot"], n)) for n in ("SHA256SUMS", "SNAPSHOT.json"))
            return {"bytes_written": r["bytes_copied"] + meta, "files_written": r["files_copied"] + 2,
                    "files_linked": r["files_linked"], "bytes_linked": r["bytes_linked"]}

        named += [(before_name("incremental snapshot"), incremental_before),
                  (before_name("full snapshot"), full_before)]
    methods = [U.Method(name, fn, prepare=lambda: U.fresh_dir(out, "d"), cleanup=U.remove) for name, fn in named]
    samples = U.interleave(methods, runs, warmup, log, label=f"incremental {plus['key']}",
                           settle=settle_on(plus["db_path"], prev, rsync_prev))
    U.remove(root)
    res = _result(samples, "incremental snapshot", [n for n, _fn in named[1:]])
    inc = [r["s"] for r in samples["incremental snapshot"]]
    fulls = [r["s"] for r in samples["full snapshot"]]
    res["share_of_full"] = U.summary([a / b for a, b in zip(inc, fulls, strict=True) if b > 0])
    if BEFORE:
        inc_b = [r["s"] for r in samples[before_name("incremental snapshot")]]
        full_b = [r["s"] for r in samples[before_name("full snapshot")]]
        res["share_of_full_before"] = U.summary([a / b for a, b in zip(inc_b, full_b, strict=True) if b > 0])
    res["added"] = plus["plus"]
    return res


# --------------------------------------------------------------------------- 3. verify


def bench_verify(info, work, runs, warmup):
    """lance_verify (default checks; in this process and in a new one) vs sha256sum -c on one snapshot."""
    S, V = snapshot_mod(), verify_mod()
    root = os.path.join(work, "verify")
    U.remove(root)
    snap = S.take_snapshot(info["db_path"], root, name="s", link_dest="none")["snapshot"]
    checks = {}

    def verify(_ctx):
        r = V.verify(snap)
        if not r["ok"]:
            raise RuntimeError("verify failed on a clean snapshot: %s" % r["mismatches"][:3])
        for name, c in r["checks"].items():
            checks.setdefault(name, []).append(c.get("duration_s"))
        return {"files": r["checks"]["checksums"]["files"], "bytes": r["checks"]["checksums"]["bytes"]}

    def verify_checksums(_ctx):
        r = V.verify(snap, checks=["checksums"])
        if not r["ok"]:
            raise RuntimeError("checksums failed on a clean snapshot")
        return {}

    def verify_process(_ctx):
        code = ("import sys; from ansible_collections.openclaw.memory.plugins.module_utils.verify import verify; "
                "sys.exit(0 if verify(sys.argv[1])['ok'] else 1)")
        U.run_cmd([PY, "-c", code, snap])
        return {}

    def sha256sum(_ctx):
        U.run_cmd(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=snap)
        return {}

    methods = [U.Method("lance_verify", verify), U.Method("sha256sum -c", sha256sum),
               U.Method("lance_verify checks=checksums", verify_checksums),
               U.Method("lance_verify, new process", verify_process)]
    samples = U.interleave(methods, runs, warmup, log, label=f"verify {info['key']}", settle=settle_on(snap))
    U.remove(root)
    res = _result(samples, "sha256sum -c", ("lance_verify", "lance_verify checks=checksums",
                                            "lance_verify, new process"))
    res["checks"] = {name: U.summary(v[warmup:]) for name, v in checks.items()}
    return res


# --------------------------------------------------------------------------- 5. facts


def bench_facts(info, runs):
    """openclaw_memory_facts' gather() and memory_stats() alone, each in a process of its own."""
    samples = {"gather": [], "stats": []}
    probe = os.path.join(REPO, "bench", "facts_probe.py")
    for rnd in range(runs):
        for mode in (("gather", "stats") if rnd % 2 == 0 else ("stats", "gather")):
            load1 = os.getloadavg()[0]
            p = U.run_cmd([PY, probe, mode, info["home"]])
            row = json.loads(p.stdout.strip().splitlines()[-1])
            if row["total"] != info["rows"]:
                raise RuntimeError(f"facts counted {row['total']} memories, the dataset holds {info['rows']}")
            samples[mode].append(dict(row, load1=load1, round=rnd))
            log(f"  facts {info['key']} run {rnd + 1}/{runs} {mode}: {row['s']:.3f} s, "
                f"peak RSS {row['peak_rss'] / 1e6:.0f} MB (load {load1:.1f})")
    return {"methods": U.summarize(samples, keys=("s", "peak_rss", "rss_after_import", "import_s", "load1")),
            "samples": samples}


# --------------------------------------------------------------------------- where the time goes


def profile_one(label, fn, top=14):
    """One extra, untimed run under cProfile: cumulative seconds of the collection's own functions."""
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.runcall(fn)
    total = time.perf_counter() - t0
    st = pstats.Stats(prof)
    rows = []
    for (path, _line, func), (_cc, _nc, _tt, ct, _callers) in st.stats.items():
        if "/openclaw/memory/plugins/module_utils/" in path or "lance/dataset.py" in path:
            rows.append((ct, f"{os.path.basename(path)}:{func}"))
    rows.sort(reverse=True)
    seen, out = set(), []
    for ct, name in rows:
        if name not in seen:
            seen.add(name)
            out.append({"function": name, "cum_s": round(ct, 3), "share": round(ct / total, 3) if total else None})
        if len(out) >= top:
            break
    log(f"  profiled {label}: {total:.3f} s (under cProfile)")
    return {"label": label, "total_s": round(total, 3), "top": out}


def bench_profiles(cfg, cache, work):
    S, V = snapshot_mod(), verify_mod()
    out = []
    for name in cfg["profile"]:
        spec = cfg["datasets"][name]
        base = D.ensure(spec, cache=cache, log=log)
        plus = D.ensure(spec, plus=cfg["fixed_add"], cache=cache, log=log)
        root = os.path.join(work, "profile")
        U.remove(root)
        prev = os.path.join(root, "prev")
        out.append(profile_one(f"full snapshot, {name}",
                               lambda b=base, p=prev: S.take_snapshot(b["db_path"], p, name="s0", link_dest="none")))
        snap0 = os.path.join(prev, "s0")
        out.append(profile_one(f"incremental snapshot +{cfg['fixed_add']}, {name}",
                               lambda p=plus, s=snap0, r=root: S.take_snapshot(p["db_path"], os.path.join(r, "inc"),
                                                                               name="s1", link_dest=s)))
        out.append(profile_one(f"verify, {name}", lambda s=snap0: V.verify(s)))
        U.remove(root)
    return out


# --------------------------------------------------------------------------- 4. cutover


def bench_cutover(args, wanted):
    """Item 4 when asked for (--cutover: the lab); the smoke run only checks that its files are in place."""
    import bench_cutover

    if args.smoke:
        bench_cutover.self_check()
        return {"status": "not measured (smoke run)", "why": "the smoke run checks bench_cutover's files only"}
    if not wanted:
        return {"status": "not measured yet",
                "why": "needs the lab (tools/ocmlab/lab.sh) and playbooks/migrate.yml: make bench BENCH_ARGS=--cutover "
                       "or python bench/bench_cutover.py"}
    return bench_cutover.run(runs=args.runs, n=5000, log=log, fs_state=args.fs_state)


# --------------------------------------------------------------------------- targets


def _target(tid, text, value, unit, threshold, met):
    return {"id": tid, "target": text, "value": value, "unit": unit, "bar": threshold, "met": met}


def targets(res, cfg):
    """Each of the issue's targets: the number, the bar, met or not (None: not measured)."""
    out = []
    head = cfg["headline"]
    snap = (res.get("snapshot") or {}).get(head)
    if snap:
        r = snap["ratios"]["cp -r"]["median"]
        out.append(_target("snapshot", f"full snapshot >= 10x faster than cp -r ({head})", r, "x", 10, r >= 10))
    inc = (res.get("incremental") or {}).get("plus1pct", {}).get(head)
    if inc:
        share = inc["share_of_full"]["median"]
        out.append(_target("incremental", f"incremental (+1%) <= 5% of a full snapshot ({head})", share * 100, "%",
                           5, share <= 0.05))
    ver = (res.get("verify") or {}).get(head)
    if ver:
        r = ver["ratios"]["lance_verify"]["median"]
        out.append(_target("verify", f"verify no slower than sha256sum -c ({head})", r, "x the time of sha256sum -c",
                           1, r <= 1))
    cut = res.get("cutover") or {}
    if cut.get("status") == "measured":
        d = cut["methods"]["migrate.yml"]["downtime_s"]["median"]
        g = cut["ratios"]["guide"]["median"]
        out.append(_target("cutover_downtime", "cutover downtime <= 5 s", d, "s", 5, d <= 5))
        out.append(_target("cutover_ratio", "cutover >= 5x shorter than the guide's", g, "x", 5, g >= 5))
    else:
        out.append(_target("cutover_downtime", "cutover downtime <= 5 s and >= 5x shorter than the guide's",
                           None, None, None, None))
    facts = (res.get("facts") or {}).get("methods", {}).get("gather")
    if facts:
        s, rss = facts["s"]["median"], facts["peak_rss"]["median"]
        rows = res["datasets"][cfg["facts"]]["rows"]
        out.append(_target("facts_time", f"facts at {rows:,} memories < 2 s", s, "s", 2, s < 2))
        out.append(_target("facts_rss", "facts peak RSS < 300 MB", rss / 1e6, "MB", 300, rss < 300e6))
    grow = (res.get("growth") or {}).get("incremental_fixed")
    if grow and len(grow) >= 2:
        first, last = grow[0], grow[-1]
        f = last["s"] / first["s"] if first["s"] else None
        out.append(_target("incremental_growth",
                           "incremental (+%d) grows with new data, not with N: time at %s / time at %s (N x%d)"
                           % (cfg["fixed_add"], last["dataset"], first["dataset"], round(last["rows"] / first["rows"])),
                           f, "x", 2, f is not None and f <= 2))
    return out


# --------------------------------------------------------------------------- growth


def growth(res, cfg):
    """Medians against N for the methods the issue names."""
    rows = {"snapshot": [], "incremental_1pct": [], "incremental_fixed": [], "verify": [], "cp": [], "sha256sum": []}
    for name in cfg["growth"]:
        info = res["datasets"][name]
        base = {"dataset": name, "rows": info["rows"], "fragments": info["fragments"]}
        s = (res.get("snapshot") or {}).get(name)
        if s:
            rows["snapshot"].append(dict(base, s=s["methods"]["lance_snapshot"]["s"]["median"]))
            rows["cp"].append(dict(base, s=s["methods"]["cp -r"]["s"]["median"]))
        for key, where in (("incremental_1pct", "plus1pct"), ("incremental_fixed", "fixed")):
            i = (res.get("incremental") or {}).get(where, {}).get(name)
            if i:
                rows[key].append(dict(base, s=i["methods"]["incremental snapshot"]["s"]["median"], added=i["added"]))
        v = (res.get("verify") or {}).get(name)
        if v:
            rows["verify"].append(dict(base, s=v["methods"]["lance_verify"]["s"]["median"]))
            rows["sha256sum"].append(dict(base, s=v["methods"]["sha256sum -c"]["s"]["median"]))
    return rows


def plot(grow, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    style = {"snapshot": ("full snapshot", "o-"), "incremental_1pct": ("incremental snapshot (+1%)", "s-"),
             "incremental_fixed": ("incremental snapshot (+fixed)", "s--"), "verify": ("verify", "^-"),
             "cp": ("cp -r (guide)", "o:"), "sha256sum": ("sha256sum -c (guide)", "^:")}
    for key, (label, fmt) in style.items():
        pts = grow.get(key) or []
        if pts:
            if key == "incremental_fixed":
                label = "incremental snapshot (+%d)" % pts[0]["added"]
            ax.plot([p["rows"] for p in pts], [p["s"] for p in pts], fmt, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("memories (N)")
    ax.set_ylabel("seconds (median)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- report


def _fmt_s(summ):
    if not summ:
        return "-"
    return f"{summ['median']:.3f} ({summ['min']:.3f}-{summ['max']:.3f})"


def _fmt_x(summ):
    if not summ:
        return "-"
    return f"{summ['median']:.1f}x ({summ['min']:.1f}-{summ['max']:.1f})"


def _cmp(summ, better, worse):
    """A per-run ratio (other/ours) in words: '2.1x (1.7-2.2) faster', or '1.8x (1.1-2.0) slower' below 1."""
    if not summ:
        return "-"
    if summ["median"] >= 1:
        return f"{_fmt_x(summ)} {better}"
    return f"{1 / summ['median']:.1f}x ({1 / summ['max']:.1f}-{1 / summ['min']:.1f}) {worse}"


def _mb(n):
    return "-" if n is None else f"{n / 1e6:,.1f} MB"


def _n(n):
    return "-" if n is None else f"{int(n):,}"


def _load(summ):
    return "-" if not summ else f"{summ['median']:.1f} ({summ['min']:.1f}-{summ['max']:.1f})"


def headline(res, cfg):
    """The table for the README: the headline dataset, each comparison as a ratio."""
    head = cfg["headline"]
    info = res["datasets"][head]
    lines = [f"Measured {res['date']} on {res['machine']['cpus']} CPUs shared with other work "
             f"(1-min load average during the runs: {res['load_summary']}); {info['label']}, "
             f"{_mb(info['db_bytes'])} on disk in {_n(info['db_files'])} files, "
             f"latest version {_mb(info['referenced_bytes'])} in {_n(info['referenced_files'])} files. "
             f"Median of {res['runs']} interleaved runs (min-max).", "",
             "| what | ours | the guide's way | ratio (per run) | target |",
             "| --- | --- | --- | --- | --- |"]
    tmap = {t["id"]: t for t in res["targets"]}

    def verdict(key):
        t = tmap.get(key)
        if not t or t["met"] is None:
            return "not measured yet"
        return ("met" if t["met"] else "**missed**") + f" (bar {t['bar']})"

    s = (res.get("snapshot") or {}).get(head)
    if s:
        m = s["methods"]
        lines.append(f"| full snapshot | {_fmt_s(m['lance_snapshot']['s'])} s | cp -r {_fmt_s(m['cp -r']['s'])} s "
                     f"| {_cmp(s['ratios']['cp -r'], 'faster', 'slower')} | {verdict('snapshot')} |")
        lines.append(f"| full snapshot | {_fmt_s(m['lance_snapshot']['s'])} s | rsync -a "
                     f"{_fmt_s(m['rsync -a']['s'])} s | {_cmp(s['ratios']['rsync -a'], 'faster', 'slower')} | |")
        lines.append(f"| full snapshot | {_fmt_s(m['lance_snapshot']['s'])} s | tar czf "
                     f"{_fmt_s(m['tar czf']['s'])} s | {_cmp(s['ratios']['tar czf'], 'faster', 'slower')} | |")
        if res.get("before") and before_key(res, "lance_snapshot") in m:
            k = before_key(res, "lance_snapshot")
            lines.append(f"| full snapshot | {_fmt_s(m['lance_snapshot']['s'])} s | this code at {res['before']} "
                         f"{_fmt_s(m[k]['s'])} s | {_cmp(s['ratios'][k], 'faster', 'slower')} | |")
        if FLOOR_COPY in m:
            lines.append(f"| full snapshot | {_fmt_s(m['lance_snapshot']['s'])} s | floor: {FLOOR_COPY} "
                         f"{_fmt_s(m[FLOOR_COPY]['s'])} s | "
                         f"{_cmp(s['ratios'][FLOOR_COPY], 'faster', 'slower')} | |")
        lines.append(f"| bytes written | {_mb(m['lance_snapshot'].get('bytes_written'))} | cp -r "
                     f"{_mb(m['cp -r'].get('bytes_written'))} | | |")
    i = (res.get("incremental") or {}).get("plus1pct", {}).get(head)
    if i:
        m = i["methods"]
        lines.append(f"| incremental snapshot after +1% ({i['added']}) | {_fmt_s(m['incremental snapshot']['s'])} s "
                     f"| rsync --link-dest {_fmt_s(m['rsync -a --link-dest']['s'])} s | "
                     f"{100 * i['share_of_full']['median']:.1f}% of a full snapshot "
                     f"({_fmt_s(m['full snapshot']['s'])} s) | {verdict('incremental')} |")
        k = before_key(res, "incremental snapshot")
        if res.get("before") and k in m:
            lines.append(f"| incremental snapshot after +1% ({i['added']}) | "
                         f"{_fmt_s(m['incremental snapshot']['s'])} s | this code at {res['before']} "
                         f"{_fmt_s(m[k]['s'])} s | {_cmp(i['ratios'][k], 'faster', 'slower')}; then "
                         f"{100 * i['share_of_full_before']['median']:.1f}% of a full snapshot | |")
        if FLOOR_LINK in m:
            lines.append(f"| incremental snapshot after +1% ({i['added']}) | "
                         f"{_fmt_s(m['incremental snapshot']['s'])} s | floor: {FLOOR_LINK} "
                         f"{_fmt_s(m[FLOOR_LINK]['s'])} s | "
                         f"{_cmp(i['ratios'][FLOOR_LINK], 'faster', 'slower')} | |")
    v = (res.get("verify") or {}).get(head)
    if v:
        m = v["methods"]
        lines.append(f"| full verification | {_fmt_s(m['lance_verify']['s'])} s | sha256sum -c "
                     f"{_fmt_s(m['sha256sum -c']['s'])} s | {_fmt_x(v['ratios']['lance_verify'])} the time "
                     f"| {verdict('verify')} |")
    c = res.get("cutover") or {}
    if c.get("status") == "measured":
        m = c["methods"]
        lines.append(f"| cutover downtime ({c['n']:,} memories, lab) | {_fmt_s(m['migrate.yml']['downtime_s'])} s | "
                     f"stop, cp -r, rsync --checksum, copy {_fmt_s(m['guide']['downtime_s'])} s | "
                     f"{_cmp(c['ratios']['guide'], 'shorter', 'longer')} | {verdict('cutover_downtime')}; "
                     f"{verdict('cutover_ratio')} |")
    else:
        lines.append("| cutover downtime (lab) | not measured yet | | | |")
    f = (res.get("facts") or {}).get("methods", {}).get("gather")
    if f:
        rows = res["datasets"][cfg["facts"]]["rows"]
        lines.append(f"| facts at {rows:,} memories | {_fmt_s(f['s'])} s, peak RSS {_mb(f['peak_rss']['median'])} "
                     f"| (the guide asks the agent) | | {verdict('facts_time')}; {verdict('facts_rss')} |")
    return "\n".join(lines)


FS_TEXT = {
    "settled": "Before each timed run of items 1-4 (not timed; item 4: after the lab reset) dirty pages were "
               "flushed, the page cache was dropped and the method's inputs were read back (`--fs-state settled`): "
               "every method found its inputs warm and the file system as settled, whatever the method before it "
               "had created and deleted.",
    "as-left": "The page cache was warm for every method; dirty pages were flushed (not timed) before each run, "
               "and nothing else (`--fs-state as-left`): each method ran on the file system as the previous "
               "method's clean-up left it, and on ext4 creating files right after many were deleted costs up to "
               "~20x per file.",
}


def markdown(res, cfg, png_name):
    out = [f"# Benchmarks {res['date']}", "",
           "Made by `make bench` (bench/run_bench.py). Every comparison ran in one process on the same data, "
           "the methods interleaved round by round (a rotating order), so load from other work on the machine "
           "hits them alike; times are medians of %d rounds (after %d warm-up round) with min-max, ratios are "
           "taken per round. %s `lance_snapshot`, `lance_verify` and facts are the collection's own Python "
           "functions (`take_snapshot`, `verify`, `gather`), called in-process unless a row says "
           "\"new process\"." % (res["runs"], res["warmup"], FS_TEXT[res.get("fs_state", "as-left")]), "",
           "Code: commit %s%s%s." % (res.get("code", {}).get("commit"),
                                     " with local changes" if res.get("code", {}).get("dirty") else "",
                                     "; rows marked \"before\" run lance_snapshot as it was at commit %s, "
                                     "interleaved with it" % res["before"] if res.get("before") else ""), "",
           "Machine: %d CPUs (%s), %s RAM, kernel %s, Python %s; load average at start %s." % (
               res["machine"]["cpus"], res["machine"]["cpu_model"], _mb(res["machine"]["mem_bytes"]),
               res["machine"]["kernel"], res["machine"]["python"],
               " / ".join(f"{x:.1f}" for x in res["machine"]["load_at_start"])), "",
           "## Headline", "", res["headline"], "", "## Targets", "",
           "| target | measured | bar | verdict |", "| --- | --- | --- | --- |"]
    for t in res["targets"]:
        val = "-" if t["value"] is None else f"{t['value']:.2f} {t['unit']}"
        verdict = "not measured yet" if t["met"] is None else ("met" if t["met"] else "**missed**")
        out.append(f"| {t['target']} | {val} | {t['bar'] if t['bar'] is not None else '-'} | {verdict} |")
    out += ["", "## Datasets", "",
            "Built by `tools/ocmlab/fixtures.py` (`build_state`), cached under `.cache/bench/<key>`.", "",
            "| dataset | how | on disk | files | manifests | latest version references | fragments | build |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, info in res["datasets"].items():
        out.append(f"| {name} | {info['label']} | {_mb(info['db_bytes'])} | {_n(info['db_files'])} | "
                   f"{_n(info['manifests'])} | {_mb(info['referenced_bytes'])} in {_n(info['referenced_files'])} files "
                   f"| {_n(info['fragments'])} | {info['build_s']} s |")

    def compare(key, title, base):
        out = []
        out += ["", f"## {title}", ""]
        for name, r in (res.get(key) or {}).items():
            out += [f"**{name}** ({res['datasets'][name]['label']})", "",
                    "| method | seconds | CPU seconds | bytes written | files written | ratio to %s | load |" % base,
                    "| --- | --- | --- | --- | --- | --- | --- |"]
            for m, st in r["methods"].items():
                ratio = "1" if m == base else _fmt_x(r["ratios"].get(m))
                out.append(f"| {m} | {_fmt_s(st['s'])} | {_fmt_s(st['cpu_s'])} | {_mb(st.get('bytes_written'))} | "
                           f"{_n(st.get('files_written'))} | {ratio} | {_load(st['load1'])} |")
            if key == "verify":
                out += ["", "Per check inside lance_verify (median s): " + ", ".join(
                    f"{c} {s['median']:.3f}" for c, s in r["checks"].items() if s), ""]
            out.append("")
        return out

    out += compare("snapshot", "1. Full snapshot vs the guide's copies", "lance_snapshot")
    out += ["## 2. Incremental snapshot vs a full one", "",
            "The source is the dataset plus k memories written one per commit; the incremental snapshot "
            "hard-links from a snapshot of the dataset taken before (link_dest), the full one copies. "
            "`rsync -a --link-dest` is the guide's incremental method, against an rsync copy of the dataset.", ""]
    for where, title in (("plus1pct", "+1%"), ("fixed", f"+{cfg['fixed_add']} whatever N")):
        for name, r in ((res.get("incremental") or {}).get(where) or {}).items():
            m = r["methods"]
            before = r.get("share_of_full_before")
            out += [f"**{name} {title}** (+{r['added']} memories; share of full "
                    f"{100 * r['share_of_full']['median']:.1f}%, min {100 * r['share_of_full']['min']:.1f}%, "
                    f"max {100 * r['share_of_full']['max']:.1f}%"
                    + (f"; the code of {res.get('before')}: {100 * before['median']:.1f}%" if before else "") + ")",
                    "",
                    "| method | seconds | bytes written | files written | files linked | ratio | load |",
                    "| --- | --- | --- | --- | --- | --- | --- |"]
            for meth, st in m.items():
                ratio = "1" if meth == "incremental snapshot" else _fmt_x(r["ratios"].get(meth))
                out.append(f"| {meth} | {_fmt_s(st['s'])} | {_mb(st.get('bytes_written'))} | "
                           f"{_n(st.get('files_written'))} | {_n(st.get('files_linked'))} | {ratio} | "
                           f"{_load(st['load1'])} |")
            out.append("")
    out += compare("verify", "3. Full verification vs sha256sum -c", "sha256sum -c")
    out += ["## 4. Migration cutover downtime (lab)", ""]
    c = res.get("cutover") or {}
    if c.get("status") == "measured":
        out += [c.get("how", ""), "", "| method | downtime s | load |", "| --- | --- | --- |"]
        for m, st in c["methods"].items():
            out.append(f"| {m} | {_fmt_s(st['downtime_s'])} | {_load(st.get('load1'))} |")
        out += ["", f"Ratio guide / migrate.yml per run: {_fmt_x(c['ratios']['guide'])}. Measured "
                f"{c.get('measured_at', '')} by bench/bench_cutover.py ({c.get('runs')} runs each, "
                f"{c.get('lab_minutes')} min of lab).", ""]
        window = c.get("downtime_window_last_migrate") or []
        if window:
            small = [t for t in window if t[1] < 0.3]
            out += ["Inside the downtime window of the last migrate.yml run (%d tasks, %.1f s, from profile_tasks' "
                    "timestamps): %s; and %d tasks of under 0.3 s each, %.1f s together." % (
                        len(window), sum(t[1] for t in window),
                        "; ".join(f"{t[0]} {t[1]:.2f} s" for t in sorted(window, key=lambda t: -t[1]) if t[1] >= 0.3),
                        len(small), sum(t[1] for t in small)), ""]
        if c.get("slowest_tasks_last_migrate"):
            out += ["Slowest tasks of the last migrate.yml run (profile_tasks; the whole playbook, not only the "
                    "downtime window):", "", "| task | s |", "| --- | --- |"]
            out += [f"| {t['task']} | {t['s']:.2f} |" for t in c["slowest_tasks_last_migrate"]]
            out.append("")
        if c.get("notes"):
            out += [c["notes"], ""]
    else:
        out += [f"**{c.get('status', 'not measured yet')}**: {c.get('why', '')}", ""]
    f = res.get("facts")
    if f:
        info = res["datasets"][cfg["facts"]]
        out += ["## 5. Facts at %s memories" % f"{info['rows']:,}", "",
                f"{info['label']}. Each run is a new process (`bench/facts_probe.py`): peak RSS (VmHWM) includes "
                "the Python interpreter and the pyarrow/pylance imports; `RSS after imports` is that part alone.", "",
                "| what | seconds | peak RSS | RSS after imports | import s | load |",
                "| --- | --- | --- | --- | --- | --- |"]
        for m, st in f["methods"].items():
            label = "gather() (the module's work)" if m == "gather" else "memory_stats() only"
            out.append(f"| {label} | {_fmt_s(st['s'])} | {_mb(st['peak_rss']['median'])} "
                       f"({_mb(st['peak_rss']['min'])}-{_mb(st['peak_rss']['max'])}) | "
                       f"{_mb(st['rss_after_import']['median'])} | {st['import_s']['median']:.2f} | "
                       f"{_load(st['load1'])} |")
        out.append("")
    g = res.get("growth")
    if g:
        out += ["## 6. Growth", "", f"![time against N]({png_name})" if png_name else "", "",
                "| dataset | memories | fragments | full snapshot s | incremental +1%% s | incremental +%d s | "
                "verify s | cp -r s | sha256sum -c s |" % cfg["fixed_add"],
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for j, name in enumerate(cfg["growth"]):
            def cell(key, j=j, name=name):
                pts = [p for p in g.get(key) or [] if p["dataset"] == name]
                return f"{pts[0]['s']:.3f}" if pts else "-"
            info = res["datasets"][name]
            out.append(f"| {name} | {info['rows']:,} | {info['fragments']:,} | {cell('snapshot')} | "
                       f"{cell('incremental_1pct')} | {cell('incremental_fixed')} | {cell('verify')} | "
                       f"{cell('cp')} | {cell('sha256sum')} |")
        out.append("")
    if res.get("profiles"):
        out += ["## Where the time goes (one extra run each under cProfile)", "",
                "Cumulative seconds of the collection's functions (and pylance's Python wrappers); cProfile "
                "slows Python-heavy parts, so shares matter more than totals.", ""]
        for p in res["profiles"]:
            out += [f"**{p['label']}**: {p['total_s']:.3f} s", "", "| function | cumulative s | share |",
                    "| --- | --- | --- |"]
            out += [f"| {t['function']} | {t['cum_s']:.3f} | {100 * (t['share'] or 0):.0f}% |" for t in p["top"]]
            out.append("")
    if res.get("notes"):
        out += ["## Notes", "", res["notes"]]
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- smoke checks


def check_complete(res, cfg, items):
    """Every requested part came back with numbers (the smoke run's assertion)."""
    problems = []

    def need(cond, what):
        if not cond:
            problems.append(what)

    for name in cfg["growth"] + cfg["extra"]:
        if "snapshot" in items:
            m = res["snapshot"][name]["methods"]
            need(all(m[k]["s"] and m[k]["s"]["n"] == res["runs"] for k in m), f"snapshot {name}: runs missing")
            need(m["lance_snapshot"].get("bytes_written", 0) > 0, f"snapshot {name}: no bytes written")
        if "verify" in items:
            need(res["verify"][name]["ratios"]["lance_verify"] is not None, f"verify {name}: no ratio")
    if "incremental" in items:
        for where in ("plus1pct", "fixed"):
            for name in cfg["growth"]:
                r = res["incremental"][where].get(name)
                need(r and r["share_of_full"] is not None, f"incremental {where} {name}: no share of full")
                need(r and r["methods"]["incremental snapshot"].get("files_linked", 0) > 0,
                     f"incremental {where} {name}: nothing hard-linked")
    if "facts" in items:
        need(res["facts"]["methods"]["gather"]["peak_rss"]["median"] > 0, "facts: no peak RSS")
    if "growth" in items:
        need(res.get("png") and os.path.getsize(res["png"]) > 1000, "growth: no PNG")
    need(res["targets"], "no targets evaluated")
    return problems


# --------------------------------------------------------------------------- main


def code_version():
    """The commit measured, and whether the collection's code differed from it."""
    def git(*a):
        p = subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, check=False)
        return p.stdout.strip() if p.returncode == 0 else None

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--", "plugins", "bench", "tools/ocmlab"))}


def write_results(res, cfg, out_dir, png_name):
    md_path = os.path.join(out_dir, f"{res['date']}.md")
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(markdown(res, cfg, png_name))
    with open(os.path.join(out_dir, f"{res['date']}.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1, sort_keys=True, default=str)
    return md_path


def merge_cutover(args):
    """Item 4 measured on its own (the lab is shared): merged into an existing results file."""
    out_dir = args.out or RESULTS
    date = args.date or datetime.datetime.now(tz=datetime.timezone.utc).strftime("%Y-%m-%d")
    with open(os.path.join(out_dir, f"{date}.json"), encoding="utf-8") as f:
        res = json.load(f)
    with open(args.merge_cutover, encoding="utf-8") as f:
        res["cutover"] = cut = json.load(f)
    if cut.get("status") == "measured":
        import bench_cutover

        stamp = datetime.datetime.fromtimestamp(os.path.getmtime(args.merge_cutover), tz=datetime.timezone.utc)
        cut.setdefault("measured_at", stamp.strftime("%Y-%m-%dT%H:%M:%SZ"))
        cut.setdefault("runs", len(cut["samples"]["migrate.yml"]))
        logfile = os.path.join(tempfile.gettempdir(), "bench-cutover-migrate.yml.log")
        if not cut.get("slowest_tasks_last_migrate"):
            cut["slowest_tasks_last_migrate"] = bench_cutover.task_times(logfile)
        if not cut.get("downtime_window_last_migrate"):
            cut["downtime_window_last_migrate"] = bench_cutover.downtime_tasks(logfile)
    md_path = _write_again(res, out_dir)
    print(f"\nwritten: {md_path} (+ .json) with item 4 from {args.merge_cutover}")
    return 0


def _write_again(res, out_dir):
    """Results written (markdown and json) with the current bench/notes.md, targets and headline; md path."""
    cfg = SMOKE if res.get("smoke") else FULL
    if os.path.exists(NOTES) and not res.get("smoke"):
        with open(NOTES, encoding="utf-8") as f:
            res["notes"] = f.read().strip()
    res["targets"] = targets(res, cfg)
    res["headline"] = headline(res, cfg)
    png = res.get("png")
    md_path = write_results(res, cfg, out_dir, os.path.basename(png) if png else None)
    print(res["headline"])
    return md_path


def rerender(args):
    """The results of --date written again (markdown and json) with the current bench/notes.md."""
    out_dir = args.out or RESULTS
    date = args.date or datetime.datetime.now(tz=datetime.timezone.utc).strftime("%Y-%m-%d")
    with open(os.path.join(out_dir, f"{date}.json"), encoding="utf-8") as f:
        res = json.load(f)
    md_path = _write_again(res, out_dir)
    print(f"\nwritten again: {md_path} (+ .json) with the current {os.path.relpath(NOTES, REPO)}")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--smoke", action="store_true", help="tiny datasets, 2 rounds, temp output; checks the harness")
    ap.add_argument("--runs", type=int, default=None, help="counted rounds per comparison (default 5; smoke 2)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--only", default=",".join(i for i in ITEMS if i != "cutover"),
                    help="comma-separated items of %s" % ", ".join(ITEMS))
    ap.add_argument("--cutover", action="store_true", help="also item 4 on the lab (bench/bench_cutover.py)")
    ap.add_argument("--out", default=None, help="results dir (default bench/results; smoke: a temp dir)")
    ap.add_argument("--cache", default=D.CACHE)
    ap.add_argument("--work", default=None, help="scratch dir on the cache's filesystem (default <cache>/work)")
    ap.add_argument("--date", default=None, help="results file name (default today, UTC)")
    ap.add_argument("--no-profile", action="store_true")
    U.add_fs_state_option(ap, "before each timed run of items 1-4 (item 4: after each lab reset)")
    ap.add_argument("--compare-to", default=None, metavar="REV",
                    help="snapshot and incremental also run lance_snapshot as it was at git revision REV, "
                         "interleaved with the current code (side by side)")
    ap.add_argument("--rerender", action="store_true",
                    help="write the results of --date again from its .json with the current bench/notes.md "
                         "(nothing is measured)")
    ap.add_argument("--merge-cutover", default=None, metavar="JSON",
                    help="put the result of a separate bench/bench_cutover.py --json run into the results of --date "
                         "and write them again with the current bench/notes.md (nothing is measured)")
    args = ap.parse_args(argv)
    if args.merge_cutover:
        return merge_cutover(args)
    if args.rerender:
        return rerender(args)
    U.check_fs_state(ap, args.fs_state)
    FS_STATE["state"] = args.fs_state
    cfg = SMOKE if args.smoke else FULL
    runs = args.runs or (2 if args.smoke else 5)
    args.runs = runs
    items = [i.strip() for i in args.only.split(",") if i.strip()]
    if args.cutover and "cutover" not in items:
        items.append("cutover")
    bad = [i for i in items if i not in ITEMS]
    if bad:
        ap.error(f"unknown item(s) {', '.join(bad)}; choose from {', '.join(ITEMS)}")
    tmp_out = None
    if args.out is None and args.smoke:
        tmp_out = args.out = tempfile.mkdtemp(prefix="bench-smoke-")
    out_dir = args.out or RESULTS
    work = args.work or os.path.join(args.cache, "work" + ("-smoke" if args.smoke else ""))
    U.remove(work)
    os.makedirs(work)
    now = datetime.datetime.now(tz=datetime.timezone.utc)
    date = args.date or now.strftime("%Y-%m-%d")
    t_start = time.monotonic()
    # Import the code measured now, once: a run then measures one version of it even while the tree changes.
    snapshot_mod(), verify_mod()
    if args.compare_to:
        load_before(args.compare_to)
    import ansible_collections.openclaw.memory.plugins.module_utils.facts  # noqa: F401
    res = {"date": date, "code": code_version(), "before": BEFORE.get("rev"),
           "started": now.isoformat(timespec="seconds"), "smoke": args.smoke,
           "runs": runs, "warmup": args.warmup, "fs_state": args.fs_state, "machine": U.machine(), "items": items,
           "datasets": {}}
    try:
        names = cfg["growth"] + cfg["extra"] + ([cfg["facts"]] if "facts" in items else [])
        infos = {}
        for name in names:
            infos[name] = D.ensure(cfg["datasets"][name], cache=args.cache, log=log)
        for name in cfg["growth"]:
            spec = cfg["datasets"][name]
            if "incremental" in items:
                infos[name + "+1%"] = D.ensure(spec, plus=max(1, spec.n // 100), cache=args.cache, log=log)
                infos[name + "+fixed"] = D.ensure(spec, plus=cfg["fixed_add"], cache=args.cache, log=log)
        keep = ("label", "key", "n", "dims", "mode", "batch_size", "tail", "plus", "rows", "db_bytes", "db_files",
                "referenced_bytes", "referenced_files", "fragments", "manifests", "version", "build_s")
        res["datasets"] = {k: {f: v.get(f) for f in keep} for k, v in infos.items()}
        steps = []
        if "snapshot" in items:
            steps.append(("snapshot", lambda: {n: bench_snapshot(infos[n], work, runs, args.warmup)
                                               for n in cfg["growth"] + cfg["extra"]}))
        if "incremental" in items:
            steps.append(("incremental", lambda: {
                "plus1pct": {n: bench_incremental(infos[n], infos[n + "+1%"], work, runs, args.warmup)
                             for n in cfg["growth"]},
                "fixed": {n: bench_incremental(infos[n], infos[n + "+fixed"], work, runs, args.warmup)
                          for n in cfg["growth"]}}))
        if "verify" in items:
            steps.append(("verify", lambda: {n: bench_verify(infos[n], work, runs, args.warmup)
                                             for n in cfg["growth"] + cfg["extra"]}))
        if "facts" in items:
            steps.append(("facts", lambda: bench_facts(infos[cfg["facts"]], runs)))
        steps.append(("cutover", lambda: bench_cutover(args, "cutover" in items)))
        if not args.no_profile and ("snapshot" in items or "verify" in items):
            steps.append(("profiles", lambda: bench_profiles(cfg, args.cache, work)))
        for key, step in steps:
            # One broken part must not throw away an hour of measurements: it is recorded and fails the run.
            try:
                res[key] = step()
            except Exception as e:  # noqa: BLE001
                log(f"{key} FAILED: {e!r}")
                res.setdefault("errors", {})[key] = repr(e)
                if args.smoke:
                    raise
    finally:
        U.remove(work)
    loads = [s["load1"] for sec in ("snapshot", "verify") for r in (res.get(sec) or {}).values()
             for rows in r["samples"].values() for s in rows]
    ls = U.summary(loads)
    res["load_summary"] = "-" if not ls else f"median {ls['median']:.1f}, min {ls['min']:.1f}, max {ls['max']:.1f}"
    if "growth" in items:
        res["growth"] = growth(res, cfg)
    res["targets"] = targets(res, cfg)
    res["headline"] = headline(res, cfg)
    os.makedirs(out_dir, exist_ok=True)
    png_name = None
    if "growth" in items and res["growth"]["snapshot"]:
        png_name = f"{date}-growth.png"
        res["png"] = plot(res["growth"], os.path.join(out_dir, png_name),
                          f"openclaw.memory vs the guide, {date} (median of {runs}; load {res['load_summary']})")
    if os.path.exists(NOTES) and not args.smoke:
        with open(NOTES, encoding="utf-8") as f:
            res["notes"] = f.read().strip()
    res["finished"] = datetime.datetime.now(tz=datetime.timezone.utc).isoformat(timespec="seconds")
    res["duration_s"] = round(time.monotonic() - t_start, 1)
    md_path = write_results(res, cfg, out_dir, png_name)
    print(res["headline"])
    if res.get("errors"):
        print("bench: parts failed: " + "; ".join(f"{k}: {v}" for k, v in res["errors"].items()), file=sys.stderr)
        return 1
    print(f"\nwritten: {md_path} (+ .json{', ' + png_name if png_name else ''}) in {res['duration_s']} s")
    if args.smoke:
        problems = check_complete(res, cfg, items)
        if tmp_out:
            shutil.rmtree(tmp_out, ignore_errors=True)
        if problems:
            print("bench-smoke FAILED: " + "; ".join(problems), file=sys.stderr)
            return 1
        print("bench-smoke: every part ran and reported numbers (this checks the harness, not performance)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
