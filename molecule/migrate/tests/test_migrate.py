"""migrate.yml on the lab: the converged migration, idempotence, the failure cases, decommission.

Order matters: the first tests read what converge (and molecule's idempotence
run) left; every later test resets the hosts it uses (shared/openclaw_state.yml: fresh states,
simulator writing on the old hosts) before running migrate.yml itself.
"""

from __future__ import annotations

import json
import re
import time

from conftest import DB, EVIDENCE_DIR, GW, REPO, latest_report, recap

PAIR1, PAIR2 = "old1-to-new1", "old2-to-new2"
CORRUPT_ONCE = r"""#!/bin/sh
# rsync on the receiving side that flips one byte of one received data file, once: damage in transit.
# Only files that travelled (one link: not hard-linked from an earlier snapshot), and only into a destination
# whose path matches OCMLAB_CORRUPT_MATCH (default: any).
rsync "$@" || exit $?
for last; do :; done
[ -e /var/tmp/ocmlab-corrupted ] && exit 0
case "$last" in *@MATCH@*) ;; *) exit 0 ;; esac
f=$(find "$last" -path '*/data/*.lance' -type f -links 1 | sort | head -n 1)
[ -n "$f" ] || exit 0
/usr/bin/python3 - "$f" <<'PY'
import os, sys
p = sys.argv[1]
st = os.stat(p)
with open(p, "r+b") as fh:
    fh.seek(st.st_size // 2)
    b = fh.read(1)
    fh.seek(st.st_size // 2)
    fh.write(bytes([b[0] ^ 0xFF]))
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: only a checksum can tell
PY
echo "$f" > /var/tmp/ocmlab-corrupted
"""


# --------------------------------------------------------------------------- what converge did


def test_converge_migrated_both_pairs(lab, report_dir):
    for pair, old, new in ((PAIR1, "old1", "new1"), (PAIR2, "old2", "new2")):
        ev_old, ev_new = lab.evidence(old, pair), lab.evidence(new, pair)
        assert ev_old and ev_old == ev_new, pair
        assert ev_old["restored"] == ev_old["baseline"], pair
        # Memories written while the pre-sync snapshot moved are in the final one, and on the new host.
        assert ev_old["presync_total"] < ev_old["baseline"]["total"], ev_old
        # Nothing was written on old after its gateway stopped: its database holds exactly the final snapshot.
        assert lab.count(old) == ev_old["baseline"]["total"]
        assert lab.gateway_pid(old) is None and lab.gateway_pid(new) is not None
        assert all(c["ok"] for c in ev_old["checks"].values()), ev_old["checks"]
        assert {"checksums", "structure", "content", "search", "readwrite"} <= set(ev_old["checks"])
        assert 0 < ev_old["downtime_s"] < 600
    report, path = latest_report(report_dir)
    assert [p["verdict"] for p in report["pairs"]] == ["passed", "passed"]
    assert path.with_suffix(".md").read_text().count("PASSED") >= 2
    # The old host pushed the final snapshot itself, inside its one cutover task (no transfer role in the window).
    assert [p["final_pushed"] for p in report["pairs"]] == [True, True]
    assert all(0 < p["bytes"]["final_transfer"] < p["bytes"]["presync_transfer"] for p in report["pairs"])


def test_rerun_changes_nothing_and_stops_no_gateway(lab):
    before = {h: lab.gateway_pid(h) for h in ("old1", "new1", "old2", "new2")}
    rc, out = lab.migrate()
    assert rc == 0, out[-3000:]
    assert all(r["changed"] == 0 and r["failed"] == 0 for r in recap(out).values()), recap(out)
    assert {h: lab.gateway_pid(h) for h in before} == before
    assert "already migrated" in out


def test_health_check_passes_on_the_new_hosts(lab):
    time.sleep(2)  # the new gateways keep writing
    rc, out = lab.playbook(REPO / "playbooks/health_check.yml",
                           extra={"openclaw_memory_python": "/opt/openclaw-memory/venv/bin/python",
                                  "openclaw_health_expect_growth": True})
    assert rc == 0, out[-3000:]
    assert "new1: PASS" in out and "new2: PASS" in out


