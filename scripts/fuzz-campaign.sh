#!/usr/bin/env bash
# Runs one fuzz target for a fixed wall time, resuming from and adding to its corpus in
# fuzz/corpus/<target>/, and records libFuzzer's log plus /usr/bin/time's CPU figures in
# fuzz/logs/<target>.log (not committed). Build first: (cd fuzz && cargo +nightly fuzz build).
# Usage: scripts/fuzz-campaign.sh <target> [seconds, default 1800]
# FORK=1 keeps going after a crash (libFuzzer fork mode; crashes land in fuzz/artifacts/<target>/).
# See docs/reliability.md ("Fuzzing") for the recorded runs.
set -euo pipefail
target=$1
secs=${2:-1800}
cd "$(dirname "$0")/../fuzz"
mkdir -p "corpus/$target" "artifacts/$target" logs
exec nice -n 10 /usr/bin/time -v "target/x86_64-unknown-linux-gnu/release/$target" "corpus/$target" \
  -artifact_prefix="artifacts/$target/" -max_total_time="$secs" -max_len=1024 -len_control=10 \
  -rss_limit_mb=1536 -malloc_limit_mb=512 -print_final_stats=1 ${FORK:+-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1} >"logs/$target.log" 2>&1
