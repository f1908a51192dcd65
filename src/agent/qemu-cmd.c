/* SPEC validation and the QEMU command line. See qemu-cmd.h. */
#include "qemu-cmd.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "json.h"

void dv_vm_spec_free(struct dv_vm_spec *spec)
{
        if (!spec)
                return;
        json_decref(spec->json);
        free(spec);
}

bool dv_mac_valid(const char *mac)
{
        if (!mac || strlen(mac) != 17)
                return false;
        for (int i = 0; i < 17; i++) {
                if (i % 3 == 2) {
                        if (mac[i] != ':')
                                return false;
                } else if (!isxdigit((unsigned char)mac[i])) {
                        return false;
                }
        }
        /* The least significant bit of the first octet marks multicast:
         * it is the low bit of the second hex digit. */
        return ((isdigit((unsigned char)mac[1]) ? mac[1] - '0'
                                                : tolower((unsigned char)mac[1]) - 'a' + 10) &
                1) == 0;
}

/* An absolute path QEMU can take in any option: printable ASCII, no ',',
 * no whitespace, no empty, "." or ".." components, no trailing '/'. */
static bool path_valid(const char *p)
{
        size_t n = p ? strlen(p) : 0;

        if (n < 2 || n > DV_VM_MAX_PATH || p[0] != '/')
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)p[i];
                if (c <= 0x20 || c >= 0x7f || c == ',')
                        return false;
        }
        for (const char *c = p + 1;;) {
                size_t len = strcspn(c, "/");

                if (len == 0 || (len == 1 && c[0] == '.') ||
                    (len == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                if (!c[len])
                        return true;
                c += len + 1;
        }
}

/* Interface names: 1..15 of [A-Za-z0-9._-]. */
static bool ifname_valid(const char *s)
{
        size_t n = s ? strlen(s) : 0;

        if (n < 1 || n >= DV_TAP_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
                        return false;
        return true;
}

static int get_path(json_t *obj, const char *key, bool required, const char *label,
                    const char **ret, struct dv_error *err)
{
        const char *s = NULL;
        int r;

        r = dv_json_get_string(obj, key, required, &s, err);
        if (r < 0 || !s)
                return r;
        if (!path_valid(s))
                return dv_error_set(err, 400, "invalid-field",
                                    "%s: '%.200s' is not a usable absolute path (no ',', spaces, "
                                    "'.' or '..' components; at most %d bytes)",
                                    label, s, DV_VM_MAX_PATH);
        *ret = s;
        return 0;
}

/* Prefix the message already in err with "what: ". */
static int prefix_error(struct dv_error *err, int r, const char *fmt, ...)
{
        char prefix[64], msg[sizeof(err->message) + sizeof(prefix) + 2];
        va_list ap;

        if (!err)
                return r;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        snprintf(msg, sizeof(msg), "%s: %s", prefix, err->message);
        msg[sizeof(err->message) - 1] = 0;
        memcpy(err->message, msg, sizeof(err->message));
        return r;
}

static int parse_disks(struct dv_vm_spec *s, json_t *disks, struct dv_error *err)
{
        static const char *const keys[] = { "path", "format", "iops_max", "bps_max", NULL };
        size_t i;
        json_t *d;

        if (!disks || json_is_null(disks))
                return 0;
        if (!json_is_array(disks))
                return dv_error_set(err, 400, "invalid-field", "field 'disks' must be an array");
        if (json_array_size(disks) > DV_VM_MAX_DISKS)
                return dv_error_set(err, 400, "out-of-range",
                                    "field 'disks' has %zu entries, at most %d are allowed",
                                    json_array_size(disks), DV_VM_MAX_DISKS);
        json_array_foreach(disks, i, d) {
                struct dv_vm_disk *disk = &s->disks[i];
                char label[48];
                int r;

                snprintf(label, sizeof(label), "disks[%zu].path", i);
                if (!json_is_object(d))
                        return dv_error_set(err, 400, "invalid-field",
                                            "disks[%zu] must be an object", i);
                r = dv_json_check_keys(d, keys, err);
                if (r < 0)
                        return prefix_error(err, r, "disks[%zu]", i);
                r = get_path(d, "path", true, label, &disk->path, err);
                if (r < 0)
                        return prefix_error(err, r, "disks[%zu]", i);
                disk->format = "qcow2";
                r = dv_json_get_string(d, "format", false, &disk->format, err);
                if (r >= 0)
                        r = dv_disk_qos_parse(d, &disk->qos, err);
                if (r < 0)
                        return prefix_error(err, r, "disks[%zu]", i);
                if (!dv_streq(disk->format, "qcow2") && !dv_streq(disk->format, "raw"))
                        return dv_error_set(err, 400, "invalid-field",
                                            "disks[%zu].format: '%.32s' is not qcow2 or raw", i,
                                            disk->format);
                for (size_t j = 0; j < i; j++)
                        if (dv_streq(s->disks[j].path, disk->path))
                                return dv_error_set(err, 400, "invalid-field",
                                                    "disks[%zu].path: '%.200s' is also disks[%zu]",
                                                    i, disk->path, j);
                s->n_disks = i + 1;
        }
        return 0;
}

int dv_disk_qos_parse(json_t *obj, struct dv_disk_qos *ret, struct dv_error *err)
{
        struct dv_disk_qos q = *ret;
        int r;

        r = dv_json_get_int(obj, "iops_max", false, 0, DV_QOS_IOPS_MAX, &q.iops_max, err);
        if (r >= 0)
                r = dv_json_get_int(obj, "bps_max", false, 0, DV_QOS_BPS_MAX, &q.bps_max, err);
        if (r < 0)
                return r;
        *ret = q;
        return 0;
}

static int parse_nics(struct dv_vm_spec *s, json_t *nics, struct dv_error *err)
{
        static const char *const keys[] = { "mac", "portgroup", "vlan", "bridge", NULL };
        size_t i;
        json_t *n;

        if (!nics || json_is_null(nics))
                return 0;
        if (!json_is_array(nics))
                return dv_error_set(err, 400, "invalid-field", "field 'nics' must be an array");
        if (json_array_size(nics) > DV_VM_MAX_NICS)
                return dv_error_set(err, 400, "out-of-range",
                                    "field 'nics' has %zu entries, at most %d are allowed",
                                    json_array_size(nics), DV_VM_MAX_NICS);
        json_array_foreach(nics, i, n) {
                struct dv_vm_nic *nic = &s->nics[i];
                const char *mac = NULL;
                int64_t vlan = -1;
                int r;

                if (!json_is_object(n))
                        return dv_error_set(err, 400, "invalid-field",
                                            "nics[%zu] must be an object", i);
                r = dv_json_check_keys(n, keys, err);
                if (r >= 0)
                        r = dv_json_get_string(n, "mac", true, &mac, err);
                if (r >= 0)
                        r = dv_json_get_name(n, "portgroup", false, &nic->portgroup, err);
                if (r >= 0)
                        r = dv_json_get_int(n, "vlan", false, 0, 4094, &vlan, err);
                if (r >= 0)
                        r = dv_json_get_string(n, "bridge", false, &nic->bridge, err);
                if (r < 0)
                        return prefix_error(err, r, "nics[%zu]", i);
                if (!dv_mac_valid(mac))
                        return dv_error_set(err, 400, "invalid-field",
                                            "nics[%zu].mac: '%.32s' is not a unicast MAC address "
                                            "like 52:54:00:12:34:56",
                                            i, mac);
                for (int k = 0; k < 17; k++)
                        nic->mac[k] = (char)tolower((unsigned char)mac[k]);
                nic->mac[17] = 0;
                for (size_t j = 0; j < i; j++)
                        if (dv_streq(s->nics[j].mac, nic->mac))
                                return dv_error_set(err, 400, "invalid-field",
                                                    "nics[%zu].mac: %s is also nics[%zu]", i,
                                                    nic->mac, j);
                if (nic->bridge && !ifname_valid(nic->bridge))
                        return dv_error_set(err, 400, "invalid-field",
                                            "nics[%zu].bridge: '%.32s' is not an interface name "
                                            "(1-15 of A-Z a-z 0-9 . _ -)",
                                            i, nic->bridge);
                nic->vlan = (int)vlan;
                s->n_nics = i + 1;
        }
        return 0;
}

static int parse_boot(struct dv_vm_spec *s, json_t *boot, struct dv_error *err)
{
        static const char *const disk_keys[] = { "kind", NULL };
        static const char *const kernel_keys[] = { "kind", "kernel", "initrd", "cmdline", NULL };
        const char *kind = NULL;
        int r;

        s->boot = DV_VM_BOOT_DISK;
        if (!boot || json_is_null(boot))
                return 0;
        if (!json_is_object(boot))
                return dv_error_set(err, 400, "invalid-field", "field 'boot' must be an object");
        r = dv_json_get_string(boot, "kind", true, &kind, err);
        if (r < 0)
                return prefix_error(err, r, "boot");
        if (dv_streq(kind, "disk")) {
                r = dv_json_check_keys(boot, disk_keys, err);
                return r < 0 ? prefix_error(err, r, "boot") : 0;
        }
        if (!dv_streq(kind, "kernel"))
                return dv_error_set(err, 400, "invalid-field",
                                    "boot.kind: '%.32s' is not kernel or disk", kind);
        s->boot = DV_VM_BOOT_KERNEL;
        r = dv_json_check_keys(boot, kernel_keys, err);
        if (r >= 0)
                r = get_path(boot, "kernel", true, "boot.kernel", &s->kernel, err);
        if (r >= 0)
                r = get_path(boot, "initrd", false, "boot.initrd", &s->initrd, err);
        if (r >= 0)
                r = dv_json_get_string(boot, "cmdline", false, &s->cmdline, err);
        if (r < 0)
                return prefix_error(err, r, "boot");
        if (s->cmdline) {
                size_t n = strlen(s->cmdline);

                if (n >= DV_VM_MAX_CMDLINE)
                        return dv_error_set(err, 400, "out-of-range",
                                            "boot.cmdline has %zu bytes, at most %d are allowed",
                                            n, DV_VM_MAX_CMDLINE - 1);
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char)s->cmdline[i] < 0x20 ||
                            (unsigned char)s->cmdline[i] >= 0x7f)
                                return dv_error_set(err, 400, "invalid-field",
                                                    "boot.cmdline: only printable ASCII is allowed "
                                                    "(byte %zu)",
                                                    i);
        }
        return 0;
}

