# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: memory_health
short_description: The migration guide's day-3 / day-7 health checks of an OpenClaw memory database
version_added: 0.1.0
description:
  - C(growth) compares the count now with the count restored at migration (O(baseline_total)); with
    O(expect_growth=true) it must have grown (autoCapture works), else it must not have shrunk.
  - C(recent) reads the memories stored since O(since) (the migration time) and checks each has a category
    the plugin knows, an importance in [0, 1], and a vector that is finite and not all zeros.
  - C(vector_dim) checks the table's vector dimension equals the configured O(dimensions).
  - Recall is checked by M(openclaw.memory.lance_verify)'s C(search) check; C(playbooks/health_check.yml)
    runs both.
  - Read-only; safe while the gateway runs.
extends_documentation_fragment:
  - openclaw.memory.attributes
  - openclaw.memory.lance
attributes:
  check_mode:
    support: full
    details: Reads only; the same result in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Never changes anything (C(changed=false)).
options:
  db_path:
    description: The memory plugin's database directory (M(openclaw.memory.openclaw_memory_facts) reports it).
    type: path
    required: true
  plugin:
    description: C(memory-lancedb) or C(memory-lancedb-pro), for the categories it knows (another name fails);
      default any known category.
    type: str
  dimensions:
    description: The configured embedding dimensions (facts C(embedding.dimensions)); default the table's own.
    type: int
  since:
    description: The migration time (ISO 8601, or epoch seconds); memories created after it are checked. Default all.
    type: str
  baseline_total:
    description: The count restored at migration (the evidence file's C(restored.total)).
    type: int
  expect_growth:
    description: Fail C(growth) unless the count grew since the migration.
    type: bool
    default: false
  fail_on_problem:
    description: Fail the task when a check fails (with every problem in the message).
    type: bool
    default: true
author:
  - openclaw.memory developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Day-3 check of the new host against its migration evidence
  openclaw.memory.memory_health:
    db_path: "{{ openclaw_memory.db_path }}"
    plugin: "{{ openclaw_memory.plugin }}"
    dimensions: "{{ openclaw_memory.embedding.dimensions }}"
    since: "{{ evidence.migrated_at }}"
    baseline_total: "{{ evidence.restored.total }}"
    expect_growth: true
"""

RETURN = r"""
ok:
  description: Every check passed.
  returned: always
  type: bool
checks:
  description: C(growth), C(recent), C(vector_dim), each with C(ok), C(msg) and details (C(recent) lists up to 20
    ids with a bad category, importance or vector).
  returned: always
  type: dict
problems:
  description: One readable line per failed check.
  returned: always
  type: list
  elements: str
stats:
  description: C(total), C(version), C(vector_dim) of the table, C(recent) (memories since O(since)), C(categories)
    accepted.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openclaw.memory.plugins.module_utils._module import call, finish, require_lib
from ansible_collections.openclaw.memory.plugins.module_utils.health import health
from ansible_collections.openclaw.memory.plugins.module_utils.lance import LANCE_IMPORT_ERROR


def main():
    module = AnsibleModule(
        argument_spec=dict(
            db_path=dict(type="path", required=True),
            plugin=dict(type="str"),
            dimensions=dict(type="int"),
            since=dict(type="str"),
            baseline_total=dict(type="int"),
            expect_growth=dict(type="bool", default=False),
            fail_on_problem=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    require_lib(module, "pylance", LANCE_IMPORT_ERROR)
    p = module.params
    result = call(module, health, p["db_path"], plugin=p["plugin"], dimensions=p["dimensions"], since=p["since"],
                  baseline_total=p["baseline_total"], expect_growth=p["expect_growth"])
    if p["fail_on_problem"] and not result["ok"]:
        module.fail_json(msg="Health check of '%s' failed: %s" % (p["db_path"], "; ".join(result["problems"])),
                         changed=False, **result)
    finish(module, result, changed=False)


if __name__ == "__main__":
    main()
