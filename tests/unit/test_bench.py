# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bench/'s settled file system (bench_util.settler, --fs-state settled) and its one bad input: a user who cannot
drop the page cache. The rest of the harness runs in make bench-smoke."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from repo_env import REPO

sys.path.insert(0, os.path.join(REPO, "bench"))
import bench_util as U  # noqa: E402 - bench/ is not a package

# The scripts' argument check needs no venv, and nobody cannot run the venv's Python (it lives under /root).
SYSTEM_PYTHON = "/usr/bin/python3"
SIZE = 1 << 20


def _tool(name):
    path = shutil.which(name)
    assert path, f"'{name}' (util-linux) is missing: tools/prereqs.sh checks util-linux"
    return path


def _resident(path):
    """Bytes of `path` in the page cache (fincore)."""
    out = subprocess.run([_tool("fincore"), "--bytes", "--noheadings", "--output", "RES", str(path)],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    return int(out.strip())


@pytest.mark.parametrize("argv", [["run_bench.py", "--smoke"], ["bench_cutover.py"]])
def test_settled_needs_a_user_who_can_drop_the_page_cache(argv):
    assert os.geteuid() == 0, "this test runs the bench as nobody: run the tests as root (make test does)"
    cmd = [_tool("runuser"), "-u", "nobody", "--", SYSTEM_PYTHON, os.path.join("bench", argv[0])] + argv[1:]
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "--fs-state settled drops the page cache through /proc/sys/vm/drop_caches, which this user cannot " \
           "write; run as root, or pass --fs-state as-left" in p.stderr


def test_as_left_is_the_way_out_for_other_users():
    """The fix the message names gets past the check: the next check (an unknown item) is what fails."""
    cmd = [_tool("runuser"), "-u", "nobody", "--", SYSTEM_PYTHON, os.path.join("bench", "run_bench.py"), "--smoke",
           "--fs-state", "as-left", "--only", "nosuchitem"]
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "drop_caches" not in p.stderr
    assert "unknown item(s) nosuchitem" in p.stderr


def test_settler_drops_the_page_cache_and_reads_the_inputs_back():
    assert U.can_settle(), f"{U.DROP_CACHES} is not writable: run the tests as root (make test does)"
    # On the disk (the repo's cache dir): pages of a tmpfs cannot be dropped.
    root = os.path.join(REPO, ".cache", "test-settle-%d" % os.getpid())
    shutil.rmtree(root, ignore_errors=True)
    try:
        inputs, other = os.path.join(root, "inputs"), os.path.join(root, "other")
        os.makedirs(os.path.join(inputs, "sub"))
        os.makedirs(other)
        files = [os.path.join(inputs, "a"), os.path.join(inputs, "sub", "b"), os.path.join(other, "c")]
        for path in files:
            with open(path, "wb") as f:
                f.write(os.urandom(SIZE))
        # A file a writer renamed while the settler walked: a name that no longer opens.
        os.symlink(os.path.join(inputs, "gone"), os.path.join(inputs, "renamed-meanwhile"))
        assert [_resident(p) for p in files] == [SIZE] * 3  # just written
        U.settler([inputs])()
        assert _resident(files[0]) == SIZE and _resident(files[1]) == SIZE  # read back
        assert _resident(files[2]) == 0  # dropped: not an input
    finally:
        shutil.rmtree(root, ignore_errors=True)
