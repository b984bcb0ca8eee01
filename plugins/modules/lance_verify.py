# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lance_verify
short_description: Prove that a memory snapshot or a restored LanceDB database is complete and usable
version_added: 0.1.0
description:
  - Automates the guide's three checks after a backup or restore (the count matches the baseline, a
    spot check returns the exact text and id, read-write works) and catches what its list of failures
    names (a corrupt transfer, a wrong embedding model, a version mismatch).
  - The checks layer what each can catch. C(count_rows) alone proves nothing; only per-file checksums
    catch a flipped byte; reading every fragment catches truncated or missing data and deletion files;
    only queries through each index catch a damaged index.
  - V(checksums) - every file listed in C(SHA256SUMS) matches; files missing and files present but not
    listed are reported. C(SNAPSHOT.json) is not expected in the list. Hashing runs in threads, alongside
    the other checks.
  - V(structure) - each table opens and passes Lance's C(validate) call; its version, row count, columns and
    types and C(vector_dim) match O(expect); the memory table has the columns every memory plugin needs;
    the C(embedding.dimensions) of O(expect) matches the stored vectors (a different embedding model makes vectors
    useless).
  - V(content) - every fragment of every table is read in full (every column). Counts by category, agent
    and scope match O(expect); each probe id exists with exactly the expected text; no id appears twice.
    A fragment that cannot be read is named with its files.
  - V(search) - for O(sample) rows spread over the table, a vector search with the row's own vector returns
    that row first (through the vector index when there is one, else the flat search the plugin does;
    no embedding model needed). Every scalar index answers a query for the sampled rows' values (BTree,
    Bitmap and others with C(=), NGram with C(contains), full-text indexes with a full-text query).
  - V(readwrite) - the guide's check 3, on a scratch copy in the temp dir, never on O(path). The table's
    current version is copied, the memory C(Memory restore verification completed on <date>) is added,
    found by vector search and by id, and deleted; the copy is removed afterwards, also on failure.
  - With O(compare_to), the ids and a hash of each text are compared per table with another database or
    snapshot on the same host.
  - Nothing under O(path) or O(compare_to) is written.
extends_documentation_fragment:
  - openclaw.memory.attributes
  - openclaw.memory.lance
attributes:
  check_mode:
    support: full
    details: The module never changes anything, so it runs the same in check mode. The V(readwrite) check
      writes only to a scratch copy in the temp dir, which it removes.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Always C(changed=false).