def test_decommission_refuses_a_host_migrated_less_than_a_day_ago(lab):
    rc, out = lab.playbook(REPO / "playbooks/decommission.yml", limit="old1,new1",
                           extra={"openclaw_memory_python": "/opt/openclaw-memory/venv/bin/python"})
    assert rc != 0
    assert "old1 is NOT decommissioned: migrated" in out and "less than openclaw_decommission_min_age_hours=24" in out
    assert lab.host("old1").file(DB).is_directory


def test_restoring_the_same_snapshot_again_changes_nothing(lab, tmp_path):
    ev = lab.evidence("new1", PAIR1)
    pid = lab.gateway_pid("new1")
    play = tmp_path / "restore.yml"
    play.write_text(
        "- name: Restore the migrated snapshot again\n  hosts: new1\n  gather_facts: false\n  roles:\n"
        "    - role: openclaw.memory.restore\n      openclaw_restore_snapshot: %s\n" % ev["snapshot"]["new_path"])
    rc, out = lab.playbook(play, extra={"openclaw_memory_python": "/opt/openclaw-memory/venv/bin/python"})
    assert rc == 0, out[-3000:]
    assert recap(out)["new1"]["changed"] == 0
    assert "has moved on since" in out  # the new gateway wrote since: left alone, not rolled back
    assert lab.gateway_pid("new1") == pid


# --------------------------------------------------------------------------- failures: old keeps running, no evidence


def _no_evidence(lab, *hosts):
    for h in hosts:
        assert lab.evidence_files(h) == [], h


def test_check_mode_is_a_dry_run_that_stops_and_writes_nothing(lab, report_dir):
    lab.reset("old1,new1")
    pid = lab.gateway_pid("old1")
    new_db = lab.db_digest("new1")
    reports = sorted(report_dir.glob("migration-*.json"))
    rc, out = lab.migrate("old1,new1", check=True)
    assert rc == 0, out[-3000:]
    assert "pair old1-to-new1: the preflight passed; a run would move " in out
    assert "bytes referenced) from old1 to new1 by snapshot" in out
    assert "pair old1-to-new1: would be migrated (check mode: the preflight passed, nothing was done)" in out
    assert lab.gateway_pid("old1") == pid  # never stopped
    assert not lab.host("old1").file("/var/backups/openclaw-memory/migrate").exists  # no snapshot
    assert not lab.host("new1").file("/var/lib/openclaw-memory/incoming").exists  # nothing sent
    assert lab.db_digest("new1") == new_db
    _no_evidence(lab, "old1", "new1")
    assert sorted(report_dir.glob("migration-*.json")) == reports


def test_embedding_model_differs_is_blocked_at_preflight(lab, report_dir):
    lab.reset("old1,new1", ocmlab_new_model="nomic-embed-text")
    pid = lab.gateway_pid("old1")
    new_db = lab.db_digest("new1")
    msg = ("pair old1-to-new1: embedding.model differs: old1 has 'text-embedding-3-small', new1 has "
           "'nomic-embed-text'")
    # A dry run (check mode) already says so, and fails: a CI job can run it before the change.
    rc, out = lab.migrate("old1,new1", check=True)
    assert rc != 0 and msg in out and re.search(r"pair old1-to-new1 on (old|new)1: failed at preflight", out)
    rc, out = lab.migrate("old1,new1")
    assert rc != 0
    assert msg in out
    assert lab.gateway_pid("old1") == pid  # never stopped
    assert not lab.host("old1").file("/var/backups/openclaw-memory/migrate").exists  # not even a snapshot
    assert lab.db_digest("new1") == new_db
    _no_evidence(lab, "old1", "new1")
    report, _report_file = latest_report(report_dir)
    assert report["pairs"][0]["verdict"] == "failed" and "preflight" in report["pairs"][0]["reason"]


