# ruff: noqa: UP031 - %-formatting on purpose: this must parse on any old host Python
# Probe a managed host for openclaw.memory.deps (run through `raw`, so it needs
# no Ansible module support on the host and must parse on any old Python: no
# f-strings, no annotations). Reads a base64 JSON argument, prints one line
# "OCMDEPS_PROBE <json>" describing the interpreter, the C library, the venv
# tooling, free disk space, the installed wheelhouse and the venv.
import base64
import json
import os
import platform
import re
import subprocess
import sys

args = json.loads(base64.b64decode(sys.argv[2]).decode("utf-8"))
out = {
    "python": "%d.%d.%d" % tuple(sys.version_info[:3]),
    "python_xy": "%d.%d" % tuple(sys.version_info[:2]),
    "implementation": platform.python_implementation(),
    "machine": platform.machine(),
}

try:
    libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
except (AttributeError, ValueError, OSError):
    libc = ""
out["glibc"] = libc.split()[1] if libc.startswith("glibc ") else ""

missing = []
for mod in ("venv", "ensurepip"):
    try:
        __import__(mod)
    except Exception:  # noqa: BLE001 - any failure means "cannot build a venv"
        missing.append(mod)
out["missing_modules"] = missing


def nearest_existing(path):
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


disk = {}
for key in ("wheelhouse_dir", "venv_dir"):
    p = nearest_existing(args[key])
    st = os.statvfs(p)
    disk[key] = {"path": p, "free": st.f_bavail * st.f_frsize, "dev": os.stat(p).st_dev}
out["disk"] = disk

# The wheelhouse counts as present only if its manifest lists files that are all there.
manifest = ""
mpath = os.path.join(args["wheelhouse_dir"], "MANIFEST.sha256")
if os.path.isfile(mpath):
    with open(mpath) as fh:
        text = fh.read()
    complete = True
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(" ", 2)
        f = os.path.join(args["wheelhouse_dir"], parts[2])
        if not os.path.isfile(f) or os.path.getsize(f) != int(parts[1]):
            complete = False
            break
    if complete:
        manifest = text
out["wheelhouse_manifest"] = manifest


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


pins = {}
for line in args.get("requirements", "").splitlines():
    line = line.split("#", 1)[0].strip()
    m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)", line)
    if m:
        pins[norm(m.group(1))] = m.group(2)

venv_python = os.path.join(args["venv_dir"], "bin", "python")
venv = {"exists": os.path.exists(venv_python), "python_xy": "", "mismatched": []}
if venv["exists"]:
    check = (
        "import json,sys\n"
        "from importlib import metadata\n"
        "d={}\n"
        "for dist in metadata.distributions():\n"
        "    d[dist.metadata['Name']]=dist.version\n"
        "print(json.dumps({'xy':'%d.%d'%sys.version_info[:2],'dists':d}))\n"
    )
    try:
        proc = subprocess.Popen([venv_python, "-I", "-c", check], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stdout = proc.communicate()[0]
        info = json.loads(stdout.decode("utf-8")) if proc.returncode == 0 else None
    except (OSError, ValueError):
        info = None
    if info is None:
        venv["python_xy"] = "broken"
        venv["mismatched"] = sorted(pins)
    else:
        venv["python_xy"] = info["xy"]
        have = {norm(k): v for k, v in info["dists"].items()}
        venv["mismatched"] = sorted(
            "%s (want %s, have %s)" % (n, v, have.get(n, "none")) for n, v in pins.items() if have.get(n) != v
        )
out["venv"] = venv

sys.stdout.write("OCMDEPS_PROBE " + json.dumps(out, sort_keys=True) + "\n")
