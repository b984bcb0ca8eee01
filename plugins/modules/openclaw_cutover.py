# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: openclaw_cutover
short_description: "The old host's side of a migration's cutover in one step: stop the gateway, final snapshot, push"
version_added: 0.4.0
description:
  - Stops the OpenClaw gateway (as M(openclaw.memory.openclaw_gateway) does with O(gateway)), takes the final
    snapshot of its memory database (as M(openclaw.memory.lance_snapshot) does with O(snapshot) - incremental
    against the pre-sync snapshot, checksummed, checked) and, with O(push), sends it straight to the new host with
    rsync over ssh, files the new host's pre-sync copy holds hard-linked there (as the transfer role's direct
    method does).
  - One task, one Python start-up and the snapshot's imports paid before the gateway stops - inside a migration's
    downtime window every task and module start counts. C(playbooks/migrate.yml) runs it on the old host for the
    snapshot (file copy) method with direct transfers.
  - If the snapshot or the push fails after the stop, the gateway is started again (when it ran before) and the
    task fails with the reason; the database is only ever read.
  - The snapshot arrives in O(push.dest), normally the transfer role's partial directory
    C(<openclaw_transfer_dest>/.<name>.partial-transfer); the role's C(finish) entry point then checks every file
    against its C(SHA256SUMS), resends bad ones and renames it to its name.
author:
  - openclaw.memory developers
options:
  gateway:
    description:
      - How the gateway is managed - every option of M(openclaw.memory.openclaw_gateway) but C(state) (C(manager),
        C(user), C(profile), C(unit), C(cli), C(start_command), C(stop_command), C(status_command),
        C(stopped_rcs), C(environment), C(timeout), C(poll_interval)), with the same defaults and checks. Values
        of C(environment) are secrets - never returned and masked in every output.
      - The gateway role's entry point C(options) sets the fact C(openclaw_gateway_options) to this dict from the
        role's C(openclaw_gateway_*) variables.
    type: dict
    required: true
  snapshot:
    description:
      - The final snapshot - every option of M(openclaw.memory.lance_snapshot) (C(src) and C(dest) required;
        C(name), C(link_dest) (the pre-sync snapshot), C(workspace), C(embedding), C(owner), C(mode), ...), with the
        same defaults and checks.
    type: dict
    required: true
  push:
    description:
      - Where to send the snapshot once it is taken; omit to move it some other way (the transfer role's
        V(via_controller) method, the export method).
    type: dict
    suboptions:
      dest:
        description:
          - Absolute path of the directory the snapshot's files go into on the receiving host. Its parent must exist
            (the pre-sync transfer made it, root 0700); the directory itself is made by rsync, 0700 like the
            snapshot.
        type: str
        required: true
      host:
        description: The receiving host's address; empty sends to O(push.dest) on this host.
        type: str
      user:
        description: The ssh user on the receiving host (rsync runs as it there).
        type: str
      port:
        description: Its ssh port.
        type: int
        default: 22
      link_dest:
        description:
          - A snapshot directory on the receiving host whose files with the same path, size and modification time
            are hard-linked instead of sent (rsync C(--link-dest)) - the pre-sync copy.
        type: str
      private_key:
        description: The ssh key this host uses to reach the receiving host.
        type: str
      rsync_path:
        description: The rsync command on the receiving host.
        type: str
        default: rsync
      ssh_persist:
        description:
          - Seconds the ssh connection stays open after the push (ControlMaster); one the pre-sync transfer left
            open (C(openclaw_transfer_ssh_persist)) is used, so no new handshake is made. 0 opens a plain one.
        type: int
        default: 0
      timeout:
        description: Seconds the push may take before it is stopped and the task fails.
        type: float
        default: 600
attributes:
  check_mode:
    support: full
    details: The gateway's status is read and the snapshot planned; nothing is stopped, written or sent.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - The gateway stays stopped once stopped, and a snapshot that already holds the database's versions is
        reused (RV(snapshot.reused)); the push sends only what differs. Like any cutover, a second run stops a
        gateway that was started again in between.
notes:
  - Run it as root (the snapshot reads the gateway user's database; C(systemd_user) and C(openclaw_cli) commands
    drop to the gateway user in their own processes).
  - RV(stop_offset_s) gives a stop time that is never late - the control node's time before the task plus
    RV(stop_offset_s) - for downtime figures. It is early by the time Ansible takes to start the module on the host
    (templating, sending it, ssh), which therefore counts as downtime - reported high rather than low. Without
    C(/proc) (not Linux) the offset starts when the module's code starts, after its imports - earlier still.