def test_byte_corrupted_in_transit_is_caught_and_resent(lab, report_dir):
    lab.reset("old1,new1")
    new1 = lab.host("new1")
    install_corrupt_once(new1, "")
    rc, out = lab.migrate("old1,new1", openclaw_transfer_rsync_path="/usr/local/sbin/rsync-corrupt-once")
    assert rc == 0, out[-4000:]
    corrupted = new1.file("/var/tmp/ocmlab-corrupted")
    assert corrupted.exists, "the wrapper did not damage anything"
    report, _report_file = latest_report(report_dir)
    resent = report["pairs"][0]["bytes"]["resent"]
    assert len(resent) == 1 and "/data/" in resent[0] and corrupted.content_string.strip().endswith(resent[0])
    ev = lab.evidence("old1", PAIR1)
    assert ev and ev["restored"] == ev["baseline"]


def test_an_idle_database_migrates(lab, report_dir):
    """Nothing written between the pre-sync and the cutover (the old gateway is not running): the final
    snapshot is the pre-sync one, reused, and the pair still migrates; the transfer reads every file of it
    again instead of letting the snapshot vouch for itself."""
    lab.reset("old1,new1")
    assert lab.host("old1").run(f"{GW} stop --pidfile /run/ocmlab-gateway.pid").rc == 0
    total = lab.count("old1")
    rc, out = lab.migrate("old1,new1")
    assert rc == 0, out[-4000:]
    report, _report_file = latest_report(report_dir)
    assert report["pairs"][0]["verdict"] == "passed", report["pairs"][0]
    ev = lab.evidence("old1", PAIR1)
    assert ev and ev["restored"] == ev["baseline"] and ev["baseline"]["total"] == total
    assert lab.count("new1") >= total and lab.gateway_pid("new1") is not None


def install_corrupt_once(host, match):
    host.run("rm -f /var/tmp/ocmlab-corrupted")
    script = CORRUPT_ONCE.replace("@MATCH@", match).replace("'", "'\\''")
    assert host.run(f"printf '%s' '{script}' > /usr/local/sbin/rsync-corrupt-once && "
                    "chmod 0755 /usr/local/sbin/rsync-corrupt-once").rc == 0


def test_byte_corrupted_in_the_final_transfer_is_caught_inside_the_window(lab, report_dir):
    """The final delta is read by the restore as it arrives (the transfer's own check comes after the window):
    the restore hashes each file it copies, so a damaged one stops the switch; nothing is put in place, the old
    gateway runs again, no evidence."""
    lab.reset("old1,new1")
    new1 = lab.host("new1")
    new_db = lab.db_digest("new1")
    install_corrupt_once(new1, "-final.partial-transfer")
    rc, out = lab.migrate("old1,new1", openclaw_transfer_rsync_path="/usr/local/sbin/rsync-corrupt-once")
    assert rc != 0
    corrupted = new1.file("/var/tmp/ocmlab-corrupted")
    assert corrupted.exists, "the wrapper did not damage anything"
    name = corrupted.content_string.strip().rsplit("/", 1)[-1]
    assert "failed verification, so it was not put in place" in out and name in out
    report, _report_file = latest_report(report_dir)
    assert report["pairs"][0]["verdict"] == "failed"
    assert "new host failed at restore: " in report["pairs"][0]["reason"], report["pairs"][0]["reason"]
    assert "Old gateway running again; its data was never modified. No evidence was written." in out
    assert lab.db_digest("new1") == new_db
    assert lab.gateway_pid("old1") is not None and lab.gateway_pid("new1") is None
    _no_evidence(lab, "old1", "new1")
    # What arrived of the final snapshot is not left behind on the new host (the pre-sync copy stays, complete).
    incoming = new1.run("ls -A /var/lib/openclaw-memory/incoming").stdout.split()
    assert not [n for n in incoming if n.endswith("-final.partial-transfer")], incoming
    assert [n for n in incoming if n.endswith("-presync")], incoming


FAIL_FINAL = r"""#!/bin/sh
# rsync on the receiving side that refuses the final snapshot's push (the pre-sync one goes through).
case "$*" in *-final.partial-transfer*) echo "ocmlab: final push refused" >&2; exit 12 ;; esac
exec rsync "$@"
"""


