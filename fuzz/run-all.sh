#!/usr/bin/env bash
# Runs every cargo-fuzz target for N seconds each, one after another, on the
# stable toolchain, and prints how many inputs each one executed.
#
#   fuzz/run-all.sh [SECONDS] [TARGET...]
#
# SECONDS defaults to 1800; TARGETs default to every target in
# `cargo fuzz list`. Exits 1 if any target found a crash (or failed to build
# or run), 0 otherwise.
#
# Environment:
#   FUZZ_SANITIZER  address (default) or none; passed to `cargo fuzz run -s`
#   FUZZ_JOBS       cargo build jobs (default 1)
#   FUZZ_NICE       nice level for builds and runs (default 19)
#
# New inputs go to target/work-corpus/<target> (git-ignored); the checked-in
# seeds in corpus/<target> are read, never written. Crash reproducers land in
# artifacts/<target>/, logs in target/fuzz-logs/<target>.log.
set -uo pipefail

cd "$(dirname "$0")"

secs="${1:-1800}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -eq 0 ]; then
    echo "usage: $0 [SECONDS] [TARGET...]" >&2
    exit 2
fi
shift || true

sanitizer="${FUZZ_SANITIZER:-address}"
export CARGO_BUILD_JOBS="${FUZZ_JOBS:-1}"
# cargo-fuzz passes -Z flags to rustc; this lets the stable compiler take them.
export RUSTC_BOOTSTRAP=1
nice_level="${FUZZ_NICE:-19}"

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi
if [ "${#targets[@]}" -eq 0 ]; then
    echo "no fuzz targets found" >&2
    exit 2
fi

mkdir -p target/fuzz-logs
declare -A execs status
failed=0

for t in "${targets[@]}"; do
    log="target/fuzz-logs/$t.log"
    work="target/work-corpus/$t"
    mkdir -p "$work" "artifacts/$t"
    corpora=("$work")
    [ -d "corpus/$t" ] && corpora+=("corpus/$t")

    echo "==> $t: ${secs}s (sanitizer: $sanitizer, log: fuzz/$log)"
    nice -n "$nice_level" cargo fuzz run -s "$sanitizer" "$t" "${corpora[@]}" -- \
        -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1
    rc=$?

    # Executions: the final-stats line, else libFuzzer's `#N DONE` line, else
    # the last `#N` status line (a run that stopped on a crash).
    n=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    [ -z "$n" ] && n=$(sed -n 's/^#\([0-9]*\)[[:space:]]*DONE.*/\1/p' "$log" | tail -n 1)
    [ -z "$n" ] && n=$(sed -n 's/^#\([0-9]*\)[[:space:]].*/\1/p' "$log" | tail -n 1)
    execs[$t]="${n:-?}"

    # A crash, leak, timeout or OOM: libFuzzer names the reproducer it wrote.
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    if [ -n "$artifact" ]; then
        failed=1
        status[$t]="CRASH: fuzz/${artifact#"$PWD/"}"
        grep -m 1 -A 1 "panicked at" "$log" | sed 's/^/    /'
    elif [ "$rc" -ne 0 ]; then
        failed=1
        status[$t]="FAILED (exit $rc, no reproducer written; see the log)"
    else
        status[$t]="ok"
    fi
    echo "    executions: ${execs[$t]}  ${status[$t]}"
done

echo
printf '%-24s %14s  %s\n' target executions result
for t in "${targets[@]}"; do
    printf '%-24s %14s  %s\n' "$t" "${execs[$t]}" "${status[$t]}"
done
exit "$failed"