requirements:
  - pylance and pyarrow on the host (the deps role installs them); rsync on both hosts for O(push).
seealso:
  - module: openclaw.memory.openclaw_gateway
  - module: openclaw.memory.lance_snapshot
  - module: openclaw.memory.memory_restore
"""

EXAMPLES = r"""
- name: Stop the old gateway, take the final snapshot and push it to the new host
  openclaw.memory.openclaw_cutover:
    gateway:
      manager: systemd_user
      user: node
    snapshot:
      src: /home/node/.openclaw/memory/lancedb
      dest: /var/lib/openclaw-memory/snapshots
      name: 20261206T040000Z-old1-final
      link_dest: /var/lib/openclaw-memory/snapshots/20261206T040000Z-old1-presync
    push:
      host: 10.0.0.12
      user: root
      dest: /var/lib/openclaw-memory/incoming/.20261206T040000Z-old1-final.partial-transfer
      link_dest: /var/lib/openclaw-memory/incoming/20261206T040000Z-old1-presync
      private_key: /root/.ssh/id_ed25519
      ssh_persist: 120
  vars:
    ansible_python_interpreter: /opt/openclaw-memory/venv/bin/python
  register: cut
"""

RETURN = r"""
gateway:
  description: The stop's result, as M(openclaw.memory.openclaw_gateway) returns it (C(was_running), C(running),
    C(changed), C(stop_s), C(status), ...).
  returned: always
  type: dict
snapshot:
  description: The final snapshot, as M(openclaw.memory.lance_snapshot) returns it (C(snapshot), C(name),
    C(tables), C(bytes_copied), C(bytes_linked), C(metadata), ...).
  returned: always
  type: dict
push:
  description:
    - What the push sent - C(dest) (the directory on the receiving host), C(target) (rsync's argument),
      C(bytes_transferred), C(files_transferred), C(bytes_total) (rsync's
      C(--stats)), C(link_dest), C(duration_s). Null without O(push) and in check mode.
  returned: always
  type: dict
stop_offset_s:
  description:
    - Seconds from this module's process start to the gateway's status probe right before the stop. Added to the
      control node's time just before the task, it gives a stop time that is never later than the real one.
  returned: always
  type: float
window_s:
  description: Seconds from that probe until the module returned (stop, snapshot, push).
  returned: always
  type: float
duration_s:
  description: Seconds the module's work took, its start-up not counted.
  returned: always
  type: float
restarted:
  description: On failure only - whether the gateway was started again.
  returned: failure
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openclaw.memory.plugins.module_utils import gateway as G
from ansible_collections.openclaw.memory.plugins.module_utils import snapshot as S
from ansible_collections.openclaw.memory.plugins.module_utils._module import require_lib, run_module
from ansible_collections.openclaw.memory.plugins.module_utils.cutover import cutover
from ansible_collections.openclaw.memory.plugins.module_utils.lance import LANCE_IMPORT_ERROR
from ansible_collections.openclaw.memory.plugins.module_utils.transfer import PUSH_TIMEOUT

PUSH_SPEC = {
    "dest": {"type": "str", "required": True},
    "host": {"type": "str"},
    "user": {"type": "str"},
    "port": {"type": "int", "default": 22},
    "link_dest": {"type": "str"},
    "private_key": {"type": "str", "no_log": False},
    "rsync_path": {"type": "str", "default": "rsync"},
    "ssh_persist": {"type": "int", "default": 0},
    "timeout": {"type": "float", "default": PUSH_TIMEOUT},
}


def main():
    module = AnsibleModule(
        argument_spec={
            "gateway": {"type": "dict", "required": True, "options": G.ARGUMENT_SPEC},
            "snapshot": {"type": "dict", "required": True, "options": S.ARGUMENT_SPEC},
            "push": {"type": "dict", "options": PUSH_SPEC},
        },
        supports_check_mode=True,
    )
    require_lib(module, "pylance", LANCE_IMPORT_ERROR)
    p = module.params
    run_module(module, cutover, p["gateway"], p["snapshot"], push_to=p["push"], check_mode=module.check_mode)


if __name__ == "__main__":
    main()
