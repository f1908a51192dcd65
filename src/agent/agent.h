/* drover-agent, the host daemon: configuration, host facts, datastores,
 * the link to the manager (registration + heartbeats) and the agent API.
 * The hypervisor itself sits behind hv.h.
 *
 * Threads: the main thread waits for signals; the HTTP server runs one thread
 * per connection; the link thread registers and sends heartbeats; the driver
 * has threads of its own that call dv_agent_on_vm_event().
 * Lock order: agent->lock, then ds->lock (never both held across a driver
 * call or an HTTP call). */
#pragma once

#include <pthread.h>

#include <jansson.h>

#include "error.h"
#include "http.h"
#include "hv.h"
#include "ovs.h"
#include "tools-mgr.h"
#include "util.h"

#define DV_AGENT_DEFAULT_LISTEN "0.0.0.0:7081"
#define DV_AGENT_DEFAULT_DATA_DIR "/var/lib/drover-agent"
#define DV_AGENT_DEFAULT_QEMU "qemu-system-x86_64"
#define DV_AGENT_DEFAULT_HEARTBEAT_MS 1000
#define DV_AGENT_MAX_BODY (1024 * 1024)   /* request body limit of the agent API */
#define DV_AGENT_MAX_DATASTORES 32        /* --datastore may be given this often */
#define DV_AGENT_CREDENTIAL_LEN 64        /* hex characters of a credential/token */

/* ---- configuration (config.c) ---- */

/* One --datastore NAME=PATH. */
struct dv_agent_ds_arg {
        char *name; /* datastore name as the manager sees it */
        char *path; /* directory, created when missing */
};

struct dv_agent_config {
        char *manager_url;   /* --manager, without a trailing '/' */
        char *listen;        /* --listen ADDR:PORT (IPv4 literal) */
        char *advertise_url; /* --advertise, or derived from listen */
        char *data_dir;      /* --data-dir */
        char *name;          /* --name, or gethostname() */
        char *token_file;    /* --token-file, or NULL */
        char *accel;         /* --accel: "auto", "kvm" or "tcg" */
        char *qemu_bin;      /* --qemu */
        char *driver;        /* --driver: "qemu" (default) or "sim" (docs/scale.md) */
        int sim_delay_ms;    /* --sim-delay-ms: simulated duration of an operation (200) */
        int sim_cpus;        /* --sim-cpus: CPUs a simulated host reports, 0 = the real ones */
        int64_t sim_memory_mib; /* --sim-memory-mib: its memory, 0 = the real one */
        int heartbeat_ms;    /* --heartbeat-ms */
        bool sandbox;        /* false with --no-sandbox */
        char *ovs_db;        /* --ovs-db: ovs-vsctl's --db, "unix:PATH" */
        char *ovs_datapath;  /* --ovs-datapath: "netdev" or "system" */
        char *uplink;        /* --uplink: the default DVS uplink reported to the manager, or NULL */
        char *migration_address; /* --migration-address: incoming migrations' IPv4, or NULL */
        char *cpu_mask;      /* --cpu-mask: CPU features not reported, comma-separated, or NULL */
        int tools_timeout_s; /* --tools-timeout-s: Tools heartbeat loss after this */
        int64_t console_log_max_kib; /* --console-log-max-kib: bound of a VM's console log */
        char *cgroup_mode;   /* --cgroup: "auto", "v1", "v2" or "off" */
        char *cgroup_root;   /* --cgroup-root: the cgroup mount point */
        char *cgroup_parent; /* --cgroup-parent: our subtree, default "drover/NAME" */
        int64_t cpu_mhz;     /* --cpu-mhz: nominal MHz of a core, 0 = detect */
        int64_t vm_memory_mib; /* --vm-memory-mib: memory given to VMs, 0 = MemTotal */
        bool ksm_off;        /* --ksm off: never touch KSM */
        char *isolation_address; /* --isolation-address: pinged by HA's isolation check, or NULL */
        char *watchdog_bmc;  /* --watchdog-bmc: the BMC whose watchdog we pet, or NULL */
        uint16_t watchdog_port; /* its IPMI-over-LAN port (623) */
        char *watchdog_user; /* --watchdog-user */
        char *watchdog_password_file; /* --watchdog-password-file */
        int64_t watchdog_timeout_ms; /* --watchdog-timeout-ms (3000) */
        bool image_locking;  /* false with --no-image-locking (tests only) */
        struct dv_agent_ds_arg datastores[DV_AGENT_MAX_DATASTORES]; /* --datastore */
        size_t n_datastores; /* entries used in datastores[] */
};

