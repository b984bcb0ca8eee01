# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The decisions of migrate.yml (plugins/module_utils/migrate.py): pairing, preflight, verdict, evidence, report.

Preflight runs on the real facts of generated states (facts.gather), so a
change in the facts' shape breaks these tests, not a migration.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess

import pytest
import yaml
from ansible_collections.openclaw.memory.plugins.module_utils import migrate as M
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError
from ansible_collections.openclaw.memory.plugins.module_utils.facts import gather
from ocmlab import fixtures as F

DIMS = 16
PAIR = {"name": "old1-to-new1", "old": "old1", "new": "new1"}

# --------------------------------------------------------------------------- pairing


def test_pairs_follow_inventory_order():
    assert M.pair_hosts(["o1", "o2"], ["n1", "n2"]) == [
        {"name": "o1-to-n1", "old": "o1", "new": "n1"}, {"name": "o2-to-n2", "old": "o2", "new": "n2"}]


def test_explicit_partner_wins_and_old_hosts_without_partner_are_left_out():
    pairs = M.pair_hosts(["o1", "o2", "o3"], ["n1", "n2"], {"n1": "o3"})
    assert pairs == [{"name": "o3-to-n1", "old": "o3", "new": "n1"}, {"name": "o2-to-n2", "old": "o2", "new": "n2"}]
    assert M.pair_of(pairs, "o3") == dict(pairs[0], role="old", partner="n1")
    assert M.pair_of(pairs, "n2") == dict(pairs[1], role="new", partner="o2")
    assert M.pair_of(pairs, "o1") is None


@pytest.mark.parametrize("old,new,explicit,text", [
    (["o1"], ["n1", "n2"], {}, ("New host n2 is number 2 in 'openclaw_new' but 'openclaw_old' has only 1 host(s): set "
                                "openclaw_migrate_from on n2")),
    (["o1", "o2"], ["n1", "n2"], {"n2": "o1"}, "New hosts n1 and n2 both take over old host o1"),
    (["o1"], ["n1"], {"n1": "ox"},
     "openclaw_migrate_from=ox on new host n1 names no host of group 'openclaw_old' (o1)"),
    (["o1"], [], {}, "Inventory group 'openclaw_new' is empty"),
    ([], ["n1"], {}, "Inventory group 'openclaw_old' is empty"),
    (["h1"], ["h1"], {}, "Host(s) h1 are in both 'openclaw_old' and 'openclaw_new'"),
])
def test_pairing_mistakes_name_the_host_and_the_fix(old, new, explicit, text):
    with pytest.raises(MemoryToolError) as e:
        M.pair_hosts(old, new, explicit)
    assert text in e.value.msg


def test_pair_names_are_file_name_safe():
    assert M.pair_name("old.example.com", "new host/2") == "old.example.com-to-new_host_2"


def test_the_filter_reads_openclaw_migrate_from_from_hostvars():
    from ansible.errors import AnsibleFilterError
    from ansible_collections.openclaw.memory.plugins.filter.migrate import migration_pairs

    hv = {"n1": {"openclaw_migrate_from": "o2"}, "n2": {"openclaw_migrate_from": "o1"}}
    assert [p["old"] for p in migration_pairs(["o1", "o2"], ["n1", "n2"], hv)] == ["o2", "o1"]
    # Positional pairing is literal: n2 is second, so it takes o2, which n1 already took.
    with pytest.raises(AnsibleFilterError, match="New hosts n1 and n2 both take over old host o2"):
        migration_pairs(["o1", "o2"], ["n1", "n2"], {"n1": {"openclaw_migrate_from": "o2"}, "n2": {}})


# --------------------------------------------------------------------------- preflight on real facts


@pytest.fixture(scope="module")
def facts_pair(tmp_path_factory):
    """Facts of an old host with 12 memories and a new host with an empty install of the same setup."""
    base = tmp_path_factory.mktemp("pre")
    old = F.build_state(str(base / "old"), n=12, dims=DIMS, seed=3)
    new = F.build_state(str(base / "new"), n=0, dims=DIMS, seed=4)
    return (gather(home=old["home"], user="root"), gather(home=new["home"], user="root"))


def test_same_setup_passes(facts_pair):
    old, new = facts_pair
    assert M.preflight_problems(PAIR, old, new, free_bytes=10 ** 12) == []


