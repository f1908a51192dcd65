/* `drover net diagnose VM1 VM2`, pure part: the seed's decision tree for
 * "why can these two VMs not talk", evaluated over facts gathered by
 * api-net.c (documents, Tools guest info, uplink state, a DVS health probe,
 * pings through Tools). No I/O (unit-tested in tests/unit/test-manager-netdiag.c).
 *
 * Facts {"vms":[VM, VM], "health": HEALTH|null, "health_error": "..."?,
 *        "probes": {"gateway":[P|null, P|null], "peer":[P|null, P|null]}}
 *   VM  {"name", "state", "host", "host_state",
 *        "tools": "running"|...|null,
 *        "nic": {"mac","portgroup","ip","prefix","gateway"} | null,
 *        "nic_count": N,
 *        "portgroup": {"name","dvs","vlan","subnet","gateway"} | null,
 *        "guest": Tools "info" result | null, "guest_error": "..."?,
 *        "uplink": {"interface","carrier","operstate"} | null, "uplink_error"?,
 *        "conflicts": [{"kind":"ip"|"mac","value","vm"}]}
 *   HEALTH  a dv_health_analyze() result for the DVS of both NICs
 *   P   {"target", "ok", "transmitted", "received", "error"?}
 *       peer[0] is VM0 -> VM1's address, peer[1] the other way.
 *
 * Result {"vms":[names], "checks":[CHECK...], "can_talk": true|false|null,
 *         "faults":[FAULT...], "conclusion": FAULT-or-ok}
 *   CHECK {"id","vm"?,"host"?,"status":"pass"|"fail"|"warn"|"skip",
 *          "summary","evidence"?}
 *   FAULT {"fault": code, "check": id, "vm"?, "host"?, "summary", "fix"}
 * The conclusion is the first fault in the tree's order, or {"fault":"none",
 * "summary":"... can talk"} when none was found and the peers answered. */
#pragma once

#include <stdbool.h>

#include <jansson.h>

/* A new result (NULL only when out of memory). */
json_t *dv_netdiag_evaluate(json_t *facts);

/* The address, prefix and gateway a VM's NIC really uses: the guest's
 * (Tools) when known, else the spec's. Borrowed strings; false when the
 * NIC has no IPv4 address. */
bool dv_netdiag_effective_ip(json_t *vm, const char **ret_ip, int *ret_prefix,
                             const char **ret_gateway, bool *ret_from_guest);
