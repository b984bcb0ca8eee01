# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: openclaw_memory_facts
short_description: Discover a host's OpenClaw memory setup and take its baseline
version_added: 0.1.0
description:
  - Finds where an OpenClaw install keeps its long-term memory, the way OpenClaw does for the account that runs
    the gateway, and returns it as the fact C(openclaw_memory).
  - "Config side: the state dir (of C(~/.openclaw) and the legacy C(~/.clawdbot), C(~/.moldbot), C(~/.moltbot), the
    first that holds a config, else the first that exists),
    the config (C(openclaw.json) or a legacy name; JSON5 with comments and trailing commas), the plugin that owns
    C(plugins.slots.memory) (C(memory-lancedb), C(memory-lancedb-pro) or C(memory-core)), whether it is enabled,
    its embedding identity (provider, model, dimensions), the pro plugin's scopes, the installed plugin version
    (its C(package.json)) and the C(@lancedb/lancedb) client it bundles, and how the gateway is managed."
  - "Baseline (steps 1 and 2 of the manual procedure): per table version, rows, vector dimension, columns,
    fragments and data storage version; memory counts by category, agent and scope; oldest and newest memory;
    spot-check probes (the same memories on every run) and the memories whose text contains O(probe_query);
    what C(cp -r) would copy and what the latest versions actually reference."
  - The Markdown workspace (C(MEMORY.md) size and sha256, daily notes) is reported for every plugin; for
    C(memory-core) it is the memory.
  - Statistics stream only the columns they need, so a large table is never loaded into memory.
  - Warnings (not failures) say what would break a backup or a migration; see
    RV(ansible_facts.openclaw_memory.warnings).
author:
  - openclaw.memory developers (!UNKNOWN)
extends_documentation_fragment:
  - openclaw.memory.attributes
  - openclaw.memory.lance
options:
  # Path options are type str, not path: Ansible would expand "~" against the account the module runs as,
  # while these resolve "~" against the home of O(user) (the gateway's account).
  user:
    description:
      - The account that runs the OpenClaw gateway. C(~) and every default path resolve against its home.
      - Defaults to the account the module runs as (the C(become_user) when C(become) is used).
    type: str
  home:
    description:
      - Replaces the home directory of O(user), as C(OPENCLAW_HOME) does for OpenClaw.
    type: str
  profile:
    description:
      - A named OpenClaw profile; its state dir is C(~/.openclaw-<profile>), its workspace
        C(<state dir>/workspace-<profile>) and its systemd user unit C(openclaw-gateway-<profile>.service).
      - A name as OpenClaw takes it - letters, digits, C(-) and C(_), at most 64; anything else (a path separator,
        C(..)) fails naming O(profile).
    type: str
  state_dir:
    description:
      - The state dir, when the gateway runs with C(OPENCLAW_STATE_DIR) (its environment is not visible to
        Ansible). Default, as OpenClaw looks for its config - C(~/.openclaw), else the first legacy dir
        (C(~/.clawdbot), C(~/.moldbot), C(~/.moltbot)) that holds a config (memory-lancedb creates
        C(~/.openclaw/memory) even on a legacy install), else the first of them that exists.
    type: str
  config_path:
    description:
      - The config file, when the gateway runs with C(OPENCLAW_CONFIG_PATH). Default C(openclaw.json) (or a legacy
        name) in the state dir. Must exist when given.
    type: str
  db_path:
    description:
      - The LanceDB database directory. Default C(dbPath) from the memory plugin's config, else the plugin's
        default (C(~/.openclaw/memory/lancedb), C(~/.openclaw/memory/lancedb-pro)). Must exist when given.
      - With O(db_path) and no config at all, the database is still read and the plugin is inferred from its schema.
    type: str
  workspace:
    description:
      - The Markdown memory workspace. Default C(agents.defaults.workspace) from the config, else
        C(<state dir>/workspace).
      - When given it must be a directory - a file fails naming O(workspace); a path that does not exist is
        reported with a warning (and RV(ansible_facts.openclaw_memory.workspace.exists=false)).
    type: str
  plugin_dir:
    description:
      - The installed plugin package directory (holds its C(package.json)), when it is not under
        C(<state dir>/extensions/<plugin>), C(plugins.installs), C(plugins.load.paths) or a global C(openclaw) npm
        package. A relative C(dbPath) resolves against it.
    type: str
  probes:
    description:
      - How many spot-check memories to return. The choice is deterministic (smallest sha256 of the id), so the
        same memories come back on every run and on the restored copy.
    type: int
    default: 3
  probe_query:
    description:
      - Also return the memories whose text contains this string, case-insensitively (at most 20), as
        RV(ansible_facts.openclaw_memory.query_matches).
    type: str
  gather_stats:
    description:
      - Count memories and pick probes (one streaming pass over a few columns). With V(false) only table
        versions, row counts from the manifests, columns and sizes are reported.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: The module only reads; it behaves the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: It never changes anything, so C(changed) is always false.
