# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module's main() does around its one call into module_utils.

Only the modules import this: it takes their AnsibleModule object and needs ansible. The domain in module_utils
never imports it, so it stays plain Python (the cron command runs it without Ansible).
"""

from __future__ import annotations

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError


def require_lib(module, lib, error):
    """Fail the task with missing_required_lib(lib) when `error` (the traceback of its failed import) is set."""
    if error:
        module.fail_json(msg=missing_required_lib(lib), exception=error)


def call(module, fn, *args, **kwargs):
    """fn(*args, **kwargs); a MemoryToolError fails the task with its message and details."""
    try:
        return fn(*args, **kwargs)
    except MemoryToolError as e:
        module.fail_json(msg=e.msg, **e.details)


def finish(module, result, **extra):
    """End the task: the result's warnings become Ansible warnings, then exit_json(**extra, **result)."""
    for w in result.pop("warnings", []):
        module.warn(w)
    module.exit_json(**extra, **result)


def run_module(module, fn, *args, **kwargs):
    """call() then finish(): for a module whose result is the domain's result as it is."""
    finish(module, call(module, fn, *args, **kwargs))
