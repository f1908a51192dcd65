/* The hypervisor driver interface of drover-agent: a table of operations.
 * hv-qemu.c drives real QEMU over QMP; hv-sim.c simulates VMs for scale
 * tests (drover-agent --driver sim, drover-sim). The daemon (main.c, api.c, heartbeat.c) only sees this. */
#pragma once

#include <jansson.h>

#include "error.h"
#include "util.h"

struct dv_hv;
struct dv_cgroup;

/* Called from a driver thread when a VM changes state (QMP event or process
 * exit). state is "running", "paused", "crashed" or "stopped"; reason is a
 * short code such as "guest-shutdown", "guest-panicked", "qemu-exited". */
typedef void (*dv_hv_event_cb)(void *userdata, const char *vm_id, const char *state,
                               const char *reason);

struct dv_hv_config {
        const char *run_dir;   /* per-VM state dirs live in run_dir/<vm-id>/ */
        const char *accel;     /* "auto", "kvm" or "tcg" */
        const char *qemu_bin;  /* path of qemu-system-x86_64 */
        bool sandbox;          /* run QEMU with -sandbox on,... (default true) */
        uint64_t console_log_max; /* bytes a console log may reach before it is
                                   * cut back (0: 16 MiB); the guest writes it */
        struct dv_cgroup *cgroup; /* per-VM cgroups (cgroup.h; borrowed, outlives the
                                   * driver), or NULL: no CPU QoS */
        int64_t host_mhz;         /* nominal MHz of a host core, for CPU limits */
        int sim_delay_ms;         /* sim driver: simulated duration of start/stop/migrate */
};

struct dv_hv_ops {
        const char *name; /* "qemu" */
        int (*init)(const struct dv_hv_config *cfg, dv_hv_event_cb cb, void *userdata,
                    struct dv_hv **ret_hv);
        /* Find QEMU processes left by an earlier agent in run_dir and take
         * them over (reconnect QMP, resume watching). Returns the count. */
        int (*adopt)(struct dv_hv *hv);
        /* Start a VM from a SPEC object (docs/api.md). Returns once QEMU
         * runs the guest; fills *ret_status (VMSTATUS) on success. */
        int (*start)(struct dv_hv *hv, json_t *spec, json_t **ret_status, struct dv_error *err);
        /* Stop: ACPI power-down and wait up to timeout_s, then kill; force
         * kills at once. *ret_path = "acpi" | "forced" | "already-stopped". */
        int (*stop)(struct dv_hv *hv, const char *vm_id, bool force, int timeout_s,
                    const char **ret_path, struct dv_error *err);
        int (*reboot)(struct dv_hv *hv, const char *vm_id, struct dv_error *err);
        /* Set a fresh VNC password that expires after ttl_s. */
        int (*console_ticket)(struct dv_hv *hv, const char *vm_id, int ttl_s,
                              json_t **ret_info, struct dv_error *err);
        /* VMSTATUS of every VM the driver knows, including VMs that exited
         * since the last call (reported once as "stopped" with a reason). */
        int (*list)(struct dv_hv *hv, json_t **ret_array);
        void (*free)(struct dv_hv *hv);
        /* Hot-plug vCPUs until count are present (never unplugs: 409 when
         * fewer than present; 409 beyond max_cpus). *ret_present gets the
         * vCPUs now present. The guest still has to bring them online
         * (Tools cpus-online). May be NULL: not supported. */
        int (*set_cpus)(struct dv_hv *hv, const char *vm_id, int count, int *ret_present,
                        struct dv_error *err);

        /* Live migration (docs/migration.md). Any of these may be NULL: not
         * supported. Target side: start QEMU from spec waiting for an
         * incoming migration (same argv as start, plus -incoming defer),
         * set the migration capabilities and listen on addr:port.
         * *ret_uri (owned) is what the source migrates to. The VM is
         * hidden from list() until migrate_finish. */
        int (*migrate_in)(struct dv_hv *hv, json_t *spec, const char *addr, int port,
                          char **ret_uri, struct dv_error *err);
        /* Source side: migrate a running VM to uri and wait (up to
         * timeout_s) until QEMU reports completed, then quit the source QEMU
         * (its exit is reported with reason "migrated"). On failure the
         * migration is cancelled and the source keeps running. *ret_stats:
         * {"total_ms","downtime_ms","setup_ms","transferred","passes",...}. */
        int (*migrate_out)(struct dv_hv *hv, const char *vm_id, const char *uri, int timeout_s,
                           json_t **ret_stats, struct dv_error *err);
        /* Target side: wait up to timeout_s for the incoming migration to
         * complete and the guest to run (cont if needed), announce the
         * guest's MACs (announce-self); from now on list() reports it.
         * *ret_status: its VMSTATUS. */
        int (*migrate_finish)(struct dv_hv *hv, const char *vm_id, int timeout_s,
                              json_t **ret_status, struct dv_error *err);
        /* Target side: kill a prepared target that did not finish and forget
         * it. 0 when there is none. */
        int (*migrate_abort)(struct dv_hv *hv, const char *vm_id, struct dv_error *err);

        /* QoS (docs/qos.md). set_qos changes a running VM's QoS at once:
         * body {"cpu_qos"?: CPU_QOS (merged over the current one),
         * "disks"?: [{"index", "iops_max"?, "bps_max"?}]}; all is checked
         * before anything changes; the spec.json of the VM keeps it.
         * *ret_info (may be NULL) as get_qos. get_qos: {"cpu_qos",
         * "cgroup", "cgroup_version", "quota_us", "weight", "cpus",
         * "cpu_usage_ns", "disks": [{"index","iops_max","bps_max"}]}. Either
         * may be NULL: not supported. */
        int (*set_qos)(struct dv_hv *hv, const char *vm_id, json_t *body, json_t **ret_info,
                       struct dv_error *err);
        int (*get_qos)(struct dv_hv *hv, const char *vm_id, json_t **ret_info,
                       struct dv_error *err);
};

extern const struct dv_hv_ops dv_hv_qemu_ops;
/* hv-sim.c: VMs are records with synthetic load, no QEMU (docs/scale.md). */
extern const struct dv_hv_ops dv_hv_sim_ops;
