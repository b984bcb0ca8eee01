# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Item 4: migration cutover downtime on the lab, playbooks/migrate.yml vs the guide's cold procedure.

Two lab hosts (tools/ocmlab/lab.sh up old new, on disk: OCMLAB_TMPFS=0, the
guide's way writes the database three times). Before every run both hosts are
reset: the cached 5,000-memory dataset (bench_data, one row per commit) is
copied into old's /home/node, a 5-memory state of the same plugin and
embedding into new's, and the gateway simulator (ocmlab.gateway_sim) keeps
writing one memory per commit on old, as a live gateway does. Then, in turns:

  migrate.yml  the whole playbook; downtime is the report's downtime_s: the old
               gateway's stop until the new gateway serves the restored copy
               that passed the cutover checks (every file against the final
               SHA256SUMS, tables open and validate, version, rows, schema);
               verified_s is the stop until every check passed (content,
               search, readwrite of the final snapshot as received, facts,
               with the new gateway already serving).
  guide        stop old's gateway; cp -r the database to /tmp; du -s of both
               (the guide's size check); rsync -a --checksum to new over ssh;
               on new: move its database aside, cp -r the received copy into
               place, chown to the gateway user, start the gateway. Downtime:
               stop -> new gateway started. The guide's verification (asking
               the agent for counts and a recall) is not timed: it would only
               add to the guide's downtime.

The lab is shared by the machine's users: lab.sh up waits while another run
owns it, and this always brings it down again.
Usage: python bench/bench_cutover.py [--runs 5] [--n 5000]   (or make bench BENCH_ARGS=--cutover)
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import bench_data as D
import bench_util as U

REPO = D.REPO
LAB_SH = os.path.join(REPO, "tools", "ocmlab", "lab.sh")
LAB_ROOT = os.environ.get("OCMLAB_ROOT", "/var/tmp/ocmlab")
INVENTORY = os.path.join(LAB_ROOT, "inventory.yml")
PREPARE = os.path.join(REPO, "bench", "lab", "prepare.yml")
MIGRATE = os.path.join(REPO, "playbooks", "migrate.yml")
VENV_PY = "/opt/openclaw-memory/venv/bin/python"
# The control node's ansible-playbook: the one next to this Python (make puts .venv/bin first on PATH).
ANSIBLE_PLAYBOOK = next((p for p in (os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),)
                         if os.path.exists(p)), "ansible-playbook")
GW_CMD = f"{VENV_PY} -m ocmlab.gateway_sim"  # for the gateway role (PYTHONPATH from openclaw_gateway_environment)
GW = f"PYTHONPATH=/opt/ocmlab {GW_CMD}"  # for a shell over ssh
PIDFILE = "/run/ocmlab-gateway.pid"
DB = "/home/node/.openclaw/memory/lancedb"
BACKUP = "/tmp/openclaw-memory-backup"
RESTORE = "/tmp/openclaw-memory-restore"
NODE_UID = 1000
NEW_SPEC = D.Spec(5, seed=11)  # the new host's own small database (same plugin, dims and embedding)
GATEWAY_RATE = 4  # memories per second written on the old host until its gateway stops


def gateway_start(dims, seed, gw=GW):
    return (f"{gw} start --db {DB} --user node --dims {dims} --rate {GATEWAY_RATE} --seed {seed} "
            f"--pidfile {PIDFILE} --log /var/log/ocmlab-gateway.log")


def lab_vars(dims, report_dir):
    """What migrate.yml needs to drive the simulator as the gateway (as molecule/migrate does)."""
    return {
        "openclaw_memory_user": "node",
        "openclaw_gateway_manager": "command",
        "openclaw_gateway_environment": {"PYTHONPATH": "/opt/ocmlab"},
        "openclaw_gateway_start_command": gateway_start(dims, 81, GW_CMD),
        "openclaw_gateway_stop_command": f"{GW_CMD} stop --pidfile {PIDFILE}",
        "openclaw_gateway_status_command": f"{GW_CMD} status --pidfile {PIDFILE}",
        "openclaw_gateway_timeout": 30,
        "openclaw_transfer_private_key": "/root/.ssh/id_ed25519",
        "openclaw_migrate_report_dir": report_dir,
        "openclaw_migrate_deps": False,
        "openclaw_memory_python": VENV_PY,
    }


