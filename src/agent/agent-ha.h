/* HA on the agent (docs/ha.md): the isolation response, VM leases and the
 * BMC watchdog. One thread evaluates every 500 ms:
 *
 *  - isolation: the manager is lost (no heartbeat accepted for 2 s) and
 *    the isolation address (--isolation-address, default the gateway of
 *    the default route) does not answer a ping: dv_ha_isolation_decide()
 *    with the cluster's settings (from the heartbeat replies) says what
 *    to do with the host's HA VMs; shutdown / power-off stop them once
 *    per isolation and release their leases.
 *  - leases (lease.h): renewed every second for each HA VM running here;
 *    a lease that cannot be renewed gets its VM's QEMU killed 1.5 s
 *    before it expires, and a lease found taken by another host gets it
 *    killed at once. Running HA VMs without a lease here (adopted after
 *    an agent restart, migrated in) take theirs when it is free.
 *
 * A second thread pets the host's BMC watchdog (--watchdog-bmc) every
 * second while the first one is alive: a hung host is reset by its BMC
 * before its leases expire. */
#pragma once

#include <jansson.h>

#include "error.h"

struct dv_agent;
struct dv_agent_ha;

/* Start the threads (the watchdog's only with --watchdog-bmc). */
int dv_agent_ha_start(struct dv_agent *agent, struct dv_agent_ha **ret);
/* Join them; disarms the watchdog. Leases stay (the VMs keep running). NULL-safe. */
void dv_agent_ha_stop(struct dv_agent_ha *h);

/* The manager accepted a heartbeat; ha is its reply's "ha" object (or NULL). */
void dv_agent_ha_manager_reply(struct dv_agent_ha *h, json_t *ha);

/* Before starting vm_id: take its lease when the spec has one ({"datastore"}).
 * 409 lease-held when another host holds it and it has not expired, 503
 * lease-unavailable when the file cannot be read or written. */
int dv_agent_ha_lease_take(struct dv_agent_ha *h, const char *vm_id, json_t *lease,
                           struct dv_error *err);
/* After the start: started, the lease is renewed from now on; failed, it is released. */
void dv_agent_ha_lease_started(struct dv_agent_ha *h, const char *vm_id, bool started);
