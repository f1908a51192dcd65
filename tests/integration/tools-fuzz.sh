#!/usr/bin/env bash
# The Tools protocol parsers under libFuzzer (tests/fuzz/run.sh): about 10 s
# per target (guest bytes into the host-side parser and every op schema;
# bytes into the guest's JSON reader/writer), with ASan and UBSan. Fails on
# any crash, leak, sanitizer report or timeout the fuzzer finds.
. "$(dirname "$0")/lib.sh"

command -v "${CC:-clang}" >/dev/null || { echo "SKIP: needs clang (scripts/install-deps.sh)"; exit 77; }
export FUZZ_DIR=$DV_TMP/fuzz
rc=0
out=$(bash "$DV_ROOT/tests/fuzz/run.sh" "${DROVER_FUZZ_SECONDS:-20}" 2>&1) || rc=$?
echo "$out" >&2
check "the fuzz targets build and run without a crash" [ "$rc" = 0 ]
check "fuzz-tools-proto ran" grep -q "fuzz-tools-proto ok" <<<"$out"
check "fuzz-tools-guest-json ran" grep -q "fuzz-tools-guest-json ok" <<<"$out"
dv_finish
