# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lance_import
short_description: Rebuild a LanceDB memory table from a portable export, at a chosen Lance data storage version
version_added: 0.1.0
description:
  - The second half of M(openclaw.memory.lance_export) - rebuilds the table, ids and vectors included, in a new
    table written by this host's pylance, in the Lance C(data_storage_version) that the reader on the target
    needs (an older plugin client cannot read a newer format).
  - Imports V(parquet) and V(arrow) exports. A V(jsonl) export has no vectors, so it cannot rebuild a table the
    plugin could search; it is checked line by line (a malformed line is reported with its number) and then
    refused with a message that says to export with C(format=parquet).
  - Checks first - the file's size and sha256 against its manifest, the columns C(id), C(text) and C(vector)
    (missing ones are named), and the vectors' dimensions against O(vector_dim).
  - Writes into a hidden staging directory beside the target (C(<path>/.<table>.lance.importing-<UTC time>)) in
    bounded batches, then verifies the staged table - row count equals the manifest's, the set of ids equals the
    file's and the manifest's (an order-independent hash, streamed), schema, vector dimensions and storage version -
    and opens it with lancedb, counts it and reads a row back with its vector. Only then is it renamed to
    C(<path>/<table>.lance). A failure or a crash leaves nothing that looks like a complete table; the next run
    removes the staging leftovers. A failed run also removes the directories it created for O(path).
  - An existing table is refused unless O(replace=true); then it is moved aside to
    C(<path>/<table>.lance.pre-import-<UTC time>), never deleted. A table this module imported from the same
    export and that has not changed since is left as it is (C(changed=false)); the record of what was imported is
    C(<path>/.<table>.lance.import.json) (export sha256, rows, ids hash, table version, Lance manifest sha256,
    storage version), which LanceDB ignores.
  - The imported table keeps the source's Lance manifest naming (V1 or V2 file names), files are 0600 and
    directories 0700, owned by O(owner)/O(group).
extends_documentation_fragment:
  - openclaw.memory.attributes
  - openclaw.memory.lance
attributes:
  check_mode:
    support: full
    details: Checks the file against its manifest, the columns and the dimensions, and reports whether the table
      would be imported or replaced (RV(state)) and the staging leftovers the run would remove (RV(cleaned); then
      C(changed=true) as in the real run); writes and removes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: When the target table was imported from this same export (same sha256) and is still at the version the
      import made, in the requested storage version, nothing is written and C(changed=false), with or without
      O(replace). The import records that in C(<path>/.<table>.lance.import.json). Removing an interrupted run's
      staging leftovers reports C(changed=true).
