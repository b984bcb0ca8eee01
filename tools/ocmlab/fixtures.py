"""Build realistic OpenClaw state dirs: config, secrets, plugin package, memories, workspace.

Everything is deterministic from a seed: the same seed (and n) gives the same
ids, texts, categories, importances, timestamps and vectors. Schemas come from
`plugins.py` (the project's single source of plugin knowledge), never from here.

Layout made by `build_state(home, ...)` (state dir `<home>/.openclaw` by default):

    <state>/openclaw.json                     JSON5: comments, trailing commas, unquoted keys
    <state>/.env                              OPENAI_API_KEY=<fake secret> (0600)
    <state>/extensions/<plugin>/package.json  plugin package + version (lancedb plugins only;
    <state>/extensions/<plugin>/openclaw.plugin.json            memory-core ships inside openclaw)
    <state>/extensions/<plugin>/node_modules/@lancedb/lancedb/package.json   client version
    <state>/workspace/MEMORY.md, USER.md, memory/YYYY-MM-DD.md
    <db_path>/memories.lance                  default: the plugin's default path under <home>

The table is created the plugin's way (insert a `__schema__` row, delete it)
and filled one row per commit (mode "plugin", what a gateway does) or in
batches (mode "batched": `batch_size` rows per commit, optionally followed by
a per-row tail of `tail` commits). Vectors are float32 unit vectors drawn from
numpy's PCG64 seeded with (seed, row), so a row's own vector finds it first.

Importable and a CLI: `python -m ocmlab.fixtures build --home DIR ...`,
`python -m ocmlab.fixtures add --db DIR ...`; `--help` for the options.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import random
import re
import string
import sys
import time
import uuid

import numpy as np
import pyarrow as pa
from ansible_collections.openclaw.memory.plugins.module_utils import plugins as P

# --------------------------------------------------------------------------- constants

OPENCLAW_VERSION = "2026.9.6"
DEFAULT_PLUGIN_VERSIONS = {P.MEMORY_LANCEDB: OPENCLAW_VERSION, P.MEMORY_LANCEDB_PRO: "1.1.0"}
DEFAULT_CLIENT_VERSION = "0.27.2"  # @lancedb/lancedb in the last bundled memory-lancedb
DEFAULT_DIMS = 1536
DEFAULT_AGENTS = ("main",)
DEFAULT_SCOPES = ("global", "agent:main", "project:atlas", "user:dana")
DEFAULT_END_MS = 1788220800000.0  # 2026-09-01T00:00:00Z: fixed, so builds are reproducible
DEFAULT_SPAN_DAYS = 120
API_KEY_ENV = "OPENAI_API_KEY"
SCHEMA_ROW_ID = "__schema__"
DAY_MS = 86_400_000
MODES = ("plugin", "batched")
DATA_STORAGE_VERSIONS = ("2.0", "2.1", "2.2", "legacy")

# Relative weight of each category (the categories themselves come from plugins.py).
CATEGORY_WEIGHTS = {"preference": 26, "fact": 30, "decision": 16, "entity": 18, "other": 10, "reflection": 6}

# --------------------------------------------------------------------------- word lists

W = {
    "person": (
        "Alice", "Bruno", "Chen", "Dana", "Elif", "Farah", "Gustavo", "Hiro", "Ines", "Jonas", "Kemi",
        "Luca", "Maya", "Nikhil", "Olga", "Priya", "Quentin", "Rosa", "Sven", "Tomas", "Uma", "Viktor",
        "Wen", "Yara", "Zoe", "Amara", "Bashir", "Carmen", "Dmitri", "Esme",
    ),
    "role": (
        "tech lead", "on-call engineer", "product owner", "designer", "data engineer", "SRE", "accountant",
        "landlord", "security contact", "release manager", "intern", "CTO", "support lead", "tax advisor",
    ),
    "project": (
        "Atlas", "Beacon", "Cobalt", "Driftwood", "Ember", "Falcon", "Granite", "Harbor", "Juniper", "Keystone",
        "Lantern", "Meridian", "Nimbus", "Orchid", "Pioneer", "Quartz", "Rainier", "Sequoia", "Tundra", "Vesper",
    ),
    "tool": (
        "Neovim", "VS Code", "tmux", "fish", "zsh", "Obsidian", "Linear", "Jira", "Notion", "Grafana",
        "Terraform", "Ansible", "Docker", "Podman", "k3s", "uv", "Poetry", "pnpm", "Bun", "ripgrep", "Helix",
        "Zellij", "Taskfile", "just", "direnv", "Caddy", "nginx", "Tailscale", "WireGuard", "restic",
    ),
    "db": ("Postgres", "SQLite", "Redis", "ClickHouse", "DuckDB", "MySQL", "LanceDB", "MongoDB"),
    "lang": ("Python", "Go", "Rust", "TypeScript", "Bash", "Ruby", "Elixir", "Kotlin"),
    "infra": (
        "Hetzner CX22", "Raspberry Pi 5", "EC2 t4g.small", "DigitalOcean droplet", "home NAS", "Proxmox VM",
        "old ThinkPad", "Mac mini", "Fly.io machine", "OVH VPS", "Oracle free-tier VM", "Intel NUC",
    ),
    "region": ("eu-central-1", "us-east-2", "fsn1", "nbg1", "ams3", "the home lab", "hel1", "sfo3"),
    "component": (
        "API", "worker queue", "web frontend", "nightly ETL", "auth service", "search index", "billing job",
        "webhook relay", "mail relay", "metrics stack", "backup job", "mobile app", "admin panel",
    ),
    "task": (
        "code review", "note taking", "release notes", "database migrations", "deploys", "meal planning",
        "budgeting", "incident write-ups", "travel planning", "expense reports", "grocery lists",
        "weekly reviews", "invoice tracking", "dependency upgrades", "log triage",
    ),
    "channel": ("Signal", "Telegram", "Slack", "email", "WhatsApp", "Discord", "Matrix", "SMS"),
    "drink": ("oat milk flat white", "green tea", "sparkling water", "espresso", "rooibos", "cold brew"),
    "food": (
        "vegetarian food", "spicy ramen", "nothing with cilantro", "gluten-free bread", "sushi", "lentil soup",
        "no shellfish", "mostly vegan food",
    ),
    "weekday": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "month": (
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
        "November", "December",
    ),
    "city": ("Berlin", "Lisbon", "Toronto", "Nairobi", "Osaka", "Austin", "Warsaw", "Melbourne", "Bogota"),
    "company": ("Acme Hosting", "Northwind", "Globex", "Initech", "Umbrella Cloud", "Stark Metrics", "Hooli"),
    "reason": (
        "it is cheaper", "there are fewer moving parts", "the team already knows it", "latency matters there",
        "the license changed", "backups are simpler", "the old setup kept paging at night",
        "it has a real audit log", "the vendor raised prices", "it runs fine on ARM",
    ),
    "time_phrase": (
        "in the mornings", "after 6pm", "on Fridays", "before standup", "on weekends", "around lunch",
        "late in the evening", "at the start of the week",
    ),
    "adjective": ("amber", "silent", "crimson", "lucky", "frozen", "velvet", "copper", "hidden", "brisk"),
    "animal": ("heron", "otter", "lynx", "falcon", "badger", "marten", "ibis", "gecko", "puffin"),
    "tag": ("infra", "home", "work", "health", "travel", "money", "family", "oss", "hiring", "writing"),
}

TEMPLATES = {
    "preference": (
        "{person} prefers {tool} over {tool2} for {task}; confirmed on {date}.",
        "Prefers replies as short bullet points {time_phrase}; long prose only for {task} about {project} ({ctx}).",
        "Likes a {drink} {time_phrase} and avoids caffeine after {hour} on {weekday}s ({ctx}).",
        "Wants {task} summaries for {project} sent via {channel} {time_phrase}, starting {date}.",
        "Prefers {lang} for scripts; avoid {lang2} unless {project} already uses it ({ctx}).",
        "Dislikes meetings {time_phrase}; schedule {project} syncs on {weekday} at {hour} instead ({ctx}).",
        "Eats {food}; when booking dinners in {city} for {n} people keep that in mind ({ctx}).",
        "Uses {tool} with a {indent}-space indent and wants {tool2} configs kept in the {project} dotfiles repo"
        " ({ctx}).",
    ),
    "fact": (
        "The {project} {component} runs on a {infra} in {region}; its admin port is {port}.",
        "{project} uses {db} {major} with backups at {hour} every {weekday}, kept for {n} days.",
        "The home NAS has {n} TB free and is mounted at /srv/{tag}-{minor} since {date}.",
        "{person}'s birthday is on {month} {day}; {person2} collects {price} EUR for a gift.",
        "The staging URL for {project} is https://{project_lc}-{tag}.staging.example.com (port {port}).",
        "{project} {major}.{minor} shipped on {date}; the {component} changelog lives in docs/CHANGELOG.md.",
        "The {component} of {project} handles about {n}k requests a day, peaking {time_phrase} in {region}.",
        "The {infra} in {region} costs {price} EUR a month and hosts {project}.",
    ),
    "decision": (
        "Decided on {date} to move {project} from the {infra} to a {infra2} because {reason}.",
        "Chose {db} over {db2} for the {project} {component} because {reason} ({person} agreed).",
        "Agreed with {person} on {date} to freeze {project} deploys on {weekday}s.",
        "Keep {n} days of {project} {component} logs from {date} on; archive the rest because {reason}.",
        "Dropped {tool} from the {project} stack on {date}; {tool2} replaces it.",
        "{project} will use {lang} for the new {component}, decided on {date} with {person}.",
    ),
    "entity": (
        "{person} is the {role} for {project}; reach them on {channel} {time_phrase} ({ctx}).",
        "{person} ({role}) owns the {component} of {project} since {date}.",
        "{company} is the vendor for the {project} {component}; the contract renews on {date} at {price} EUR a month.",
        "{person} works in {city} as {role} and is usually online {time_phrase} ({ctx}).",
        "{person} and {person2} share the {project} on-call rota; handover is on {weekday} at {hour}.",
    ),
    "other": (
        "Reminder: {task} for {project} is due on {weekday} {date} at {hour}.",
        "Book a dentist appointment in {city} before {month} {day}; {person} recommended one ({ctx}).",
        "Look into {tool} for {task} when there is time (suggested by {person} on {date}).",
        "Read the {project} {component} postmortem draft {person} shared on {date}.",
        "Renew the {project_lc}-{tag}.example.org domain before {date}; it costs {price} EUR.",
    ),
    "reflection": (
        "Reflection: answers about the {project} {component} were better when the {tool} docs were checked first"
        " ({ctx}).",
        "Reflection: {person} asked twice about {task} for {project}; store the outcome explicitly next time ({ctx}).",
        "Reflection: on {date} a question about the {component} needed {n} tool calls; cache the {region} details.",
    ),
}

PROBE_TEMPLATE = "Spot-check marker: the {adjective} {animal} code for the {project} lab is {code}."
SECRET_TEMPLATE = (
    "The {project} deploy box is at 10.{a}.{b}.{c}; its API key is sk-live-{hex} and the AWS key id is AKIA{akia}."
)
NEAR_DUPLICATE_PREFIX = "Note again: "

_FIELDS = {cat: [tuple(f for _lit, f, _spec, _conv in string.Formatter().parse(t) if f) for t in ts]
           for cat, ts in TEMPLATES.items()}


_MONTHS = tuple((2025, m) for m in range(9, 13)) + tuple((2026, m) for m in range(1, 9))


def _slot(rng, name, values):
    """Value of template slot `name`; `values` holds the slots already filled for this text."""
    if name in W:
        return rng.choice(W[name])
    base = name.rstrip("2")
    if base != name and base in W:  # tool2, person2, db2 ... differ from their first pick
        choices = [w for w in W[base] if w != values.get(base)]
        return rng.choice(choices)
    if name == "infra2":
        return rng.choice([w for w in W["infra"] if w != values.get("infra")])
    if name == "project_lc":
        return values.get("project", rng.choice(W["project"])).lower()
    if name == "hour":
        return f"{rng.randint(6, 22)}:{rng.choice(('00', '15', '30', '45'))}"
    if name == "port":
        return str(rng.randint(1024, 65000))
    if name == "n":
        return str(rng.randint(2, 180))
    if name == "ctx":
        form = rng.randrange(5)
        if form == 0:
            return f"noted on {_slot(rng, 'date', values)}"
        if form == 1:
            return f"mentioned via {rng.choice(W['channel'])} on {_slot(rng, 'date', values)}"
        if form == 2:
            return f"from the {rng.choice(W['weekday'])} {rng.choice(W['project'])} sync"
        if form == 3:
            return f"confirmed on {_slot(rng, 'date', values)} at {_slot(rng, 'hour', values)}"
        return f"said during {rng.choice(W['task'])} on {rng.choice(W['weekday'])}"
    if name == "indent":
        return rng.choice(("2", "4", "8"))
    if name == "day":
        return str(rng.randint(1, 28))
    if name == "major":
        return str(rng.randint(1, 17))
    if name == "minor":
        return str(rng.randint(0, 40))
    if name == "price":
        return f"{rng.randint(3, 240)}.{rng.randint(0, 99):02d}"
    if name == "date":  # within the year before DEFAULT_END_MS
        year, month = rng.choice(_MONTHS)
        return f"{year}-{month:02d}-{rng.randint(1, 28):02d}"
    raise KeyError(f"unknown template slot {name!r}")


def _compose(rng, template, fields):
    values = {}
    for name in fields:
        if name not in values:
            values[name] = _slot(rng, name, values)
    return template.format(**values)


# --------------------------------------------------------------------------- deterministic rows


def _check_seed(seed):
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return seed


def _rng(seed, index, salt=""):
    return random.Random(f"ocmlab:{seed}:{index}:{salt}")


def _unit(seed, index, salt):
    """A uniform [0, 1) value from a hash: cheap and stable."""
    h = hashlib.sha256(f"ocmlab-u:{seed}:{index}:{salt}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


def memory_id(seed, index):
    """UUID (version 4 layout) of row `index` for `seed`."""
    digest = hashlib.sha256(f"ocmlab-id:{seed}:{index}".encode()).digest()[:16]
    return str(uuid.UUID(bytes=digest, version=4))


def memory_vector(seed, index, dims):
    """float32 unit vector of row `index` (PCG64 seeded with (seed, index))."""
    v = np.random.default_rng([seed, index]).standard_normal(dims)
    v /= np.linalg.norm(v)
    return v.astype(np.float32)


def near_vector(seed, index, dims, of_index, distance=0.1):
    """A unit vector close to row `of_index`'s (cosine about 1/sqrt(1 + distance^2))."""
    noise = np.random.default_rng([seed, index, 1]).standard_normal(dims)
    v = memory_vector(seed, of_index, dims).astype(np.float64) + noise / np.linalg.norm(noise) * distance
    v /= np.linalg.norm(v)
    return v.astype(np.float32)