notes:
  - "Read-only, also for the state dir and the config. Secrets stay on the host: no C(apiKey) (only
    RV(ansible_facts.openclaw_memory.embedding.api_key_set)), no C(storageOptions), no resolved C(${ENV}) value,
    no C(.env) content; a base URL is returned without userinfo, query string or fragment. Memory texts in
    probes are returned as stored."
  - "Fails (naming the path or value and the fix) when: the config is missing (unless O(db_path) is given) or not
    valid JSON5 (line and column), C(plugins.slots.memory) names an unknown plugin, O(profile) is not a profile
    name, O(workspace) is a file, O(db_path) does not exist, the
    database path is a file, not a LanceDB directory or unreadable, the C(memories) table is missing, or pylance
    is missing on the host while there is a database to read."
  - A configured or default database path that does not exist yet is not a failure (a fresh host before a
    restore); RV(ansible_facts.openclaw_memory.db_exists) is false and a warning says so.
  - A damaged table (for example a missing data file) is reported with what can be read and a warning.
  - Gateway state comes from C(systemctl) when systemd runs, else from the process table.
seealso:
  - name: OpenClaw memory facts
    description: Where OpenClaw and its memory plugins keep state (docs/openclaw-memory-facts.md in the project).
    link: https://docs.openclaw.ai/concepts/memory
"""

EXAMPLES = r"""
- name: Take the memory baseline of the gateway account before a migration
  openclaw.memory.openclaw_memory_facts:
    user: node
    probe_query: timezone
  become: true
  register: baseline

- name: The database and the probes are there
  ansible.builtin.assert:
    that:
      - baseline.ansible_facts.openclaw_memory.db_exists
      - baseline.ansible_facts.openclaw_memory.total > 0
      - baseline.ansible_facts.openclaw_memory.probes | length == 3
    fail_msg: >-
      {{ inventory_hostname }}: no memories found at {{ baseline.ansible_facts.openclaw_memory.db_path }}
      (warnings: {{ baseline.ansible_facts.openclaw_memory.warnings }})

- name: Compare the embedding identity of the old and the new host
  ansible.builtin.assert:
    that:
      - openclaw_memory.embedding == hostvars['new-host'].openclaw_memory.embedding
    fail_msg: >-
      Embedding differs: {{ openclaw_memory.embedding }}
      vs {{ hostvars['new-host'].openclaw_memory.embedding }}

