# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The suite's no-skip rule (tools/ocmlab/noskip.py): a skip fails, an xfail does not."""

from __future__ import annotations

import os
import subprocess
import sys

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tools")


def test_a_skipped_test_fails_and_names_its_reason(tmp_path):
    (tmp_path / "conftest.py").write_text("from ocmlab.noskip import pytest_runtest_makereport  # noqa: F401\n")
    (tmp_path / "test_x.py").write_text(
        "import pytest\n"
        "def test_needs_lab():\n    pytest.skip('no lab here')\n"
        "@pytest.mark.xfail(reason='known')\ndef test_known():\n    assert False\n"
        "def test_fine():\n    pass\n")
    env = dict(os.environ, PYTHONPATH=TOOLS)
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rf", str(tmp_path)],
                         capture_output=True, text=True, env=env, cwd=str(tmp_path), check=False)
    assert out.returncode == 1, out.stdout
    assert "1 failed, 1 passed, 1 xfailed" in out.stdout
    assert "test_needs_lab was skipped" in out.stdout and "no lab here" in out.stdout
