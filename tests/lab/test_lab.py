"""tools/ocmlab/lab.sh for real: network namespaces with their own sshd, real ssh.

Brings the lab up (needs root, iproute2, openssh-server, netcat-openbsd: see
tools/prereqs.sh), checks the hosts are separate machines as far as the
collection can tell, and that `down` leaves nothing behind. Slow-ish (a few
seconds): run by `make lab-test`, not part of tests/unit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
LAB = str(REPO / "tools/ocmlab/lab.sh")
LAB_ROOT = Path(os.environ.get("OCMLAB_ROOT", "/var/tmp/ocmlab"))

# Not a skip: the lab is required on the machines that run `make test`.
if os.geteuid() != 0:
    pytest.fail("the lab tests need root (tools/prereqs.sh explains why)", pytrace=False)


def lab(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [LAB, *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        check=False,
        timeout=300,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"lab.sh {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    return proc


def ssh(host: str, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return lab("ssh", host, command, check=check)


def netns_names() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def lab_mounts() -> list[str]:
    root = str(LAB_ROOT)
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    points = [m.split()[4] for m in mounts]
    return [m for m in points if m == root or m.startswith((root + "/", "/run/netns/ocm-"))]


@pytest.fixture(scope="module")
def two_hosts():
    lab("up", "old", "new")
    yield
    lab("down")


def test_ssh_reaches_both_hosts_as_root(two_hosts):
    for name in ("old", "new"):
        out = ssh(name, "hostname; id -u; cat /etc/hostname").stdout.split()
        assert out == [name, "0", name]


def test_inventory_groups_and_connection_settings(two_hosts):
    printed = lab("inventory").stdout
    written = (LAB_ROOT / "inventory.yml").read_text()
    assert printed == written
    inv = yaml.safe_load(written)
    v = inv["all"]["vars"]
    assert v["ansible_user"] == "root"
    assert v["ansible_python_interpreter"] == "/usr/bin/python3"
    assert Path(v["ansible_ssh_private_key_file"]).is_file()
    assert "ProxyCommand='ip netns exec ocm-ctl nc %h %p'" in v["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=no" in v["ansible_ssh_common_args"]
    assert "UserKnownHostsFile=/dev/null" in v["ansible_ssh_common_args"]
    children = inv["all"]["children"]
    assert children["openclaw_old"]["hosts"]["old"]["ansible_host"] == "10.77.0.11"
    assert children["openclaw_new"]["hosts"]["new"]["ansible_host"] == "10.77.0.12"


def test_ansible_reaches_both_hosts_through_the_inventory(two_hosts):
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), "-i", str(LAB_ROOT / "inventory.yml"), "all", "-m", "ping"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == 2


@pytest.mark.parametrize(
    "path",
    [
        "/home/node",
        "/root",
        "/opt",
        "/var/lib",
        "/var/backups",
        "/var/log",
        "/etc/cron.d",
        "/etc/openclaw-memory",
        "/tmp",
    ],
)
def test_same_path_holds_different_data_on_the_two_hosts(two_hosts, path):
    marker = f"{path}/ocmlab-test-{uuid.uuid4().hex}"
    ssh("old", f"echo from-old > {marker}")
    ssh("new", f"echo from-new > {marker}")
    assert ssh("old", f"cat {marker}").stdout == "from-old\n"
    assert ssh("new", f"cat {marker}").stdout == "from-new\n"
    assert not Path(marker).exists(), f"{marker} leaked onto the control node"
    ssh("old", f"rm {marker}")
    assert ssh("new", f"cat {marker}").stdout == "from-new\n"
    ssh("new", f"rm {marker}")


def test_node_user_and_private_process_table(two_hosts):
    assert ssh("old", "id node").stdout.startswith("uid=1000(node) gid=1000(node)")
    assert ssh("old", "stat -c %U:%G /home/node").stdout.strip() == "node:node"
    # Each host's sshd is PID 1 of its own PID namespace.
    assert "sshd" in ssh("new", "cat /proc/1/cmdline").stdout


def test_old_can_ssh_and_rsync_to_new(two_hosts):
    assert ssh("old", "ssh new hostname").stdout.strip() == "new"
    assert ssh("new", "ssh old hostname").stdout.strip() == "old"
    ssh("old", "mkdir -p /var/backups/push && echo payload > /var/backups/push/file")
    ssh("old", "rsync -a /var/backups/push/ new:/var/backups/pushed/")
    assert ssh("new", "cat /var/backups/pushed/file").stdout == "payload\n"
    assert ssh("old", "test -e /var/backups/pushed", check=False).returncode != 0


def test_hosts_cannot_reach_the_internet(two_hosts):
    probe = ssh(
        "old",
        "python3 -c \"import socket; socket.create_connection(('151.101.0.223', 443), timeout=3)\"",
        check=False,
    )
    assert probe.returncode != 0


def test_exec_runs_inside_the_host(two_hosts):
    ssh("new", "echo via-ssh > /root/exec-check")
    out = lab("exec", "new", "sh", "-c", "hostname; cat /root/exec-check; echo $HOME").stdout.split()
    assert out == ["new", "via-ssh", "/root"]
    assert lab("exec", "nosuchhost", "true", check=False).returncode != 0


def test_assert_clean_names_what_remains_while_up(two_hosts):
    proc = lab("assert-clean", check=False)
    assert proc.returncode != 0
    assert "ocm-ctl" in proc.stderr
    assert "sshd" in proc.stderr


def test_four_hosts_in_two_pairs():
    lab("up", "old1", "new1", "old2", "new2")
    state = json.loads((LAB_ROOT / "state.json").read_text())
    assert [(h["name"], h["addr"]) for h in state["hosts"]] == [
        ("old1", "10.77.0.11"),
        ("new1", "10.77.0.12"),
        ("old2", "10.77.0.13"),
        ("new2", "10.77.0.14"),
    ]
    inv = yaml.safe_load((LAB_ROOT / "inventory.yml").read_text())["all"]["children"]
    assert sorted(inv["openclaw_old"]["hosts"]) == ["old1", "old2"]
    assert sorted(inv["openclaw_new"]["hosts"]) == ["new1", "new2"]
    assert inv["openclaw_old"]["hosts"]["old2"]["ocmlab_peer"] == "new2"
    assert ssh("old2", "ssh new1 hostname").stdout.strip() == "new1"


def test_down_leaves_nothing():
    lab("up", "old", "new")
    # A ControlPersist master, as ansible leaves behind, must not survive down.
    ssh_cp = subprocess.run(
        [
            "ssh",
            "-F",
            str(LAB_ROOT / "ssh_config"),
            "-o",
            f"ControlPath={LAB_ROOT}/cm-test-%h",
            "-o",
            "ControlMaster=auto",
            "-o",
            "ControlPersist=60",
            "old",
            "true",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ssh_cp.returncode == 0, ssh_cp.stderr
    lab("down")
    assert lab("assert-clean").returncode == 0
    assert not [n for n in netns_names() if n.startswith("ocm-")]
    assert lab_mounts() == []
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert " ocm" not in links
    assert not list(LAB_ROOT.glob("cm-test-*")), "the ssh ControlPersist socket survived down"
    assert not (LAB_ROOT / "state.json").exists()


def test_up_fails_clearly_for_bad_input_and_non_root():
    proc = lab("up", "Bad_Name", check=False)
    assert proc.returncode != 0
    assert "bad host name 'Bad_Name'" in proc.stderr
    nobody = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", LAB, "up"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert nobody.returncode != 0
    assert "must run as root" in nobody.stderr
    assert lab("assert-clean").returncode == 0
