# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A migration's cutover in one call per host: the old host stops its gateway, takes the final snapshot and
pushes it; the new host, in the same Ansible task, waits for it and restores it and starts its gateway.

Inside the downtime window every Ansible task costs a round trip and every module its own Python start-up; the
snapshot's imports (pylance, pyarrow: ~0.4 s) alone were a tenth of the window. `cutover()` is called with all of
that done: the gateway is stopped only once the code that follows is loaded and its inputs are checked. If the
snapshot or the push fails after the stop, the gateway is started again (when it ran) before the error is raised:
the old host is left as it was, its database never written to.

The push is transfer.push(): the transfer role's direct method (rsync over ssh, files the receiving side's
link-dest snapshot holds hard-linked there), run from here. With `notify` the old host then leaves its word
beside what it pushed (transfer.notify(): `<dest>.pushed`, ok or the reason it gave up), and `receive()` on the
new host, started by the same task at the same time with its imports done and its inputs checked, restores the
snapshot the moment the word is there: no task, module start-up or import between the push and the restore.

Plain Python (no Ansible): the openclaw_cutover module is a thin shell around `cutover()`.
"""

from __future__ import annotations

import json
import os
import time

from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError
from ansible_collections.openclaw.memory.plugins.module_utils.gateway import Gateway
from ansible_collections.openclaw.memory.plugins.module_utils.restore import failure_details, restore_snapshot
from ansible_collections.openclaw.memory.plugins.module_utils.snapshot import take_snapshot
from ansible_collections.openclaw.memory.plugins.module_utils.transfer import notify, push, pushed_marker

RECEIVE_TIMEOUT = 900.0
POLL_S = 0.02


def process_age():
    """Seconds since this process started (Linux: /proc/self/stat against CLOCK_BOOTTIME), or None elsewhere."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime, in clock ticks since boot
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def cutover(gateway, snapshot, push_to=None, check_mode=False):
    """Stop the gateway, take the final snapshot, push it; the gateway runs again if any of it fails.

    gateway   options of gateway.Gateway (manager, user, commands, timeout, ...);
    snapshot  keyword arguments of snapshot.take_snapshot (src, dest, name, link_dest, workspace, embedding, ...);
    push_to   None (the caller moves the snapshot itself) or keyword arguments of push() without `src`, plus
              `notify` (bool): leave the word for receive() on the receiving host, ok or the reason of a failure.

    Returns dict(changed, gateway (the stop's result), snapshot (take_snapshot's result), push (push()'s result or
    None), stop_offset_s, window_s, duration_s). stop_offset_s: seconds from this process's start to the status
    probe just before the stop (a lower bound of how long after the caller's "before" the stop came: add it to a
    time taken before the task to get a stop time that is never late); window_s: seconds from that probe to the
    return. In check mode nothing is stopped, written or sent.
    """
    t_called = time.monotonic()
    age = process_age()
    push_to = dict(push_to) if push_to else None
    tell = bool(push_to and push_to.pop("notify", False)) and not check_mode
    try:
        if push_to is not None and not push_to.get("dest"):
            raise MemoryToolError("push: dest is required (the receiving directory on the new host)")
        gw = Gateway(**gateway)  # checks the gateway's options before anything is stopped
        t_stop = time.monotonic()
        stop = gw.apply("stop", check_mode=check_mode)
        snap, pushed = _after_stop(gw, stop, snapshot, push_to, tell, check_mode)
    except MemoryToolError as e:
        if tell and push_to.get("dest"):  # the receiving host stops waiting; its database was never touched
            try:
                notify(push_to["dest"], {"ok": False, "msg": e.msg}, **_ssh(push_to))
            except MemoryToolError as again:
                e.msg += "; %s (it waits until its timeout)" % again.msg
        raise
    done = time.monotonic()
    before = (age if age is not None else 0.0) + (t_stop - t_called)
    return {"changed": bool(stop["changed"] or snap["changed"] or pushed), "gateway": stop, "snapshot": snap,
            "push": pushed, "stop_offset_s": round(before, 3), "window_s": round(done - t_stop, 3),
            "duration_s": round(done - t_called, 3), "warnings": snap.pop("warnings", [])}


