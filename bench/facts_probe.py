# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One facts measurement in a process of its own, so that its peak RSS is the measurement's own.

Usage: python bench/facts_probe.py gather|stats HOME
  gather: openclaw_memory_facts' whole gather() (config, tables, sizes, counts, probes, workspace)
  stats:  lance.memory_stats() of the memories table only (counts and probes)
Prints one JSON object: seconds, RSS after imports and peak RSS (VmHWM) in bytes, total.
"""

from __future__ import annotations

import json
import os
import sys
import time


def _status(field):
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return None


def main(argv):
    mode, home = argv[1], argv[2]
    t0 = time.perf_counter()
    from ansible_collections.openclaw.memory.plugins.module_utils.facts import gather
    from ansible_collections.openclaw.memory.plugins.module_utils.lance import memory_stats, open_table

    import_s = time.perf_counter() - t0
    rss_import = _status("VmRSS")
    t1 = time.perf_counter()
    if mode == "gather":
        facts = gather(home=home, probes=3)
        total, probes = facts["total"], len(facts["probes"] or [])
    else:
        table = os.path.join(home, ".openclaw", "memory", "lancedb", "memories.lance")
        stats = memory_stats(open_table(table), probes=3)
        total, probes = stats["total"], len(stats["probes"])
    seconds = time.perf_counter() - t1
    print(json.dumps({"mode": mode, "s": seconds, "import_s": import_s, "rss_after_import": rss_import,
                      "peak_rss": _status("VmHWM"), "total": total, "probes": probes}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
