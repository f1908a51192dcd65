/* The distributed virtual switch in the manager: what its documents hold,
 * what each host must realise, and netsync, the thread that pushes it to
 * the agents (after a host registers, and at start).
 *
 * DVS       {"id","name","bridge","hosts":[{"host","host_id","uplink"}],"created_at"}
 * PORTGROUP {"id","name","dvs","dvs_id","vlan","subnet","gateway","created_at"}
 *
 * A VM NIC names its port group by name (names never change). */
#pragma once

#include <jansson.h>

#include "manager.h"

/* DVS as the API shows it: the document plus its port groups' names. */
json_t *dv_view_dvs(struct dv_mgr *m, json_t *dvs);

/* The hosts[] entry of host_id in a DVS document (borrowed), or NULL. */
json_t *dv_dvs_host_entry(json_t *dvs, const char *host_id);

/* VM states in which QEMU may hold taps on a bridge. */
bool dv_vm_state_has_ports(const char *state);

/* VMs with a NIC on the port group named pg (a new array), and, when
 * host_id is set, only those placed on that host. */
int dv_portgroup_users(struct dv_mgr *m, const char *pg, const char *host_id,
                       json_t **ret_vms);

/* The names of the DVSs host_id is attached to (a new array). */
int dv_dvs_of_host(struct dv_mgr *m, const char *host_id, json_t **ret_names);

/* The body of POST /agent/v1/dvs/sync for a host: every DVS it is attached
 * to and the VLAN of every NIC of its VMs that may have a port. */
int dv_dvs_sync_body(struct dv_mgr *m, const char *host_id, json_t **ret_body);

/* netsync: one thread; dv_netsync_kick() asks it to push a host's
 * configuration soon (retrying while the host stays connected). NULL-safe:
 * without a running netsync, kicks are ignored. */
int dv_netsync_start(struct dv_mgr *m);
void dv_netsync_stop(struct dv_mgr *m);
void dv_netsync_kick(struct dv_mgr *m, const char *host_id);