def test_a_failed_final_push_tells_the_new_host_which_touches_nothing(lab, report_dir):
    """The old host's push fails after its gateway stopped: it starts the gateway again and leaves its word of
    failure on the new host, which was waiting in the same task; the new host fails at once, its database as it
    was, its gateway started again by the gate."""
    lab.reset("old1,new1")
    new1 = lab.host("new1")
    new_db = lab.db_digest("new1")
    assert new1.run("printf '%s' '" + FAIL_FINAL.replace("'", "'\\''") + "' > /usr/local/sbin/rsync-fail-final && "
                    "chmod 0755 /usr/local/sbin/rsync-fail-final").rc == 0
    rc, out = lab.migrate("old1,new1", openclaw_transfer_rsync_path="/usr/local/sbin/rsync-fail-final")
    assert rc != 0
    assert "ocmlab: final push refused" in out and "the gateway was started again" in out
    assert "the old host's cutover failed, so nothing was restored here" in out  # its word, not a timeout
    report, _report_file = latest_report(report_dir)
    assert report["pairs"][0]["verdict"] == "failed"
    assert report["pairs"][0]["reason"].startswith("old host failed at final snapshot: "), report["pairs"][0]
    assert lab.db_digest("new1") == new_db
    assert lab.gateway_pid("old1") is not None
    _no_evidence(lab, "old1", "new1")
    incoming = new1.run("ls -A /var/lib/openclaw-memory/incoming").stdout.split()
    assert not [n for n in incoming if "-final." in n], incoming


def test_restored_database_failing_verification_rolls_back(lab):
    lab.reset("old1,new1")
    new_db = lab.db_digest("new1")
    pid = lab.gateway_pid("old1")
    # The operator's noted baseline (openclaw_migrate_expect) does not match: the staged copy fails verification.
    rc, out = lab.migrate("old1,new1", openclaw_migrate_expect={"total": 1})
    assert rc != 0
    assert "total: expected 1, found" in out
    assert "Old gateway running again; its data was never modified. No evidence was written." in out
    assert lab.db_digest("new1") == new_db  # new's original database in place
    assert lab.gateway_pid("old1") not in (None, pid)  # stopped for the cutover, running again
    assert lab.gateway_pid("new1") is None
    _no_evidence(lab, "old1", "new1")


def test_new_gateway_failing_to_start_rolls_back(lab, report_dir):
    lab.reset("old1,new1")
    new_db = lab.db_digest("new1")
    rc, out = lab.migrate("old1,new1", ocmlab_break_start=["new1"])
    assert rc != 0
    # The restore's own task starts the gateway and undoes its switch when it does not come up.
    assert "pair old1-to-new1 on new1: failed at restore" in out and "original database back in place" in out
    assert "The restore was undone: the gateway is stopped again" in out
    assert lab.db_digest("new1") == new_db  # the original is back
    report, _report_file = latest_report(report_dir)
    failed = lab.host("new1").run(f"ls -d {DB}.failed-restore-*").stdout.split()
    # The restored copy (old's final snapshot) is kept beside it, not deleted.
    assert len(failed) == 1 and lab.count("new1", failed[0]) == report["pairs"][0]["baseline"]["total"]
    assert lab.gateway_pid("old1") is not None and lab.gateway_pid("new1") is None
    _no_evidence(lab, "old1", "new1")


def test_through_the_control_node_with_zstd(lab, report_dir):
    lab.reset("old1,new1")
    rc, out = lab.migrate("old1,new1", openclaw_migrate_transfer_method="via_controller",
                          openclaw_transfer_compress="zstd")
    assert rc == 0, out[-4000:]
    assert "Pack the snapshot into one archive on the old host" in out
    ev = lab.evidence("new1", PAIR1)
    assert ev and ev["restored"] == ev["baseline"]
    report, _report_file = latest_report(report_dir)
    assert report["pairs"][0]["verdict"] == "passed" and report["pairs"][0]["bytes"]["final_transfer"] > 0
    assert report["pairs"][0]["final_pushed"] is False
    assert lab.host("new1").run("ls /var/lib/openclaw-memory/incoming/ | grep -c transfer.tar").stdout.strip() == "0"


