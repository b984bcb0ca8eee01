# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: memory_audit
short_description: Hygiene audit of an OpenClaw memory database before a migration (reports, never deletes)
version_added: 0.1.0
description:
  - The guide's clean-up before migrating, as a report. Reads the memory table of a LanceDB database at its
    latest version and lists what an operator may want to clean up first. It never deletes or changes anything.
  - C(exact_duplicates) - memories whose text repeats an earlier memory's text. Texts are compared after Unicode
    NFC, collapsing whitespace runs to one space, trimming and case folding, by a 128-bit hash (streamed; only
    the hashes are held).
  - C(near_duplicates) - pairs of memories whose stored vectors have a cosine of at least
    O(near_duplicate_threshold) (no embedding model needed). Memories whose text is an exact duplicate are left
    out (already reported). Up to O(max_rows_near) memories every pair is compared. Beyond, sign-random-projection
    LSH (16 bands of 16 bits, fixed projections, so runs repeat) proposes candidate pairs ranked by the bands
    they share, and the candidates of at most O(max_rows_near) memories are compared exactly; the result then
    says C(bounded=true) and more pairs may exist. A pair at cosine 0.97 is proposed with probability above 99%.
  - C(low_importance) - memories with an C(importance) below O(low_importance).
  - C(secrets) - memories whose text holds key-like strings - AWS access key ids, C(sk-...) style API keys,
    GitHub (C(ghp_...)), Slack (C(xox...)), Google and Telegram bot tokens, JWTs, bearer tokens, private key
    blocks, passwords in URLs, C(password=...) and C(apiKey=...) style assignments, long hex (32+) and mixed
    base64 (40+) tokens. Long hex also matches checksums and commit ids; the report is a list to review.
  - C(infrastructure) - memories that name IP addresses (v4, v6), host names (three labels or more, or a local
    suffix such as C(.internal)) or ports; with O(stale_days), the ones older than that are also listed as
    C(stale_infrastructure) (servers change; an old address in memory misleads the agent after a move).
  - Items are listed by id with an excerpt of at most 80 characters in which every secret-like string and every
    IP address is replaced by C([REDACTED:<kind>]); no secret reaches the result or the log.
  - "Memory use: the hashes and ids of all memories (about 150 bytes each), plus the normalised float32 vectors
    of at most O(max_rows_near) memories (20,000 x 1536 dims = 123 MB); the bounded search adds 64 bytes per
    memory and at most 50 x O(max_rows_near) candidate pairs of 16 bytes."
extends_documentation_fragment:
  - openclaw.memory.attributes
  - openclaw.memory.lance
attributes:
  check_mode:
    support: full
    details: The module only reads, so it runs the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Never changes anything (C(changed=false)).
options:
  path:
    description:
      - The LanceDB database directory (the memory plugin's C(dbPath); M(openclaw.memory.openclaw_memory_facts)
        reports it as C(db_path)), or a snapshot directory made by M(openclaw.memory.lance_snapshot).
    type: path
    required: true
  table:
    description: The table holding the memories; default C(memories), the table of both memory plugins.
    type: str
  near_duplicate_threshold:
    description: Cosine of two stored vectors at or above which the memories are near duplicates, in (0, 1].
    type: float
    default: 0.97
  low_importance:
    description: Memories with an importance below this (in [0, 1]) are reported.
    type: float
    default: 0.3
  max_rows_near:
    description:
      - The bound on the near-duplicate search. Up to this many memories, every pair is compared (work grows
        with the square of the count; 20,000 memories are 200 million pairs). Beyond, the bounded LSH search
        compares the candidate pairs of at most this many memories. It also bounds the vectors held in memory.
    type: int
    default: 20000
  stale_days:
    description:
      - Also list the memories naming infrastructure that are older than this many days as
        C(stale_infrastructure). Needs the creation-time column (C(createdAt) or C(timestamp)). From V(0) to
        V(36500) (a century).
    type: float
  limit:
    description:
      - Items listed at most per finding (groups, pairs, ids, items); V(0) lists none. Counts are always complete.
    type: int
    default: 50
notes:
  - Only the C(text) column is searched for secrets and infrastructure (not the pro plugin's C(metadata)).
  - The patterns are heuristics; an empty list is not proof that no secret is stored.
seealso:
  - module: openclaw.memory.openclaw_memory_facts
  - module: openclaw.memory.lance_verify
author:
  - openclaw.memory developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Audit the agent's memory before migrating it
  openclaw.memory.memory_audit:
    path: "{{ openclaw_memory.db_path }}"
  become: true
  register: audit

- name: Show what to clean up
  ansible.builtin.debug:
    msg: "{{ audit.summary }}"

- name: Stop when memories hold secret-like strings
  ansible.builtin.assert:
    that: audit.audit.secrets.count == 0
    fail_msg: "{{ audit.audit.secrets.count }} memories hold secret-like strings: {{ audit.audit.secrets.items
      | map(attribute='id') | join(', ') }}"

