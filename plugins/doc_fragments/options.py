# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options that several modules take, documented once.

M(openclaw.memory.openclaw_gateway), M(openclaw.memory.lance_snapshot) and M(openclaw.memory.memory_restore) take
these as top-level options; memory_restore also takes the gateway's as O(start_gateway), and
M(openclaw.memory.openclaw_cutover) takes all three as sub-options (O(gateway), O(snapshot), O(receive)) - the same
argument specs in module_utils. The nested copies are built here from the one text: O() references to a sibling
option are re-pointed to its nested name, references the nested place has no option for become C().
"""

from __future__ import annotations

import copy
import re

import yaml


class ModuleDocFragment:
    # Nothing by this name alone; use one of the option sets below.
    DOCUMENTATION = r"""
options: {}
"""

    # openclaw_gateway's options but state (module_utils/gateway.py ARGUMENT_SPEC).
    GATEWAY = r"""
options:
  manager:
    description:
      - V(systemd_user) - the gateway user's unit (C(openclaw-gateway.service), OpenClaw's own install on Linux)
        through C(systemctl --user), run as O(user) with C(XDG_RUNTIME_DIR=/run/user/<uid>) and
        C(DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/<uid>/bus). Fails, naming C(loginctl enable-linger
        <user>), when that user's manager is not running (no C(/run/user/<uid>/bus)).
      - V(systemd) - a system unit (default C(openclaw), as the migration guide's C(systemctl stop openclaw));
        needs root, so run the task with C(become).
      - V(openclaw_cli) - C(<cli> gateway stop|start|status [--profile <profile>]), run as O(user). Its status
        command is taken to exit 0 while the gateway runs and one of O(stopped_rcs) when it is stopped
        (unconfirmed for the real CLI, so check it and set that list).
      - V(command) - O(start_command), O(stop_command) and O(status_command), all three required.
      - V(none) - nothing manages the gateway; nothing runs and RV(running) is null.
    type: str
    choices: [systemd_user, systemd, openclaw_cli, command, none]
    default: systemd_user
  user:
    description:
      - The account that runs the gateway. The V(systemd_user) and V(openclaw_cli) commands run as it (the
        module runs as root and drops to it in the command's process - groups, uid, C(HOME), C(USER),
        C(LOGNAME) and the user's home as working directory - so run the task with C(become)); when the module
        already runs as that account nothing is switched. Unset or empty runs them as the connection's user.
      - V(systemd) and V(command) commands always run as the module's user (switch users inside the command
        when needed).
    type: str
  profile:
    description: A named OpenClaw profile (unit C(openclaw-gateway-<profile>.service), CLI C(--profile <profile>)).
    type: str
  unit:
    description:
      - The unit name (V(systemd_user), V(systemd)); unset picks C(openclaw-gateway[-<profile>].service) for
        V(systemd_user) and C(openclaw) for V(systemd).
    type: str
  cli:
    description: The OpenClaw CLI for the V(openclaw_cli) manager, a name on C(PATH) or an absolute path.
    type: str
    default: openclaw
  start_command:
    description:
      - V(command) manager - the start command line, split like M(ansible.builtin.command) does (no shell, so no
        pipes, redirections or variables).
    type: str
  stop_command:
    description: V(command) manager - the stop command line.
    type: str
  status_command:
    description:
      - V(command) manager - the status command line; must exit 0 while the gateway runs and one of
        O(stopped_rcs) when it is stopped.
    type: str
  stopped_rcs:
    description:
      - Exit codes of the status command (V(command) and V(openclaw_cli)) that mean the gateway is stopped (LSB
        C(3) = not running). 0 means running; any other code is an unknown state and fails the task.
    type: list
    elements: int
    default: [3]
  environment:
    description:
      - Extra environment for every command the module runs.
      - Values may be secrets - they are never returned, and (as C(no_log) does) every value is masked
        (C(********)) wherever it appears in the result, command output included. Short values such as V(1)
        therefore mask much of the output; keep such settings in the command itself.
    type: dict
    default: {}
  timeout:
    description:
      - Seconds O(state=stopped) waits after the stop command until the status says stopped, and O(state=started)
        after the start command until it says running. Each command the module runs is also killed after this
        long.
    type: float
    default: 60
  poll_interval:
    description: Seconds between two status polls while waiting.
    type: float
    default: 0.2
"""

    # lance_snapshot's options (module_utils/snapshot.py ARGUMENT_SPEC).
    SNAPSHOT = r"""
options:
  src:
    description: LanceDB database directory (the memory plugin's C(dbPath)); it holds C(<table>.lance) dirs.
    type: path
    required: true
  dest:
    description:
      - Directory that holds the snapshots, created when missing (with its missing parents, mode O(dir_mode),
        owned by O(owner)).
      - Must not be inside O(src). Only complete snapshots made by this module are ever considered or
        removed there; other content is left alone.
      - Not created when an option is refused; when a run that created it fails, it is removed again.
    type: path
    required: true
  name:
    description:
      - Name of the snapshot directory inside O(dest).
      - Default the UTC time C(YYYYMMDDTHHMMSSZ) (with a C(-2), C(-3) suffix when taken twice in one second).
      - If a snapshot of that name exists with the same content the task is C(changed=false); with other
        content it fails.
    type: str
  link_dest:
    description:
      - Snapshot to hard-link unchanged files from. V(auto) is the newest complete snapshot of O(src) in
        O(dest) (else the newest of any source), V(none) copies everything, or the path of a complete
        snapshot directory made by this module (anything else is refused; hard links need it on the same
        filesystem as O(dest); otherwise files are copied and a warning is returned).
    type: str
    default: auto
  history:
    description:
      - V(latest) keeps each table's latest version only. V(all) also keeps every older version still on
        disk (for time travel), up to the pinned one.
    type: str
    choices: [latest, all]
    default: latest
  workspace:
    description:
      - Markdown memory workspace to include under C(workspace/) (C(MEMORY.md) and C(memory/**)), for
        example C(~/.openclaw/workspace). Symlinks are not followed.
    type: path
  retain:
    description:
      - Keep the newest N complete snapshots of O(src) in O(dest) (at least 1). Combined with O(retain_days),
        a snapshot is kept when either rule keeps it. The newest is always kept.
    type: int
  retain_days:
    description: Keep complete snapshots of O(src) younger than this many days; the newest is always kept.
    type: int
  force:
    description: Take a new snapshot even when the newest one already holds the same versions.
    type: bool
    default: false
  owner:
    description: Owner of the snapshot's files and directories (name or uid). Default the user running the task.
    type: str
  group:
    description: Group of the snapshot's files and directories. Default the owner's primary group.
    type: str
  mode:
    description: Mode of the snapshot's files. Memories hold secrets, hence owner-only by default.
    type: raw
    default: '0600'
  dir_mode:
    description: Mode of the snapshot's directories (and of O(dest) when it is created).
    type: raw
    default: '0700'
  embedding:
    description:
      - The embedding identity to record in C(SNAPSHOT.json) for later checks, usually
        C(openclaw_memory.embedding) from M(openclaw.memory.openclaw_memory_facts). Only C(provider),
        C(model) and C(dimensions) are kept in C(SNAPSHOT.json); other keys are dropped. Never pass the API key;
        like every option value it would be echoed in the task's invocation.
    type: dict
  probes:
    description: How many spot-check memories (deterministic choice) to record in C(SNAPSHOT.json); 0 or more
      (V(0) records none).
    type: int
    default: 3
  lock_timeout:
    description: Seconds to wait for another snapshot run on the same O(dest) to finish.
    type: int
    default: 60
  verify_links:
    description:
      - Read and hash every source table file that the link-dest snapshot already holds with the same size
        before hard-linking it, instead of trusting relative path + size + modification time.
      - With V(false) (the default) a file rewritten in place with the same size and the same modification time
        would be linked, so the snapshot would hold the link-dest's older bytes (still matching its own
        C(SHA256SUMS)). Lance never rewrites a file, so only a foreign tool that also resets the modification
        time could cause that. V(true) reads every such file, about every byte of the table's latest
        version, on each run.
    type: bool
    default: false
"""

    # memory_restore's options but state and snapshot (module_utils/restore.py ARGUMENT_SPEC); START_GATEWAY
    # (below) adds start_gateway's sub-options, the gateway's.
    RESTORE = r"""
options:
  db_path:
    description: The memory plugin's database directory (M(openclaw.memory.openclaw_memory_facts) reports it
      as C(db_path)). Missing parent directories are created, owned by O(owner).
    type: path
    required: true
  workspace:
    description: Agent workspace directory (for example C(~node/.openclaw/workspace)). When set and the
      snapshot holds C(workspace/), each entry there (C(MEMORY.md), C(memory/)) is restored the same way.
    type: path
  owner:
    description: Account that owns the restored files (the gateway's user). Default the owner of the database
      in place, else of its nearest existing parent directory.
    type: str
  group:
    description: Group of the restored files. Default the group of O(owner), else as O(owner).
    type: str
  mode:
    description: Mode of restored files (octal string). Must let the owner read and write.
    type: raw
    default: "0600"
  dir_mode:
    description: Mode of restored directories (octal string). Must let the owner list, enter and write.
    type: raw
    default: "0700"
  verify_checks:
    description: Checks run on the staged copy before it is put in place; see M(openclaw.memory.lance_verify).
      C(readwrite) runs on a scratch copy, never on the restored database.
    type: list
    elements: str
    choices: [checksums, structure, content, search, readwrite]
    default: [checksums, structure, content, search, readwrite]
  expect:
    description:
      - Extra expectations for the staged copy, on top of the snapshot's C(SNAPSHOT.json), for example
        C(total) set to the count the operator noted before the migration.
      - The keys of O(openclaw.memory.lance_verify#module:expect).
    type: dict
  force:
    description: Restore even when the database already holds the snapshot's files plus newer ones; the
      newer state is moved aside, not deleted.
    type: bool
    default: false
  start_gateway:
    description:
      - With O(state=restored), start the gateway once the snapshot is in place (restored now, or already there)
        and wait until it runs, in the same task - the options of M(openclaw.memory.openclaw_gateway) but C(state),
        listed below (the gateway role's entry point C(options) sets them as the fact C(openclaw_gateway_options)).
        Checked before anything is staged.
      - When there is something to switch and the gateway runs (its status command says so), the task fails
        before anything is staged, in check mode too, naming the gateway and the fix (stop it first), because a switch
        under a running gateway would leave what it writes afterwards in the copy set aside. A snapshot already
        in place needs no stop.
      - If the gateway does not come up after a switch this task made, it is stopped again and the switch undone -
        the original database back in place, the restored copy kept as C(<db_path>.failed-restore-<timestamp>) -
        and the task fails saying so (RV(rolled_back)). The gateway is then stopped, as it was before the task.
      - Omit it to start the gateway yourself (the restore role does, with its own rollback).
    type: dict
"""

    # openclaw_cutover's receive takes the restore options and these two.
    RECEIVE = r"""
options:
  path:
    description: The directory the old host pushes into (its O(push.dest)); restored once the word is there.
    type: path
    required: true
  timeout:
    description:
      - Seconds to wait for the old host's word before failing with nothing touched. C(playbooks/migrate.yml)
        waits 900 s plus twice the old host's C(openclaw_gateway_timeout) (its stop, and its start again after a
        failure).
    type: float
    default: 900
"""


_REF = re.compile(r"\b(O|RV)\(([^()]*)\)")


def _repoint(value, names, prefix):
    """A description (string or list) with O(name...) of an option in `names` as O(prefix.name...), and any other
    O() or RV() of this module as C() (the nested place has no such option or return value)."""
    if not isinstance(value, str):
        return [_repoint(v, names, prefix) for v in value]

    def one(m):
        kind, ref = m.groups()
        if "#" in ref:  # another module's option: valid anywhere
            return m.group(0)
        if kind == "O" and re.split(r"[.=]", ref, maxsplit=1)[0] in names:
            return "O(%s.%s)" % (prefix, ref)
        return "C(%s)" % ref
    return _REF.sub(one, value)


def _nest(options, prefix):
    """`options` as the sub-options of option `prefix`: every description's references re-pointed."""
    names = set(options)

    def walk(opts):
        out = {}
        for name, spec in opts.items():
            spec = copy.deepcopy(spec)
            if "description" in spec:
                spec["description"] = _repoint(spec["description"], names, prefix)
            if "suboptions" in spec:
                spec["suboptions"] = walk(spec["suboptions"])
            out[name] = spec
        return out
    return walk(options)


def _options(fragment):
    return yaml.safe_load(fragment)["options"]


def _doc(options):
    return yaml.safe_dump({"options": options}, sort_keys=False, width=120, allow_unicode=True)


# The nested sets are built from the texts above when Ansible loads the fragment (yaml.safe_dump writes them; the
# yamllint sanity test lints the literal texts above, validate-modules and ansible-doc load and check these).
_G = _options(ModuleDocFragment.GATEWAY)
_R = _options(ModuleDocFragment.RESTORE)
_R["start_gateway"]["suboptions"] = _nest(_G, "start_gateway")
# memory_restore: start_gateway's sub-options (the module documents the option, RESTORE its summary).
ModuleDocFragment.START_GATEWAY = _doc({"start_gateway": {"suboptions": _R["start_gateway"]["suboptions"]}})
# openclaw_cutover: the module documents each option; this adds their sub-options.
ModuleDocFragment.CUTOVER = _doc({
    "gateway": {"suboptions": _nest(_G, "gateway")},
    "snapshot": {"suboptions": _nest(_options(ModuleDocFragment.SNAPSHOT), "snapshot")},
    "receive": {"suboptions": _nest(dict(_options(ModuleDocFragment.RECEIVE), **_R), "receive")},
})