def self_check():
    """What the smoke run can check without the lab: the files this needs exist and parse."""
    import yaml

    for path in (PREPARE, MIGRATE, LAB_SH):
        if not os.path.exists(path):
            raise RuntimeError(f"{path} is missing: item 4 cannot run")
    with open(PREPARE, encoding="utf-8") as f:
        plays = yaml.safe_load(f)
    if not isinstance(plays, list) or not plays:
        raise RuntimeError(f"{PREPARE} holds no play")
    json.dumps(lab_vars(16, "/tmp/x"))
    return True


class Lab:
    def __init__(self, log):
        self.log = log
        self.fs = {}

    def sh(self, argv, timeout=3600, env=None):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL,
                           env=dict(os.environ, **(env or {})), cwd=REPO)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:4])} ... failed (rc {p.returncode}): "
                               f"{(p.stdout + p.stderr).strip()[-1500:]}")
        return p.stdout

    def up(self):
        self.log("  lab: up old new (waits while another run owns the lab)")
        self.sh([LAB_SH, "up", "old", "new"], env={"OCMLAB_TMPFS": "0", "OCMLAB_OWNER_PID": str(os.getpid())})
        with open(os.path.join(LAB_ROOT, "state.json"), encoding="utf-8") as f:
            state = json.load(f)
        for h in state["hosts"]:
            self.fs[h["name"]] = os.path.join(LAB_ROOT, "hosts", h["name"], "fs")

    def down(self):
        self.log("  lab: down")
        subprocess.run([LAB_SH, "down"], capture_output=True, text=True, check=False, cwd=REPO,
                       env=dict(os.environ, OCMLAB_OWNER_PID=str(os.getpid())))

    def ssh(self, host, cmd, timeout=1800):
        return self.sh([LAB_SH, "ssh", host, cmd], timeout=timeout)

    def playbook(self, path, extra):
        """Run a playbook on the lab; its whole output goes to a log file named in any failure."""
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(extra, f)
        logfile = os.path.join(tempfile.gettempdir(), f"bench-cutover-{os.path.basename(path)}.log")
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
                   ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".collections"))
        try:
            with open(logfile, "w", encoding="utf-8") as log:
                p = subprocess.run([ANSIBLE_PLAYBOOK, "-i", INVENTORY, path, "-e", "@" + f.name], stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=REPO,
                                   timeout=3600, check=False)
        finally:
            os.unlink(f.name)
        if p.returncode != 0:
            with open(logfile, encoding="utf-8") as log:
                bad = [line.strip() for line in log if line.startswith(("fatal:", "failed:")) or "FAILED!" in line]
            raise RuntimeError(f"{os.path.basename(path)} failed on the lab (rc {p.returncode}; whole output in "
                               f"{logfile}): {' | '.join(bad[:3])[:1500]}")

    def install(self, dims):
        """The collection's venv (deps role) and the simulator's code on both hosts."""
        for host in ("old", "new"):
            dst = os.path.join(self.fs[host], "opt", "ocmlab")
            os.makedirs(os.path.join(dst, "ocmlab"), exist_ok=True)
            for name in ("__init__.py", "fixtures.py", "gateway_sim.py"):
                shutil.copy(os.path.join(REPO, "tools", "ocmlab", name), os.path.join(dst, "ocmlab", name))
            mu = os.path.join(dst, "ansible_collections", "openclaw", "memory", "plugins", "module_utils")
            os.makedirs(mu, exist_ok=True)
            shutil.copy(os.path.join(REPO, "plugins", "module_utils", "plugins.py"), os.path.join(mu, "plugins.py"))
        self.log("  lab: deps role on old and new")
        self.playbook(PREPARE, lab_vars(dims, "/tmp"))

    def reset(self, old_info, new_info, dims):
        """Fresh states on both hosts; the simulator writing on old."""
        for host in ("old", "new"):
            self.ssh(host, f"{GW} stop --pidfile {PIDFILE} >/dev/null 2>&1 || true; "
                           f"rm -rf /home/node/.openclaw /var/backups/openclaw-memory /var/lib/openclaw-memory "
                           f"{BACKUP} {RESTORE} /var/log/ocmlab-gateway.log")
        for host, info in (("old", old_info), ("new", new_info)):
            dst = os.path.join(self.fs[host], "home", "node", ".openclaw")
            U.run_cmd(["cp", "-a", os.path.join(info["home"], ".openclaw"), dst])
            U.run_cmd(["chown", "-R", f"{NODE_UID}:{NODE_UID}", dst])
        self.ssh("old", gateway_start(dims, 71))

    def count(self, host):
        code = ("import lance,sys; print(lance.dataset(sys.argv[1] + '/memories.lance').count_rows())")
        return int(self.ssh(host, f"{VENV_PY} -c {shlex.quote(code)} {DB}").strip().splitlines()[-1])


