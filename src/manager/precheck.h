/* Migration prechecks: every constraint of a live migration checked at once
 * over a snapshot of facts, plus a prediction of the migration's duration
 * and downtime. Pure logic: no I/O, no locks, no logging. The manager
 * gathers the facts (store documents, the agents' probe of the migration
 * network, the guest's dirty rate) and renders the result for the API and
 * the CLI (`drover vm migrate ... --check`). docs/migration.md lists the
 * checks and the prediction model. */
#pragma once

#include <jansson.h>

#include "error.h"
#include "util.h"

enum dv_migrate_kind {
        DV_MIGRATE_HOST,           /* change host; disks stay on shared storage */
        DV_MIGRATE_HOST_DATASTORE, /* change host + datastore: disks mirrored too */
        DV_MIGRATE_DATASTORE,      /* storage live migration: disks only, same host */
};

enum dv_check_status {
        DV_CHECK_PASS,
        DV_CHECK_FAIL,
        DV_CHECK_SKIP,             /* does not apply to this kind of migration */
};

/* "change-host", "change-host-datastore", "change-datastore". */
const char *dv_migrate_kind_to_string(enum dv_migrate_kind kind);
/* The kind, or -EINVAL. */
int dv_migrate_kind_from_string(const char *s);
/* "pass", "fail", "skip". */
const char *dv_check_status_to_string(enum dv_check_status status);

/* ---- Facts. Every pointer is borrowed; string lists may be NULL when n is 0.
 * Counts of bytes are bytes; rates are bytes per second; -1 means unknown
 * where a comment says so. */

struct dv_precheck_device {
        const char *kind;          /* "usb", "gpu", "pci" */
        const char *id;            /* e.g. "1-1.2", "0000:3b:00.0" */
};

struct dv_precheck_disk {
        const char *name;          /* "disk0" */
        const char *datastore;     /* datastore it lives on */
        int64_t size_bytes;        /* virtual size */
        int64_t allocated_bytes;   /* bytes allocated in the image; -1 unknown (size used) */
        bool shared;               /* attached as a "shared"-type disk (several VMs write it) */
        bool linked_clone;         /* a linked clone: a backing image shared with other VMs */
        bool non_persistent;       /* changes discarded when the VM stops */
        bool icache;               /* host read cache (Icache) on for this disk */
};

struct dv_precheck_nic {
        const char *name;          /* "nic0" */
        const char *portgroup;     /* port group name */
        const char *dvs;           /* DVS of that port group; NULL: none (not checked) */
};

struct dv_precheck_vm {
        const char *name;
        const char *state;         /* VM state as in docs/api.md: "running", ... */
        const char *tools_state;   /* "running", "not-running", "not-installed"; NULL: unknown */
        const char *tools_version; /* or NULL */
        const struct dv_precheck_device *devices; /* passthrough devices */
        size_t n_devices;
        const char *cpu_model;     /* CPU model it was started with; "host" or NULL: the
                                    * source host's own model (host passthrough) */
        const char *const *cpu_flags; /* flags of that model; NULL: unknown */
        size_t n_cpu_flags;
        int64_t cpus;
        int64_t memory_mib;
        int64_t memory_reservation_mib; /* -1: none (admission counts memory_mib) */
        int64_t cpu_reservation_mhz;    /* 0: none */
        const struct dv_precheck_disk *disks;
        size_t n_disks;
        const struct dv_precheck_nic *nics;
        size_t n_nics;
        int64_t dirty_rate;        /* measured guest dirty rate; -1 unknown */
        double nonzero_ratio;      /* share of guest RAM not made of zero pages, (0, 1];
                                    * 0: unknown (taken as 1) */
};

