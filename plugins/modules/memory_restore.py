# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: memory_restore
short_description: Put a snapshot in place of an OpenClaw memory database, verified, with a way back
version_added: 0.1.0
description:
  - Restores a snapshot made by M(openclaw.memory.lance_snapshot) (and moved by the C(openclaw.memory.transfer)
    role) at the memory plugin's C(dbPath), and the snapshot's workspace Markdown (C(MEMORY.md), C(memory/)) into
    the agent workspace when it holds some.
  - Each part is first copied into a staging path beside its target on the same filesystem
    (C(<parent>/.<name>.restore-staging-<timestamp>)), owned by O(owner)/O(group) with O(dir_mode)/O(mode).
  - The staged copy is verified before anything live is touched, every file against the snapshot's
    C(SHA256SUMS) and then the checks of M(openclaw.memory.lance_verify) against the snapshot's
    C(SNAPSHOT.json) (O(verify_checks)). A failure removes the staged copy and fails; the live database
    was never touched. Files are hashed as they are copied in, so the V(checksums) check reads none of them a
    second time.
  - Then each existing target is renamed to C(<target>.pre-restore-<timestamp>) (this module never deletes
    it) and the staged copy is renamed into its place. A journal C(<db_path>.restore-journal.json) records
    the moves; a failure during the renames puts every original back, and a later run that finds the
    journal of a crashed restore puts the originals back first.
  - O(state=rolled_back) undoes the last restore from the journal, for a failure found after the restore
    (the gateway does not start, a later verification fails). The restored copy is kept as
    C(<target>.failed-restore-<timestamp>) and the original goes back.
  - O(state=prestaged) does the staging and the verification ahead of time, with the gateway still running;
    the database part of O(snapshot) is copied and verified beside O(db_path) as
    C(<parent>/.<name>.restore-prestaged) (with a C(.json) marker naming the snapshot and its checksums), and
    O(db_path) is not touched. A later O(state=restored) of a newer snapshot of the same database starts from
    that copy; files the newer snapshot lists with the same checksum stay, only its other files are copied,
    files it no longer lists are removed, and then the whole staged copy is verified again with
    O(verify_checks). A migration's cutover so copies only what changed while the old gateway was stopped.
    A prestaged copy that is damaged or stale is caught by that verification (the restore then fails and
    O(db_path) stays as it was). The marker records each verified file's identity (device, inode, size,
    mtime), and the V(checksums) check reads a kept file again only when it is no longer that very file.
  - The V(readwrite) check's scratch copy hard-links the staged files beside them (Lance writes every file
    once under a new name) and proves afterwards that no linked file changed, so it copies nothing.
  - The gateway must be stopped around this module (not for O(state=prestaged)); the
    C(openclaw.memory.restore) role does that.
extends_documentation_fragment:
  - openclaw.memory.attributes
  - openclaw.memory.options.restore
  - openclaw.memory.options.start_gateway
  - openclaw.memory.lance
attributes:
  check_mode:
    support: full
    details: Compares the snapshot with what is in place (checksums) and reports whether it would restore
      or roll back; copies, verifies and renames nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: When the database (and each workspace entry) already holds exactly the snapshot's files,
      nothing is done and C(changed=false). When the database holds the snapshot's files plus newer ones
      (the gateway wrote since), it is left alone with a warning and C(changed=false), unless O(force=true).
      A second O(state=rolled_back) finds the journal already rolled back and reports C(changed=false).
      O(state=prestaged) with the snapshot already prestaged (same checksums, same or fewer checks) reports
      C(changed=false).
options:
  state:
    description: V(restored) puts O(snapshot) in place; V(rolled_back) undoes the last restore of O(db_path);
      V(prestaged) stages and verifies O(snapshot)'s database beside O(db_path) for a later restore, without
      touching O(db_path) (the gateway may keep running).
    type: str
    choices: [restored, rolled_back, prestaged]
    default: restored
  snapshot:
    description:
      - Snapshot directory on this host (it holds C(SNAPSHOT.json) and C(SHA256SUMS)). Required with
        O(state=restored).
      - With O(state=rolled_back), optional. When given, the last restore is undone only if it restored this
        snapshot (else C(changed=false), RV(state=other_restore)), so undoing a failed attempt never undoes
        an earlier, good restore.
    type: path
author:
  - openclaw.memory developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Restore the received snapshot at the plugin's dbPath (gateway stopped)
  openclaw.memory.memory_restore:
    snapshot: /var/lib/openclaw-memory/incoming/20260901T030000Z
    db_path: "{{ openclaw_memory.db_path }}"
    workspace: "{{ openclaw_memory.workspace.path }}"
    owner: node
  register: restored

- name: Before the cutover, with the gateway still serving, stage and verify the pre-sync snapshot
  openclaw.memory.memory_restore:
    state: prestaged
    snapshot: /var/lib/openclaw-memory/incoming/20260901T030000Z-presync
    db_path: "{{ openclaw_memory.db_path }}"
    owner: node

