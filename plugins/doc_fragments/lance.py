# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Requirements and notes shared by every module that reads a LanceDB database.
    DOCUMENTATION = r"""
requirements:
  - python >= 3.10 on the managed host
  - pylance and pyarrow (and lancedb for read-write checks) on the managed host;
    the C(openclaw.memory.deps) role installs the pinned versions into a venv and
    sets C(openclaw_memory_python) to use as C(ansible_python_interpreter).
# ansible-doc refuses a fragment without options or attributes; this one only adds requirements and notes.
options: {}
notes:
  - Lance files are written once; this module never writes into the database it
    reads (no tags, no optimize, no inserts), so it is safe while the gateway runs.
"""