def schedule(n, end_ms=DEFAULT_END_MS, span_days=DEFAULT_SPAN_DAYS, seed=0):
    """createdAt (epoch ms, integral float) of row i for a build of `n` rows: increasing, spread evenly."""
    start = float(end_ms) - span_days * DAY_MS
    step = (float(end_ms) - start) / max(n, 1)

    def created(index):
        jitter = (2.0 * _unit(seed, index, "t") - 1.0) * 0.4 * step
        return float(round(start + step * (index + 0.5) + jitter))

    return created


def wall_clock(_index=None):
    """createdAt for a memory written now (what a live gateway stores)."""
    return float(int(time.time() * 1000))


def _category(rng, plugin):
    # memory-core has no categories column: its Markdown uses memory-lancedb's kinds of memory.
    cats = P.PLUGINS[plugin]["categories"] or P.PLUGINS[P.MEMORY_LANCEDB]["categories"]
    return rng.choices(cats, weights=[CATEGORY_WEIGHTS.get(c, 5) for c in cats])[0]


def _importance(rng, category):
    if category == "reflection":
        return round(rng.uniform(0.3, 0.6), 2)
    if rng.random() < 0.25:
        return 0.7  # the memory_store tool's default
    return round(min(1.0, max(0.05, rng.betavariate(4, 2))), 2)


