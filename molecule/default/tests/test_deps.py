"""The deps role on real SSH hosts: each host's own venv imports lancedb and
pylance, installed offline from the wheelhouse, and the hosts are separate."""

from __future__ import annotations

import uuid

VENV_PY = "/opt/openclaw-memory/venv/bin/python"
WHEELHOUSE = "/opt/openclaw-memory/wheelhouse"


def test_hostname_is_the_inventory_name(host):
    assert host.check_output("hostname") == host.backend.get_hostname()


def test_venv_imports_lancedb_and_pylance_at_the_pinned_versions(host, pins):
    code = "import lancedb, lance, pyarrow; print(lancedb.__version__, lance.__version__, pyarrow.__version__)"
    out = host.check_output(f"{VENV_PY} -c '{code}'")
    assert out.split() == [pins["lancedb"], pins["pylance"], pins["pyarrow"]]


def test_venv_uses_the_system_python(host):
    assert host.file(VENV_PY).exists
    assert host.check_output(f"{VENV_PY} -c 'import sys; print(sys.base_prefix)'") == "/usr"


def test_wheelhouse_is_complete_and_archive_removed(host):
    manifest = host.file(f"{WHEELHOUSE}/MANIFEST.sha256")
    assert manifest.exists
    names = [
        line.split(" ", 2)[2] for line in manifest.content_string.splitlines() if line and not line.startswith("#")
    ]
    assert "requirements.txt" in names
    assert any(n.startswith("lancedb-") for n in names)
    for name in names:
        assert host.file(f"{WHEELHOUSE}/{name}").is_file, name
    # The checksums hold on the host.
    check = host.run(
        f"cd {WHEELHOUSE} && grep -v '^#' MANIFEST.sha256 | awk '{{print $1\"  \"$3}}' | sha256sum -c --quiet"
    )
    assert check.rc == 0, check.stdout + check.stderr
    assert not host.file(f"{WHEELHOUSE}.tar").exists


def test_host_cannot_reach_the_package_index(host):
    """The install above was offline for real: the lab hosts have no route out."""
    probe = host.run(
        "/usr/bin/python3 -c \"import socket; socket.create_connection(('151.101.0.223', 443), timeout=3)\""
    )
    assert probe.rc != 0


def test_hosts_have_separate_home_directories(lab_host):
    old, new = lab_host("old"), lab_host("new")
    marker = f"/home/node/.ocmlab-marker-{uuid.uuid4().hex}"
    try:
        old.check_output(f"echo old > {marker}")
        assert old.file(marker).content_string == "old\n"
        assert not new.file(marker).exists
    finally:
        old.run(f"rm -f {marker}")


def test_hosts_have_separate_venvs(lab_host):
    old, new = lab_host("old"), lab_host("new")
    marker = "/opt/openclaw-memory/venv/ocmlab-marker"
    try:
        new.check_output(f"touch {marker}")
        assert not old.file(marker).exists
    finally:
        new.run(f"rm -f {marker}")