def _ssh(push_to):
    return {k: push_to.get(k) for k in ("host", "user", "port", "private_key", "ssh_persist")}


def _after_stop(gw, stop, snapshot, push_to, tell, check_mode):
    """Snapshot and push (and the word) with the gateway stopped; start it again if any of it fails."""
    try:
        snap = take_snapshot(check_mode=check_mode, **snapshot)
        pushed = None
        if push_to is not None and not check_mode:
            pushed = push(snap["snapshot"], **push_to)
            if tell:
                notify(push_to["dest"], {"ok": True, "push": pushed, "name": snap["name"]}, **_ssh(push_to))
        return snap, pushed
    except Exception as e:  # every failure after the stop: the gateway first, then the reason
        msg = e.msg if isinstance(e, MemoryToolError) else "%s: %s" % (type(e).__name__, e)
        details = dict(e.details) if isinstance(e, MemoryToolError) else {}
        details.update(gateway=stop, restarted=False)
        if stop["changed"] and not check_mode:
            try:
                details["restarted"] = gw.apply("start")["running"] is True
            except MemoryToolError as again:
                raise MemoryToolError("%s; starting the gateway again failed too: %s (start it by hand)"
                                      % (msg, again.msg), **details) from None
            msg += "; the gateway was started again and the database was never written to"
        raise MemoryToolError(msg, **details) from None


def receive(path, restore, timeout=RECEIVE_TIMEOUT, check_mode=False, poll=POLL_S):
    """The new host's side: wait for the old host's word that its push into `path` ended, then restore it.

    restore  keyword arguments of restore.restore_snapshot() but the snapshot (restore.restore_args()); with
             `start_gateway` the gateway is started on it, and the switch undone if it does not come up.

    Everything that can be checked is checked before the wait (the gateway's options, `path`'s directory), and
    the restore's code is loaded: once the word is there, the restore starts within `poll` seconds. The word
    is consumed. A word of failure, or none within `timeout` seconds, fails with nothing touched.

    Returns dict(changed, restore (restore_snapshot()'s result), push (the old host's push as it reported it),
    waited_s, window_s (word to return), duration_s). In check mode nothing is waited for or changed.
    """
    t_called = time.monotonic()
    restore = dict(restore)
    if restore.get("start_gateway") is not None:
        Gateway(**restore["start_gateway"])  # its options checked before the wait
    path = str(path).rstrip("/")
    if not path.startswith("/") or not os.path.isdir(os.path.dirname(path)):
        raise MemoryToolError("receive: path %r must be an absolute path in an existing directory of this host "
                              "(where the old host pushes the snapshot: the transfer's receiving directory)" % path)
    if check_mode:
        return {"changed": True, "restore": None, "push": None, "waited_s": 0.0, "window_s": 0.0, "duration_s": 0.0}
    marker = pushed_marker(path)
    deadline = t_called + float(timeout)
    while not os.path.exists(marker):
        if time.monotonic() > deadline:
            raise MemoryToolError(
                "no word from the old host within %g s that its push into %s ended (%s never appeared); nothing "
                "was restored here. Look at the old host's cutover task; if its snapshot and push need longer, "
                "raise receive.timeout" % (timeout, path, marker))
        time.sleep(poll)
    t_word = time.monotonic()
    try:
        with open(marker, encoding="utf-8") as f:
            word = json.load(f)
        os.unlink(marker)
    except (OSError, ValueError) as e:
        raise MemoryToolError("receive: cannot read the old host's word %s (%s); nothing was restored here"
                              % (marker, e)) from None
    if not word.get("ok"):
        raise MemoryToolError("the old host's cutover failed, so nothing was restored here: %s"
                              % word.get("msg", "no reason given"))
    try:
        result = restore_snapshot(path, **restore)
    except MemoryToolError as e:
        raise MemoryToolError(e.msg, push=word.get("push"), **failure_details(e)) from None
    done = time.monotonic()
    return {"changed": result["changed"], "restore": result, "push": word.get("push"),
            "waited_s": round(t_word - t_called, 3), "window_s": round(done - t_word, 3),
            "duration_s": round(done - t_called, 3), "warnings": result.pop("warnings", [])}