def memory_record(plugin, seed, index, created_ms, columns, agents=DEFAULT_AGENTS, scopes=DEFAULT_SCOPES,
                  special=None):
    """Values of every column but `vector` for row `index`, keyed by column name.

    `columns` are the target table's column names (they decide agentId);
    `special` is None or one of ("probe",), ("secret",), ("duplicate", i),
    ("near_duplicate", i): planted rows for spot checks and audits.
    """
    rng = _rng(seed, index)
    kind = special[0] if special else None
    if kind in ("duplicate", "near_duplicate"):
        orig = memory_record(plugin, seed, special[1], created_ms, columns, agents, scopes)
        category, text = orig["category"], orig["text"]
        if kind == "near_duplicate":
            text = NEAR_DUPLICATE_PREFIX + text
    elif kind == "probe":
        category = "fact"
        text = PROBE_TEMPLATE.format(
            adjective=rng.choice(W["adjective"]), animal=rng.choice(W["animal"]), project=rng.choice(W["project"]),
            code=probe_code(seed, index),
        )
    elif kind == "secret":
        category = "fact"
        text = SECRET_TEMPLATE.format(
            project=rng.choice(W["project"]), a=rng.randint(0, 255), b=rng.randint(0, 255), c=rng.randint(1, 254),
            hex=f"{rng.getrandbits(128):032x}",
            akia="".join(rng.choice(string.ascii_uppercase + "234567") for _char in range(16)),
        )
    else:
        category = _category(rng, plugin)
        k = rng.randrange(len(TEMPLATES[category]))
        text = _compose(rng, TEMPLATES[category][k], _FIELDS[category][k])
    importance = {"probe": 0.9, "secret": 0.5}.get(kind) or _importance(rng, category)
    agent = agents[0] if len(agents) == 1 else rng.choices(agents, weights=[7] + [3] * (len(agents) - 1))[0]
    created_ms = float(created_ms)
    row = {"id": memory_id(seed, index), "text": text, "category": category, "importance": float(importance)}
    if plugin == P.MEMORY_LANCEDB_PRO:
        if category == "reflection":
            scope = f"reflection:agent:{agent}"
        else:
            scope = scopes[0] if len(scopes) == 1 else rng.choices(scopes, weights=[5] + [2] * (len(scopes) - 1))[0]
        meta = {
            "source": rng.choice(("auto-capture", "tool", "auto-capture", "import")),
            "agentId": agent,
            "tags": sorted(rng.sample(W["tag"], 2)),
            "accessCount": rng.randint(0, 25),
            "lastAccessedAt": created_ms + rng.randint(0, 30) * 3_600_000,
        }
        row.update(scope=scope, timestamp=created_ms, metadata=json.dumps(meta, separators=(",", ":")))
    else:
        row["createdAt"] = created_ms
        if "agentId" in columns:
            row["agentId"] = agent
    return row


def probe_code(seed, index):
    """The unique code word planted in a probe row's text (search for it)."""
    return f"PX-{seed}-{index:06d}"


def plan_specials(n, seed, probes=3, duplicates=0, near_duplicates=0, secrets=0):
    """{row index: special} for a build of n rows: probes evenly spread, the rest placed by the seed."""
    probe_idx = sorted({round(k * (n - 1) / max(probes - 1, 1)) for k in range(probes)}) if n and probes else []
    specials = {i: ("probe",) for i in probe_idx}
    planted = duplicates + near_duplicates + secrets
    if not planted:
        return specials
    if n < len(specials) + 2 * planted + 2:
        raise ValueError(f"n={n} is too small to plant {planted} rows besides {len(specials)} probes")
    rng = random.Random(f"ocmlab-plan:{seed}:{n}")
    pool = [i for i in rng.sample(range(n), min(n, len(specials) + 2 * planted + 8)) if i not in specials]
    for kind, count in (("duplicate", duplicates), ("near_duplicate", near_duplicates)):
        for _pair in range(count):
            a, b = sorted((pool.pop(), pool.pop()))
            specials[b] = (kind, a)
    for _secret in range(secrets):
        specials[pool.pop()] = ("secret",)
    return specials


