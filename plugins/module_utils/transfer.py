# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The transfer role's direct method in Python: rsync over ssh from this host to the receiving one.

`ssh_command()` is the ssh both use (the role through the filter openclaw.memory.transfer_rsh); with `persist` the
connection stays open for the next transfer. `push()` is for a caller already on the sending host (the
openclaw_cutover module). Light on purpose: the filter plugin imports it into every Ansible worker.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time

from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError, one_line
from ansible_collections.openclaw.memory.plugins.module_utils.migrate import rsync_stats

SSH_OPTIONS = ("StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR", "BatchMode=yes")
CONTROL_PATH = "~/.ssh/openclaw-memory-%C"
PUSH_TIMEOUT = 600.0
NOTIFY_TIMEOUT = 30.0
PUSHED_SUFFIX = ".pushed"  # <dest>.pushed: the sender's word that the push into <dest> ended (see notify())
ERR_MAX = 400  # characters of rsync's error output kept in a message


def ssh_command(private_key=None, port=22, persist=0):
    """The ssh command line (a list) that reaches the receiving host without asking anything.

    With `persist` > 0 the first connection stays open that many seconds (ControlMaster) and the next ssh to the
    same host, port and user goes through it: no new handshake for a migration's final transfer.
    """
    argv = ["ssh"]
    if private_key:
        argv += ["-i", str(private_key)]  # ssh expands a leading ~ itself
    argv += ["-o", "Port=%s" % (port or 22)]
    for opt in SSH_OPTIONS:
        argv += ["-o", opt]
    if persist and int(persist) > 0:
        argv += ["-o", "ControlMaster=auto", "-o", "ControlPath=" + CONTROL_PATH,
                 "-o", "ControlPersist=%d" % int(persist)]
    return argv


def rsh(private_key=None, port=22, persist=0):
    """ssh_command() as one string, for rsync's --rsh."""
    return shlex.join(ssh_command(private_key, port, persist))


def push(src, dest, host=None, user=None, port=22, link_dest=None, private_key=None, rsync_path="rsync",
         ssh_persist=0, timeout=PUSH_TIMEOUT):
    """rsync -a `src`/ to `dest`/ on `host` over ssh (on this host when `host` is empty).

    `dest`'s parent must exist on the receiving side (the pre-sync transfer made it, root 0700). Files that
    `link_dest` there holds with the same size and mtime are hard-linked, not sent. Returns dict(dest, target,
    bytes_transferred, files_transferred, bytes_total, duration_s); raises MemoryToolError naming the target,
    rsync's exit code and its last words. `dest` is the directory on the receiving host, `target` rsync's
    [user@]host:dest/ argument.
    """
    t0 = time.monotonic()
    if not os.path.isdir(src):
        raise MemoryToolError("push: '%s' is not a directory on this host; push a snapshot directory" % src)
    if not dest or not str(dest).startswith("/"):
        raise MemoryToolError("push: dest %r must be an absolute path on the receiving host" % (dest,))
    argv = ["rsync", "-a", "--delete", "--numeric-ids", "--stats"]
    if link_dest:
        argv.append("--link-dest=" + str(link_dest))
    if rsync_path and rsync_path != "rsync":
        argv.append("--rsync-path=" + str(rsync_path))
    target = str(dest).rstrip("/") + "/"
    where = "this host"
    if host:
        where = "%s%s" % (user + "@" if user else "", host)
        argv.append("--rsh=" + rsh(private_key, port, ssh_persist))
        target = "%s%s:%s" % (user + "@" if user else "", "[%s]" % host if ":" in host else host, target)
    argv += [str(src).rstrip("/") + "/", target]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise MemoryToolError("push: rsync is not installed on this host; install it (the deps role does)") from None
    except subprocess.TimeoutExpired:
        raise MemoryToolError("push of '%s' to %s:%s did not finish in %g s; check the link between the hosts"
                              % (src, where, dest, timeout)) from None
    if proc.returncode != 0:
        raise MemoryToolError(
            "push of '%s' to %s:%s failed (rsync exit %d: %s); check that this host reaches the receiving host "
            "over ssh with its key and that %s exists there"
            % (src, where, dest, proc.returncode, one_line(proc.stderr or proc.stdout, ERR_MAX, middle=True),
               os.path.dirname(str(dest).rstrip("/"))),
            rc=proc.returncode)
    stats = rsync_stats(proc.stdout)
    return {"dest": str(dest).rstrip("/"), "target": target, "bytes_transferred": stats.get("bytes_transferred", 0),
            "files_transferred": stats.get("files_transferred", 0), "bytes_total": stats.get("bytes_total"),
            "link_dest": link_dest or None, "duration_s": round(time.monotonic() - t0, 3)}


def pushed_marker(dest):
    """The file beside a push's `dest` in which notify() leaves the sender's word."""
    return str(dest).rstrip("/") + PUSHED_SUFFIX


def notify(dest, payload, host=None, user=None, port=22, private_key=None, ssh_persist=0, timeout=NOTIFY_TIMEOUT):
    """Write `payload` (a dict, as JSON) to pushed_marker(`dest`) on `host` (this host when empty), atomically.

    A receiver waiting for the push (cutover.receive()) reads it: {"ok": true, "push": {...}} once every file is
    there, {"ok": false, "msg": ...} when the sender gave up. Goes through the ssh connection the push left open.
    Raises MemoryToolError when the word could not be left.
    """
    marker = pushed_marker(dest)
    data = json.dumps(payload, sort_keys=True)
    tmp = "%s.%d.tmp" % (marker, os.getpid())
    script = "umask 077 && cat > %s && mv -f %s %s" % (shlex.quote(tmp), shlex.quote(tmp), shlex.quote(marker))
    argv = ["sh", "-c", script]
    where = "this host"
    if host:
        where = "%s%s" % (user + "@" if user else "", host)
        argv = ssh_command(private_key, port, ssh_persist) + [where, script]
    try:
        proc = subprocess.run(argv, input=data, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise MemoryToolError("could not tell %s that the push ended: no answer in %g s" % (where, timeout)) from None
    if proc.returncode != 0:
        raise MemoryToolError("could not tell %s that the push ended (writing %s: exit %d: %s)"
                              % (where, marker, proc.returncode, one_line(proc.stderr, ERR_MAX, middle=True)))
    return marker
