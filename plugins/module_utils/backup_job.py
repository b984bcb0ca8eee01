# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scheduled backup job: what `openclaw-memory-backup` (installed by the backup_cron role) runs.

Plain Python, no Ansible. It calls the same domain code as the modules:
`snapshot.take_snapshot` / `prune_snapshots` (lance_snapshot) and
`verify.verify` (lance_verify); nothing here copies or checks Lance files itself.

One run, under an exclusive lock (two runs never overlap):
  1. preflight: the database dir holds tables, the backup dir is outside it
     and writable, and has room for the bytes the latest versions reference
     plus a margin;
  2. snapshot (hot by default; cold: the gateway is stopped first and started
     again in any case, also when the snapshot fails);
  3. verify the new snapshot against its own SNAPSHOT.json (checksums,
     structure, content, search);
  4. retention: snapshots of this database older than `retain_days` are
     removed, the newest is always kept (only after a good verification);
  5. off-site copies, each verified by checksums after the copy: rsync over
     SSH (`--link-dest`, so only new files travel) and/or S3 (content-addressed
     objects: only objects not already there with the same sha256 are
     uploaded); the same retention is applied remotely;
  6. the status file (`/var/lib/openclaw-memory/last-backup.json`) and the
     notifications (webhook, Telegram).
Exit status: 0 ok, 1 the backup failed, 2 bad configuration, 3 the backup is
fine but a notification could not be sent, 4 the backup is fine but the status
file could not be written, 75 another run holds the lock.

Secrets (S3 keys, the Telegram bot token, the webhook URL) come from an env
file (0600) that this process reads itself: never from the command line or
the process environment of children, and every log line, the status file and
each message are scrubbed of them.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import hashlib
import json
import math
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.openclaw.memory.plugins.module_utils.checksums import SUMS_NAME, read_sums
from ansible_collections.openclaw.memory.plugins.module_utils.common import (
    MemoryToolError,
    is_within,
    iso_utc,
    nearest_existing,
    one_line,
    parse_time,
    sha256_file,
    tree_size,
)
from ansible_collections.openclaw.memory.plugins.module_utils.common import (
    write_json_atomic as common_write_json_atomic,
)
from ansible_collections.openclaw.memory.plugins.module_utils.lance import (
    check_db_dir,
    open_table,
    referenced_bytes,
)
from ansible_collections.openclaw.memory.plugins.module_utils.s3 import S3Client, ssl_context
from ansible_collections.openclaw.memory.plugins.module_utils.snapshot import (
    META_NAME,
    WORKSPACE_FILES,
    WORKSPACE_TREES,
    list_snapshots,
    prune_snapshots,
    read_snapshot_meta,
    take_snapshot,
)
from ansible_collections.openclaw.memory.plugins.module_utils.verify import CHECKS, DEFAULT_CHECKS, failure_message
from ansible_collections.openclaw.memory.plugins.module_utils.verify import verify as verify_snapshot

PROG = "openclaw-memory-backup"
CONFIG_FORMAT = "openclaw.memory/backup-config-v1"
STATUS_FORMAT = "openclaw.memory/backup-status-v1"
DEFAULT_CONFIG = "/etc/openclaw-memory/backup.json"
DEFAULT_STATUS = "/var/lib/openclaw-memory/last-backup.json"
DEFAULT_LOCK = "/var/lib/openclaw-memory/backup.lock"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_NOTIFY = 3
EXIT_STATUS = 4  # the status file could not be written: monitoring cannot see the run
EXIT_LOCKED = 75  # EX_TEMPFAIL

# The env file's names. AWS_* are the standard names, so an existing credentials env file works as is.
ENV_S3_ACCESS_KEY = "AWS_ACCESS_KEY_ID"
ENV_S3_SECRET_KEY = "AWS_SECRET_ACCESS_KEY"
ENV_S3_SESSION_TOKEN = "AWS_SESSION_TOKEN"
ENV_TELEGRAM_TOKEN = "OPENCLAW_BACKUP_TELEGRAM_TOKEN"
ENV_WEBHOOK_URL = "OPENCLAW_BACKUP_WEBHOOK_URL"
SECRET_ENV = (ENV_S3_ACCESS_KEY, ENV_S3_SECRET_KEY, ENV_S3_SESSION_TOKEN, ENV_TELEGRAM_TOKEN, ENV_WEBHOOK_URL)
REDACTED = "********"

OFFSITE_PARTIAL = ".offsite-partial"
OFFSITE_DELETING = ".offsite-deleting"
S3_OBJECTS = "objects/"
S3_SNAPSHOTS = "snapshots/"
MiB = 1024 * 1024
REASON_MAX = 400

# --------------------------------------------------------------------------- configuration

_TOP = {
    "format": (str, CONFIG_FORMAT),
    "db_path": (str, None),
    "workspace": ((str, type(None)), None),
    "backup_dir": (str, "/var/backups/openclaw-memory"),
    "retain_days": ((int, float), 7),
    "mode": (str, "hot"),
    "force": (bool, True),
    "gateway": ((dict, type(None)), None),
    "verify_checks": (list, list(DEFAULT_CHECKS)),
    "space_margin_mb": ((int, float), 100),
    "owner": ((str, int, type(None)), None),
    "group": ((str, int, type(None)), None),
    "embedding": ((dict, type(None)), None),
    "env_file": ((str, type(None)), None),
    "status_file": (str, DEFAULT_STATUS),
    "lock_file": (str, DEFAULT_LOCK),
    "host_label": ((str, type(None)), None),
    "offsite": ((dict, type(None)), None),
    "notify": ((dict, type(None)), None),
}
_GATEWAY = {
    "stop": ((list, str, type(None)), None),
    "start": ((list, str, type(None)), None),
    "timeout": ((int, float), 120),
}
_RSYNC = {
    "dest": (str, None),
    "ssh_key": ((str, type(None)), None),
    "ssh_port": ((int, type(None)), None),
    "known_hosts": ((str, type(None)), None),
    "host_key_checking": (str, "accept-new"),
    "ssh_options": (list, []),
    "retain_days": ((int, float, type(None)), None),
    "bwlimit_kbps": ((int, type(None)), None),
    "timeout": ((int, float), 600),
    "connect_timeout": ((int, float), 20),
}
_S3 = {
    "bucket": (str, None),
    "prefix": (str, ""),
    "endpoint": ((str, type(None)), None),
    "region": (str, "us-east-1"),
    "addressing": (str, "auto"),
    "ca_file": ((str, type(None)), None),
    "retain_days": ((int, float, type(None)), None),
    "timeout": ((int, float), 60),
    "workers": (int, 4),
}
_NOTIFY = {"on": (str, "always"), "webhook": (bool, False), "telegram": ((dict, type(None)), None),
           "timeout": ((int, float), 10)}
_TELEGRAM = {"chat_id": ((str, int), None), "api_base": (str, "https://api.telegram.org")}
MODES = ("hot", "cold")
NOTIFY_ON = ("always", "failure", "never")
HOST_KEY_CHECKING = ("accept-new", "yes", "no")
_DEST_RE = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<path>/.*)$")
# Keys that must never be in the config file (they belong in the env file).
_SECRET_KEY_RE = re.compile(r"(secret|token|password|access_key|api_key|apikey|webhook_url)", re.IGNORECASE)
# Settings whose wrong value is likely a secret pasted in the wrong place: never echoed in a message.
_SECRET_SETTINGS = ("notify.webhook",)
# The backup_cron role variable each config setting comes from (named in messages, with the config key).
_ROLE_PREFIX = "openclaw_backup_cron_"
ROLE_VARS = {setting: _ROLE_PREFIX + var for setting, var in {
    "db_path": "db_path", "workspace": "workspace", "backup_dir": "dir", "retain_days": "retain_days",
    "space_margin_mb": "space_margin_mb", "mode": "mode", "force": "force", "verify_checks": "verify_checks",
    "owner": "owner", "group": "group", "embedding": "embedding", "env_file": "env_file",
    "status_file": "status_file", "lock_file": "lock_file", "host_label": "host_label",
    "gateway.stop": "gateway_stop_command", "gateway.start": "gateway_start_command",
    "gateway.timeout": "gateway_timeout",
    "offsite.rsync.dest": "rsync_dest", "offsite.rsync.ssh_key": "rsync_ssh_key",
    "offsite.rsync.ssh_port": "rsync_ssh_port", "offsite.rsync.known_hosts": "rsync_known_hosts",
    "offsite.rsync.host_key_checking": "rsync_host_key_checking", "offsite.rsync.ssh_options": "rsync_ssh_options",
    "offsite.rsync.retain_days": "rsync_retain_days",
    "offsite.s3.bucket": "s3_bucket", "offsite.s3.prefix": "s3_prefix", "offsite.s3.endpoint": "s3_endpoint",
    "offsite.s3.region": "s3_region", "offsite.s3.addressing": "s3_addressing", "offsite.s3.ca_file": "s3_ca_file",
    "offsite.s3.retain_days": "s3_retain_days", "offsite.s3.workers": "s3_workers",
    "notify.on": "notify_on", "notify.timeout": "notify_timeout", "notify.webhook": "webhook_enabled",
    "notify.telegram.chat_id": "telegram_chat_id", "notify.telegram.api_base": "telegram_api_base",
    ENV_WEBHOOK_URL: "webhook_url", ENV_TELEGRAM_TOKEN: "telegram_token",
}.items()}


