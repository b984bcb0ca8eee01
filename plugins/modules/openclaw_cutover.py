# -*- coding: utf-8 -*-
# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: openclaw_cutover
short_description: "A migration's cutover in one task: the old host stops, snapshots, pushes; the new host restores"
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
  - On the new host, in the same task (Ansible runs it on both hosts at once), O(receive) waits for the old host's
    word that the push ended (O(push.notify) leaves it in C(<push.dest>.pushed)), then restores what arrived as
    M(openclaw.memory.memory_restore) does and, with O(receive.start_gateway), starts the gateway on it - undoing
    the switch if it does not come up. Its start-up, imports and input checks happen while the old host works, so
    nothing but the restore itself follows the push. A word of failure from the old host, or none within
    O(receive.timeout), fails the task with nothing touched.
author:
  - openclaw.memory developers (!UNKNOWN)
options:
  gateway:
    description:
      - How the gateway is managed - every option of M(openclaw.memory.openclaw_gateway) but C(state), with the
        same defaults and checks. Values of O(gateway.environment) are secrets - never returned and masked in every
        output.
      - The gateway role's entry point C(options) sets the fact C(openclaw_gateway_options) to this dict from the
        role's C(openclaw_gateway_*) variables.
      - The old host's side; required with O(snapshot), exclusive with O(receive).
    type: dict
  snapshot:
    description:
      - The final snapshot - every option of M(openclaw.memory.lance_snapshot), with the same defaults and checks;
        O(snapshot.link_dest) is normally the pre-sync snapshot.
      - The old host's side; required with O(gateway).
    type: dict
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
      notify:
        description:
          - Once the push ended, leave the word for O(receive) on the receiving host - C(<dest>.pushed), written
            atomically over the same ssh connection. Any failure of the cutover (before or after the stop) leaves a
            word of failure there instead, so the receiving host stops waiting at once.
        type: bool
        default: false
  receive:
    description:
      - The new host's side - wait for the old host's push into O(receive.path) and restore it in place of the
        database. Every option of M(openclaw.memory.memory_restore) but C(state) and C(snapshot), with the same
        defaults and checks, plus O(receive.path) and O(receive.timeout).
      - Exclusive with O(gateway), O(snapshot) and O(push).
    type: dict
extends_documentation_fragment:
  - openclaw.memory.attributes
  - openclaw.memory.options.cutover
attributes:
  check_mode:
    support: full
    details: The gateway's status is read and the snapshot planned; nothing is stopped, written or sent.
      O(receive) checks its inputs and returns at once, waiting for nothing.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - The gateway stays stopped once stopped, and a snapshot that already holds the database's versions is
        reused (C(reused) in RV(snapshot)); the push sends only what differs. Like any cutover, a second run stops a
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

# The same task on both hosts of a pair: each gets its own side (old: gateway + snapshot + push, new: receive).
- name: Cutover, both hosts at once
  openclaw.memory.openclaw_cutover:
    gateway: "{{ openclaw_gateway_options if inventory_hostname == 'old1' else omit }}"
    snapshot: "{{ final_snapshot if inventory_hostname == 'old1' else omit }}"
    push: "{{ final_push | combine({'notify': true}) if inventory_hostname == 'old1' else omit }}"
    receive: >-
      {{ {'path': '/var/lib/openclaw-memory/incoming/.20261206T040000Z-old1-final.partial-transfer',
          'db_path': '/home/node/.openclaw/memory/lancedb', 'verify_checks': ['checksums', 'structure'],
          'start_gateway': openclaw_gateway_options} if inventory_hostname == 'new1' else omit }}
  vars:
    ansible_python_interpreter: /opt/openclaw-memory/venv/bin/python
"""

RETURN = r"""
gateway:
  description: The stop's result, as M(openclaw.memory.openclaw_gateway) returns it (C(was_running), C(running),
    C(changed), C(stop_s), C(status), ...).
  returned: with O(gateway)
  type: dict
snapshot:
  description: The final snapshot, as M(openclaw.memory.lance_snapshot) returns it (C(snapshot), C(name),
    C(tables), C(bytes_copied), C(bytes_linked), C(metadata), ...).
  returned: with O(gateway)
  type: dict
push:
  description:
    - What the push sent - C(dest) (the directory on the receiving host), C(target) (rsync's argument),
      C(bytes_transferred), C(files_transferred), C(bytes_total) (rsync's
      C(--stats)), C(link_dest), C(duration_s). Null without O(push) and in check mode. With O(receive), the
      same as the old host reported it in its word.
  returned: always
  type: dict
restore:
  description: With O(receive), the restore's result as M(openclaw.memory.memory_restore) returns it (C(state),
    C(snapshot), C(aside), C(verify), C(total), C(gateway), ...). Null in check mode.
  returned: with O(receive)
  type: dict
waited_s:
  description: With O(receive), seconds from the module's start until the old host's word was there.
  returned: with O(receive)
  type: float
stop_offset_s:
  description:
    - Seconds from this module's process start to the gateway's status probe right before the stop. Added to the
      control node's time just before the task, it gives a stop time that is never later than the real one.
  returned: with O(gateway)
  type: float
window_s:
  description: Seconds from that probe until the module returned (stop, snapshot, push); with O(receive), from the
    old host's word until the module returned (restore, gateway start).
  returned: always
  type: float
duration_s:
  description: Seconds the module's work took, its start-up not counted.
  returned: always
  type: float
rolled_back:
  description: With O(receive), on failure only - whether the switch was undone because the gateway did not come
    up.
  returned: failure
  type: bool
restarted:
  description: On failure only - whether the gateway was started again.
  returned: failure
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openclaw.memory.plugins.module_utils import gateway as G
from ansible_collections.openclaw.memory.plugins.module_utils import restore as R
from ansible_collections.openclaw.memory.plugins.module_utils import snapshot as S
from ansible_collections.openclaw.memory.plugins.module_utils._module import require_lib, run_module
from ansible_collections.openclaw.memory.plugins.module_utils.cutover import RECEIVE_TIMEOUT, cutover, receive
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
    "notify": {"type": "bool", "default": False},
}
RECEIVE_SPEC = dict(
    {"path": {"type": "path", "required": True}, "timeout": {"type": "float", "default": RECEIVE_TIMEOUT}},
    **{k: v for k, v in R.ARGUMENT_SPEC.items() if k != "snapshot"})


def main():
    module = AnsibleModule(
        argument_spec={
            "gateway": {"type": "dict", "options": G.ARGUMENT_SPEC},
            "snapshot": {"type": "dict", "options": S.ARGUMENT_SPEC},
            "push": {"type": "dict", "options": PUSH_SPEC},
            "receive": {"type": "dict", "options": RECEIVE_SPEC},
        },
        required_one_of=[("gateway", "receive")],
        required_together=[("gateway", "snapshot")],
        mutually_exclusive=[("receive", "gateway"), ("receive", "snapshot"), ("receive", "push")],
        supports_check_mode=True,
    )
    require_lib(module, "pylance", LANCE_IMPORT_ERROR)
    p = module.params
    if p["receive"]:
        r = p["receive"]
        run_module(module, receive, r["path"], R.restore_args(r), timeout=r["timeout"], check_mode=module.check_mode)
    else:
        run_module(module, cutover, p["gateway"], p["snapshot"], push_to=p["push"], check_mode=module.check_mode)


if __name__ == "__main__":
    main()
