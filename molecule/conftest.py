# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every skip is a failure here (tools/ocmlab/noskip.py)."""

# A pytest hook, imported so that pytest registers it here.
from ocmlab.noskip import pytest_runtest_makereport  # noqa: F401  # pylint: disable=unused-import
