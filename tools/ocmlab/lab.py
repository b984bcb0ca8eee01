#!/usr/bin/env python3
"""ocmlab: a multi-host SSH lab on one machine, built from network namespaces.

Every host is a network namespace with its own sshd, its own process table,
hostname and its own view of the directories a backup/migrate/restore touches
(/root, /home, /opt, /var/lib, ...), bind-mounted from per-host directories
under the lab root. A control namespace ``ocm-ctl`` holds the bridge; the
control node reaches the hosts with ``ProxyCommand='ip netns exec ocm-ctl nc
%h %p'``. See ``lab.sh help`` and /work/shared/docs/test-lab-facts.md.

Standard library only: it runs with the system /usr/bin/python3 before any
venv exists.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

LAB_ROOT = Path(os.environ.get("OCMLAB_ROOT", "/var/tmp/ocmlab"))
CTL_NS = "ocm-ctl"
NS_PREFIX = "ocm-"
LINK_PREFIX = "ocm"
BRIDGE = "ocmbr0"
SUBNET = "10.77.0"
CTL_ADDR = f"{SUBNET}.1"
FIRST_HOST_OCTET = 11
DEFAULT_HOSTS = ("old", "new")
NODE_UID = 1000
# Marker in the environment of each lab sshd: how assert-clean finds leftovers.
MARKER = "OCMLAB_SSHD"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
HOST_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")

# Directories each host has for itself: mount point -> source below <host>/fs.
HOST_DIRS = (
    "/etc/ssh",
    "/root",
    "/home",
    "/opt",
    "/var/backups",
    "/var/lib",
    "/var/log",
    "/var/spool/cron",
    "/etc/cron.d",
    "/usr/local/sbin",
    "/etc/openclaw-memory",
)
HOST_FILES = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/hosts", "/etc/hostname")
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

SSH_COMMON_ARGS = (
    f"-o ProxyCommand='ip netns exec {CTL_NS} nc %h %p' -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
)


class LabError(Exception):
    """A failure with a message meant for the operator."""


# ---------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(f"ocmlab: {msg}", file=sys.stderr, flush=True)


def run(argv: list[str], *, check: bool = True, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        argv,
        input=input_text,
        stdin=None if input_text is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and proc.returncode != 0:
        raise LabError(f"command failed ({proc.returncode}): {shlex.join(argv)}\n{proc.stderr.strip()}")
    return proc


def keygen(path: Path, comment: str) -> None:
    """A new passphrase-less ed25519 key pair at `path` (and `path`.pub)."""
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def paths() -> dict[str, Path]:
    return {
        "root": LAB_ROOT,
        "key": LAB_ROOT / "id_ed25519",
        "state": LAB_ROOT / "state.json",
        "inventory": LAB_ROOT / "inventory.yml",
        "ssh_config": LAB_ROOT / "ssh_config",
        "known_hosts": LAB_ROOT / "known_hosts",
        "hosts": LAB_ROOT / "hosts",
        "lock": LAB_ROOT / ".lock",
    }


def host_dir(name: str) -> Path:
    return paths()["hosts"] / name


def host_fs(name: str) -> Path:
    return host_dir(name) / "fs"


def ns_of(name: str) -> str:
    return NS_PREFIX + name


def load_state() -> dict:
    try:
        return json.loads(paths()["state"].read_text())
    except FileNotFoundError:
        return {"hosts": []}
    except ValueError as exc:
        raise LabError(f"{paths()['state']} is not valid JSON ({exc}); run 'lab.sh down'") from exc


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def proc_environ(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def is_lab_process(pid: int) -> bool:
    """The unshare parent of a lab host carries MARKER; sshd (its child, the
    host's PID 1) overwrites its own environ with its process title."""
    tag = f"{MARKER}={LAB_ROOT}:"
    if tag in proc_environ(pid):
        return True
    ppid = _ppid(pid)
    return bool(ppid and ppid > 1 and tag in proc_environ(ppid))


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def lab_processes() -> list[int]:
    me = os.getpid()
    return [p for p in all_pids() if p != me and is_lab_process(p)]


def net_ns_inode(pid: int | str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def kill_and_wait(pids: list[int], timeout: float = 3.0) -> None:
    """SIGTERM, wait, then SIGKILL whatever is left."""
    pids = [p for p in set(pids) if p > 1 and p != os.getpid()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = [p for p in pids if _alive(p)]
            if not pids:
                return
            time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it happens to be our child
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def netns_list() -> list[str]:
    out = run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def lab_netns() -> list[str]:
    # ocm-prereq-<pid> is tools/prereqs.sh's short-lived probe, not the lab's.
    return [n for n in netns_list() if n.startswith(NS_PREFIX) and not n.startswith("ocm-prereq-")]


def root_links() -> list[str]:
    out = run(["ip", "-o", "link", "show"], check=False).stdout
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@", 1)[0])
    return [n for n in names if n.startswith(LINK_PREFIX)]


def lab_mounts() -> list[str]:
    """Mount points in this (root) mount namespace that belong to the lab."""
    found = []
    root = str(LAB_ROOT.resolve()) if LAB_ROOT.exists() else str(LAB_ROOT)
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            mnt = line.split()[4].replace("\\040", " ")
            if mnt == root or mnt.startswith((root + "/", f"/run/netns/{NS_PREFIX}")):
                found.append(mnt)
    return found


def write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def lock() -> object:
    LAB_ROOT.mkdir(parents=True, exist_ok=True)
    fh = open(paths()["lock"], "w")  # noqa: SIM115 - held for the process lifetime
    deadline = time.monotonic() + 120
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise LabError(f"another lab.sh holds {paths()['lock']} for more than 120 s") from None
            time.sleep(0.1)


# ---------------------------------------------------------------- ownership
# One lab per machine, shared by whoever runs molecule or the lab tests. The
# run that brought it up owns it until 'down': a second 'up' waits for it
# instead of tearing it down under a running scenario, and a 'down' from
# another run (molecule's initial destroy) leaves it alone. The owner is the
# nearest molecule/pytest process above lab.sh, else OCMLAB_OWNER_PID, else
# lab.sh's parent. An owner that has exited no longer holds the lab.
OWNER_PROGRAMS = ("molecule", "pytest", "py.test")


def _stat_fields(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _starttime(pid: int) -> str | None:
    f = _stat_fields(pid)
    return f[19] if len(f) > 19 else None


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def _ancestors(pid: int) -> list[int]:
    out = []
    while pid > 1 and len(out) < 64:
        out.append(pid)
        f = _stat_fields(pid)
        pid = int(f[1]) if len(f) > 1 else 0
    return out


def current_owner() -> dict:
    pid = os.getppid()
    if os.environ.get("OCMLAB_OWNER_PID", "").isdigit():
        pid = int(os.environ["OCMLAB_OWNER_PID"])
    else:
        for anc in _ancestors(os.getppid()):
            if any(Path(a).name in OWNER_PROGRAMS for a in _cmdline(anc)[:3]):
                pid = anc
                break
    return {"pid": pid, "start": _starttime(pid), "cmd": " ".join(_cmdline(pid))[:160], "since": time.time()}


def held_by_other(state: dict) -> dict | None:
    """The live owner of the lab, unless that is this process or one of its ancestors."""
    owner = state.get("owner")
    if not owner or _starttime(owner["pid"]) != owner.get("start"):
        return None
    if owner["pid"] in _ancestors(os.getpid()) or owner["pid"] == current_owner()["pid"]:
        return None
    return owner


def describe_owner(owner: dict) -> str:
    since = time.strftime("%H:%M:%S", time.localtime(owner.get("since", 0)))
    return f"pid {owner['pid']} ({owner.get('cmd') or '?'}) since {since}"


# ---------------------------------------------------------------- preflight


def preflight() -> None:
    if os.geteuid() != 0:
        raise LabError("must run as root: the lab creates network namespaces, veths and bind mounts (re-run with sudo)")
    missing = [c for c in ("ip", "unshare", "nsenter", "mount", "ssh", "ssh-keygen", "nc") if not shutil.which(c)]
    if not os.access(SSHD, os.X_OK):
        missing.append("sshd")
    if missing:
        raise LabError(
            f"missing commands: {', '.join(missing)}; run tools/prereqs.sh "
            "(apt-get install -y iproute2 util-linux openssh-server openssh-client netcat-openbsd)"
        )
    if not Path("/proc/self/ns/net").exists():
        raise LabError("this kernel has no network namespace support (/proc/self/ns/net is missing)")
    if str(LAB_ROOT.resolve()).startswith("/tmp/") or str(LAB_ROOT) == "/tmp":
        raise LabError(f"OCMLAB_ROOT={LAB_ROOT} is under /tmp, which every lab host covers with its own tmpfs")


def validate_hosts(names: list[str]) -> list[str]:
    if not names:
        names = list(DEFAULT_HOSTS)
    if len(set(names)) != len(names):
        raise LabError(f"host names must be unique, got: {' '.join(names)}")
    if len(names) > 200:
        raise LabError("at most 200 hosts")
    for n in names:
        if not HOST_NAME_RE.match(n) or n == "ctl":
            raise LabError(f"bad host name {n!r}: use 1-20 chars of a-z, 0-9, '-', starting with a letter (not 'ctl')")
    return names


# ---------------------------------------------------------------- down


def down(quiet: bool = False) -> None:
    state = load_state()
    names = {h["name"] for h in state.get("hosts", [])}
    if paths()["hosts"].is_dir():
        names.update(p.name for p in paths()["hosts"].iterdir() if p.is_dir())
    victims: list[int] = []
    # 1. Each host's sshd (the init of its PID namespace) and its unshare parent.
    for name in sorted(names):
        for pidfile in ("init.pid", "unshare.pid"):
            pid = read_pid(host_dir(name) / pidfile)
            if pid and is_lab_process(pid):
                victims.append(pid)
    kill_and_wait(victims)
    # 2. Everything still inside a lab namespace: the ProxyCommand `nc` of ssh
    #    ControlPersist masters (ending it ends the master, which removes its
    #    socket; a master still its parent is stopped first), stray sessions.
    namespaces = lab_netns()
    for ns in namespaces:
        pids = [int(p) for p in run(["ip", "netns", "pids", ns], check=False).stdout.split()]
        masters = [pp for pp in (_ppid(p) for p in pids) if pp and _is_ssh_master(pp)]
        kill_and_wait(masters, timeout=1.0)
        pids = [int(p) for p in run(["ip", "netns", "pids", ns], check=False).stdout.split()]
        kill_and_wait(pids)
    kill_and_wait(lab_processes())
    # 3. Namespaces, links, mounts.
    for ns in namespaces:
        run(["ip", "netns", "del", ns], check=False)
    for link in root_links():
        run(["ip", "link", "del", link], check=False)
    for mnt in sorted(lab_mounts(), key=len, reverse=True):
        run(["umount", "-l", mnt], check=False)
    _drop_run_netns()
    if paths()["state"].exists():
        paths()["state"].unlink()
    for name in names:
        for pidfile in ("init.pid", "unshare.pid"):
            (host_dir(name) / pidfile).unlink(missing_ok=True)
    if not quiet:
        log("down: lab stopped")


def _ppid(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _is_ssh_master(pid: int) -> bool:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return comm == "ssh" and "[mux]" in cmdline


def _drop_run_netns() -> None:
    """Remove /run/netns once no namespace at all is left in it (as `ip` made it)."""
    run_netns = Path("/run/netns")
    if run_netns.is_dir() and not any(run_netns.iterdir()):
        run(["umount", str(run_netns)], check=False)
        try:
            run_netns.rmdir()
        except OSError:
            pass


def assert_clean(quiet: bool = False) -> int:
    problems = []
    ns = lab_netns()
    if ns:
        problems.append(f"network namespaces: {' '.join(ns)}")
    links = root_links()
    if links:
        problems.append(f"links in the root namespace: {' '.join(links)}")
    mounts = lab_mounts()
    if mounts:
        problems.append(f"mounts: {' '.join(mounts)}")
    procs = lab_processes()
    inodes = set(load_state().get("netns_inodes", []))
    if inodes:
        procs += [p for p in all_pids() if net_ns_inode(p) in inodes]
    if procs:
        desc = []
        for p in sorted(set(procs)):
            try:
                cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue
            desc.append(f"{p} ({cmd.splitlines()[0][:100] if cmd else '?'})")
        if desc:
            problems.append(f"processes: {'; '.join(desc)}")
    other = held_by_other(load_state())
    if problems and other:
        problems.append(f"(the lab is in use by {describe_owner(other)})")
    if problems:
        for p in problems:
            print(f"ocmlab: not clean: {p}", file=sys.stderr)
        print("ocmlab: run 'tools/ocmlab/lab.sh down'", file=sys.stderr)
        return 1
    if not quiet:
        print("ocmlab: clean (no lab namespace, link, mount or sshd left)")
    return 0


# ---------------------------------------------------------------- up


def up(names: list[str]) -> None:
    t0 = time.monotonic()
    names = validate_hosts(names)
    down(quiet=True)
    p = paths()
    p["root"].mkdir(parents=True, exist_ok=True)
    p["root"].chmod(0o755)
    if not p["key"].exists():
        keygen(p["key"], "ocmlab-control")
    hosts = [
        {
            "name": n,
            "ns": ns_of(n),
            "addr": f"{SUBNET}.{FIRST_HOST_OCTET + i}",
            "link": f"{LINK_PREFIX}v{i}",
        }
        for i, n in enumerate(names)
    ]
    for mnt in HOST_DIRS:  # mount points must exist on the machine itself
        Path(mnt).mkdir(parents=True, exist_ok=True)
    _fresh_hosts_dir()
    for h in hosts:
        _make_host_tree(h)
    _write_shared_host_files(hosts)
    _build_network(hosts)
    state = {
        "owner": current_owner(),
        "hosts": hosts,
        "netns_inodes": [os.stat(f"/run/netns/{ns}").st_ino for ns in [CTL_NS] + [h["ns"] for h in hosts]],
    }
    write(p["state"], json.dumps(state, indent=2) + "\n")
    procs = {h["name"]: _start_sshd(h) for h in hosts}
    for h in hosts:
        _wait_ready(h, procs[h["name"]])
    write(p["ssh_config"], _ssh_config(hosts))
    write(p["inventory"], inventory_yaml(hosts))
    _smoke(hosts)
    log(f"up: {' '.join(names)} in {time.monotonic() - t0:.2f} s; inventory {p['inventory']}")


def _fresh_hosts_dir() -> None:
    """An empty <lab root>/hosts. By default a tmpfs: a venv per host is tens of
    thousands of files, which take half a minute to delete from disk but nothing
    to drop with a tmpfs (and installs into it are faster). OCMLAB_TMPFS=0 keeps
    the hosts' files on disk, where they outlive 'down' until the next 'up'."""
    hosts = paths()["hosts"]
    hosts.mkdir(parents=True, exist_ok=True)
    for stale in hosts.iterdir():
        shutil.rmtree(stale)
    if os.environ.get("OCMLAB_TMPFS", "1") != "0":
        size = os.environ.get("OCMLAB_TMPFS_SIZE", "50%")
        run(["mount", "-t", "tmpfs", "-o", f"mode=0755,size={size}", "ocmlab-hosts", str(hosts)])


def _make_host_tree(h: dict) -> None:
    name = h["name"]
    fs = host_fs(name)
    for d in HOST_DIRS:
        (fs / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
    (fs / "root").chmod(0o700)
    ssh_dir = fs / "root/.ssh"
    ssh_dir.mkdir(mode=0o700)
    home = fs / "home/node"
    home.mkdir()
    os.chown(home, NODE_UID, NODE_UID)
    home.chmod(0o750)
    crontabs = fs / "var/spool/cron/crontabs"
    crontabs.mkdir()
    try:
        import grp

        os.chown(crontabs, 0, grp.getgrnam("crontab").gr_gid)
    except KeyError:
        pass
    crontabs.chmod(0o1730)
    etc_ssh = fs / "etc/ssh"
    keygen(ssh_dir / "id_ed25519", f"root@{name}")
    keygen(etc_ssh / "ssh_host_ed25519_key", f"host {name}")
    write(etc_ssh / "sshd_config", SSHD_CONFIG)
    write(etc_ssh / "ssh_config", SSH_CLIENT_CONFIG)
    _write_accounts(fs / "etc")
    write(fs / "etc/hostname", name + "\n")


SSHD_CONFIG = """\
# ocmlab host sshd (inside the host's own namespaces)
Port 22
ListenAddress 0.0.0.0
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
AcceptEnv LANG LC_*
MaxStartups 200:30:400
MaxSessions 100
Subsystem sftp internal-sftp
"""

SSH_CLIENT_CONFIG = """\
# ocmlab host ssh client: every lab host's key is in /etc/ssh/ssh_known_hosts
Host *
    GlobalKnownHostsFile /etc/ssh/ssh_known_hosts
    HashKnownHosts no
    BatchMode yes
    SendEnv LANG LC_*
"""


def _write_accounts(etc: Path) -> None:
    """passwd/group/shadow of the machine, with `node` as uid/gid 1000."""

    def keep(lines: list[str], uid_field: int | None) -> list[str]:
        out = []
        for line in lines:
            f = line.split(":")
            if not line.strip() or f[0] == "node":
                continue
            if uid_field is not None and len(f) > uid_field and f[uid_field] == str(NODE_UID):
                continue
            out.append(line)
        return out

    passwd = Path("/etc/passwd").read_text().splitlines()
    taken = {line.split(":")[0] for line in passwd if line.split(":")[2:3] == [str(NODE_UID)]}
    passwd = keep(passwd, 2) + [f"node:x:{NODE_UID}:{NODE_UID}:OpenClaw:/home/node:/bin/bash"]
    group = keep(Path("/etc/group").read_text().splitlines(), 2) + [f"node:x:{NODE_UID}:"]
    shadow = []
    for line in Path("/etc/shadow").read_text().splitlines():
        f = line.split(":")
        if not line.strip() or f[0] in taken or f[0] == "node":
            continue
        if f[0] == "root" and len(f) > 1:
            f[1] = "*"  # key-only login; '!' would lock the account for sshd
            line = ":".join(f)
        shadow.append(line)
    shadow.append("node:*:19000:0:99999:7:::")
    write(etc / "passwd", "\n".join(passwd) + "\n")
    write(etc / "group", "\n".join(group) + "\n")
    write(etc / "shadow", "\n".join(shadow) + "\n", 0o640)
    try:
        import grp

        os.chown(etc / "shadow", 0, grp.getgrnam("shadow").gr_gid)
    except KeyError:
        pass


def _write_shared_host_files(hosts: list[dict]) -> None:
    p = paths()
    control_pub = Path(str(p["key"]) + ".pub").read_text()
    root_pubs = "".join((host_fs(h["name"]) / "root/.ssh/id_ed25519.pub").read_text() for h in hosts)
    known = ""
    for h in hosts:
        key = (host_fs(h["name"]) / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[:2]
        known += f"{h['name']},{h['addr']} {' '.join(key)}\n"
    etc_hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    etc_hosts += f"{CTL_ADDR}\tocm-ctl\n"
    etc_hosts += "".join(f"{h['addr']}\t{h['name']}\n" for h in hosts)
    for h in hosts:
        fs = host_fs(h["name"])
        write(fs / "root/.ssh/authorized_keys", control_pub + root_pubs, 0o600)
        write(fs / "etc/ssh/ssh_known_hosts", known)
        write(fs / "etc/hosts", etc_hosts)
    write(p["known_hosts"], known)


def _build_network(hosts: list[dict]) -> None:
    try:
        run(["ip", "netns", "add", CTL_NS])
    except LabError as exc:
        raise LabError(f"cannot create network namespace {CTL_NS} (needs root and netns support): {exc}") from exc
    run(
        ["ip", "-n", CTL_NS, "-batch", "-"],
        input_text=(
            f"link set lo up\nlink add {BRIDGE} type bridge\n"
            f"addr add {CTL_ADDR}/24 dev {BRIDGE}\nlink set {BRIDGE} up\n"
        ),
    )
    for h in hosts:
        run(["ip", "netns", "add", h["ns"]])
        run(
            [
                "ip",
                "link",
                "add",
                h["link"],
                "netns",
                CTL_NS,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                h["ns"],
            ]
        )
        run(["ip", "-n", CTL_NS, "link", "set", h["link"], "master", BRIDGE, "up"])
        run(
            ["ip", "-n", h["ns"], "-batch", "-"],
            input_text=(f"link set lo up\naddr add {h['addr']}/24 dev eth0\nlink set eth0 up\n"),
        )


def _host_script(h: dict) -> str:
    fs = host_fs(h["name"])
    lines = [
        "set -e",
        "mount -t tmpfs -o mode=0755 ocmlab-run /run",
        "mkdir -p /run/sshd",
    ]
    for d in HOST_DIRS + HOST_FILES:
        lines.append(f"mount --bind {shlex.quote(str(fs) + d)} {shlex.quote(d)}")
    # Hide the lab's own files (control key, other hosts' trees) from the host.
    lines.append(f"mount -t tmpfs -o mode=0755,size=1m ocmlab-hide {shlex.quote(str(LAB_ROOT))}")
    lines.append("mount -t tmpfs -o mode=1777 ocmlab-tmp /tmp")  # last: would hide bind sources
    lines.append(f"hostname {shlex.quote(h['name'])}")
    lines.append("cd /")
    lines.append(f"exec {SSHD} -D -f /etc/ssh/sshd_config -E /var/log/sshd.log")
    return "\n".join(lines)


def _start_sshd(h: dict) -> subprocess.Popen:
    hd = host_dir(h["name"])
    logf = open(hd / "lab.log", "w")  # noqa: SIM115 - handed to the child
    env = {
        "PATH": SAFE_PATH,
        "LANG": "C.UTF-8",
        "HOME": "/root",
        MARKER: f"{LAB_ROOT}:{h['name']}",
    }
    argv = [
        "ip",
        "netns",
        "exec",
        h["ns"],
        "unshare",
        "--uts",
        "--ipc",
        "--mount",
        "--propagation",
        "private",
        "--pid",
        "--fork",
        "--mount-proc",
        "--kill-child",
        "/bin/sh",
        "-c",
        _host_script(h),
    ]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=logf,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    logf.close()
    write(hd / "unshare.pid", f"{proc.pid}\n")
    return proc


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return [p for p in all_pids() if _ppid(p) == pid]


def _listening_on_22(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/net/tcp").read_text()
    except OSError:
        return False
    return any(
        f[1].endswith(":0016") and f[3] == "0A" for f in (line.split() for line in text.splitlines()[1:]) if len(f) > 3
    )


def _wait_ready(h: dict, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    hd = host_dir(h["name"])
    deadline = time.monotonic() + timeout
    init = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(
                f"host {h['name']}: sshd setup exited with {proc.returncode}; "
                f"log: {(hd / 'lab.log').read_text().strip()} {_sshd_log(h)}"
            )
        if init is None:
            kids = _children(proc.pid)
            if kids:
                init = kids[0]
                write(hd / "init.pid", f"{init}\n")
        if init and _listening_on_22(init):
            return
        time.sleep(0.01)
    raise LabError(f"host {h['name']}: sshd not listening after {timeout:.0f} s; {_sshd_log(h)}")


def _sshd_log(h: dict) -> str:
    f = host_fs(h["name"]) / "var/log/sshd.log"
    return f"sshd log: {f.read_text().strip()}" if f.exists() else ""


def _ssh_config(hosts: list[dict]) -> str:
    p = paths()
    out = "# ocmlab: ssh -F this-file <host>\n"
    for h in hosts:
        out += (
            f"Host {h['name']}\n"
            f"    HostName {h['addr']}\n"
            "    User root\n"
            f"    IdentityFile {p['key']}\n"
            "    IdentitiesOnly yes\n"
            f"    ProxyCommand ip netns exec {CTL_NS} nc %h %p\n"
            f"    UserKnownHostsFile {p['known_hosts']}\n"
            "    StrictHostKeyChecking yes\n"
            "    BatchMode yes\n"
            "    LogLevel ERROR\n"
        )
    return out


def _smoke(hosts: list[dict]) -> None:
    """One real ssh login per host, in parallel: the lab is usable when this passes."""
    procs = {
        h["name"]: subprocess.Popen(
            ["ssh", "-F", str(paths()["ssh_config"]), h["name"], "hostname"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for h in hosts
    }
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=30)
        if proc.returncode != 0 or out.strip() != name:
            raise LabError(
                f"host {name}: ssh smoke test failed (rc {proc.returncode}, hostname {out.strip()!r}): {err.strip()}"
            )


# ---------------------------------------------------------------- inventory


def _q(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


def inventory_yaml(hosts: list[dict]) -> str:
    p = paths()
    by_name = {h["name"]: h for h in hosts}
    groups: dict[str, list[dict]] = {"openclaw_old": [], "openclaw_new": []}
    other = []
    for h in hosts:
        if h["name"].startswith("old"):
            groups["openclaw_old"].append(h)
        elif h["name"].startswith("new"):
            groups["openclaw_new"].append(h)
        else:
            other.append(h)

    def host_block(h: dict, indent: str) -> str:
        out = f"{indent}{h['name']}:\n{indent}  ansible_host: {_q(h['addr'])}\n"
        out += f"{indent}  ocmlab_fs: {_q(str(host_fs(h['name'])))}\n"
        for a, b in (("old", "new"), ("new", "old")):
            if h["name"].startswith(a) and b + h["name"][len(a) :] in by_name:
                out += f"{indent}  ocmlab_peer: {_q(b + h['name'][len(a) :])}\n"
        return out

    out = (
        "# Written by tools/ocmlab/lab.sh up; hosts are network namespaces with their own sshd.\n"
        "all:\n"
        "  vars:\n"
        "    ansible_user: root\n"
        f"    ansible_ssh_private_key_file: {_q(str(p['key']))}\n"
        f"    ansible_ssh_common_args: {_q(SSH_COMMON_ARGS)}\n"
        "    ansible_python_interpreter: /usr/bin/python3\n"
    )
    if other:
        out += "  hosts:\n" + "".join(host_block(h, "    ") for h in other)
    out += "  children:\n"
    for g, members in groups.items():
        out += f"    {g}:\n"
        if members:
            out += "      hosts:\n" + "".join(host_block(h, "        ") for h in members)
    return out


def inventory() -> None:
    state = load_state()
    if not state.get("hosts"):
        raise LabError("the lab is not up; run 'tools/ocmlab/lab.sh up [hosts...]' first")
    text = inventory_yaml(state["hosts"])
    write(paths()["inventory"], text)
    sys.stdout.write(text)


# ---------------------------------------------------------------- exec / ssh


def _running_host(name: str) -> dict:
    state = load_state()
    for h in state.get("hosts", []):
        if h["name"] == name:
            pid = read_pid(host_dir(name) / "init.pid")
            if pid and is_lab_process(pid):
                return {**h, "init": pid}
            break
    known = " ".join(h["name"] for h in state.get("hosts", [])) or "none"
    raise LabError(f"host {name!r} is not running (lab hosts: {known}); run 'tools/ocmlab/lab.sh up'")


def exec_in(name: str, cmd: list[str]) -> None:
    h = _running_host(name)
    if not cmd:
        cmd = ["/bin/bash", "-l"]
    env = [
        "env",
        "-i",
        f"PATH={SAFE_PATH}",
        "HOME=/root",
        "USER=root",
        "LOGNAME=root",
        "LANG=C.UTF-8",
    ]
    if os.environ.get("TERM"):
        env.append(f"TERM={os.environ['TERM']}")
    argv = [
        "nsenter",
        "-t",
        str(h["init"]),
        "-m",
        "-u",
        "-i",
        "-n",
        "-p",
        "--wd=/root",
        "--",
        *env,
        *cmd,
    ]
    os.execvp("nsenter", argv)


def ssh_to(name: str, cmd: list[str]) -> None:
    _running_host(name)
    os.execvp("ssh", ["ssh", "-F", str(paths()["ssh_config"]), name, *cmd])


# ---------------------------------------------------------------- main

USAGE = f"""\
usage: lab.sh <command> [args]

  up [HOST...]        (re)build the lab; default hosts: {" ".join(DEFAULT_HOSTS)}
  down [--force]      stop every lab sshd, delete namespaces, links, mounts
                      (a lab another live run brought up is left alone without --force)
  assert-clean        exit 1 naming any lab namespace/link/mount/process left
  inventory           print the Ansible inventory (also written to {LAB_ROOT}/inventory.yml)
  exec HOST [CMD...]  run CMD inside HOST's namespaces (default: a shell)
  ssh HOST [CMD...]   ssh to HOST as root with the lab key
  status              list hosts, addresses and whether their sshd runs

Lab root: $OCMLAB_ROOT (default /var/tmp/ocmlab). Host HOST's private dirs
are under <lab root>/hosts/HOST/fs (e.g. .../fs/home/node is its /home/node),
on a tmpfs that 'down' drops (OCMLAB_TMPFS=0: on disk; OCMLAB_TMPFS_SIZE=50%).
Each host has its own /etc/ssh /root /home /opt /var/backups /var/lib /var/log
/var/spool/cron /etc/cron.d /usr/local/sbin /etc/openclaw-memory /tmp /run,
passwd/group/shadow (user node, uid 1000), hosts and hostname.

One lab per machine. The run that brought it up (nearest molecule/pytest
process, else $OCMLAB_OWNER_PID, else the caller) owns it until 'down': 'up'
from another run waits for it (up to $OCMLAB_WAIT s, default 1800).
"""


def up_when_free(names: list[str]) -> int:
    """'up', after waiting (OCMLAB_WAIT seconds, default 1800) while another live run owns the lab."""
    wait = float(os.environ.get("OCMLAB_WAIT", "1800"))
    deadline = time.monotonic() + wait
    announced = False
    while True:
        with lock():
            other = held_by_other(load_state())
            if not other:
                try:
                    up(names)
                except BaseException:
                    log("up failed; tearing the partial lab down")
                    down(quiet=True)
                    raise
                return 0
        if time.monotonic() > deadline:
            raise LabError(
                f"the lab is in use by {describe_owner(other)}; gave up after {wait:.0f} s (OCMLAB_WAIT). "
                "If that run is gone for good: tools/ocmlab/lab.sh down --force"
            )
        if not announced:
            log(f"up: waiting for the lab, in use by {describe_owner(other)}")
            announced = True
        time.sleep(1)


def status() -> None:
    for h in load_state().get("hosts", []):
        pid = read_pid(host_dir(h["name"]) / "init.pid")
        alive = bool(pid and is_lab_process(pid))
        print(f"{h['name']:<12} {h['addr']:<14} {h['ns']:<16} {'running' if alive else 'STOPPED'}")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if argv else 2
    cmd, args = argv[0], argv[1:]
    try:
        if cmd == "inventory" and not args:
            inventory()
            return 0
        if cmd == "status":
            status()
            return 0
        if cmd in ("exec", "ssh"):
            if not args:
                raise LabError(f"usage: lab.sh {cmd} HOST [CMD...]")
            preflight()
            (exec_in if cmd == "exec" else ssh_to)(args[0], args[1:])
            return 0  # not reached
        preflight()
        if cmd == "up":
            return up_when_free(validate_hosts(args))
        if cmd == "down" and args in ([], ["--force"]):
            with lock():
                other = held_by_other(load_state())
                if other and not args:
                    log(f"down: the lab is in use by {describe_owner(other)}; leaving it up (down --force stops it)")
                    return 0
                down()
                # Checked under the lock: another run's 'up' may follow at once.
                return assert_clean(quiet=True)
        if cmd == "assert-clean" and not args:
            return assert_clean()
    except LabError as exc:
        print(f"ocmlab: error: {exc}", file=sys.stderr)
        return 1
    print(USAGE, end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
