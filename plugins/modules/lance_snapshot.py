# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lance_snapshot
short_description: Consistent, incremental, checksummed snapshots of a LanceDB memory database
version_added: 0.1.0
description:
  - Copies exactly the files that the latest version of each table in O(src) references (manifest,
    data files, blob sidecars, deletion files, index files), pinned at that version, so the snapshot
    is consistent while the gateway keeps writing. No need to stop it.
  - Files that the previous snapshot already holds are hard-linked instead of copied; only new fragments and
    manifests are written. A table file counts as held when the link-dest snapshot has the same relative path
    with the same size and modification time (nanoseconds) and the same owner and mode; it is then not read
    (see O(verify_links)). Lance writes every file once under a new name and never changes it, and a snapshot
    copy keeps the source's modification time, so this is exact for Lance tables. Workspace files are always
    compared by sha256.
  - Copies run in a small pool of threads (at most 4 at once).
  - The snapshot is built in a hidden staging directory C(<dest>/.<name>.partial-<pid>) and renamed
    to C(<dest>/<name>) only when complete, so an interrupted run never leaves a directory that looks
    complete; leftovers of an interrupted run are removed by the next run (RV(cleaned)).
  - Every option is checked before anything is created in O(dest). A run that fails leaves nothing behind,
    neither a partial snapshot nor the O(dest) directory when the run created it.
  - A table whose latest version needs a file that is missing (not removed by a cleanup, which always keeps
    the latest version's files) is damaged; the run fails at once naming the missing files, see
    M(openclaw.memory.lance_verify). A file that vanishes because a cleanup ran after a newer commit makes the
    table be pinned again (RV(repins)), up to 5 times.
  - The snapshot directory itself opens as a LanceDB database (C(<table>.lance/) exactly as in O(src)),
    and holds C(SHA256SUMS) (the format C(sha256sum -c) accepts, relative paths, every file) and
    C(SNAPSHOT.json) (host, src, per-table version/rows/vector_dim/columns, counts by category/agent/scope,
    spot-check probes, library versions, created, files, bytes), the baseline that
    M(openclaw.memory.lance_verify) checks against.
  - After writing, the snapshot is opened at the pinned versions and its rows and schema are compared
    with the source's pinned versions.
  - The counts in C(SNAPSHOT.json) are read from the snapshot's copy. Per-fragment counts are kept beside
    each snapshot in C(<dest>/.<name>.fragments.json) (0600, not part of the snapshot, removed with it);
    the next snapshot that hard-links from it reads only the fragments it did not link (new fragments,
    fragments with a new deletion file, everything after a compaction) and takes the others' counts from
    there, so its time grows with the new memories rather than with the table. When that file is missing or
    belongs to another snapshot, every row is counted.
  - O(src) is only read, never written.
extends_documentation_fragment:
  - openclaw.memory.attributes
  - openclaw.memory.options.snapshot
  - openclaw.memory.lance
attributes:
  check_mode:
    support: full
    details: Pins the versions, decides what would be copied and what linked, and returns that plan
      (RV(plan)), the byte counts, what retention would remove and the leftovers of an interrupted run that
      would be cleaned (RV(cleaned)), with C(changed) as the real run would report it; writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: When the newest snapshot of O(src) in O(dest) already holds the same table versions (same
      manifest checksums), the same O(history) and the same workspace checksums, no snapshot is made and
      C(changed=false), unless O(force=true). Retention or the cleanup of an interrupted run's leftovers
      still report C(changed=true) when they remove something.
seealso:
  - module: openclaw.memory.lance_verify
  - module: openclaw.memory.openclaw_memory_facts
author:
  - openclaw.memory developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Snapshot the memory database while the gateway runs, keeping a week of snapshots
  openclaw.memory.lance_snapshot:
    src: /home/node/.openclaw/memory/lancedb
    dest: /var/backups/openclaw-memory
    workspace: /home/node/.openclaw/workspace
    retain_days: 7
  register: snap

- name: Time-travel snapshot with every version, under a fixed name
  openclaw.memory.lance_snapshot:
    src: /home/node/.openclaw/memory/lancedb-pro
    dest: /srv/backups/memory
    name: before-migration
    history: all
    link_dest: none
    owner: node

- name: Show what a snapshot would copy and link
  openclaw.memory.lance_snapshot:
    src: /home/node/.openclaw/memory/lancedb
    dest: /var/backups/openclaw-memory
  check_mode: true
"""

RETURN = r"""
snapshot:
  description: Path of the snapshot directory (the existing one when reused; the one that would be made in check mode).
  returned: always
  type: str
  sample: /var/backups/openclaw-memory/20260901T030000Z
name:
  description: Name of that snapshot.
  returned: always
  type: str
  sample: 20260901T030000Z
changed:
  description: Whether a snapshot was made, or retention or leftover cleanup removed something.
  returned: always
  type: bool
reused:
  description: True when the newest snapshot (or the one named O(name)) already held the same content.
  returned: always
  type: bool
tables:
  description: Per table, the pinned version, its row count, and the files and bytes it takes in the snapshot.
  returned: always
  type: dict
  sample: {"memories": {"version": 5003, "rows": 5000, "files": 5004, "bytes": 41943040}}
files:
  description: Number of files listed in C(SHA256SUMS) (tables and workspace).
  returned: always
  type: int
bytes_total:
  description: Bytes of those files.
  returned: always
  type: int
bytes_copied:
  description: Bytes copied (written) by this run.
  returned: always
  type: int
bytes_linked:
  description: Bytes hard-linked from the link-dest snapshot (not written again).
  returned: always
  type: int
files_copied:
  description: Files copied by this run.
  returned: always
  type: int
files_linked:
  description: Files hard-linked from the link-dest snapshot.
  returned: always
  type: int
link_dest:
  description: The snapshot hard links were made from, or null.
  returned: always
  type: str
duration_s:
  description: Wall time of the task in seconds.
  returned: always
  type: float
removed:
  description: Names of the snapshots retention removed (would remove, in check mode), oldest first.
  returned: always
  type: list
  elements: str
cleaned:
  description:
    - Leftovers of an interrupted earlier run that were removed (would be, in check mode) - hidden staging or
      half-deleted directories (C(.<name>.partial-<pid>), C(.<name>.deleting-<pid>)) and per-fragment counts
      files that are half-written or whose snapshot is gone.
  returned: always
  type: list
  elements: str
repins:
  description: How often a table had to be pinned again because a file vanished while copying (a concurrent cleanup).
  returned: always
  type: int
checksums:
  description: Path of the snapshot's C(SHA256SUMS).
  returned: always
  type: str
metadata:
  description: Path of the snapshot's C(SNAPSHOT.json).
  returned: always
  type: str
fragment_counts:
  description:
    - For the table counted in C(SNAPSHOT.json) (C(memories)), how many fragments it has, how many of their
      counts were taken from the link-dest snapshot's per-fragment counts (C(reused)), and how many were read
      (C(counted)).
  returned: when a snapshot was made (not when reused, not in check mode)
  type: dict
  sample: {"fragments": 5050, "reused": 5000, "counted": 50}
plan:
  description: Check mode only. Relative paths that would be copied and linked (at most 1000 of each).
  returned: check mode, when a snapshot would be made
  type: dict
  sample: {"copy": ["memories.lance/_versions/18446744073709546612.manifest"], "link": [], "truncated": false}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openclaw.memory.plugins.module_utils._module import require_lib, run_module
from ansible_collections.openclaw.memory.plugins.module_utils.lance import LANCE_IMPORT_ERROR
from ansible_collections.openclaw.memory.plugins.module_utils.snapshot import ARGUMENT_SPEC, take_snapshot


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    require_lib(module, "pylance", LANCE_IMPORT_ERROR)
    p = module.params
    run_module(
        module, take_snapshot,
        p["src"], p["dest"], name=p["name"], link_dest=p["link_dest"], history=p["history"],
        workspace=p["workspace"], retain=p["retain"], retain_days=p["retain_days"], force=p["force"],
        owner=p["owner"], group=p["group"], mode=p["mode"], dir_mode=p["dir_mode"], embedding=p["embedding"],
        probes=p["probes"], check_mode=module.check_mode, lock_timeout=p["lock_timeout"],
        verify_links=p["verify_links"],
    )


if __name__ == "__main__":
    main()
