#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS]: build the Tools fuzz targets with clang's
# libFuzzer + ASan + UBSan and run each for SECONDS (default 30, split
# evenly). Exit status 0 when no target found a crash.
#   fuzz-tools-proto       guest bytes into the host-side parser (src/agent/tools-proto.c)
#   fuzz-tools-guest-json  bytes into the guest's JSON reader/writer (src/tools/tjson.c)
# Environment: FUZZ_DIR (build and work directory, default /tmp/drover-fuzz),
# CC (default clang). Crash inputs are left in FUZZ_DIR/TARGET/.
# Needs Debian's clang (apt-get install clang) and libjansson-dev.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-30}
dir=${FUZZ_DIR:-/tmp/drover-fuzz}
cc=${CC:-clang}
command -v "$cc" >/dev/null || { echo "fuzz: $cc not found (apt-get install clang)" >&2; exit 2; }
mkdir -p "$dir/bin"

flags=(-g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -Wall -Wextra -Wno-unused-parameter)
"$cc" "${flags[@]}" -I"$root/src/common" -I"$root/src/agent" \
        "$root/tests/fuzz/fuzz-tools-proto.c" "$root/src/agent/tools-proto.c" \
        "$root/src/common/error.c" -ljansson -o "$dir/bin/fuzz-tools-proto"
"$cc" "${flags[@]}" -I"$root/src/tools" \
        "$root/tests/fuzz/fuzz-tools-guest-json.c" "$root/src/tools/tjson.c" \
        -o "$dir/bin/fuzz-tools-guest-json"

per=$(( secs / 2 > 0 ? secs / 2 : 1 ))
status=0
for t in fuzz-tools-proto fuzz-tools-guest-json; do
        corpus_seed="$root/tests/fuzz/corpus/${t#fuzz-}"
        work="$dir/$t"
        mkdir -p "$work/corpus"
        cp -n "$corpus_seed"/* "$work/corpus/" 2>/dev/null || true
        echo "fuzz: $t for ${per}s"
        if (cd "$work" && "$dir/bin/$t" -max_total_time="$per" -max_len=70000 -timeout=10 \
                -rss_limit_mb=2048 -print_final_stats=1 corpus >"$work/log" 2>&1); then
                echo "fuzz: $t ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$') runs)"
        else
                status=1
                echo "fuzz: $t FAILED; see $work/log and $work/crash-*"
                tail -n 40 "$work/log"
        fi
done
exit $status
