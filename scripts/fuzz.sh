#!/usr/bin/env bash
# A short run of every fuzz target in both modules (go test -fuzz takes one
# target at a time). Usage: scripts/fuzz.sh [duration per target, e.g. 10s]
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-10s}
n=0
while IFS= read -r file; do
  dir=$(dirname "$file")
  for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
    echo "fuzz: $dir $target ($time)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" "./$dir"
    n=$((n+1))
  done
done < <(git ls-files '*_test.go' | xargs grep -l '^func Fuzz' || true)
echo "fuzz: $n targets, $time each"