def test_export_method_moves_the_memories_through_parquet_into_an_older_format(lab, report_dir):
    lab.reset("old1,new1")
    rc, out = lab.migrate("old1,new1", openclaw_migrate_method="export", openclaw_migrate_storage_version="2.0")
    assert rc == 0, out[-4000:]
    assert "pair old1-to-new1 moves by export/import into data storage version 2.0: requested" in out
    report, path = latest_report(report_dir)
    pair = report["pairs"][0]
    assert pair["verdict"] == "passed" and pair["method"]["method"] == "export", pair.get("reason")
    assert pair["import"]["data_storage_version"] == "2.0"
    # Every memory of old's final snapshot, with the same counts and probes, now in the older format on new.
    assert pair["restored"] == pair["baseline"] and all(p["restored"] for p in pair["probes"])
    ev = lab.evidence("new1", PAIR1)
    assert ev and ev["restored"] == ev["baseline"]
    py = "/opt/openclaw-memory/venv/bin/python"
    dsv = lab.host("new1").run(f"{py} -c \"import lance; print(lance.dataset('{DB}/memories.lance')"
                               ".data_storage_version)\"").stdout.strip()
    assert dsv == "2.0"
    assert lab.count("new1") >= pair["baseline"]["total"]  # its gateway writes on
    assert "- method: export/import into data storage version 2.0 (requested)" in path.with_suffix(".md").read_text()
    assert lab.gateway_pid("old1") is None and lab.gateway_pid("new1") is not None


# --------------------------------------------------------------------------- two pairs, one fails


def test_one_failed_pair_does_not_stop_the_other(lab, report_dir):
    """With one fork, so every host runs each task in turn: the old hosts come first, so each new host's cutover
    task finds its old host's word instead of waiting out its timeout for a task that has not started."""
    lab.reset("all")
    rc, out = lab.playbook(REPO / "playbooks/migrate.yml", extra={
        "openclaw_migrate_deps": False, "openclaw_memory_python": "/opt/openclaw-memory/venv/bin/python",
        "ocmlab_break_start": ["new2"]}, callback="ansible.posix.json", forks=1)
    assert rc != 0
    result, _end = json.JSONDecoder().raw_decode(out[out.index("{"):])
    ready = {}
    for play in result["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == "Mark the old host ready for decommissioning":
                ready = {h: r.get("ansible_facts", {}).get("openclaw_decommission_ready") for h, r in
                         task["hosts"].items()}
    assert ready == {"old1": True, "old2": None, "new1": None, "new2": None}, ready
    assert lab.evidence("old1", PAIR1) and lab.evidence("new1", PAIR1)
    _no_evidence(lab, "old2", "new2")
    assert lab.gateway_pid("old1") is None and lab.gateway_pid("new1") is not None
    assert lab.gateway_pid("old2") is not None and lab.gateway_pid("new2") is None
    stats = result["stats"]
    assert stats["old1"]["failures"] == 0 and stats["new1"]["failures"] == 0
    assert stats["old2"]["failures"] == 1 and stats["new2"]["failures"] == 1
    report, _report_file = latest_report(report_dir)
    assert [p["verdict"] for p in report["pairs"]] == ["passed", "failed"]


def test_decommission_refuses_a_host_without_evidence_and_archives_a_ready_one(lab):
    extra = {"openclaw_memory_python": "/opt/openclaw-memory/venv/bin/python", "openclaw_decommission_min_age_hours": 0}
    rc, out = lab.playbook(REPO / "playbooks/decommission.yml", extra=extra)
    assert rc != 0
    assert "old2 is NOT decommissioned: no migration evidence in /var/lib/openclaw-memory" in out
    assert lab.host("old2").file(DB).is_directory and lab.gateway_pid("old2") is not None
    # old1 (evidence, new1 healthy, min age 0 here) is decommissioned: stopped, archived, moved aside, recorded.
    old1 = lab.host("old1")
    record = json.loads(old1.file(f"{EVIDENCE_DIR}/decommissioned-old1.json").content_string)
    assert old1.file(record["archive"]).exists and old1.file(record["database_moved_to"]).is_directory
    assert not old1.file(DB).exists and lab.gateway_pid("old1") is None
    assert old1.run(f"tar --list --gzip --file {record['archive']} | grep -c memories.lance/_versions/").rc == 0
