# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the repository and its venv are, and the environment the tests run the venv's ansible commands with."""

from __future__ import annotations

import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
PYTHON = os.path.join(VENV_BIN, "python")
ANSIBLE = os.path.join(VENV_BIN, "ansible")
ANSIBLE_PLAYBOOK = os.path.join(VENV_BIN, "ansible-playbook")
ANSIBLE_DOC = os.path.join(VENV_BIN, "ansible-doc")
# Results as one JSON document on stdout (ad-hoc `ansible` needs the callback plugins loaded for that).
JSON_OUTPUT = {"ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}


def ansible_env(**extra):
    """os.environ with the repo's ansible.cfg and collections, no colour, no localhost or inventory warnings; then
    `extra` (e.g. **JSON_OUTPUT, ANSIBLE_FORKS="1")."""
    return dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
                ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".collections"), ANSIBLE_NOCOLOR="1",
                ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false", **extra)