# --------------------------------------------------------------------------- schema and tables


def arrow_schema(plugin, dims, agent_id=True):
    """pyarrow schema of the plugin's `memories` table, from plugins.table_columns."""
    spec = P.plugin_spec(plugin)
    if not spec or not spec["lancedb"]:
        raise ValueError(f"plugin {plugin!r} has no LanceDB table (known: {', '.join(P.PLUGINS)})")
    types = {"string": pa.string(), "double": pa.float64(), "vector": pa.list_(pa.field("item", pa.float32()), dims)}
    cols = P.table_columns(plugin, optional=("agentId",) if agent_id else ())
    return pa.schema([pa.field(name, types[kind]) for name, kind in cols])


def _lancedb():
    import lancedb  # 1.3 s to import: only when a table is touched

    return lancedb


# lancedb caches every manifest it reads; a writer making thousands of commits (one row per
# commit) grew to ~1 GB RSS at 2,000 commits with the default caches, ~210 MB with these.
CACHE_BYTES = 16 << 20


def connect(db_path, cache_bytes=CACHE_BYTES):
    """lancedb connection with bounded index/metadata caches (None: lancedb's defaults)."""
    lancedb = _lancedb()
    if cache_bytes is None:
        return lancedb.connect(str(db_path))
    session = lancedb.Session(index_cache_size_bytes=cache_bytes, metadata_cache_size_bytes=cache_bytes)
    return lancedb.connect(str(db_path), session=session)


def _schema_row(schema):
    """The plugin's placeholder row: empty strings, zeros, category other, scope global."""
    defaults = {"id": SCHEMA_ROW_ID, "category": "other", "scope": "global", "metadata": "{}"}
    cols = {}
    for field in schema:
        if pa.types.is_fixed_size_list(field.type):
            cols[field.name] = pa.FixedSizeListArray.from_arrays(
                pa.array(np.zeros(field.type.list_size, dtype=np.float32)), field.type.list_size
            ).cast(field.type)
        elif pa.types.is_floating(field.type):
            cols[field.name] = pa.array([0.0], field.type)
        else:
            cols[field.name] = pa.array([defaults.get(field.name, "")], field.type)
    return pa.Table.from_pydict(cols, schema=schema)


def create_memories_table(db_path, plugin, dims, agent_id=True, data_storage_version=None, v1_manifests=False,
                          table_name=P.TABLE):
    """Create the empty table the plugin's way: two commits (insert `__schema__`, delete it).

    `data_storage_version`: "2.0" | "2.1" | "2.2" | "legacy" (0.1) | None
    (the library default, 2.2 here). `v1_manifests`: `_versions/{v}.manifest`
    names as older writers made, instead of the V2 names.
    """
    if data_storage_version is not None and data_storage_version not in DATA_STORAGE_VERSIONS:
        raise ValueError(f"data_storage_version must be one of {DATA_STORAGE_VERSIONS}, got {data_storage_version!r}")
    schema = arrow_schema(plugin, dims, agent_id)
    # lancedb 0.40's create_table(data_storage_version=, enable_v2_manifest_paths=) passes a bool
    # into storage_options and fails: set the documented storage options instead.
    options = {"new_table_enable_v2_manifest_paths": "false" if v1_manifests else "true"}
    if data_storage_version:
        options["new_table_data_storage_version"] = data_storage_version
    os.makedirs(db_path, exist_ok=True)
    db = connect(db_path)
    table = db.create_table(table_name, _schema_row(schema), storage_options=options)
    table.delete(f"id = '{SCHEMA_ROW_ID}'")
    return table


class Tally:
    """What a writer wrote: ids (optional), counts by category/agent/scope, time range, commits."""

    def __init__(self, keep_ids=True):
        self.ids = [] if keep_ids else None
        self.count = 0
        self.commits = 0
        self.by_category = {}
        self.by_agent = {}
        self.by_scope = {}
        self.oldest_ms = None
        self.newest_ms = None

    def add(self, row):
        self.count += 1
        if self.ids is not None:
            self.ids.append(row["id"])
        for bucket, col in ((self.by_category, "category"), (self.by_agent, "agentId"), (self.by_scope, "scope")):
            if col in row:
                bucket[row[col]] = bucket.get(row[col], 0) + 1
        created = row.get("createdAt", row.get("timestamp"))
        self.oldest_ms = created if self.oldest_ms is None else min(self.oldest_ms, created)
        self.newest_ms = created if self.newest_ms is None else max(self.newest_ms, created)

    def as_dict(self):
        out = {k: dict(sorted(getattr(self, k).items())) for k in ("by_category", "by_agent", "by_scope")}
        out.update(count=self.count, commits=self.commits, oldest_ms=self.oldest_ms, newest_ms=self.newest_ms)
        if self.ids is not None:
            out["ids"] = list(self.ids)
        return out


class MemoryWriter:
    """Adds generated memories to an existing `memories` table the way the plugin does.

    The one piece of writing code shared by build_state, add_memories and the
    gateway simulator. Holds the database open. The plugin, dims and the
    agentId column are read from the table itself; a table that does not match
    `plugin` is refused.
    """

    def __init__(self, db_path, plugin, seed=0, *, agents=DEFAULT_AGENTS, scopes=DEFAULT_SCOPES, created=None,
                 specials=None, table_name=P.TABLE, keep_ids=True):
        self.plugin = plugin
        self.seed = _check_seed(seed)
        self.agents = tuple(agents)
        self.scopes = tuple(scopes)
        self.created = created or wall_clock
        self.specials = specials or {}
        self.db = connect(db_path)
        self.table = self.db.open_table(table_name)
        self.schema = self.table.schema
        names = self.schema.names
        base = [c for c, _t in P.table_columns(plugin)]
        optional = [c for c, _t in P.PLUGINS[plugin]["optional_columns"]]
        if names[: len(base)] != base or any(c not in optional for c in names[len(base):]):
            raise ValueError(f"table {table_name!r} in {db_path} has columns {names}, not the {plugin} schema {base}")
        self.columns = names
        self.dims = self.schema.field("vector").type.list_size
        self.tally = Tally(keep_ids=keep_ids)

    def batch(self, start, count):
        """A pyarrow table of rows start..start+count-1 (vectors only for these rows)."""
        rows = []
        vecs = np.empty((count, self.dims), dtype=np.float32)
        for j in range(count):
            i = start + j
            special = self.specials.get(i)
            rows.append(memory_record(self.plugin, self.seed, i, self.created(i), self.columns, self.agents,
                                      self.scopes, special))
            if special and special[0] == "duplicate":
                vecs[j] = memory_vector(self.seed, special[1], self.dims)
            elif special and special[0] == "near_duplicate":
                vecs[j] = near_vector(self.seed, i, self.dims, special[1])
            else:
                vecs[j] = memory_vector(self.seed, i, self.dims)
        arrays = []
        for field in self.schema:
            if field.name == "vector":
                arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1)), self.dims).cast(field.type))
            else:
                arrays.append(pa.array([r[field.name] for r in rows], field.type))
        return pa.Table.from_arrays(arrays, schema=self.schema), rows

    def add(self, start, count, per_commit=1, on_commit=None):
        """Write rows start..start+count-1, `per_commit` rows per commit (1 = the plugin's way)."""
        per_commit = max(1, int(per_commit))
        done = 0
        while done < count:
            k = min(per_commit, count - done)
            data, rows = self.batch(start + done, k)
            self.table.add(data)
            self.tally.commits += 1
            for row in rows:
                self.tally.add(row)
            done += k
            if on_commit:
                on_commit(rows, self.table.version)
        return self.tally

    def next_index(self):
        return self.table.count_rows()