int dv_vm_spec_parse(json_t *spec, struct dv_vm_spec **ret_spec, struct dv_error *err)
{
        /* "tools" (the guest's net configuration) is the agent's business
         * (tools-mgr.c checks it): the command line does not depend on it. */
        static const char *const keys[] = { "id",    "name", "uid",  "cpus", "max_cpus",
                                            "memory_mib", "disks", "nics", "boot", "tools",
                                            "cpu_qos", "lease", NULL };
        _cleanup_(dv_vm_spec_freep) struct dv_vm_spec *s = NULL;
        int64_t uid = 0, cpus = 0, max_cpus = 0, mem = 0;
        int r;

        if (!json_is_object(spec))
                return dv_error_set(err, 400, "invalid-json", "the spec must be a JSON object");
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->json = json_incref(spec);

        r = dv_json_check_keys(spec, keys, err);
        if (r < 0)
                return r;
        r = dv_json_get_string(spec, "id", true, &s->id, err);
        if (r < 0)
                return r;
        if (!dv_uuid_valid(s->id))
                return dv_error_set(err, 400, "invalid-field", "field 'id': '%.64s' is not a UUID",
                                    s->id);
        r = dv_json_get_name(spec, "name", true, &s->name, err);
        if (r < 0)
                return r;
        r = dv_json_get_int(spec, "uid", true, DV_VM_MIN_UID, DV_VM_MAX_UID, &uid, err);
        if (r < 0)
                return r;
        r = dv_json_get_int(spec, "cpus", true, 1, DV_VM_MAX_CPUS, &cpus, err);
        if (r < 0)
                return r;
        max_cpus = cpus;
        r = dv_json_get_int(spec, "max_cpus", false, cpus, DV_VM_MAX_CPUS, &max_cpus, err);
        if (r < 0)
                return r;
        r = dv_json_get_int(spec, "memory_mib", true, DV_VM_MIN_MEMORY_MIB, DV_VM_MAX_MEMORY_MIB,
                            &mem, err);
        if (r < 0)
                return r;
        s->uid = (uid_t)uid;
        s->cpus = (int)cpus;
        s->max_cpus = (int)max_cpus;
        s->memory_mib = mem;

        r = parse_disks(s, json_object_get(spec, "disks"), err);
        if (r < 0)
                return r;
        r = parse_nics(s, json_object_get(spec, "nics"), err);
        if (r < 0)
                return r;
        r = parse_boot(s, json_object_get(spec, "boot"), err);
        if (r < 0)
                return r;
        dv_cpu_qos_default(&s->cpu_qos);
        r = dv_cpu_qos_merge(json_object_get(spec, "cpu_qos"), &s->cpu_qos, err);
        if (r < 0)
                return r;
        if (s->boot == DV_VM_BOOT_DISK && s->n_disks == 0)
                return dv_error_set(err, 400, "missing-field",
                                    "boot.kind is disk but the spec has no disks");
        *ret_spec = TAKE_PTR(s);
        return 0;
}