@pytest.mark.parametrize("mutate,text", [
    (lambda n: n["embedding"].update(model="nomic-embed-text"),
     "pair old1-to-new1: embedding.model differs: old1 has 'text-embedding-3-small', new1 has 'nomic-embed-text'"),
    (lambda n: n["embedding"].update(dimensions=1024), "embedding.dimensions differs: old1 has 16, new1 has 1024"),
    (lambda n: n["embedding"].update(provider="ollama"), ("embedding.provider differs: old1 has 'openai', new1 has "
                                                          "'ollama'")),
    (lambda n: n.update(plugin="memory-lancedb-pro"), ("plugin differs: old1 has 'memory-lancedb', new1 has "
                                                       "'memory-lancedb-pro'")),
    (lambda n: n.update(scopes={"default": "agent:main"}), ("scopes differs: old1 has None, new1 has "
                                                            "{\"default\": \"agent:main\"}")),
    (lambda n: n.update(plugin_version="2027.1.1"), ("plugin_version differs: old1 has '2026.9.6', new1 has "
                                                     "'2027.1.1'; install the same plugin version")),
    (lambda n: n.update(plugin_lancedb_version="0.20.0"), ("plugin_lancedb_version (@lancedb/lancedb) differs: old1 "
                                                           "has '0.27.2', new1 has '0.20.0'")),
    (lambda n: n["libs"].update(pylance=None), "new host new1 has no usable pylance"),
])
def test_each_difference_is_named_with_both_values(facts_pair, mutate, text):
    old, new = copy.deepcopy(facts_pair[0]), copy.deepcopy(facts_pair[1])
    mutate(new)
    problems = M.preflight_problems(PAIR, old, new, free_bytes=10 ** 12)
    assert len(problems) == 1 and text in problems[0], problems


def test_method_auto_exports_when_the_new_lance_cannot_read_the_old_files(facts_pair):
    old, new = copy.deepcopy(facts_pair[0]), copy.deepcopy(facts_pair[1])
    assert old["tables"]["memories"]["data_storage_version"] == "2.2"
    assert M.migration_method(old, new) == {
        "method": "snapshot", "storage_version": None,
        "reason": "the new host's Lance (pylance %s) reads the old tables' data storage version(s) 2.2"
                  % new["libs"]["pylance"]}
    new["libs"]["pylance"] = "0.38.3"  # reads 2.0 and 2.1 only
    assert M.migration_method(old, new) == {
        "method": "export", "storage_version": "2.1",
        "reason": "the new host's Lance (pylance 0.38.3) cannot read data storage version 2.2 of the old tables: "
                  "export/import into 2.1 instead of copying files"}
    assert M.preflight_problems(PAIR, old, new, free_bytes=10 ** 12) == []  # auto: it moves by export
    p = M.preflight_problems(PAIR, old, new, free_bytes=10 ** 12, method="snapshot")
    assert len(p) == 1 and ("new host new1's Lance (pylance 0.38.3) cannot read data storage version 2.2 of old1's "
                            "tables") in p[0] and "openclaw_migrate_method: export" in p[0]
    # An explicit storage version the new host cannot read is refused, naming what it can.
    p = M.preflight_problems(PAIR, old, new, free_bytes=10 ** 12, method="export", storage_version="2.2")
    assert len(p) == 1 and "cannot write or read data storage version 2.2" in p[0] and "choose one of" in p[0]
    assert M.migration_method(old, new, "export", "2.0")["storage_version"] == "2.0"
    assert M.migration_method(old, facts_pair[1], "export")["storage_version"] == "2.2"
    with pytest.raises(MemoryToolError, match="openclaw_migrate_method 'rsync' is not one of auto, snapshot, export"):
        M.migration_method(old, new, "rsync")
    with pytest.raises(MemoryToolError, match="openclaw_migrate_storage_version '3.0' is not one of"):
        M.migration_method(old, new, "export", "3.0")


def test_plugin_upgrade_allowed_only_upwards(facts_pair):
    old, new = copy.deepcopy(facts_pair[0]), copy.deepcopy(facts_pair[1])
    new["plugin_version"] = "2027.1.1"
    assert M.preflight_problems(PAIR, old, new, allow_plugin_upgrade=True, free_bytes=10 ** 12) == []
    new["plugin_version"] = "2026.1.0"
    p = M.preflight_problems(PAIR, old, new, allow_plugin_upgrade=True, free_bytes=10 ** 12)
    assert len(p) == 1 and "allows only a newer plugin on the new host, never a downgrade" in p[0]


def test_too_little_space_on_new_is_refused(facts_pair):
    old, new = facts_pair
    need = old["referenced_bytes"]
    assert need > 0
    assert M.preflight_problems(PAIR, old, new, free_bytes=2 * need) == []
    p = M.preflight_problems(PAIR, old, new, free_bytes=2 * need - 1)
    assert len(p) == 1 and "new host new1 has" in p[0] and "(2 x the" in p[0] and "free space on new1" in p[0]


def test_no_database_on_old_is_refused(facts_pair):
    old, new = copy.deepcopy(facts_pair[0]), facts_pair[1]
    old.update(db_exists=False, tables={})
    p = M.preflight_problems(PAIR, old, new, free_bytes=10 ** 12)
    assert len(p) == 1 and "no memory database found on old host old1" in p[0]


