#!/usr/bin/env bash
# Runs fuzz targets for a given amount of CPU time each (not wall time: on a busy machine a
# wall-clock limit says little), one after another, and prints for each the executions, the
# edge coverage (libFuzzer's `cov:`) and the corpus size at the end.
#
#   fuzz/long-run.sh [CPU_SECONDS [TARGET...]]     default: 600 s, every target
#
# Crashes stop the run with libFuzzer's report; the input is in fuzz/artifacts/TARGET/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cpu_limit=${1:-600}
shift || true
cd "$here"
"$here/seed-corpora.sh" >/dev/null
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
RUSTC_BOOTSTRAP=1 cargo fuzz build 2>&1 | tail -n 1
bin_dir=$(ls -d "$here"/target/*/release | head -n 1)
tick=$(getconf CLK_TCK)
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="artifacts/$t/long-run.log"
  "$bin_dir/$t" "corpus/$t" -artifact_prefix="artifacts/$t/" -print_final_stats=1 \
    -max_total_time=$((cpu_limit * 20)) >"$log" 2>&1 &
  pid=$!
  cpu=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    # utime + stime, fields 14 and 15 of /proc/PID/stat (the command name has no spaces).
    if read -r -a f <"/proc/$pid/stat" 2>/dev/null; then
      cpu=$(((f[13] + f[14]) / tick))
      if [ "$cpu" -ge "$cpu_limit" ]; then
        kill -INT "$pid"
        break
      fi
    fi
  done
  status=0
  wait "$pid" || status=$?
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  printf '%-14s cpu %4ss  execs %-10s %s\n' "$t" "$cpu" "${execs:-?}" \
    "$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+' <<<"$last")"
  # Interrupted by us is success (libFuzzer exits 72 on SIGINT); anything else is a finding.
  if [ "$status" -ne 0 ] && [ "$status" -ne 72 ] && [ "$status" -ne 130 ]; then
    tail -n 40 "$log" >&2
    echo "fuzz target $t failed with status $status (see $here/$log)" >&2
    exit 1
  fi
done
