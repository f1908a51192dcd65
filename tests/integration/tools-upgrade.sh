#!/usr/bin/env bash
# Tools acceptance: `vm tools-upgrade` pushes the image's drover-tools into
# a running guest, which swaps it in and restarts it; a rebuilt drover-tools
# with a new version string is reported after the swap (vm show, vm guest,
# the task's result, an event). An upgrade with a corrupt binary (a
# truncated copy, the usual corruption) is rejected and the old version
# keeps running. The test serves an image directory of its own whose
# drover-tools it replaces, as an operator updating the image would.
. "$(dirname "$0")/lib.sh"

dv_private_image "$DV_TMP/image"
cp "$DV_IMAGE_DIR/drover-tools" "$DV_TMP/drover-tools-old"
old=$("$DV_IMAGE_DIR/drover-tools" --version | awk '{print $2}')
new="$old+upgrade-test"
dv_build_tools "$DV_TMP/drover-tools-new" "$new"
dv_start_manager
dv_start_agent host1

"$DROVER" vm create u1 --cpus 1 --memory 256 --start >/dev/null
wait_until 60 "Tools running" dv_tools_state_is u1 running
check "Tools runs the image's version $old" [ "$(dv_json .tools.version vm show u1)" = "$old" ]

install -m 0755 "$DV_TMP/drover-tools-new" "$DV_IMAGE_DIR/drover-tools"
rc=0
out=$("$DROVER" vm tools-upgrade u1 2>/dev/null) || rc=$?
dv_log "upgrade: $out"
check "vm tools-upgrade succeeds" [ "$rc" = 0 ]
check "... and names both versions" grep -qF "from $old to $new" <<<"$out"
version_is() { [ "$(dv_json .tools.version vm show u1)" = "$1" ]; }
wait_until 10 "new version in vm show" version_is "$new"
check "vm show reports $new" version_is "$new"
check "Tools is running" dv_tools_state_is u1 running
check "the guest's drover-tools says $new" [ "$(dv_json .guest.tools_version vm guest u1)" = "$new" ]
check "event vm.tools-upgraded" dv_cmd_has "upgraded from $old to $new" "$DROVER" event list

# A truncated copy of the binary: refused before anything changes.
head -c $(( $(stat -c %s "$DV_TMP/drover-tools-new") / 2 )) "$DV_TMP/drover-tools-new" \
        >"$DV_IMAGE_DIR/drover-tools"
rc=0
out=$("$DROVER" -o json vm tools-upgrade u1 2>/dev/null) || rc=$?
dv_log "corrupt upgrade: $(jq -c .error <<<"$out")"
check "the corrupt upgrade fails" [ "$rc" = 1 ]
check "... as invalid-binary" [ "$(jq -r .error.code <<<"$out")" = invalid-binary ]
check "Tools still runs $new" version_is "$new"
check "... and answers" [ "$(dv_json .guest.tools_version vm guest u1)" = "$new" ]
check "event vm.tools-upgrade-failed" dv_cmd_has vm.tools-upgrade-failed "$DROVER" event list

# Back to the original, so that the swap works both ways.
install -m 0755 "$DV_TMP/drover-tools-old" "$DV_IMAGE_DIR/drover-tools"
check "downgrade back to $old" "$DROVER" vm tools-upgrade u1
wait_until 10 "old version in vm show" version_is "$old"
check "vm show reports $old again" version_is "$old"
dv_finish