def test_missing_facts_name_the_host():
    assert "no facts from new host new1" in M.preflight_problems(PAIR, {"x": 1}, None)[0]
    assert "no facts from old host old1" in M.preflight_problems(PAIR, None, {"x": 1})[0]


def test_versions_and_readers():
    assert M.version_tuple("2026.9.6") == (2026, 9, 6)
    assert M.version_tuple("v1.2.3-beta") == (1, 2, 3)
    assert M.version_tuple(None) is None and M.version_tuple("abc") is None
    assert "2.2" not in M.pylance_reads("0.38.2") and "2.1" in M.pylance_reads("0.38.2")
    assert M.pylance_reads("0.16.0") == ("0.1", "legacy", "2.0")
    assert "2.2" in M.pylance_reads("14.0.2")


# --------------------------------------------------------------------------- transfer stats


def test_rsync_stats_are_parsed():
    out = """Number of files: 44 (reg: 40, dir: 4)
Number of created files: 3
Number of regular files transferred: 3
Total file size: 1,234,567 bytes
Total transferred file size: 12,345 bytes
Total bytes sent: 13,001
"""
    assert M.rsync_stats(out) == {"files_total": 44, "files_transferred": 3, "bytes_total": 1234567,
                                  "bytes_transferred": 12345, "bytes_sent": 13001}
    assert M.rsync_stats(out.splitlines()) == M.rsync_stats(out)
    assert M.rsync_stats("") == {}


# --------------------------------------------------------------------------- verdict, evidence, report


def _states(passed=True):
    meta = {"total": 30, "by_category": {"fact": 20, "preference": 10}, "tables": {"memories": {"version": 33,
            "rows": 30}}, "probes": [{"id": "abc123456789xyz", "text": "the amber otter"}],
            "embedding": {"provider": "openai", "model": "m", "dimensions": 16},
            "checksums": {"file": "SHA256SUMS", "sha256": "f" * 64}}
    old = {"facts": {"plugin": "memory-lancedb", "plugin_version": "2026.9.6", "db_path": "/o/db"},
           "presync": {"name": "p1", "bytes_copied": 1000, "total": 26}, "final": {"name": "f1", "snapshot": "/s/f1",
                                                                                   "bytes_copied": 50, "meta": meta},
           "t_stop": 100.0}
    new = {"facts": {"plugin": "memory-lancedb", "plugin_version": "2026.9.6", "db_path": "/n/db"},
           "transfer": {"presync": {"bytes_transferred": 1000}, "final": {"bytes_transferred": 50, "resent": []}},
           "restored": {"snapshot_name": "f1", "snapshot": "/in/f1"}, "verified": True, "t_verified": 102.5,
           "verify": {"ok": True, "checks": {"content": {"ok": True, "msg": "fine"}, "readwrite": {"ok": True,
                                                                                                   "msg": "rw"}},
                      "mismatches": [], "stats": {"total": 30, "by_category": {"fact": 20, "preference": 10}}},
           "facts_after": {"tables": {"memories": {"version": 33, "rows": 30}}}}
    if not passed:
        new.update(failed=True, failed_step="verify", reason="total: expected 30, found 29", verified=False,
                   rollback="original database back in place")
        new["verify"] = {"ok": False, "checks": {"content": {"ok": False, "msg": "1 problem"}},
                         "mismatches": ["total: expected 30, found 29", "probe abc123456789xyz: missing"],
                         "stats": {"total": 29, "by_category": {"fact": 19, "preference": 10}}}
        old["t_restarted"] = 104.0
    return old, new


def test_verdict():
    assert M.pair_verdict(*_states()) == (True, "every check passed")
    passed, reason = M.pair_verdict(*_states(False))
    assert not passed and reason == "new host failed at verify: total: expected 30, found 29"
    old, new = _states()
    new["restored"]["snapshot_name"] = "p1"
    assert M.pair_verdict(old, new) == (False, "new host restored p1, not old host's final snapshot f1")
    assert M.pair_verdict({}, {}) == (False, "old host made no final snapshot")
    assert M.pair_verdict({"skipped": True, "evidence_time": "T"}, {})[1] == "already migrated (evidence from T)"


def test_evidence_holds_counts_versions_checksums_and_times():
    old, new = _states()
    ev = M.build_evidence(PAIR, old, new, "2026-09-01T00:00:00Z")
    assert ev["format"] == M.EVIDENCE_FORMAT and ev["pair"] == "old1-to-new1"
    assert ev["baseline"]["total"] == ev["restored"]["total"] == 30
    assert ev["tables"] == {"memories": {"version": 33, "rows": 30}}
    assert ev["checksums"]["sha256"] == "f" * 64 and ev["downtime_s"] == 2.5 and ev["presync_total"] == 26
    assert ev["versions"]["new"]["plugin_version"] == "2026.9.6"
    assert ev["checks"]["readwrite"] == {"ok": True, "msg": "rw"}
    json.dumps(ev)


