/* Pure logic of the distributed virtual switch, as the manager sees it:
 * OVS bridge names, a NIC's address against its port group, and the
 * kernel command-line argument that configures a guest NIC. No store, no
 * I/O (unit-tested in tests/unit/test-manager-net.c). */
#pragma once

#include <jansson.h>

#include "error.h"
#include "util.h"

#define DV_BRIDGE_NAME_MAX 16 /* IFNAMSIZ, with the NUL */

/* The OVS bridge of a DVS on every host: "dvs-" + name when that fits in
 * 15 characters, else "dvs-" + the first 6 characters + "-" + 4 hex digits
 * of a hash of the whole name (so long names sharing a prefix differ). */
void dv_dvs_bridge_name(const char *dvs_name, char buf[DV_BRIDGE_NAME_MAX]);

/* A NIC's address against its port group (pg: {"name","subnet"?,"gateway"?}).
 * ip may be NULL (no address: nothing to check). The IP must lie inside the
 * port group's subnet when it has one and must not be the port group's
 * gateway or its subnet's network/broadcast address (400 invalid-field).
 * *ret_gateway: the NIC's own gateway, else the port group's when it lies
 * inside ip/prefix, else NULL (borrowed from the arguments). */
int dv_nic_fit_portgroup(const char *ip, int64_t prefix, const char *gateway, json_t *pg,
                         const char **ret_gateway, struct dv_error *err);

/* "drover.net=MAC,IP/PREFIX[,GW]" for a VM's NIC document
 * ({"mac","ip","prefix","gateway"}), or NULL when it has no address. The
 * default guest image's /init applies it (guest/README.md). Owned. */
char *dv_net_kernel_arg(json_t *nic);
