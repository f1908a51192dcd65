/* HA in droverd: the environment of the decision core (ha.h) over the real
 * manager, and the cluster settings it runs with (docs/ha.md, "Wiring in
 * the manager").
 *
 *   facts   hosts and VMs from the store; network heartbeats from host_rt;
 *           datastore heartbeats from the files agents write on their
 *           shared datastores (read here directly: the manager and the
 *           shared directory are on one machine in the lab); BMC power
 *           readings from one ha-bmc.c worker per host with BMC settings;
 *           the VMs each agent last reported and when Tools last said
 *           "running" from heartbeats (dv_ha_rt_heartbeat).
 *   actions fence = the BMC worker's `chassis power off`; start/stop =
 *           vm.start / vm.stop tasks of user "system" (the record moves to
 *           the target host before the task is queued); events through
 *           dv_mgr_event; alarms kept here and listed by GET /alarms.
 *   after each tick the host documents take the HA state (suspect =
 *           unreachable; failed/fencing/fenced = failed; isolated), and the
 *           VMs left on a fenced host are recorded stopped (host-failed).
 *
 * Locks: rt->lock is taken after dv_mgr.lock (never the other way round)
 * and never held across a store transaction of another module, an agent
 * call or a BMC call. The tick runs on the cron thread only. */
#pragma once

#include <jansson.h>

#include "error.h"
#include "ha.h"
#include "manager.h"

struct dv_ha_rt;

/* Created before the cron thread and the API start; freed after both
 * stopped (joins the BMC workers). */
int dv_ha_rt_new(struct dv_mgr *m, struct dv_ha_rt **ret);
void dv_ha_rt_free(struct dv_ha_rt *rt); /* NULL-safe */

/* One HA step (cron thread, every ~500 ms). */
void dv_ha_rt_tick(struct dv_mgr *m);

/* A heartbeat from host (m->lock held): the VMs its agent runs and their
 * Tools state. vms is the heartbeat's VMSTATUS array. */
/* host_vms: the host's VM documents as just read, or NULL to read them. */
void dv_ha_rt_heartbeat(struct dv_mgr *m, json_t *host, json_t *vms, json_t *host_vms);

/* The "ha" object of a heartbeat reply to host (m->lock held): what its
 * agent needs for the isolation response and VM leases (docs/agent.md):
 * {"enabled","isolation","isolation_delay_ms","lease_timeout_ms","vms"},
 * vms = [{"id","lease_datastore"}] of the HA VMs whose record is on host
 * (lease_datastore null: no shared disk, no lease). New reference. */
json_t *dv_ha_rt_agent_settings(struct dv_mgr *m, json_t *host, json_t *host_vms);

/* GET /alarms: append the HA alarms raised and not cleared. */
void dv_ha_rt_alarms(struct dv_mgr *m, json_t *out);

/* GET /hosts: add the runtime of a host's HA and BMC to its view: "ha_state"
 * (the core's host state) and, when the host has BMC settings, "bmc"
 * gains "power" (on|off|unknown), "power_read_at" and "error". view is the
 * host view (its "bmc" object is replaced by a copy). */
void dv_ha_rt_host_view(struct dv_mgr *m, json_t *view);

/* DPM (dpm-run.c): power a host on or off through its BMC worker (a
 * request: the result shows in later readings). -ENODEV without a BMC. */
struct dv_bmc_reading;
int dv_ha_rt_bmc_power(struct dv_mgr *m, const char *host_id, bool on);
/* The host's last BMC reading; read_now asks for a fresh one. -ENODEV
 * without a BMC. */
int dv_ha_rt_bmc_reading(struct dv_mgr *m, const char *host_id, bool read_now,
                         struct dv_bmc_reading *ret);

/* ---- cluster settings (the default cluster's document) ---- */

#define DV_CLUSTER_DEFAULT "default"

/* Admission control for a user's power-on of vm (ha-admit.c): 0 when
 * allowed (or not an HA VM, or admission off); 409 ha-admission with the
 * reason when it would break the failover capacity. */
int dv_ha_admit(struct dv_mgr *m, json_t *vm, struct dv_error *err);

/* The default cluster's document (a new reference), created with the
 * default HA settings when missing. */
int dv_cluster_get_default(struct dv_mgr *m, json_t **ret);
/* Its HA settings: the defaults updated with what doc["ha"] holds. */
void dv_cluster_ha_settings(json_t *doc, struct dv_ha_settings *ret);

/* Pure (tested). The settings as the API shows them. */
json_t *dv_ha_settings_to_json(const struct dv_ha_settings *s);
/* Apply the fields present in patch (a PATCH's "ha" object) to s;
 * unknown fields, wrong types, values out of range or settings that do not
 * work together give 400 naming the field. s is untouched on error. */
int dv_ha_settings_patch(struct dv_ha_settings *s, json_t *patch, struct dv_error *err);