def test_report_json_and_markdown():
    ok_old, ok_new = _states()
    bad_old, bad_new = _states(False)
    items = [{"pair": PAIR, "old_state": ok_old, "new_state": ok_new},
             {"pair": {"name": "old2-to-new2", "old": "old2", "new": "new2"}, "old_state": bad_old,
              "new_state": bad_new}]
    rep = M.build_report(items, {"id": "r1", "started": "S", "finished": "E"})
    assert rep["passed"] is False
    good, bad = rep["pairs"]
    assert good["verdict"] == "passed" and good["downtime_s"] == 2.5 and good["probes"][0]["restored"] is True
    assert bad["verdict"] == "failed" and bad["downtime_s"] == 4.0 and bad["probes"][0]["restored"] is False
    assert bad["rollback"] == {"new": "original database back in place", "old_gateway_restarted": True}
    md = M.report_markdown(rep)
    assert "| old1-to-new1 | old1 | new1 | PASSED | 2.5 | 30 → 30 |" in md
    assert "| old2-to-new2 | old2 | new2 | FAILED | 4.0 | 30 → 29 |" in md
    assert "| fact | 20 | 19 |" in md and "- total: expected 30, found 29" in md
    assert "at least one pair FAILED" in md
    assert "- memories at the pre-sync snapshot: 26 (written while it moved: 4)" in md
    json.dumps(rep)


def test_report_shows_the_old_hosts_memory_audit(tmp_path):
    from ansible_collections.openclaw.memory.plugins.module_utils import audit as A

    st = F.build_state(str(tmp_path / "home"), n=60, dims=16, seed=5, duplicates=2, secrets=1)
    result = A.audit(st["db_path"], limit=10)
    old, new = _states()
    old["audit"] = result["audit"]
    rep = M.build_report([{"pair": PAIR, "old_state": old, "new_state": new}], {"id": "r1"})
    assert rep["pairs"][0]["audit"]["rows"] == 60
    md = M.report_markdown(rep)
    assert "Memory audit (old host, before the move):" in md
    assert "- Exact duplicates: 2 memories repeat an earlier text" in md
    assert "- Secret-like strings: 1 memories" in md
    assert F.fake_secret(5) not in json.dumps(rep) + md and "sk-ocmlab" not in json.dumps(rep) + md  # redacted
    old["audit"] = {"error": "lancedb missing"}
    md = M.report_markdown(M.build_report([{"pair": PAIR, "old_state": old, "new_state": new}], {"id": "r1"}))
    assert "Memory audit (old host, before the move): not available: lancedb missing" in md


def test_downtime_ends_when_the_new_gateway_serves_and_every_check_is_timed_separately():
    old, new = _states()
    new.update(t_serving=101.25, t_verified=104.0, cutover_verify={"ok": True, "checks": {
        "checksums": {"ok": True, "msg": "5 file(s)"}, "structure": {"ok": True, "msg": "1 table(s)"}}})
    assert M.downtime(old, new) == 1.25 and M.verified_after(old, new) == 4.0
    rep = M.build_report([{"pair": PAIR, "old_state": old, "new_state": new}], {"id": "r1"})
    p = rep["pairs"][0]
    assert (p["downtime_s"], p["verified_s"]) == (1.25, 4.0)
    assert "- method: ?" in M.report_markdown(rep)
    old["method"] = {"method": "export", "storage_version": "2.0", "reason": "requested"}
    new["import"] = {"rows": 30, "data_storage_version": "2.0"}
    md = M.report_markdown(M.build_report([{"pair": PAIR, "old_state": old, "new_state": new}], {"id": "r1"}))
    assert "- method: export/import into data storage version 2.0 (requested); 30 rows imported" in md
    assert list(p["cutover_checks"]) == ["checksums", "structure"]
    assert ("- old gateway downtime: 1.25 s (stop until the new gateway served the restored copy that passed the "
            "cutover checks: checksums, structure); every check passed 4.0 s after the stop") in M.report_markdown(rep)
    # A rolled-back pair: the downtime ends when the old gateway runs again, and it never verified.
    bad_old, bad_new = _states(False)
    bad_new["t_serving"] = 101.0
    assert M.downtime(bad_old, bad_new) == 4.0 and M.verified_after(bad_old, bad_new) is None


