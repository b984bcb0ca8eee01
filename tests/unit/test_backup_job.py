# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scheduled backup command (plugins/module_utils/backup_job.py, s3.py) on real small databases.

Real everything: LanceDB tables from ocmlab.fixtures, a moto S3 server (boto3
checks the bucket independently), a private sshd on 127.0.0.1 for the rsync
copies, and a webhook/Telegram receiver process (molecule/backup_cron/files/
receiver.py, the one the lab scenario uses). Simulated dates (`--now`) drive
retention. The role on lab hosts is molecule/backup_cron.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import uuid

import pytest
from ansible_collections.openclaw.memory.plugins.module_utils import backup_job as J
from ansible_collections.openclaw.memory.plugins.module_utils import s3 as S3
from ansible_collections.openclaw.memory.plugins.module_utils.checksums import SUMS_NAME, read_sums
from ansible_collections.openclaw.memory.plugins.module_utils.common import MemoryToolError
from ansible_collections.openclaw.memory.plugins.module_utils.snapshot import list_snapshots
from ansible_collections.openclaw.memory.plugins.module_utils.verify import verify
from ocmlab import fixtures as F
from repo_env import PYTHON, REPO

RECEIVER = os.path.join(REPO, "molecule", "backup_cron", "files", "receiver.py")
TEMPLATE = os.path.join(REPO, "roles", "backup_cron", "templates", "openclaw-memory-backup.j2")
PLUGIN = "memory-lancedb"
DAY = 86400.0
T0 = datetime.datetime(2026, 9, 1, 3, 0, tzinfo=datetime.timezone.utc).timestamp()
BUCKET = "ocm-backups"


def iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def state(tmp_path):
    """A memory-lancedb state dir: 40 memories (dims 16) and a workspace."""
    built = F.build_state(str(tmp_path / "home"), plugin=PLUGIN, n=40, dims=16, seed=5, mode="batched")
    return {"db": built["db_path"], "ws": built["workspace"]["path"], "tmp": tmp_path}


def write_config(tmp, db, ws, env=None, **over):
    """Config + env file under tmp/etc; returns the config path."""
    etc = tmp / "etc"
    etc.mkdir(exist_ok=True)
    cfg = {"format": J.CONFIG_FORMAT, "db_path": db, "workspace": ws, "backup_dir": str(tmp / "backups"),
           "status_file": str(tmp / "var" / "last-backup.json"), "lock_file": str(tmp / "var" / "backup.lock")}
    if env is not None:
        env_path = etc / "backup.env"
        env_path.write_text("".join("%s=%s\n" % kv for kv in env.items()))
        env_path.chmod(0o600)
        cfg["env_file"] = str(env_path)
    cfg.update(over)
    path = etc / "backup.json"
    path.write_text(json.dumps(cfg, indent=1))
    return str(path)


def run_job(config, now=None, *extra):
    """main() in-process; returns (exit code, log text)."""
    buf = io.StringIO()
    argv = ["--config", config, "run"] + (["--now", iso(now)] if now is not None else []) + list(extra)
    rc = J.main(argv, stream=buf)
    return rc, buf.getvalue()


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def status_of(config):
    return read_json(read_json(config)["status_file"])


@pytest.fixture(scope="module")
def moto():
    """A moto S3 server on 127.0.0.1 with an empty bucket per test (see `bucket`)."""
    server_mod = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    srv = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    endpoint = "http://%s:%d" % (host, port)
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="AKIATESTKEY", region_name="us-east-1",
                          aws_secret_access_key="test-secret")
    yield {"endpoint": endpoint, "boto": client}
    srv.stop()


@pytest.fixture
def bucket(moto):
    name = "ocm-%s" % uuid.uuid4().hex[:12]
    moto["boto"].create_bucket(Bucket=name)
    return dict(moto, bucket=name)


