/* The DVS health check, pure part: from what each host's uplink heard
 * during one probe session (POST /agent/v1/net/probe on every host at once),
 * which VLANs each host's TOR port carries, which hosts share a physical
 * network, and where frames of full MTU size are lost. No I/O (unit-tested
 * in tests/unit/test-manager-netdiag.c); dvs-health.c runs the probes.
 *
 * Input {"vlans":[V...], "mtu":N,
 *        "hosts":[{"host":NAME, "error":"..."|null, "carrier":bool,
 *                  "received":[{"host","vlan","small","large"}],
 *                  "send_errors":[{"vlan","size","error"}]}]}
 *
 * Output {"ok":bool, "vlans":[...], "mtu":N,
 *         "networks":[[NAME...]...],       hosts that reach each other on
 *                                          some VLAN (carrier up only)
 *         "hosts":[{"host","uplink":"up"|"down"|"unknown","error"?,
 *                   "vlans":[{"vlan","status","peers":[...],"missing":[...],
 *                             "reason"}]}],
 *         "problems":[{"host"?,"vlan"?,"status","reason"}]}
 *
 * Per host and VLAN, status is one of
 *   ok            frames reach every other host of its network, both sizes
 *   not-carried   the host's network carries the VLAN, this host's port not
 *   not-on-tor    no host of this network exchanges frames on the VLAN
 *   partial       frames reach some hosts of its network but not all
 *   mtu-mismatch  small frames pass, frames of full MTU do not
 *   isolated      the host hears no other host on any VLAN
 *   uplink-down   the host's uplink has no carrier
 *   no-peers      no other host with its uplink up to compare with
 *   unknown       the host did not answer (error) */
#pragma once

#include <jansson.h>

#define DV_HEALTH_MAX_HOSTS 256
#define DV_HEALTH_MAX_VLANS 64

/* A new result object (never NULL unless out of memory). */
json_t *dv_health_analyze(json_t *input);

/* The status of (host, vlan) in a result, or NULL (borrowed). */
const char *dv_health_status(json_t *result, const char *host, int vlan);
/* The entry {"vlan","status",...} of (host, vlan) (borrowed) or NULL. */
json_t *dv_health_entry(json_t *result, const char *host, int vlan);
/* The index of host's network in result's "networks", or -1. */
int dv_health_network_of(json_t *result, const char *host);
