# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measuring side by side: methods run interleaved, run by run, on the same data.

Each round runs every method once, in an order that rotates from round to
round, so a burst of load from other work on the machine hits all methods
alike; ratios are taken run by run (same round) and summarised. Before each
timed run the page cache's dirty data is flushed (os.sync, not timed) so no
method pays for the previous one's writes. Reads are warm for every method
(a warm-up round is not counted).

With a `settle` step (run_bench's default, `--fs-state settled`) the page
cache is also dropped and the method's inputs read back before each timed
run (not timed). On ext4 a method that creates many files right after
another one deleted many pays up to ~20x per file until the page cache is
dropped (measured here: 5,000 files in 3.1 s after such deletes, 0.15 s in
the same directory once the cache was dropped); dropping it puts every
method on the same footing, whatever ran before it.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import statistics
import subprocess
import time
import uuid


def cpu_seconds():
    """User + system CPU of this process and its waited-for children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


class Method:
    """One way of doing the thing measured. run(ctx) returns a dict of extra numbers (bytes, files)."""

    def __init__(self, name, run, prepare=None, cleanup=None, note=None):
        self.name = name
        self.run = run
        self.prepare = prepare
        self.cleanup = cleanup
        self.note = note


DROP_CACHES = "/proc/sys/vm/drop_caches"


def can_settle():
    return os.access(DROP_CACHES, os.W_OK)


def add_fs_state_option(ap, when):
    """The scripts' --fs-state option; `when` says when a settle step runs."""
    ap.add_argument("--fs-state", choices=("settled", "as-left"), default="settled",
                    help=f"{when}: 'settled' (default) drops the page cache and reads the method's inputs back "
                         "(needs root); 'as-left' only flushes dirty pages, so a method runs on the file system as "
                         "what ran before it left it")


def check_fs_state(ap, fs_state):
    """Fail the command line (argparse's error, exit 2) when --fs-state settled cannot drop the page cache."""
    if fs_state == "settled" and not can_settle():
        ap.error(f"--fs-state settled drops the page cache through {DROP_CACHES}, which this user cannot write; "
                 "run as root, or pass --fs-state as-left (results then depend on what ran before each method)")


def settler(paths):
    """A settle step for interleave: flush, drop the page cache, then read every file under `paths` back."""

    def settle():
        os.sync()
        with open(DROP_CACHES, "w", encoding="ascii") as f:
            f.write("1")
        for top in paths:
            for root, _dirs, files in os.walk(top):
                for name in files:
                    try:
                        with open(os.path.join(root, name), "rb", buffering=0) as f:
                            while f.read(1 << 20):
                                pass
                    except FileNotFoundError:  # a writer's temporary file, renamed meanwhile
                        continue

    return settle


def interleave(methods, runs, warmup=1, log=None, label="", settle=None):
    """Run each method `runs` times (+ `warmup` uncounted rounds), rotating the order every round.

    `settle` (see settler) runs before each timed run, after the method's prepare step; without it the
    dirty pages are flushed only.

    Returns {method name: [sample]}, sample = {s, cpu_s, load1, round, ...extra}.
    """
    samples = {m.name: [] for m in methods}
    for rnd in range(warmup + runs):
        k = rnd % len(methods)
        order = methods[k:] + methods[:k]
        for m in order:
            ctx = m.prepare() if m.prepare else None
            if settle:
                settle()
            else:
                os.sync()
            load1 = os.getloadavg()[0]
            c0, t0 = cpu_seconds(), time.perf_counter()
            extra = m.run(ctx) or {}
            dt, cpu = time.perf_counter() - t0, cpu_seconds() - c0
            if m.cleanup:
                m.cleanup(ctx)
            if rnd >= warmup:
                samples[m.name].append(dict(extra, s=dt, cpu_s=cpu, load1=load1, round=rnd - warmup))
            if log:
                log(f"  {label} {'warm-up' if rnd < warmup else f'run {rnd - warmup + 1}/{runs}'} "
                    f"{m.name}: {dt:.3f} s (load {load1:.1f})")
    return samples


def summary(values):
    """{median, min, max, n} of a list of numbers (None when empty)."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summarize(samples, keys=("s", "cpu_s", "load1")):
    """{method: {key: summary}} plus every other numeric key's median (bytes, files ...)."""
    out = {}
    for name, rows in samples.items():
        entry = {k: summary([r.get(k) for r in rows]) for k in keys}
        for key in sorted({k for r in rows for k in r} - set(keys) - {"round"}):
            vals = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and not isinstance(r[key], bool)]
            if vals:
                entry[key] = statistics.median(vals)
        out[name] = entry
    return out


def ratios(samples, base, other, key="s"):
    """other/base per round (how many times `base` is faster), summarised; None when a side is missing."""
    a = {r["round"]: r[key] for r in samples.get(base, [])}
    b = {r["round"]: r[key] for r in samples.get(other, [])}
    per_run = [b[k] / a[k] for k in sorted(a) if k in b and a[k] > 0]
    return summary(per_run)


def run_cmd(argv, cwd=None):
    """Run a command, raise with its stderr when it fails."""
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed (rc {p.returncode}): {p.stderr.strip()[:500]}")
    return p


def written(path):
    """(bytes, files) of new data under `path` (a dir or a file): files with one link only; hard links
    to another snapshot are not written data."""
    if os.path.isfile(path):
        return os.path.getsize(path), 1
    nbytes = files = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            st = os.lstat(os.path.join(root, name))
            if st.st_nlink == 1:
                nbytes += st.st_size
                files += 1
    return nbytes, files


def linked(path):
    """(bytes, files) under `path` that are hard links shared with something else."""
    nbytes = files = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            st = os.lstat(os.path.join(root, name))
            if st.st_nlink > 1:
                nbytes += st.st_size
                files += 1
    return nbytes, files


def fresh_dir(parent, prefix):
    """A new, not yet existing path under `parent` (for a method to create)."""
    os.makedirs(parent, exist_ok=True)
    return os.path.join(parent, f"{prefix}-{uuid.uuid4().hex[:8]}")


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def tool_version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    except OSError:
        return None
    return out.splitlines()[0].strip() if out else None


def machine():
    """What the numbers were measured on."""
    mem = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    model = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "mem_bytes": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "tools": {t: tool_version([t, "--version"]) for t in ("cp", "rsync", "tar", "sha256sum", "gzip")},
        "load_at_start": os.getloadavg(),
    }