enum {
        DV_AGENT_CONFIG_RUN = 0,  /* start the daemon */
        DV_AGENT_CONFIG_EXIT = 1, /* --help / --version printed: exit 0 */
};

/* Parse the command line. Returns DV_AGENT_CONFIG_RUN or _EXIT, or -EINVAL
 * with a one-line message in err. Resets getopt (optind) itself. */
int dv_agent_config_parse(int argc, char **argv, struct dv_agent_config *cfg, char *err,
                          size_t err_len);
void dv_agent_config_done(struct dv_agent_config *cfg);
void dv_agent_config_usage(FILE *f);

/* ---- host facts (hostinfo.c) ---- */

struct dv_host_facts {
        char hostname[256]; /* gethostname() */
        int cpus;           /* online CPUs */
        char *cpu_model;    /* "model name" of /proc/cpuinfo, or "unknown" */
        json_t *cpu_flags;  /* array of strings, sorted as in /proc/cpuinfo */
        int64_t memory_mib; /* MemTotal */
        const char *accel;  /* "kvm" or "tcg" (static string) */
        int64_t cpu_mhz;    /* nominal MHz of a core (--cpu-mhz, cpufreq, /proc/cpuinfo, 1000) */
};

/* Pure parsers (tested): the first "model name" and "flags" of a cpuinfo
 * text; a "Key:   N kB" value of a meminfo text. */
int dv_hostinfo_parse_cpuinfo(const char *text, char **ret_model, json_t **ret_flags);
int dv_hostinfo_parse_meminfo(const char *text, const char *key, uint64_t *ret_kib);
/* auto -> kvm when a KVM vendor module is loaded, else tcg. NULL for a bad value. */
const char *dv_hostinfo_resolve_accel(const char *opt, bool kvm_vendor_module);
bool dv_hostinfo_kvm_vendor_module(void);

int dv_hostinfo_collect(const char *accel_opt, struct dv_host_facts *ret);
void dv_hostinfo_done(struct dv_host_facts *facts);

/* ---- host metrics (metrics.c) ---- */

struct dv_cpu_sample {
        uint64_t busy;  /* jiffies not idle/iowait */
        uint64_t total; /* all jiffies */
};

int dv_metrics_parse_stat(const char *text, struct dv_cpu_sample *ret);
/* Busy percentage between two samples, 0..100, rounded to 0.1. */
double dv_metrics_cpu_pct(const struct dv_cpu_sample *prev, const struct dv_cpu_sample *cur);
int dv_metrics_parse_loadavg(const char *text, double *ret_load1);
int dv_metrics_parse_uptime(const char *text, int64_t *ret_uptime_s);
int dv_metrics_sample_cpu(struct dv_cpu_sample *ret);
/* The heartbeat's "metrics" object; *prev is updated to the new sample. */
int dv_metrics_collect(struct dv_cpu_sample *prev, json_t **ret);

/* Host disk and network counters (docs/api.md, heartbeat "io"). The
 * parsers sum the lines want() accepts into ret (disk: read bytes, write
 * bytes, read ops, write ops; net: rx bytes, tx bytes, rx packets, tx
 * packets) and count them in *ret_n. */
struct dv_datastores;
typedef bool (*dv_metrics_disk_want)(unsigned maj, unsigned min, const char *name,
                                     void *userdata);
int dv_metrics_parse_diskstats(const char *text, dv_metrics_disk_want want, void *userdata,
                               uint64_t ret[4], size_t *ret_n);
int dv_metrics_parse_netdev(const char *text, bool (*want)(const char *name, void *userdata),
                            void *userdata, uint64_t ret[4], size_t *ret_n);
/* Is name a VM's tap (dv_qemu_tap_name)? */
bool dv_metrics_is_vm_tap(const char *name);
/* {"disk":{"t_ms","epoch","read_bytes","write_bytes","read_ops","write_ops"},
 *  "net":{"t_ms","epoch","rx_bytes","tx_bytes","rx_packets","tx_packets"}}
 * of this host: the block devices of its datastores (all disks when none
 * is a block device) and its interfaces but lo and the VMs' taps. */