def s3_keys(boto, bucket, prefix=""):
    keys = {}
    for page in boto.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            keys[obj["Key"]] = obj["Size"]
    return keys


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A private sshd on 127.0.0.1 (own /run in a mount namespace), root key login; module scope."""
    sshd_bin = shutil.which("sshd") or "/usr/sbin/sshd"
    if os.geteuid() != 0 or not os.access(sshd_bin, os.X_OK) or not shutil.which("unshare"):
        pytest.skip("needs root, sshd and unshare")
    d = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
    shutil.copy(d / "client_key.pub", d / "authorized_keys")
    port = free_port()
    (d / "sshd_config").write_text(
        "Port %d\nListenAddress 127.0.0.1\nListenAddress ::1\nHostKey %s\nPidFile %s\nAuthorizedKeysFile %s\n"
        "StrictModes no\n"
        "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        % (port, d / "host_key", d / "sshd.pid", d / "authorized_keys"))
    log = open(d / "sshd.log", "w")  # noqa: SIM115 - the sshd writes to it for the module's lifetime
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         "mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd && exec %s -D -e -f %s" % (sshd_bin, d / "sshd_config")],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("private sshd did not start: %s" % (d / "sshd.log").read_text())
    yield {"port": port, "key": str(d / "client_key"), "known_hosts": str(d / "known_hosts"), "dir": d}
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def rsync_cfg(sshd, remote_dir, **over):
    cfg = {"dest": "root@127.0.0.1:%s" % remote_dir, "ssh_port": sshd["port"], "ssh_key": sshd["key"],
           "known_hosts": sshd["known_hosts"]}
    cfg.update(over)
    return cfg


@pytest.fixture
def receiver(tmp_path):
    """The webhook/Telegram stand-in as a process; yields a starter: receiver(status=200) -> info."""
    procs = []

    def start(status=200):
        log = tmp_path / ("receiver-%d.jsonl" % len(procs))
        log.touch()
        proc = subprocess.Popen([sys.executable, RECEIVER, "--port", "0", "--log", str(log), "--status", str(status)],
                                stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on "), line
        procs.append(proc)
        base = "http://" + line.split()[-1]

        def requests():
            return [json.loads(x) for x in log.read_text().splitlines()]
        return {"base": base, "requests": requests}

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=10)


# --------------------------------------------------------------------------- config and env file


def test_config_defaults_are_filled_in(state):
    cfg = J.load_config(write_config(state["tmp"], state["db"], state["ws"]))
    assert cfg["retain_days"] == 7 and cfg["mode"] == "hot" and cfg["force"] is True
    assert cfg["verify_checks"] == ["checksums", "structure", "content", "search"]
    assert cfg["offsite"] == {"rsync": None, "s3": None}
    assert cfg["notify"]["on"] == "always" and cfg["notify"]["telegram"] is None


@pytest.mark.parametrize("over, needle", [
    ({"retain": 3}, "config '{cfg}': retain is not a known setting; allowed: backup_dir"),
    ({"s3_secret_key": "x"},
     ": s3_secret_key is not a known setting (secrets go to the env file, never into the config)"),
    ({"backup_dir": "backups"}, ": backup_dir 'backups' must be an absolute path"),
    ({"backup_dir": "{db}/backups"}, (": backup_dir '{db}/backups' is inside db_path '{db}': backups are never written "
                                      "into the live database")),
    ({"mode": "warm"}, ": mode 'warm' is invalid: use 'hot'"),
    ({"mode": "cold"}, "mode is 'cold' but gateway.stop and gateway.start are not both set"),
    ({"retain_days": -1}, ": retain_days -1 is invalid: it must be 0 or more days"),
    ({"retain_days": True}, ": retain_days must be a whole number or a number, got True"),
    ({"verify_checks": ["checksums", "speed"]}, ": verify_checks: unknown check(s) speed; choose from checksums"),
    ({"format": "v0"}, ": format is 'v0'; this command reads 'openclaw.memory/backup-config-v1'"),
    ({"offsite": {"rsync": {"dest": "backup-host:relative"}}},
     ": offsite.rsync.dest 'backup-host:relative' is not '[user@]host:/absolute/path'"),
    ({"offsite": {"rsync": {"dest": "h::module/x"}}}, ("is not '[user@]host:/absolute/path' (rsync over SSH; no rsync "
                                                       "daemon '::' syntax)")),
    ({"offsite": {"rsync": {"dest": "h:/"}}}, "points at '/'; give a directory that holds only these backups"),
    ({"offsite": {"s3": {"prefix": "x"}}}, ": offsite.s3.bucket is required"),
    ({"offsite": {"s3": {"bucket": "b", "workers": 0}}}, (": offsite.s3.workers 0 is invalid: it must be 1 or more "
                                                          "(parallel uploads) (role variable "
                                                          "openclaw_backup_cron_s3_workers)")),
    ({"notify": {"on": "sometimes"}}, ": notify.on 'sometimes' is invalid: use always, failure, never"),
    ({"gateway": {"stop": "systemctl stop 'openclaw", "start": "x"}, "mode": "cold"}, "cannot be split into words"),
    # Values that used to pass here and then fail every run after a snapshot was written.
    ({"verify_checks": []}, (": verify_checks is empty: nothing would check the new snapshots; list at least one of "
                             "checksums, structure, content, search, readwrite (default: checksums, structure, "
                             "content, search) (role variable openclaw_backup_cron_verify_checks)")),
    ({"gateway": {"timeout": 0}}, (": gateway.timeout 0 is invalid: it must be more than 0 (seconds each gateway "
                                   "command may take) (role variable openclaw_backup_cron_gateway_timeout)")),
    ({"gateway": {"timeout": -1}}, ": gateway.timeout -1 is invalid: it must be more than 0"),
    ({"notify": {"timeout": 0}}, (": notify.timeout 0 is invalid: it must be more than 0 (seconds each notification "
                                  "may take) (role variable openclaw_backup_cron_notify_timeout)")),
    ({"notify": {"timeout": -1}}, ": notify.timeout -1 is invalid"),
    ({"embedding": {"provider": "openai", "dimensions": "x"}},
     (": embedding.dimensions 'x' is invalid: it must be a whole number of 1 or more (the embedding model's vector "
      "size, e.g. 1536), or left out (role variable openclaw_backup_cron_embedding)")),
    ({"owner": -5}, (": owner -5 is invalid: it must be 0 or more (a numeric id), or a name (role variable "
                     "openclaw_backup_cron_owner)")),
    ({"group": -1}, ": group -1 is invalid: it must be 0 or more (a numeric id), or a name"),
    ({"offsite": {"rsync": {"dest": "h:/x", "timeout": 0}}}, ": offsite.rsync.timeout 0 is invalid"),
    ({"offsite": {"s3": {"bucket": "b", "timeout": -1}}}, ": offsite.s3.timeout -1 is invalid"),
    ({"offsite": {"s3": {"bucket": "b", "ca_file": "/nope.pem"}}},
     (": offsite.s3.ca_file (role variable openclaw_backup_cron_s3_ca_file) '/nope.pem' cannot be used as a CA bundle "
      "(No such file or directory); give the path of a readable PEM file")),
    ({"offsite": {"s3": {"bucket": "b", "ca_file": "{db}"}}}, "cannot be used as a CA bundle (Is a directory)"),
    ({"offsite": {"s3": {"bucket": "b", "endpoint": "https://[bad/x"}}},
     ": offsite.s3.endpoint 'https://[bad/x' cannot be parsed as a URL (a bad host or port); use e.g."),
    ({"notify": {"telegram": {"chat_id": "1", "api_base": "api.telegram.org"}}},
     (": notify.telegram.api_base 'api.telegram.org' does not start with http:// or https://; use the Bot API's base "
      "URL, https://api.telegram.org, or your stand-in's http(s) URL (role variable "
      "openclaw_backup_cron_telegram_api_base)")),
    ({"notify": {"telegram": {"chat_id": "1", "api_base": "https://api telegram.org"}}},
     "api_base 'https://api telegram.org' contains a blank or a control character"),
    ({"backup_dir": "/"}, (": backup_dir '/' is the root directory: snapshots would be written into '/'; choose a "
                           "directory that holds only these backups, e.g. /var/backups/openclaw-memory (role variable "
                           "openclaw_backup_cron_dir)")),
    ({"backup_dir": "/var/.."}, ": backup_dir '/var/..' is the root directory"),
    ({"backup_dir": "{db}"}, ": backup_dir '{db}' is inside db_path '{db}'"),
    # Non-finite numbers (the JSON reader takes NaN and Infinity): NaN < 0 is false, so NaN passed as retain_days.
    ({"retain_days": float("nan")}, (": retain_days nan is invalid: it must be a finite number, 0 or more days (role "
                                     "variable openclaw_backup_cron_retain_days)")),
    ({"space_margin_mb": float("inf")}, ": space_margin_mb inf is invalid: it must be a finite number, 0 or more"),
    ({"gateway": {"timeout": float("nan")}}, ": gateway.timeout nan is invalid: it must be a finite number"),
    ({"offsite": {"s3": {"bucket": "b", "retain_days": float("-inf")}}}, ": offsite.s3.retain_days -inf is invalid"),
])
def test_config_errors_name_the_setting_and_the_fix(state, over, needle):
    over = json.loads(json.dumps(over).replace("{db}", state["db"]))
    path = write_config(state["tmp"], state["db"], state["ws"], **over)
    with pytest.raises(MemoryToolError) as e:
        J.load_config(path)
    assert needle.format(cfg=path, db=state["db"]) in e.value.msg


def test_config_file_problems(tmp_path):
    with pytest.raises(MemoryToolError, match="Config file '.*/nope.json' does not exist; apply the "
                                              "openclaw.memory.backup_cron role or pass --config"):
        J.load_config(str(tmp_path / "nope.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(MemoryToolError, match="Config file '.*/bad.json' is not valid JSON"):
        J.load_config(str(bad))


def test_gateway_commands_as_strings_are_split_like_a_shell(state):
    cfg = J.load_config(write_config(state["tmp"], state["db"], state["ws"], mode="cold",
                                     gateway={"stop": "systemctl stop 'openclaw gw'", "start": ["systemctl", "start"]}))
    assert cfg["gateway"]["stop"] == ["systemctl", "stop", "openclaw gw"]


def test_env_file_must_be_private_and_well_formed(state):
    tmp = state["tmp"]
    path = write_config(tmp, state["db"], state["ws"], env={"AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s"},
                        offsite={"s3": {"bucket": "b"}})
    env = tmp / "etc" / "backup.env"
    env.chmod(0o644)
    with pytest.raises(MemoryToolError) as e:
        J.load_secrets(J.load_config(path))
    assert "Env file '%s' has mode 0644: other users can read the secrets in it; run chmod 600 '%s'" % (env, env) \
        in e.value.msg
    env.write_text("# comment\nexport AWS_ACCESS_KEY_ID='AKIA1'\nthis line holds hunter2-secret\n")
    env.chmod(0o600)
    with pytest.raises(MemoryToolError) as e:
        J.load_secrets(J.load_config(path))
    assert e.value.msg == "Env file '%s' line 3 is not KEY=VALUE (the value is not shown)" % env
    assert "hunter2" not in e.value.msg


@pytest.mark.parametrize("over, env, needle", [
    ({"offsite": {"s3": {"bucket": "b"}}}, {"AWS_ACCESS_KEY_ID": "AKIA1"},
     "offsite.s3 is set but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are missing: put them in the env file"),
    ({"notify": {"telegram": {"chat_id": "42"}}}, {},
     "notify.telegram is set but OPENCLAW_BACKUP_TELEGRAM_TOKEN is missing: put the bot token in the env file"),
    ({"notify": {"webhook": True}}, {}, "notify.webhook is true but OPENCLAW_BACKUP_WEBHOOK_URL is missing"),
    ({"notify": {"webhook": True}}, {"OPENCLAW_BACKUP_WEBHOOK_URL": "ftp://x/secret-path"},
     "OPENCLAW_BACKUP_WEBHOOK_URL in the env file"),
])
def test_missing_secrets_are_named(state, over, env, needle, monkeypatch):
    for k in J.SECRET_ENV:
        monkeypatch.delenv(k, raising=False)
    cfg = J.load_config(write_config(state["tmp"], state["db"], state["ws"], env=env, **over))
    with pytest.raises(MemoryToolError) as e:
        J.load_secrets(cfg)
    assert needle in e.value.msg
    assert "secret-path" not in e.value.msg


def test_redactor_hides_values_and_the_parts_of_secret_urls():
    r = J.Redactor({"a": "AKIAXYZ123", "w": "https://hooks.example.com/services/T00/B00/tok3n?x=1", "n": None})
    text = r("key AKIAXYZ123 url https://hooks.example.com/services/T00/B00/tok3n?x=1 path /services/T00/B00/tok3n")
    assert "AKIAXYZ123" not in text and "tok3n" not in text and text.count(J.REDACTED) == 3
    assert r.deep({"l": ["AKIAXYZ123"], "n": 1}) == {"l": [J.REDACTED], "n": 1}


def test_parse_now():
    assert J.parse_now("2026-09-01T03:00:00Z") == T0
    assert J.parse_now("2026-09-01T03:00:00") == T0
    assert J.parse_now(str(T0)) == T0
    with pytest.raises(MemoryToolError, match="--now 'yesterday' is not a time: use ISO 8601"):
        J.parse_now("yesterday")


# --------------------------------------------------------------------------- local runs


def test_hot_run_snapshots_verifies_and_writes_the_status(state):
    cfg = write_config(state["tmp"], state["db"], state["ws"])
    rc, log = run_job(cfg, T0)
    assert rc == 0, log
    st = status_of(cfg)
    assert st["ok"] is True and st["reason"] is None and st["exit_code"] == 0
    assert st["time"] == "2026-09-01T03:00:00Z" and st["simulated_time"] is True
    snap = st["snapshot"]
    assert snap["name"] == "20260901T030000Z" and os.path.isdir(snap["path"])
    assert st["memories"]["total"] == 40 and sum(st["memories"]["by_category"].values()) == 40
    assert st["verify"] == {"ok": True, "checks": {"checksums": True, "structure": True, "content": True,
                                                   "search": True}, "duration_s": st["verify"]["duration_s"]}
    assert st["disk"]["referenced_bytes"] > 0 and st["disk"]["needed_bytes"] > st["disk"]["referenced_bytes"]
    assert st["last_ok_time"] == st["time"] and st["consecutive_failures"] == 0
    assert stat.S_IMODE(os.stat(read_json(cfg)["status_file"]).st_mode) == 0o644
    # The snapshot is the one lance_verify accepts: checksums, counts and probes against its SNAPSHOT.json.
    assert verify(snap["path"], baseline=os.path.join(snap["path"], "SNAPSHOT.json"))["ok"]
    assert "OK: OpenClaw memory backup OK on" in log and "40 memories" in log


def test_retention_over_simulated_days_keeps_seven_and_always_the_newest(state):
    cfg = write_config(state["tmp"], state["db"], state["ws"])
    names = []
    for day in range(10):
        if day % 3 == 1:
            F.add_memories(state["db"], PLUGIN, 2, seed=100 + day)
        rc, log = run_job(cfg, T0 + day * DAY)
        assert rc == 0, log
        names.append(status_of(cfg)["snapshot"]["name"])
    kept = sorted(s["name"] for s in list_snapshots(str(state["tmp"] / "backups")))
    assert kept == names[-7:]
    st = status_of(cfg)
    assert st["retention"]["removed"] == [names[2]] and st["memories"]["total"] == 46
    # Unchanged files are hard links to the previous day's: the last 3 days added no memory.
    assert st["snapshot"]["bytes_copied"] == 0 and st["snapshot"]["files_linked"] == st["snapshot"]["files"]
    # A month later with retain_days 0: only the newest (just made) is left, never nothing.
    cfg0 = write_config(state["tmp"], state["db"], state["ws"], retain_days=0)
    rc, log = run_job(cfg0, T0 + 40 * DAY)
    assert rc == 0, log
    assert [s["name"] for s in list_snapshots(str(state["tmp"] / "backups"))] == ["20261011T030000Z"]


def test_not_enough_space_fails_before_writing_anything(state):
    cfg = write_config(state["tmp"], state["db"], state["ws"], space_margin_mb=10 ** 12)
    rc, log = run_job(cfg, T0)
    assert rc == 1
    st = status_of(cfg)
    assert st["ok"] is False and st["exit_code"] == 1
    assert st["reason"].startswith("backup_dir '%s' has " % (state["tmp"] / "backups"))
    assert "free, but a snapshot needs" in st["reason"] and "free space there, move backup_dir, or lower " \
                                                            "space_margin_mb" in st["reason"]
    assert st["disk"]["needed_bytes"] > st["disk"]["free_bytes"]
    assert not os.path.exists(state["tmp"] / "backups") and "FAILED: backup_dir" in log
    assert st["consecutive_failures"] == 1 and st["last_ok_time"] is None


def test_backup_dir_on_a_read_only_mount_fails_with_the_reason_and_alerts(state, receiver):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a read-only bind mount")
    rx = receiver()
    ro = state["tmp"] / "ro-backups"
    ro.mkdir()
    cfg = write_config(state["tmp"], state["db"], state["ws"], backup_dir=str(ro),
                       env={"OPENCLAW_BACKUP_WEBHOOK_URL": rx["base"] + "/hook/wh-secret-1"}, notify={"webhook": True})
    script = (f"mount --bind {ro} {ro} && mount -o remount,bind,ro {ro} && "
              f"exec {PYTHON} -m {J.__name__} --config {cfg} run")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(REPO, d) for d in ("tools", ".collections")]))
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    st = status_of(cfg)
    want = "backup_dir '%s' is not writable ('%s' is a read-only filesystem); fix its mount" % (ro, ro)
    assert st["reason"].startswith(want)
    assert proc.stdout.splitlines()[-1].endswith("FAILED: " + st["reason"])
    (req,) = rx["requests"]()
    assert req["path"] == "/hook/wh-secret-1"
    assert req["body"]["ok"] is False and req["body"]["reason"] == st["reason"]
    assert req["body"]["text"].startswith("OpenClaw memory backup FAILED on ")
    assert st["notify"] == {"webhook": {"ok": True}}
    assert "wh-secret-1" not in proc.stdout + json.dumps(st)


def test_config_error_exits_2_and_leaves_a_status(state, tmp_path):
    status = tmp_path / "status.json"
    buf = io.StringIO()
    rc = J.main(["--config", str(tmp_path / "missing.json"), "--status-file", str(status), "run"], stream=buf)
    assert rc == 2
    st = json.loads(status.read_text())
    assert st["ok"] is False and st["exit_code"] == 2 and "does not exist" in st["reason"]
    cfg = write_config(state["tmp"], state["db"], state["ws"], mode="cold")
    rc = J.main(["--config", cfg, "run"], stream=io.StringIO())
    assert rc == 2 and "mode is 'cold'" in status_of(cfg)["reason"]


def test_a_second_run_while_one_holds_the_lock_does_nothing(state):
    cfg = write_config(state["tmp"], state["db"], state["ws"])
    conf = J.load_config(cfg)
    with J.JobLock(conf["lock_file"]):
        rc, log = run_job(cfg, T0)
    assert rc == 75
    assert "SKIPPED: another backup run (pid %d) holds the lock" % os.getpid() in log
    assert not os.path.exists(conf["status_file"]) and not os.path.exists(conf["backup_dir"])
    assert run_job(cfg, T0)[0] == 0


def _script(path, body):
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def test_cold_mode_restarts_the_gateway_even_when_the_snapshot_fails(state):
    tmp = state["tmp"]
    marks = tmp / "marks"
    stop = _script(tmp / "stop.sh", "echo stop >> %s" % marks)
    start = _script(tmp / "start.sh", "echo start >> %s; echo gateway started" % marks)
    cfg = write_config(tmp, state["db"], state["ws"], mode="cold", gateway={"stop": [stop], "start": [start]})
    rc, log = run_job(cfg, T0)
    assert rc == 0, log
    st = status_of(cfg)
    assert st["gateway"]["stopped"] and st["gateway"]["started"] and marks.read_text() == "stop\nstart\n"
    assert "gateway started" in log
    # The snapshot fails (unknown owner) after the gateway was stopped: it is started again all the same.
    cfg = write_config(tmp, state["db"], state["ws"], mode="cold", owner="no-such-user-7",
                       gateway={"stop": [stop], "start": [start]})
    rc, log = run_job(cfg, T0 + DAY)
    assert rc == 1
    st = status_of(cfg)
    assert marks.read_text() == "stop\nstart\n" * 2 and st["gateway"]["started"]
    assert st["reason"] == ("owner 'no-such-user-7' is not a user on this host; set owner to an existing account")


def test_cold_mode_gateway_that_does_not_start_fails_the_run(state):
    tmp = state["tmp"]
    stop = _script(tmp / "stop.sh", "true")
    start = _script(tmp / "start.sh", "echo 'unit openclaw.service not found' >&2; exit 5")
    cfg = write_config(tmp, state["db"], state["ws"], mode="cold", gateway={"stop": [stop], "start": [start]})
    rc, log = run_job(cfg, T0)
    assert rc == 1
    assert "ERROR: the gateway did not start again" in log
    st = status_of(cfg)
    assert st["reason"] == ("the gateway did not start again: starting the gateway failed (exit 5): unit "
                            "openclaw.service not found")
    assert st["snapshot"]["name"] == "20260901T030000Z" and st["verify"]["ok"]  # the backup itself is fine
    stop_fail = _script(tmp / "stop2.sh", "echo busy >&2; exit 1")
    cfg = write_config(tmp, state["db"], state["ws"], mode="cold", gateway={"stop": [stop_fail], "start": ["true"]})
    rc, _log = run_job(cfg, T0 + DAY)
    st = status_of(cfg)
    assert rc == 1 and st["reason"] == "stopping the gateway failed (exit 1): busy" and st["gateway"]["started"]
    assert st["snapshot"] is None


# --------------------------------------------------------------------------- notifications


def test_webhook_and_telegram_get_status_size_duration_and_count(state, receiver):
    rx = receiver()
    token = "123456:tg-%s" % uuid.uuid4().hex
    cfg = write_config(state["tmp"], state["db"], state["ws"],
                       env={"OPENCLAW_BACKUP_WEBHOOK_URL": rx["base"] + "/hooks/abc", "OPENCLAW_BACKUP_TELEGRAM_TOKEN":
                            token},
                       notify={"webhook": True, "telegram": {"chat_id": "4242", "api_base": rx["base"]}})
    rc, log = run_job(cfg, T0)
    assert rc == 0, log
    reqs = {r["path"].split("/")[1][:3]: r for r in rx["requests"]()}
    hook, tg = reqs["hoo"], reqs["bot"]
    assert tg["path"] == "/bot%s/sendMessage" % token
    assert tg["body"]["chat_id"] == "4242" and tg["body"]["text"] == hook["body"]["text"]
    body = hook["body"]
    assert body["ok"] is True and body["snapshot"] == "20260901T030000Z" and body["memories"] == 40
    assert body["bytes"] > 0 and body["duration_s"] > 0
    assert "40 memories" in body["text"] and "KiB" in body["text"]
    assert status_of(cfg)["notify"] == {"webhook": {"ok": True}, "telegram": {"ok": True}}
    assert token not in log and token not in json.dumps(status_of(cfg))


def test_notify_on_failure_only_and_a_failing_receiver_exits_3(state, receiver):
    rx = receiver()
    cfg = write_config(state["tmp"], state["db"], state["ws"], env={"OPENCLAW_BACKUP_WEBHOOK_URL": rx["base"] + "/h"},
                       notify={"webhook": True, "on": "failure"})
    assert run_job(cfg, T0)[0] == 0
    assert rx["requests"]() == [] and status_of(cfg)["notify"] == {}
    bad = receiver(status=500)
    cfg = write_config(state["tmp"], state["db"], state["ws"], env={"OPENCLAW_BACKUP_WEBHOOK_URL": bad["base"] + "/h"},
                       notify={"webhook": True})
    rc, log = run_job(cfg, T0 + DAY)
    st = status_of(cfg)
    assert rc == 3 and st["ok"] is True and st["exit_code"] == 3
    assert st["notify"] == {"webhook": {"ok": False, "error": "HTTP 500 Internal Server Error"}}
    assert "notify: webhook FAILED: HTTP 500 Internal Server Error" in log


# --------------------------------------------------------------------------- S3


def test_sigv4_matches_the_aws_documentation_example():
    """GET Object example of the AWS SigV4 docs (examplebucket, 20130524)."""
    auth = S3.sign_v4("GET", "/test.txt", {}, {"host": "examplebucket.s3.amazonaws.com", "range": "bytes=0-9",
                                               "x-amz-content-sha256": S3.EMPTY_SHA256,
                                               "x-amz-date": "20130524T000000Z"},
                      S3.EMPTY_SHA256, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1",
                      "20130524T000000Z")
    assert auth.endswith("Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def test_sigv4_matches_botocore_for_a_put_with_query_and_session_token():
    auth_mod = pytest.importorskip("botocore.auth")
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = b"some bytes"
    sha = __import__("hashlib").sha256(body).hexdigest()
    amz_date = "20260901T030000Z"
    url = "http://127.0.0.1:9000/bkt/p/objects/a%20b%2Bc.txt?x-id=PutObject"
    req = AWSRequest(method="PUT", url=url, data=body,
                     headers={"x-amz-content-sha256": sha, "X-Amz-Date": amz_date, "Host": "127.0.0.1:9000"})
    signer = auth_mod.S3SigV4Auth(Credentials("AKIAX", "sekret", "tok"), "s3", "eu-central-1")
    signer._timestamp = amz_date
    datetime_cls = auth_mod.datetime.datetime

    class Frozen(datetime_cls):
        @classmethod
        def utcnow(cls):
            return datetime_cls(2026, 9, 1, 3, 0, 0)

        @classmethod
        def now(cls, tz=None):
            return datetime_cls(2026, 9, 1, 3, 0, 0, tzinfo=tz)
    auth_mod.datetime.datetime = Frozen
    try:
        signer.add_auth(req)
    finally:
        auth_mod.datetime.datetime = datetime_cls
    want = req.headers["Authorization"]
    signed = want.split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {k: v for k, v in req.headers.items() if k.lower() in signed}
    ours = S3.sign_v4("PUT", "/bkt/p/objects/a%20b%2Bc.txt", {"x-id": "PutObject"}, headers, sha, "AKIAX", "sekret",
                      "eu-central-1", amz_date)
    assert ours == want


def test_s3_client_lists_pages_and_names_a_missing_bucket(bucket):
    c = S3.S3Client(bucket["bucket"], endpoint=bucket["endpoint"], access_key="AKIATEST", secret_key="test-secret")
    for i in range(5):
        c.put_bytes("p/k%d" % i, b"x" * i)
    assert [(o["key"], o["size"]) for o in c.list("p/", page_size=2)] == [("p/k%d" % i, i) for i in range(5)]
    assert c.requests == 8  # 5 PUTs + 3 list pages
    assert "test-secret" not in repr(c)
    with pytest.raises(MemoryToolError) as e:
        S3.S3Client("ocm-no-such-bucket", endpoint=bucket["endpoint"], access_key="a", secret_key="b").check_bucket()
    assert e.value.msg == ("S3 list of bucket ocm-no-such-bucket failed: HTTP 404 NoSuchBucket (The specified bucket "
                           "does not exist); create the bucket or fix the bucket name")
    with pytest.raises(MemoryToolError, match=r"S3 list of bucket x1y failed: .*; check s3.endpoint and that this "
                                              r"host can reach it"):
        S3.S3Client("x1y", endpoint="http://127.0.0.1:%d" % free_port(), access_key="a", secret_key="b").check_bucket()


def test_s3_offsite_dedups_verifies_retains_and_fetches_back(state, bucket):
    boto = bucket["boto"]
    secret = "s3-secret-%s" % uuid.uuid4().hex
    env = {"AWS_ACCESS_KEY_ID": "AKIA" + uuid.uuid4().hex[:12].upper(), "AWS_SECRET_ACCESS_KEY": secret}
    cfg = write_config(state["tmp"], state["db"], state["ws"], env=env,
                       offsite={"s3": {"bucket": bucket["bucket"], "prefix": "/fleet/old/", "endpoint":
                                       bucket["endpoint"]}})
    rc, log = run_job(cfg, T0)
    assert rc == 0, log
    first = status_of(cfg)["offsite"]["s3"]
    sums = read_sums(os.path.join(status_of(cfg)["snapshot"]["path"], SUMS_NAME))
    assert first["verified"] and first["objects_uploaded"] == len(set(sums.values())) and first["objects_present"] == 0
    keys = s3_keys(boto, bucket["bucket"], "fleet/old/")
    assert {"fleet/old/snapshots/20260901T030000Z/SHA256SUMS", "fleet/old/snapshots/20260901T030000Z/SNAPSHOT.json"} \
        <= set(keys)
    assert {k.rsplit("/", 1)[1] for k in keys if "/objects/" in k} == set(sums.values())
    # Day 2, two more memories: only the new objects travel.
    F.add_memories(state["db"], PLUGIN, 2, seed=77)
    rc, log = run_job(cfg, T0 + DAY)
    second = status_of(cfg)["offsite"]["s3"]
    assert rc == 0, log
    assert 0 < second["objects_uploaded"] < second["objects_present"]
    # Ten days: S3 keeps the same 7 snapshots as the local dir; unreferenced objects are collected.
    for day in range(2, 10):
        assert run_job(cfg, T0 + day * DAY)[0] == 0
    local = sorted(s["name"] for s in list_snapshots(str(state["tmp"] / "backups")))
    keys = s3_keys(boto, bucket["bucket"], "fleet/old/")
    remote = sorted({k.split("/")[3] for k in keys if "/snapshots/" in k})
    assert remote == local and len(local) == 7
    referenced = set()
    for name in remote:
        body = boto.get_object(Bucket=bucket["bucket"], Key="fleet/old/snapshots/%s/SHA256SUMS" % name)["Body"].read()
        referenced |= {line.split()[0] for line in body.decode().splitlines()}
    assert {k.rsplit("/", 1)[1] for k in keys if "/objects/" in k} == referenced
    assert status_of(cfg)["offsite"]["s3"]["removed"] == ["20260903T030000Z"]
    # Fetch the newest back: every file checked, and it verifies against its own baseline and the local copy.
    buf = io.StringIO()
    assert J.main(["--config", cfg, "fetch-s3", "--dest", str(state["tmp"] / "fetched")], stream=buf) == 0
    got = state["tmp"] / "fetched" / local[-1]
    res = verify(str(got), baseline=str(got / "SNAPSHOT.json"), compare_to=os.path.join(state["tmp"], "backups",
                                                                                        local[-1]))
    assert res["ok"], res["mismatches"]
    assert secret not in log + buf.getvalue() + json.dumps(status_of(cfg))


def test_s3_failure_is_reported_and_rsync_still_runs(state, bucket, sshd):
    env = {"AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": "y" * 20}
    remote = state["tmp"] / "offsite"
    cfg = write_config(state["tmp"], state["db"], state["ws"], env=env,
                       offsite={"s3": {"bucket": "ocm-missing-bucket", "endpoint": bucket["endpoint"]},
                                "rsync": rsync_cfg(sshd, str(remote))})
    rc, log = run_job(cfg, T0)
    st = status_of(cfg)
    assert rc == 1 and st["ok"] is False
    assert "ERROR: off-site s3: S3 list of bucket ocm-missing-bucket failed" in log and "rsync: ok, verified" in log
    assert st["reason"].startswith("off-site s3: S3 list of bucket ocm-missing-bucket failed: HTTP 404 NoSuchBucket")
    assert st["offsite"]["rsync"]["ok"] and st["offsite"]["rsync"]["verified"]
    assert os.path.isdir(remote / "20260901T030000Z")
    assert st["retention"] is not None and st["verify"]["ok"]  # the local backup itself is fine


# --------------------------------------------------------------------------- rsync over SSH


def test_rsync_offsite_links_unchanged_files_verifies_and_retains(state, sshd):
    remote = state["tmp"] / "offsite" / "old"
    cfg = write_config(state["tmp"], state["db"], state["ws"], offsite={"rsync": rsync_cfg(sshd, str(remote))})
    for day in range(9):
        if day == 1:
            F.add_memories(state["db"], PLUGIN, 2, seed=9)
        rc, log = run_job(cfg, T0 + day * DAY)
        assert rc == 0, log
        if day == 1:
            day1 = status_of(cfg)["offsite"]["rsync"]
    assert day1["link_dest"] == "20260901T030000Z" and day1["verified"]
    names = sorted(os.listdir(remote))
    local = sorted(s["name"] for s in list_snapshots(str(state["tmp"] / "backups")))
    assert names == local and len(names) == 7 and names[0] == "20260903T030000Z"
    # Only new files travelled: every file of the last two copies is the same inode.
    a, b = remote / names[-2], remote / names[-1]
    sums = read_sums(str(b / SUMS_NAME))
    assert all(os.stat(a / rel).st_ino == os.stat(b / rel).st_ino for rel in sums)
    last = status_of(cfg)["offsite"]["rsync"]
    assert last["files_sent"] <= 2 and last["removed"] == ["20260902T030000Z"]
    # Each copy there is a complete snapshot that checks out.
    for n in names:
        assert subprocess.run(["sha256sum", "--quiet", "--strict", "-c", SUMS_NAME], cwd=remote / n,
                              check=False).returncode == 0
    assert not [n for n in os.listdir(remote) if n.startswith(".")]


def test_rsync_refuses_to_overwrite_a_different_remote_snapshot_and_names_ssh_errors(state, sshd):
    remote = state["tmp"] / "offsite"
    cfg = write_config(state["tmp"], state["db"], state["ws"], offsite={"rsync": rsync_cfg(sshd, str(remote))})
    assert run_job(cfg, T0)[0] == 0
    # The local dir is lost and the same snapshot is made again: the remote copy is identical, checked, kept.
    shutil.rmtree(state["tmp"] / "backups")
    rc, log = run_job(cfg, T0)
    assert rc == 0, status_of(cfg)["reason"]
    assert "rsync: root@127.0.0.1:%s/20260901T030000Z is already there; checking it" % remote in log
    # A different snapshot of that name there (another source, an edited copy) is never overwritten.
    meta = remote / "20260901T030000Z" / "SNAPSHOT.json"
    meta.write_text(meta.read_text().replace('"host"', '"hostx"', 1))
    shutil.rmtree(state["tmp"] / "backups")
    rc, _log = run_job(cfg, T0)
    assert rc == 1
    assert status_of(cfg)["reason"] == (
        "off-site rsync: off-site dir root@127.0.0.1:%s already holds a different snapshot named "
        "'20260901T030000Z'; nothing was overwritten: remove or rename it there" % remote)
    cfg = write_config(state["tmp"], state["db"], state["ws"],
                       offsite={"rsync": rsync_cfg(sshd, str(remote), ssh_port=free_port(), connect_timeout=3)})
    rc, _log = run_job(cfg, T0 + DAY)
    reason = status_of(cfg)["reason"]
    assert rc == 1 and reason.startswith("off-site rsync: ssh to root@127.0.0.1 failed (exit 255): ")
    assert "Connection refused" in reason and reason.endswith("and that the key is in the remote authorized_keys")


# --------------------------------------------------------------------------- the installed command and secrets


def render_command(tmp):
    """The role's entry-script template, rendered as the role would (venv python, lib dir = the repo checkout)."""
    jinja2 = pytest.importorskip("jinja2")
    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters["to_json"] = json.dumps
    text = env.from_string(read_text(TEMPLATE)).render(openclaw_backup_cron_python=PYTHON,
                                                       openclaw_backup_cron_lib_dir=os.path.join(REPO, ".collections"))
    path = tmp / "openclaw-memory-backup"
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def test_installed_command_keeps_secrets_out_of_ps_log_and_status(state, bucket, sshd, receiver):
    """Run the entry script as cron would; sample every process's argv (and its children's environment)."""
    rx = receiver()
    secrets = {"AWS_ACCESS_KEY_ID": "AKIA" + uuid.uuid4().hex[:16].upper(),
               "AWS_SECRET_ACCESS_KEY": "sk-" + uuid.uuid4().hex,
               "OPENCLAW_BACKUP_TELEGRAM_TOKEN": "987654:tg-" + uuid.uuid4().hex,
               "OPENCLAW_BACKUP_WEBHOOK_URL": rx["base"] + "/hooks/wh-" + uuid.uuid4().hex}
    cfg = write_config(state["tmp"], state["db"], state["ws"], env=secrets,
                       offsite={"s3": {"bucket": bucket["bucket"], "endpoint": bucket["endpoint"], "workers": 1},
                                "rsync": rsync_cfg(sshd, str(state["tmp"] / "offsite"))},
                       notify={"webhook": True, "telegram": {"chat_id": "1", "api_base": rx["base"]}})
    cmd = render_command(state["tmp"])
    env = {k: v for k, v in os.environ.items() if k not in J.SECRET_ENV}
    proc = subprocess.Popen([cmd, "--config", cfg, "run", "--now", iso(T0)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    seen = {}
    while proc.poll() is None:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                argv = _read_proc(pid, "cmdline")
                environ = _read_proc(pid, "environ") if _descends_from(int(pid), proc.pid) else ""
            except OSError:
                continue
            seen[(pid, argv)] = environ
        time.sleep(0.02)
    out = proc.stdout.read()
    assert proc.returncode == 0, out
    assert any("rsync" in a for _p, a in seen) and any("ssh" in a for _p, a in seen)  # the sampling saw children
    st_text = read_text(read_json(cfg)["status_file"])
    webhook_body = json.dumps([r["body"] for r in rx["requests"]()])
    for name, value in secrets.items():
        part = value.rsplit("/", 1)[-1]
        for where, text in (("log", out), ("status file", st_text), ("webhook body", webhook_body)):
            assert part not in text, "%s leaked into the %s" % (name, where)
        for (pid, argv), environ in seen.items():
            assert part not in argv, "%s in the argv of pid %s: %s" % (name, pid, argv)
            assert part not in environ, "%s in the environment of pid %s" % (name, pid)
    assert json.loads(st_text)["ok"] is True


def _read_proc(pid, name):
    with open("/proc/%s/%s" % (pid, name), "rb") as f:
        return f.read().decode("utf-8", "replace")


def _descends_from(pid, root):
    while pid > 1:
        if pid == root:
            return True
        try:
            with open("/proc/%d/stat" % pid) as f:
                pid = int(f.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


def test_check_config_names_the_secrets_present_never_their_values(state):
    cfg = write_config(state["tmp"], state["db"], state["ws"],
                       env={"AWS_ACCESS_KEY_ID": "AKIAVISIBLE", "AWS_SECRET_ACCESS_KEY": "do-not-print-me"},
                       offsite={"s3": {"bucket": "b"}})
    buf = io.StringIO()
    assert J.main(["--config", cfg, "check-config"], stream=buf) == 0
    out = buf.getvalue()
    assert "config ok: db_path %s" % state["db"] in out
    assert "secrets present: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY" in out
    assert "do-not-print-me" not in out and "AKIAVISIBLE" not in out
    assert not os.path.exists(J.load_config(cfg)["status_file"])


def test_the_role_copies_exactly_what_the_command_imports():
    """roles/backup_cron copies a fixed list of module_utils to hosts: it must be backup_job's import closure."""
    import ast

    import yaml

    mu = os.path.join(REPO, "plugins", "module_utils")
    prefix = "ansible_collections.openclaw.memory.plugins.module_utils."
    todo, seen = ["backup_job"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        tree = ast.parse(read_text(os.path.join(mu, name + ".py")))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith(prefix):
                    todo.append(node.module[len(prefix):])
                elif node.module == prefix[:-1]:
                    todo.extend(alias.name for alias in node.names)
    with open(os.path.join(REPO, "roles", "backup_cron", "vars", "main.yml"), encoding="utf-8") as f:
        listed = yaml.safe_load(f)["__openclaw_backup_cron_module_utils"]
    assert sorted(listed) == sorted(n + ".py" for n in seen)


def test_sigterm_in_cold_mode_still_starts_the_gateway_and_reports(state):
    """A run killed (SIGTERM) while the gateway is stopped starts it again, writes the status and exits 1."""
    tmp = state["tmp"]
    marks = tmp / "marks"
    stop = _script(tmp / "stop.sh", "echo stop >> %s; sleep 30" % marks)
    start = _script(tmp / "start.sh", "echo start >> %s" % marks)
    cfg = write_config(tmp, state["db"], state["ws"], mode="cold", gateway={"stop": [stop], "start": [start]})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(REPO, d) for d in ("tools", ".collections")]))
    proc = subprocess.Popen([PYTHON, "-m", J.__name__, "--config", cfg, "run"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 60
    while not (marks.exists() and "stop" in marks.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.terminate()
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 1, out
    assert marks.read_text() == "stop\nstart\n"
    st = status_of(cfg)
    assert st["reason"] == "the run was stopped by SIGTERM before it finished; re-run it"
    assert st["gateway"]["started"] is True and st["snapshot"] is None
    assert out.rstrip().splitlines()[-1].endswith("FAILED: " + st["reason"])


def test_rsync_never_links_a_same_size_same_second_file_with_other_content(state, sshd):
    """rsync's quick check (size + whole seconds) would hard-link the previous SNAPSHOT.json; content decides."""
    from ansible_collections.openclaw.memory.plugins.module_utils.snapshot import take_snapshot

    remote = state["tmp"] / "offsite"
    rs = J.check_config({"format": J.CONFIG_FORMAT, "db_path": state["db"],
                         "offsite": {"rsync": rsync_cfg(sshd, str(remote))}})["offsite"]["rsync"]
    real = os.path.realpath(state["db"])
    a = take_snapshot(state["db"], str(state["tmp"] / "b"), now=T0, force=True)
    assert J.offsite_rsync(rs, a["snapshot"], real, 7, T0, J.Log(stream=io.StringIO()))["verified"]
    b = take_snapshot(state["db"], str(state["tmp"] / "b"), now=T0 + DAY, force=True)
    old_meta, new_meta = remote / a["name"] / "SNAPSHOT.json", os.path.join(b["snapshot"], "SNAPSHOT.json")
    # Same size (JSON allows trailing blanks) and the same mtime: only the content differs.
    grow = os.path.getsize(new_meta) - os.path.getsize(old_meta)
    with open(old_meta if grow > 0 else new_meta, "a", encoding="utf-8") as f:
        f.write(" " * abs(grow))
    assert os.path.getsize(old_meta) == os.path.getsize(new_meta) and read_text(old_meta) != read_text(new_meta)
    st = os.stat(old_meta)
    os.utime(new_meta, ns=(st.st_atime_ns, st.st_mtime_ns))
    out = J.offsite_rsync(rs, b["snapshot"], real, 7, T0 + DAY, J.Log(stream=io.StringIO()))
    assert out["verified"] and out["link_dest"] == a["name"]
    assert read_text(remote / b["name"] / "SNAPSHOT.json") == read_text(new_meta)
    assert os.stat(remote / b["name"] / "SNAPSHOT.json").st_ino != st.st_ino


# --------------------------------------------------------------------------- QA fixes: secrets in URLs, exit codes


def check_config_cmd(cfg):
    """`check-config` in-process; returns (exit code, output)."""
    buf = io.StringIO()
    return J.main(["--config", cfg, "check-config"], stream=buf), buf.getvalue()


def test_bad_notify_urls_are_refused_by_check_config_without_showing_the_secret(state):
    token = "123456:tg-%s" % uuid.uuid4().hex
    hook = "/hooks/wh-%s" % uuid.uuid4().hex
    # api_base without a scheme: the Telegram URL (which holds the token) could not be opened; it was a traceback.
    cfg = write_config(state["tmp"], state["db"], state["ws"], env={"OPENCLAW_BACKUP_TELEGRAM_TOKEN": token},
                       notify={"telegram": {"chat_id": "1", "api_base": "api.telegram.org"}})
    for argv in (["check-config"], ["run"]):
        buf = io.StringIO()
        assert J.main(["--config", cfg] + argv, stream=buf) == 2
        assert "notify.telegram.api_base 'api.telegram.org' does not start with http:// or https://" in buf.getvalue()
        assert token.split(":")[1] not in buf.getvalue()
    assert "openclaw_backup_cron_telegram_api_base" in status_of(cfg)["reason"]
    assert not os.path.exists(state["tmp"] / "backups")  # refused before any snapshot
    # A webhook URL with a blank, or one urllib cannot parse ('[' opens an IPv6 host): named, never shown.
    for url in ("https://hooks.example.com%s x" % hook, "https://[bad%s" % hook):
        cfg = write_config(state["tmp"], state["db"], state["ws"], env={"OPENCLAW_BACKUP_WEBHOOK_URL": url},
                           notify={"webhook": True})
        rc, out = check_config_cmd(cfg)
        assert rc == 2, out
        env_file = state["tmp"] / "etc" / "backup.env"
        assert "FAILED: OPENCLAW_BACKUP_WEBHOOK_URL in the env file '%s' " % env_file in out
        assert "(the value is not shown); put the webhook's full http(s) URL there (role variable " \
               "openclaw_backup_cron_webhook_url)" in out
        assert hook not in out and "Traceback" not in out
    # A token with a blank would break the URL it is put into.
    cfg = write_config(state["tmp"], state["db"], state["ws"], env={"OPENCLAW_BACKUP_TELEGRAM_TOKEN": "1:a b/c"},
                       notify={"telegram": {"chat_id": "1"}})
    rc, out = check_config_cmd(cfg)
    assert rc == 2 and "OPENCLAW_BACKUP_TELEGRAM_TOKEN in the env file" in out and "a b/c" not in out


def test_a_channel_that_raises_is_a_failed_alert_with_exit_3_and_no_secret(state, receiver):
    """Whatever a channel raises (here urllib's ValueError for a URL without a scheme) is caught and redacted."""
    rx = receiver()
    token = "123456:tg-%s" % uuid.uuid4().hex
    path = write_config(state["tmp"], state["db"], state["ws"],
                        env={"OPENCLAW_BACKUP_TELEGRAM_TOKEN": token, "OPENCLAW_BACKUP_WEBHOOK_URL": rx["base"] + "/h"},
                        notify={"webhook": True, "telegram": {"chat_id": "1"}})
    cfg = J.load_config(path)
    secrets = J.load_secrets(cfg)
    cfg["notify"]["telegram"]["api_base"] = "api.telegram.org"  # past check_config, as from an older config
    buf = io.StringIO()
    log = J.Log(stream=buf, redact=J.Redactor(secrets))
    rc = J.finish(cfg, secrets, J.run_backup(cfg, secrets, now=T0, log=log), log)
    st = status_of(path)
    assert rc == 3 and st["ok"] is True and st["exit_code"] == 3
    assert st["notify"]["webhook"] == {"ok": True}
    assert st["notify"]["telegram"] == {"ok": False, "error": "ValueError (the details are not shown: they quote "
                                                              "the secret URL); check the URL settings"}
    assert "notify: telegram FAILED: ValueError" in buf.getvalue()
    assert token.split(":")[1] not in buf.getvalue() + json.dumps(st)


def test_a_secret_pasted_into_the_config_is_never_echoed(state):
    secret = "https://hooks.example.com/services/T0/B0/%s" % uuid.uuid4().hex
    cfg = write_config(state["tmp"], state["db"], state["ws"], notify={"webhook": secret})
    rc, log = run_job(cfg, T0)
    assert rc == 2
    reason = status_of(cfg)["reason"]
    assert reason.endswith(": notify.webhook must be true or false, the value given is not shown (it may be a secret: "
                           "secrets go to the env file) (role variable openclaw_backup_cron_webhook_enabled)")
    assert secret.rsplit("/", 1)[1] not in log + read_text(read_json(cfg)["status_file"])


def test_status_file_that_cannot_be_written_exits_4_not_ok(state, receiver):
    rx = receiver()
    status_dir = state["tmp"] / "status-is-a-dir"
    status_dir.mkdir()
    cfg = write_config(state["tmp"], state["db"], state["ws"], status_file=str(status_dir),
                       env={"OPENCLAW_BACKUP_WEBHOOK_URL": rx["base"] + "/h"}, notify={"webhook": True})
    rc, log = run_job(cfg, T0)
    assert rc == J.EXIT_STATUS == 4, log
    lines = log.rstrip().splitlines()
    assert not [ln for ln in lines if " OK: " in ln]
    assert lines[-1].split(": ", 1)[1].startswith(
        "FAILED: cannot write the status file '%s': Is a directory; monitoring cannot see this run: free space there "
        "or fix status_file (role variable openclaw_backup_cron_status_file). The backup itself: OpenClaw memory "
        "backup OK on " % status_dir)
    # The backup is there and the alert says the status file is missing.
    assert [s["name"] for s in list_snapshots(str(state["tmp"] / "backups"))] == ["20260901T030000Z"]
    (req,) = rx["requests"]()
    assert req["body"]["ok"] is True
    assert "the status file could not be written: cannot write the status file '%s'" % status_dir in req["body"]["text"]
    assert os.listdir(status_dir) == []


# --------------------------------------------------------------------------- QA fixes: a damaged snapshot


def flip_byte_in_data_file(snap_path):
    """Flip one byte in the largest data file of the memories table, keeping its mtime; returns its rel path."""
    data = os.path.join(snap_path, "memories.lance", "data")
    path = max((os.path.join(data, n) for n in os.listdir(data)), key=os.path.getsize)
    st, fd = os.stat(path), os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, bytes([os.pread(fd, 1, st.st_size // 2)[0] ^ 0xFF]), st.st_size // 2)
    finally:
        os.close(fd)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: only the checksum tells
    return os.path.relpath(path, snap_path)


@pytest.mark.parametrize("force", [True, False])
def test_a_damaged_newest_snapshot_is_replaced_by_one_full_copy(state, force):
    """force: the next snapshot hard-links the damaged file (same size and mtime); not force: it reuses the snapshot.
    Either way one full snapshot is taken, verified, and later runs build on it; the damaged one is reported."""
    backups = str(state["tmp"] / "backups")
    cfg = write_config(state["tmp"], state["db"], state["ws"], force=force)
    assert run_job(cfg, T0)[0] == 0
    rel = flip_byte_in_data_file(os.path.join(backups, "20260901T030000Z"))
    rc, log = run_job(cfg, T0 + DAY)
    st = status_of(cfg)
    assert rc == 0, st["reason"]
    good = "20260902T030000Z-2" if force else "20260902T030000Z"
    damaged = "20260901T030000Z, 20260902T030000Z" if force else "20260901T030000Z"
    assert st["snapshot"]["name"] == good and st["snapshot"]["bytes_linked"] == 0 and st["verify"]["ok"]
    assert st["warnings"] == [
        "snapshot(s) %s hold damaged files (they differ from their SHA256SUMS or are missing: %s); this run took a "
        "full snapshot, %s, that verified, and later runs link from it. Kept for inspection: %s; remove %s once "
        "inspected (check the disk)" % (damaged, rel, good, damaged, "them" if force else "it")]
    assert "warning: Verification of '%s/%s' failed (checksums" % (
        backups, "20260902T030000Z" if force else "20260901T030000Z") in log
    assert "WARNING: snapshot(s) %s hold damaged files" % damaged in log.rstrip().splitlines()[-1]
    names = [s["name"] for s in list_snapshots(backups)]
    assert names[0] == good and sorted(names) == sorted(damaged.split(", ") + [good])
    assert verify(os.path.join(backups, good), baseline=os.path.join(backups, good, "SNAPSHOT.json"))["ok"]
    # The next day builds on the good one: nothing damaged is linked or reused again.
    rc, log = run_job(cfg, T0 + 2 * DAY)
    st = status_of(cfg)
    assert rc == 0, st["reason"]
    assert st["warnings"] == [] and st["verify"]["ok"]
    if force:
        assert st["snapshot"]["link_dest"] == os.path.join(backups, good) and st["snapshot"]["bytes_copied"] == 0
    else:
        assert st["snapshot"]["reused"] and st["snapshot"]["name"] == good
    # Retention a month later keeps only the newest, a good one.
    cfg0 = write_config(state["tmp"], state["db"], state["ws"], force=force, retain_days=0)
    assert run_job(cfg0, T0 + 40 * DAY)[0] == 0
    (last,) = list_snapshots(backups)
    assert verify(last["path"], baseline=os.path.join(last["path"], "SNAPSHOT.json"))["ok"]


def test_a_damaged_snapshot_whose_full_copy_also_fails_fails_the_run(state):
    """The retry hides nothing: when the full copy fails too (here: the configured embedding has other dimensions
    than the table's vectors), the run fails with that copy's reason and the last good backup stays named."""
    backups = str(state["tmp"] / "backups")
    cfg = write_config(state["tmp"], state["db"], state["ws"], force=False)
    assert run_job(cfg, T0)[0] == 0
    flip_byte_in_data_file(os.path.join(backups, "20260901T030000Z"))
    cfg = write_config(state["tmp"], state["db"], state["ws"], force=False, embedding={"dimensions": 999})
    rc, log = run_job(cfg, T0 + DAY)
    st = status_of(cfg)
    assert rc == 1 and st["ok"] is False and st["warnings"] == []
    assert "warning: Verification of '%s/20260901T030000Z' failed (checksums" % backups in log
    assert st["reason"].startswith("Verification of '%s/20260902T030000Z' failed (structure): " % backups)
    assert "embedding.dimensions: expected 999, table memories stores 16-dim vectors" in st["reason"]
    assert st["last_ok_snapshot"] == "20260901T030000Z" and st["consecutive_failures"] == 1


# --------------------------------------------------------------------------- QA fixes: rsync to IPv6, S3 CA file


def test_rsync_to_an_ipv6_address_keeps_the_brackets_for_rsync(state, sshd):
    assert J.parse_dest("root@[2001:db8::5]:/srv/x/") == ("root@2001:db8::5", "/srv/x", "root@[2001:db8::5]")
    assert J.parse_dest("backup1:/srv/x") == ("backup1", "/srv/x", "backup1")
    try:
        socket.create_connection(("::1", sshd["port"]), timeout=2).close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    remote = state["tmp"] / "offsite6"
    cfg = write_config(state["tmp"], state["db"], state["ws"],
                       offsite={"rsync": rsync_cfg(sshd, str(remote), dest="root@[::1]:%s" % remote)})
    rc, log = run_job(cfg, T0)
    assert rc == 0, status_of(cfg)["reason"]
    assert status_of(cfg)["offsite"]["rsync"]["verified"]
    assert subprocess.run(["sha256sum", "--quiet", "--strict", "-c", SUMS_NAME], cwd=remote / "20260901T030000Z",
                          check=False).returncode == 0


def test_s3_ca_file_that_is_missing_names_the_setting(state, tmp_path):
    """It was 'unexpected error: FileNotFoundError' after the snapshot, without the path or the setting."""
    ca = tmp_path / "ca.pem"
    ca.write_text(ssl_ca_pem())
    cfg = write_config(state["tmp"], state["db"], state["ws"],
                       env={"AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": "y" * 20},
                       offsite={"s3": {"bucket": "b", "endpoint": "https://127.0.0.1:%d" % free_port(),
                                       "ca_file": str(ca)}})
    assert check_config_cmd(cfg)[0] == 0
    ca.unlink()
    rc, log = run_job(cfg, T0)
    assert rc == 2 and "unexpected error" not in log
    assert status_of(cfg)["reason"] == (
        "config '%s': offsite.s3.ca_file (role variable openclaw_backup_cron_s3_ca_file) '%s' cannot be used as a CA "
        "bundle (No such file or directory); give the path of a readable PEM file with the CA certificate(s) of the "
        "S3 endpoint" % (cfg, ca))
    assert not os.path.exists(state["tmp"] / "backups")
    # Gone between the config check and the upload: the client names it too (the job's status: "off-site s3: ...").
    with pytest.raises(MemoryToolError, match=r"^s3.ca_file '/nope.pem' cannot be used as a CA bundle \(No such"):
        S3.S3Client("b", endpoint="https://127.0.0.1:9", access_key="a", secret_key="b", ca_file="/nope.pem")
    conf = J.load_config(write_config(state["tmp"], state["db"], state["ws"],
                                      offsite={"s3": {"bucket": "b", "endpoint": "https://127.0.0.1:9"}}))
    conf["offsite"]["s3"]["ca_file"] = str(ca)
    with pytest.raises(MemoryToolError, match=r"^offsite.s3.ca_file \(role variable openclaw_backup_cron_s3_ca_file\) "
                                              r"'.*/ca.pem' cannot be used as a CA bundle"):
        J.s3_client(conf["offsite"]["s3"], {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})


def ssl_ca_pem():
    """A CA certificate in PEM (the system bundle's first), for a ca_file that loads."""
    import ssl

    cafile = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    if not os.path.isfile(cafile):
        pytest.skip("no system CA bundle to copy a certificate from")
    text = read_text(cafile)
    end = text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    return text[text.index("-----BEGIN CERTIFICATE-----"):end] + "\n"


# --------------------------------------------------------------------------- QA fixes: NaN retention, the role


def test_nan_retain_days_is_refused_and_deletes_nothing(state):
    cfg = write_config(state["tmp"], state["db"], state["ws"])
    for day in range(3):
        assert run_job(cfg, T0 + day * DAY)[0] == 0
    cfg = write_config(state["tmp"], state["db"], state["ws"], retain_days=float("nan"))
    assert "NaN" in read_text(cfg)
    rc, _log = run_job(cfg, T0 + 3 * DAY)
    assert rc == 2 and "retain_days nan is invalid: it must be a finite number" in status_of(cfg)["reason"]
    assert len(list_snapshots(str(state["tmp"] / "backups"))) == 3


def test_role_builds_the_config_with_numeric_owner_and_refuses_backup_dir_root(tmp_path):
    """roles/backup_cron's vars and asserts through ansible-playbook on localhost (no host is changed)."""
    from repo_env import ANSIBLE_PLAYBOOK, JSON_OUTPUT, ansible_env

    if not os.path.exists(ANSIBLE_PLAYBOOK):
        pytest.skip("no ansible-playbook in the venv")
    role = os.path.join(REPO, "roles", "backup_cron")
    play = tmp_path / "play.yml"
    play.write_text(
        "- hosts: localhost\n  gather_facts: false\n  vars_files: [%s, %s]\n  tasks:\n"
        "    - ansible.builtin.include_tasks: %s\n"
        "    - ansible.builtin.set_fact:\n        built: \"{{ __openclaw_backup_cron_config }}\"\n"
        % (os.path.join(role, "defaults", "main.yml"), os.path.join(role, "vars", "main.yml"),
           os.path.join(role, "tasks", "assert.yml")))

    def play_with(**extra):
        evars = dict({"openclaw_backup_cron_db_path": "/srv/db"}, **extra)
        proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(play), "-e", json.dumps(evars)],
                              capture_output=True, text=True, env=ansible_env(**JSON_OUTPUT), timeout=300, check=False)
        # The JSON document, between the lines ansible.cfg's profile_tasks callback prints.
        out = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("\n{") + 1:])[0]
        return proc.returncode, [t["hosts"]["localhost"] for p in out["plays"] for t in p["tasks"]]

    rc, tasks = play_with(openclaw_backup_cron_owner=1000, openclaw_backup_cron_group=1000)
    assert rc == 0, tasks
    built = tasks[-1]["ansible_facts"]["built"]
    assert built["owner"] == "1000" and built["group"] == "1000"
    assert J.check_config(built)["owner"] == "1000"
    rc, tasks = play_with(openclaw_backup_cron_dir="/")
    assert rc != 0
    failed = next(t for t in tasks if t.get("failed"))
    assert "openclaw_backup_cron_dir an absolute path outside it and not '/' (got '/')" in failed["msg"]


def test_every_role_variable_named_in_messages_is_one_of_the_role():
    import yaml

    with open(os.path.join(REPO, "roles", "backup_cron", "defaults", "main.yml"), encoding="utf-8") as f:
        defaults = yaml.safe_load(f)
    assert sorted(set(J.ROLE_VARS.values()) - set(defaults)) == []
