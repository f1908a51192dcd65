#!/usr/bin/env bash
# Drover's test suite: builds (unless DROVER_BUILD points at a build), builds
# the guest image (cached), runs the cmocka unit tests and every integration
# test, and ends with one line "N passed, N failed".
#   bash tests/run.sh                 # everything
#   bash tests/run.sh vm-lifecycle    # integration tests whose name matches
#   DROVER_TEST_SKIP='^lab-' bash tests/run.sh   # skip tests matching a regex
#   DROVER_TEST_RETRY=1 bash tests/run.sh         # a failed test runs once more
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${DROVER_BUILD:-$root/build}
filter=${1:-}
passed=0
failed=0
failed_names=()
skipped=()
flaky=()

if [ ! -f "$build/build.ninja" ]; then
        meson setup "$build" "$root" ${DROVER_MESON_ARGS:-} >/dev/null || exit 1
fi
ninja -C "$build" >/dev/null || { ninja -C "$build"; echo "0 passed, 1 failed"; exit 1; }
# The default image carries this build's drover-tools (the cache key
# includes the binary's hash); lib.sh does not build it again.
bash "$root/guest/build.sh" "${DROVER_IMAGE_DIR:-$root/guest/out}" --tools "$build/src/tools/drover-tools" ||
        { echo "0 passed, 1 failed"; exit 1; }
export DROVER_BUILD=$build DROVER_IMAGE_READY=1

if [ -z "$filter" ]; then
        # Unit tests: meson counts them, one per test binary.
        out=$(meson test -C "$build" --print-errorlogs 2>&1)
        echo "$out" | grep -E "^ *[0-9]+/[0-9]+ " || true
        ok=$(echo "$out" | sed -n 's/^Ok: *\([0-9]*\).*/\1/p')
        bad=$(echo "$out" | sed -n 's/^Fail: *\([0-9]*\).*/\1/p')
        to=$(echo "$out" | sed -n 's/^Timeout: *\([0-9]*\).*/\1/p')
        passed=$((passed + ${ok:-0}))
        failed=$((failed + ${bad:-0} + ${to:-0}))
        if [ "${bad:-0}" != 0 ] || [ "${to:-0}" != 0 ]; then
                echo "$out" | tail -n 60
                failed_names+=(unit)
        fi
fi

for t in "$root"/tests/integration/*.sh; do
        name=$(basename "$t" .sh)
        [[ $name == lib || $name == lib-* ]] && continue   # helpers, not tests
        [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && continue
        [ -n "${DROVER_TEST_SKIP:-}" ] && [[ "$name" =~ $DROVER_TEST_SKIP ]] && continue
        start=$(date +%s)
        bash "$t" >"/tmp/drover-$name.out" 2>&1
        rc=$?
        if [ $rc != 0 ] && [ $rc != 77 ] && [ "${DROVER_TEST_RETRY:-}" = 1 ]; then
                # DROVER_TEST_RETRY=1 (CI): a failed integration test runs
                # once more; its first failure is shown and the test named
                # as flaky in the summary, never hidden.
                mv "/tmp/drover-$name.out" "/tmp/drover-$name.first.out"
                echo "RETRY $name ($(($(date +%s) - start)) s): failed once; its failed checks:"
                grep -E '^\[[^]]*\] FAIL' "/tmp/drover-$name.first.out" | head -n 20
                bash "$t" >"/tmp/drover-$name.out" 2>&1
                rc=$?
                [ $rc = 0 ] && flaky+=("$name")
        fi
        if [ $rc = 0 ]; then
                passed=$((passed + 1))
                echo "PASS $name ($(($(date +%s) - start)) s)"
        elif [ $rc = 77 ] && [ "${CI:-}" != true ]; then
                # A test may skip on a developer's machine (e.g. a lab is
                # already up); in CI nothing may skip.
                skipped+=("$name")
                echo "SKIP $name: $(tail -n 1 "/tmp/drover-$name.out")"
        else
                failed=$((failed + 1))
                failed_names+=("$name")
                echo "FAIL $name ($(($(date +%s) - start)) s)"
                # The failed checks first (the tail is mostly daemon logs).
                grep -E '^\[[^]]*\] FAIL' "/tmp/drover-$name.out" | head -n 20
                tail -n 80 "/tmp/drover-$name.out"
        fi
done

[ ${#skipped[@]} -gt 0 ] && echo "skipped (exit 77): ${skipped[*]}"
[ ${#flaky[@]} -gt 0 ] && echo "flaky (failed, then passed on a retry): ${flaky[*]}"
[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