options:
  path:
    description:
      - A snapshot directory (made by M(openclaw.memory.lance_snapshot), holding C(SHA256SUMS) and
        C(<table>.lance) dirs) or a LanceDB database directory (the memory plugin's C(dbPath)).
    type: path
    required: true
  checksums:
    description:
      - V(auto) checks C(<path>/SHA256SUMS) when it exists and reports the check as skipped when not (a live
        database has none). A file path checks against that file (paths in it are relative to O(path)).
        V(none) skips the check.
    type: str
    default: auto
  expect:
    description:
      - What the database must hold. Any of C(total), C(by_category), C(by_agent), C(by_scope) (dicts of
        value to count), C(probes) (list of C({id, text}); each id must exist with exactly that text),
        C(tables) (per table name, a dict of C(version), C(rows), C(vector_dim), C(columns)) and C(embedding)
        (C({provider, model, dimensions})). Keys given here override those of O(baseline).
      - C(embedding.dimensions) is checked against the stored vectors; C(provider) and C(model) against the
        embedding a snapshot's C(SNAPSHOT.json) recorded (a live database does not record its model).
    type: dict
  baseline:
    description:
      - Path of a C(SNAPSHOT.json) on the managed host, read as O(expect) (its C(total), C(by_category),
        C(by_agent), C(by_scope), C(probes), C(tables) and C(embedding)).
    type: path
  checks:
    description: Which checks to run, always in the order listed in the choices.
    type: list
    elements: str
    choices: [checksums, structure, content, search, readwrite]
    default: [checksums, structure, content, search]
  compare_to:
    description: Another database or snapshot directory on the same host to compare ids and texts with.
    type: path
  linked_from:
    description:
      - A snapshot on the same host, verified before, that O(path) hard-links files from (as
        C(rsync --link-dest) and M(openclaw.memory.lance_snapshot) make them). The V(checksums) check does not
        read a file again when it is the very same file there (same device, inode, size and mtime) and both
        C(SHA256SUMS) list the same sha256 for it; every other file is hashed. A migration's final snapshot
        then costs only its new files.
      - Trusting it assumes nobody rewrote a file of that snapshot in place and reset its mtime since it was
        verified. Leave it unset to hash every file.
      - Must be another snapshot than O(path) (also through a symlink); O(path) itself is refused, as its files
        would vouch for themselves.
    type: path
    version_added: 0.1.0
  fail_on_mismatch:
    description:
      - Fail the task when any check fails; the message lists every mismatch. With V(false) the task
        succeeds and RV(ok) says whether everything matched.
    type: bool
    default: true
  sample:
    description: Rows sampled for the V(search) check; V(0) skips it.
    type: int
    default: 5
notes:
  - The V(readwrite) check needs the Python library C(lancedb) (the others only pylance); the scratch copy
    needs free space in the temp dir for the files of the memory table's current version.
seealso:
  - module: openclaw.memory.lance_snapshot
  - module: openclaw.memory.openclaw_memory_facts
author:
  - openclaw.memory developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Verify a snapshot against the counts and probes it recorded
  openclaw.memory.lance_verify:
    path: /var/backups/openclaw-memory/20260901T030000Z
    baseline: /var/backups/openclaw-memory/20260901T030000Z/SNAPSHOT.json

- name: Verify the restored database on the new host, read-write included, before retiring the old one
  openclaw.memory.lance_verify:
    path: /home/node/.openclaw/memory/lancedb
    baseline: /tmp/openclaw-memory-restore/SNAPSHOT.json
    checks: [structure, content, search, readwrite]
    expect:
      embedding: "{{ openclaw_memory.embedding }}"
  register: restored

- name: Compare the restored database with the snapshot it came from, without failing the play
  openclaw.memory.lance_verify:
    path: /home/node/.openclaw/memory/lancedb
    compare_to: /tmp/openclaw-memory-restore
    checks: []
    fail_on_mismatch: false
  register: same

- name: Stop here when anything differs
  ansible.builtin.assert:
    that: same.ok
    fail_msg: "Restored memories differ from the snapshot: {{ same.mismatches | join('; ') }}"

- name: Spot-check one memory by id and exact text (the guide's check 2)
  openclaw.memory.lance_verify:
    path: /home/node/.openclaw/memory/lancedb
    checks: [content]
    expect:
      total: 5000
      probes:
        - id: 3f2a91c0-5b7e-4d6a-9c1e-0b8f7d2e4a61
          text: "User's timezone is Europe/Berlin"
"""

RETURN = r"""
ok:
  description: True when every check that ran passed (skipped checks count as passed).
  returned: always
  type: bool
checks:
  description:
    - Per check that ran (V(checksums), V(structure), V(content), V(search), V(readwrite), and V(compare)
      with O(compare_to)), a dict with C(ok), C(msg) (a summary; the first problems when it failed),
      C(duration_s) and details; C(skipped=true) when the check did not apply.
    - C(checksums) - C(file), C(files), C(bytes), C(not_read) (files vouched for by O(linked_from)), and the
      files C(bad), C(missing), C(extra) (at most 100 each).
    - C(structure) - C(tables) {name - C(version), C(rows), C(vector_dim), C(columns), C(fragments),
      C(data_storage_version), C(indices), C(validate), C(ok)}.
    - C(content) - C(tables) {name - C(rows_read), C(fragments), C(duplicate_ids), C(bad_fragments) when
      unreadable, C(ok)}, C(probes_checked).
    - C(search) - C(tables) {name - C(samples), C(indices) [{C(name), C(type), C(field), C(kind), C(metric),
      C(ok)}], C(flat_search) for vector columns without an index, C(ok)}.
    - C(readwrite) - C(table), C(text), C(id), C(scratch) (the removed copy), C(removed), C(rows_before),
      C(rows_after), C(found_by_vector), C(found_by_id), C(deleted).
    - C(compare) - C(other), C(tables) {name - C(rows), C(other_rows), C(only_here), C(only_other),
      C(text_differs) (ids, at most 100 each), C(ok)}.
  returned: always
  type: dict
  sample:
    checksums: {ok: true, msg: "5003 files (41943040 bytes) match /var/backups/m/20260901T030000Z/SHA256SUMS",
                files: 5003, bytes: 41943040, not_read: 0, bad: [], missing: [], extra: [], duration_s: 0.21}
    content: {ok: false, msg: "1 problem(s): total: expected 5000, found 4998", probes_checked: 3,
              duration_s: 0.9}
mismatches:
  description:
    - "Every problem found, as a readable string with the expected and the actual value, for example
      C(total: expected 5000, found 4998), C(probe 3f2a91c0-...: text differs: expected ...) or
      C(checksum: 'memories.lance/data/....lance' differs from SHA256SUMS)."
  returned: always
  type: list
  elements: str
stats:
  description:
    - What the database holds, from the V(content) scan (only C(total) from the manifest when V(content)
      did not run).
  returned: always
  type: dict
  contains:
    total:
      description: Rows of the memory table.
      type: int
    by_category:
      description: Rows per category.
      type: dict
    by_agent:
      description: Rows per C(agentId) (null when the table has no such column).
      type: dict
    by_scope:
      description: Rows per C(scope) (memory-lancedb-pro; null otherwise).
      type: dict
    oldest:
      description: Creation time of the oldest memory (ISO 8601 UTC).
      type: str
    newest:
      description: Creation time of the newest memory (ISO 8601 UTC).
      type: str
    table:
      description: The memory table the counts are for (C(memories), or the one C(SNAPSHOT.json) names).
      type: str
    tables:
      description: Per table C(version), C(rows), C(vector_dim), C(fragments), C(indices) (when V(structure) ran).
      type: dict
    embedding:
      description: The embedding a snapshot's C(SNAPSHOT.json) recorded (null for a live database).
      type: dict
duration_s:
  description: Wall time of the verification in seconds.
  returned: always
  type: float
changed:
  description: Always false.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openclaw.memory.plugins.module_utils._module import call, finish, require_lib
from ansible_collections.openclaw.memory.plugins.module_utils.lance import LANCE_IMPORT_ERROR
from ansible_collections.openclaw.memory.plugins.module_utils.verify import (
    CHECKS,
    DEFAULT_CHECKS,
    failure_message,
    lancedb_import_error,
    verify,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "checksums": {"type": "str", "default": "auto"},
            "expect": {"type": "dict"},
            "baseline": {"type": "path"},
            "checks": {"type": "list", "elements": "str", "choices": list(CHECKS), "default": list(DEFAULT_CHECKS)},
            "compare_to": {"type": "path"},
            "linked_from": {"type": "path"},
            "fail_on_mismatch": {"type": "bool", "default": True},
            "sample": {"type": "int", "default": 5},
        },
        supports_check_mode=True,
    )
    p = module.params
    if set(p["checks"]) - {"checksums"} or p["compare_to"]:
        require_lib(module, "pylance", LANCE_IMPORT_ERROR)
    if "readwrite" in p["checks"]:
        require_lib(module, "lancedb", lancedb_import_error())
    result = call(
        module, verify,
        p["path"], checksums=p["checksums"], expect=p["expect"], baseline=p["baseline"], checks=p["checks"],
        compare_to=p["compare_to"], sample=p["sample"], linked_from=p["linked_from"],
    )
    msg = failure_message(result)
    # A `path` key would make Ansible add the directory's owner/mode/size to the result.
    result.pop("path")
    if p["fail_on_mismatch"] and not result["ok"]:
        module.fail_json(msg=msg, changed=False, **result)
    finish(module, result, changed=False)


if __name__ == "__main__":
    main()
