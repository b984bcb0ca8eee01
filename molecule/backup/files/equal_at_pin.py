"""Print JSON: does each table of a snapshot equal its source at the pinned version, row for row?

    python equal_at_pin.py <snapshot dir> <source database dir>
"""

import json
import os
import sys

import lance

snap, src = sys.argv[1], sys.argv[2]
with open(os.path.join(snap, "SNAPSHOT.json"), encoding="utf-8") as f:
    meta = json.load(f)
out = {}
for name, t in meta["tables"].items():
    got = lance.dataset(os.path.join(snap, name + ".lance"))
    want = lance.dataset(os.path.join(src, name + ".lance"), version=t["version"])
    latest = lance.dataset(os.path.join(src, name + ".lance")).version
    out[name] = {
        "pinned": t["version"],
        "snapshot_version": got.version,
        "source_latest": latest,
        "rows": got.count_rows(),
        "equal": got.version == t["version"] and got.to_table().sort_by("id").equals(want.to_table().sort_by("id")),
    }
print(json.dumps(out))