def add_memories(db_path, plugin, n, seed=0, start_index=None, *, per_commit=1, created=None, agents=DEFAULT_AGENTS,
                 scopes=DEFAULT_SCOPES, on_commit=None):
    """Append n generated memories to an existing table, one row per commit by default.

    Row i gets id memory_id(seed, i) and vector memory_vector(seed, i, dims):
    `start_index` None continues after the rows already there (count_rows).
    `created`: callable(index) -> epoch ms; default the wall clock (a live
    gateway). Returns {start_index, count, commits, version, ids, by_*}.
    """
    writer = MemoryWriter(db_path, plugin, seed, agents=agents, scopes=scopes, created=created)
    start = writer.next_index() if start_index is None else int(start_index)
    writer.add(start, n, per_commit=per_commit, on_commit=on_commit)
    out = writer.tally.as_dict()
    out.update(start_index=start, version=writer.table.version)
    return out


# --------------------------------------------------------------------------- JSON5


class SingleQuoted(str):
    """A string written with single quotes in JSON5 output."""


_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def dump_json5(value, comments=None, trailing=None, indent=2):
    """JSON5 text: unquoted identifier keys, trailing commas, `//` comments.

    `comments` maps a key path (tuple) to a comment line written above that
    member; `trailing` maps a key path to a comment written after it.
    """
    comments = comments or {}
    trailing = trailing or {}
    out = []

    def scalar(v):
        if isinstance(v, SingleQuoted):
            return "'" + json.dumps(str(v), ensure_ascii=False)[1:-1].replace('\\"', '"').replace("'", "\\'") + "'"
        return json.dumps(v, ensure_ascii=False)

    def key(k):
        return k if _IDENT.match(k) else json.dumps(k)

    def emit(v, path, depth):
        pad = " " * (indent * (depth + 1))
        if isinstance(v, dict):
            if not v:
                return "{}"
            lines = ["{"]
            for k, item in v.items():
                p = path + (k,)
                if p in comments:
                    lines.append(f"{pad}// {comments[p]}")
                tail = f" // {trailing[p]}" if p in trailing else ""
                lines.append(f"{pad}{key(k)}: {emit(item, p, depth + 1)},{tail}")
            lines.append(" " * (indent * depth) + "}")
            return "\n".join(lines)
        if isinstance(v, (list, tuple)):
            if not v:
                return "[]"
            lines = ["["] + [f"{pad}{emit(item, path + (i,), depth + 1)}," for i, item in enumerate(v)]
            lines.append(" " * (indent * depth) + "]")
            return "\n".join(lines)
        return scalar(v)

    out.append(emit(value, (), 0))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- config, secrets, package


def _embedding_config(plugin, dims, embedding):
    spec = P.PLUGINS[plugin]
    emb = dict(embedding or {})
    defaults = spec["embedding_defaults"]
    emb.setdefault("provider", defaults["provider"] or "openai")
    emb.setdefault("model", defaults["model"] or "text-embedding-3-small")
    emb.setdefault("apiKey", f"${{{API_KEY_ENV}}}")
    if spec["base_url_key"]:
        emb.setdefault(spec["base_url_key"], "https://api.openai.com/v1")
    if "dimensions" not in emb and (plugin == P.MEMORY_LANCEDB_PRO or P.embedding_dimensions(emb["model"]) != dims):
        emb["dimensions"] = dims
    order = ("provider", "model", "dimensions", "apiKey", spec["base_url_key"])
    return {k: emb[k] for k in order if k in emb} | {k: v for k, v in emb.items() if k not in order}


def _scopes_config(scopes, agents):
    return {
        "default": scopes[0],
        "definitions": {s: {"description": f"memories in {s}"} for s in scopes},
        "agentAccess": {a: [s for s in scopes if not s.startswith("agent:") or s == f"agent:{a}"] for a in agents},
    }


def openclaw_config(plugin, *, embedding=None, db_path_cfg=None, agents=DEFAULT_AGENTS, scopes=None,
                    workspace_cfg="~/.openclaw/workspace"):
    """(config dict, comments, trailing comments) of an openclaw.json selecting `plugin`."""
    plugin_cfg = {}
    if P.PLUGINS[plugin]["lancedb"]:
        plugin_cfg["embedding"] = embedding
        if db_path_cfg:
            plugin_cfg["dbPath"] = db_path_cfg
        plugin_cfg["autoCapture"] = True
        plugin_cfg["autoRecall"] = True
        if plugin == P.MEMORY_LANCEDB:
            plugin_cfg["recallMaxChars"] = 2000
        if plugin == P.MEMORY_LANCEDB_PRO and scopes:
            plugin_cfg["scopes"] = _scopes_config(scopes, agents)
    cfg = {
        "meta": {"lastTouchedVersion": SingleQuoted(OPENCLAW_VERSION)},
        "agents": {
            "defaults": {"workspace": workspace_cfg, "model": {"primary": "openai/gpt-5.1"}},
            "list": [{"id": a, "default": i == 0} for i, a in enumerate(agents)],
        },
        "gateway": {"mode": "local", "port": 18789, "bind": "loopback"},
        "plugins": {
            "slots": {"memory": plugin},
            "entries": {plugin: {"enabled": True, "config": plugin_cfg}},
        },
    }
    comments = {
        ("agents",): "Agents and where their Markdown memory lives.",
        ("plugins",): "Memory: exactly one plugin owns the memory slot.",
        ("plugins", "entries"): "Per-plugin settings: {enabled, config}.",
    }
    trailing = {("plugins", "slots", "memory"): "owner of long-term memory", ("gateway", "port"): "default port"}
    if P.PLUGINS[plugin]["lancedb"]:
        trailing[("plugins", "entries", plugin, "config", "embedding", "apiKey")] = f"from .env ({API_KEY_ENV})"
    return cfg, comments, trailing


