# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A `memories` table written by the plugin's own client library verifies clean.

tests/unit/node/make_memories.mjs writes the table the way memory-lancedb does,
with @lancedb/lancedb 0.27.2 on node (the version the last bundled plugin
used): a `__schema__` row inserted and deleted, then one memory per commit.
npm installs the client once into .cache/node-verify (gitignored). When node,
npm or the install is missing, the test FAILS with the reason: it never skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import lance
import pytest
from ansible_collections.openclaw.memory.plugins.module_utils import verify as V
from ansible_collections.openclaw.memory.plugins.module_utils.checksums import write_sums
from ansible_collections.openclaw.memory.plugins.module_utils.common import sha256_file
from repo_env import REPO

NODE_SRC = os.path.join(REPO, "tests", "unit", "node")
CACHE = os.path.join(REPO, ".cache", "node-verify")
CLIENT_VERSION = "0.27.2"


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _same(a, b):
    return os.path.exists(b) and _read(a) == _read(b)


def _version(package_json):
    return json.loads(_read(package_json)).get("version") if os.path.exists(package_json) else None


def node_client():
    """Install @lancedb/lancedb into the cache dir (once) and return the script path to run there."""
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            pytest.fail(f"'{tool}' is not on PATH: this test needs Node >= 20 and npm to run "
                        f"@lancedb/lancedb {CLIENT_VERSION} (tools/prereqs.sh installs them)")
    os.makedirs(CACHE, exist_ok=True)
    pkg = os.path.join(CACHE, "package.json")
    installed = os.path.join(CACHE, "node_modules", "@lancedb", "lancedb", "package.json")
    fresh = _same(os.path.join(NODE_SRC, "package.json"), pkg) and _version(installed) == CLIENT_VERSION
    if not fresh:
        shutil.copyfile(os.path.join(NODE_SRC, "package.json"), pkg)
        p = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=CACHE,
                           capture_output=True, text=True, timeout=900, check=False)
        if p.returncode != 0 or not os.path.exists(installed):
            pytest.fail(f"npm install @lancedb/lancedb@{CLIENT_VERSION} failed in {CACHE} (rc {p.returncode}); "
                        f"the registry must be reachable once to fill the cache:\n{(p.stderr or p.stdout)[-2000:]}")
    script = os.path.join(CACHE, "make_memories.mjs")  # ESM resolves node_modules next to the script
    if not _same(os.path.join(NODE_SRC, "make_memories.mjs"), script):
        shutil.copyfile(os.path.join(NODE_SRC, "make_memories.mjs"), script)
    return script


def test_table_written_by_the_plugins_node_client_verifies_clean(tmp_path, monkeypatch):
    script = node_client()
    db = str(tmp_path / "lancedb")
    n = 30
    p = subprocess.run(["node", script, db, str(n), "16"], capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 0, "make_memories.mjs failed:\n" + p.stderr[-2000:]
    made = json.loads(p.stdout.strip().splitlines()[-1])
    assert made["total"] == n and made["version"] == n + 2  # create, delete __schema__, one commit per memory

    ds = lance.dataset(os.path.join(db, "memories.lance"))
    assert len(ds.get_fragments()) == n and str(ds.data_storage_version) == "2.0"

    # Checksums of every file, kept outside the database (as a copy would be checked against).
    sums = str(tmp_path / "SHA256SUMS")
    files = {}
    for dirpath, _dirs, names in os.walk(db):
        for name in names:
            full = os.path.join(dirpath, name)
            files[os.path.relpath(full, db)] = sha256_file(full)
    write_sums(sums, files)

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    before = dict(files)
    r = V.verify(db, checksums=sums, checks=V.CHECKS, today="2026-09-01", expect={
        "total": n, "by_category": made["by_category"], "by_agent": {"main": n},
        "probes": made["probes"],
        "tables": {"memories": {"version": made["version"], "rows": n, "vector_dim": 16}},
        "embedding": {"dimensions": 16},
    })
    assert r["mismatches"] == [] and r["ok"] is True, r["mismatches"]
    c = r["checks"]
    assert c["checksums"]["files"] == len(files) and not c["checksums"].get("skipped")
    assert c["content"]["probes_checked"] == len(made["probes"]) == 6
    assert c["search"]["tables"]["memories"]["flat_search"] == [
        {"field": "vector", "ok": True, "lance_queries": 1, "exact_checked": 5}]
    assert c["readwrite"]["found_by_vector"] and c["readwrite"]["found_by_id"] and c["readwrite"]["deleted"]
    assert os.listdir(scratch) == []
    after = {os.path.relpath(os.path.join(d, f), db): sha256_file(os.path.join(d, f))
             for d, _x, names in os.walk(db) for f in names}
    assert after == before  # the node-written database itself was only read