- name: The gateway did not come up on the restored database; put the original back
  openclaw.memory.memory_restore:
    state: rolled_back
    db_path: "{{ openclaw_memory.db_path }}"
"""

RETURN = r"""
state:
  description: What happened. V(restored), V(same) (already in place), V(moved_on) (in place and written to since;
    left alone), V(would_restore) (check mode), V(rolled_back), V(would_roll_back), V(nothing_to_undo),
    V(prestaged), V(already_prestaged), V(would_prestage).
  returned: always
  type: str
db_path:
  description: The database directory.
  returned: always
  type: str
snapshot:
  description: The snapshot restored.
  returned: state=restored
  type: str
snapshot_name:
  description: Name of the snapshot (from its C(SNAPSHOT.json); for a rollback, of the restore undone).
  returned: always
  type: str
tables:
  description: Each table of the snapshot with its version and rows.
  returned: state=restored
  type: dict
  sample: {"memories": {"version": 52, "rows": 50}}
total:
  description: Memories in the snapshot.
  returned: state=restored
  type: int
parts:
  description: Each part (the database, each workspace entry) with its target, what was found there
    (V(same), V(moved_on), V(differs)) and whether it was restored.
  returned: state=restored
  type: list
  elements: dict
aside:
  description: Where the database that was in place went (C(<db_path>.pre-restore-<timestamp>)); null when
    there was none or nothing was restored.
  returned: state=restored
  type: str
workspace_aside:
  description: Where the workspace entries that were in place went.
  returned: when something was restored
  type: list
  elements: str
moves:
  description: Each rename done (kind, target, aside).
  returned: when something was restored
  type: list
  elements: dict
verify:
  description: Verification of the staged copy; C(ok), C(checks) (name to C(ok), C(msg) and details; workspace
    entries as C(workspace/<entry>:checksums)), C(mismatches), C(stats) (counts of the staged database).
  returned: when something was restored, or verification failed
  type: dict
bytes_copied:
  description: Bytes copied from the snapshot into the staging copies (with a prestaged copy, only the files it
    lacked).
  returned: state=restored or state=prestaged
  type: int
prestaged:
  description: With O(state=prestaged), the path of the verified copy. With O(state=restored), the name of the
    prestaged snapshot the staging started from, or null when it copied everything.
  returned: state=restored or state=prestaged
  type: str
undone:
  description: For a rollback, each part put back (target, original_back, failed_copy).
  returned: state=rolled_back
  type: list
  elements: dict
journal:
  description: Path of the restore journal.
  returned: with O(state=restored) or O(state=rolled_back)
  type: str
duration_s:
  description: Wall time in seconds.
  returned: state=restored
  type: float
gateway:
  description: With O(start_gateway), the start's result as M(openclaw.memory.openclaw_gateway) returns it
    (C(was_running), C(running), C(changed), C(start_s), C(status), ...).
  returned: when start_gateway is set and the gateway came up
  type: dict
rolled_back:
  description: On failure with O(start_gateway) only - whether the switch was undone because the gateway did not
    come up (RV(undone) then lists what was put back).
  returned: failure
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openclaw.memory.plugins.module_utils import restore as R
from ansible_collections.openclaw.memory.plugins.module_utils._module import finish, require_lib
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError
from ansible_collections.openclaw.memory.plugins.module_utils.lance import LANCE_IMPORT_ERROR


def main():
    module = AnsibleModule(
        argument_spec=dict(
            {"state": {"type": "str", "choices": ["restored", "rolled_back", "prestaged"], "default": "restored"}},
            **R.ARGUMENT_SPEC),
        required_if=[("state", "restored", ("snapshot",)), ("state", "prestaged", ("snapshot",))],
        supports_check_mode=True,
    )
    p = module.params
    if p["state"] != "rolled_back" and set(p["verify_checks"]) - {"checksums"}:
        require_lib(module, "pylance", LANCE_IMPORT_ERROR)
    args = R.restore_args(p)
    try:
        if p["state"] == "rolled_back":
            result = R.rollback_restore(p["db_path"], snapshot=p["snapshot"], check_mode=module.check_mode)
        elif p["state"] == "prestaged":
            result = R.prestage_snapshot(
                p["snapshot"], p["db_path"], owner=args["owner"], group=args["group"], dir_mode=args["dir_mode"],
                file_mode=args["file_mode"], checks=args["checks"], expect=args["expect"], check_mode=module.check_mode,
            )
        else:
            result = R.restore_snapshot(p["snapshot"], check_mode=module.check_mode, **args)
    except MemoryToolError as e:
        module.fail_json(msg=e.msg, **R.failure_details(e))
    finish(module, result)


if __name__ == "__main__":
    main()
