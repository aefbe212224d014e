#!/usr/bin/env bash
# dev/bench/compare.sh BASE [HEAD]: before and after, on this machine, of the two
# commits' warm path (the warm-path benchmarks of each, run in turns) and
# cold start (each one's get function, HEAD's floor function (dev/bench/floor)
# and the minimal function under the Runtime Interface Emulator, in turns,
# as ratios to the floor), with binary sizes. `make
# bench-compare BASE=<commit>` runs it; ROUNDS sets the repetitions (6).
# A commit without the warm-path benchmarks gets HEAD's.
set -euo pipefail
base=${1:?usage: dev/bench/compare.sh BASE [HEAD]}
head=${2:-HEAD}
rounds=${ROUNDS:-6}
tools=${TOOLS:-$PWD/.tools/bin}
out=build/bench/compare
rm -rf "$out"
mkdir -p "$out"

for side in base head; do
  commit=$base; [ "$side" = head ] && commit=$head
  src=$out/$side/src
  mkdir -p "$src"
  git archive "$(git rev-parse "$commit")" | tar -x -C "$src"
  if [ ! -f "$src/internal/lambda/bench_test.go" ]; then
    cp internal/lambda/bench_test.go "$src/internal/lambda/"
  fi
  (cd "$src" && go test -c -o ../lambda.test ./internal/lambda)
  for fn in minimal floor get; do
    pkg=./functions/$fn; [ "$fn" = get ] || pkg=./dev/bench/$fn
    [ -d "$src/$pkg" ] || continue
    (cd "$src" && CGO_ENABLED=0 GOOS=linux go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o "../$fn/bootstrap" "$pkg")
  done
  echo "$side = $(git rev-parse --short "$commit")"
done

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
  for side in base head; do
    "$out/$side/lambda.test" -test.run '^$' -test.bench '^BenchmarkWarm$' -test.benchmem -test.benchtime 2000x >>"$out/$side-warm.txt"
  done
done
if [ -x "$tools/benchstat" ]; then
  "$tools/benchstat" base="$out/base-warm.txt" head="$out/head-warm.txt"
else
  grep -h '^Benchmark' "$out/base-warm.txt" "$out/head-warm.txt"
fi

boots=minimal=$out/head/minimal/bootstrap,base-get=$out/base/get/bootstrap,head-get=$out/head/get/bootstrap
if [ -f "$out/head/floor/bootstrap" ]; then
  boots=floor=$out/head/floor/bootstrap,$boots
fi
go run ./dev/cmd/cis-bench -rie "$tools/aws-lambda-rie" -cold-starts "$((rounds * 3))" -bootstraps "$boots"
for side in base head; do
  printf '%s get bootstrap: %s bytes\n' "$side" "$(stat -c %s "$out/$side/get/bootstrap")"
done

