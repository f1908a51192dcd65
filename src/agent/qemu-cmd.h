/* The QEMU command line of a VM: validate a SPEC (docs/api.md) and build
 * QEMU's argv from it. Pure functions, unit-tested without QEMU; no
 * logging. hv-qemu.c runs what this builds.
 *
 * Every VM gets a state directory RUN_DIR/<vm-id>/ holding the files named
 * below (DV_QEMU_*). */
#pragma once

#include <jansson.h>

#include "error.h"
#include "qos.h"
#include "util.h"

/* Bounds of a SPEC. */
#define DV_VM_MAX_CPUS 64
#define DV_VM_MIN_MEMORY_MIB 16
#define DV_VM_MAX_MEMORY_MIB 1048576
#define DV_VM_MAX_DISKS 16
#define DV_VM_MAX_NICS 8
#define DV_VM_MIN_UID 100000          /* per-VM uids are never below this */
#define DV_VM_MAX_UID 2147483646
#define DV_VM_MAX_CMDLINE 2048        /* x86 COMMAND_LINE_SIZE */
#define DV_VM_MAX_PATH 1024

/* Files in RUN_DIR/<vm-id>/. */
#define DV_QEMU_QMP_SOCK "qmp.sock"       /* QMP, server, one client */
#define DV_QEMU_TOOLS_SOCK "tools.sock"   /* virtio-serial port org.drover.tools.0 */
#define DV_QEMU_VNC_SOCK "vnc.sock"       /* VNC, password (ticket) required */
#define DV_QEMU_CONSOLE_LOG "console.log" /* serial console (ttyS0) output */
#define DV_QEMU_PIDFILE "qemu.pid"        /* written and locked by QEMU */
#define DV_QEMU_LOG "qemu.log"            /* QEMU's stderr */
#define DV_QEMU_SPEC "spec.json"          /* the SPEC the VM was started with */

/* The virtio-serial port name the guest's drover-tools opens. */
#define DV_TOOLS_PORT_NAME "org.drover.tools.0"

struct dv_vm_disk {
        const char *path;      /* absolute path of the image */
        const char *format;    /* "qcow2" or "raw" */
        struct dv_disk_qos qos; /* I/O limits (QMP block_set_io_throttle), 0 = none */
};

struct dv_vm_nic {
        char mac[18];          /* "52:54:00:12:34:56", lower case */
        const char *portgroup; /* port group name, or NULL */
        int vlan;              /* 0..4094, or -1 when not given */
        const char *bridge;    /* bridge to plug the tap into, or NULL: no backend */
};

enum dv_vm_boot {
        DV_VM_BOOT_DISK,       /* firmware boots disk0 */
        DV_VM_BOOT_KERNEL,     /* direct kernel boot */
};

/* A validated SPEC. Strings point into json, which the spec holds. */
struct dv_vm_spec {
        json_t *json;          /* the SPEC object (a reference) */
        const char *id;        /* VM id, a UUID */
        const char *name;      /* VM name (dv_name_valid) */
        uid_t uid;             /* the VM's own uid, >= DV_VM_MIN_UID */
        int cpus;              /* vCPUs at start, 1..max_cpus */
        int max_cpus;          /* hot-plug ceiling, cpus..DV_VM_MAX_CPUS */
        int64_t memory_mib;    /* guest RAM */
        struct dv_vm_disk disks[DV_VM_MAX_DISKS]; /* disk0, disk1, ... */
        size_t n_disks;        /* used entries in disks */
        struct dv_vm_nic nics[DV_VM_MAX_NICS];    /* nic0, nic1, ... */
        size_t n_nics;         /* used entries in nics */
        enum dv_vm_boot boot;  /* how the guest boots */
        const char *kernel;    /* DV_VM_BOOT_KERNEL: kernel image path */
        const char *initrd;    /* DV_VM_BOOT_KERNEL: initrd path, or NULL */
        const char *cmdline;   /* DV_VM_BOOT_KERNEL: kernel command line, or NULL */
        struct dv_cpu_qos cpu_qos; /* "cpu_qos" (docs/qos.md), defaults when absent */
};

/* A disk's "iops_max"/"bps_max" (absent: 0) over *ret; errors name them. */
int dv_disk_qos_parse(json_t *obj, struct dv_disk_qos *ret, struct dv_error *err);