static bool exists_under(const char *root, const char *path)
{
        _cleanup_(freep) char *p = dv_asprintf("%s%s", root ? root : "", path);
        struct stat st;

        return stat(p, &st) == 0;
}

int dv_qemu_resolve_accel(const char *accel, const char *root, const char **ret_accel)
{
        if (dv_streq(accel, "kvm") || dv_streq(accel, "tcg")) {
                *ret_accel = dv_streq(accel, "kvm") ? "kvm" : "tcg";
                return 0;
        }
        if (!dv_streq(accel, "auto"))
                return -EINVAL;
        if ((exists_under(root, "/sys/module/kvm_intel") ||
             exists_under(root, "/sys/module/kvm_amd")) &&
            exists_under(root, "/dev/kvm"))
                *ret_accel = "kvm";
        else
                *ret_accel = "tcg";
        return 0;
}

void dv_qemu_tap_name(const char *vm_id, unsigned index, char buf[DV_TAP_NAME_MAX])
{
        char hex[13];
        size_t n = 0;

        for (const char *p = vm_id; p && *p && n < 12; p++)
                if (isxdigit((unsigned char)*p))
                        hex[n++] = (char)tolower((unsigned char)*p);
        hex[n] = 0;
        snprintf(buf, DV_TAP_NAME_MAX, "dv%s%u", hex, index % 10);
}

