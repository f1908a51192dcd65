#!/usr/bin/env bash
# Acceptance (foundation): every kind of bad input gets a 4xx with a JSON
# error naming the problem, and nothing in the store changes.
. "$(dirname "$0")/lib.sh"

dv_start_manager
dv_start_agent host1
"$DROVER" vm create keep --cpus 1 --memory 64 >/dev/null
TOKEN=$(cat "$DROVER_TOKEN_FILE")
API=$DROVER_URL/api/v1

check "token file is mode 0600" [ "$(stat -c %a "$DROVER_TOKEN_FILE")" = 600 ]

snapshot() {
        curl -s -H "Authorization: Bearer $TOKEN" "$API/vms" | jq -S '[(.vms // .)[] | {name, state, cpus, memory_mib, disks}]'
        curl -s -H "Authorization: Bearer $TOKEN" "$API/tasks" | jq '(.tasks // .) | length'
        curl -s -H "Authorization: Bearer $TOKEN" "$API/hosts" | jq -S '[(.hosts // .)[] | {name, memory_reserved_mib}]'
}
before=$(snapshot)

# expect STATUS CODE DESCRIPTION curl-args...: status and error code match,
# and the message is not empty.
expect() {
        local status=$1 code=$2 desc=$3 out got
        shift 3
        out=$(curl -s -o "$DV_TMP/body" -w '%{http_code}' "$@")
        got=$(jq -r '.error.code // empty' "$DV_TMP/body" 2>/dev/null)
        msg=$(jq -r '.error.message // empty' "$DV_TMP/body" 2>/dev/null)
        check "$desc -> $status $code (got $out $got: $msg)" \
                bash -c "[ '$out' = '$status' ] && [ '$got' = '$code' ] && [ -n \"\$1\" ]" _ "$msg"
}
post() { expect "$1" "$2" "$3" -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data-binary "$4" "$API/vms"; }

expect 401 unauthorized "no token" "$API/vms"
expect 401 unauthorized "wrong token" -H "Authorization: Bearer 0000" "$API/vms"
expect 401 unauthorized "wrong token on a POST" -X POST -H "Authorization: Bearer nope" --data '{"name":"x","cpus":1,"memory_mib":64}' "$API/vms"
post 400 invalid-json "malformed JSON" '{"name": "x", "cpus": 1,'
post 400 invalid-json "a JSON array, not an object" '[1,2]'
post 400 unknown-field "unknown field" '{"name":"x","cpus":1,"memory_mib":64,"colour":"red"}'
post 400 missing-field "missing name" '{"cpus":1,"memory_mib":64}'
post 400 invalid-name "name with a space" '{"name":"bad name","cpus":1,"memory_mib":64}'
post 400 invalid-name "name with a slash" '{"name":"../etc","cpus":1,"memory_mib":64}'
post 400 invalid-name "name of 65 characters" "{\"name\":\"$(printf 'a%.0s' $(seq 65))\",\"cpus\":1,\"memory_mib\":64}"
post 400 out-of-range "zero CPUs" '{"name":"x","cpus":0,"memory_mib":64}'
post 400 out-of-range "absurd CPUs" '{"name":"x","cpus":100000,"memory_mib":64}'
post 400 out-of-range "zero memory" '{"name":"x","cpus":1,"memory_mib":0}'
post 400 out-of-range "absurd memory" '{"name":"x","cpus":1,"memory_mib":999999999999}'
post 400 out-of-range "zero-size disk" '{"name":"x","cpus":1,"memory_mib":64,"disks":[{"size_gib":0}]}'
post 400 out-of-range "absurd disk" '{"name":"x","cpus":1,"memory_mib":64,"disks":[{"size_gib":99999999}]}'
post 400 invalid-field "CPUs as a string" '{"name":"x","cpus":"two","memory_mib":64}'
post 400 invalid-field "kernel arguments with a shell character" '{"name":"x","cpus":1,"memory_mib":64,"kernel_args":"a;reboot"}'
post 400 out-of-range "kernel arguments over 256 bytes" "{\"name\":\"x\",\"cpus\":1,\"memory_mib\":64,\"kernel_args\":\"$(printf 'a%.0s' $(seq 300))\"}"
post 404 unknown-host "unknown host" '{"name":"x","cpus":1,"memory_mib":64,"host":"nohost"}'
post 404 unknown-image "unknown image" '{"name":"x","cpus":1,"memory_mib":64,"image":"noimage"}'
post 404 unknown-datastore "unknown datastore" '{"name":"x","cpus":1,"memory_mib":64,"disks":[{"size_gib":1,"datastore":"nods"}]}'
post 409 name-taken "duplicate name" '{"name":"keep","cpus":1,"memory_mib":64}'
post 409 insufficient-resources "more memory than any host has" '{"name":"x","cpus":1,"memory_mib":1048576}'
head -c 2000000 /dev/zero | tr '\0' ' ' >"$DV_TMP/big.json"
expect 413 body-too-large "a 2 MB body" -X POST -H "Authorization: Bearer $TOKEN" --data-binary @"$DV_TMP/big.json" "$API/vms"
expect 404 not-found "unknown VM" -H "Authorization: Bearer $TOKEN" "$API/vms/ghost"
expect 404 not-found "unknown path" -H "Authorization: Bearer $TOKEN" "$API/nothing-here"
expect 409 invalid-state "stop a stopped VM" -X POST -H "Authorization: Bearer $TOKEN" "$API/vms/keep/stop"

after=$(snapshot)
check "store unchanged by every rejected request" [ "$before" = "$after" ]

# The CLI reports the server's message and exits non-zero.
out=$("$DROVER" vm create "bad name" --cpus 1 --memory 64 2>&1) && rc=0 || rc=$?
check "CLI refuses a bad name with a non-zero exit ($rc)" [ "$rc" -ne 0 ]
check "CLI names the problem: $out" bash -c "grep -qi 'name' <<<\"\$1\"" _ "$out"
out=$("$DROVER" vm show ghost 2>&1) && rc=0 || rc=$?
check "CLI shows the server's not-found message ($out)" bash -c "[ $rc = 1 ] && grep -q ghost <<<\"\$1\"" _ "$out"
out=$(DROVER_TOKEN=wrong "$DROVER" vm list 2>&1) && rc=0 || rc=$?
check "CLI with a wrong token fails ($out)" [ "$rc" -ne 0 ]
dv_finish
