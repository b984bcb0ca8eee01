# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest hook: a skipped test counts as failed (a missing prerequisite is a failure, never silent).

tests/conftest.py and molecule/conftest.py import the hook, so `make test` fails
when any test skips. An expected failure (xfail) stays what it is.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = ("%s was skipped (%s); this suite counts a skip as a failure: provide the prerequisite "
                        "(make test runs as root with the lab)" % (item.nodeid, reason))