char *dv_qemu_vm_path(const char *run_dir, const char *vm_id, const char *file)
{
        return dv_asprintf("%s/%s/%s", run_dir, vm_id, file);
}

void dv_strv_free(char **v)
{
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

/* A growing argv. Allocation failures abort (dv_asprintf), like the rest of
 * the string helpers. */
struct argv {
        char **v;    /* NULL-terminated */
        size_t n;    /* entries before the NULL */
        size_t cap;  /* allocated entries */
};

static void argv_add(struct argv *a, char *owned)
{
        if (a->n + 2 > a->cap) {
                a->cap = a->cap ? a->cap * 2 : 64;
                a->v = realloc(a->v, a->cap * sizeof(char *));
                if (!a->v)
                        abort();
        }
        a->v[a->n++] = owned;
        a->v[a->n] = NULL;
}

static void argv_addf(struct argv *a, const char *fmt, ...) _printf_(2, 3);
static void argv_addf(struct argv *a, const char *fmt, ...)
{
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        va_end(ap);
        argv_add(a, s);
}

static void argv_add2(struct argv *a, const char *opt, const char *val)
{
        argv_add(a, dv_strdup(opt));
        argv_add(a, dv_strdup(val));
}

/* -blockdev in JSON syntax: no escaping of ',' needed anywhere. */
static char *blockdev_json(const struct dv_vm_disk *d, size_t index, bool no_locking)
{
        _cleanup_(json_decrefp) json_t *j = NULL;
        char node[32];
        char *s;

        snprintf(node, sizeof(node), "disk%zu", index);
        j = json_pack("{s:s, s:s, s:{s:s, s:s}}", "node-name", node, "driver", d->format,
                      "file", "driver", "file", "filename", d->path);
        /* Without QEMU's lock a second QEMU may open the disk: only HA's
         * leases and fencing keep two copies apart (docs/ha.md). */
        if (j && no_locking)
                json_object_set_new(json_object_get(j, "file"), "locking", json_string("off"));
        s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (!s)
                abort();
        return s;
}

int dv_qemu_build_argv(const struct dv_vm_spec *spec, const struct dv_qemu_config *cfg,
                       char ***ret_argv, struct dv_error *err)
{
        struct argv a = { 0 };
        _cleanup_(freep) char *dir = NULL;
        struct sockaddr_un sa;

        if (!cfg->qemu_bin || !*cfg->qemu_bin)
                return dv_error_set(err, 500, "qemu-failed", "no QEMU binary configured");
        if (!path_valid(cfg->run_dir))
                return dv_error_set(err, 500, "qemu-failed",
                                    "run dir '%.200s' is not a usable absolute path",
                                    cfg->run_dir ? cfg->run_dir : "");
        dir = dv_asprintf("%s/%s", cfg->run_dir, spec->id);
        /* The longest socket path must fit in sockaddr_un. */
        if (strlen(dir) + 1 + strlen(DV_QEMU_TOOLS_SOCK) >= sizeof(sa.sun_path))
                return dv_error_set(err, 500, "qemu-failed",
                                    "run dir '%.200s' is too long for UNIX socket paths",
                                    cfg->run_dir);
        if (!dv_streq(cfg->accel, "kvm") && !dv_streq(cfg->accel, "tcg"))
                return dv_error_set(err, 500, "qemu-failed",
                                    "accel '%.16s' is not resolved to kvm or tcg",
                                    cfg->accel ? cfg->accel : "");

        argv_add(&a, dv_strdup(cfg->qemu_bin));
        argv_add(&a, dv_strdup("-name"));
        argv_addf(&a, "guest=%s,debug-threads=on", spec->name);
        argv_add2(&a, "-uuid", spec->id);
        argv_add(&a, dv_strdup("-machine"));
        argv_addf(&a, "q35,accel=%s", cfg->accel);
        argv_add2(&a, "-cpu", dv_streq(cfg->accel, "kvm") ? "host" : "max");
        argv_add(&a, dv_strdup("-smp"));
        argv_addf(&a, "%d,maxcpus=%d", spec->cpus, spec->max_cpus);
        argv_add(&a, dv_strdup("-m"));
        argv_addf(&a, "%" PRId64, spec->memory_mib);
        argv_add(&a, dv_strdup("-nodefaults"));
        argv_add(&a, dv_strdup("-no-user-config"));
        argv_add2(&a, "-display", "none");
        argv_add2(&a, "-msg", "timestamp=on");
        argv_add(&a, dv_strdup("-pidfile"));
        argv_addf(&a, "%s/%s", dir, DV_QEMU_PIDFILE);

        /* QMP */
        argv_add(&a, dv_strdup("-chardev"));
        argv_addf(&a, "socket,id=qmp,path=%s/%s,server=on,wait=off", dir, DV_QEMU_QMP_SOCK);
        argv_add2(&a, "-mon", "chardev=qmp,mode=control");

        /* Serial console into a file, opened O_APPEND so that the driver
         * can cut it back while QEMU writes (hv-qemu.c, console bound). */
        argv_add(&a, dv_strdup("-chardev"));
        argv_addf(&a, "file,id=serial0,path=%s/%s,append=on", dir, DV_QEMU_CONSOLE_LOG);
        argv_add2(&a, "-serial", "chardev:serial0");

        /* Tools channel. */
        argv_add2(&a, "-device", "virtio-serial-pci,id=vser0");
        argv_add(&a, dv_strdup("-chardev"));
        argv_addf(&a, "socket,id=tools0,path=%s/%s,server=on,wait=off", dir, DV_QEMU_TOOLS_SOCK);
        argv_add2(&a, "-device", "virtserialport,bus=vser0.0,chardev=tools0,id=tools0,name="
                                 DV_TOOLS_PORT_NAME);

        argv_add2(&a, "-device", "virtio-balloon-pci,id=balloon0");
        argv_add2(&a, "-device", "pvpanic");
        argv_add2(&a, "-action", "panic=pause");

        /* A display for the VNC console (-nodefaults leaves none): the
         * standard VGA, whose text mode shows the guest's tty0. */
        argv_add2(&a, "-device", "VGA,id=video0");
        argv_add(&a, dv_strdup("-vnc"));
        argv_addf(&a, "unix:%s/%s,password=on", dir, DV_QEMU_VNC_SOCK);

        for (size_t i = 0; i < spec->n_disks; i++) {
                argv_add(&a, dv_strdup("-blockdev"));
                argv_add(&a, blockdev_json(&spec->disks[i], i, cfg->no_locking));
                argv_add(&a, dv_strdup("-device"));
                argv_addf(&a, "virtio-blk-pci,drive=disk%zu,id=virtio-disk%zu%s", i, i,
                          spec->boot == DV_VM_BOOT_DISK && i == 0 ? ",bootindex=1" : "");
        }

        for (size_t i = 0; i < spec->n_nics; i++) {
                const struct dv_vm_nic *nic = &spec->nics[i];

                /* Without a bridge the NIC has nowhere to go: it stays in
                 * the spec but QEMU does not get it. */
                if (!nic->bridge)
                        continue;
                /* The tap is opened without IFF_VNET_HDR (hv-qemu.c), so the
                 * NIC offers no checksum offload and the guest computes its
                 * own checksums. OVS's userspace datapath (the lab's) reads
                 * taps through AF_PACKET and never completes partial
                 * checksums: with offload, ping works but TCP is dropped. */
                argv_add(&a, dv_strdup("-netdev"));
                argv_addf(&a, "tap,id=net%zu,fd=%zu,vhost=off", i, DV_QEMU_TAP_FD_BASE + i);
                argv_add(&a, dv_strdup("-device"));
                argv_addf(&a, "virtio-net-pci,netdev=net%zu,id=nic%zu,mac=%s", i, i, nic->mac);
        }

        if (spec->boot == DV_VM_BOOT_KERNEL) {
                argv_add2(&a, "-kernel", spec->kernel);
                if (spec->initrd)
                        argv_add2(&a, "-initrd", spec->initrd);
                if (spec->cmdline)
                        argv_add2(&a, "-append", spec->cmdline);
        }

        if (cfg->sandbox)
                argv_add2(&a, "-sandbox",
                          "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");

        *ret_argv = a.v;
        return 0;
}
