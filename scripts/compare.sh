#!/usr/bin/env bash
# Measures Strata against RocksDB, fjall, sled and redb on this machine, on the same workloads
# in the same run, and writes a Markdown table (stdout and compare.md), compare.json and
# compare.svg (a bar chart of ops/s per workload and engine, with ratios against RocksDB).
#
#   scripts/compare.sh                       # the default run: --num 1000000 --value-size 100
#   scripts/compare.sh --num 200000          # a quicker run; any flag of the `compare` binary
#   scripts/compare.sh --engines strata,rocksdb --workloads fillrandom,readrandom
#
# The first run builds RocksDB from source (about 12 minutes on 2 cores) and needs libclang
# for its bindings; this script installs it (Debian/Ubuntu: apt-get) when it is missing.
# OUT_DIR (default: the current directory) receives compare.{md,json,svg}.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${OUT_DIR:-$PWD}"

have_libclang() {
    ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so' || ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1
}

if ! have_libclang || ! command -v clang >/dev/null 2>&1 || ! command -v c++ >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "installing libclang-dev, clang and a C++ compiler (RocksDB's build needs them)" >&2
        sudo_cmd=""
        if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
        $sudo_cmd apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq libclang-dev clang g++ >/dev/null
    else
        echo "need libclang (and clang, a C++ compiler) for RocksDB's bindings; install them and rerun" >&2
        exit 1
    fi
fi

cd "$here"
echo "building compare with the peer engines (RocksDB from source the first time: ~12 min)" >&2
nice -n 10 cargo build --release -p strata-benches --features peers --bin compare
exec "$here/target/release/compare" \
    --json "$out/compare.json" --svg "$out/compare.svg" --markdown "$out/compare.md" "$@"
