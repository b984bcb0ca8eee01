# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lance_export
short_description: Export a LanceDB memory table to a portable file (JSONL, Parquet or Arrow) with a manifest
version_added: 0.1.0
description:
  - Writes every row of one table (no row cap, unlike the plugins' own export tools) to one file that any Lance
    version, or no Lance at all, can read. The guide's way across LanceDB versions that cannot read each other's
    files - export on the old host, move the file, M(openclaw.memory.lance_import) on the new host.
  - The table is pinned at its latest version and read in bounded batches (never loaded whole), so the export is
    consistent while the gateway keeps writing and memory use does not grow with the table.
  - V(jsonl) - one JSON object per line with every column except the vectors, under the table's own column names
    and with values as stored. For memory-lancedb - C(id), C(text), C(importance), C(category), C(createdAt) (epoch
    milliseconds, a float) and C(agentId) when the table has it. For memory-lancedb-pro - C(id), C(text),
    C(category), C(scope), C(importance), C(timestamp) (epoch milliseconds) and C(metadata), kept as the JSON
    string it is stored as (not parsed). For people, audits and re-embedding with another model; it cannot
    rebuild a memory table, because the vectors are not in it.
  - V(parquet) - every column, vectors included, with the table's exact Arrow schema; what
    M(openclaw.memory.lance_import) rebuilds a table from. V(arrow) - the same as an Arrow IPC stream.
  - The file is written to a hidden temp file beside O(dest) (mode 0600; its directory is created 0700 when
    missing, and removed again when the export fails) and renamed into place (a killed run's temp file is
    removed by the next run); then
    C(<dest>.manifest.json) (0600) records the format, table, source path,
    version, rows, data_storage_version, manifest naming and indexes, the exported columns and the Arrow schema
    (as text and as base64 IPC), C(vector_dim), the file's C(bytes) and C(sha256), an order-independent hash of
    the ids (C(ids_hash)), C(created), and the pylance/lancedb/pyarrow versions.
  - Nothing is written into O(path); a snapshot directory made by M(openclaw.memory.lance_snapshot) works as
    O(path) too.
extends_documentation_fragment:
  - openclaw.memory.attributes
  - openclaw.memory.lance
attributes:
  check_mode:
    support: full
    details: Pins the table and reports the rows and where the file and manifest would go; writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: When the manifest at C(<dest>.manifest.json) records the same source, table version (and the same
      Lance manifest checksum), format and O(vectors), and the file still matches its recorded sha256,
      nothing is written and C(changed=false). A table that got new memories since is exported again.
options:
  path:
    description: LanceDB database directory (the memory plugin's C(dbPath)) or a snapshot directory.
    type: path
    required: true
  table:
    description:
      - Table to export. Default C(memories) (both memory plugins keep their memories there), else the only
        table of O(path).
    type: str
  dest:
    description:
      - Path of the export file, for example C(/var/backups/openclaw-memory/memories.parquet). Must be outside
        O(path). Its directory is created (0700) when missing; a failed export removes what it created of it.
        The manifest goes next to it as
        C(<dest>.manifest.json).
    type: path
    required: true
  format:
    description:
      - V(jsonl) (no vectors), V(parquet) (all columns, vectors included) or V(arrow) (Arrow IPC stream, all
        columns). M(openclaw.memory.lance_import) needs V(parquet) or V(arrow).
    type: str
    choices: [jsonl, parquet, arrow]
    default: jsonl
  vectors:
    description:
      - Include the vector columns. Default V(true) for V(parquet) and V(arrow), V(false) for V(jsonl);
        V(true) with V(jsonl) is an error. A V(parquet) file without vectors cannot be imported as a memory
        table.
    type: bool
notes:
  - The export file holds every memory in clear text (secrets users told the agent included); it is written 0600.
    Move it like a backup and delete it when done.
  - Indexes are not exported; the manifest lists the source's indexes.
seealso:
  - module: openclaw.memory.lance_import
  - module: openclaw.memory.lance_verify
author:
  - openclaw.memory developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Export the memories with their vectors, to rebuild them on a host with another LanceDB version
  openclaw.memory.lance_export:
    path: /home/node/.openclaw/memory/lancedb
    dest: /var/backups/openclaw-memory/export/memories.parquet
    format: parquet
  register: exported

- name: A human-readable audit copy of every memory (no vectors)
  openclaw.memory.lance_export:
    path: /home/node/.openclaw/memory/lancedb-pro
    dest: /root/memories-audit.jsonl

- name: Export from a snapshot instead of the live database
  openclaw.memory.lance_export:
    path: /var/backups/openclaw-memory/20260901T030000Z
    dest: /var/backups/openclaw-memory/export/memories.arrows
    format: arrow
"""

RETURN = r"""
changed:
  description: Whether the file and manifest were written (false when they already held this table version).
  returned: always
  type: bool
file:
  description: Path of the export file.
  returned: always
  type: str
  sample: /var/backups/openclaw-memory/export/memories.parquet
manifest:
  description: Path of its manifest.
  returned: always
  type: str
  sample: /var/backups/openclaw-memory/export/memories.parquet.manifest.json
format:
  description: The file's format.
  returned: always
  type: str
vectors:
  description: Whether the vector columns are in the file.
  returned: always
  type: bool
table:
  description: The exported table.
  returned: always
  type: str
  sample: memories
version:
  description: The table version that was read (pinned).
  returned: always
  type: int
rows:
  description: Rows in the file (in check mode, rows of the pinned version).
  returned: always
  type: int
  sample: 5000
bytes:
  description: Size of the file (null in check mode when it would be written).
  returned: always
  type: int
sha256:
  description: sha256 of the file, as in the manifest (null in check mode when it would be written).
  returned: always
  type: str
ids_hash:
  description: Sum modulo 2**256 of sha256(id) over every row, hex (order-independent; null without an id column).
  returned: always
  type: str
vector_dim:
  description: Dimensions of the exported vectors (null when O(vectors=false)).
  returned: always
  type: int
data_storage_version:
  description: Lance data storage version of the source table.
  returned: always
  type: str
  sample: "2.2"
columns:
  description: Exported columns, in the table's order.
  returned: always
  type: list
  elements: str
duration_s:
  description: Wall time of the task in seconds.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openclaw.memory.plugins.module_utils._module import require_lib, run_module
from ansible_collections.openclaw.memory.plugins.module_utils.lance import LANCE_IMPORT_ERROR
from ansible_collections.openclaw.memory.plugins.module_utils.portable import FORMATS, export_table


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "table": {"type": "str"},
            "dest": {"type": "path", "required": True},
            "format": {"type": "str", "choices": list(FORMATS), "default": "jsonl"},
            "vectors": {"type": "bool"},
        },
        supports_check_mode=True,
    )
    require_lib(module, "pylance", LANCE_IMPORT_ERROR)
    p = module.params
    run_module(module, export_table, p["path"], p["dest"], table=p["table"], fmt=p["format"], vectors=p["vectors"],
               check_mode=module.check_mode)


if __name__ == "__main__":
    main()
