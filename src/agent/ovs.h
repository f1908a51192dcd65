/* Open vSwitch for the distributed virtual switch: on each host one OVS
 * bridge per DVS, the host's uplink NIC as a trunk port of it, and every VM
 * tap as an access port tagged with its port group's VLAN (VLAN 0: untagged,
 * i.e. tag 0, the native VLAN of the trunk).
 *
 * Everything goes through `ovs-vsctl --db=DB --timeout=S` (fork/exec, no
 * shell, killed after the timeout), run by a replaceable runner so that the
 * unit tests see the commands without an OVS (tests/unit/test-agent-ovs.c).
 *
 * What Drover makes is marked in the OVS database, so that it can find it
 * again and never touches anything else:
 *   Bridge    external_ids:drover-dvs=DVS          a DVS's bridge
 *   Port      external_ids:drover-uplink=BRIDGE    its uplink (a trunk)
 *   Interface external_ids:attached-mac=MAC,       a VM's tap (as libvirt
 *             external_ids:drover-vm=VM-ID         and OpenStack mark them)
 *
 * Errors fill a dv_error with context (what was being done, ovs-vsctl's own
 * message). Library code: no logging. Thread-safe: one lock serializes the
 * multi-step operations. */
#pragma once

#include <pthread.h>

#include <jansson.h>

#include "error.h"
#include "util.h"

#define DV_OVS_DEFAULT_DB "unix:/var/run/openvswitch/db.sock"
#define DV_OVS_TIMEOUT_MS 10000
#define DV_OVS_MAX_OUTPUT (4 * 1024 * 1024)

/* Runs argv (argv[0] = "ovs-vsctl"); 0 with its stdout in *ret_out (owned)
 * when it exited 0, else err filled with its stderr. */
typedef int (*dv_ovs_run_fn)(void *userdata, const char *const *argv, int timeout_ms,
                             char **ret_out, struct dv_error *err);

struct dv_ovs {
        char *db;               /* --db= of ovs-vsctl: "unix:PATH" or "tcp:..." */
        char *datapath;         /* datapath_type of new bridges: "netdev" or "system" */
        int timeout_ms;         /* per ovs-vsctl run */
        dv_ovs_run_fn run;      /* the runner (dv_ovs_run_vsctl by default) */
        void *run_userdata;     /* for run */
        pthread_mutex_t lock;   /* serializes the operations below */
};

int dv_ovs_init(struct dv_ovs *ovs, const char *db, const char *datapath);
void dv_ovs_done(struct dv_ovs *ovs);

/* The default runner: fork/exec with a timeout (spawn.c). */
int dv_ovs_run_vsctl(void *userdata, const char *const *argv, int timeout_ms, char **ret_out,
                     struct dv_error *err);

/* Create or repair the bridge of DVS dvs: datapath type, marks, uplink as
 * a trunk (another uplink of ours on it is removed), uplink link up.
 * Idempotent. 400 invalid-uplink when the interface does not exist here,
 * 409 in-use when it is a port of another bridge, 409 not-ours when a
 * bridge of that name exists but is not this DVS's. */
int dv_ovs_bridge_ensure(struct dv_ovs *ovs, const char *dvs, const char *bridge,
                         const char *uplink, struct dv_error *err);

/* Delete a DVS bridge (with its ports). *ret_deleted is false when it did
 * not exist. 409 not-ours for a bridge Drover did not make. */
int dv_ovs_bridge_delete(struct dv_ovs *ovs, const char *bridge, bool *ret_deleted,
                         struct dv_error *err);

/* Drover's bridges: a new object bridge -> DVS name. */
int dv_ovs_bridges(struct dv_ovs *ovs, json_t **ret, struct dv_error *err);

/* A VM's tap into bridge as an access port on vlan (0..4094). Replaces a
 * port of that name anywhere. */
int dv_ovs_port_plug(struct dv_ovs *ovs, const char *bridge, const char *port, int vlan,
                     const char *vm_id, const char *mac, struct dv_error *err);
/* Remove a port (no error when it is not there). */
int dv_ovs_port_unplug(struct dv_ovs *ovs, const char *port, struct dv_error *err);

/* Set the VLAN of the VM ports with this MAC (any case), or of the port
 * named port (one of them is NULL). *ret_ports: a new array of the ports
 * changed. 404 not-found when there is none. */
int dv_ovs_port_set_vlan(struct dv_ovs *ovs, const char *mac, const char *port, int vlan,
                         json_t **ret_ports, struct dv_error *err);

/* Traffic shaping of a VM port (docs/qos.md "Network"): OpenFlow meters
 * and flows on its bridge for s's ingress (what the VM sends) and egress
 * (what goes to mac); a direction without an average removes them. */
struct dv_shaping;
int dv_ovs_port_shape(struct dv_ovs *ovs, const char *port, const char *mac,
                      const struct dv_shaping *s, struct dv_error *err);

/* Bring the host in line with the manager (after a registration): ensure
 * every {"name","bridge","uplink"} of dvs, delete Drover's other bridges,
 * give every {"mac","vlan"} of ports its VLAN, and drop VM ports whose tap
 * is gone. Goes on after a failure. *ret: a new object {"bridges":[...],
 * "deleted":[...], "retagged":N, "removed_ports":N, "errors":["..."]}. */
int dv_ovs_sync(struct dv_ovs *ovs, json_t *dvs, json_t *ports, json_t **ret);

/* Pure (tested): the rows of `ovs-vsctl --format=json list TABLE` as
 * objects heading -> value; maps become objects, sets arrays, uuids
 * strings (a one-element set is OVS's atom: left as it is). */
int dv_ovs_parse_list(const char *text, json_t **ret_rows, struct dv_error *err);