json_t *dv_metrics_io(const struct dv_datastores *ds);

/* ---- subprocesses (spawn.c) ---- */

/* Run argv[0] (searched in PATH, no shell) with stdin and stdout on
 * /dev/null, capturing up to err_len-1 bytes of stderr into err (trailing
 * newlines removed). Kills it after timeout_ms. Returns 0 with the exit
 * status in *ret_exit (-1 when killed by a signal), or -errno. */
int dv_spawn_capture(const char *const *argv, int timeout_ms, char *err, size_t err_len,
                     int *ret_exit);
/* The same, capturing also up to max_out bytes of stdout into *ret_out
 * (owned, NUL-terminated; may be NULL when not wanted). */
int dv_spawn_output(const char *const *argv, int timeout_ms, size_t max_out, char **ret_out,
                    char *err, size_t err_len, int *ret_exit);

/* ---- datastores and disks (datastore.c) ---- */

struct dv_datastore {
        char *name; /* e.g. "host1-local" */
        char *path; /* canonical (realpath) directory */
};

struct dv_datastores {
        struct dv_datastore items[DV_AGENT_MAX_DATASTORES + 1]; /* local + --datastore */
        size_t n;             /* entries used */
        pthread_mutex_t lock; /* serializes disk create/delete */
};

void dv_datastores_init(struct dv_datastores *ds);
void dv_datastores_done(struct dv_datastores *ds);
/* Create the directory if needed and add it. -EEXIST for a duplicate name. */
int dv_datastores_add(struct dv_datastores *ds, const char *name, const char *path);
const struct dv_datastore *dv_datastores_find(const struct dv_datastores *ds, const char *name);
/* [{"name","path","capacity_gib","free_gib"}...] from statvfs. */
json_t *dv_datastores_to_json(const struct dv_datastores *ds);

/* Is path (canonical) strictly inside root (canonical)? Pure (tested). */
bool dv_path_strictly_within(const char *root, const char *path);
/* The datastore holding the canonical path, or NULL. */
const struct dv_datastore *dv_datastores_owner(const struct dv_datastores *ds,
                                               const char *canonical);

/* DS/VM_ID/NAME.qcow2, thin, chowned to uid:uid, mode 0600. */
int dv_disk_create(struct dv_datastores *ds, const char *datastore, const char *vm_id,
                   const char *name, int64_t size_gib, uid_t uid, char **ret_path,
                   struct dv_error *err);
/* The same, filled from an image: source (an absolute path of a regular
 * file, format "qcow2" or "raw") is copied into a new, independent qcow2
 * (no backing file), grown to size_gib when the image is smaller.
 * *ret_size_gib is the disk's size, rounded up to whole GiB. */
int dv_disk_create_from(struct dv_datastores *ds, const char *datastore, const char *vm_id,
                        const char *name, int64_t size_gib, uid_t uid, const char *source,
                        const char *source_format, char **ret_path, int64_t *ret_size_gib,
                        struct dv_error *err);
/* A blank qcow2 of exactly size_bytes (a multiple of 512): the copy a
 * disk mirror writes into, which must have the source's virtual size. */
int dv_disk_create_bytes(struct dv_datastores *ds, const char *datastore, const char *vm_id,
                         const char *name, int64_t size_bytes, uid_t uid, char **ret_path,
                         struct dv_error *err);
/* Remove a disk file inside a datastore and its VM directory when empty.
 * *ret_deleted is false when the file did not exist. */
int dv_disk_delete(struct dv_datastores *ds, const char *path, bool *ret_deleted,
                   struct dv_error *err);

/* ---- KSM (ksm.c, docs/qos.md) ---- */

struct dv_ksm {
        bool disabled;        /* --ksm off, or KSM not usable */
        bool known;           /* the manager told us the switch once */
        bool on;              /* we switched KSM on */
        bool saved;           /* orig_* hold what we found */
        char orig_run[16];    /* /sys/kernel/mm/ksm/run before us */
        char orig_pages[16];  /* pages_to_scan before us */
        char orig_sleep[16];  /* sleep_millisecs before us */
};

/* pages_to_scan for a host giving vm_memory_mib to VMs: a pass over it
 * in about 10 s at 20 ms per batch, 100..10000. */
