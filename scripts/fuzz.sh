#!/usr/bin/env bash
# Builds the fuzz targets (tests/fuzz) with libFuzzer's coverage
# instrumentation on stable Rust and runs each for a time budget.
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Defaults: 30 s, every target, two at a time (FUZZ_JOBS). `make test` runs
# it with the defaults. Each target keeps what it finds in
# tests/fuzz/corpus/<target> (git-ignored; seeds are generated into
# tests/fuzz/corpus/seeds). A crash stops the script with the failing
# input in tests/fuzz/artifacts/<target>/ and the log's tail; reproduce it with
#   tests/fuzz/target/<host>/release/<target> <that file>
set -euo pipefail
secs=${1:-30}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/.." && pwd)
fuzz=$root/tests/fuzz
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(reader_lines reader_parquet reader_archive normalize import model_dir)
host=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$fuzz/target}
# What cargo-fuzz passes with `--sanitizer none`, all stable flags. The
# explicit --target keeps them off build scripts and proc macros.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
start=$(date +%s)
# The fuzz crate has its own lock (it is outside the workspace); it must list
# w2v's dependencies as the root lock does.
if ! cargo metadata --locked --format-version 1 --manifest-path "$fuzz/Cargo.toml" > /dev/null 2>&1; then
  echo "fuzz.sh: tests/fuzz/Cargo.lock is out of date with w2v's dependencies; refresh it with:" >&2
  echo "  cp Cargo.lock tests/fuzz/Cargo.lock && cargo metadata --format-version 1 --manifest-path tests/fuzz/Cargo.toml > /dev/null" >&2
  exit 1
fi
cargo build --release --locked --manifest-path "$fuzz/Cargo.toml" --target "$host" --bins
echo "fuzz: built in $(( $(date +%s) - start )) s"
bin=$CARGO_TARGET_DIR/$host/release
# Each target writes its generated seeds on its first input.
for t in "${targets[@]}"; do
    W2V_FUZZ_WRITE_SEEDS="$fuzz/corpus/seeds" "$bin/$t" -runs=1 >/dev/null 2>&1
done
# Every input that once crashed or stalled a target runs again as a seed.
for t in "${targets[@]}"; do
    for f in "$fuzz"/regressions/"$t"-*; do
        if [ -f "$f" ]; then
            mkdir -p "$fuzz/corpus/seeds/$t"
            cp "$f" "$fuzz/corpus/seeds/$t/regression-$(basename "$f")"
        fi
    done
done
mkdir -p "$fuzz/logs"
run_one() {
    local t=$1
    mkdir -p "$fuzz/corpus/$t" "$fuzz/artifacts/$t"
    if "$bin/$t" "$fuzz/corpus/$t" "$fuzz/corpus/seeds/$t" -max_total_time="$secs" \
        -timeout=20 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$fuzz/artifacts/$t/" >"$fuzz/logs/$t.log" 2>&1; then
        local execs cov
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$fuzz/logs/$t.log")
        cov=$(grep -E '^#[0-9]+' "$fuzz/logs/$t.log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+' || true)
        echo "fuzz: $t: ${secs} s, $execs runs, $cov, 0 crashes"
    else
        echo "fuzz: $t FAILED; input in $fuzz/artifacts/$t/; log tail:"
        tail -40 "$fuzz/logs/$t.log"
        return 1
    fi
}
export -f run_one
export fuzz bin secs
printf '%s\n' "${targets[@]}" | xargs -P "${FUZZ_JOBS:-2}" -I{} bash -c 'run_one {}'
echo "fuzz: ${#targets[@]} targets, no crash ($(( $(date +%s) - start )) s in all)"
