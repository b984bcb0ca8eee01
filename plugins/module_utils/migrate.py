# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The decisions of playbooks/migrate.yml as plain functions (stdlib only).

Which new host takes over from which old host, whether a pair may be migrated
(the guide's checklist: same plugin, embedding model, scopes, versions, room
on the new host), what a pair's evidence file holds and what the report says.
The playbook calls these through the filters in plugins/filter/migrate.py;
the tests call them directly.
"""

from __future__ import annotations

import json
import re

from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError

EMBEDDING_FIELDS = ("provider", "model", "dimensions")
EVIDENCE_FORMAT = "openclaw.memory/migration-evidence-v1"
REPORT_FORMAT = "openclaw.memory/migration-report-v1"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

# Which Lance data storage versions a pylance release reads (lance-facts.md:
# 0.16 reads only 2.0; 0.38 reads up to 2.1; 9.x and later read 2.0-2.2).
# "0.1" is the legacy format every release reads.
_PYLANCE_READS = (
    ((0, 17), ("0.1", "legacy", "2.0")),
    ((9,), ("0.1", "legacy", "2.0", "2.1")),
    (None, ("0.1", "legacy", "2.0", "2.1", "2.2")),
)


# --------------------------------------------------------------------------- pairing


def pair_name(old, new):
    """File-name-safe name of a pair: `<old>-to-<new>`."""
    return _UNSAFE.sub("_", "%s-to-%s" % (old, new))


def pair_hosts(old_hosts, new_hosts, explicit=None):
    """Pair every new host with the old host it takes over from.

    `explicit` maps a new host to its `openclaw_migrate_from` (None or absent:
    the n-th new host pairs with the n-th old host, in inventory order).
    Returns [{name, old, new}] in the order of `new_hosts`. Old hosts nobody
    pairs with are left out (they are not migrated). Raises MemoryToolError
    naming the host and the fix for an unknown old host, a new host without
    a partner, or two new hosts taking over the same old host.
    """
    old_hosts = list(old_hosts or [])
    new_hosts = list(new_hosts or [])
    explicit = explicit or {}
    if not new_hosts:
        raise MemoryToolError("Inventory group 'openclaw_new' is empty: add the hosts that take over the memories")
    if not old_hosts:
        raise MemoryToolError("Inventory group 'openclaw_old' is empty: add the hosts the memories move from")
    overlap = sorted(set(old_hosts) & set(new_hosts))
    if overlap:
        raise MemoryToolError(
            "Host(s) %s are in both 'openclaw_old' and 'openclaw_new': a host cannot migrate to itself"
            % ", ".join(overlap)
        )
    pairs = []
    taken = {}
    for index, new in enumerate(new_hosts):
        old = explicit.get(new)
        if old:
            if old not in old_hosts:
                raise MemoryToolError(
                    "openclaw_migrate_from=%s on new host %s names no host of group 'openclaw_old' (%s); "
                    "fix openclaw_migrate_from or add %s to openclaw_old" % (old, new, ", ".join(old_hosts), old)
                )
        else:
            if index >= len(old_hosts):
                raise MemoryToolError(
                    "New host %s is number %d in 'openclaw_new' but 'openclaw_old' has only %d host(s): set "
                    "openclaw_migrate_from on %s or remove it from openclaw_new" % (new, index + 1, len(old_hosts), new)
                )
            old = old_hosts[index]
        if old in taken:
            raise MemoryToolError(
                "New hosts %s and %s both take over old host %s: one old host moves to one new host; set "
                "openclaw_migrate_from on one of them to another old host" % (taken[old], new, old)
            )
        taken[old] = new
        pairs.append({"name": pair_name(old, new), "old": old, "new": new})
    return pairs


def pair_of(pairs, host):
    """The pair `host` belongs to, with its `role` ('old' or 'new') and `partner`, else None."""
    for pair in pairs or []:
        if host == pair["old"]:
            return dict(pair, role="old", partner=pair["new"])
        if host == pair["new"]:
            return dict(pair, role="new", partner=pair["old"])
    return None


# --------------------------------------------------------------------------- preflight


def version_tuple(text):
    """(2026, 9, 6) for '2026.9.6'; leading digits of each dot part; None when there are none."""
    if text is None:
        return None
    parts = []
    for part in str(text).strip().lstrip("vV").split("."):
        m = re.match(r"\d+", part)
        if not m:
            break
        parts.append(int(m.group(0)))
    return tuple(parts) or None


def pylance_reads(version):
    """Data storage versions a pylance release reads, or None when its version is unknown."""
    v = version_tuple(version)
    if v is None:
        return None
    for below, formats in _PYLANCE_READS:
        if below is None or v < below:
            return formats
    return None  # not reached


def _storage_versions(facts):
    out = set()
    for entry in (facts.get("tables") or {}).values():
        dsv = (entry or {}).get("data_storage_version")
        if dsv:
            out.add(str(dsv))
    return sorted(out)


def _show(value):
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else repr(value)


METHODS = ("auto", "snapshot", "export")
STORAGE_VERSIONS = ("legacy", "0.1", "2.0", "2.1", "2.2")


def _check_method(requested, storage_version):
    """`requested` as a string (default auto); raises MemoryToolError naming the variable when either is unknown."""
    requested = str(requested or "auto")
    if requested not in METHODS:
        raise MemoryToolError("openclaw_migrate_method '%s' is not one of %s" % (requested, ", ".join(METHODS)))
    if storage_version not in (None, "") and str(storage_version) not in STORAGE_VERSIONS:
        raise MemoryToolError("openclaw_migrate_storage_version '%s' is not one of %s (the Lance data storage version "
                              "the export method imports into)" % (storage_version, ", ".join(STORAGE_VERSIONS)))
    return requested


def migration_method(old, new, requested="auto", storage_version=None):
    """How a pair moves: {method, reason, storage_version}.

    `snapshot` copies the Lance files (fast, incremental, needs the new host's
    Lance to read the old data storage versions). `export` exports the table
    to Parquet on the old host and imports it on the new host into
    `storage_version` (default: the newest format the new host's pylance reads;
    an older plugin client may need an older one, e.g. "2.0"). `auto` takes
    `snapshot` unless the new host's pylance cannot read a format of the old
    tables, and says so. Raises MemoryToolError naming a bad value and the fix.
    """
    requested = _check_method(requested, storage_version)
    formats = _storage_versions(old or {})
    pylance = ((new or {}).get("libs") or {}).get("pylance")
    reads = pylance_reads(pylance) or ()
    unreadable = [f for f in formats if f not in reads]
    if requested == "snapshot" or (requested == "auto" and not unreadable):
        return {"method": "snapshot", "storage_version": None,
                "reason": "requested" if requested == "snapshot" else
                "the new host's Lance (pylance %s) reads the old tables' data storage version(s) %s"
                % (pylance, ", ".join(formats) or "(none)")}
    target = str(storage_version) if storage_version not in (None, "") else next(
        (v for v in ("2.2", "2.1", "2.0") if v in reads), None)
    if requested == "export":
        reason = "requested"
    else:
        reason = ("the new host's Lance (pylance %s) cannot read data storage version %s of the old tables: "
                  "export/import into %s instead of copying files" % (pylance, ", ".join(unreadable), target))
    return {"method": "export", "storage_version": target, "reason": reason}


# The play's settings (openclaw_migrate_cfg key -> the variable it comes from, the default as an example).
PATH_SETTINGS = (
    ("snapshot_dir", "openclaw_migrate_snapshot_dir", "/var/backups/openclaw-memory/migrate"),
    ("incoming_dir", "openclaw_migrate_incoming_dir", "/var/lib/openclaw-memory/incoming"),
    ("evidence_dir", "openclaw_migrate_evidence_dir", "/var/lib/openclaw-memory"),
)
CHECK_SETTINGS = (("verify_checks", "openclaw_migrate_verify_checks"),
                  ("cutover_checks", "openclaw_migrate_cutover_checks"))
TRANSFER_METHODS = ("direct", "via_controller")  # roles/transfer/meta/argument_specs.yml


def _check_names(var, value, allowed):
    """A message when `value` (a list, or a comma-separated string as a module's list option takes it) holds a
    name not in `allowed`, else None."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        return "%s must be a list of checks from %s, got %s; fix %s" % (var, ", ".join(allowed), _show(value), var)
    unknown = [str(v) for v in value if v not in allowed]
    if unknown:
        return "%s has unknown check(s) %s; choose from %s (fix %s)" % (
            var, ", ".join(unknown), ", ".join(allowed), var)
    return None


def settings_problems(cfg, paths=None):
    """What is wrong with one host's migration settings (`openclaw_migrate_cfg` of migrate.yml).

    Checked in the preflight, before anything is installed, stopped or
    written, as the modules that use them later would (some only inside the
    downtime window): the `expect` keys and values (lance_verify's own check),
    the check names (what the restore accepts), the method, the transfer
    method, and that every directory is an absolute path. `paths`: more path
    variables the play passes on ({variable: value}, None = not set). Returns
    messages naming the variable, the value and the fix; empty when all is well.
    """
    # Imported here: verify and restore pull in pylance and pyarrow (~0.5 s), and every Ansible worker that templates
    # one of this collection's filters imports this file.
    from ansible_collections.openclaw.memory.plugins.module_utils.restore import ALL_CHECKS
    from ansible_collections.openclaw.memory.plugins.module_utils.verify import build_expect

    cfg = cfg or {}
    problems = []
    named = [(cfg.get(key), var, example) for key, var, example in PATH_SETTINGS]
    named += [(value, var, None) for var, value in sorted((paths or {}).items()) if value is not None]
    for value, var, example in named:
        if not isinstance(value, str) or not value.startswith("/"):
            problems.append("%s %s is not an absolute path (a relative one lands below the remote user's home); set "
                            "%s to an absolute path%s" % (var, _show(value), var,
                                                          " such as %s" % example if example else ""))
    for key, var in CHECK_SETTINGS:
        problem = _check_names(var, cfg.get(key), ALL_CHECKS)
        if problem:
            problems.append(problem)
    try:
        build_expect(cfg.get("expect"))
    except MemoryToolError as e:
        # lance_verify's messages name its option `expect` first: name the variable it comes from instead.
        problems.append("%s (fix openclaw_migrate_expect)" % re.sub(r"^expect\b", "openclaw_migrate_expect", e.msg))
    try:
        _check_method(cfg.get("method"), cfg.get("storage_version"))
    except MemoryToolError as e:
        problems.append(e.msg)
    transfer = cfg.get("transfer_method", "direct")
    if transfer not in TRANSFER_METHODS:
        problems.append("openclaw_migrate_transfer_method %s is not one of %s"
                        % (_show(transfer), ", ".join(TRANSFER_METHODS)))
    return problems


def preflight_problems(pair, old, new, allow_plugin_upgrade=False, free_bytes=None, space_factor=2, method="auto",
                       storage_version=None):
    """What forbids migrating `pair` (its old host's facts `old` to its new host's facts `new`).

    Returns a list of messages, each naming the pair, the field and both
    values; empty when the pair may go ahead. `free_bytes`: bytes free on the
    new host where snapshots are received and the database is staged (the
    smaller of the two filesystems); checked against `space_factor` times
    what the old database's latest versions reference.
    """
    name = pair["name"] if isinstance(pair, dict) else str(pair)
    old_host = pair.get("old", "old") if isinstance(pair, dict) else "old"
    new_host = pair.get("new", "new") if isinstance(pair, dict) else "new"
    problems = []

    def differ(field, a, b, fix):
        problems.append("pair %s: %s differs: %s has %s, %s has %s; %s"
                        % (name, field, old_host, _show(a), new_host, _show(b), fix))

    if not old:
        return ["pair %s: no facts from old host %s (it failed or was unreachable before preflight)" % (name, old_host)]
    if not new:
        return ["pair %s: no facts from new host %s (it failed or was unreachable before preflight)" % (name, new_host)]
    if not old.get("db_exists") or "memories" not in (old.get("tables") or {}):
        problems.append(
            "pair %s: no memory database found on old host %s at %s (db_exists=%s); set openclaw_memory_db_path "
            "or the plugin's dbPath, or remove %s from openclaw_old" % (
                name, old_host, _show(old.get("db_path")), _show(old.get("db_exists")), old_host)
        )
    if old.get("plugin") != new.get("plugin"):
        differ("plugin", old.get("plugin"), new.get("plugin"),
               "install and select the same memory plugin (plugins.slots.memory) on the new host")
    old_emb = old.get("embedding") or {}
    new_emb = new.get("embedding") or {}
    for field in EMBEDDING_FIELDS:
        if old_emb.get(field) != new_emb.get(field):
            differ("embedding.%s" % field, old_emb.get(field), new_emb.get(field),
                   "stored vectors only match the model that made them: configure the same embedding on the new host")
    if (old.get("scopes") or None) != (new.get("scopes") or None):
        differ("scopes", old.get("scopes"), new.get("scopes"),
               "memories in scopes the new host does not grant become invisible: copy the scopes config")
    ov, nv = old.get("plugin_version"), new.get("plugin_version")
    if ov != nv:
        if not allow_plugin_upgrade:
            differ("plugin_version", ov, nv,
                   "install the same plugin version on the new host, or set openclaw_migrate_allow_plugin_upgrade: "
                   "true if the newer plugin can open the older database")
        elif version_tuple(ov) is None or version_tuple(nv) is None or version_tuple(nv) < version_tuple(ov):
            differ("plugin_version", ov, nv,
                   "openclaw_migrate_allow_plugin_upgrade allows only a newer plugin on the new host, never a "
                   "downgrade or an unknown version")
    # The gateway's own client must not be older than the one that wrote the data.
    oc, nc = old.get("plugin_lancedb_version"), new.get("plugin_lancedb_version")
    if version_tuple(oc) and version_tuple(nc) and version_tuple(nc) < version_tuple(oc):
        differ("plugin_lancedb_version (@lancedb/lancedb)", oc, nc,
               "an older Lance client may not read files a newer one wrote: install the plugin's client version "
               "of the old host or newer")
    formats = _storage_versions(old)
    reads = pylance_reads((new.get("libs") or {}).get("pylance"))
    if formats and reads is None:
        problems.append("pair %s: new host %s has no usable pylance (libs.pylance=%s), so it cannot verify data "
                        "storage version(s) %s; run the openclaw.memory.deps role on %s"
                        % (name, new_host, _show((new.get("libs") or {}).get("pylance")), ", ".join(formats), new_host))
    elif formats:
        unreadable = [f for f in formats if f not in reads]
        if unreadable and method == "snapshot":
            problems.append("pair %s: new host %s's Lance (pylance %s) cannot read data storage version %s of %s's "
                            "tables; upgrade pylance on %s (openclaw.memory.deps), or set openclaw_migrate_method: "
                            "export (or auto)" % (name, new_host, (new.get("libs") or {}).get("pylance"),
                                                  ", ".join(unreadable), old_host, new_host))
        if method in ("export", "auto") and storage_version not in (None, "") \
                and str(storage_version) not in reads:
            problems.append("pair %s: new host %s's Lance (pylance %s) cannot write or read data storage version %s "
                            "(openclaw_migrate_storage_version); choose one of %s"
                            % (name, new_host, (new.get("libs") or {}).get("pylance"), storage_version,
                               ", ".join(r for r in reads if r != "0.1")))
    need = old.get("referenced_bytes")
    if need is not None and free_bytes is not None and int(free_bytes) < space_factor * int(need):
        problems.append(
            "pair %s: new host %s has %s free where the snapshot is received and staged, needs %s (%d x the %s "
            "that %s's latest versions reference); free space on %s"
            % (name, new_host, human_bytes(free_bytes), human_bytes(space_factor * int(need)), space_factor,
               human_bytes(need), old_host, new_host)
        )
    return problems


def human_bytes(n):
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0
    return "%d B" % n  # not reached


# --------------------------------------------------------------------------- transfer statistics


_RSYNC_STATS = {
    "files_transferred": re.compile(r"Number of regular files transferred:\s*([\d,.]+)"),
    "files_total": re.compile(r"Number of files:\s*([\d,.]+)"),
    "bytes_transferred": re.compile(r"Total transferred file size:\s*([\d,.]+)"),
    "bytes_total": re.compile(r"Total file size:\s*([\d,.]+)"),
    "bytes_sent": re.compile(r"Total bytes sent:\s*([\d,.]+)"),
}


def rsync_stats(text):
    """Numbers from `rsync --stats` output ({} when there are none)."""
    out = {}
    if isinstance(text, (list, tuple)):
        text = "\n".join(str(t) for t in text)
    for key, rx in _RSYNC_STATS.items():
        m = rx.search(text or "")
        if m:
            out[key] = int(re.sub(r"[,.]", "", m.group(1)))
    return out


# --------------------------------------------------------------------------- evidence and report


def _counts(meta):
    meta = meta or {}
    return {k: meta.get(k) for k in ("total", "by_category", "by_agent", "by_scope")}


def _table_versions(tables):
    return {name: {"version": (t or {}).get("version"), "rows": (t or {}).get("rows")}
            for name, t in sorted((tables or {}).items())}


def pair_verdict(old_state, new_state):
    """(passed, reason) of a pair from both hosts' migration state."""
    old_state = old_state or {}
    new_state = new_state or {}
    if old_state.get("skipped"):
        return True, "already migrated (evidence from %s)" % old_state.get("evidence_time", "an earlier run")
    for host, state in (("old", old_state), ("new", new_state)):
        if state.get("failed"):
            return False, "%s host failed at %s: %s" % (host, state.get("failed_step", "?"), state.get("reason", "?"))
    final = (old_state.get("final") or {}).get("name")
    if not final:
        return False, "old host made no final snapshot"
    if not new_state.get("verified"):
        return False, "new host did not finish verification (%s)" % (new_state.get("step") or "never started")
    restored = new_state.get("restored") or {}
    if (restored.get("from_snapshot") or restored.get("snapshot_name")) != final:
        return False, "new host restored %s, not old host's final snapshot %s" % (
            restored.get("from_snapshot") or restored.get("snapshot_name"), final)
    return True, "every check passed"


def partner_gone(partner, partner_state, play_hosts):
    """Why `partner` can no longer take part in the run ('' while it can).

    Ansible drops a host that became unreachable from the play without running
    its rescue, so its record keeps `failed: false`: a partner missing from
    `play_hosts` (ansible_play_hosts: the hosts still in the play) or without a
    record of this run is gone, and its pair must not go on (above all, the old
    gateway must not stop for it).
    """
    if not partner_state:
        return "partner %s has no record of this run (left out by --limit, or unreachable from the start)" % partner
    if partner not in (play_hosts or ()):
        return "partner %s dropped out of the run after step '%s' (unreachable, or a task failed on it)" % (
            partner, partner_state.get("step", "?"))
    return ""


def host_verdict(state, partner_state, check_mode=False):
    """(passed, reason) of one host at the end of a run: the verdict of its pair, as the report decides it.

    Both hosts of a failed pair fail, whichever side failed or dropped out. In
    check mode only the preflight ran: a pair passes unless a host failed.
    """
    state = state or {}
    if state.get("failed"):
        return False, "failed at %s: %s" % (state.get("failed_step", "?"), state.get("reason", "?"))
    if not partner_state:
        return False, "partner %s left no record of this run" % state.get("partner")
    if partner_state.get("failed"):
        return False, "partner %s failed at %s: %s" % (
            state.get("partner"), partner_state.get("failed_step", "?"), partner_state.get("reason", "?"))
    if check_mode:
        return True, "the preflight passed"
    old, new = (state, partner_state) if state.get("role") == "old" else (partner_state, state)
    return pair_verdict(old, new)


def build_evidence(pair, old_state, new_state, now_iso):
    """The evidence a passed pair leaves on both hosts (/var/lib/openclaw-memory/migration-<pair>.json)."""
    final = old_state.get("final") or {}
    meta = final.get("meta") or {}
    verify = new_state.get("verify") or {}
    return {
        "format": EVIDENCE_FORMAT,
        "pair": pair["name"],
        "old": pair["old"],
        "new": pair["new"],
        "migrated_at": now_iso,
        "migrated_epoch": new_state.get("t_verified"),
        "snapshot": {"name": final.get("name"), "old_path": final.get("snapshot"),
                     "new_path": (new_state.get("restored") or {}).get("snapshot")},
        "baseline": _counts(meta),
        "restored": _counts(verify.get("stats")),
        "presync_total": (old_state.get("presync") or {}).get("total"),
        "tables": _table_versions(meta.get("tables")),
        "embedding": meta.get("embedding"),
        "checksums": meta.get("checksums"),
        "versions": _versions(old_state, new_state),
        "db_path": {"old": (old_state.get("facts") or {}).get("db_path"),
                    "new": (new_state.get("facts") or {}).get("db_path")},
        "checks": _checks(verify),
        "downtime_s": downtime(old_state, new_state),
        "verified_s": verified_after(old_state, new_state),
    }


def _versions(old_state, new_state):
    out = {}
    for side, state in (("old", old_state), ("new", new_state)):
        f = (state or {}).get("facts") or {}
        out[side] = {"plugin": f.get("plugin"), "plugin_version": f.get("plugin_version"),
                     "plugin_lancedb_version": f.get("plugin_lancedb_version"), "libs": f.get("libs")}
    return out


def _checks(verify):
    checks = (verify or {}).get("checks") or {}
    return {name: {"ok": bool((c or {}).get("ok")), "msg": (c or {}).get("msg")} for name, c in sorted(checks.items())}


def downtime(old_state, new_state):
    """Seconds no gateway served: old's stop -> the new gateway started on the restored database that passed the
    cutover checks (or -> old restarted on rollback)."""
    t0 = (old_state or {}).get("t_stop")
    new_state = new_state or {}
    end = new_state.get("t_serving") or new_state.get("t_verified")
    if (old_state or {}).get("t_restarted"):
        end = old_state["t_restarted"]
    if t0 is None or end is None:
        return None
    return round(float(end) - float(t0), 3)


def verified_after(old_state, new_state):
    """Seconds from old's stop until the new host passed every check (None unless it did)."""
    t0 = (old_state or {}).get("t_stop")
    end = (new_state or {}).get("t_verified")
    if t0 is None or end is None or (old_state or {}).get("t_restarted"):
        return None
    return round(float(end) - float(t0), 3)


def build_report(pairs, run):
    """Report of one run: [{pair, old_state, new_state}] plus run info -> JSON-able dict."""
    out = {"format": REPORT_FORMAT, "run": run, "pairs": []}
    for item in pairs:
        pair, old_state, new_state = item["pair"], item.get("old_state") or {}, item.get("new_state") or {}
        passed, reason = pair_verdict(old_state, new_state)
        final = old_state.get("final") or {}
        meta = final.get("meta") or {}
        verify = new_state.get("verify") or {}
        stats = verify.get("stats") or {}
        transfer = new_state.get("transfer") or {}
        out["pairs"].append({
            "pair": pair["name"], "old": pair["old"], "new": pair["new"],
            "verdict": "skipped" if old_state.get("skipped") else ("passed" if passed else "failed"),
            "reason": reason,
            "baseline": _counts(meta) if meta else _counts(old_state.get("facts")),
            "presync_total": (old_state.get("presync") or {}).get("total"),
            "restored": _counts(stats),
            "probes": _probes(meta.get("probes"), verify),
            "tables": {"old": _table_versions(meta.get("tables")),
                       "new": _table_versions((new_state.get("facts_after") or {}).get("tables"))},
            "versions": _versions(old_state, new_state),
            "bytes": {"presync_snapshot": (old_state.get("presync") or {}).get("bytes_copied"),
                      "final_snapshot": final.get("bytes_copied"),
                      "presync_transfer": (transfer.get("presync") or {}).get("bytes_transferred"),
                      "final_transfer": (transfer.get("final") or {}).get("bytes_transferred"),
                      "resent": (transfer.get("final") or {}).get("resent") or (transfer.get("presync") or {}).get(
                          "resent")},
            # The final snapshot went straight from the old host's openclaw_cutover task (snapshot method, direct
            # transfers), or through the transfer role (via the control node, export method).
            "final_pushed": bool((old_state.get("final") or {}).get("pushed")),
            "downtime_s": downtime(old_state, new_state),
            "verified_s": verified_after(old_state, new_state),
            "checks": _checks(verify),
            "cutover_checks": _checks(new_state.get("cutover_verify")),
            "mismatches": verify.get("mismatches") or [],
            "verify_command": new_state.get("verify_command"),
            "rollback": {"new": new_state.get("rollback"), "old_gateway_restarted": bool(old_state.get("t_restarted"))},
            "evidence": old_state.get("evidence"),
            "audit": old_state.get("audit"),
            "method": old_state.get("method"),
            "import": new_state.get("import"),
        })
    out["passed"] = all(p["verdict"] in ("passed", "skipped") for p in out["pairs"])
    return out


def _probes(baseline_probes, verify):
    """Each baseline probe and whether the restored database holds it with the same text.

    True when the content check passed (it looks up every probe), False when a
    mismatch names the probe, None when the new host never verified.
    """
    content = ((verify or {}).get("checks") or {}).get("content")
    mismatches = " ".join((verify or {}).get("mismatches") or [])
    out = []
    for p in baseline_probes or []:
        pid = str(p.get("id"))
        if content is None:
            found = None
        elif pid in mismatches or pid[:12] in mismatches:
            found = False
        else:
            found = bool(content.get("ok")) or None
        out.append({"id": pid, "text": p.get("text"), "restored": found})
    return out


def _cell(value):
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _method_text(method, imported):
    if not method:
        return "?"
    if method.get("method") != "export":
        return "snapshot (Lance files copied; %s)" % _cell(method.get("reason"))
    text = "export/import into data storage version %s (%s)" % (_cell(method.get("storage_version")),
                                                                _cell(method.get("reason")))
    if imported:
        text += "; %s rows imported" % _cell(imported.get("rows"))
    return text


def report_markdown(report):
    """The report as Markdown: one section per pair, then a one-line verdict."""
    run = report.get("run") or {}
    lines = ["# OpenClaw memory migration report", ""]
    lines.append("Run %s, started %s, finished %s. Verdict: **%s**." % (
        _cell(run.get("id")), _cell(run.get("started")), _cell(run.get("finished")),
        "all pairs passed" if report.get("passed") else "at least one pair FAILED"))
    lines.append("")
    lines.append("| pair | old | new | verdict | downtime (s) | memories old → new |")
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for p in report.get("pairs", []):
        lines.append("| %s | %s | %s | %s | %s | %s → %s |" % (
            _cell(p["pair"]), _cell(p["old"]), _cell(p["new"]), p["verdict"].upper(), _cell(p["downtime_s"]),
            _cell(p["baseline"].get("total")), _cell(p["restored"].get("total"))))
    for p in report.get("pairs", []):
        lines += ["", "## %s (%s → %s): %s" % (p["pair"], p["old"], p["new"], p["verdict"].upper()), "",
                  "Reason: %s" % _cell(p["reason"]), ""]
        cats = sorted(set(p["baseline"].get("by_category") or {}) | set(p["restored"].get("by_category") or {}))
        lines += ["| category | baseline (old, final snapshot) | restored (new) |", "| --- | --- | --- |"]
        lines.append("| **total** | %s | %s |" % (_cell(p["baseline"].get("total")), _cell(p["restored"].get("total"))))
        for c in cats:
            lines.append("| %s | %s | %s |" % (_cell(c), _cell((p["baseline"].get("by_category") or {}).get(c)),
                                               _cell((p["restored"].get("by_category") or {}).get(c))))
        if p["probes"]:
            lines += ["", "| probe id | text | found on new |", "| --- | --- | --- |"]
            for pr in p["probes"]:
                lines.append("| %s | %s | %s |" % (_cell(pr["id"]), _cell((pr["text"] or "")[:80]),
                                                   _cell(pr["restored"])))
        if p["checks"]:
            lines += ["", "| check | ok | detail |", "| --- | --- | --- |"]
            for name, c in p["checks"].items():
                lines.append("| %s | %s | %s |" % (_cell(name), _cell(c["ok"]), _cell(c["msg"])))
        vc = p.get("verify_command")
        if vc:
            lines.append("")
            lines.append("Verify command: rc %s (%s)" % (_cell(vc.get("rc")), "ok" if vc.get("ok") else "FAILED"))
        if p["mismatches"]:
            lines += ["", "Mismatches:", ""] + ["- %s" % _cell(m) for m in p["mismatches"]]
        v = p["versions"]
        b = p["bytes"]
        lines += [
            "",
            "- plugin: old %s %s, new %s %s" % (_cell(v["old"]["plugin"]), _cell(v["old"]["plugin_version"]),
                                                _cell(v["new"]["plugin"]), _cell(v["new"]["plugin_version"])),
            "- @lancedb/lancedb: old %s, new %s" % (_cell(v["old"]["plugin_lancedb_version"]),
                                                    _cell(v["new"]["plugin_lancedb_version"])),
            "- table versions: old %s, new %s" % (_cell(_short_versions(p["tables"]["old"])),
                                                  _cell(_short_versions(p["tables"]["new"]))),
            "- memories at the pre-sync snapshot: %s (written while it moved: %s)" % (
                _cell(p["presync_total"]), _cell(_written_since(p["presync_total"], p["baseline"].get("total")))),
            "- bytes copied into snapshots: pre-sync %s, final %s" % (_cell(b["presync_snapshot"]),
                                                                      _cell(b["final_snapshot"])),
            "- bytes transferred: pre-sync %s, cutover %s%s" % (
                _cell(b["presync_transfer"]), _cell(b["final_transfer"]),
                ("; resent after a checksum mismatch: %s" % ", ".join(b["resent"])) if b["resent"] else ""),
            "- method: %s" % _method_text(p.get("method"), p.get("import")),
            "- old gateway downtime: %s s (stop until the new gateway served the restored copy that passed the "
            "cutover checks: %s); every check passed %s s after the stop" % (
                _cell(p["downtime_s"]), _cell(", ".join(p.get("cutover_checks") or {}) or None),
                _cell(p.get("verified_s"))),
        ]
        rb = p["rollback"]
        if rb.get("new") or rb.get("old_gateway_restarted"):
            lines.append("- rollback: new host %s; old gateway restarted: %s" % (
                _cell(rb.get("new")), _cell(rb.get("old_gateway_restarted"))))
        if p.get("evidence"):
            lines.append("- evidence: %s" % _cell(p["evidence"]))
        audit = p.get("audit")
        if audit and audit.get("error"):
            lines += ["", "Memory audit (old host, before the move): not available: %s" % _cell(audit["error"])]
        elif audit:
            # Imported here: audit pulls in pylance and pyarrow (~0.3-0.6 s), and every Ansible worker that
            # templates one of this collection's filters (rsync_stats inside the cutover window) imports this file.
            from ansible_collections.openclaw.memory.plugins.module_utils.audit import audit_summary_lines

            lines += ["", "Memory audit (old host, before the move):", ""] + audit_summary_lines(audit)
    lines.append("")
    return "\n".join(lines)


def _written_since(presync, final):
    return None if presync is None or final is None else final - presync


def _short_versions(tables):
    return ", ".join("%s@%s" % (n, (t or {}).get("version")) for n, t in sorted((tables or {}).items())) or None
