#!/usr/bin/env python3
"""Build (once) a wheelhouse for one target Python version and architecture.

Runs on the Ansible control node (openclaw.memory.deps, delegate_to localhost).
Downloads binary wheels only, for CPython X.Y on manylinux (glibc >= the given
minimum), from an explicit index: the control node's own pip configuration
(PIP_* variables, pip.conf find-links/extra-index-url) is deliberately ignored,
so the result depends only on the pins and the index.

Layout of DEST (written atomically: a partial download never replaces it):
    DEST/wheelhouse.tar    the wheels + requirements.txt, what the host receives
                           (one uncompressed, reproducible tar: one transfer)
    DEST/MANIFEST.sha256   "<sha256> <bytes> <file>" per file in the tar, sorted
    DEST/SOURCE.json       the inputs the wheelhouse was built from

Prints one JSON object: {"changed": bool, "dest": ..., "files": n, "bytes": n}.
Exit status 1 with a message on stderr when pip fails.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path


def platforms(arch: str, min_glibc: str) -> list[str]:
    """manylinux tags a host with glibc >= min_glibc accepts, most specific first."""
    major, minor = (int(x) for x in min_glibc.split(".")[:2])
    if major != 2:
        raise SystemExit(f"unsupported glibc version {min_glibc!r}")
    tags = [f"manylinux_2_{m}_{arch}" for m in range(minor, 4, -1)]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    tags += [f"{name}_{arch}" for m, name in sorted(legacy.items(), reverse=True) if m <= minor]
    return tags


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest_text(wheels: Path) -> str:
    lines = ["# openclaw.memory wheelhouse: sha256 bytes file"]
    for f in sorted(wheels.iterdir()):
        if f.is_file():
            lines.append(f"{sha256(f)} {f.stat().st_size} {f.name}")
    return "\n".join(lines) + "\n"


def manifest_entries(text: str) -> list[tuple[str, int]]:
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        _sha, size, name = line.split(" ", 2)
        out.append((name, int(size)))
    return sorted(out)


def is_complete(dest: Path, source: dict) -> bool:
    """The cached wheelhouse exists, was built from these inputs, and its tar
    holds exactly the files its manifest lists, with the listed sizes."""
    try:
        if json.loads((dest / "SOURCE.json").read_text()) != source:
            return False
        listed = manifest_entries((dest / "MANIFEST.sha256").read_text())
        with tarfile.open(dest / "wheelhouse.tar") as tar:
            held = sorted((m.name, m.size) for m in tar.getmembers() if m.isfile())
    except (OSError, ValueError, tarfile.TarError):
        return False
    return bool(listed) and listed == held


def write_tar(src: Path, tar_path: Path) -> None:
    """Reproducible: sorted names, fixed owner, mode and mtime."""
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        for f in sorted(src.iterdir()):
            info = tar.gettarinfo(str(f), arcname=f.name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o644
            info.mtime = 0
            with f.open("rb") as fh:
                tar.addfile(info, fh)


def summary(dest: Path, changed: bool) -> dict:
    files = manifest_entries((dest / "MANIFEST.sha256").read_text())
    return {
        "changed": changed,
        "dest": str(dest),
        "files": len(files),
        "bytes": sum(size for _name, size in files),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requirements", required=True, type=Path)
    ap.add_argument("--python-version", required=True, help="X.Y of the target CPython")
    ap.add_argument("--arch", required=True, help="x86_64 or aarch64")
    ap.add_argument("--min-glibc", default="2.28")
    ap.add_argument("--index-url", default="https://pypi.org/simple")
    ap.add_argument("--dest", required=True, type=Path)
    ap.add_argument("--pip-arg", action="append", default=[], help="extra pip download argument")
    args = ap.parse_args()

    reqs = args.requirements.read_text()
    tags = platforms(args.arch, args.min_glibc)
    source = {
        "requirements_sha256": hashlib.sha256(reqs.encode()).hexdigest(),
        "python_version": args.python_version,
        "implementation": "cp",
        "platforms": tags,
        "index_url": args.index_url,
        "pip_args": args.pip_arg,
    }
    dest = args.dest.expanduser()
    dest.parent.mkdir(parents=True, exist_ok=True)
    # One builder per cache entry at a time (parallel plays on one control node).
    with open(dest.parent / f".{dest.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_complete(dest, source):
            print(json.dumps(summary(dest, changed=False)))
            return 0
        return build(args, source, tags, dest)


def build(args: argparse.Namespace, source: dict, tags: list[str], dest: Path) -> int:
    """Download into a sibling temporary directory, then swap it into place."""
    tmp = dest.with_name(f"{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "wheels").mkdir(parents=True)
    # Only the pins and the index decide what is downloaded: drop the control
    # node's pip configuration (PIP_FIND_LINKS, pip.conf extra-index-url, ...).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    cmd = [
        sys.executable, "-m", "pip", "download",
        "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
        "--only-binary=:all:",
        "--python-version", args.python_version,
        "--implementation", "cp",
        *[f"--platform={t}" for t in tags],
        "--index-url", args.index_url,
        "--dest", str(tmp / "wheels"),
        "-r", str(args.requirements),
        *args.pip_arg,
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        print(
            f"pip download for CPython {args.python_version} {args.arch} from {args.index_url} "
            f"failed (exit {proc.returncode}); check the index URL, the proxy/certificate "
            f"settings (openclaw_deps_pip_extra_args) and the pins in {args.requirements}:\n{tail}",
            file=sys.stderr,
        )
        return 1
    shutil.copyfile(args.requirements, tmp / "wheels" / "requirements.txt")
    (tmp / "MANIFEST.sha256").write_text(manifest_text(tmp / "wheels"))
    write_tar(tmp / "wheels", tmp / "wheelhouse.tar")
    shutil.rmtree(tmp / "wheels")
    (tmp / "SOURCE.json").write_text(json.dumps(source, indent=2) + "\n")
    old = dest.with_name(f"{dest.name}.old-{os.getpid()}")
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    print(json.dumps(summary(dest, changed=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