- name: Gateway started with OPENCLAW_STATE_DIR=/srv/openclaw and a custom database path
  openclaw.memory.openclaw_memory_facts:
    user: openclaw
    state_dir: /srv/openclaw
    db_path: /srv/openclaw-data/lancedb
    gather_stats: false
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    openclaw_memory:
      description: The host's OpenClaw memory setup and baseline.
      returned: always
      type: dict
      contains:
        user:
          description: The gateway account the paths were resolved for.
          type: str
          returned: always
          sample: node
        uid:
          description: Its uid.
          type: int
          returned: always
          sample: 1000
        home:
          description: Its home (or O(home)).
          type: str
          returned: always
          sample: /home/node
        state_dir:
          description: The OpenClaw state dir - the one that holds the config (a legacy dir when only it does).
          type: str
          returned: always
          sample: /home/node/.openclaw
        state_dir_exists:
          description: Whether the state dir exists.
          type: bool
          returned: always
        config_path:
          description: The config file read (or where it was looked for).
          type: str
          returned: always
          sample: /home/node/.openclaw/openclaw.json
        config_found:
          description: Whether a config file was found and read.
          type: bool
          returned: always
        plugin:
          description: The plugin that owns the memory slot; null when the slot is V(none) or unknown without a config.
          type: str
          returned: always
          choices: [memory-lancedb, memory-lancedb-pro, memory-core]
          sample: memory-lancedb
        plugin_source:
          description: V(config), or V(schema) when inferred from the table without a config.
          type: str
          returned: always
        plugin_enabled:
          description: >-
            Whether the plugin is enabled (C(plugins.enabled), C(plugins.deny),
            C(plugins.entries.<id>.enabled)).
          type: bool
          returned: always
        plugin_dir:
          description: The installed plugin package directory, null when not found.
          type: str
          returned: always
          sample: /home/node/.openclaw/extensions/memory-lancedb
        plugin_version:
          description: The installed plugin version from its C(package.json) (or C(plugins.installs)), else null.
          type: str
          returned: always
          sample: 2026.9.6
        plugin_lancedb_version:
          description: Version of the C(@lancedb/lancedb) client the plugin resolves, else null.
          type: str
          returned: always
          sample: 0.27.2
        embedding:
          description: >-
            The embedding identity; changing any of provider, model and dimensions invalidates stored
            vectors.
          type: dict
          returned: always
          contains:
            provider:
              description: Embedding provider (plugin default when not set).
              type: str
              sample: openai
            model:
              description: Embedding model (plugin default when not set).
              type: str
              sample: text-embedding-3-small
            dimensions:
              description: Configured dimensions, else the built-in value for the model, else null.
              type: int
              sample: 1536
            base_url:
              description: C(baseUrl) / C(baseURL) without userinfo, query string or fragment.
              type: str
              sample: https://api.openai.com/v1
            api_key_set:
              description: Whether an apiKey is configured (the key itself is never returned).
              type: bool
        scopes:
          description: The C(memory-lancedb-pro) C(scopes) config (secret-named keys redacted), else null.
          type: dict
          returned: always
        db_path:
          description: The database directory (or remote URI without credentials); null for memory-core.
          type: str
          returned: always
          sample: /home/node/.openclaw/memory/lancedb
        db_path_source:
          description: Where db_path came from, V(option), V(config) or V(default).
          type: str
          returned: always
        db_remote:
          description: Whether db_path is an object-storage URI (not read).
          type: bool
          returned: always
        db_exists:
          description: Whether the database directory exists (null for a remote one).
          type: bool
          returned: always
        db_owner:
          description: Owner of the database directory, null when it does not exist.
          type: dict
          returned: always
          sample: {user: node, uid: 1000, group: node, gid: 1000, mode: "0755"}
        db_free_bytes:
          description: Free bytes on the filesystem that holds (or would hold) the database.
          type: int
          returned: always
        tables:
          description: Per table (by name) its latest version's facts.
          type: dict
          returned: always
          sample:
            memories: {version: 52, rows: 50, vector_dim: 1536, fragments: 50, data_storage_version: "2.2",
                       columns: {id: string, text: string}, indices: [], referenced_bytes: 356000,
                       referenced_files: 101, missing_files: 0, auto_cleanup: {}, error: null,
                       path: /home/node/.openclaw/memory/lancedb/memories.lance}
          contains:
            path:
              description: The table directory.
              type: str
            version:
              description: Latest version number.
              type: int
            rows:
              description: Row count from the manifest (proves nothing about the data files).
              type: int
            vector_dim:
              description: Dimension of the C(vector) column.
              type: int
            columns:
              description: Column name to Arrow type.
              type: dict
            fragments:
              description: Number of fragments.
              type: int
            data_storage_version:
              description: Lance data storage version (decides which Lance versions can read it).
              type: str
            indices:
              description: Indices (name, type, fields).
              type: list
              elements: dict
            referenced_bytes:
              description: Bytes of the files the latest version references.
              type: int
            referenced_files:
              description: Number of those files.
              type: int
            missing_files:
              description: How many of them are missing (damage).
              type: int
            auto_cleanup:
              description: >-
                C(lance.auto_cleanup.*) table config keys: every C(interval) commits, the files of versions older
                than C(older_than) are deleted. The plugins' node client sets C(interval=20, older_than=14days);
                a warning is given only for a window under an hour.
              type: dict
            error:
              description: Why the table could not be opened, else null.
              type: str
        total:
          description: Number of memories (full scan), null when not gathered or unreadable.
          type: int
          returned: always
          sample: 2000
        by_category:
          description: Memory count per category.
          type: dict
          returned: always
          sample: {fact: 610, preference: 520, decision: 320, entity: 350, other: 200}
        by_agent:
          description: Memory count per C(agentId), null when the table has no such column.
          type: dict
          returned: always
          sample: {main: 2000}
        by_scope:
          description: Memory count per C(scope) (memory-lancedb-pro), null when the table has no such column.
          type: dict
          returned: always
          sample: {global: 1500, "agent:main": 500}
        oldest:
          description: Creation time of the oldest memory, ISO 8601 UTC.
          type: str
          returned: always
          sample: "2026-05-04T09:12:00Z"
        newest:
          description: Creation time of the newest memory, ISO 8601 UTC.
          type: str
          returned: always
          sample: "2026-09-01T00:00:00Z"
        probes:
          description: Spot-check memories, the same on every run (smallest sha256 of the id first).
          type: list
          elements: dict
          returned: always
          contains:
            id:
              description: Memory id.
              type: str
            text:
              description: Memory text, as stored.
              type: str
            category:
              description: Category.
              type: str
            importance:
              description: Importance (0-1).
              type: float
            created:
              description: Creation time, ISO 8601 UTC.
              type: str
            agent_id:
              description: C(agentId), when the table has it.
              type: str
            scope:
              description: C(scope), when the table has it.
              type: str
        query_matches:
          description: Memories whose text contains O(probe_query) (same keys as probes); null without O(probe_query).
          type: list
          elements: dict
          returned: always
        size_bytes:
          description: Bytes under the database directory (what C(cp -r) would copy).
          type: int
          returned: always
        file_count:
          description: Files under the database directory.
          type: int
          returned: always
        referenced_bytes:
          description: Bytes the latest versions of all tables reference (what a consistent snapshot copies).
          type: int
          returned: always
        workspace:
          description: The Markdown memory workspace.
          type: dict
          returned: always
          contains:
            path:
              description: Workspace directory.
              type: str
            exists:
              description: Whether it exists.
              type: bool
            memory_md:
              description: C(MEMORY.md) as {bytes, sha256}, null when absent.
              type: dict
            user_md:
              description: C(USER.md) as {bytes, sha256}, null when absent.
              type: dict
            dreams_md:
              description: C(DREAMS.md) as {bytes, sha256}, null when absent.
              type: dict
            daily_notes:
              description: Number of daily notes C(memory/YYYY-MM-DD[-slug].md).
              type: int
            daily_first:
              description: Date of the first daily note.
              type: str
            daily_last:
              description: Date of the last daily note.
              type: str
            files:
              description: Files in the workspace.
              type: int
            bytes:
              description: Bytes in the workspace.
              type: int
        gateway:
          description: How the gateway is managed and whether it runs.
          type: dict
          returned: always
          contains:
            manager:
              description: Service manager found.
              type: str
              choices: [systemd_user, systemd, launchd, unknown]
            unit:
              description: Unit file name or launchd label, null when unknown.
              type: str
              sample: openclaw-gateway.service
            active:
              description: Whether it runs (systemctl, else the process table); null when neither can tell.
              type: bool
            pids:
              description: Gateway processes of the user seen in the process table.
              type: list
              elements: int
        libs:
          description: Versions of lancedb, pylance and pyarrow on the host (null when absent).
          type: dict
          returned: always
          sample: {lancedb: 0.40.0, pylance: 14.0.2, pyarrow: 26.0.1}
        warnings:
          description: >-
            What would break a backup or migration: table without agentId, vector dimension differs from the
            config, plugin disabled, auto-cleanup with a window under an hour, database not owned by O(user),
            state only under a legacy name, missing database, damaged table, and more. Also emitted as Ansible
            warnings.
          type: list
          elements: str
          returned: always
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError
from ansible_collections.openclaw.memory.plugins.module_utils.facts import gather
from ansible_collections.openclaw.memory.plugins.module_utils.lance import LANCE_IMPORT_ERROR


def main():
    module = AnsibleModule(
        argument_spec={
            "user": {"type": "str"},
            "home": {"type": "str"},
            "profile": {"type": "str"},
            "state_dir": {"type": "str"},
            "config_path": {"type": "str"},
            "db_path": {"type": "str"},
            "workspace": {"type": "str"},
            "plugin_dir": {"type": "str"},
            "probes": {"type": "int", "default": 3},
            "probe_query": {"type": "str"},
            "gather_stats": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    try:
        facts = gather(**module.params)
    except MemoryToolError as e:
        if e.details.get("missing_lib"):
            module.fail_json(msg=missing_required_lib(e.details["missing_lib"]), exception=LANCE_IMPORT_ERROR)
        module.fail_json(msg=e.msg, **{k: v for k, v in e.details.items() if k in ("line", "column")})
    for warning in facts["warnings"]:
        module.warn(warning)
    module.exit_json(changed=False, ansible_facts={"openclaw_memory": facts})


if __name__ == "__main__":
    main()
