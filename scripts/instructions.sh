#!/usr/bin/env bash
# Instruction-count gate: runs the callgrind benchmarks (benches/benches/instructions.rs,
# through gungraun) and compares each count with benches/baselines/instructions.json.
#
#   scripts/instructions.sh            # the gate (.ci/run calls this): fails on a regression
#                                      # above the baseline's threshold (10%) under the same
#                                      # rustc; under another rustc it warns and re-baselines
#   scripts/instructions.sh --update   # accept the current counts as the baseline on purpose
#   scripts/instructions.sh --install  # only install valgrind and the runner when missing
#
# Needs valgrind and gungraun-runner of exactly the gungraun version in Cargo.toml; both are
# installed here when missing (apt-get, cargo install --locked). See docs/performance.md,
# "Instruction counts (callgrind)".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

update=()
install_only=false
case "${1:-}" in
  --update) update=(--update) ;;
  --install) install_only=true ;;
  "") ;;
  *) echo "usage: $0 [--update | --install]" >&2; exit 2 ;;
esac

if ! command -v valgrind >/dev/null 2>&1; then
  echo "installing valgrind" >&2
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq valgrind >/dev/null
fi

# The runner must be the library's exact version (pinned with `=` in the root Cargo.toml).
version="$(sed -n 's/^gungraun = "=\([0-9.]*\)".*/\1/p' Cargo.toml)"
if [ -z "$version" ]; then
  echo "cannot find the pinned gungraun version in Cargo.toml" >&2
  exit 2
fi
have="$(gungraun-runner --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have" != "$version" ] && ! $install_only; then
  echo "WARNING: gungraun-runner $version is not installed (found: ${have:-none}):" \
    "the instruction-count gate is NOT checked in this run. Install it: $0 --install" >&2
  exit 0
fi
if [ "$have" != "$version" ]; then
  # Bounded, so that CI on a machine without the runner stays inside its 30-minute budget
  # (compiling the runner took 99 minutes on this 2-core machine at load 20-30): if the install
  # does not finish in time, the gate says so loudly and is skipped for this run only.
  limit="${STRATA_RUNNER_INSTALL_SECS:-600}"
  echo "installing gungraun-runner $version (found: ${have:-none}), at most ${limit} s" >&2
  if ! timeout "$limit" cargo install --locked --quiet --version "$version" gungraun-runner; then
    echo "WARNING: gungraun-runner $version could not be installed within ${limit} s:" \
      "the instruction-count gate is NOT checked in this run." \
      "Install it once with: cargo install --locked --version $version gungraun-runner" >&2
    exit 0
  fi
fi

if $install_only; then
  echo "valgrind: $(valgrind --version); gungraun-runner: $(gungraun-runner --version)"
  exit 0
fi

results="target/instructions.jsonl"
mkdir -p target
cargo bench --quiet -p strata-benches --bench instructions -- --output-format=json > "$results"
cargo run --quiet --profile bench -p strata-benches --example instructions_check -- \
  --results "$results" --baseline benches/baselines/instructions.json --rustc "$(rustc --version)" \
  ${update[@]+"${update[@]}"}
