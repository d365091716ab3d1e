#!/usr/bin/env bash
# Stops the localnet started by localnet/up.sh (the validator workers, blyand, cometbft and
# the Kubo nodes): sends
# TERM to exactly the PIDs listed in .localnet/pids (skipping any whose PID now belongs to
# another program), waits up to 10 s,
# then KILLs whatever is left, and removes the pid file.
# Node data stays unless --clean is given, which deletes .localnet/ entirely.
#
#   localnet/down.sh [--clean]
set -euo pipefail

clean=0
for arg in "$@"; do
  case "$arg" in
    --clean) clean=1 ;;
    -h | --help)
      echo "usage: $0 [--clean]"
      exit 0
      ;;
    *)
      echo "usage: $0 [--clean]" >&2
      exit 2
      ;;
  esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
net="$root/.localnet"
pid_file="$net/pids"

alive() {
  local pid
  for pid in "$@"; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "$pid"
    fi
  done
}

if [ -f "$pid_file" ]; then
  pids=()
  while read -r pid label; do
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    comm="$(ps -p "$pid" -o comm= 2>/dev/null || true)"
    if [ -z "$comm" ]; then
      continue
    elif [ "$comm" != "${label##*/}" ]; then
      echo "skipping pid $pid: it now runs '$comm', not ${label##*/} (PID reused)"
    else
      echo "stopping $label (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done <"$pid_file"

  if ((${#pids[@]} > 0)); then
    for _ in $(seq 1 50); do
      [ -z "$(alive "${pids[@]}")" ] && break
      sleep 0.2
    done
    for pid in $(alive "${pids[@]}"); do
      echo "pid $pid did not stop within 10s; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
    done
  fi
  rm -f "$pid_file"
else
  echo "no $pid_file: nothing to stop"
fi

if ((clean)); then
  rm -rf "$net"
  echo "removed $net"
fi