options:
  src:
    description: The export file written by M(openclaw.memory.lance_export) with C(format=parquet) or C(format=arrow).
    type: path
    required: true
  manifest:
    description: Its manifest. Default C(<src>.manifest.json).
    type: path
  path:
    description:
      - The database directory to import into; created (0700) when missing, and removed again when the import
        fails. Use a new or staging directory;
        importing into the live C(dbPath) needs the gateway stopped.
    type: path
    required: true
  table:
    description: Name of the table to create. Default the exported table's name from the manifest (C(memories)).
    type: str
  data_storage_version:
    description:
      - Lance data storage version to write - V(2.0), V(2.1), V(2.2), V(legacy) (0.1) or V(stable) (pylance's
        current default). pylance 0.16 reads only 2.0; 0.38 reads 2.0 and 2.1; 9.x and later read all.
      - Default the source table's version recorded in the manifest (C(source.data_storage_version)); a value
        there that is none of the above fails naming the manifest - set this option then.
    type: str
  vector_dim:
    description:
      - The embedding dimensions the target's memory plugin is configured for
        (C(plugins.entries.<plugin>.config.embedding.dimensions), or the model's built-in size). Vectors of
        another size are refused, naming both numbers. Unset, the vectors are taken as they are.
    type: int
    aliases: [expect_dim]
  replace:
    description:
      - Replace an existing table of that name that differs from the export. It is moved aside to
        C(<table>.lance.pre-import-<UTC time>) in O(path), never deleted.
    type: bool
    default: false
  owner:
    description: Owner of the imported table's files and of O(path) when created (name or uid). Default the owner of
      O(path) or of its nearest existing parent.
    type: str
  group:
    description: Group of those files. Default the owner's primary group, else the group of O(path) or its parent.
    type: str
notes:
  - Needs the Python library lancedb on the managed host (the deps role installs it), to open the imported table
    the way the plugin does.
  - Indexes are not rebuilt (the memory plugins search without one); the task warns when the source had any.
seealso:
  - module: openclaw.memory.lance_export
  - module: openclaw.memory.lance_verify
  - module: openclaw.memory.memory_restore
author:
  - openclaw.memory developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Rebuild the memories for an older plugin client that reads Lance format 2.0 only
  openclaw.memory.lance_import:
    src: /tmp/openclaw-memory-export/memories.parquet
    path: /home/node/.openclaw/memory/lancedb.import
    data_storage_version: "2.0"
    vector_dim: "{{ openclaw_memory.embedding.dimensions }}"
    owner: node

- name: Compare the rebuilt table with the snapshot it was exported from
  openclaw.memory.lance_verify:
    path: /home/node/.openclaw/memory/lancedb.import
    compare_to: /tmp/openclaw-memory-restore
    checks: [structure, content, search]

- name: Rebuild over an existing table (the old one is kept as memories.lance.pre-import-<time>)
  openclaw.memory.lance_import:
    src: /tmp/openclaw-memory-export/memories.arrows
    path: /srv/staging/lancedb
    replace: true
"""

RETURN = r"""
changed:
  description: Whether a table was imported (or staging leftovers removed).
  returned: always
  type: bool
state:
  description: V(imported), V(same) (the table already held the export), V(would_import) or V(would_replace) (check
    mode).
  returned: always
  type: str
table:
  description: Name of the table.
  returned: always
  type: str
  sample: memories
db_path:
  description: The database directory imported into.
  returned: always
  type: str
table_path:
  description: The table's directory.
  returned: always
  type: str
  sample: /home/node/.openclaw/memory/lancedb.import/memories.lance
rows:
  description: Rows of the export (and of the imported table).
  returned: always
  type: int
vector_dim:
  description: Dimensions of the vectors.
  returned: always
  type: int
data_storage_version:
  description: Lance data storage version of the imported table (the requested one in check mode).
  returned: always
  type: str
  sample: "2.0"
version:
  description: Table version of the imported table (null in check mode).
  returned: always
  type: int
format:
  description: Format of the export file.
  returned: always
  type: str
src:
  description: The export file.
  returned: always
  type: str
manifest:
  description: Its manifest.
  returned: always
  type: str
aside:
  description: Where the replaced table was moved, or null.
  returned: always
  type: str
  sample: /srv/staging/lancedb/memories.lance.pre-import-20260901T030000Z
cleaned:
  description: Staging directories of an interrupted earlier import that were removed (in check mode, that would
    be removed).
  returned: always
  type: list
  elements: str
verify:
  description: What the staged table was checked for before it was put in place (null when nothing was imported) -
    C(rows), C(ids_hash), C(vector_dim), C(data_storage_version), C(version), C(schema), C(lancedb_read).
  returned: always
  type: dict
source:
  description: The source table as the manifest records it (path, version, rows, data_storage_version,
    manifest_naming, columns, indices).
  returned: always
  type: dict
duration_s:
  description: Wall time of the task in seconds.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openclaw.memory.plugins.module_utils._module import require_lib, run_module
from ansible_collections.openclaw.memory.plugins.module_utils.lance import LANCE_IMPORT_ERROR
from ansible_collections.openclaw.memory.plugins.module_utils.portable import import_table
from ansible_collections.openclaw.memory.plugins.module_utils.verify import lancedb_import_error


def main():
    module = AnsibleModule(
        argument_spec={
            "src": {"type": "path", "required": True},
            "manifest": {"type": "path"},
            "path": {"type": "path", "required": True},
            "table": {"type": "str"},
            "data_storage_version": {"type": "str"},
            "vector_dim": {"type": "int", "aliases": ["expect_dim"]},
            "replace": {"type": "bool", "default": False},
            "owner": {"type": "str"},
            "group": {"type": "str"},
        },
        supports_check_mode=True,
    )
    require_lib(module, "pylance", LANCE_IMPORT_ERROR)
    if not module.check_mode:
        require_lib(module, "lancedb", lancedb_import_error())
    p = module.params
    run_module(
        module, import_table,
        p["src"], p["path"], manifest=p["manifest"], table=p["table"],
        data_storage_version=p["data_storage_version"], vector_dim=p["vector_dim"], replace=p["replace"],
        owner=p["owner"], group=p["group"], check_mode=module.check_mode,
    )


if __name__ == "__main__":
    main()