def _role_var(setting):
    """' (role variable openclaw_backup_cron_...)' for a setting the backup_cron role writes, else ''."""
    return " (role variable %s)" % ROLE_VARS[setting] if setting in ROLE_VARS else ""


def _section(data, spec, path, prefix=""):
    """Check a dict against {key: (types, default)}; returns a new dict with defaults filled in.

    `path` starts each message (see check_config), `prefix` is the section's place in the config ("notify.").
    """
    where = path + prefix
    if not isinstance(data, dict):
        raise MemoryToolError("%s must be a JSON object, got %s" % (where.rstrip(". :"), type(data).__name__))
    for key in data:
        if key not in spec:
            hint = (" (secrets go to the env file, never into the config)" if _SECRET_KEY_RE.search(key) else "")
            raise MemoryToolError("%s%s is not a known setting%s; allowed: %s"
                                  % (where, key, hint, ", ".join(sorted(spec))))
    out = {}
    for key, (types, default) in spec.items():
        if key not in data:
            if default is None and types is not None and not _optional(types):
                raise MemoryToolError("%s%s is required" % (where, key))
            out[key] = json.loads(json.dumps(default))  # a fresh copy of list defaults
            continue
        value = data[key]
        if (isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,))
                or not isinstance(value, types)):
            setting = prefix + key
            got = ("the value given is not shown (it may be a secret: secrets go to the env file)"
                   if setting in _SECRET_SETTINGS else "got %r" % (value,))
            raise MemoryToolError("%s%s must be %s, %s%s" % (where, key, _type_names(types), got, _role_var(setting)))
        out[key] = value
    return out


def _optional(types):
    return isinstance(types, tuple) and type(None) in types


def _type_names(types):
    types = types if isinstance(types, tuple) else (types,)
    names = {"str": "a string", "int": "a whole number", "float": "a number", "bool": "true or false",
             "dict": "an object", "list": "a list", "NoneType": "null"}
    return " or ".join(names.get(t.__name__, t.__name__) for t in types)


def _number(value, path, setting, low, need, above=False, high=None):
    """Raise unless `value` (None passes) is a finite number >= low (> low with `above`, <= high when given).

    `need` says what a good value is ("0 or more days"); the message names the setting and its role variable.
    """
    if value is None or (math.isfinite(value) and (value > low if above else value >= low)
                         and (high is None or value <= high)):
        return
    raise MemoryToolError("%s%s %r is invalid: it must be %s%s%s" % (
        path, setting, value, "" if math.isfinite(value) else "a finite number, ", need, _role_var(setting)))


def check_url(url, setting, fix, show=True):
    """Raise unless `url` is an http(s) URL with a host and a valid port, without blanks or control characters.

    `setting` names where it comes from, `fix` what to do; with show=False (a secret URL) the message never holds
    the value (nor urllib's own words, which quote it).
    """
    problem = None
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        problem = "contains a blank or a control character"
    else:
        try:
            parts = urllib.parse.urlsplit(url)
            host, _port = parts.hostname, parts.port
        except ValueError:  # an unclosed '[' (IPv6), a port that is not a number
            problem = "cannot be parsed as a URL (a bad host or port)"
        else:
            if parts.scheme not in ("http", "https"):
                problem = "does not start with http:// or https://"
            elif not host:
                problem = "has no host name"
    if problem:
        shown = "%r " % (url,) if show else ""
        hidden = "" if show else " (the value is not shown)"
        raise MemoryToolError("%s %s%s%s; %s" % (setting, shown, problem, hidden, fix))


def _argv(value, where):
    """A command as argv: a list of strings, or one string split like a shell would (no shell features)."""
    if isinstance(value, str):
        try:
            value = shlex.split(value)
        except ValueError as e:
            raise MemoryToolError("%s %r cannot be split into words (%s)" % (where, value, e))
    if not value or not all(isinstance(a, str) and a for a in value):
        raise MemoryToolError("%s must be a command as a list of strings (argv), e.g. [\"systemctl\", \"stop\", "
                              "\"openclaw\"], got %r" % (where, value))
    return value


def check_config(data, path="config: "):
    """Validate a parsed config dict; returns it with every default filled in.

    `path` prefixes each setting's name in messages, e.g. "config '/etc/openclaw-memory/backup.json': ".
    Everything a run would trip over later (after a snapshot is written) is refused here, naming the setting.
    """
    cfg = _section(data, _TOP, path)
    if cfg["format"] != CONFIG_FORMAT:
        raise MemoryToolError("%sformat is %r; this command reads %r" % (path, cfg["format"], CONFIG_FORMAT))
    for key in ("db_path", "backup_dir", "status_file", "lock_file"):
        if not os.path.isabs(cfg[key]):
            raise MemoryToolError("%s%s '%s' must be an absolute path" % (path, key, cfg[key]))
    for key in ("workspace", "env_file"):
        if cfg[key] is not None and not os.path.isabs(cfg[key]):
            raise MemoryToolError("%s%s '%s' must be an absolute path" % (path, key, cfg[key]))
    if os.path.realpath(cfg["backup_dir"]) == "/":
        raise MemoryToolError("%sbackup_dir '%s' is the root directory: snapshots would be written into '/'; choose a "
                              "directory that holds only these backups, e.g. /var/backups/openclaw-memory%s"
                              % (path, cfg["backup_dir"], _role_var("backup_dir")))
    if is_within(cfg["backup_dir"], cfg["db_path"]):
        raise MemoryToolError("%sbackup_dir '%s' is inside db_path '%s': backups are never written into the live "
                              "database; choose a backup_dir outside it" % (path, cfg["backup_dir"], cfg["db_path"]))
    if cfg["mode"] not in MODES:
        raise MemoryToolError("%smode %r is invalid: use 'hot' (gateway keeps running) or 'cold' (gateway stopped "
                              "during the snapshot)" % (path, cfg["mode"]))
    _number(cfg["retain_days"], path, "retain_days", 0, "0 or more days")
    _number(cfg["space_margin_mb"], path, "space_margin_mb", 0, "0 or more (MiB)")
    if not cfg["verify_checks"]:
        raise MemoryToolError("%sverify_checks is empty: nothing would check the new snapshots; list at least one of "
                              "%s (default: %s)%s"
                              % (path, ", ".join(CHECKS), ", ".join(DEFAULT_CHECKS), _role_var("verify_checks")))
    unknown = [c for c in cfg["verify_checks"] if c not in CHECKS]
    if unknown:
        raise MemoryToolError("%sverify_checks: unknown check(s) %s; choose from %s"
                              % (path, ", ".join(map(str, unknown)), ", ".join(CHECKS)))
    for key in ("owner", "group"):
        if isinstance(cfg[key], int):
            _number(cfg[key], path, key, 0, "0 or more (a numeric id), or a name")
    if cfg["embedding"] is not None:
        dims = cfg["embedding"].get("dimensions")
        if dims is not None and (isinstance(dims, bool) or not (isinstance(dims, int) or str(dims).isdigit())
                                 or int(dims) < 1):
            raise MemoryToolError("%sembedding.dimensions %r is invalid: it must be a whole number of 1 or more (the "
                                  "embedding model's vector size, e.g. 1536), or left out%s"
                                  % (path, dims, _role_var("embedding")))
    gw = _section(cfg["gateway"] or {}, _GATEWAY, path, "gateway.")
    _number(gw["timeout"], path, "gateway.timeout", 0, "more than 0 (seconds each gateway command may take)",
            above=True)
    if cfg["mode"] == "cold" and not (gw["stop"] and gw["start"]):
        raise MemoryToolError("%smode is 'cold' but gateway.stop and gateway.start are not both set; give the "
                              "commands that stop and start the gateway, or use mode 'hot'" % path)
    for key in ("stop", "start"):
        if gw[key] in ("", []):
            gw[key] = None
        if gw[key] is not None:
            gw[key] = _argv(gw[key], "%sgateway.%s" % (path, key))
    cfg["gateway"] = gw
    off = _section(cfg["offsite"] or {}, {"rsync": ((dict, type(None)), None), "s3": ((dict, type(None)), None)},
                   path, "offsite.")
    if off["rsync"] is not None:
        rs = _section(off["rsync"], _RSYNC, path, "offsite.rsync.")
        parse_dest(rs["dest"], path + "offsite.rsync.dest")
        if rs["host_key_checking"] not in HOST_KEY_CHECKING:
            raise MemoryToolError("%soffsite.rsync.host_key_checking %r is invalid: use %s"
                                  % (path, rs["host_key_checking"], ", ".join(HOST_KEY_CHECKING)))
        if not all(isinstance(o, str) for o in rs["ssh_options"]):
            raise MemoryToolError("%soffsite.rsync.ssh_options must be a list of strings" % path)
        _number(rs["retain_days"], path, "offsite.rsync.retain_days", 0, "0 or more days, or null (retain_days)")
        _number(rs["ssh_port"], path, "offsite.rsync.ssh_port", 0, "a TCP port, 1 to 65535 (0: ssh's default)",
                high=65535)
        _number(rs["bwlimit_kbps"], path, "offsite.rsync.bwlimit_kbps", 0, "0 or more (KiB/s; 0: no limit)")
        for key in ("timeout", "connect_timeout"):
            _number(rs[key], path, "offsite.rsync." + key, 0, "more than 0 (seconds)", above=True)
        off["rsync"] = rs
    if off["s3"] is not None:
        s3 = _section(off["s3"], _S3, path, "offsite.s3.")
        s3["prefix"] = s3["prefix"].strip("/")
        _number(s3["workers"], path, "offsite.s3.workers", 1, "1 or more (parallel uploads)")
        _number(s3["retain_days"], path, "offsite.s3.retain_days", 0, "0 or more days, or null (retain_days)")
        _number(s3["timeout"], path, "offsite.s3.timeout", 0, "more than 0 (seconds)", above=True)
        if s3["addressing"] not in ("auto", "path", "virtual"):
            raise MemoryToolError("%soffsite.s3.addressing %r is invalid: use auto, path or virtual"
                                  % (path, s3["addressing"]))
        if s3["endpoint"] is not None:
            check_url(s3["endpoint"], path + "offsite.s3.endpoint", "use e.g. https://s3.eu-central-1.amazonaws.com "
                      "or http://10.0.0.5:9000, or leave it out for AWS" + _role_var("offsite.s3.endpoint"))
        if s3["ca_file"] is not None:
            ssl_context(s3["ca_file"], path + "offsite.s3.ca_file" + _role_var("offsite.s3.ca_file"))
        off["s3"] = s3
    cfg["offsite"] = off
    nt = _section(cfg["notify"] or {}, _NOTIFY, path, "notify.")
    if nt["on"] not in NOTIFY_ON:
        raise MemoryToolError("%snotify.on %r is invalid: use %s" % (path, nt["on"], ", ".join(NOTIFY_ON)))
    _number(nt["timeout"], path, "notify.timeout", 0, "more than 0 (seconds each notification may take)",
            above=True)
    if nt["telegram"] is not None:
        nt["telegram"] = _section(nt["telegram"], _TELEGRAM, path, "notify.telegram.")
        check_url(nt["telegram"]["api_base"], path + "notify.telegram.api_base",
                  "use the Bot API's base URL, https://api.telegram.org, or your stand-in's http(s) URL"
                  + _role_var("notify.telegram.api_base"))
    cfg["notify"] = nt
    return cfg


