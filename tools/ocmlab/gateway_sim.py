"""A stand-in for the OpenClaw gateway on lab hosts (no systemd): keeps writing memories.

    python -m ocmlab.gateway_sim start  --db PATH [--plugin memory-lancedb] [--rate 2.0] [--seed 7]
                                        [--pidfile PATH] [--log PATH] [--agent-id main] [--user node]
                                        [--dims 1536] [--no-agent-id-column] [--limit N] [--wait 60]
    python -m ocmlab.gateway_sim stop   --pidfile PATH [--timeout 10]
    python -m ocmlab.gateway_sim status --pidfile PATH      (exit 0 running, 3 stopped)
    python -m ocmlab.gateway_sim run    ...same options as start, in the foreground

`start` launches `run` in a new session (it outlives the caller), waits until
the process has opened the database and reports ready through a pipe, then
writes the pid file; when the pid file names a live simulator it is a no-op
(exit 0). `run` holds the database open with lancedb like the plugin and
appends one memory per commit at `--rate` memories per second through
`ocmlab.fixtures.MemoryWriter` (the fixtures' own writing code), logging
each write. A missing table is created the plugin's way (`--dims`,
`--no-agent-id-column`). SIGTERM/SIGINT stop it after the current commit.
`stop` sends SIGTERM and waits until the process is gone (SIGKILL after
`--timeout`, reported). Write errors (say, the directory was moved away by a
restore) are logged and retried at the same rate, like a live gateway.

Imports only the stdlib at module level; `run` imports ocmlab.fixtures
(numpy, pyarrow, lancedb) and plugins.py. Exit codes: 0 ok, 1 error, 3 not running.
"""

from __future__ import annotations

import argparse
import datetime
import os
import select
import signal
import subprocess
import sys
import threading
import time