/* Validate a SPEC; 400 errors name the field ("disks[1].path: ..."). On
 * success *ret_spec holds a new reference to spec. */
int dv_vm_spec_parse(json_t *spec, struct dv_vm_spec **ret_spec, struct dv_error *err);
void dv_vm_spec_free(struct dv_vm_spec *spec); /* NULL-safe */
static inline void dv_vm_spec_freep(struct dv_vm_spec **s) { dv_vm_spec_free(*s); }

/* "aa:bb:cc:dd:ee:ff" with hex digits, unicast (first octet even). */
bool dv_mac_valid(const char *mac);

/* Resolve the accel setting: "kvm" and "tcg" stay; "auto" gives "kvm" only
 * when the kvm_intel or kvm_amd module is loaded and /dev/kvm exists (a
 * PVM-only /dev/kvm cannot run stock guests), else "tcg". root prefixes
 * /sys/module and /dev (NULL means "/"; for tests). -EINVAL otherwise. */
int dv_qemu_resolve_accel(const char *accel, const char *root, const char **ret_accel);

/* The tap device of NIC index of a VM: "dv" + 12 hex digits of the id +
 * index digit; at most 15 characters (IFNAMSIZ - 1). */
/* QEMU does not open taps itself (it runs unprivileged and /dev/net/tun
 * may be root-only): the tap of NIC i is passed as this fd + i. */
#define DV_QEMU_TAP_FD_BASE 3
#define DV_TAP_NAME_MAX 16
void dv_qemu_tap_name(const char *vm_id, unsigned index, char buf[DV_TAP_NAME_MAX]);

/* RUN_DIR/<vm-id>/<file> (owned string). */
char *dv_qemu_vm_path(const char *run_dir, const char *vm_id, const char *file);

struct dv_qemu_config {
        const char *qemu_bin;  /* QEMU binary, argv[0] */
        const char *run_dir;   /* absolute, no ',' */
        const char *accel;     /* resolved: "kvm" or "tcg" */
        bool sandbox;          /* add -sandbox on,... */
        bool no_locking;       /* disks with "locking":"off" (HA tests only) */
};

/* Build QEMU's argv (NULL-terminated, owned; free with dv_strv_free). QEMU
 * runs in the foreground (no -daemonize: with it, the full -sandbox kills
 * QEMU, which forks and calls setsid() while daemonizing); hv-qemu.c
 * detaches it instead. NICs with a bridge get a tap backend on the
 * inherited fd DV_QEMU_TAP_FD_BASE + index (the tap named by
 * dv_qemu_tap_name(), opened by the caller); NICs without one are not given
 * to QEMU. 400/500 errors in err. */
int dv_qemu_build_argv(const struct dv_vm_spec *spec, const struct dv_qemu_config *cfg,
                       char ***ret_argv, struct dv_error *err);

void dv_strv_free(char **v); /* NULL-safe */
static inline void dv_strv_freep(char ***v) { dv_strv_free(*v); }

/* Network hook of the QEMU driver (hv-qemu.c), for the DVS code.
 *
 * For every NIC with a bridge, the driver creates the tap named by
 * dv_qemu_tap_name() before QEMU starts (link up; not persistent: QEMU
 * inherits its fd and the tap disappears with QEMU) and then calls
 * hook(plug = true) to connect it to nic->bridge with nic->vlan (e.g. an
 * OVS access port). A failing plug fails the start with the hook's error.
 * When QEMU has exited, or a start failed, the driver calls
 * hook(plug = false) for every bridged NIC of the spec, whether or not its
 * plug happened or the tap still exists: unplug must be idempotent. For a
 * VM adopted without spec.json, unplug is called with nic = NULL for the
 * taps that still exist. Without a hook, taps are created but plugged
 * nowhere. Called without driver locks held, from the thread that starts
 * the VM or from the VM's watcher thread. Set it after init and before any
 * start or adopt. */
struct dv_hv;
typedef int (*dv_hv_qemu_nic_hook)(void *userdata, bool plug, const char *vm_id,
                                   const char *tap, const struct dv_vm_nic *nic,
                                   struct dv_error *err);
void dv_hv_qemu_set_nic_hook(struct dv_hv *hv, dv_hv_qemu_nic_hook hook, void *userdata);