def task_times(logfile, top=12):
    """The slowest tasks of a playbook run, from the profile_tasks summary at the end of its output."""
    out = []
    try:
        with open(logfile, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"^(.+?) -{3,} ([0-9.]+)s$", line.rstrip())
                if m:
                    out.append({"task": m.group(1).strip(), "s": float(m.group(2))})
    except OSError:
        return []
    return sorted(out, key=lambda t: -t["s"])[:top]


def downtime_tasks(logfile, start="Stop the old gateway, take the final snapshot",
                   end="Record the restore and that the new gateway serves it"):
    """[(task, seconds)] of the tasks inside the downtime window, in order, from profile_tasks' timestamps."""
    tasks = []
    name = None
    try:
        with open(logfile, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"^TASK \[(.+?)\]", line)
                if m:
                    name = m.group(1)
                    continue
                t = re.search(r"\) +(\d+):(\d+):(\d+\.\d+) \*+", line)
                if t and name is not None:
                    tasks.append([name, int(t.group(1)) * 3600 + int(t.group(2)) * 60 + float(t.group(3))])
                    name = None
    except OSError:
        return []
    out, inside = [], False
    for (task, at), nxt in zip(tasks, tasks[1:] + [None], strict=True):
        if task.startswith(start):
            inside = True
        if inside and nxt is not None:
            out.append((task, round(nxt[1] - at, 2)))
        if task.startswith(end):
            break
    return out


def run_migrate(lab, dims):
    report_dir = tempfile.mkdtemp(prefix="bench-migrate-")
    try:
        lab.playbook(MIGRATE, lab_vars(dims, report_dir))
        reports = sorted(glob.glob(os.path.join(report_dir, "*.json")), key=os.path.getmtime)
        if not reports:
            raise RuntimeError(f"migrate.yml wrote no JSON report into {report_dir}")
        with open(reports[-1], encoding="utf-8") as f:
            report = json.load(f)
    finally:
        shutil.rmtree(report_dir, ignore_errors=True)
    pair = report["pairs"][0]
    if pair["verdict"] != "passed":
        raise RuntimeError(f"migrate.yml did not pass on the lab: {pair.get('reason')}")
    logfile = os.path.join(tempfile.gettempdir(), "bench-cutover-migrate.yml.log")
    lab.last_tasks = task_times(logfile)
    lab.last_window = downtime_tasks(logfile)
    return {"downtime_s": pair["downtime_s"], "verified_s": pair.get("verified_s"),
            "migrated": (pair.get("restored") or {}).get("total"),
            "final_snapshot_bytes": (pair.get("bytes") or {}).get("final_snapshot"),
            "final_transfer_bytes": (pair.get("bytes") or {}).get("final_transfer")}