def fake_secret(seed):
    return "sk-ocmlab-FAKE-" + hashlib.sha256(f"ocmlab-secret:{seed}".encode()).hexdigest()[:32]


def _write(path, text, mode=0o644):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)


def _write_json(path, obj):
    _write(path, json.dumps(obj, indent=2) + "\n")


def write_plugin_package(state_dir, plugin, version=None, client_version=DEFAULT_CLIENT_VERSION, made=None):
    """Install-dir files of a lancedb plugin: package.json, openclaw.plugin.json, the client's package.json."""
    version = version or DEFAULT_PLUGIN_VERSIONS[plugin]
    pkg_path = P.package_json_path(state_dir, plugin)
    client_path = P.client_package_json_path(state_dir, plugin)
    plugin_dir = os.path.dirname(pkg_path)
    _makedirs(os.path.dirname(client_path), made)
    _write_json(pkg_path, {
        "name": P.PACKAGE_NAMES[plugin],
        "version": version,
        "description": f"OpenClaw long-term memory plugin ({plugin}), ocmlab fixture",
        "type": "module",
        "openclaw": {"extensions": ["./index.ts"]},
        "dependencies": {P.LANCEDB_CLIENT_PACKAGE: f"^{client_version}", "openai": "^5.23.0"},
    })
    _write_json(os.path.join(plugin_dir, "openclaw.plugin.json"), {
        "id": plugin, "kind": "memory", "configSchema": {"type": "object", "additionalProperties": True},
    })
    _write_json(client_path, {"name": P.LANCEDB_CLIENT_PACKAGE, "version": client_version})
    return pkg_path, client_path


# --------------------------------------------------------------------------- workspace


def _day(ms):
    return datetime.datetime.fromtimestamp(ms / 1000.0, tz=datetime.timezone.utc)


_HEADINGS = (("preference", "Preferences"), ("decision", "Decisions"), ("entity", "People and things"),
             ("fact", "Facts"), ("other", "Other"), ("reflection", "Reflections"))


def _memory_md(items):
    lines = ["# MEMORY.md", "", "Long-term memory curated by the agent. Daily notes live in `memory/`.", ""]
    for cat, title in _HEADINGS:
        picked = [r["text"] for r in items if r["category"] == cat]
        if picked:
            lines += [f"## {title}", ""] + [f"- {t}" for t in picked] + [""]
    return "\n".join(lines)


def _daily_note(date, items):
    d = datetime.date.fromisoformat(date)
    lines = [f"# {date} ({d.strftime('%A')})", "", "## Log", ""]
    for r in sorted(items, key=lambda r: r["_ms"]):
        lines.append(f"- {_day(r['_ms']).strftime('%H:%M')} [{r['category']}] {r['text']}")
    return "\n".join(lines) + "\n"


def write_workspace(workspace, plugin, seed, n, created, specials, columns, agents=DEFAULT_AGENTS,
                    scopes=DEFAULT_SCOPES, notes_days=10, per_note=6, made=None):
    """MEMORY.md, USER.md and daily notes. For memory-core every one of the n memories is written
    once (curated ones in MEMORY.md, the rest in their day's note); for the lancedb plugins the
    workspace is a bounded sample (recent days, top memories) of the table's rows."""
    mem_dir = os.path.join(workspace, "memory")
    _makedirs(mem_dir, made)

    def rec(i):
        r = memory_record(plugin, seed, i, created(i), columns, agents, scopes, specials.get(i))
        r["_ms"] = created(i)
        r["_index"] = i
        return r

    curated, days = [], {}
    if plugin == P.MEMORY_CORE:
        for i in range(n):
            r = rec(i)
            if r["category"] in ("preference", "decision", "entity") and r["importance"] >= 0.75:
                curated.append(r)
            else:
                days.setdefault(_day(r["_ms"]).date().isoformat(), []).append(r)
    else:
        for i in range(min(n, 2000)):
            r = rec(i)
            if r["importance"] >= 0.85 and sum(c["category"] == r["category"] for c in curated) < 5:
                curated.append(r)
        for i in range(n - 1, max(-1, n - 1 - 3000), -1):
            r = rec(i)
            date = _day(r["_ms"]).date().isoformat()
            if date not in days and len(days) >= notes_days:
                break
            bucket = days.setdefault(date, [])
            if len(bucket) < per_note:
                bucket.append(r)
    _write(os.path.join(workspace, "MEMORY.md"), _memory_md(curated))
    _write(os.path.join(workspace, "USER.md"), "# USER.md\n\n- Name: Dana\n- Timezone: Europe/Berlin\n"
           "- Prefers: short answers, metric units\n")
    notes = []
    for date in sorted(days):
        name = f"{date}.md"
        _write(os.path.join(mem_dir, name), _daily_note(date, days[date]))
        notes.append(name)
    where = {r["_index"]: "MEMORY.md" for r in curated}
    for date, items in days.items():
        where.update({r["_index"]: f"memory/{date}.md" for r in items})
    return {
        "path": workspace,
        "memory_md": os.path.join(workspace, "MEMORY.md"),
        "daily_notes": notes,
        "memory_md_entries": len(curated),
        "daily_note_entries": sum(len(v) for v in days.values()),
        "files": 2 + len(notes),
        "_where": where,
    }


# --------------------------------------------------------------------------- build_state


def _makedirs(path, made=None):
    """os.makedirs, recording in `made` the top-most directory it created."""
    path = os.path.abspath(path)
    top, p = None, path
    while not os.path.exists(p):
        top, p = p, os.path.dirname(p)
    os.makedirs(path, exist_ok=True)
    if top and made is not None:
        made.add(top)


def _chown_tree(path, uid, gid):
    os.chown(path, uid, gid, follow_symlinks=False)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


def tree_size(path):
    """(bytes, files) under path."""
    total = files = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            total += os.lstat(os.path.join(root, name)).st_size
            files += 1
    return total, files


def resolve_db_path(home, state_dir, plugin, db_path=None):
    """(path on disk, value for config or None). None: the plugin default, resolved from home.
    "~/..." resolves against home; a relative path against the plugin install dir, like the plugin."""
    if db_path is None:
        return P.PLUGINS[plugin]["default_db_path"].replace("~", home, 1), None
    db_path = str(db_path)
    if db_path.startswith("~"):
        return home + db_path[1:], db_path
    if not os.path.isabs(db_path):
        return os.path.normpath(os.path.join(os.path.dirname(P.package_json_path(state_dir, plugin)), db_path)), db_path
    return db_path, db_path


