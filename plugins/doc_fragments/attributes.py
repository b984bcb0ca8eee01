# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # What each attribute means; every module says its own support and details.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check mode and say what it would change, changing nothing.
  diff_mode:
    description: Returns what it changed (or would change in check mode) in diff mode.
  idempotent:
    description:
      - When run twice with the same options, the second run reports no change and changes nothing
        (partial support lists the exceptions).
"""