def test_report_items_read_both_hosts_from_hostvars():
    from ansible_collections.openclaw.memory.plugins.filter.migrate import migration_report_items

    old, new = _states()
    hv = {"old1": {"openclaw_migrate_pair": PAIR, "openclaw_migrate_state": dict(old, partner="new1")},
          "new1": {"openclaw_migrate_state": new}}
    items = migration_report_items(["old1"], hv)
    assert items == [{"pair": PAIR, "old_state": dict(old, partner="new1"), "new_state": new}]
    # A partner left out of the run (no record) gives an empty record, and the verdict says so.
    hv["old1"]["openclaw_migrate_state"]["partner"] = "new9"
    items = migration_report_items(["old1"], hv)
    assert items[0]["new_state"] == {}
    assert M.build_report(items, {"id": "r"})["pairs"][0]["verdict"] == "failed"


# --------------------------------------------------------------------------- the pairing play of migrate.yml


def _pairing_run(tmp_path, limit=None):
    """migrate.yml's first play on five local hosts (forks 5), then a play on the group it builds that writes the
    group's host order; (completed process, that order)."""
    from repo_env import ANSIBLE_PLAYBOOK, PYTHON, REPO, ansible_env

    plays = yaml.safe_load(open(os.path.join(REPO, "playbooks", "migrate.yml")))
    order = tmp_path / "order.json"
    probe = {"name": "Write the order", "hosts": "openclaw_migrate_active", "gather_facts": False, "tasks": [{
        "ansible.builtin.copy": {"content": "{{ ansible_play_hosts_all | to_json }}", "dest": str(order)},
        "run_once": True, "delegate_to": "localhost"}]}
    (tmp_path / "pairing.yml").write_text(yaml.safe_dump([plays[0], probe]))
    local = {"ansible_connection": "local", "ansible_python_interpreter": PYTHON}
    # The new hosts are listed first, they take over from old2 and old1 (in that order), and old3 has no partner.
    (tmp_path / "hosts.yml").write_text(json.dumps({"all": {"children": {
        "openclaw_new": {"hosts": {"new1": dict(local, openclaw_migrate_from="old2"),
                                   "new2": dict(local, openclaw_migrate_from="old1")}},
        "openclaw_old": {"hosts": {"old1": local, "old2": local, "old3": local}}}}}))
    env = ansible_env(ANSIBLE_FORKS="5")
    cmd = [ANSIBLE_PLAYBOOK, "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "pairing.yml")]
    out = subprocess.run(cmd + (["--limit", limit] if limit else []), env=env, capture_output=True, text=True,
                         cwd=REPO, timeout=300, check=False)
    return out, (json.loads(order.read_text()) if order.exists() else None)


def test_the_plays_after_pairing_run_every_old_host_before_every_new_one(tmp_path):
    # The cutover task's new host waits for its old host's word: with fewer forks than hosts, an old host after its
    # new host would leave the new host waiting out its timeout. The report lists the pairs in the same order.
    out, order = _pairing_run(tmp_path)
    assert out.returncode == 0, out.stdout[-3000:]
    assert order == ["old2", "old1", "new1", "new2"], order
    assert "old3 has no partner in openclaw_new: it is not migrated in this run." in out.stdout
    # --limit still decides which hosts run.
    out, order = _pairing_run(tmp_path, limit="old1,new2")
    assert out.returncode == 0, out.stdout[-3000:]
    assert order == ["old1", "new2"], order


# --------------------------------------------------------------------------- settings, checked in the preflight

# openclaw_migrate_cfg as migrate.yml builds it from the defaults.
DEFAULT_CFG = {"user": "node", "snapshot_dir": "/var/backups/openclaw-memory/migrate",
               "incoming_dir": "/var/lib/openclaw-memory/incoming", "evidence_dir": "/var/lib/openclaw-memory",
               "allow_plugin_upgrade": False, "transfer_method": "direct",
               "verify_checks": ["checksums", "structure", "content", "search", "readwrite"],
               "cutover_checks": ["checksums", "structure"], "audit": True, "method": "auto", "storage_version": "",
               "expect": {}, "verify_command": "", "deps": True, "force": False}


def _settings(**change):
    return M.settings_problems(dict(DEFAULT_CFG, **change))


def test_default_and_valid_settings_pass():
    assert _settings() == []
    assert _settings(expect={"total": 5000, "by_category": {"fact": 10}, "tables": {"memories": {"rows": 5000}}},
                     cutover_checks="checksums,structure", verify_checks=["checksums"], method="export",
                     storage_version="2.0", transfer_method="via_controller") == []
    assert M.settings_problems(DEFAULT_CFG, {"openclaw_memory_state_dir": "/srv/openclaw",
                                             "openclaw_memory_config_path": None}) == []


@pytest.mark.parametrize("expect,text", [
    # The QA run's typo: caught only by the restore inside the downtime window, as "expect has unknown key(s)".
    ({"totl": 1}, "openclaw_migrate_expect has unknown key(s) totl; allowed: total, by_category, by_agent, by_scope, "
                  "probes, tables, embedding (fix openclaw_migrate_expect)"),
    ({"total": "many"}, "openclaw_migrate_expect.total must be a whole number, got 'many'"),
    ({"by_category": ["fact"]}, "openclaw_migrate_expect.by_category must be a dict {value: count}"),
    ("total=5", "openclaw_migrate_expect must be a dict with any of total, by_category"),
])
def test_a_bad_expect_names_openclaw_migrate_expect_and_what_is_allowed(expect, text):
    problems = _settings(expect=expect)
    assert len(problems) == 1 and problems[0].startswith(text), problems
    # The same check lance_verify and the restore run (the message is theirs, with the variable's name).
    from ansible_collections.openclaw.memory.plugins.module_utils.verify import build_expect

    with pytest.raises(MemoryToolError) as e:
        build_expect(expect)
    assert e.value.msg.replace("expect", "openclaw_migrate_expect", 1) in problems[0]


@pytest.mark.parametrize("key,var", [("cutover_checks", "openclaw_migrate_cutover_checks"),
                                     ("verify_checks", "openclaw_migrate_verify_checks")])
def test_an_unknown_check_names_the_variable_and_what_the_restore_accepts(key, var):
    from ansible_collections.openclaw.memory.plugins.module_utils.restore import ARGUMENT_SPEC

    accepted = ", ".join(ARGUMENT_SPEC["verify_checks"]["choices"])
    assert _settings(**{key: ["checksum"]}) == [
        "%s has unknown check(s) checksum; choose from %s (fix %s)" % (var, accepted, var)]
    assert _settings(**{key: "checksums,bogus"}) == [
        "%s has unknown check(s) bogus; choose from %s (fix %s)" % (var, accepted, var)]
    assert _settings(**{key: {"checksums": True}}) == [
        "%s must be a list of checks from %s, got {\"checksums\": true}; fix %s" % (var, accepted, var)]


def test_relative_directories_are_refused_naming_the_variable():
    p = _settings(snapshot_dir="relative/snaps")
    assert p == ["openclaw_migrate_snapshot_dir 'relative/snaps' is not an absolute path (a relative one lands below "
                 "the remote user's home); set openclaw_migrate_snapshot_dir to an absolute path such as "
                 "/var/backups/openclaw-memory/migrate"]
    p = _settings(incoming_dir="~/incoming", evidence_dir="")
    assert len(p) == 2 and p[0].startswith("openclaw_migrate_incoming_dir '~/incoming' is not an absolute path")
    assert p[1].startswith("openclaw_migrate_evidence_dir '' is not an absolute path")
    p = M.settings_problems(DEFAULT_CFG, {"openclaw_memory_state_dir": "openclaw", "openclaw_memory_config_path": None})
    assert p == ["openclaw_memory_state_dir 'openclaw' is not an absolute path (a relative one lands below the remote "
                 "user's home); set openclaw_memory_state_dir to an absolute path"]


def test_bad_methods_are_named_in_the_preflight():
    assert _settings(method="rsync") == ["openclaw_migrate_method 'rsync' is not one of auto, snapshot, export"]
    assert _settings(storage_version="3.0")[0].startswith("openclaw_migrate_storage_version '3.0' is not one of")
    assert _settings(transfer_method="scp") == [
        "openclaw_migrate_transfer_method 'scp' is not one of direct, via_controller"]


# --------------------------------------------------------------------------- partners that fail or drop out


def test_a_partner_gone_from_the_play_or_without_a_record_is_named():
    alive = {"failed": False, "step": "presync"}
    assert M.partner_gone("new1", alive, ["old1", "new1"]) == ""
    # Unreachable: Ansible dropped it without a rescue, so its record still says failed: false.
    assert M.partner_gone("new1", alive, ["old1"]) == (
        "partner new1 dropped out of the run after step 'presync' (unreachable, or a task failed on it)")
    assert M.partner_gone("new1", None, ["old1", "new1"]).startswith("partner new1 has no record of this run")


def test_both_hosts_of_a_failed_pair_fail_at_the_end():
    old, new = _states()
    old.update(role="old", partner="new1")
    new.update(role="new", partner="old1")
    assert M.host_verdict(old, new) == (True, "every check passed")
    assert M.host_verdict(new, old) == (True, "every check passed")
    # The old host failed at its pre-sync snapshot: the new host never failed itself, but its pair did.
    failed_old = {"role": "old", "partner": "new1", "failed": True, "failed_step": "presync snapshot",
                  "reason": "no space left"}
    idle_new = {"role": "new", "partner": "old1", "failed": False, "step": "preflight"}
    assert M.host_verdict(idle_new, failed_old) == (
        False, "partner old1 failed at presync snapshot: no space left")
    assert M.host_verdict(failed_old, idle_new) == (False, "failed at presync snapshot: no space left")
    # The old host became unreachable during the pre-sync: its record never failed, but it made no final snapshot.
    assert M.host_verdict(idle_new, {"role": "old", "partner": "new1", "failed": False, "step": "preflight"}) == (
        False, "old host made no final snapshot")
    assert M.host_verdict(idle_new, None) == (False, "partner old1 left no record of this run")
    # Check mode: only the preflight ran.
    assert M.host_verdict(idle_new, {"role": "old", "failed": False}, check_mode=True) == (
        True, "the preflight passed")
    assert M.host_verdict({"role": "new", "skipped": True, "failed": False},
                          {"role": "old", "skipped": True, "failed": False, "evidence_time": "T"})[0] is True


# --------------------------------------------------------------------------- migrate.yml's plays, locally


def _migrate_plays(tmp_path, plays, hosts, extra_vars=None):
    """`plays` (migrate.yml's own, or probes) on local `hosts` ({group: {host: vars}}); the completed process.
    The playbook sits beside a link to playbooks/tasks, so migrate.yml's task files are found."""
    from repo_env import ANSIBLE_PLAYBOOK, REPO, ansible_env

    (tmp_path / "tasks").symlink_to(os.path.join(REPO, "playbooks", "tasks"))
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plays))
    (tmp_path / "hosts.yml").write_text(json.dumps({"all": {"children": {
        group: {"hosts": members} for group, members in hosts.items()}}}))
    cmd = [ANSIBLE_PLAYBOOK, "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    return subprocess.run(cmd, env=ansible_env(ANSIBLE_FORKS="5"), capture_output=True, text=True, cwd=REPO,
                          timeout=300, check=False)


