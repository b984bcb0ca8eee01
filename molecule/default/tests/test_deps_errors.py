"""Every early check of the deps role fails with a message that names the value
and the fix, before anything on the host changes."""

from __future__ import annotations

import pytest


def test_python_too_old_is_named(run_role):
    rc, out = run_role("old", openclaw_deps_min_python="3.99")
    assert rc != 0
    assert "old: /usr/bin/python3 is CPython 3.11" in out
    assert "need CPython >= 3.99" in out
    assert "openclaw_deps_host_python" in out


def test_glibc_too_old_is_named(run_role):
    rc, out = run_role("old", openclaw_deps_min_glibc="2.99")
    assert rc != 0
    assert "C library is glibc 2.36" in out
    assert "need glibc >= 2.99" in out


def test_missing_python_is_named(run_role):
    rc, out = run_role("old", openclaw_deps_host_python="/nonexistent/python3")
    assert rc != 0
    assert "could not run openclaw_deps_host_python=/nonexistent/python3" in out


@pytest.fixture
def python_without_ensurepip(lab_host):
    """A python3 on the host that cannot import ensurepip, like Debian without python3-venv."""
    host = lab_host("old")
    stub = "/usr/local/sbin/ocm-no-ensurepip"
    host.check_output(
        f"mkdir -p {stub}.d && echo 'raise ImportError(\"ensurepip removed\")' > {stub}.d/ensurepip.py && "
        f"printf '#!/bin/sh\\nPYTHONPATH={stub}.d exec /usr/bin/python3 \"$@\"\\n' > {stub} && chmod 755 {stub}"
    )
    yield stub
    host.run(f"rm -rf {stub} {stub}.d")


def test_missing_venv_module_is_named(run_role, python_without_ensurepip):
    rc, out = run_role("old", openclaw_deps_host_python=python_without_ensurepip)
    assert rc != 0
    assert "lacks the module(s) ensurepip" in out
    assert "apt-get install python3-venv" in out


def test_not_enough_disk_space_is_named(run_role, lab_host):
    host = lab_host("old")
    rc, out = run_role("old", openclaw_deps_venv_dir="/opt/ocm-other-venv", openclaw_deps_venv_space_mb=100000000)
    assert rc != 0
    assert "not enough disk space" in out
    assert "the venv 100000000 MiB (openclaw_deps_venv_space_mb)" in out
    assert not host.file("/opt/ocm-other-venv").exists
