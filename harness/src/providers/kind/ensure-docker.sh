#!/usr/bin/env bash
# Makes a Docker engine usable on this machine, for the kind provider and its tests:
#   1. `docker info` already works        -> nothing to do.
#   2. dockerd is installed but not up     -> start it in the background (logs to a file).
#   3. no dockerd                          -> install Debian's docker.io with apt-get (needs root),
#                                             unless IMAGEPOLICY_LAB_DOCKER_INSTALL=0, then start it.
# It never pulls images: kind node images and base images must already be loaded (docs/kind.md).
# Exit codes: 0 usable, 1 could not make it usable (the reason is printed on stderr).
#
# Environment:
#   IMAGEPOLICY_LAB_DOCKER_INSTALL   0/false: never apt-get install (default: install when root)
#   IMAGEPOLICY_LAB_DOCKERD_LOG      dockerd log file (default /var/log/imagepolicy-lab-dockerd.log)
#   IMAGEPOLICY_LAB_DOCKER_WAIT_S    seconds to wait for the daemon (default 60)
# Usage: bash harness/src/providers/kind/ensure-docker.sh   (prints one status line on stdout)
set -u

log_file="${IMAGEPOLICY_LAB_DOCKERD_LOG:-/var/log/imagepolicy-lab-dockerd.log}"
wait_s="${IMAGEPOLICY_LAB_DOCKER_WAIT_S:-60}"
install="${IMAGEPOLICY_LAB_DOCKER_INSTALL:-1}"

fail() { echo "ensure-docker: $*" >&2; exit 1; }
usable() { docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && usable; then
  echo "docker engine $(docker info --format '{{.ServerVersion}}' 2>/dev/null) already running"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  case "$install" in 0|false|no|off) fail "dockerd is not installed and IMAGEPOLICY_LAB_DOCKER_INSTALL=$install forbids installing it (install docker.io or Docker Engine)";; esac
  [ "$(id -u)" = 0 ] || fail "dockerd is not installed; run as root or install it: sudo apt-get install -y docker.io"
  command -v apt-get >/dev/null 2>&1 || fail "dockerd is not installed and there is no apt-get here; install Docker Engine by hand"
  echo "installing docker.io with apt-get (one-time)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || fail "apt-get update failed"
  apt-get install -y -qq docker.io >&2 || fail "apt-get install docker.io failed"
fi
command -v docker >/dev/null 2>&1 || fail "the docker CLI is missing after installing docker.io"

# A daemon may be starting (or running but unreachable for this user): only start one when no
# dockerd process exists, so we never run two daemons on one socket.
if ! pgrep -x dockerd >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || fail "the Docker daemon is not running and starting it needs root: sudo dockerd (or sudo systemctl start docker)"
  mkdir -p "$(dirname "$log_file")"
  # setsid + nohup: the daemon outlives this script and the test run that called it.
  setsid nohup dockerd >>"$log_file" 2>&1 </dev/null &
  echo "started dockerd (pid $!), log $log_file" >&2
fi

for _ in $(seq 1 "$wait_s"); do
  if usable; then
    echo "docker engine $(docker info --format '{{.ServerVersion}}' 2>/dev/null) running"
    exit 0
  fi
  sleep 1
done
tail -n 20 "$log_file" >&2 2>/dev/null || true
fail "the Docker daemon did not answer 'docker info' within ${wait_s}s (log: $log_file)"