- name: Stricter near duplicates, infrastructure older than 90 days, counts only
  openclaw.memory.memory_audit:
    path: /home/node/.openclaw/memory/lancedb-pro
    near_duplicate_threshold: 0.99
    stale_days: 90
    limit: 0
"""

RETURN = r"""
audit:
  description: What the audit found. Counts are complete; lists hold at most O(limit) entries.
  returned: always
  type: dict
  contains:
    path:
      description: The database directory audited.
      type: str
    table:
      description: The table audited.
      type: str
    version:
      description: The table version read (its latest).
      type: int
    rows:
      description: Memories in the table.
      type: int
    exact_duplicates:
      description:
        - C(count) (memories that repeat an earlier memory's text), C(group_count), C(groups) [{C(ids) (the first
          memory with the text, then its repeats), C(size), C(excerpt)}] in table order.
      type: dict
      sample: {count: 1, group_count: 1, groups: [{ids: [3f2a91c0-..., 9b1e07d2-...], size: 2,
               excerpt: "Prefers replies as short bullet points on Fridays"}]}
    near_duplicates:
      description:
        - C(count) (pairs found), C(pairs) [{C(a), C(b) (ids, C(a) first in the table), C(cosine)}] highest
          cosine first, C(threshold), C(method) (V(exact) or V(lsh)), C(bounded) (true when the search was
          bounded and more pairs may exist), C(compared) (pairs measured), C(rows_compared), C(unusable_vectors)
          (null, not finite or all zeros), and with V(lsh) C(candidates) and C(capped_buckets) (rows in LSH
          buckets too large to pair in full). C(skipped) says why when there is no vector column.
      type: dict
      sample: {count: 1, pairs: [{a: 3f2a91c0-..., b: 0c4d...-..., cosine: 0.995}], threshold: 0.97,
               method: exact, bounded: false, compared: 12497500, rows_compared: 5000, unusable_vectors: 0}
    low_importance:
      description: C(count), C(ids), C(below) (the bound; null with C(skipped) when the table has no importance).
      type: dict
    secrets:
      description: C(count), C(items) [{C(id), C(kinds) (for example C(aws_access_key_id), C(api_key)),
        C(excerpt) (redacted)}].
      type: dict
      sample: {count: 1, items: [{id: 5d0e..., kinds: [aws_access_key_id, api_key],
               excerpt: "The Atlas deploy box is at [REDACTED:ipv4]; its API key is [REDACTED:api_key]..."}]}
    infrastructure:
      description: C(count), C(items) [{C(id), C(kinds) (C(ipv4), C(ipv6), C(hostname), C(port)), C(excerpt),
        C(created) (ISO 8601 UTC, null without a creation-time column)}].
      type: dict
    stale_infrastructure:
      description: Like C(infrastructure), for the memories created before C(older_than) (O(stale_days) ago);
        C(skipped) when O(stale_days) is not set.
      type: dict
    limit:
      description: O(limit).
      type: int
    normalisation:
      description: How texts are normalised before the exact-duplicate comparison.
      type: str
summary:
  description: One line, for example C(5000 memories in table memories, 12 exact duplicates (10 groups), ...).
  returned: always
  type: str
duration_s:
  description: Wall time of the audit in seconds.
  returned: always
  type: float
changed:
  description: Always false.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openclaw.memory.plugins.module_utils._module import call, finish, require_lib
from ansible_collections.openclaw.memory.plugins.module_utils.audit import (
    DEFAULT_LIMIT,
    DEFAULT_LOW_IMPORTANCE,
    DEFAULT_MAX_ROWS_NEAR,
    DEFAULT_THRESHOLD,
    audit,
)
from ansible_collections.openclaw.memory.plugins.module_utils.lance import LANCE_IMPORT_ERROR


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "table": {"type": "str"},
            "near_duplicate_threshold": {"type": "float", "default": DEFAULT_THRESHOLD},
            "low_importance": {"type": "float", "default": DEFAULT_LOW_IMPORTANCE},
            "max_rows_near": {"type": "int", "default": DEFAULT_MAX_ROWS_NEAR},
            "stale_days": {"type": "float"},
            "limit": {"type": "int", "default": DEFAULT_LIMIT},
        },
        supports_check_mode=True,
    )
    require_lib(module, "pylance", LANCE_IMPORT_ERROR)
    p = module.params
    result = call(module, audit, p["path"], table=p["table"], near_duplicate_threshold=p["near_duplicate_threshold"],
                  low_importance=p["low_importance"], max_rows_near=p["max_rows_near"],
                  stale_days=p["stale_days"], limit=p["limit"])
    finish(module, result, changed=False)


if __name__ == "__main__":
    main()