struct dv_precheck_host {
        const char *name;
        const char *state;         /* "connected", "maintenance", "unreachable", ... */
        const char *cluster;       /* cluster name; NULL: a standalone host */
        const char *cpu_model;     /* NULL: unknown */
        const char *const *cpu_flags; /* NULL: unknown */
        size_t n_cpu_flags;
        const char *accel;         /* "kvm", "tcg"; NULL: unknown */
        const char *qemu_version;  /* "7.2.0"; NULL: unknown */
        int64_t cpus;
        int64_t memory_mib;
        int64_t memory_reserved_mib; /* admitted to VMs placed on it (docs/api.md HOST) */
        int64_t cpu_free_mhz;      /* unreserved CPU; -1: reservations not tracked */
        const char *const *dvs;    /* DVSs the host is attached to */
        size_t n_dvs;
        const char *const *datastores; /* datastores the host reaches */
        size_t n_datastores;
        int64_t migrations;        /* migrations running now from or to it */
};

struct dv_precheck_cluster {
        const char *name;
        bool compat_mode;          /* CPU compatibility mode (IMC, like VMware EVC) */
        const char *baseline;      /* its baseline CPU model when compat_mode */
        bool overcommit;           /* memory overcommit switch */
};

struct dv_precheck_datastore {
        const char *name;
        const char *type;          /* "local", "shared", "nfs", "fs", ... */
        bool virtualized;          /* holds image files QEMU can mirror (not FS / raw LUN) */
        int64_t free_bytes;        /* -1: unknown */
};

struct dv_precheck_network {
        bool probed;               /* the source agent probed the target */
        bool reachable;            /* the probe got through */
        int64_t rate;              /* measured throughput; 0: unknown */
        int64_t last_rate;         /* QEMU's stream rate in the last migration between
                                    * the two hosts; 0: none */
        const char *address;       /* target's migration address; or NULL */
        const char *error;         /* why the probe failed; or NULL */
};

/* Settings of the migration engine. dv_precheck_params_default() fills them. */
struct dv_precheck_params {
        int64_t downtime_limit_ms;     /* stop-and-copy when the rest fits in it (100) */
        int64_t switchover_ms;         /* fixed cost of the switchover added to downtime (0) */
        int64_t max_rounds;            /* pre-copy rounds before throttling is assumed (30) */
        double throttle_ratio;         /* throttled dirty rate = ratio x link rate (0.5) */
        int64_t bandwidth_limit;       /* cap on the link rate, bytes/s; 0: none (0) */
        int64_t max_migrations_per_host; /* 0: no limit (2) */
};

struct dv_precheck_facts {
        enum dv_migrate_kind kind;
        struct dv_precheck_vm vm;
        struct dv_precheck_host source;    /* where the VM runs */
        struct dv_precheck_host target;    /* ignored for DV_MIGRATE_DATASTORE */
        const struct dv_precheck_cluster *source_cluster; /* NULL: standalone host */
        const struct dv_precheck_cluster *target_cluster; /* NULL: standalone host */
        const char *datastore;             /* target datastore; NULL for DV_MIGRATE_HOST */
        const struct dv_precheck_datastore *datastores; /* the disks' and the target's */
        size_t n_datastores;
        struct dv_precheck_network network;
        int64_t storage_rate;              /* disk copy throughput; -1 unknown */
        struct dv_precheck_params params;
};

void dv_precheck_params_default(struct dv_precheck_params *params);

/* ---- Result. */

#define DV_PRECHECK_MAX_CHECKS 32

struct dv_precheck_check {
        const char *code;          /* stable, static: "vm-running", ... */
        enum dv_check_status status;
        char reason[384];          /* what was found, one sentence */
        char fix[256];             /* what to do; empty unless failed */
};

