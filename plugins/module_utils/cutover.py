# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The old host's side of a migration's cutover in one call: stop the gateway, final snapshot, push it.

Inside the downtime window every Ansible task costs a round trip and every module its own Python start-up; the
snapshot's imports (pylance, pyarrow: ~0.4 s) alone were a tenth of the window. `cutover()` is called with all of
that done: the gateway is stopped only once the code that follows is loaded and its inputs are checked. If the
snapshot or the push fails after the stop, the gateway is started again (when it ran) before the error is raised:
the old host is left as it was, its database never written to.

The push is transfer.push(): the transfer role's direct method (rsync over ssh, files the receiving side's
link-dest snapshot holds hard-linked there), run from here.

Plain Python (no Ansible): the openclaw_cutover module is a thin shell around `cutover()`.
"""

from __future__ import annotations

import os
import time

from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError
from ansible_collections.openclaw.memory.plugins.module_utils.gateway import Gateway
from ansible_collections.openclaw.memory.plugins.module_utils.snapshot import take_snapshot
from ansible_collections.openclaw.memory.plugins.module_utils.transfer import push


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
    push_to   None (the caller moves the snapshot itself) or keyword arguments of push() without `src`.

    Returns dict(changed, gateway (the stop's result), snapshot (take_snapshot's result), push (push()'s result or
    None), stop_offset_s, window_s, duration_s). stop_offset_s: seconds from this process's start to the status
    probe just before the stop (a lower bound of how long after the caller's "before" the stop came: add it to a
    time taken before the task to get a stop time that is never late); window_s: seconds from that probe to the
    return. In check mode nothing is stopped, written or sent.
    """
    t_called = time.monotonic()
    age = process_age()
    push_to = dict(push_to) if push_to else None
    if push_to is not None and not push_to.get("dest"):
        raise MemoryToolError("push: dest is required (the receiving directory on the new host)")
    gw = Gateway(**gateway)  # checks the gateway's options before anything is stopped
    t_stop = time.monotonic()
    stop = gw.apply("stop", check_mode=check_mode)
    try:
        snap = take_snapshot(check_mode=check_mode, **snapshot)
        pushed = None
        if push_to is not None and not check_mode:
            pushed = push(snap["snapshot"], **push_to)
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
    done = time.monotonic()
    before = (age if age is not None else 0.0) + (t_stop - t_called)
    return {"changed": bool(stop["changed"] or snap["changed"] or pushed), "gateway": stop, "snapshot": snap,
            "push": pushed, "stop_offset_s": round(before, 3), "window_s": round(done - t_stop, 3),
            "duration_s": round(done - t_called, 3), "warnings": snap.pop("warnings", [])}
