#!/usr/bin/env bash
# Prerequisites of the lab and the tests. A missing one is a failure with a
# clear message, never a silent skip.
set -euo pipefail
fail() { echo "prereqs: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || fail "must run as root (the lab builds network namespaces and bind mounts); re-run with sudo"
command -v ip >/dev/null || fail "'ip' (iproute2) is missing; apt-get install -y iproute2"
command -v unshare >/dev/null || fail "'unshare' (util-linux) is missing"
command -v python3 >/dev/null || fail "python3 is missing"
/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || need_venv=1
pkgs=()
command -v sshd >/dev/null || [[ -x /usr/sbin/sshd ]] || pkgs+=(openssh-server)
command -v ssh >/dev/null || pkgs+=(openssh-client)
command -v rsync >/dev/null || pkgs+=(rsync)
command -v nc >/dev/null || pkgs+=(netcat-openbsd)
command -v zstd >/dev/null || pkgs+=(zstd)
command -v cron >/dev/null || [[ -x /usr/sbin/cron ]] || pkgs+=(cron)
[[ -n "${need_venv:-}" ]] && pkgs+=(python3-venv)
if ((${#pkgs[@]})); then
  echo "prereqs: installing ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null >/dev/null || fail "apt-get update failed; the lab needs ${pkgs[*]}"
  apt-get install -y -qq "${pkgs[@]}" </dev/null >/dev/null || fail "apt-get install ${pkgs[*]} failed"
fi
ns=ocm-prereq-$$
ip netns add "$ns" 2>/dev/null || fail "cannot create a network namespace ('ip netns add' failed): the lab needs CAP_SYS_ADMIN and netns support"
ip netns del "$ns"
echo "prereqs: ok"
