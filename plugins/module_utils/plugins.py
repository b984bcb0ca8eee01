# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection knows about OpenClaw's memory plugins.

Plain data, no third-party imports: the facts, snapshot and verify code, the
fixture generator and the gateway simulator all read their schema knowledge
from here, so a plugin change is made in one place.
"""

from __future__ import annotations

MEMORY_LANCEDB = "memory-lancedb"
MEMORY_LANCEDB_PRO = "memory-lancedb-pro"
MEMORY_CORE = "memory-core"

TABLE = "memories"

# Built-in embedding dimensions (memory-lancedb); other models need `dimensions`.
BUILTIN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
}

PLUGINS = {
    MEMORY_LANCEDB: {
        "lancedb": True,
        # Resolved from the home dir, not from the state dir.
        "default_db_path": "~/.openclaw/memory/lancedb",
        "created_column": "createdAt",
        "categories": ("preference", "fact", "decision", "entity", "other"),
        # Column -> arrow type name; `vector` is fixed_size_list<float32>[dim].
        "columns": (
            ("id", "string"),
            ("text", "string"),
            ("vector", "vector"),
            ("importance", "double"),
            ("category", "string"),
            ("createdAt", "double"),
        ),
        "optional_columns": (("agentId", "string"),),
        "embedding_defaults": {"provider": "openai", "model": "text-embedding-3-small"},
        "base_url_key": "baseUrl",
        "lock_file": None,
    },
    MEMORY_LANCEDB_PRO: {
        "lancedb": True,
        "default_db_path": "~/.openclaw/memory/lancedb-pro",
        "created_column": "timestamp",
        "categories": ("preference", "fact", "decision", "entity", "other", "reflection"),
        "columns": (
            ("id", "string"),
            ("text", "string"),
            ("vector", "vector"),
            ("category", "string"),
            ("scope", "string"),
            ("importance", "double"),
            ("timestamp", "double"),
            ("metadata", "string"),
        ),
        "optional_columns": (),
        "embedding_defaults": {"provider": None, "model": None},
        "base_url_key": "baseURL",
        "lock_file": ".memory-write.lock",
    },
    MEMORY_CORE: {
        "lancedb": False,
        "default_db_path": None,
        "created_column": None,
        "categories": (),
        "columns": (),
        "optional_columns": (),
        "embedding_defaults": {"provider": None, "model": None},
        "base_url_key": None,
        "lock_file": None,
    },
}

# Columns whose values are grouped into counts, by key in the stats result.
GROUP_COLUMNS = (("by_category", "category"), ("by_agent", "agentId"), ("by_scope", "scope"))

# OpenClaw's state dir and config names, newest first.
STATE_DIR_NAMES = (".openclaw", ".clawdbot", ".moldbot", ".moltbot")
CONFIG_NAMES = ("openclaw.json", "clawdbot.json", "moldbot.json", "moltbot.json")


def plugin_spec(name):
    """Return the spec of a known plugin, or None."""
    return PLUGINS.get(name)


def created_column(columns):
    """Name of the creation-time column among `columns` (either plugin's)."""
    for spec in PLUGINS.values():
        col = spec["created_column"]
        if col and col in columns:
            return col
    return None


def embedding_dimensions(model, explicit=None):
    """Dimensions of an embedding model: explicit setting, else the built-in table."""
    if explicit is not None:
        return int(explicit)
    return BUILTIN_DIMENSIONS.get(model)


def table_columns(name, optional=False):
    """Ordered (column, type) pairs of a plugin's `memories` table.

    The required columns in the plugin's order, then the optional ones:
    `optional` is False (none), True (all) or an iterable of column names.
    Optional columns come last, where `openclaw doctor --fix` appends them.
    Types are pyarrow's names: "string" (utf8), "double" (float64) and
    "vector" (fixed_size_list<float32>[dim]). Unknown plugin: KeyError.
    """
    spec = PLUGINS[name]
    extra = spec["optional_columns"]
    if optional is not True:
        wanted = set(optional or ())
        extra = tuple(col for col in extra if col[0] in wanted)
    return tuple(spec["columns"]) + tuple(extra)


# Where an installed plugin lives: `openclaw plugins install` puts it under
# <stateDir>/extensions/<id>/ (uninstall removes "the plugin install directory
# under the active state dir"); its package.json holds the plugin version and
# its node_modules the @lancedb/lancedb client actually used. memory-core is
# part of openclaw itself (no install dir). npm package names:
EXTENSIONS_DIR = "extensions"
PACKAGE_NAMES = {
    MEMORY_LANCEDB: "@openclaw/memory-lancedb",
    MEMORY_LANCEDB_PRO: "memory-lancedb-pro",
}
LANCEDB_CLIENT_PACKAGE = "@lancedb/lancedb"


def package_json_path(state_dir, name):
    """Path of an installed plugin's package.json under the state dir ('/'-joined)."""
    return "/".join((state_dir.rstrip("/"), EXTENSIONS_DIR, name, "package.json"))


def client_package_json_path(state_dir, name):
    """Path of the @lancedb/lancedb package.json the installed plugin bundles."""
    parts = (state_dir.rstrip("/"), EXTENSIONS_DIR, name, "node_modules", LANCEDB_CLIENT_PACKAGE, "package.json")
    return "/".join(parts)
