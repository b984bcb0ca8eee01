# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules' shared main() tail (plugins/module_utils/_module.py), with a stand-in for AnsibleModule."""

from __future__ import annotations

import ast
import os

import pytest
from ansible_collections.openclaw.memory.plugins.module_utils import _module as M
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError
from repo_env import REPO


class Exited(Exception):
    pass


class FakeModule:
    """Records what a module would return; exit_json/fail_json end the call as Ansible's do (SystemExit there)."""

    def __init__(self):
        self.warnings = []
        self.returned = None

    def warn(self, msg):
        self.warnings.append(msg)

    def exit_json(self, **kwargs):
        self.returned = dict(kwargs)
        raise Exited()

    def fail_json(self, **kwargs):
        self.returned = dict(kwargs, failed=True)
        raise Exited()


def test_run_module_returns_the_result_and_its_warnings_as_ansible_warnings():
    module = FakeModule()
    with pytest.raises(Exited):
        M.run_module(module, lambda a, b=None: {"changed": True, "a": a, "b": b, "warnings": ["careful"]}, 1, b=2)
    assert module.returned == {"changed": True, "a": 1, "b": 2}
    assert module.warnings == ["careful"]


def test_a_domain_error_fails_with_its_message_and_details():
    def boom():
        raise MemoryToolError("path '/x' does not exist; set path", line=3)

    module = FakeModule()
    with pytest.raises(Exited):
        M.run_module(module, boom)
    assert module.returned == {"msg": "path '/x' does not exist; set path", "line": 3, "failed": True}


def test_finish_adds_fixed_keys():
    module = FakeModule()
    with pytest.raises(Exited):
        M.finish(module, {"ok": True}, changed=False)
    assert module.returned == {"changed": False, "ok": True} and module.warnings == []


def test_require_lib_fails_only_when_the_import_failed():
    module = FakeModule()
    M.require_lib(module, "pylance", None)
    assert module.returned is None
    with pytest.raises(Exited):
        M.require_lib(module, "pylance", "Traceback ...\nModuleNotFoundError: No module named 'lance'")
    assert module.returned["failed"] and "(pylance)" in module.returned["msg"]
    assert module.returned["exception"].endswith("No module named 'lance'")


def test_only_the_modules_import_it():
    """The domain stays plain Python: no module_utils file but _module.py imports ansible (or _module.py)."""
    mu = os.path.join(REPO, "plugins", "module_utils")
    offenders = []
    for name in sorted(os.listdir(mu)):
        if not name.endswith(".py") or name == "_module.py":
            continue
        with open(os.path.join(mu, name), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            mods = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += ["%s: %s" % (name, m) for m in mods if m.startswith("ansible.") or m.endswith("._module")]
    assert offenders == []