def build_state(home, plugin=P.MEMORY_LANCEDB, n=50, dims=DEFAULT_DIMS, seed=0, agent_id=True, mode="plugin",
                workspace=True, state_dir_name=".openclaw", db_path=None, embedding=None, scopes=None,
                extra_tables=None, *, agents=DEFAULT_AGENTS, batch_size=1000, tail=0, probes=3, duplicates=0,
                near_duplicates=0, secrets=0, data_storage_version=None, v1_manifests=False, uid=None, gid=None,
                plugin_version=None, client_version=DEFAULT_CLIENT_VERSION, end_ms=DEFAULT_END_MS,
                span_days=DEFAULT_SPAN_DAYS, keep_ids=True, on_commit=None):
    """Build an OpenClaw state dir under `home` and return what was built (JSON-serialisable dict).

    plugin: memory-lancedb | memory-lancedb-pro | memory-core (workspace only).
    n memories at `dims` dims; `agent_id` adds memory-lancedb's agentId column
    (values from `agents`); `scopes` (pro) the scope values, first = default.
    mode "plugin": one row per commit; "batched": `batch_size` rows per commit,
    then the last `tail` rows one per commit. db_path None: the plugin default
    under home (NB: for a legacy state_dir_name that still creates
    ~/.openclaw/memory/..., as the plugin would; pass db_path to avoid it).
    extra_tables: {name: rows} or names (3 rows each), same schema, one commit.
    probes/duplicates/near_duplicates/secrets: planted rows (see plan_specials).
    uid/gid: chown everything created. Raises FileExistsError if the table exists.
    """
    t0 = time.monotonic()
    _check_seed(seed)
    spec = P.plugin_spec(plugin)
    if spec is None:
        raise ValueError(f"unknown plugin {plugin!r} (known: {', '.join(P.PLUGINS)})")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if n < 0 or dims < 1:
        raise ValueError("n must be >= 0 and dims >= 1")
    agents = tuple(agents)
    scopes = tuple(scopes) if scopes else (DEFAULT_SCOPES if plugin == P.MEMORY_LANCEDB_PRO else ())
    home = os.path.abspath(str(home))
    made = set()
    state_dir = os.path.join(home, state_dir_name)
    _makedirs(state_dir, made)
    os.chmod(state_dir, 0o700)
    created = schedule(n, end_ms, span_days, seed)
    specials = plan_specials(n, seed, probes, duplicates, near_duplicates, secrets)
    result = {
        "home": home, "state_dir": state_dir, "plugin": plugin, "n": n, "dims": dims, "seed": seed, "mode": mode,
        "agents": list(agents), "scopes": list(scopes) if plugin == P.MEMORY_LANCEDB_PRO else None,
        "api_key_env": API_KEY_ENV, "secret": fake_secret(seed),
        "db_path": None, "table_path": None, "columns": None, "agent_id": None, "embedding": None,
        "package_json": None, "plugin_version": None, "client_package_json": None, "client_version": None,
        "version": None, "commits": 0, "data_storage_version": None, "manifest_naming": None,
        "extra_tables": {}, "workspace": None, "db_bytes": None, "db_files": None,
    }

    # Config and secrets.
    ws_path = os.path.join(state_dir, "workspace")
    ws_cfg = "~/" + os.path.relpath(ws_path, home) if ws_path.startswith(home + os.sep) else ws_path
    emb = None
    db_disk = db_cfg = None
    if spec["lancedb"]:
        emb = _embedding_config(plugin, dims, embedding)
        db_disk, db_cfg = resolve_db_path(home, state_dir, plugin, db_path)
    cfg, comments, trailing = openclaw_config(plugin, embedding=emb, db_path_cfg=db_cfg, agents=agents,
                                              scopes=scopes, workspace_cfg=ws_cfg)
    header = (f"// {P.CONFIG_NAMES[0]}: OpenClaw configuration (JSON5).\n"
              f"// Made by ocmlab.fixtures (plugin {plugin}, seed {seed}) for tests; not a real install.\n"
              f"/* Secrets stay in .env: \"${{{API_KEY_ENV}}}\" is substituted when the gateway loads this. */\n")
    config_path = os.path.join(state_dir, P.CONFIG_NAMES[0])
    _write(config_path, header + dump_json5(cfg, comments, trailing), 0o600)
    env_path = os.path.join(state_dir, ".env")
    _write(env_path, f"# OpenClaw secrets (ocmlab fixture, fake)\n{API_KEY_ENV}={fake_secret(seed)}\n", 0o600)
    result.update(config_path=config_path, env_path=env_path)

    # Plugin package and the table.
    if spec["lancedb"]:
        pkg, client_pkg = write_plugin_package(state_dir, plugin, plugin_version, client_version, made)
        result.update(package_json=pkg, plugin_version=plugin_version or DEFAULT_PLUGIN_VERSIONS[plugin],
                      client_package_json=client_pkg, client_version=client_version)
        table_path = os.path.join(db_disk, P.TABLE + ".lance")
        if os.path.exists(table_path):
            raise FileExistsError(f"{table_path} already exists; build_state only makes new tables")
        _makedirs(db_disk, made)
        create_memories_table(db_disk, plugin, dims, agent_id, data_storage_version, v1_manifests)
        writer = MemoryWriter(db_disk, plugin, seed, agents=agents, scopes=scopes or DEFAULT_SCOPES, created=created,
                              specials=specials, keep_ids=keep_ids)
        if mode == "plugin":
            writer.add(0, n, 1, on_commit)
        else:
            bulk = max(0, n - max(0, int(tail)))
            writer.add(0, bulk, batch_size, on_commit)
            writer.add(bulk, n - bulk, 1, on_commit)
        result.update(writer.tally.as_dict())
        import lance

        ds = lance.dataset(table_path)
        result.update(db_path=db_disk, table_path=table_path, columns=writer.columns, version=ds.version,
                      agent_id="agentId" in writer.columns, embedding={k: v for k, v in emb.items() if k != "apiKey"},
                      data_storage_version=ds.data_storage_version,
                      manifest_naming="v1" if v1_manifests else "v2")
        extra = extra_tables if isinstance(extra_tables, dict) else {t: 3 for t in (extra_tables or ())}
        for k, (name, rows) in enumerate(sorted(extra.items())):
            create_memories_table(db_disk, plugin, dims, agent_id, data_storage_version, v1_manifests, name)
            MemoryWriter(db_disk, plugin, seed + 1000 + k, agents=agents, scopes=scopes or DEFAULT_SCOPES,
                         created=created, table_name=name, keep_ids=False).add(0, rows, max(rows, 1))
            result["extra_tables"][name] = rows
        result["db_bytes"], result["db_files"] = tree_size(db_disk)
    else:
        result.update(count=n, commits=0, by_category={}, by_agent={}, by_scope={})

    # Workspace (memory-core: the memories themselves).
    where = {}
    if workspace or plugin == P.MEMORY_CORE:
        columns = writer.columns if spec["lancedb"] else ("id", "text", "category", "importance")
        ws = write_workspace(ws_path, plugin, seed, n, created, specials, columns, agents, scopes or DEFAULT_SCOPES,
                             made=made)
        where = ws.pop("_where")
        result["workspace"] = ws
        if plugin == P.MEMORY_CORE:
            tally = Tally(keep_ids=keep_ids)
            for i in range(n):
                tally.add(dict(memory_record(plugin, seed, i, created(i), columns, agents, (), specials.get(i)),
                               createdAt=created(i)))
            result.update({k: v for k, v in tally.as_dict().items() if k != "commits"})

    # Probes and planted rows.
    cols = result["columns"] or ("id", "text", "category", "importance")
    result["probes"] = []
    result["planted"] = {"duplicates": [], "near_duplicates": [], "secrets": []}
    for i, sp in sorted(specials.items()):
        r = memory_record(plugin, seed, i, created(i), cols, agents, scopes or DEFAULT_SCOPES, sp)
        if sp[0] == "probe":
            item = {k: r[k] for k in ("id", "text", "category", "importance") if k in r}
            item.update(index=i, code=probe_code(seed, i), created_ms=created(i))
            for k in ("agentId", "scope"):
                if k in r:
                    item[k] = r[k]
            if plugin == P.MEMORY_CORE:
                item["file"] = where.get(i)
            result["probes"].append(item)
        elif sp[0] == "secret":
            result["planted"]["secrets"].append(r["id"])
        else:
            result["planted"][sp[0] + "s"].append({"id": r["id"], "of": memory_id(seed, sp[1])})

    if uid is not None or gid is not None:
        u = -1 if uid is None else uid
        g = -1 if gid is None else gid
        for top in made | {state_dir} | ({db_disk} if db_disk else set()):
            _chown_tree(top, u, g)
    result["chowned"] = uid is not None or gid is not None
    result["elapsed_s"] = round(time.monotonic() - t0, 3)
    return result


