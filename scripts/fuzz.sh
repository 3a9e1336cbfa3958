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
    # Go's fuzz coordinator sometimes ends a run with a bare "context
    # deadline exceeded" when -fuzztime runs out while a worker is still
    # minimising a new interesting input (no failing input is written).
    # That is the engine, not our code: try again, twice at most. A real
    # failure writes "Failing input written to ..." and fails at once.
    for attempt in 1 2 3; do
      out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" "./$dir" 2>&1) && { echo "$out" | tail -n 2; break; }
      echo "$out" | tail -n 20
      if echo "$out" | grep -q "Failing input written to" || ! echo "$out" | grep -q "context deadline exceeded"; then
        echo "fuzz: $target FAILED" >&2
        exit 1
      fi
      if [ "$attempt" = 3 ]; then
        echo "fuzz: $target: the fuzz engine timed out three times" >&2
        exit 1
      fi
      echo "fuzz: $target: engine deadline without a failing input; running it again"
    done
    n=$((n+1))
  done
done < <(git ls-files '*_test.go' | xargs grep -l '^func Fuzz' || true)
echo "fuzz: $n targets, $time each"