MARKER = "ocmlab.gateway_sim"
EXIT_STOPPED = 3
DEFAULT_SEED = 7


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log(msg):
    sys.stdout.write(f"{_now()} gateway_sim[{os.getpid()}] {msg}\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------- pid files and processes


def read_pid(pidfile):
    try:
        with open(pidfile, encoding="ascii") as f:
            return int(f.read().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _state(pid):
    """Process state letter from /proc (None when gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def is_simulator(pid):
    """True when pid is a live (not zombie) process running this simulator."""
    if not pid or _state(pid) in (None, "Z", "X"):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return MARKER.encode() in f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False


def _write_pidfile(pidfile, pid):
    os.makedirs(os.path.dirname(os.path.abspath(pidfile)), exist_ok=True)
    tmp = f"{pidfile}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{pid}\n")
    os.replace(tmp, pidfile)


def _remove_pidfile(pidfile, pid=None):
    if pid is None or read_pid(pidfile) == pid:
        try:
            os.unlink(pidfile)
        except (FileNotFoundError, PermissionError):
            pass


def _pythonpath():
    """PYTHONPATH for the child: ocmlab's parent dir and plugins.py's collection root first."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [here]
    try:
        from ansible_collections.openclaw.memory.plugins.module_utils import plugins

        root = os.path.abspath(plugins.__file__)
        for _level in range(6):  # …/ansible_collections/openclaw/memory/plugins/module_utils/plugins.py
            root = os.path.dirname(root)
        paths.append(root)
    except ImportError:
        pass
    old = os.environ.get("PYTHONPATH")
    return os.pathsep.join(dict.fromkeys(paths + ([old] if old else [])))


def _user_ids(user):
    import pwd

    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise SystemExit(f"gateway_sim: no such user {user!r}") from None
    return pw.pw_uid, pw.pw_gid, pw.pw_dir


def _tail(path, lines=15):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except (FileNotFoundError, TypeError):
        return ""


# --------------------------------------------------------------------------- commands


def cmd_status(args):
    pid = read_pid(args.pidfile)
    if is_simulator(pid):
        print(f"gateway_sim: running (pid {pid})")
        return 0
    if pid:
        print(f"gateway_sim: stopped (stale pid file {args.pidfile} names pid {pid})")
    else:
        print("gateway_sim: stopped")
    return EXIT_STOPPED


def cmd_start(args):
    pid = read_pid(args.pidfile)
    if is_simulator(pid):
        print(f"gateway_sim: already running (pid {pid}); nothing to do")
        return 0
    _remove_pidfile(args.pidfile)
    cmd = [sys.executable, "-m", MARKER, "run", "--db", args.db, "--plugin", args.plugin, "--rate", str(args.rate),
           "--seed", str(args.seed), "--agent-id", args.agent_id, "--dims", str(args.dims), "--pidfile", args.pidfile]
    if args.no_agent_id_column:
        cmd.append("--no-agent-id-column")
    if args.limit is not None:
        cmd += ["--limit", str(args.limit)]
    env = dict(os.environ, PYTHONPATH=_pythonpath(), PYTHONUNBUFFERED="1")
    if args.user:
        uid, _gid, _home = _user_ids(args.user)
        if os.geteuid() not in (0, uid):
            print(f"gateway_sim: running as user {args.user!r} needs root", file=sys.stderr)
            return 1
        cmd += ["--user", args.user]  # run drops privileges itself, after its imports
    logf = open(args.log, "ab") if args.log else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    rfd, wfd = os.pipe()
    try:
        proc = subprocess.Popen(
            cmd + ["--ready-fd", str(wfd)], stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            pass_fds=(wfd,), start_new_session=True, cwd="/", env=env,
        )
    except OSError as exc:
        os.close(rfd)
        print(f"gateway_sim: cannot run {sys.executable}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    finally:
        os.close(wfd)
        if args.log:
            logf.close()
    deadline = time.monotonic() + args.wait
    msg = b""
    eof = False
    with os.fdopen(rfd, "rb", buffering=0) as r:
        while time.monotonic() < deadline and b"\n" not in msg:
            ready, _w, _x = select.select([r], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = r.read(256)
            if not chunk:
                eof = True  # the child is exiting before it was ready
                break
            msg += chunk
    if msg.startswith(b"ready"):
        _write_pidfile(args.pidfile, proc.pid)
        print(f"gateway_sim: started (pid {proc.pid}) writing to {args.db} at {args.rate}/s"
              + (f"; log {args.log}" if args.log else ""))
        return 0
    try:
        proc.wait(10 if eof else 0.1)
        why = f"exited with code {proc.returncode}"
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        why = "closed its ready pipe but did not exit" if eof else f"not ready after {args.wait}s"
    print(f"gateway_sim: failed to start ({why})\n{_tail(args.log)}", file=sys.stderr)
    return 1


def cmd_stop(args):
    pid = read_pid(args.pidfile)
    if not is_simulator(pid):
        _remove_pidfile(args.pidfile)
        print("gateway_sim: not running" + (f" (removed stale pid file, pid {pid})" if pid else ""))
        return 0
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline and is_simulator(pid):
        time.sleep(0.05)
    killed = False
    if is_simulator(pid):
        killed = True
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        end = time.monotonic() + 5
        while time.monotonic() < end and is_simulator(pid):
            time.sleep(0.05)
        if is_simulator(pid):
            print(f"gateway_sim: pid {pid} survived SIGKILL", file=sys.stderr)
            return 1
    _remove_pidfile(args.pidfile, pid)
    print(f"gateway_sim: stopped (pid {pid})" + (f"; SIGKILL after {args.timeout}s" if killed else ""))
    return 0


def _drop_privileges(user):
    """Become `user` (needs root, or already being that user); HOME/USER follow."""
    uid, gid, home = _user_ids(user)
    if os.geteuid() != uid:
        if os.geteuid() != 0:
            raise SystemExit(f"gateway_sim: running as user {user!r} needs root")
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    os.environ.update(HOME=home, USER=user, LOGNAME=user)


def cmd_run(args):
    stop = threading.Event()

    def on_signal(signum, _frame):
        log(f"got {signal.Signals(signum).name}: stopping after the current commit")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    import lancedb  # noqa: F401 - fixtures imports it lazily; do it before dropping privileges

    from ocmlab import fixtures  # heavy (numpy, pyarrow, lancedb): only in run

    if args.user:
        _drop_privileges(args.user)
    table_dir = os.path.join(args.db, fixtures.P.TABLE + ".lance")
    try:
        if not os.path.isdir(table_dir):
            fixtures.create_memories_table(args.db, args.plugin, args.dims, agent_id=not args.no_agent_id_column)
            log(f"created {table_dir} ({args.plugin}, {args.dims} dims)")
        writer = fixtures.MemoryWriter(args.db, args.plugin, args.seed, agents=(args.agent_id,),
                                       scopes=("global", f"agent:{args.agent_id}"), keep_ids=False)
        index = writer.next_index()
    except (OSError, ValueError, RuntimeError) as exc:
        log(f"cannot open {args.db}: {type(exc).__name__}: {exc}")
        return 1
    log(f"opened {args.db} plugin={args.plugin} table={fixtures.P.TABLE} version={writer.table.version} "
        f"rows={index} dims={writer.dims} rate={args.rate}/s seed={args.seed}")
    if args.ready_fd is not None:
        os.write(args.ready_fd, b"ready\n")
        os.close(args.ready_fd)

    def on_commit(rows, version):
        for row in rows:
            log(f"wrote id={row['id']} index={index} category={row['category']} version={version}")

    interval = 1.0 / args.rate if args.rate > 0 else 0.0
    written = failures = 0
    next_at = time.monotonic()
    while not stop.is_set() and (args.limit is None or written < args.limit):
        try:
            writer.add(index, 1, 1, on_commit)
            index += 1
            written += 1
        except Exception as exc:  # noqa: BLE001 - a live gateway logs and carries on
            failures += 1
            log(f"write failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        next_at += interval
        stop.wait(max(0.0, next_at - time.monotonic()))
    log(f"stopped after {written} writes ({failures} failed)")
    if args.pidfile:
        _remove_pidfile(args.pidfile, os.getpid())
    return 0


# --------------------------------------------------------------------------- CLI


def _parser():
    ap = argparse.ArgumentParser(prog="python -m ocmlab.gateway_sim", description=__doc__.split("\n", maxsplit=1)[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("start", "run"):
        p = sub.add_parser(name, help="start in the background" if name == "start" else "run in the foreground")
        p.add_argument("--db", required=True, help="database dir (holds memories.lance)")
        p.add_argument("--plugin", default="memory-lancedb", choices=("memory-lancedb", "memory-lancedb-pro"))
        p.add_argument("--rate", type=float, default=2.0, help="memories per second (default 2.0; 0 = flat out)")
        p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"id/text/vector seed (default {DEFAULT_SEED})")
        p.add_argument("--agent-id", default="main", help="agentId / agent scope of new memories")
        p.add_argument("--dims", type=int, default=1536, help="vector dims if the table must be created")
        p.add_argument("--no-agent-id-column", action="store_true", help="create the table without agentId")
        p.add_argument("--limit", type=int, default=None, help="stop by itself after N memories")
        p.add_argument("--user", default=None, help="run as this user (needs root; privileges are dropped after "
                       "the imports, before the database is opened)")
        p.add_argument("--pidfile", default=None if name == "run" else "/run/ocmlab-gateway-sim.pid")
        if name == "start":
            p.add_argument("--log", default=None, help="append the simulator's log here")
            p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the DB to be open")
        else:
            p.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)
    p = sub.add_parser("stop", help="SIGTERM and wait until the process is gone")
    p.add_argument("--pidfile", default="/run/ocmlab-gateway-sim.pid")
    p.add_argument("--timeout", type=float, default=10.0)
    p = sub.add_parser("status", help="exit 0 when running, 3 when stopped")
    p.add_argument("--pidfile", default="/run/ocmlab-gateway-sim.pid")
    return ap


def main(argv=None):
    args = _parser().parse_args(argv)
    return {"start": cmd_start, "stop": cmd_stop, "status": cmd_status, "run": cmd_run}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