struct dv_precheck_prediction {
        bool available;            /* false: see why */
        char why[160];             /* why there is no prediction */
        bool dirty_rate_known;     /* false: predicted with no dirtying (a lower bound) */
        bool converges;            /* pre-copy converges at the guest's own dirty rate */
        bool throttled;            /* the plan throttles the guest (auto-converge / dirty-limit) */
        bool converged;            /* the plan (throttled or not) reaches stop-and-copy */
        double link_rate;          /* effective rate used, bytes/s */
        double guest_dirty_rate;   /* the guest's own dirty rate, bytes/s (0 when unknown) */
        double dirty_rate;         /* dirty rate used, bytes/s (after throttling) */
        int64_t rounds;            /* iterative rounds before stop-and-copy */
        double memory_bytes;       /* bytes of memory sent, every round + stop-and-copy */
        double memory_s;           /* memory phase, stop-and-copy included */
        double disk_bytes;         /* bytes mirrored */
        double disk_s;             /* disk mirror phase (before the memory phase) */
        double downtime_s;         /* guest paused: last copy + switchover */
        double total_s;
};

struct dv_precheck_result {
        enum dv_migrate_kind kind;
        char vm[DV_NAME_MAX + 1];
        char source[DV_NAME_MAX + 1];
        char target[DV_NAME_MAX + 1];      /* = source for DV_MIGRATE_DATASTORE */
        char datastore[DV_NAME_MAX + 1];   /* empty for DV_MIGRATE_HOST */
        bool ok;                           /* no check failed */
        size_t n_failed;
        size_t n_checks;
        struct dv_precheck_check checks[DV_PRECHECK_MAX_CHECKS]; /* every check, fixed order */
        struct dv_precheck_prediction prediction;
};

/* Runs every check (never stopping at a failure) and, when all pass and the
 * rates are known, the prediction. -EINVAL when the facts lack a VM or host
 * name, or a datastore for a kind that needs one. */
int dv_precheck_run(const struct dv_precheck_facts *facts, struct dv_precheck_result *ret);

/* The check with that code, or NULL. */
const struct dv_precheck_check *dv_precheck_result_get(const struct dv_precheck_result *result,
                                                       const char *code);

/* ---- Prediction: a pure function of the model (docs/migration.md). */

/* Bounds the work of a prediction. */
#define DV_PRECHECK_MAX_ROUNDS 10000

struct dv_precheck_model {
        double memory_bytes;       /* guest RAM; 0: no memory phase (storage migration) */
        double nonzero_ratio;      /* (0, 1]: share of RAM sent in the first round */
        double link_rate;          /* bytes/s; > 0 when memory_bytes > 0 */
        double dirty_rate;         /* bytes/s; < 0: unknown (taken as 0) */
        double downtime_limit_s;   /* > 0 */
        double switchover_s;       /* >= 0 */
        int64_t max_rounds;        /* 1..DV_PRECHECK_MAX_ROUNDS */
        double throttle_ratio;     /* (0, 1) */
        double disk_bytes;         /* bytes to mirror, >= 0 */
        double disk_rate;          /* bytes/s; > 0 when disk_bytes > 0 */
};

/* Fills *ret (available = true). -EINVAL for a model out of range. */
int dv_precheck_predict(const struct dv_precheck_model *model,
                        struct dv_precheck_prediction *ret);

/* ---- Rendering. */

/* {"kind","vm","source","target","datastore","ok","blockers":[CODE...],
 *  "checks":[{"code","status","reason","fix"}],"prediction":{...}}.
 * A new reference, or NULL on out-of-memory. */
json_t *dv_precheck_result_to_json(const struct dv_precheck_result *result);

/* One line per check ("PASS vm-running  VM is running", "FAIL code  reason
 * — fix"), a summary line and the prediction. Owned string (never NULL). */
char *dv_precheck_result_to_text(const struct dv_precheck_result *result);

/* ---- Facts from JSON: the API's VM and HOST documents plus the extra
 * fields docs/migration.md lists (unknown keys are ignored, so documents can
 * be passed as they are). The facts borrow from doc and hold a reference to
 * it. 400 "invalid-field" / "missing-field" naming the field. */
int dv_precheck_facts_from_json(json_t *doc, struct dv_precheck_facts **ret,
                                struct dv_error *err);
void dv_precheck_facts_free(struct dv_precheck_facts *facts); /* NULL-safe */
static inline void dv_precheck_facts_freep(struct dv_precheck_facts **f)
{
        dv_precheck_facts_free(*f);
}
