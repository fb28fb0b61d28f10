#!/usr/bin/env bash
# Run every benchmark in benchmarks/ (they print numbers; none asserts).
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here" || exit 1
export PATH="$here/.venv/bin:$PATH" ANSIBLE_CONFIG="$here/ansible.cfg"
for b in benchmarks/*_bench.py; do
  [ -e "$b" ] || continue
  printf '\n=== %s\n' "$b"
  python "$b" || echo "benchmark $b failed"
done
