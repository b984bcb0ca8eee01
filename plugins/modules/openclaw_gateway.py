# Copyright: openclaw.memory contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: openclaw_gateway
short_description: Stop, start, restart or report the OpenClaw gateway, waiting until it is really down or up
version_added: 0.1.0
description:
  - Acts on the OpenClaw gateway (the process that writes memories) through the service manager chosen by
    O(manager), in one task - the status probe, the stop or start command and the wait all run on the host.
    The role M(openclaw.memory.gateway) is one call of this module.
  - O(state=stopped) runs the stop command when the gateway runs, then asks the status every O(poll_interval)
    seconds until it says stopped (systemd - C(ActiveState) C(inactive) or C(failed) and C(MainPID=0);
    commands - an exit code of O(stopped_rcs)). O(state=started) is the same the other way round (systemd -
    C(ActiveState=active); commands - exit 0). Both fail after O(timeout) seconds naming the manager, the unit,
    the timeout, the last status and where to look.
  - O(state=restarted) is a stop (when it runs) then a start; O(state=status) only reports.
  - Stopping a stopped gateway or starting a running one runs nothing but the status command.
  - The status is asked first. An answer that means neither running nor stopped (a C(systemctl show) that
    fails, a status command that exits with another code or cannot run) fails the task before anything is
    stopped or started, so an unknown state is never taken for a stopped gateway.
  - For a V(systemd) unit, C(LoadState=not-found) fails O(state=stopped), V(started) and V(restarted) ("unit
    does not exist"); O(state=status) reports it as not running.
options:
  state:
    description: What to do; V(status) only reports.
    type: str
    choices: [status, stopped, started, restarted]
    default: status
extends_documentation_fragment:
  - openclaw.memory.attributes
  - openclaw.memory.options.gateway
attributes:
  check_mode:
    support: full
    details: Only the status command runs; RV(changed) and RV(running) say what a real run would do.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Stopping a stopped gateway or starting a running one changes nothing. V(restarted) always restarts.
notes:
  - Commands run without a shell, their output captured in temp files (a daemon the start command leaves behind
    holding its output does not keep the task waiting).
  - The role M(openclaw.memory.gateway) passes its C(openclaw_gateway_*) variables as these options; error
    messages name those variables with the option.
seealso:
  - module: openclaw.memory.openclaw_memory_facts
  - module: ansible.builtin.systemd_service
author:
  - openclaw.memory developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Stop the gateway's systemd user unit before the final snapshot
  openclaw.memory.openclaw_gateway:
    state: stopped
    user: node
  become: true

- name: Start the gateway of the profile "work" with the OpenClaw CLI
  openclaw.memory.openclaw_gateway:
    state: started
    manager: openclaw_cli
    user: node
    profile: work
    stopped_rcs: [1, 3]
  become: true

- name: Report whether a system unit runs
  openclaw.memory.openclaw_gateway:
    manager: systemd
    unit: openclaw.service
  become: true
  register: gateway

- name: Restart a gateway run by your own commands, with a secret in its environment
  openclaw.memory.openclaw_gateway:
    state: restarted
    manager: command
    start_command: /usr/local/bin/gatewayctl start
    stop_command: /usr/local/bin/gatewayctl stop
    status_command: /usr/local/bin/gatewayctl status
    environment:
      GATEWAY_TOKEN: "{{ vault_gateway_token }}"
    timeout: 30
"""

RETURN = r"""
manager:
  description: The manager used.
  returned: always
  type: str
  sample: systemd_user
unit:
  description: The unit acted on (V(systemd_user), V(systemd)); null for the other managers.
  returned: always
  type: str
  sample: openclaw-gateway.service
action:
  description: What was asked, as the role's C(openclaw_gateway_action) names it (status, stop, start, restart).
  returned: always
  type: str
  sample: stop
was_running:
  description: Whether the gateway ran before the module acted; null with the V(none) manager.
  returned: always
  type: bool
running:
  description:
    - Whether the gateway runs now (in check mode, whether it would); null with the V(none) manager.
  returned: always
  type: bool
changed:
  description: True when the gateway was (in check mode, would be) stopped or started.
  returned: always
  type: bool
stop_s:
  description: Seconds from the stop command until the status said stopped; null when nothing was stopped.
  returned: always
  type: float
  sample: 0.43
start_s:
  description: Seconds from the start command until the status said running; null when nothing was started.
  returned: always
  type: float
  sample: 1.23
status:
  description:
    - The last status answer on one line (the C(systemctl show) properties, or the status command's exit code
      and output), at most 300 characters; environment values masked.
  returned: always
  type: str
  sample: LoadState=loaded ActiveState=inactive SubState=dead MainPID=0
commands:
  description:
    - The commands run, in order, as argument lists (never the environment). The status polls of one wait are
      listed once; RV(polls) counts them.
  returned: always
  type: list
  elements: list
  sample: [[systemctl, --user, show, "--property=LoadState,ActiveState,SubState,MainPID", openclaw-gateway.service],
           [systemctl, --user, stop, openclaw-gateway.service],
           [systemctl, --user, show, "--property=LoadState,ActiveState,SubState,MainPID", openclaw-gateway.service]]
polls:
  description: Status polls while waiting for the stop or start to take effect.
  returned: always
  type: int
  sample: 2
msg:
  description: With the V(none) manager and an action, that nothing was stopped or started.
  returned: when manager is none and state is not status
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openclaw.memory.plugins.module_utils._module import run_module
from ansible_collections.openclaw.memory.plugins.module_utils.gateway import ARGUMENT_SPEC, STATES, control


def main():
    module = AnsibleModule(
        argument_spec=dict(ARGUMENT_SPEC, state={"type": "str", "choices": list(STATES), "default": "status"}),
        supports_check_mode=True,
    )
    p = module.params
    run_module(
        module, control,
        p["state"], check_mode=module.check_mode, manager=p["manager"], user=p["user"], profile=p["profile"],
        unit=p["unit"], cli=p["cli"], start_command=p["start_command"], stop_command=p["stop_command"],
        status_command=p["status_command"], stopped_rcs=p["stopped_rcs"], environment=p["environment"],
        timeout=p["timeout"], poll_interval=p["poll_interval"],
    )


if __name__ == "__main__":
    main()