def run_guide(lab, dims):
    rsync_ssh = "ssh -i /root/.ssh/id_ed25519 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    t0 = time.monotonic()
    lab.ssh("old", f"{GW} stop --pidfile {PIDFILE}")
    out = lab.ssh("old", f"cp -r {DB} {BACKUP} && du -sb {DB} {BACKUP} && "
                         f"rsync -a --checksum --stats -e {shlex.quote(rsync_ssh)} {BACKUP}/ root@new:{RESTORE}/")
    lab.ssh("new", f"mv {DB} {DB}.orig && cp -r {RESTORE} {DB} && chown -R node:node {DB} && "
                   f"{gateway_start(dims, 81)}")
    downtime = time.monotonic() - t0
    sizes = [int(line.split()[0]) for line in out.splitlines()[:2]]
    return {"downtime_s": downtime, "size_matches": sizes[0] == sizes[1], "migrated": lab.count("new")}


def run(runs=5, n=5000, log=print, smoke=False, fs_state="settled"):
    """Item 4; returns the section of the results (status measured) or raises.

    `fs_state` "settled": after each reset the page cache is dropped and both hosts' states read back (see
    bench_util.settler), so neither method pays for the file system the reset's deletes and copies left.
    """
    if smoke:
        self_check()
        return {"status": "not measured (smoke run: files checked only)", "why": "the smoke run leaves the lab alone"}
    old_spec = D.DATASETS["n5000"] if n == 5000 else D.Spec(n)
    old_info = D.ensure(old_spec, log=log)
    new_info = D.ensure(NEW_SPEC, log=log)
    lab = Lab(log)
    samples = {"migrate.yml": [], "guide": []}
    t_lab = time.monotonic()
    lab.up()
    try:
        lab.install(old_spec.dims)
        for rnd in range(runs):
            order = ("migrate.yml", "guide") if rnd % 2 == 0 else ("guide", "migrate.yml")
            for method in order:
                lab.reset(old_info, new_info, old_spec.dims)
                time.sleep(2)  # the simulator writes a few memories first
                if fs_state == "settled":
                    U.settler([os.path.join(lab.fs[h], "home", "node", ".openclaw") for h in ("old", "new")])()
                load1 = os.getloadavg()[0]
                row = run_migrate(lab, old_spec.dims) if method == "migrate.yml" else run_guide(lab, old_spec.dims)
                samples[method].append(dict(row, load1=load1, round=rnd))
                log(f"  cutover run {rnd + 1}/{runs} {method}: downtime {row['downtime_s']:.2f} s, "
                    f"{row.get('migrated')} memories on new (load {load1:.1f})")
    finally:
        lab.down()
    return {
        "status": "measured",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": runs,
        "n": n,
        "fs_state": fs_state,
        "lab_minutes": round((time.monotonic() - t_lab) / 60, 1),
        "methods": U.summarize(samples, keys=("downtime_s", "verified_s", "load1")),
        "ratios": {"guide": U.ratios(samples, "migrate.yml", "guide", key="downtime_s")},
        "samples": samples,
        "slowest_tasks_last_migrate": getattr(lab, "last_tasks", []),
        "downtime_window_last_migrate": getattr(lab, "last_window", []),
        "how": __doc__.split("\n\n", 1)[1].split("\n\nThe lab is shared")[0],
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--json", default=None, help="also write the result here")
    U.add_fs_state_option(ap, "after each lab reset, for both hosts' states")
    args = ap.parse_args(argv)
    U.check_fs_state(ap, args.fs_state)
    res = run(args.runs, args.n, log=lambda m: print(m, file=sys.stderr, flush=True), fs_state=args.fs_state)
    text = json.dumps(res, indent=1, default=str)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
