"""backup_cron on the lab: the installed command over simulated dates, off-site copies, failures, secrecy.

`old` runs the gateway simulator (2 memories a second) and the role's command; `new` receives the
rsync copies; the S3 endpoint (moto) and the webhook/Telegram receiver run in the lab's control
namespace (prepare.yml). The tests run in file order: the schedule, ten simulated days, the copies,
the failures, the secrets, then state=absent.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import testinfra

SCENARIO = Path(__file__).resolve().parents[1]
REPO = SCENARIO.parents[1]
CMD = "/usr/local/sbin/openclaw-memory-backup"
CONFIG = "/etc/openclaw-memory/backup.json"
ENV_FILE = "/etc/openclaw-memory/backup.env"
STATUS = "/var/lib/openclaw-memory/last-backup.json"
LOG = "/var/log/openclaw-memory/backup.log"
CRON = "/etc/cron.d/openclaw-memory-backup"
BACKUPS = "/var/backups/openclaw-memory"
OFFSITE = "/var/backups/offsite/old"
LIB = "/opt/openclaw-memory/lib/ansible_collections/openclaw/memory/plugins/module_utils"
VENV_PY = "/opt/openclaw-memory/venv/bin/python"
SIM_STATUS = "env PYTHONPATH=/opt/ocmlab %s -m ocmlab.gateway_sim status --pidfile /run/ocmlab-gateway.pid" % VENV_PY
START = datetime.datetime(2027, 1, 1, 3, 0, tzinfo=datetime.timezone.utc)
DAYS = 10
CTL_NS = os.environ.get("OCMLAB_CTL_NS") or "ocm-ctl"
WORK = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY") or "/var/tmp/ocm-backup-cron") / "backup_cron"


def day_name(day):
    return (START + datetime.timedelta(days=day)).strftime("%Y%m%dT%H%M%SZ")


def day_iso(day):
    return (START + datetime.timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def inventory(request):
    inv = request.config.getoption("ansible_inventory")
    assert inv, "run through molecule (verifier options set ansible-inventory)"
    return inv


@pytest.fixture(scope="module")
def old(inventory):
    return testinfra.get_host("ansible://old", ansible_inventory=inventory)


@pytest.fixture(scope="module")
def new(inventory):
    return testinfra.get_host("ansible://new", ansible_inventory=inventory)


@pytest.fixture(scope="module")
def hv(old):
    """old's inventory variables (the role's inputs, the test secrets)."""
    return old.ansible.get_variables()


@pytest.fixture(scope="module")
def secrets(hv):
    return {
        k: hv[k]
        for k in (
            "openclaw_backup_cron_s3_access_key",
            "openclaw_backup_cron_s3_secret_key",
            "openclaw_backup_cron_telegram_token",
            "openclaw_backup_cron_webhook_url",
        )
    }


def received():
    path = WORK / "receiver.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def status(old):
    return json.loads(old.file(STATUS).content_string)


def s3(code):
    """Run boto3 code against the moto server, inside the control namespace; returns its JSON output."""
    prog = (
        "import boto3, json\nc = boto3.client('s3', endpoint_url='http://127.0.0.1:9077', region_name='us-east-1',"
        " aws_access_key_id='x', aws_secret_access_key='y')\n" + code
    )
    out = subprocess.run(
        ["ip", "netns", "exec", CTL_NS, sys.executable, "-c", prog], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def s3_keys(prefix):
    return s3(
        "p = c.get_paginator('list_objects_v2')\nprint(json.dumps([o['Key'] for pg in p.paginate("
        "Bucket='ocm-backups', Prefix=%r) for o in pg.get('Contents', [])]))" % prefix
    )


def sim_pid(old):
    return old.run("cat /run/ocmlab-gateway.pid").stdout.strip()


def run_playbook(inventory, *extra):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(
        ["ansible-playbook", "-i", inventory, str(SCENARIO / "converge.yml"), *extra],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return proc.returncode, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- what the role installed


def test_command_config_env_file_and_library_are_installed(old, secrets):
    cmd = old.file(CMD)
    assert cmd.mode == 0o755 and cmd.user == "root"
    assert cmd.content_string.startswith("#!%s -I\n" % VENV_PY)
    conf = old.file(CONFIG)
    assert conf.mode == 0o600 and conf.user == "root"
    env = old.file(ENV_FILE)
    assert env.mode == 0o600 and env.user == "root"
    for value in secrets.values():
        assert value not in conf.content_string
        assert value in env.content_string
    # The command runs the collection's own code: the copies are byte-identical to module_utils.
    for name in ("backup_job.py", "snapshot.py", "verify.py", "lance.py", "s3.py"):
        assert old.file("%s/%s" % (LIB, name)).sha256sum == _sha256(REPO / "plugins" / "module_utils" / name), name
    check = old.run("%s --config %s check-config" % (CMD, CONFIG))
    assert check.rc == 0 and "config ok" in check.stdout
    assert (
        "secrets present: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, OPENCLAW_BACKUP_TELEGRAM_TOKEN, "
        "OPENCLAW_BACKUP_WEBHOOK_URL" in check.stdout
    )


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cron_file_runs_at_three_with_path_and_a_log_and_logrotate(old):
    lines = [ln for ln in old.file(CRON).content_string.splitlines() if ln and not ln.startswith("#")]
    assert lines == [
        'PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"',
        "0 3 * * * root %s --config %s run >> %s 2>&1" % (CMD, CONFIG, LOG),
    ]
    rot = old.file("/etc/logrotate.d/openclaw-memory-backup").content_string
    assert rot.startswith("# ") and "%s {" % LOG in rot and "rotate 14" in rot


def test_the_cron_line_works_in_crons_bare_environment(old):
    """Run the job line exactly as cron would: sh -c, only PATH from the cron file set (real date)."""
    lines = [ln for ln in old.file(CRON).content_string.splitlines() if ln and not ln.startswith("#")]
    path = lines[0].split("=", 1)[1].strip('"')
    job = lines[1].split(None, 6)[6]
    res = old.run("env -i PATH=%s SHELL=/bin/sh HOME=/root sh -c %s" % (path, _quote(job)))
    assert res.rc == 0, old.file(LOG).content_string[-2000:]
    st = status(old)
    assert st["ok"] and st["simulated_time"] is False
    assert "OK: OpenClaw memory backup OK on old" in old.file(LOG).content_string


def _quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


# --------------------------------------------------------------------------- ten simulated days


def test_ten_simulated_days_keep_seven_locally_on_new_and_in_s3(old, new):
    totals = []
    for day in range(DAYS):
        res = old.run("%s --config %s run --now %s >> %s 2>&1" % (CMD, CONFIG, day_iso(day), LOG))
        assert res.rc == 0, old.file(LOG).content_string[-3000:]
        st = status(old)
        assert st["ok"] and st["snapshot"]["name"] == day_name(day)
        assert st["offsite"]["rsync"]["verified"] and st["offsite"]["s3"]["verified"]
        totals.append(st["memories"]["total"])
    assert totals == sorted(totals) and totals[-1] > totals[0]  # the simulator kept writing between runs
    want = [day_name(d) for d in range(DAYS - 7, DAYS)]
    # Locally: the guide's rolling 7 days (the real-date snapshot of the cron test is older: removed).
    local = sorted(old.check_output("ls -1 %s" % BACKUPS).split())
    assert local == want
    # On new: the same 7, each complete by its own SHA256SUMS, with no partial dir left.
    assert sorted(new.check_output("ls -1A %s" % OFFSITE).split()) == want
    for name in want:
        check = new.run("cd %s/%s && sha256sum --quiet --strict -c SHA256SUMS" % (OFFSITE, name))
        assert check.rc == 0, check.stdout + check.stderr
    # Only new files travelled: a data file both of the last two copies hold is one inode on new.
    sums = [
        dict(
            reversed(line.split("  ", 1))
            for line in new.file("%s/%s/SHA256SUMS" % (OFFSITE, n)).content_string.splitlines()
        )
        for n in want[-2:]
    ]
    common = sorted(
        rel for rel, sha in sums[0].items() if rel.startswith("memories.lance/data/") and sums[1].get(rel) == sha
    )
    assert common
    common = common[0]
    inodes = {new.check_output("stat -c %%i %s/%s/%s" % (OFFSITE, n, common)) for n in want[-2:]}
    assert len(inodes) == 1
    last = status(old)
    assert last["retention"]["kept"] == sorted(want, reverse=True)
    assert last["offsite"]["rsync"]["removed"] == [day_name(DAYS - 8)]
    assert last["offsite"]["s3"]["removed"] == [day_name(DAYS - 8)]
    # In S3: the same 7 snapshots, and exactly the objects they reference.
    keys = s3_keys("fleet/old/")
    assert sorted({k.split("/")[3] for k in keys if "/snapshots/" in k}) == want
    refs = s3(
        "refs = set()\nfor n in %r:\n    body = c.get_object(Bucket='ocm-backups', Key='fleet/old/snapshots/%%s/"
        "SHA256SUMS' %% n)['Body'].read().decode()\n    refs |= {l.split()[0] for l in body.splitlines()}\n"
        "print(json.dumps(sorted(refs)))" % (want,)
    )
    assert sorted(k.rsplit("/", 1)[1] for k in keys if "/objects/" in k) == refs


def test_the_s3_copy_comes_back_whole(old):
    old.run("rm -rf /var/backups/fetched")
    res = old.run("%s --config %s fetch-s3 --dest /var/backups/fetched" % (CMD, CONFIG))
    assert res.rc == 0, res.stdout + res.stderr
    name = day_name(DAYS - 1)
    prog = (
        "import sys, json; sys.path.insert(0, '/opt/openclaw-memory/lib')\n"
        "from ansible_collections.openclaw.memory.plugins.module_utils.verify import verify\n"
        "p = '/var/backups/fetched/%s'\n"
        "r = verify(p, baseline=p + '/SNAPSHOT.json', compare_to='%s/%s')\n"
        "print(json.dumps({'ok': r['ok'], 'mismatches': r['mismatches'], 'total': r['stats']['total']}))"
        % (name, BACKUPS, name)
    )
    out = json.loads(old.check_output("%s -I -c %s" % (VENV_PY, _quote(prog))))
    assert out["ok"], out["mismatches"]
    assert out["total"] == status(old)["memories"]["total"]


def test_every_run_was_announced_on_the_webhook_and_telegram(hv):
    msgs = received()
    hooks = [m for m in msgs if m["path"] == "/hooks/ocmlab-webhook-token-93e1"]
    tgs = [m for m in msgs if m["path"] == "/bot%s/sendMessage" % hv["openclaw_backup_cron_telegram_token"]]
    assert len(hooks) == len(tgs) == DAYS + 1  # the cron-line run and ten simulated days
    assert all(m["body"]["ok"] for m in hooks)
    assert all(m["body"]["chat_id"] == "4242" for m in tgs)
    last = hooks[-1]["body"]
    assert last["snapshot"] == day_name(DAYS - 1) and last["memories"] > 0 and last["bytes"] > 0
    assert last["offsite"] == {"rsync": True, "s3": True}
    assert "memories" in last["text"] and "off-site: rsync ok, s3 ok" in last["text"]


# --------------------------------------------------------------------------- failures


def _failing_config(old, name, **over):
    conf = json.loads(old.file(CONFIG).content_string)
    conf.update(over)
    path = "/etc/openclaw-memory/%s.json" % name
    old.run("umask 077; cat > %s <<'EOF'\n%s\nEOF" % (path, json.dumps(conf)))
    return path


def test_read_only_backup_dir_fails_with_reason_and_alert_and_the_gateway_keeps_running(old):
    before = len(received())
    pid = sim_pid(old)
    ro = "/var/backups/ro-target"
    mount = old.run(
        "mkdir -p {d} && (mountpoint -q {d} || mount --bind {d} {d}) && mount -o remount,bind,ro {d}".format(d=ro)
    )
    assert mount.rc == 0, mount.stderr
    try:
        cfg = _failing_config(old, "backup-ro", backup_dir=ro, mode="cold")
        res = old.run("%s --config %s run --now %s >> %s 2>&1" % (CMD, cfg, day_iso(DAYS), LOG))
    finally:
        old.run("umount %s" % ro)
    assert res.rc == 1
    st = status(old)
    reason = "backup_dir '%s' is not writable ('%s' is a read-only filesystem); fix its mount, owner or mode" % (ro, ro)
    assert st["ok"] is False and st["reason"].startswith(reason)
    assert st["consecutive_failures"] == 1 and st["last_ok_snapshot"] == day_name(DAYS - 1)
    assert old.file(LOG).content_string.rstrip().splitlines()[-1].endswith("FAILED: " + st["reason"])
    alert = [m["body"] for m in received()[before:] if m["path"].startswith("/hooks/")]
    assert len(alert) == 1 and alert[0]["ok"] is False and alert[0]["reason"] == st["reason"]
    # Refused before anything was stopped: the gateway never went down.
    assert st["gateway"] is None and sim_pid(old) == pid
    assert old.run(SIM_STATUS).rc == 0


def test_cold_run_that_fails_after_the_stop_starts_the_gateway_again(old):
    before = len(received())
    pid = sim_pid(old)
    cfg = _failing_config(old, "backup-owner", mode="cold", owner="no-such-user")
    res = old.run("%s --config %s run --now %s >> %s 2>&1" % (CMD, cfg, day_iso(DAYS), LOG))
    assert res.rc == 1
    st = status(old)
    assert st["reason"] == "owner 'no-such-user' is not a user on this host; set owner to an existing account"
    assert st["gateway"]["stopped"] and st["gateway"]["started"]
    assert old.run(SIM_STATUS).rc == 0
    assert sim_pid(old) != pid  # it was stopped and started again
    alert = [m["body"] for m in received()[before:] if m["path"].startswith("/hooks/")]
    assert alert and alert[-1]["ok"] is False and alert[-1]["reason"] == st["reason"]


def test_cold_run_succeeds_and_restarts_the_gateway(old):
    pid = sim_pid(old)
    cfg = _failing_config(old, "backup-cold", mode="cold")
    res = old.run("%s --config %s run --now %s >> %s 2>&1" % (CMD, cfg, day_iso(DAYS), LOG))
    assert res.rc == 0, old.file(LOG).content_string[-2000:]
    st = status(old)
    assert st["ok"] and st["gateway"]["stopped"] and st["gateway"]["started"] and st["gateway"]["downtime_s"] < 30
    assert st["consecutive_failures"] == 0
    assert sim_pid(old) != pid and old.run(SIM_STATUS).rc == 0


# --------------------------------------------------------------------------- secrets


def test_secrets_never_reach_ps_the_log_or_the_status_file(old, secrets):
    script = (
        "%s --config %s run --now %s > /tmp/bc-run.log 2>&1 & p=$!; : > /tmp/bc-ps.txt; n=0; "
        "while kill -0 $p 2>/dev/null; do n=$((n+1)); ps -eww -o pid=,args= >> /tmp/bc-ps.txt; "
        "for e in /proc/[0-9]*/environ; do tr '\\0' ' ' < $e; echo; done >> /tmp/bc-ps.txt 2>/dev/null; done; "
        'wait $p; echo "rc=$? samples=$n"' % (CMD, CONFIG, day_iso(DAYS + 1))
    )
    res = old.run("bash -c %s" % _quote(script))
    assert "rc=0" in res.stdout, old.file("/tmp/bc-run.log").content_string
    sampled = old.file("/tmp/bc-ps.txt").content_string
    assert "rsync" in sampled and "ssh" in sampled  # the sampling saw the job's children
    texts = {
        "ps / environments": sampled,
        "log": old.file(LOG).content_string + old.file("/tmp/bc-run.log").content_string,
        "status file": old.file(STATUS).content_string,
    }
    for name, value in secrets.items():
        needle = value.rsplit("/", 1)[-1]  # the webhook URL's token part
        for where, text in texts.items():
            assert needle not in text, "%s appears in the %s" % (name, where)
    old.run("rm -f /tmp/bc-ps.txt /tmp/bc-run.log")


def test_secrets_never_reach_the_ansible_output_and_the_role_stays_idempotent(inventory, secrets):
    rc, out = run_playbook(inventory, "-vv", "--diff")
    assert rc == 0, out[-3000:]
    changed = [ln for ln in out.splitlines() if ln.startswith("changed:")]
    assert "changed=0" in out and "failed=0" in out, changed
    for name, value in secrets.items():
        assert value.rsplit("/", 1)[-1] not in out, "%s appears in the ansible-playbook -vv --diff output" % name


# --------------------------------------------------------------------------- state absent


def test_state_absent_removes_the_schedule_but_never_the_backups(old, inventory):
    kept = old.check_output("ls -1 %s" % BACKUPS).split()
    rc, out = run_playbook(inventory, "-e", "openclaw_backup_cron_state=absent")
    assert rc == 0, out[-3000:]
    for path in (
        CRON,
        CMD,
        CONFIG,
        ENV_FILE,
        "/etc/logrotate.d/openclaw-memory-backup",
        "/opt/openclaw-memory/lib/ansible_collections",
    ):
        assert not old.file(path).exists, path
    assert old.check_output("ls -1 %s" % BACKUPS).split() == kept and len(kept) == 7
    assert old.file(STATUS).exists and old.file(LOG).exists
    rc, out = run_playbook(inventory, "-e", "openclaw_backup_cron_state=absent")
    assert rc == 0 and "changed=0" in out