def _migrate_yml():
    from repo_env import REPO

    return yaml.safe_load(open(os.path.join(REPO, "playbooks", "migrate.yml")))


def _states_probe(path):
    """A play writing every paired host's openclaw_migrate_state to `path`."""
    return {"name": "Write the states", "hosts": "openclaw_migrate_active", "gather_facts": False, "tasks": [{
        "ansible.builtin.copy": {"dest": str(path), "content": (
            "{{ dict(groups['openclaw_migrate_active'] | zip(groups['openclaw_migrate_active']"
            " | map('extract', hostvars, 'openclaw_migrate_state'))) | to_json }}")},
        "run_once": True, "delegate_to": "localhost"}]}


def _local():
    from repo_env import PYTHON

    return {"ansible_connection": "local", "ansible_python_interpreter": PYTHON}


def test_the_preflight_fails_a_pair_with_a_bad_setting_before_anything_is_installed_or_stopped(tmp_path):
    plays = _migrate_yml()
    preflight = plays[1]
    first = preflight["tasks"][0]
    # The settings come first; every task that installs or reads something runs only for a host still in the race.
    assert "migration_settings" in json.dumps(first)
    gather = next(t for t in preflight["tasks"] if t["name"].startswith("Gather what decides"))
    assert gather["when"] == "not openclaw_migrate_state.failed"
    # Two pairs: new1 has typos in expect and cutover_checks, old2 a relative snapshot directory. The gather block
    # is left out (it would install the deps on old1 and new2); the rest of the preflight runs, then the last play.
    preflight = dict(preflight, tasks=[t for t in preflight["tasks"] if t is not gather])
    states = tmp_path / "states.json"
    out = _migrate_plays(tmp_path, [plays[0], preflight, _states_probe(states), plays[-1]], {
        "openclaw_old": {"old1": _local(), "old2": dict(_local(), openclaw_migrate_snapshot_dir="relative/snaps")},
        "openclaw_new": {"new1": dict(_local(), openclaw_migrate_expect={"totl": 1},
                                      openclaw_migrate_cutover_checks=["checksum"]),
                         "new2": _local()}})
    assert out.returncode != 0, out.stdout[-3000:]
    st = json.loads(states.read_text())
    bad_new1 = ("settings of new1: openclaw_migrate_cutover_checks has unknown check(s) checksum; choose from "
                "checksums, structure, content, search, readwrite (fix openclaw_migrate_cutover_checks); "
                "openclaw_migrate_expect has unknown key(s) totl; allowed: total, by_category, by_agent, by_scope, "
                "probes, tables, embedding (fix openclaw_migrate_expect)")
    assert st["new1"]["failed"] and st["new1"]["failed_step"] == "preflight" and st["new1"]["reason"] == bad_new1
    assert st["old1"]["failed"] and st["old1"]["reason"] == "partner new1 failed preflight: " + bad_new1
    assert st["old2"]["reason"].startswith("settings of old2: openclaw_migrate_snapshot_dir 'relative/snaps' is not "
                                           "an absolute path")
    assert st["new2"]["reason"].startswith("partner old2 failed preflight: settings of old2: "
                                           "openclaw_migrate_snapshot_dir")
    assert all("facts" not in s for s in st.values())
    # The last play fails all four hosts, each naming why.
    assert out.stdout.split("PLAY RECAP")[-1].count("failed=1") == 4, out.stdout[-3000:]
    assert "pair old1-to-new1 on new1: failed at preflight: settings of new1: openclaw_migrate_cutover_checks" in \
        out.stdout


