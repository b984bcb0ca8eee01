# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters playbooks/migrate.yml decides with; the logic is in module_utils/migrate.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.openclaw.memory.plugins.module_utils import migrate as M
from ansible_collections.openclaw.memory.plugins.module_utils import transfer as T
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except MemoryToolError as e:
        raise AnsibleFilterError(e.msg)


def migration_pairs(old_hosts, new_hosts, hostvars=None):
    """[{name, old, new}]: each new host with the old host it takes over from (openclaw_migrate_from, else by index)."""
    explicit = {}
    for host in new_hosts or []:
        hv = hostvars[host] if hostvars is not None and host in hostvars else {}
        value = hv.get("openclaw_migrate_from") if hasattr(hv, "get") else None
        if value:
            explicit[host] = str(value)
    return _call(M.pair_hosts, list(old_hosts or []), list(new_hosts or []), explicit)


def migration_preflight(pair, old_facts, new_facts, allow_plugin_upgrade=False, free_bytes=None, method="auto",
                        storage_version=None):
    """Messages that block the pair (empty list: it may go ahead)."""
    return _call(M.preflight_problems, pair, old_facts, new_facts, allow_plugin_upgrade=bool(allow_plugin_upgrade),
                 free_bytes=free_bytes, method=method, storage_version=storage_version)


def migration_settings(cfg, paths=None):
    """Messages naming each bad migration setting of a host (empty list: all are fine)."""
    return M.settings_problems(cfg, paths)


def migration_method(old_facts, new_facts, requested="auto", storage_version=None):
    """{method, reason, storage_version}: snapshot (copy Lance files) or export (Parquet export/import)."""
    return _call(M.migration_method, old_facts, new_facts, requested, storage_version)


def migration_verdict(old_state, new_state):
    passed, reason = M.pair_verdict(old_state, new_state)
    return {"passed": passed, "reason": reason}


def migration_partner_gone(partner, partner_state, play_hosts):
    """Why the partner can no longer take part ('' while it can): no record of this run, or gone from the play."""
    return M.partner_gone(partner, partner_state, play_hosts)


def migration_host_verdict(state, partner_state, check_mode=False):
    """{passed, reason} of one host at the end: its pair's verdict, whichever side failed."""
    passed, reason = M.host_verdict(state, partner_state, bool(check_mode))
    return {"passed": passed, "reason": reason}


def migration_evidence(pair, old_state, new_state, now_iso):
    return M.build_evidence(pair, old_state or {}, new_state or {}, now_iso)


def migration_report_items(old_hosts, hostvars):
    """[{pair, old_state, new_state}] for each old host of the run, read from hostvars."""
    items = []
    for host in old_hosts or []:
        hv = hostvars[host]
        state = hv.get("openclaw_migrate_state") or {}
        partner = state.get("partner")
        new_state = (hostvars[partner].get("openclaw_migrate_state") or {}) if partner and partner in hostvars else {}
        items.append({"pair": hv.get("openclaw_migrate_pair"), "old_state": state, "new_state": new_state})
    return items


def migration_report(items, run):
    return M.build_report(items, run)


def migration_report_md(report):
    return M.report_markdown(report)


def rsync_stats(text):
    return M.rsync_stats(text)


def transfer_rsh(private_key, port=22, persist=0):
    return T.rsh(private_key, port, persist)


class FilterModule:
    def filters(self):
        return {
            "migration_pairs": migration_pairs,
            "migration_preflight": migration_preflight,
            "migration_method": migration_method,
            "migration_verdict": migration_verdict,
            "migration_settings": migration_settings,
            "migration_partner_gone": migration_partner_gone,
            "migration_host_verdict": migration_host_verdict,
            "migration_evidence": migration_evidence,
            "migration_report_items": migration_report_items,
            "migration_report": migration_report,
            "migration_report_md": migration_report_md,
            "rsync_stats": rsync_stats,
            "transfer_rsh": transfer_rsh,
        }
