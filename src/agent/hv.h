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
        bool no_locking;          /* QEMU's image locking off (--no-image-locking) */
};

/* Where a disk is mirrored to: a local image file (qcow2, made by the
 * caller, the disk's virtual size) or an NBD export of another host. */
struct dv_hv_mirror_target {
        int disk;               /* index of the disk in the VM's spec */
        const char *path;       /* local qcow2 file, or NULL for NBD */
        const char *nbd_host;   /* with path NULL: IPv4 address of the NBD server */
        int nbd_port;           /* its port */
        const char *nbd_export; /* the export's name */
        int64_t speed;          /* bytes/s of the background copy; 0: no limit */
};

enum dv_mirror_end {
        DV_MIRROR_PIVOT,        /* the VM continues on the copies */
        DV_MIRROR_SYNC,         /* copies in sync, the VM keeps the source */
        DV_MIRROR_ABORT,        /* copies dropped at once */
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
         * kills at once. *ret_path = "acpi" | "forced" | "already-stopped".
         * reason (a static string, or NULL for "host-request") is the reason
         * the VM's exit is reported with, e.g. "lease-lost" for HA's kills. */
        int (*stop)(struct dv_hv *hv, const char *vm_id, bool force, int timeout_s,
                    const char *reason, const char **ret_path, struct dv_error *err);
        int (*reboot)(struct dv_hv *hv, const char *vm_id, struct dv_error *err);
        /* Set a fresh VNC password that expires after ttl_s. */
        int (*console_ticket)(struct dv_hv *hv, const char *vm_id, int ttl_s,
                              json_t **ret_info, struct dv_error *err);
        /* The path of a running VM's VNC UNIX socket (owned string), for
         * the console relay (vnc-relay.c). May be NULL: no console. */
        int (*vnc_path)(struct dv_hv *hv, const char *vm_id, char **ret_path,
                        struct dv_error *err);
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
                          int channels, char **ret_uri, struct dv_error *err);
        /* Source side: migrate a running VM to uri and wait (up to
         * timeout_s) until QEMU reports completed. The source QEMU is then
         * held paused (postmigrate) until migrate_confirm (the target runs
         * the guest: quit, reason "migrated") or migrate_resume (the
         * target is gone: run here again). On failure the
         * migration is cancelled and the source keeps running.
         * max_bandwidth: bytes/s of the memory stream, 0: no cap. channels:
         * multifd channels, the same on both sides (0: 4). *ret_stats:
         * {"total_ms","downtime_ms","setup_ms","transferred","passes",...}. */
        int (*migrate_out)(struct dv_hv *hv, const char *vm_id, const char *uri, int timeout_s,
                           int64_t max_bandwidth, int channels, json_t **ret_stats,
                           struct dv_error *err);
        /* Target side: wait up to timeout_s for the incoming migration to
         * complete and the guest to run (cont if needed), announce the
         * guest's MACs (announce-self); from now on list() reports it.
         * *ret_status: its VMSTATUS. */
        int (*migrate_finish)(struct dv_hv *hv, const char *vm_id, int timeout_s,
                              json_t **ret_status, struct dv_error *err);
        /* Source side, while migrate_out runs (from another thread): its
         * progress (query-migrate: the STATS of migrate_out), or cancel it
         * (migrate_out then resumes the guest and fails). */
        int (*migrate_status)(struct dv_hv *hv, const char *vm_id, json_t **ret_stats,
                              struct dv_error *err);
        int (*migrate_cancel)(struct dv_hv *hv, const char *vm_id, struct dv_error *err);
        /* Target side: kill a prepared target that did not finish and forget
         * it. 0 when there is none. */
        int (*migrate_abort)(struct dv_hv *hv, const char *vm_id, struct dv_error *err);
        /* Source side, after migrate_out completed: quit the held QEMU (0
         * when it is gone already; -EBUSY when the guest runs here, or its
         * migration did not complete). */
        int (*migrate_confirm)(struct dv_hv *hv, const char *vm_id, struct dv_error *err);
        /* Source side: make the guest run here again: cancel an outgoing
         * migration still under way, then cont (a held QEMU gets its disks
         * back). -EBUSY when the migration completed, unless force: the
         * manager knows the target is gone (never two running copies). */
        int (*migrate_resume)(struct dv_hv *hv, const char *vm_id, bool force,
                              struct dv_error *err);
        /* Either side: what this host has of the VM, for recovery:
         * {"present", "incoming" (a target not finished), "runstate"
         * (QEMU's, or null), "migration" (query-migrate status, or null),
         * "held" (a source after completion)}. */
        int (*migrate_query)(struct dv_hv *hv, const char *vm_id, json_t **ret,
                             struct dv_error *err);
        /* Source side, for the migration prediction: the guest's dirty
         * rate in bytes/s measured over calc_s seconds (-1: the
         * hypervisor cannot tell) and the share of its RAM resident
         * (0 < r <= 1; 0: unknown). May be NULL. */
        int (*migrate_measure)(struct dv_hv *hv, const char *vm_id, int calc_s,
                               int64_t *ret_dirty_rate, double *ret_nonzero,
                               struct dv_error *err);

        /* Storage mirroring (docs/migration.md): copy the disks of a
         * running VM while it runs, with blockdev-mirror (sync full,
         * copy-mode write-blocking: a guest write completes once it is on
         * both sides; a background copy does the rest). Any may be NULL.
         *
         * The VM's disks as QEMU has them: [{"disk","node","path",
         * "virtual_size","allocated"}], ordered by disk index. */
        int (*disk_info)(struct dv_hv *hv, const char *vm_id, json_t **ret_disks,
                         struct dv_error *err);
        /* Start one mirror job per target. A VM has at most one set of
         * mirrors at a time (409 otherwise). On failure nothing is left
         * running (the jobs started are cancelled, the target nodes
         * removed); files are the caller's. */
        int (*mirror_start)(struct dv_hv *hv, const char *vm_id,
                            const struct dv_hv_mirror_target *targets, size_t n,
                            struct dv_error *err);
        /* {"jobs":[{"disk","job","offset","len","ready","status","error"?}]} */
        int (*mirror_status)(struct dv_hv *hv, const char *vm_id, json_t **ret_status,
                             struct dv_error *err);
        /* End the mirrors: DV_MIRROR_PIVOT switches each disk to its copy
         * (block-job-complete; the old image is closed and spec.json names
         * the new paths); DV_MIRROR_SYNC stops mirroring once the copies
         * are in sync and keeps the source (block-job-cancel once ready);
         * DV_MIRROR_ABORT drops them at once. Waits up to timeout_s. */
        int (*mirror_finish)(struct dv_hv *hv, const char *vm_id, enum dv_mirror_end how,
                             int timeout_s, struct dv_error *err);
        /* Target side of change host + datastore: on a VM prepared by
         * migrate_in, start QEMU's NBD server on addr:port and export the
         * disks given (indices) writable under their node names ("disk0",
         * ...); the other disks are shared with the source and stay
         * inactive until the switchover. Stopped by
         * migrate_finish or migrate_abort. */
        int (*nbd_export)(struct dv_hv *hv, const char *vm_id, const char *addr, int port,
                          const int *disks, size_t n_disks, struct dv_error *err);
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
        /* Balloon target of a running VM, reservation..memory_mib (409
         * qos-conflict otherwise). *ret_info: {"balloon_target_mib",
         * "balloon_mib"}. May be NULL: not supported. */
        int (*set_balloon)(struct dv_hv *hv, const char *vm_id, int64_t target_mib,
                           json_t **ret_info, struct dv_error *err);
};

extern const struct dv_hv_ops dv_hv_qemu_ops;
/* hv-sim.c: VMs are records with synthetic load, no QEMU (docs/scale.md). */
extern const struct dv_hv_ops dv_hv_sim_ops;