# --------------------------------------------------------------------------- CLI


def _owner(name):
    import pwd

    pw = pwd.getpwnam(name)
    return pw.pw_uid, pw.pw_gid


def _extra(values):
    out = {}
    for v in values or ():
        name, _sep, rows = v.partition("=")
        out[name] = int(rows) if rows else 3
    return out


def _csv(value):
    return tuple(x.strip() for x in value.split(",") if x.strip())


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m ocmlab.fixtures", description=__doc__.split("\n", maxsplit=1)[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build an OpenClaw state dir under --home")
    b.add_argument("--home", required=True, help="home dir of the OpenClaw user (created if missing)")
    b.add_argument("--plugin", default=P.MEMORY_LANCEDB, choices=sorted(P.PLUGINS))
    b.add_argument("-n", "--n", type=int, default=50, help="memories (default 50)")
    b.add_argument("--dims", type=int, default=DEFAULT_DIMS)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--no-agent-id", dest="agent_id", action="store_false", help="memory-lancedb before 2026-07")
    b.add_argument("--agents", type=_csv, default=DEFAULT_AGENTS, help="comma-separated agent ids (default main)")
    b.add_argument("--scopes", type=_csv, default=None, help="pro: comma-separated scopes, first is the default")
    b.add_argument("--mode", choices=MODES, default="plugin")
    b.add_argument("--batch-size", type=int, default=1000, help="rows per commit in batched mode")
    b.add_argument("--tail", type=int, default=0, help="batched: write the last K rows one per commit")
    b.add_argument("--no-workspace", dest="workspace", action="store_false")
    b.add_argument("--state-dir-name", default=".openclaw")
    b.add_argument("--db-path", default=None, help="dbPath (absolute, ~/..., or relative to the plugin dir)")
    b.add_argument("--provider", default=None)
    b.add_argument("--model", default=None)
    b.add_argument("--embedding-dimensions", type=int, default=None, help="write embedding.dimensions")
    b.add_argument("--extra-table", action="append", metavar="NAME[=ROWS]", help="another table in the same db")
    b.add_argument("--probes", type=int, default=3)
    b.add_argument("--duplicates", type=int, default=0, help="plant exact duplicates (same text and vector)")
    b.add_argument("--near-duplicates", type=int, default=0, help="plant near duplicates (cosine ~0.995)")
    b.add_argument("--secrets", type=int, default=0, help="plant memories holding an IP and key-like strings")
    b.add_argument("--data-storage-version", choices=DATA_STORAGE_VERSIONS, default=None)
    b.add_argument("--v1-manifests", action="store_true", help="_versions/{v}.manifest names (older writers)")
    b.add_argument("--plugin-version", default=None)
    b.add_argument("--client-version", default=DEFAULT_CLIENT_VERSION, help="@lancedb/lancedb version recorded")
    b.add_argument("--owner", default=None, help="chown everything created to this user and its group")
    b.add_argument("--uid", type=int, default=None)
    b.add_argument("--gid", type=int, default=None)
    b.add_argument("--with-ids", action="store_true", help="include every id in the JSON output")
    a = sub.add_parser("add", help="append memories to an existing table, one row per commit")
    a.add_argument("--db", required=True, help="database dir (holds memories.lance)")
    a.add_argument("--plugin", default=P.MEMORY_LANCEDB, choices=[p for p, s in P.PLUGINS.items() if s["lancedb"]])
    a.add_argument("-n", "--n", type=int, default=1)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--start-index", type=int, default=None, help="default: after the rows already there")
    a.add_argument("--per-commit", type=int, default=1)
    a.add_argument("--with-ids", action="store_true")
    args = ap.parse_args(argv)

    if args.cmd == "add":
        out = add_memories(args.db, args.plugin, args.n, args.seed, args.start_index, per_commit=args.per_commit)
    else:
        uid, gid = (_owner(args.owner) if args.owner else (args.uid, args.gid))
        emb = {k: v for k, v in (("provider", args.provider), ("model", args.model),
                                 ("dimensions", args.embedding_dimensions)) if v is not None}
        out = build_state(
            args.home, args.plugin, args.n, args.dims, args.seed, args.agent_id, args.mode, args.workspace,
            args.state_dir_name, args.db_path, emb or None, args.scopes, _extra(args.extra_table),
            agents=args.agents, batch_size=args.batch_size, tail=args.tail, probes=args.probes,
            duplicates=args.duplicates, near_duplicates=args.near_duplicates, secrets=args.secrets,
            data_storage_version=args.data_storage_version, v1_manifests=args.v1_manifests, uid=uid, gid=gid,
            plugin_version=args.plugin_version, client_version=args.client_version, keep_ids=args.with_ids,
        )
    if not args.with_ids:
        out.pop("ids", None)
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