def _fake_preflight_passed():
    """A play on the paired hosts recording a passed preflight (the snapshot method)."""
    return {"name": "Preflight passed", "hosts": "openclaw_migrate_active", "gather_facts": False, "tasks": [{
        "ansible.builtin.set_fact": {"openclaw_migrate_state": (
            "{{ openclaw_migrate_state | combine({'step': 'preflight', 'method': {'method': 'snapshot'}, "
            "'gateway_was_running': true, 'facts': {'db_path': '/nonexistent'}}) }}")}}]}


def _drop(host):
    """A play that connects to every paired host: `host` (ssh to a closed port) becomes unreachable, the others
    carry on."""
    return {"name": "Lose %s" % host, "hosts": "openclaw_migrate_active", "gather_facts": False,
            "tasks": [{"ansible.builtin.ping": None}]}


def test_the_old_gateway_is_not_stopped_for_an_unreachable_new_host(tmp_path):
    plays = _migrate_yml()
    cutover = next(p for p in plays if p["name"].startswith("Cutover"))
    # The cutover play up to (not including) its first task that touches a host: whether each host goes on.
    cut = cutover["tasks"].index(next(t for t in cutover["tasks"] if t["name"].startswith("Gather the gateway's")))
    states = tmp_path / "states.json"
    go = {"name": "Write __mig_go", "hosts": "openclaw_migrate_active", "gather_facts": False, "tasks": [{
        "ansible.builtin.copy": {"dest": str(tmp_path / "go-{{ inventory_hostname }}"), "content": "{{ __mig_go }}"},
        "delegate_to": "localhost"}]}
    gone = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_user": "nobody"}
    out = _migrate_plays(tmp_path, [plays[0], _fake_preflight_passed(), _drop("new1"),
                                    dict(cutover, tasks=cutover["tasks"][:cut]), go, _states_probe(states),
                                    plays[-1]],
                         {"openclaw_old": {"old1": _local()}, "openclaw_new": {"new1": gone}})
    assert "UNREACHABLE" in out.stdout, out.stdout[-3000:]
    assert (tmp_path / "go-old1").read_text() == "False"
    st = json.loads(states.read_text())
    assert st["old1"]["failed"] and st["old1"]["failed_step"] == "cutover"
    assert st["old1"]["reason"] == ("partner new1 dropped out of the run after step 'preflight' (unreachable, or a "
                                    "task failed on it)")
    assert "pair old1-to-new1 on old1: failed at cutover: partner new1 dropped out" in out.stdout
    assert "Old gateway never stopped" in out.stdout


