/* Pure validation of API request bodies: each function reads a parsed JSON
 * body into a plain struct (strings borrowed from the body) or fills a
 * user-facing error naming the field. No store, no I/O. */
#pragma once

#include <jansson.h>

#include "error.h"
#include "qos.h"
#include "util.h"

#define DV_VM_CPUS_MAX 64
#define DV_VM_MEMORY_MIN_MIB 16
#define DV_VM_MEMORY_MAX_MIB 1048576
#define DV_DISK_GIB_MAX 16384
#define DV_VM_DISKS_MAX 16
#define DV_VM_NICS_MAX 8
#define DV_STOP_TIMEOUT_MAX_S 3600

struct dv_disk_req {
        int64_t size_gib;      /* 1..16384 */
        const char *datastore; /* NULL: the host's "HOST-local" */
        struct dv_disk_qos qos; /* I/O limits, 0 = none (docs/qos.md) */
};

struct dv_nic_req {
        const char *portgroup; /* a name */
        const char *ip;        /* dotted IPv4 or NULL */
        int64_t prefix;        /* 1..32 when ip is set, else 0 */
        const char *gateway;   /* dotted IPv4 inside ip/prefix, or NULL */
        const char *mac;       /* "52:54:00:..." style unicast MAC or NULL */
};

struct dv_vm_req {
        const char *name;                      /* valid name */
        int64_t cpus;                          /* 1..64 */
        int64_t max_cpus;                      /* cpus..64 (default cpus) */
        int64_t memory_mib;                    /* 16..1048576 */
        size_t n_disks;                        /* 0..16 */
        struct dv_disk_req disks[DV_VM_DISKS_MAX];
        size_t n_nics;                         /* 0..8 */
        struct dv_nic_req nics[DV_VM_NICS_MAX];
        const char *host;                      /* host id or name, or NULL */
        const char *image;                     /* image id or name, or NULL */
        bool ha;                               /* restart elsewhere on failure */
        const char *kernel_args;               /* extra kernel arguments, or NULL */
        struct dv_cpu_qos cpu_qos;             /* "cpu_qos", defaults when absent */
        struct dv_mem_qos mem_qos;             /* "mem_qos" (docs/qos.md), defaults when absent */
};

/* Extra kernel command-line arguments: at most this many bytes. */
#define DV_VM_KERNEL_ARGS_MAX 256

/* 0 when s is acceptable as extra kernel arguments: printable words of
 * [A-Za-z0-9._=,:/+-] separated by single spaces, within the bound. */
int dv_validate_kernel_args(const char *s, struct dv_error *err);

int dv_validate_vm_create(json_t *body, struct dv_vm_req *ret, struct dv_error *err);

struct dv_stop_req {
        bool force;        /* kill at once */
        int64_t timeout_s; /* 1..3600, default 60 */
};

int dv_validate_vm_stop(json_t *body, struct dv_stop_req *ret, struct dv_error *err);

/* Bodies without fields (start, reboot): {} only. */
int dv_validate_empty(json_t *body, struct dv_error *err);

#define DV_HOST_DATASTORES_MAX 64

struct dv_datastore_info {
        const char *name;     /* a valid name, unique on the host */
        const char *path;     /* absolute */
        int64_t capacity_gib; /* size */
        int64_t free_gib;     /* free space */
};

struct dv_register_req {
        const char *name;      /* host name (a valid name) */
        const char *url;       /* the agent's base URL, http(s)://... */
        const char *hostname;  /* the machine's host name */
        const char *cpu_model; /* e.g. "EPYC" */
        const char *accel;     /* "kvm" or "tcg" */
        const char *version;   /* the agent's version */
        const char *uplink;    /* the host's default DVS uplink (dv_ifname_valid), or NULL */
        const char *migration_address; /* IPv4 migrations to the host arrive at, or NULL */
        int64_t cpus;          /* logical CPUs */
        int64_t memory_mib;    /* physical memory */
        int64_t cpu_mhz;       /* MHz of a core, 0 when not reported */
        json_t *cpu_flags;     /* borrowed array of strings, or NULL */
        size_t n_datastores;   /* entries in datastores */
        struct dv_datastore_info datastores[DV_HOST_DATASTORES_MAX];
};

int dv_validate_register(json_t *body, struct dv_register_req *ret, struct dv_error *err);

/* A heartbeat: {"metrics": {...}, "vms": [VMSTATUS...]}; checks shapes and
 * types (states, ids) and leaves the objects in the body. */
#define DV_HEARTBEAT_VMS_MAX 4096
int dv_validate_heartbeat(json_t *body, struct dv_error *err);

struct dv_image_req {
        const char *name;   /* a valid name */
        const char *path;   /* absolute path of the source file */
        const char *format; /* "qcow2" or "raw" */
};

int dv_validate_image_import(json_t *body, struct dv_image_req *ret, struct dv_error *err);

/* ---- the distributed virtual switch ---- */

#define DV_VLAN_MAX 4094
#define DV_IFNAME_MAX 15 /* IFNAMSIZ - 1 */

struct dv_dvs_req {
        const char *name; /* valid name */
};

int dv_validate_dvs_create(json_t *body, struct dv_dvs_req *ret, struct dv_error *err);

struct dv_dvs_host_req {
        const char *host;   /* host id or name */
        const char *uplink; /* the host's NIC (dv_ifname_valid), or NULL: the host's default */
};

int dv_validate_dvs_add_host(json_t *body, struct dv_dvs_host_req *ret, struct dv_error *err);

struct dv_portgroup_req {
        const char *name;    /* valid name */
        const char *dvs;     /* DVS id or name */
        int64_t vlan;        /* 0..4094, 0 = untagged */
        const char *subnet;  /* "a.b.c.d/n" with no host bits, or NULL */
        const char *gateway; /* a host address inside subnet, or NULL (needs subnet) */
};

int dv_validate_portgroup_create(json_t *body, struct dv_portgroup_req *ret,
                                 struct dv_error *err);
/* PATCH: {"vlan": 0..4094}. */
int dv_validate_portgroup_patch(json_t *body, int64_t *ret_vlan, struct dv_error *err);

/* Pieces, exposed for tests and reuse. */
bool dv_ipv4_parse(const char *s, uint32_t *ret_addr);
bool dv_mac_valid(const char *s); /* xx:xx:xx:xx:xx:xx, unicast, not zero */
/* "a.b.c.d/n" with n in 1..32 (any host bits). */
bool dv_cidr_parse(const char *s, uint32_t *ret_addr, int *ret_prefix);
/* The netmask of a prefix (0..32). */
uint32_t dv_prefix_mask(int prefix);
/* A network interface name: 1..15 characters, no '/', ':', whitespace or
 * control characters, not "." or "..". */
bool dv_ifname_valid(const char *s);
/* A query argument "limit" (NULL: def) in 1..max; 400 invalid-field. */
int dv_validate_limit(const char *arg, int def, int max, int *ret, struct dv_error *err);
/* A query argument boolean "true"/"false" (NULL: false). */
int dv_validate_bool_arg(const char *name, const char *arg, bool *ret, struct dv_error *err);
