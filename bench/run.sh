#!/usr/bin/env bash
# Runs the benchmark suite and writes BENCHMARKS.md: one command, one machine, one run,
# so every ratio in it was measured side by side. Not part of the tests.
#
# Installs what the comparisons need when it is missing (Debian packages: jattach,
# wrk, a headless JDK, openssh-server for the fan-out through ssh), then runs
# `cargo bench -p attach-bench --bench suite`.
# Run it on an otherwise idle machine: the numbers are wall-clock times.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v jattach >/dev/null || need+=(jattach)
command -v wrk >/dev/null || need+=(wrk)
command -v javac >/dev/null || need+=(default-jdk-headless)
[ -x /usr/sbin/sshd ] || need+=(openssh-server openssh-client)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} for the comparisons" >&2
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

results=$(mktemp)
trap 'rm -f "$results"' EXIT
cargo bench -p attach-bench --bench suite "$@" >"$results"

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
{
  echo "# Benchmarks"
  echo
  echo "Produced by \`bench/run.sh\` on $(date -u +%Y-%m-%d) on this machine:"
  echo "$(nproc) cores ($cpu), $(free -g | awk '/Mem:/ {print $2}') GiB, kernel $(uname -r),"
  echo "$(rustc --version). Every table below comes from that one run; rerun the script to"
  echo "reproduce them. Targets are the ones in the project's benchmark issue."
  echo
  cat "$results"
  cat bench/NOTES.md
} >BENCHMARKS.md
echo "wrote BENCHMARKS.md" >&2