def load_config(path):
    """Read and validate the JSON config file."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise MemoryToolError("Config file '%s' does not exist; apply the openclaw.memory.backup_cron role or pass "
                              "--config" % path)
    except PermissionError:
        raise MemoryToolError("Config file '%s' is not readable by this user; run the backup as root" % path)
    except ValueError as e:
        raise MemoryToolError("Config file '%s' is not valid JSON (%s); the backup_cron role writes it" % (path, e))
    return check_config(data, "config '%s': " % path)


def read_env_file(path):
    """Parse a KEY=VALUE env file (comments, `export`, quotes); refuses one that others can read."""
    try:
        st = os.stat(path)
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise MemoryToolError("Env file '%s' does not exist; create it (mode 0600) with the secrets, or remove "
                              "env_file from the config" % path)
    except PermissionError:
        raise MemoryToolError("Env file '%s' is not readable by this user; run the backup as root" % path)
    if st.st_mode & 0o077:
        raise MemoryToolError("Env file '%s' has mode %04o: other users can read the secrets in it; "
                              "run chmod 600 '%s'" % (path, st.st_mode & 0o7777, path))
    env = {}
    for lineno, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("export "):
            text = text[7:].lstrip()
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise MemoryToolError("Env file '%s' line %d is not KEY=VALUE (the value is not shown)" % (path, lineno))
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key] = value
    return env


def load_secrets(cfg):
    """The secrets the config needs, from its env file (else this process's environment); checked."""
    env = read_env_file(cfg["env_file"]) if cfg["env_file"] else {}
    secrets = {k: env.get(k) or os.environ.get(k) or None for k in SECRET_ENV}
    where = "the env file '%s'" % cfg["env_file"] if cfg["env_file"] else "an env file (set env_file)"
    if cfg["offsite"]["s3"] is not None and not (secrets[ENV_S3_ACCESS_KEY] and secrets[ENV_S3_SECRET_KEY]):
        raise MemoryToolError("offsite.s3 is set but %s and %s are missing: put them in %s"
                              % (ENV_S3_ACCESS_KEY, ENV_S3_SECRET_KEY, where))
    if cfg["notify"]["telegram"] is not None and not secrets[ENV_TELEGRAM_TOKEN]:
        raise MemoryToolError("notify.telegram is set but %s is missing: put the bot token in %s"
                              % (ENV_TELEGRAM_TOKEN, where))
    if cfg["notify"]["webhook"] and not secrets[ENV_WEBHOOK_URL]:
        raise MemoryToolError("notify.webhook is true but %s is missing: put the webhook URL in %s"
                              % (ENV_WEBHOOK_URL, where))
    if secrets[ENV_WEBHOOK_URL]:
        check_url(secrets[ENV_WEBHOOK_URL], "%s in %s" % (ENV_WEBHOOK_URL, where),
                  "put the webhook's full http(s) URL there%s" % _role_var(ENV_WEBHOOK_URL), show=False)
    token = secrets[ENV_TELEGRAM_TOKEN]
    if cfg["notify"]["telegram"] is not None and token and not re.match(r"^[A-Za-z0-9:_-]+$", token):
        raise MemoryToolError("%s in %s holds characters a Telegram bot token never has (blanks, '/', '?', ...; the "
                              "value is not shown); put the token exactly as BotFather gave it%s"
                              % (ENV_TELEGRAM_TOKEN, where, _role_var(ENV_TELEGRAM_TOKEN)))
    return secrets


class Redactor:
    """Replaces every secret value (and the parts of a secret URL) in a text."""

    def __init__(self, secrets=None):
        self.values = set()
        for value in (secrets or {}).values():
            self.add(value)

    def add(self, value):
        if not value or len(value) < 4:
            return
        self.values.add(value)
        if "://" in value:
            url = urllib.parse.urlsplit(value)
            for part in (url.path, url.query, url.password, url.path + ("?" + url.query if url.query else "")):
                if part and len(part) >= 6 and part != "/":
                    self.values.add(part)
            self.values.add(urllib.parse.quote(value, safe=""))

    def __call__(self, text):
        if text is None:
            return None
        text = str(text)
        for value in sorted(self.values, key=len, reverse=True):
            text = text.replace(value, REDACTED)
        return text

    def deep(self, obj):
        if isinstance(obj, str):
            return self(obj)
        if isinstance(obj, dict):
            return {k: self.deep(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.deep(v) for v in obj]
        return obj


# --------------------------------------------------------------------------- small helpers


class Log:
    """One line per event on `stream` (cron appends it to the log file), secrets scrubbed."""

    def __init__(self, stream=None, redact=None, quiet=False):
        self.stream = stream or sys.stdout
        self.redact = redact or Redactor()
        self.quiet = quiet

    def __call__(self, msg, *args):
        if self.quiet:
            return
        text = msg % args if args else msg
        stamp = datetime.datetime.now(tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        for line in self.redact(text).splitlines() or [""]:
            self.stream.write("%s %s[%d]: %s\n" % (stamp, PROG, os.getpid(), line))
        self.stream.flush()


def human(n):
    if n is None:
        return "?"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024
    return "%.1f TiB" % n


def parse_now(value):
    """--now: ISO 8601 ('2026-09-01T03:00:00Z', '2026-09-01') or epoch seconds; returns epoch seconds."""
    if value is None:
        return None
    return parse_time(value, "--now")


def write_json_atomic(path, data, mode=0o644):
    """The job's status files: parents created (0755), then common.write_json_atomic."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    common_write_json_atomic(path, data, mode)


class JobLock:
    """An exclusive, non-blocking flock: a second run finds it held and stops (the kernel frees it on a crash)."""

    def __init__(self, path):
        self.path = path
        self.fd = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), mode=0o755, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(self.fd, 32, 0).decode("ascii", "replace").strip() or "?"
            finally:
                os.close(self.fd)
            raise LockBusy("another backup run (pid %s) holds the lock '%s'; this run did nothing"
                           % (holder, self.path))
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, ("%d\n" % os.getpid()).encode("ascii"), 0)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


class LockBusy(Exception):
    pass


class Terminated(BaseException):
    """SIGTERM/SIGINT during a run: unwinds through `finally` (a stopped gateway is started again)."""


def _on_signal(signum, _frame):
    raise Terminated(signal.Signals(signum).name)


# --------------------------------------------------------------------------- preflight and gateway


def workspace_bytes(workspace):
    """Bytes of what a snapshot includes from the workspace (snapshot.WORKSPACE_FILES and _TREES)."""
    if not workspace or not os.path.isdir(workspace):
        return 0
    total = 0
    for name in WORKSPACE_FILES:
        p = os.path.join(workspace, name)
        if os.path.isfile(p) and not os.path.islink(p):
            total += os.path.getsize(p)
    for tree in WORKSPACE_TREES:
        p = os.path.join(workspace, tree)
        if os.path.isdir(p) and not os.path.islink(p):
            total += tree_size(p)[0]
    return total


def preflight(cfg):
    """Before anything is stopped or written: database, backup dir placement, writability and free space."""
    db, dest = cfg["db_path"], cfg["backup_dir"]
    tables = check_db_dir(db, "; set db_path in the config to the memory plugin's dbPath")
    if is_within(dest, db):
        raise MemoryToolError("backup_dir '%s' is inside db_path '%s': backups are never written into the live "
                              "database; choose a backup_dir outside it" % (dest, db))
    probe = nearest_existing(dest)
    if not os.path.isdir(probe):
        raise MemoryToolError("backup_dir '%s' cannot be created: '%s' is a file" % (dest, probe))
    if not os.access(probe, os.W_OK | os.X_OK):
        why = "a read-only filesystem" if _read_only(probe) else "not writable by this user"
        raise MemoryToolError("backup_dir '%s' is not writable ('%s' is %s); fix its mount, owner or mode, or choose "
                              "another backup_dir" % (dest, probe, why))
    ref = 0
    for tdir in tables.values():
        ref += referenced_bytes(open_table(tdir), tdir)
    ws = workspace_bytes(cfg["workspace"])
    margin = int(cfg["space_margin_mb"] * MiB)
    st = os.statvfs(probe)
    free = st.f_bavail * st.f_frsize
    need = ref + ws + margin
    out = {"referenced_bytes": ref, "workspace_bytes": ws, "margin_bytes": margin, "needed_bytes": need,
           "free_bytes": free, "tables": sorted(tables)}
    if free < need:
        raise MemoryToolError(
            "backup_dir '%s' has %s free, but a snapshot needs %s (%s referenced by the latest table versions + %s "
            "workspace + %s margin); free space there, move backup_dir, or lower space_margin_mb"
            % (dest, human(free), human(need), human(ref), human(ws), human(margin)), disk=out)
    return out


def _read_only(path):
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def run_command(argv, timeout, what, log):
    """Run a gateway command (argv, no shell); raises MemoryToolError with its last output line on failure."""
    log("%s: %s", what, " ".join(shlex.quote(a) for a in argv))
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except FileNotFoundError:
        raise MemoryToolError("%s: command '%s' not found; fix gateway.%s in the config"
                              % (what, argv[0], "stop" if "stop" in what else "start"))
    except subprocess.TimeoutExpired:
        raise MemoryToolError("%s: '%s' did not finish within %ss" % (what, argv[0], timeout))
    out = (proc.stdout + proc.stderr).strip()
    for line in out.splitlines()[-20:]:
        log("  %s", line)
    if proc.returncode != 0:
        last = out.splitlines()[-1] if out else "no output"
        raise MemoryToolError("%s failed (exit %d): %s" % (what, proc.returncode, one_line(last, 200)))


# --------------------------------------------------------------------------- off-site: rsync over SSH


def parse_dest(dest, where="offsite.rsync.dest"):
    """'[user@]host:/abs/path' -> (user@host for ssh, path, user@host for rsync's 'host:path').

    An IPv6 address is bare for ssh ('root@2001:db8::5') and keeps its brackets for rsync
    ('root@[2001:db8::5]:/srv/x'), which would otherwise split it at its first ':'.
    """
    m = _DEST_RE.match(dest or "")
    if not m:
        raise MemoryToolError("%s %r is not '[user@]host:/absolute/path' (rsync over SSH; no rsync daemon '::' "
                              "syntax)" % (where, dest))
    path = m.group("path").rstrip("/") or "/"
    if path == "/":
        raise MemoryToolError("%s %r points at '/'; give a directory that holds only these backups" % (where, dest))
    user = m.group("user") + "@" if m.group("user") else ""
    return user + m.group("host").strip("[]"), path, user + m.group("host")


def ssh_argv(rs):
    """ssh and its options (no secret: a key file path at most); one connection is shared within a run."""
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % int(rs["connect_timeout"]),
            "-o", "StrictHostKeyChecking=%s" % rs["host_key_checking"], "-o", "ServerAliveInterval=15"]
    if rs.get("_control"):
        argv += ["-o", "ControlMaster=auto", "-o", "ControlPath=%s" % rs["_control"], "-o", "ControlPersist=30"]
    if rs["known_hosts"]:
        argv += ["-o", "UserKnownHostsFile=%s" % rs["known_hosts"]]
    if rs["ssh_key"]:
        argv += ["-i", rs["ssh_key"], "-o", "IdentitiesOnly=yes"]
    if rs["ssh_port"]:
        argv += ["-p", str(rs["ssh_port"])]
    return argv + list(rs["ssh_options"])


def _run(argv, timeout, what):
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except FileNotFoundError:
        raise MemoryToolError("%s: '%s' is not installed on this host; install it" % (what, argv[0]))
    except subprocess.TimeoutExpired:
        raise MemoryToolError("%s did not finish within %ss (offsite.rsync.timeout)" % (what, timeout))
    return proc


def _remote(rs, target, script, what):
    proc = _run(ssh_argv(rs) + [target, script], rs["timeout"], what)
    if proc.returncode != 0:
        err = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()
        raise MemoryToolError("%s on %s failed (exit %d): %s" % (what, target, proc.returncode,
                                                                 one_line(" | ".join(err[-3:]), 300)))
    return proc.stdout


def _rsync(rs, args, what):
    argv = ["rsync", "-e", " ".join(shlex.quote(a) for a in ssh_argv(rs))]
    if rs["bwlimit_kbps"]:
        argv.append("--bwlimit=%d" % rs["bwlimit_kbps"])
    proc = _run(argv + args, rs["timeout"], what)
    if proc.returncode != 0:
        err = (proc.stderr.strip() or "no output").splitlines()
        raise MemoryToolError("%s failed (rsync exit %d): %s" % (what, proc.returncode,
                                                                 one_line(" | ".join(err[-3:]), 300)))
    return proc.stdout


def _stat_value(text, label):
    m = re.search(r"^%s: ([\d,]+)" % re.escape(label), text, re.MULTILINE)
    return int(m.group(1).replace(",", "")) if m else None


CATALOG_MARK = "--8<-- openclaw-memory snapshot "


def offsite_rsync(rs, snap_path, src_real, retain_days, now_epoch, log):
    """Copy one snapshot to `host:path/<name>` with --link-dest, verify it there, apply retention there.

    Three SSH sessions over one connection: read the remote catalog (each snapshot's SNAPSHOT.json),
    rsync into a hidden partial dir, then check every file with `sha256sum -c` there, rename the partial
    dir into place and remove what retention drops. The remote needs only sshd, rsync and coreutils.
    """
    target = parse_dest(rs["dest"])[0]
    ctl = tempfile.mkdtemp(prefix="ocm-ssh-")
    rs = dict(rs, _control=os.path.join(ctl, "cm"))
    try:
        _ssh_master(rs, target)
        return _offsite_rsync(rs, snap_path, src_real, retain_days, now_epoch, log)
    finally:
        subprocess.run(ssh_argv(rs) + ["-O", "exit", target], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30, check=False)
        shutil.rmtree(ctl, ignore_errors=True)


def _ssh_master(rs, target):
    """Open the shared SSH connection (in the background); raises naming ssh's own error."""
    with tempfile.TemporaryFile("w+") as err:
        try:
            proc = subprocess.run(ssh_argv(rs) + ["-o", "ControlMaster=yes", "-f", "-N", target],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                  timeout=rs["connect_timeout"] + 30, check=False)
        except FileNotFoundError:
            raise MemoryToolError("ssh is not installed on this host; install openssh-client")
        except subprocess.TimeoutExpired:
            raise MemoryToolError("ssh to %s did not connect within %ss" % (
                target, rs["connect_timeout"] + 30))
        err.seek(0)
        text = [ln for ln in err.read().splitlines() if ln.strip() and not ln.startswith("Warning: Permanently")]
    if proc.returncode != 0:
        raise MemoryToolError("ssh to %s failed (exit %d): %s; check offsite.rsync.dest, ssh_key, "
                              "and that the key is in the remote authorized_keys" % (
                                  target, proc.returncode, one_line(" | ".join(text[-3:]) or "no output", 300)))


def _offsite_rsync(rs, snap_path, src_real, retain_days, now_epoch, log):
    t0 = time.monotonic()
    target, root, remote_host = parse_dest(rs["dest"])
    name = os.path.basename(snap_path)
    partial = "." + name + OFFSITE_PARTIAL
    meta_sha = sha256_file(os.path.join(snap_path, META_NAME))
    q = shlex.quote
    out = {"dest": rs["dest"], "name": name, "ok": False, "verified": False, "bytes_sent": 0, "files_sent": 0,
           "link_dest": None, "removed": []}
    # 1. Make the dir, drop leftovers of interrupted runs, print each snapshot's SNAPSHOT.json.
    listing = _remote(rs, target, (
        "set -e; mkdir -p -- %s; cd -- %s; "
        "for d in ./.*%s ./.*%s; do [ ! -d \"$d\" ] || [ \"$d\" = ./%s ] || rm -rf -- \"$d\"; done; "
        "for f in ./*/%s; do [ -f \"$f\" ] || continue; d=${f%%/%s}; "
        "printf '\\n%s%%s %%s\\n' \"${d#./}\" \"$(sha256sum < \"$f\" | cut -d' ' -f1)\"; cat -- \"$f\"; "
        "done") % (q(root), q(root), OFFSITE_PARTIAL, OFFSITE_DELETING, q(partial), META_NAME, META_NAME,
                   CATALOG_MARK), "reading the off-site dir")
    with tempfile.TemporaryDirectory(prefix="openclaw-backup-catalog-") as cat:
        shas = _write_catalog(cat, listing)
        remote = {s["name"]: s for s in list_snapshots(cat, src=src_real)}
        if name in remote:
            if shas.get(name) != meta_sha:
                raise MemoryToolError("off-site dir %s:%s already holds a different snapshot named '%s'; nothing was "
                                      "overwritten: remove or rename it there" % (target, root, name))
            log("rsync: %s:%s/%s is already there; checking it", target, root, name)
            finish_script = "set -e; cd -- %s; sha256sum --quiet --strict -c %s; cd ..; " % (
                q(root + "/" + name), SUMS_NAME)
        else:
            # 2. Only new files travel: the rest are hard-linked from the newest remote snapshot. --checksum:
            # rsync's quick check (size + whole-second mtime) would link a same-size SHA256SUMS or SNAPSHOT.json
            # written in the same second by an earlier run; content decides instead.
            base = max(remote.values(), key=lambda s: (s["created_epoch"], s["name"]))["name"] if remote else None
            args = ["-a", "--checksum", "--delete", "--stats", "--numeric-ids"]
            if base:
                args.append("--link-dest=../%s" % base)
                out["link_dest"] = base
            log("rsync: %s -> %s:%s/%s%s", name, target, root, name, " (--link-dest %s)" % base if base else "")
            stats = _rsync(rs, args + [snap_path + "/", "%s:%s/%s/" % (remote_host, root, partial)],
                           "rsync to " + target)
            out["bytes_sent"] = _stat_value(stats, "Total bytes sent") or 0
            out["files_sent"] = _stat_value(stats, "Number of regular files transferred") or 0
            finish_script = ("set -e; cd -- %s; sha256sum --quiet --strict -c %s; printf '%%s  %%s\\n' %s %s | "
                             "sha256sum --quiet --strict -c -; cd ..; mv -T -- %s %s; "
                             % (q(root + "/" + partial), SUMS_NAME, meta_sha, META_NAME, q(partial), q(name)))
            os.makedirs(os.path.join(cat, name))
            shutil.copy2(os.path.join(snap_path, META_NAME), os.path.join(cat, name, META_NAME))
        doomed = prune_snapshots(cat, retain_days=retain_days, src=src_real, now=now_epoch, check_mode=True)
    # 3. Check every file there, put the copy in place, then (only then) apply retention there.
    for n in doomed:
        trash = "." + n + OFFSITE_DELETING
        finish_script += "mv -T -- %s %s; rm -rf -- %s; " % (q(n), q(trash), q(trash))
    _remote(rs, target, finish_script + "true", "checking the off-site copy against SHA256SUMS")
    out["verified"] = True
    out["removed"] = doomed
    out["ok"] = True
    out["duration_s"] = round(time.monotonic() - t0, 3)
    return out


def _write_catalog(cat, listing):
    """Split the remote listing into cat/<name>/SNAPSHOT.json (names are checked, never paths).

    Returns {name: sha256 of the remote SNAPSHOT.json} (the copies here are for reading, not byte-exact).
    """
    shas = {}
    name, lines = None, []

    def flush():
        if name and re.match(r"^[A-Za-z0-9][A-Za-z0-9._+@:-]*$", name):
            os.makedirs(os.path.join(cat, name), exist_ok=True)
            with open(os.path.join(cat, name, META_NAME), "w", encoding="utf-8") as f:
                f.write("\n".join(lines))
    for line in listing.splitlines():
        if line.startswith(CATALOG_MARK):
            flush()
            name, _sep, sha = line[len(CATALOG_MARK):].partition(" ")
            shas[name] = sha
            lines = []
        else:
            lines.append(line)
    flush()
    return shas


# --------------------------------------------------------------------------- off-site: S3


def s3_client(s3, secrets):
    return S3Client(s3["bucket"], region=s3["region"], endpoint=s3["endpoint"],
                    access_key=secrets.get(ENV_S3_ACCESS_KEY), secret_key=secrets.get(ENV_S3_SECRET_KEY),
                    session_token=secrets.get(ENV_S3_SESSION_TOKEN), addressing=s3["addressing"],
                    ca_file=s3["ca_file"], timeout=s3["timeout"],
                    ca_setting="offsite.s3.ca_file" + _role_var("offsite.s3.ca_file"))


def _key(prefix, rest):
    return (prefix + "/" + rest) if prefix else rest


def _s3_catalog(client, prefix, cat, src_real):
    """{name: set(keys)} of snapshots/ under prefix; SNAPSHOT.json of each downloaded to cat/<name>/."""
    names = {}
    base = _key(prefix, S3_SNAPSHOTS)
    for obj in client.list(base):
        rest = obj["key"][len(base):]
        name, _sep, leaf = rest.partition("/")
        if name and leaf:
            names.setdefault(name, set()).add(leaf)
    for name, leaves in names.items():
        if META_NAME in leaves and not name.startswith("."):
            os.makedirs(os.path.join(cat, name), exist_ok=True)
            client.get_to_file(base + name + "/" + META_NAME, os.path.join(cat, name, META_NAME))
    complete = {s["name"]: s for s in list_snapshots(cat, src=src_real)}
    return names, complete


def offsite_s3(s3, secrets, snap_path, src_real, retain_days, now_epoch, log):
    """Upload one snapshot as content-addressed objects (only those not already there), verify, retain, collect.

    Layout under the prefix: `objects/<sha256>` (file contents), `snapshots/<name>/SHA256SUMS` and
    `snapshots/<name>/SNAPSHOT.json` (written last: a snapshot is complete when it exists).
    """
    t0 = time.monotonic()
    client = s3_client(s3, secrets)
    prefix = s3["prefix"]
    name = os.path.basename(snap_path)
    sums = read_sums(os.path.join(snap_path, SUMS_NAME))
    out = {"bucket": s3["bucket"], "prefix": prefix, "name": name, "ok": False, "verified": False,
           "objects_uploaded": 0, "bytes_uploaded": 0, "objects_present": 0, "removed": [], "objects_deleted": 0}
    try:
        client.check_bucket()
        obj_base = _key(prefix, S3_OBJECTS)
        remote = {o["key"][len(obj_base):]: o["size"] for o in client.list(obj_base)}
        wanted = {}
        for rel, sha in sums.items():
            wanted.setdefault(sha, rel)
        todo = []
        for sha, rel in sorted(wanted.items()):
            path = os.path.join(snap_path, rel)
            size = os.path.getsize(path)
            if remote.get(sha) == size:
                out["objects_present"] += 1
            else:
                todo.append((obj_base + sha, path, sha, size))
        _upload(s3, secrets, client, todo)
        out["objects_uploaded"] = len(todo)
        out["bytes_uploaded"] = sum(t[3] for t in todo)
        log("s3: %d object(s) uploaded (%s), %d already there, to %s", out["objects_uploaded"],
            human(out["bytes_uploaded"]), out["objects_present"], client.url(_key(prefix, "")))
        # Verify: every object the snapshot needs is there with its size (its key is its sha256, and
        # each upload was accepted only with a body matching that sha256).
        after = {o["key"][len(obj_base):]: o["size"] for o in client.list(obj_base)}
        bad = [sha for sha, rel in wanted.items() if after.get(sha) != os.path.getsize(os.path.join(snap_path, rel))]
        if bad:
            raise MemoryToolError("S3 copy of snapshot '%s' is incomplete: %d object(s) missing or of the wrong size "
                                  "after the upload (e.g. %s); re-run the backup" % (name, len(bad), bad[0]))
        snap_base = _key(prefix, S3_SNAPSHOTS) + name + "/"
        for leaf in (SUMS_NAME, META_NAME):  # META last: marks the snapshot complete
            with open(os.path.join(snap_path, leaf), "rb") as f:
                data = f.read()
            client.put_bytes(snap_base + leaf, data, content_type="text/plain" if leaf == SUMS_NAME else
                             "application/json")
            if hashlib.sha256(client.get_bytes(snap_base + leaf)).digest() != hashlib.sha256(data).digest():
                raise MemoryToolError("S3 copy of %s of snapshot '%s' reads back different; re-run the backup"
                                      % (leaf, name))
        out["verified"] = True
        with tempfile.TemporaryDirectory(prefix="openclaw-backup-s3-") as cat:
            names, complete = _s3_catalog(client, prefix, cat, src_real)
            doomed = prune_snapshots(cat, retain_days=retain_days, src=src_real, now=now_epoch, check_mode=True)
            for n in doomed:
                for leaf in (META_NAME, SUMS_NAME):  # META first: an interrupted delete leaves no "complete" one
                    if leaf in names.get(n, ()):
                        client.delete(_key(prefix, S3_SNAPSHOTS) + n + "/" + leaf)
                names.pop(n, None)
            for n in [n for n, leaves in names.items() if META_NAME not in leaves and n != name]:
                for leaf in sorted(names[n]):  # an interrupted upload of an earlier run
                    client.delete(_key(prefix, S3_SNAPSHOTS) + n + "/" + leaf)
                names.pop(n)
            out["removed"] = doomed
            referenced = set()
            for n, leaves in names.items():
                if SUMS_NAME in leaves:
                    referenced.update(_parse_sums(client.get_bytes(_key(prefix, S3_SNAPSHOTS) + n + "/" + SUMS_NAME),
                                                  client.url(_key(prefix, S3_SNAPSHOTS) + n + "/" + SUMS_NAME)))
            for sha in sorted(set(after) - referenced):
                client.delete(obj_base + sha)
                out["objects_deleted"] += 1
        out["snapshots"] = sorted(set(complete) - set(doomed))
        out["requests"] = client.requests
        out["ok"] = True
        out["duration_s"] = round(time.monotonic() - t0, 3)
        return out
    finally:
        client.close()


def _upload(s3, secrets, client, todo):
    """PUT each (key, path, sha256, size), on `s3.workers` connections (one client per thread)."""
    workers = max(1, min(int(s3["workers"]), len(todo)))
    if workers == 1:
        for item in todo:
            client.put_file(*item)
        return
    local = threading.local()
    clients = []
    lock = threading.Lock()

    def put(item):
        c = getattr(local, "client", None)
        if c is None:
            c = local.client = s3_client(s3, secrets)
            with lock:
                clients.append(c)
        c.put_file(*item)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for _done in pool.map(put, todo):  # re-raises the first failure
                pass
    finally:
        for c in clients:
            client.requests += c.requests
            c.close()


def _parse_sums(data, where):
    with tempfile.NamedTemporaryFile("wb", prefix="openclaw-backup-sums-") as f:
        f.write(data)
        f.flush()
        try:
            return set(read_sums(f.name).values())
        except MemoryToolError as e:
            raise MemoryToolError("%s: %s" % (where, e.msg))


def fetch_s3(cfg, secrets, name, dest, log):
    """Download snapshot `name` (or 'latest') from S3 into dest/<name>, checking every file's sha256.

    The result is an ordinary snapshot directory (lance_verify, memory_restore take it).
    """
    s3 = cfg["offsite"]["s3"]
    if s3 is None:
        raise MemoryToolError("offsite.s3 is not set in the config; nothing to fetch from")
    client = s3_client(s3, secrets)
    prefix = s3["prefix"]
    try:
        with tempfile.TemporaryDirectory(prefix="openclaw-backup-s3-") as cat:
            _names, complete = _s3_catalog(client, prefix, cat, None)
            if not complete:
                raise MemoryToolError("%s holds no complete snapshot" % client.url(_key(prefix, S3_SNAPSHOTS)))
            if name == "latest":
                name = max(complete.values(), key=lambda s: (s["created_epoch"], s["name"]))["name"]
            if name not in complete:
                raise MemoryToolError("snapshot '%s' is not complete in %s; complete ones: %s" % (
                    name, client.url(_key(prefix, S3_SNAPSHOTS)), ", ".join(sorted(complete))))
        final = os.path.join(dest, name)
        if os.path.lexists(final):
            raise MemoryToolError("'%s' already exists; choose another dest or remove it" % final)
        os.makedirs(dest, mode=0o700, exist_ok=True)
        staging = os.path.join(dest, "." + name + ".fetch-partial")
        shutil.rmtree(staging, ignore_errors=True)
        os.mkdir(staging, 0o700)
        try:
            snap_base = _key(prefix, S3_SNAPSHOTS) + name + "/"
            for leaf in (SUMS_NAME, META_NAME):
                client.get_to_file(snap_base + leaf, os.path.join(staging, leaf))
            sums = read_sums(os.path.join(staging, SUMS_NAME))
            total = 0
            for rel, sha in sorted(sums.items()):
                path = os.path.join(staging, rel)
                os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
                got, n = client.get_to_file(_key(prefix, S3_OBJECTS) + sha, path)
                if got != sha:
                    raise MemoryToolError("S3 object for '%s' of snapshot '%s' has sha256 %s, expected %s; the "
                                          "bucket copy is damaged" % (rel, name, got, sha))
                total += n
            if read_snapshot_meta(staging) is None:
                raise MemoryToolError("%s of snapshot '%s' on S3 is not a snapshot made by lance_snapshot"
                                      % (META_NAME, name))
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        log("s3: fetched %s (%d files, %s) into %s", name, len(sums), human(total), final)
        return {"name": name, "path": final, "files": len(sums), "bytes": total}
    finally:
        client.close()


# --------------------------------------------------------------------------- notifications


def message(status):
    host = status.get("host")
    if status["ok"]:
        snap = status.get("snapshot") or {}
        parts = ["OpenClaw memory backup OK on %s" % host,
                 "snapshot %s, %s (%s new)" % (snap.get("name"), human(snap.get("bytes")),
                                               human(snap.get("bytes_copied"))),
                 "%s memories" % status.get("memories", {}).get("total", "?"),
                 "%.1f s" % status.get("duration_s", 0)]
        off = ["%s %s" % (k, "ok" if v.get("ok") else "FAILED") for k, v in sorted(status.get("offsite", {}).items())]
        if off:
            parts.append("off-site: " + ", ".join(off))
        parts += ["WARNING: %s" % w for w in status.get("warnings") or []]
    else:
        parts = ["OpenClaw memory backup FAILED on %s: %s (%.1f s)" % (host, status.get("reason"),
                                                                       status.get("duration_s", 0))]
    if status.get("status_file_error"):
        parts.append("the status file could not be written: %s" % status["status_file_error"])
    return "; ".join(parts)


def _post_json(url, payload, timeout):
    req = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": PROG})
    # The cron job runs on the host without ansible-core, so Ansible's open_url is not there: the standard library's
    # default opener (what urlopen uses: proxies from the environment, HTTPS with the system's CAs).
    with urllib.request.build_opener().open(req, timeout=timeout) as resp:
        return resp.status, resp.read(65536)


def notify(cfg, secrets, status, log):
    """Send the webhook and Telegram messages the config asks for; returns {channel: {ok, error}}."""
    nt = cfg["notify"]
    results = {}
    if nt["on"] == "never" or (nt["on"] == "failure" and status["ok"]):
        return results
    text = message(status)
    if nt["webhook"]:
        payload = {"text": text, "ok": status["ok"], "host": status.get("host"), "reason": status.get("reason"),
                   "time": status.get("time"), "snapshot": (status.get("snapshot") or {}).get("name"),
                   "bytes": (status.get("snapshot") or {}).get("bytes"), "duration_s": status.get("duration_s"),
                   "memories": (status.get("memories") or {}).get("total"),
                   "offsite": {k: v.get("ok") for k, v in (status.get("offsite") or {}).items()}}
        results["webhook"] = _send("webhook", lambda: _post_json(secrets[ENV_WEBHOOK_URL], payload, nt["timeout"]),
                                   log)
    if nt["telegram"] is not None:
        tg = nt["telegram"]
        url = "%s/bot%s/sendMessage" % (tg["api_base"].rstrip("/"), secrets[ENV_TELEGRAM_TOKEN])

        def send():
            code, body = _post_json(url, {"chat_id": tg["chat_id"], "text": text, "disable_web_page_preview": True},
                                    nt["timeout"])
            try:
                ok = json.loads(body.decode("utf-8")).get("ok")
            except (ValueError, AttributeError):
                ok = None
            if ok is not True:
                raise MemoryToolError("Telegram answered without ok=true")
            return code, body
        results["telegram"] = _send("telegram", send, log)
    return results


def _send(channel, fn, log):
    try:
        code, _body = fn()
        log("notify: %s sent (HTTP %d)", channel, code)
        return {"ok": True}
    except urllib.error.HTTPError as e:
        err = "HTTP %d %s" % (e.code, e.reason)
    except urllib.error.URLError as e:
        err = "cannot connect: %s" % (getattr(e.reason, "strerror", None) or e.reason)
    except (OSError, MemoryToolError) as e:
        err = getattr(e, "msg", None) or getattr(e, "strerror", None) or e.__class__.__name__
    except Exception as e:  # noqa: BLE001 - a bad URL (ValueError, InvalidURL) must not end the run with a traceback
        # Its text quotes the URL, which holds the secret (token, webhook path): only the kind is kept.
        err = "%s (the details are not shown: they quote the secret URL); check the URL settings" % (
            e.__class__.__name__)
    log("notify: %s FAILED: %s", channel, err)
    return {"ok": False, "error": err}


# --------------------------------------------------------------------------- the run


def _previous(path):
    try:
        with open(path, encoding="utf-8") as f:
            prev = json.load(f)
        return prev if isinstance(prev, dict) else {}
    except (OSError, ValueError):
        return {}


def run_backup(cfg, secrets, now=None, log=None):
    """One backup run (the caller holds the lock); returns the status dict (never raises MemoryToolError)."""
    log = log or Log()
    t0 = time.monotonic()
    now_epoch = time.time() if now is None else float(now)
    db_real = os.path.realpath(cfg["db_path"])
    status = {
        "format": STATUS_FORMAT, "ok": False, "exit_code": EXIT_FAILED, "reason": None,
        "host": cfg["host_label"] or socket.gethostname(), "time": iso_utc(now_epoch * 1000), "epoch": now_epoch,
        "simulated_time": now is not None, "mode": cfg["mode"], "db_path": cfg["db_path"],
        "backup_dir": cfg["backup_dir"], "snapshot": None, "memories": None, "verify": None,
        "retention": None, "offsite": {}, "disk": None, "gateway": None, "errors": [], "warnings": [],
    }
    log("backup of %s into %s (%s%s)", cfg["db_path"], cfg["backup_dir"], cfg["mode"],
        ", simulated time %s" % status["time"] if now is not None else "")
    try:
        status["disk"] = preflight(cfg)
        log("space: %s free, %s needed", human(status["disk"]["free_bytes"]), human(status["disk"]["needed_bytes"]))
        snap = _snapshot(cfg, now_epoch, status, log)
        ver = _verify(cfg, snap, status)
        damaged = _damaged(snap, ver)
        if damaged:
            # A reused snapshot, or files hard-linked from the previous one, fail their checksums: the damage is in
            # an old snapshot, not in the database. One full copy (nothing linked) gets today's backup anyway.
            log("warning: %s; taking one full snapshot (nothing hard-linked)", failure_message(ver))
            snap = _snapshot(cfg, now_epoch, status, log, fresh=True)
            ver = _verify(cfg, snap, status)
        if not ver["ok"]:
            raise MemoryToolError(failure_message(ver) + "; old snapshots were kept")
        log("verify: ok (%s) in %.2f s", ", ".join(ver["checks"]), ver["duration_s"])
        removed = prune_snapshots(cfg["backup_dir"], retain_days=cfg["retain_days"], src=db_real, now=now_epoch)
        kept = [s["name"] for s in list_snapshots(cfg["backup_dir"], src=db_real)]
        status["retention"] = {"retain_days": cfg["retain_days"], "removed": removed, "kept": kept}
        if removed:
            log("retention: removed %s (older than %s days); kept %d", ", ".join(removed), cfg["retain_days"],
                len(kept))
        if damaged:
            status["warnings"].append(_damage_warning(damaged, snap["name"], kept))
            log("warning: %s", status["warnings"][-1])
        _offsite(cfg, secrets, snap["snapshot"], db_real, now_epoch, status, log)
    except MemoryToolError as e:
        status["errors"].insert(0, one_line(e.msg, REASON_MAX))
        if e.details.get("disk"):
            status["disk"] = e.details["disk"]
    except Terminated as e:
        status["errors"].insert(0, "the run was stopped by %s before it finished; re-run it" % e)
    except Exception as e:  # noqa: BLE001 - the job must always end with a status and a reason
        status["errors"].insert(0, one_line("unexpected error: %s: %s" % (e.__class__.__name__, e), REASON_MAX))
    status["duration_s"] = round(time.monotonic() - t0, 3)
    status["ok"] = not status["errors"]
    status["exit_code"] = EXIT_OK if status["ok"] else EXIT_FAILED
    status["reason"] = status["errors"][0] if status["errors"] else None
    return status


def _snapshot(cfg, now_epoch, status, log, fresh=False):
    """take_snapshot (recorded in the status); in cold mode between gateway stop and a start that runs whatever
    happened. `fresh`: a new snapshot that copies every file (nothing reused, nothing hard-linked)."""
    snap = _take_snapshot(cfg, now_epoch, status, log, fresh)
    status["snapshot"] = {k: snap.get(k) for k in ("name", "path", "reused", "files", "bytes_copied",
                                                   "bytes_linked", "files_copied", "files_linked", "link_dest")}
    status["snapshot"]["path"] = snap["snapshot"]
    status["snapshot"]["bytes"] = snap["bytes_total"]
    meta = read_snapshot_meta(snap["snapshot"]) or {}
    status["memories"] = {k: meta.get(k) for k in ("total", "by_category", "by_agent", "by_scope")}
    log("snapshot %s: %s, %s copied, %s linked, %s memories%s", snap["name"], human(snap["bytes_total"]),
        human(snap["bytes_copied"]), human(snap["bytes_linked"]), meta.get("total"),
        " (reused: nothing changed)" if snap.get("reused") else "")
    for w in snap.get("warnings") or []:
        log("warning: %s", w)
    return snap


def _verify(cfg, snap, status):
    """verify_checks on the snapshot against its own SNAPSHOT.json; recorded in the status."""
    ver = verify_snapshot(snap["snapshot"], baseline=os.path.join(snap["snapshot"], META_NAME),
                          checks=cfg["verify_checks"])
    status["verify"] = {"ok": ver["ok"], "checks": {k: v["ok"] for k, v in ver["checks"].items()},
                        "duration_s": ver["duration_s"]}
    return ver


def _damaged(snap, ver):
    """{names, files} when a reused snapshot, or one that hard-linked files, fails its checksums; else None.

    names: the snapshots holding the damaged files (a reused one; a new one and the one it linked from).
    """
    check = ver["checks"].get("checksums") or {}
    files = list(check.get("bad") or []) + list(check.get("missing") or [])
    if ver["ok"] or check.get("ok", True) or not files or not (snap.get("reused") or snap.get("bytes_linked")):
        return None
    names = [snap["name"]] + ([os.path.basename(snap["link_dest"])] if snap.get("link_dest") else [])
    return {"names": sorted(names), "files": files}


def _damage_warning(damaged, good, kept):
    """The warning of a run that replaced a damaged snapshot by a full one."""
    files = ", ".join(damaged["files"][:5]) + (" and %d more" % (len(damaged["files"]) - 5)
                                               if len(damaged["files"]) > 5 else "")
    left = [n for n in damaged["names"] if n in kept]
    return ("snapshot(s) %s hold damaged files (they differ from their SHA256SUMS or are missing: %s); this run took "
            "a full snapshot, %s, that verified, and later runs link from it. %s" % (
                ", ".join(damaged["names"]), files, good,
                "Kept for inspection: %s; remove %s once inspected (check the disk)" % (
                    ", ".join(left), "them" if len(left) > 1 else "it") if left else "Retention has removed them"))


def _take_snapshot(cfg, now_epoch, status, log, fresh):
    kw = {"workspace": cfg["workspace"], "link_dest": "none" if fresh else "auto", "force": fresh or cfg["force"],
          "owner": cfg["owner"], "group": cfg["group"], "embedding": cfg["embedding"], "now": now_epoch}
    if cfg["mode"] == "hot":
        return take_snapshot(cfg["db_path"], cfg["backup_dir"], **kw)
    gw = cfg["gateway"]
    status["gateway"] = {"stopped": False, "started": False}
    t_stop = time.monotonic()
    try:
        run_command(gw["stop"], gw["timeout"], "stopping the gateway", log)
        status["gateway"]["stopped"] = True
        return take_snapshot(cfg["db_path"], cfg["backup_dir"], **kw)
    finally:
        try:
            run_command(gw["start"], gw["timeout"], "starting the gateway", log)
            status["gateway"]["started"] = True
        except MemoryToolError as e:
            status["errors"].append(one_line("the gateway did not start again: " + e.msg, REASON_MAX))
            log("ERROR: the gateway did not start again: %s", e.msg)
        status["gateway"]["downtime_s"] = round(time.monotonic() - t_stop, 3)


def _offsite(cfg, secrets, snap_path, db_real, now_epoch, status, log):
    """Each configured off-site copy; a failure is recorded and the next one still runs."""
    jobs = []
    if cfg["offsite"]["rsync"] is not None:
        rs = cfg["offsite"]["rsync"]
        days = rs["retain_days"] if rs["retain_days"] is not None else cfg["retain_days"]
        jobs.append(("rsync", lambda: offsite_rsync(rs, snap_path, db_real, days, now_epoch, log)))
    if cfg["offsite"]["s3"] is not None:
        s3 = cfg["offsite"]["s3"]
        days = s3["retain_days"] if s3["retain_days"] is not None else cfg["retain_days"]
        jobs.append(("s3", lambda: offsite_s3(s3, secrets, snap_path, db_real, days, now_epoch, log)))
    for kind, fn in jobs:
        try:
            res = fn()
            status["offsite"][kind] = res
            log("%s: ok, verified%s", kind, "; removed %s" % ", ".join(res["removed"]) if res["removed"] else "")
        except MemoryToolError as e:
            status["offsite"][kind] = {"ok": False, "error": one_line(e.msg, REASON_MAX)}
            status["errors"].append(one_line("off-site %s: %s" % (kind, e.msg), REASON_MAX))
            log("ERROR: off-site %s: %s", kind, e.msg)


def finish(cfg, secrets, status, log):
    """Write the status file, send the notifications, write it again with their outcome; returns the exit code."""
    redact = log.redact
    prev = _previous(cfg["status_file"])
    if status["ok"]:
        status["last_ok_time"] = status["time"]
        status["last_ok_snapshot"] = (status.get("snapshot") or {}).get("name")
        status["consecutive_failures"] = 0
    else:
        status["last_ok_time"] = prev.get("last_ok_time")
        status["last_ok_snapshot"] = prev.get("last_ok_snapshot")
        status["consecutive_failures"] = int(prev.get("consecutive_failures") or 0) + 1
    status = redact.deep(status)
    unwritten = _write_status(cfg["status_file"], status, log)
    if unwritten:
        status["status_file_error"] = unwritten  # the alert says so: monitoring will not see this run
    status["notify"] = notify(cfg, secrets, status, log) if cfg else {}
    status.pop("status_file_error", None)
    code = status["exit_code"]
    if status["ok"] and any(not r["ok"] for r in status["notify"].values()):
        code = EXIT_NOTIFY
        status["exit_code"] = code
    status = redact.deep(status)
    unwritten = _write_status(cfg["status_file"], status, log)
    if unwritten and code in (EXIT_OK, EXIT_NOTIFY):
        code = EXIT_STATUS
    if unwritten:
        log("FAILED: %s; monitoring cannot see this run: free space there or fix status_file%s. The backup itself: %s",
            unwritten, _role_var("status_file"), message(status) if status["ok"] else "FAILED: " + status["reason"])
    elif status["ok"]:
        log("OK: %s", message(status))
    else:
        log("FAILED: %s", status["reason"])
    return code


def _write_status(path, status, log):
    """Write the status file; returns None, or what went wrong (also logged)."""
    try:
        write_json_atomic(path, status)
        return None
    except OSError as e:
        err = "cannot write the status file '%s': %s" % (path, e.strerror or e)
        log("ERROR: %s", err)
        return err


def config_error_status(path, msg, log):
    """A config that cannot be used still leaves a status file (at the default path) for monitoring."""
    status = {"format": STATUS_FORMAT, "ok": False, "exit_code": EXIT_CONFIG, "reason": one_line(msg, REASON_MAX),
              "host": socket.gethostname(), "time": iso_utc(time.time() * 1000), "errors": [one_line(msg, REASON_MAX)]}
    prev = _previous(path)
    status["last_ok_time"] = prev.get("last_ok_time")
    status["last_ok_snapshot"] = prev.get("last_ok_snapshot")
    status["consecutive_failures"] = int(prev.get("consecutive_failures") or 0) + 1
    _write_status(path, status, log)


# --------------------------------------------------------------------------- command line


def build_parser():
    p = argparse.ArgumentParser(prog=PROG, description="Scheduled, verified backups of OpenClaw memory (LanceDB + "
                                "workspace) with retention, off-site copies and alerts. Secrets are read from the "
                                "env file named in the config, never from the command line.")
    p.add_argument("--config", default=DEFAULT_CONFIG, help="config file (default %(default)s)")
    p.add_argument("--status-file", help="status file to write (default: status_file from the config, else %s)"
                   % DEFAULT_STATUS)
    sub = p.add_subparsers(dest="cmd")
    r = sub.add_parser("run", help="take, verify and ship one backup (the default)")
    r.add_argument("--now", help="pretend it is this time (ISO 8601 or epoch seconds): names the snapshot and "
                   "drives retention; for tests and drills")
    r.add_argument("--quiet", action="store_true", help="no log lines, only the exit status")
    sub.add_parser("check-config", help="validate the config and the env file (no secret is printed)")
    f = sub.add_parser("fetch-s3", help="download a snapshot from S3 into a local dir, checking every file")
    f.add_argument("--name", default="latest", help="snapshot name, or 'latest' (default)")
    f.add_argument("--dest", required=True, help="directory to create the snapshot in")
    return p


def main(argv=None, stream=None):
    args = build_parser().parse_args(argv)
    cmd = args.cmd or "run"
    log = Log(stream=stream, quiet=getattr(args, "quiet", False))
    try:
        cfg = load_config(args.config)
        secrets = load_secrets(cfg)
    except MemoryToolError as e:
        log("FAILED: %s", e.msg)
        if cmd == "run":
            config_error_status(args.status_file or _status_path(args.config), e.msg, log)
        return EXIT_CONFIG
    if args.status_file:
        cfg["status_file"] = os.path.abspath(args.status_file)
    log.redact = Redactor(secrets)
    if cmd == "check-config":
        return _check_config_cmd(cfg, secrets, log)
    if cmd == "fetch-s3":
        try:
            fetch_s3(cfg, secrets, args.name, args.dest, log)
            return EXIT_OK
        except MemoryToolError as e:
            log("FAILED: %s", e.msg)
            return EXIT_FAILED
    try:
        now = parse_now(args.now)
    except MemoryToolError as e:
        log("FAILED: %s", e.msg)
        return EXIT_CONFIG
    try:
        with JobLock(cfg["lock_file"]):
            saved = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
            try:
                status = run_backup(cfg, secrets, now=now, log=log)
                for sig in (signal.SIGTERM, signal.SIGHUP):
                    signal.signal(sig, signal.SIG_IGN)  # the status and the alert still go out
                return finish(cfg, secrets, status, log)
            finally:
                for sig, handler in saved.items():
                    signal.signal(sig, handler)
    except LockBusy as e:
        log("SKIPPED: %s", e)
        return EXIT_LOCKED
    except OSError as e:
        msg = "cannot take the lock '%s': %s" % (cfg["lock_file"], e.strerror or e)
        log("FAILED: %s", msg)
        return EXIT_FAILED


def _status_path(config_path):
    """status_file from a config that failed validation, when it can still be read; else the default."""
    try:
        with open(config_path, encoding="utf-8") as f:
            value = json.load(f).get("status_file")
        return value if isinstance(value, str) and os.path.isabs(value) else DEFAULT_STATUS
    except (OSError, ValueError, AttributeError):
        return DEFAULT_STATUS


def _check_config_cmd(cfg, secrets, log):
    present = sorted(k for k, v in secrets.items() if v)
    log("config ok: db_path %s, backup_dir %s, mode %s, retain_days %s, off-site %s, notify %s; secrets present: %s",
        cfg["db_path"], cfg["backup_dir"], cfg["mode"], cfg["retain_days"],
        ", ".join(k for k, v in cfg["offsite"].items() if v) or "none",
        ", ".join(k for k in ("webhook", "telegram") if cfg["notify"][k]) or "none", ", ".join(present) or "none")
    if not os.path.isdir(cfg["db_path"]):
        log("warning: db_path '%s' does not exist yet; backups fail until it does", cfg["db_path"])
    return EXIT_OK


if __name__ == "__main__":
    # The cron command's entry point (not a module): its exit code is the job's.
    sys.exit(main())  # pylint: disable=ansible-bad-function