int64_t dv_ksm_pages_to_scan(int64_t vm_memory_mib);
/* Follow the cluster's overcommit switch (heartbeat thread only). */
void dv_ksm_apply(struct dv_ksm *k, bool on, int64_t vm_memory_mib);
/* Put back what the agent found (at exit). */
void dv_ksm_restore(struct dv_ksm *k);
/* ksm_run, ksm_shared_mib, ksm_saved_mib, ksm_pages_to_scan,
 * ksm_sleep_ms into metrics (nothing without KSM). */
void dv_ksm_metrics(json_t *metrics);

/* ---- the daemon ---- */

struct dv_agent {
        struct dv_agent_config cfg;  /* parsed flags */
        struct dv_host_facts facts;  /* collected at start */
        struct dv_datastores ds;     /* local + --datastore */
        const struct dv_hv_ops *ops; /* the hypervisor driver */
        struct dv_hv *hv;            /* the driver instance */
        struct dv_ovs ovs;           /* the host's Open vSwitch (the DVS) */
        struct dv_tools_mgr *tools;  /* per-VM Tools channels (agent-tools.c), or NULL */
        struct dv_cgroup *cgroup;    /* per-VM cgroups (cgroup.h), or NULL: no CPU QoS */
        char *credential_path;       /* DATA/credential */
        struct dv_ksm ksm;           /* KSM under memory overcommit (heartbeat thread) */
        struct dv_agent_ha *ha;      /* isolation response, VM leases, BMC watchdog (agent-ha.h) */

        pthread_mutex_t lock;        /* protects the fields below */
        pthread_cond_t cond;         /* signalled on kick / stopping */
        char credential[DV_AGENT_CREDENTIAL_LEN + 1]; /* "" until known */
        bool registered;             /* the manager accepted us since the last 401 */
        bool kick;                   /* a VM changed state: heartbeat now */
        bool stopping;               /* shutting down */
        char host_id[64];            /* the manager's id for this host, "" if unknown */
        json_t *pending;             /* final "stopped" reports not yet delivered (id -> VMSTATUS) */
};

/* heartbeat.c: lock, condition variable, pending reports, datastore list. */
int dv_agent_init(struct dv_agent *agent);
void dv_agent_done(struct dv_agent *agent);

/* Constant-time comparison of a presented token with the expected one. */
bool dv_agent_token_equal(const char *presented, const char *expected);
/* Is s exactly 64 lowercase-or-uppercase hex digits? */
bool dv_agent_token_valid(const char *s);

/* api.c: every disk of a SPEC must be a file inside one of our datastores. */
int dv_agent_check_spec_disks(struct dv_agent *agent, json_t *spec, struct dv_error *err);

/* register.c */
json_t *dv_agent_info_json(struct dv_agent *agent);
/* Load DATA/credential if present. -EPERM when its mode is not 0600. */
int dv_agent_load_credential(struct dv_agent *agent);
/* One registration attempt; 0 when the manager accepted us. Logs. */
int dv_agent_register_once(struct dv_agent *agent);

/* heartbeat.c: the link thread (registration with backoff, heartbeats). */
void dv_agent_on_vm_event(void *userdata, const char *vm_id, const char *state,
                          const char *reason);
int dv_agent_link_start(struct dv_agent *agent, pthread_t *ret_thread);
/* Ask the link thread to end (it does within one HTTP timeout); join it after. */
void dv_agent_link_request_stop(struct dv_agent *agent);
/* The driver's list() plus undelivered final reports. Used by heartbeats
 * and GET /agent/v1/vms alike, so neither loses the other's reports. */
int dv_agent_vms_snapshot(struct dv_agent *agent, json_t **ret_vms);

/* Pending final reports: "stopped" statuses kept until a heartbeat carrying
 * them was accepted. Pure (tested). pending is an object id -> VMSTATUS. */
void dv_heartbeat_track(json_t *pending, json_t *listed);
json_t *dv_heartbeat_vms(json_t *pending, json_t *listed);
/* After the manager accepted sent: drop the pending reports that went out
 * in it (the same objects only: a newer report for the id stays). */
void dv_heartbeat_forget(json_t *pending, json_t *sent);
#define DV_HEARTBEAT_MAX_PENDING 4096

/* api.c: the HTTP handler for /agent/v1 (userdata = struct dv_agent *). */
void dv_agent_api_handle(void *userdata, const struct dv_http_request *req,
                         struct dv_http_response *resp);