def test_the_new_host_of_a_pair_whose_old_host_failed_fails_too(tmp_path):
    plays = _migrate_yml()
    old_failed = {"name": "The old host fails at its pre-sync snapshot", "hosts": "openclaw_old",
                  "gather_facts": False, "tasks": [{"ansible.builtin.set_fact": {"openclaw_migrate_state": (
                      "{{ openclaw_migrate_state | combine({'failed': true, 'failed_step': 'presync snapshot', "
                      "'reason': 'No space left on device'}) }}")}}]}
    out = _migrate_plays(tmp_path, [plays[0], _fake_preflight_passed(), old_failed, plays[-1]],
                         {"openclaw_old": {"old1": _local()}, "openclaw_new": {"new1": _local()}})
    recap = out.stdout.split("PLAY RECAP")[-1]
    assert out.returncode != 0 and recap.count("failed=1") == 2, out.stdout[-3000:]
    assert ("pair old1-to-new1 on new1: partner old1 failed at presync snapshot: No space left on device."
            in out.stdout), out.stdout[-3000:]
    assert "pair old1-to-new1: migrated" not in out.stdout
    # An old host that dropped out (unreachable) before its final snapshot: the new host fails as well.
    tmp2 = tmp_path / "unreachable"
    tmp2.mkdir()
    gone = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_user": "nobody"}
    out = _migrate_plays(tmp2, [plays[0], _fake_preflight_passed(), _drop("old1"), plays[-1]],
                         {"openclaw_old": {"old1": gone}, "openclaw_new": {"new1": _local()}})
    assert "UNREACHABLE" in out.stdout and out.returncode != 0, out.stdout[-3000:]
    assert "pair old1-to-new1 on new1: old host made no final snapshot." in out.stdout, out.stdout[-3000:]
