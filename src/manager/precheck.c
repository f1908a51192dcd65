/* Migration prechecks and the pre-copy prediction (precheck.h). Every check
 * runs whatever the others found: the operator sees all blockers at once. */
#include "precheck.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#define MIB (1024.0 * 1024.0)
#define GIB (1024.0 * MIB)

/* How many items a list in a reason names before "and N more". */
#define LIST_SHOWN 6

const char *dv_migrate_kind_to_string(enum dv_migrate_kind kind)
{
        switch (kind) {
        case DV_MIGRATE_HOST:
                return "change-host";
        case DV_MIGRATE_HOST_DATASTORE:
                return "change-host-datastore";
        case DV_MIGRATE_DATASTORE:
                return "change-datastore";
        }
        return "unknown";
}

int dv_migrate_kind_from_string(const char *s)
{
        if (dv_streq(s, "change-host"))
                return DV_MIGRATE_HOST;
        if (dv_streq(s, "change-host-datastore"))
                return DV_MIGRATE_HOST_DATASTORE;
        if (dv_streq(s, "change-datastore"))
                return DV_MIGRATE_DATASTORE;
        return -EINVAL;
}

const char *dv_check_status_to_string(enum dv_check_status status)
{
        switch (status) {
        case DV_CHECK_PASS:
                return "pass";
        case DV_CHECK_FAIL:
                return "fail";
        case DV_CHECK_SKIP:
                return "skip";
        }
        return "unknown";
}

void dv_precheck_params_default(struct dv_precheck_params *params)
{
        *params = (struct dv_precheck_params) {
                .downtime_limit_ms = 100,
                .switchover_ms = 0,
                .max_rounds = 30,
                .throttle_ratio = 0.5,
                .bandwidth_limit = 0,
                .max_migrations_per_host = 2,
        };
}

/* ---- Small bounded text helpers. */

static void vappendf(char *buf, size_t size, const char *fmt, va_list ap) _printf_(3, 0);
static void vappendf(char *buf, size_t size, const char *fmt, va_list ap)
{
        size_t len = strnlen(buf, size);

        if (len + 1 >= size)
                return;
        vsnprintf(buf + len, size - len, fmt, ap);
}

static void appendf(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static void appendf(char *buf, size_t size, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vappendf(buf, size, fmt, ap);
        va_end(ap);
}

/* A list of items for a reason: "a, b, c and 2 more". */
struct list {
        char text[256];
        size_t n;
};

static void list_add(struct list *l, const char *fmt, ...) _printf_(2, 3);
static void list_add(struct list *l, const char *fmt, ...)
{
        va_list ap;

        if (l->n < LIST_SHOWN) {
                if (l->n > 0)
                        appendf(l->text, sizeof(l->text), ", ");
                va_start(ap, fmt);
                vappendf(l->text, sizeof(l->text), fmt, ap);
                va_end(ap);
        }
        l->n++;
}

/* The list's text, with "and N more" when items were left out. */
static const char *list_str(struct list *l)
{
        if (l->n > LIST_SHOWN)
                appendf(l->text, sizeof(l->text), " and %zu more", l->n - LIST_SHOWN);
        return l->text;
}

static void fmt_bytes(double bytes, char *buf, size_t size)
{
        if (bytes >= GIB)
                snprintf(buf, size, "%.1f GiB", bytes / GIB);
        else if (bytes >= MIB)
                snprintf(buf, size, "%.1f MiB", bytes / MIB);
        else if (bytes >= 1024.0)
                snprintf(buf, size, "%.1f KiB", bytes / 1024.0);
        else
                snprintf(buf, size, "%.0f bytes", bytes);
}

static void fmt_duration(double s, char *buf, size_t size)
{
        if (s < 1.0)
                snprintf(buf, size, "%.1f ms", s * 1000.0);
        else
                snprintf(buf, size, "%.2f s", s);
}

static const char *or_unknown(const char *s)
{
        return s ? s : "unknown";
}

static bool str_in(const char *s, const char *const *list, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (dv_streq(s, list[i]))
                        return true;
        return false;
}

static const struct dv_precheck_datastore *find_datastore(const struct dv_precheck_facts *f,
                                                          const char *name)
{
        for (size_t i = 0; i < f->n_datastores; i++)
                if (dv_streq(f->datastores[i].name, name))
                        return &f->datastores[i];
        return NULL;
}

static bool changes_host(const struct dv_precheck_facts *f)
{
        return f->kind != DV_MIGRATE_DATASTORE;
}

static bool same_host(const struct dv_precheck_facts *f)
{
        return dv_streq(f->source.name, f->target.name);
}

/* The host the VM will run on afterwards. */
static const struct dv_precheck_host *dest_host(const struct dv_precheck_facts *f)
{
        return changes_host(f) ? &f->target : &f->source;
}

/* Disks that the migration copies: those not already on the target datastore. */
static bool disk_moves(const struct dv_precheck_facts *f, const struct dv_precheck_disk *d)
{
        return f->kind != DV_MIGRATE_HOST && !dv_streq(d->datastore, f->datastore);
}

static double disk_copy_bytes(const struct dv_precheck_disk *d)
{
        return (double)(d->allocated_bytes >= 0 ? d->allocated_bytes : d->size_bytes);
}

static void pass(struct dv_precheck_check *c, const char *fmt, ...) _printf_(2, 3);
static void pass(struct dv_precheck_check *c, const char *fmt, ...)
{
        va_list ap;

        c->status = DV_CHECK_PASS;
        va_start(ap, fmt);
        vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
        va_end(ap);
}

static void skip(struct dv_precheck_check *c, const char *fmt, ...) _printf_(2, 3);
static void skip(struct dv_precheck_check *c, const char *fmt, ...)
{
        va_list ap;

        c->status = DV_CHECK_SKIP;
        va_start(ap, fmt);
        vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
        va_end(ap);
}

static void fail(struct dv_precheck_check *c, const char *fmt, ...) _printf_(2, 3);
static void fail(struct dv_precheck_check *c, const char *fmt, ...)
{
        va_list ap;

        c->status = DV_CHECK_FAIL;
        va_start(ap, fmt);
        vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
        va_end(ap);
}

static void set_fix(struct dv_precheck_check *c, const char *fmt, ...) _printf_(2, 3);
static void set_fix(struct dv_precheck_check *c, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(c->fix, sizeof(c->fix), fmt, ap);
        va_end(ap);
}

typedef const struct dv_precheck_facts F;
typedef struct dv_precheck_check C;

/* ---- The VM. */

static void check_vm_running(F *f, C *c)
{
        const char *st = f->vm.state;

        if (dv_streq(st, "running")) {
                pass(c, "VM %s is running", f->vm.name);
                return;
        }
        if (dv_streq(st, "migrating")) {
                fail(c, "VM %s is already migrating", f->vm.name);
                set_fix(c, "wait for its migration task to finish, or cancel it (drover task cancel ID)");
        } else if (dv_streq(st, "paused")) {
                fail(c, "VM %s is paused", f->vm.name);
                set_fix(c, "resume the VM; a live migration moves a running VM");
        } else if (dv_streq(st, "starting") || dv_streq(st, "stopping")) {
                fail(c, "VM %s is %s", f->vm.name, st);
                set_fix(c, "wait until the VM is running");
        } else {
                fail(c, "VM %s is %s, not running", f->vm.name, or_unknown(st));
                set_fix(c, "start the VM (drover vm start %s); a live migration moves a running VM",
                        f->vm.name);
        }
}

static void check_tools_running(F *f, C *c)
{
        const char *st = f->vm.tools_state;

        if (dv_streq(st, "running")) {
                pass(c, "Tools is running in the guest (version %s)",
                     or_unknown(f->vm.tools_version));
        } else if (dv_streq(st, "not-installed")) {
                fail(c, "Tools is not installed in the guest");
                set_fix(c, "install drover-tools in the guest and start it");
        } else {
                if (dv_streq(st, "not-running"))
                        fail(c, "Tools is not running in the guest");
                else if (st)
                        fail(c, "Tools is %s in the guest", st);
                else
                        fail(c, "the state of Tools in the guest is unknown");
                set_fix(c, "start drover-tools in the guest, or install it");
        }
}

static void check_no_passthrough(F *f, C *c)
{
        struct list l = { 0 };

        if (f->vm.n_devices == 0) {
                pass(c, "VM has no passthrough devices");
                return;
        }
        for (size_t i = 0; i < f->vm.n_devices; i++)
                list_add(&l, "%s %s", or_unknown(f->vm.devices[i].kind),
                         or_unknown(f->vm.devices[i].id));
        fail(c, "VM has %zu passthrough device%s bound to host %s: %s", f->vm.n_devices,
             f->vm.n_devices == 1 ? "" : "s", or_unknown(f->source.name), list_str(&l));
        set_fix(c, "detach the passthrough devices (USB, GPU, PCI) from the VM first");
}

/* ---- The hosts. */

static void check_not_same_host(F *f, C *c)
{
        if (!same_host(f)) {
                pass(c, "VM moves from host %s to host %s", f->source.name, f->target.name);
                return;
        }
        fail(c, "VM %s already runs on host %s", f->vm.name, f->source.name);
        set_fix(c, "choose another host, or give only --datastore to move the disks on this host");
}

static void check_source_state(F *f, C *c)
{
        const char *st = f->source.state;

        if (dv_streq(st, "connected")) {
                pass(c, "source host %s is connected", f->source.name);
        } else if (dv_streq(st, "maintenance")) {
                pass(c, "source host %s is in maintenance mode (moving VMs off it is allowed)",
                     f->source.name);
        } else {
                fail(c, "source host %s is %s", f->source.name, or_unknown(st));
                set_fix(c, "wait until host %s is connected again (a failed host's HA VMs are "
                        "restarted elsewhere, not migrated)", f->source.name);
        }
}

static void check_target_state(F *f, C *c)
{
        const char *st = f->target.state;

        if (dv_streq(st, "connected")) {
                pass(c, "target host %s is connected", f->target.name);
        } else if (dv_streq(st, "maintenance")) {
                fail(c, "target host %s is in maintenance mode", f->target.name);
                set_fix(c, "take host %s out of maintenance (drover host maintenance %s exit), "
                        "or choose another host", f->target.name, f->target.name);
        } else {
                fail(c, "target host %s is %s, not connected", f->target.name, or_unknown(st));
                set_fix(c, "choose a connected host, or bring host %s back", f->target.name);
        }
}

static void check_target_capacity(F *f, C *c)
{
        const struct dv_precheck_host *t = &f->target;
        const struct dv_precheck_cluster *tc = f->target_cluster;
        int64_t free_mib = t->memory_mib - t->memory_reserved_mib;
        bool over = tc && tc->overcommit && f->vm.memory_reservation_mib >= 0;
        int64_t need_mib = over ? f->vm.memory_reservation_mib : f->vm.memory_mib;
        struct list l = { 0 };

        if (same_host(f)) {
                skip(c, "the VM already runs on host %s", t->name);
                return;
        }
        if (need_mib > free_mib)
                list_add(&l, "the VM needs %" PRId64 " MiB of memory%s, host %s has %" PRId64
                         " MiB unreserved", need_mib, over ? " reserved" : "", t->name,
                         free_mib < 0 ? 0 : free_mib);
        if (f->vm.cpus > t->cpus)
                list_add(&l, "the VM has %" PRId64 " vCPUs, host %s has %" PRId64 " CPU%s",
                         f->vm.cpus, t->name, t->cpus, t->cpus == 1 ? "" : "s");
        if (f->vm.cpu_reservation_mhz > 0 && t->cpu_free_mhz >= 0 &&
            f->vm.cpu_reservation_mhz > t->cpu_free_mhz)
                list_add(&l, "the VM reserves %" PRId64 " MHz of CPU, host %s has %" PRId64
                         " MHz unreserved", f->vm.cpu_reservation_mhz, t->name, t->cpu_free_mhz);
        if (l.n == 0) {
                pass(c, "host %s has %" PRId64 " MiB unreserved for the VM's %" PRId64
                     " MiB%s and %" PRId64 " CPUs for its %" PRId64 " vCPUs", t->name, free_mib,
                     need_mib, over ? " reserved" : "", t->cpus, f->vm.cpus);
                return;
        }
        fail(c, "%s", list_str(&l));
        set_fix(c, "free resources on host %s (migrate or stop VMs there) or choose a host with "
                "room", t->name);
}

static void check_migration_slots(F *f, C *c)
{
        int64_t limit = f->params.max_migrations_per_host;
        const struct dv_precheck_host *hosts[2] = { &f->source, &f->target };
        size_t n = changes_host(f) && !same_host(f) ? 2 : 1;
        struct list l = { 0 };

        if (limit <= 0) {
                pass(c, "no limit on concurrent migrations per host");
                return;
        }
        for (size_t i = 0; i < n; i++)
                if (hosts[i]->migrations >= limit)
                        list_add(&l, "host %s already runs %" PRId64 " migration%s",
                                 hosts[i]->name, hosts[i]->migrations,
                                 hosts[i]->migrations == 1 ? "" : "s");
        if (l.n == 0) {
                pass(c, "fewer than %" PRId64 " migrations run on the host%s", limit,
                     n == 2 ? "s" : "");
                return;
        }
        fail(c, "%s (limit %" PRId64 " per host)", list_str(&l), limit);
        set_fix(c, "wait for a running migration to finish, or raise the per-host migration limit");
}

/* ---- Compatibility of the hosts. */

static bool compat_both(F *f)
{
        const struct dv_precheck_cluster *sc = f->source_cluster, *tc = f->target_cluster;

        return sc && tc && sc->compat_mode && tc->compat_mode;
}

static bool compat_same_baseline(F *f)
{
        return compat_both(f) && f->source_cluster->baseline &&
               dv_streq(f->source_cluster->baseline, f->target_cluster->baseline);
}

static void cpu_fix(F *f, C *c, const char *vm_model)
{
        if (f->source.cpu_model && dv_streq(f->source.cpu_model, f->target.cpu_model))
                set_fix(c, "both hosts have CPU model %s but host %s lacks features: align the "
                        "BIOS settings of the hosts (CPU features turned off), or choose another "
                        "host", f->target.cpu_model, f->target.name);
        else if (compat_same_baseline(f) && !dv_streq(vm_model, f->source_cluster->baseline))
                set_fix(c, "restart the VM (stop, then start) so that it runs the clusters' "
                        "baseline CPU model %s, or choose a host with CPU model %s",
                        f->source_cluster->baseline, vm_model);
        else if (compat_both(f) && !compat_same_baseline(f))
                set_fix(c, "give clusters %s and %s the same compatibility-mode (IMC) baseline, "
                        "or choose a host with CPU model %s", f->source_cluster->name,
                        f->target_cluster->name, vm_model);
        else if (compat_same_baseline(f))
                set_fix(c, "host %s does not support the baseline %s: check its BIOS settings "
                        "(CPU features turned off) or choose another host", f->target.name,
                        vm_model);
        else
                set_fix(c, "turn on the CPU compatibility mode (IMC) in the clusters of both hosts "
                        "with the same baseline and restart the VM on it, or choose a host with "
                        "CPU model %s", vm_model);
}

static void check_cpu_compatible(F *f, C *c)
{
        const struct dv_precheck_host *s = &f->source, *t = &f->target;
        const char *vm_model = f->vm.cpu_model;
        bool host_model = !vm_model || dv_streq(vm_model, "host") ||
                          (s->cpu_model && dv_streq(vm_model, s->cpu_model));
        const char *const *vflags = f->vm.cpu_flags;
        size_t nv = f->vm.n_cpu_flags;
        const char *shown = host_model ? or_unknown(s->cpu_model) : vm_model;
        bool same_model = s->cpu_model && dv_streq(s->cpu_model, t->cpu_model);

        if (!vflags && host_model) {
                vflags = s->cpu_flags;
                nv = s->n_cpu_flags;
        }
        if (vflags && t->cpu_flags) {
                struct list l = { 0 };

                for (size_t i = 0; i < nv; i++)
                        if (!str_in(vflags[i], t->cpu_flags, t->n_cpu_flags))
                                list_add(&l, "%s", vflags[i]);
                if (l.n == 0) {
                        if (same_model && host_model)
                                pass(c, "same CPU model %s on both hosts", shown);
                        else
                                pass(c, "host %s's CPU (%s) has every feature of the VM's CPU "
                                     "model %s", t->name, or_unknown(t->cpu_model), shown);
                        return;
                }
                fail(c, "host %s's CPU (%s) lacks %zu feature%s of the VM's CPU model %s: %s",
                     t->name, or_unknown(t->cpu_model), l.n, l.n == 1 ? "" : "s", shown,
                     list_str(&l));
                cpu_fix(f, c, shown);
                return;
        }
        /* The flags cannot be compared: decide by model names and IMC. */
        if (same_model && host_model) {
                pass(c, "same CPU model %s on both hosts", shown);
        } else if (compat_same_baseline(f) && dv_streq(vm_model, f->source_cluster->baseline)) {
                pass(c, "compatibility mode (IMC) is on in both clusters and the VM runs the "
                     "baseline %s", vm_model);
        } else if (!host_model && t->cpu_model && dv_streq(vm_model, t->cpu_model)) {
                pass(c, "the VM's CPU model %s is host %s's own", vm_model, t->name);
        } else {
                fail(c, "the VM runs CPU model %s, host %s has %s, and compatibility mode (IMC) "
                     "is %s", shown, t->name, or_unknown(t->cpu_model),
                     compat_same_baseline(f) ? "on but the VM does not run its baseline" :
                     compat_both(f) ? "on with different baselines" :
                     "not on in both clusters");
                cpu_fix(f, c, shown);
        }
}

static void check_accel_match(F *f, C *c)
{
        const struct dv_precheck_host *s = &f->source, *t = &f->target;

        if (!s->accel || !t->accel) {
                skip(c, "the accelerator of host %s is unknown", s->accel ? t->name : s->name);
                return;
        }
        if (dv_streq(s->accel, t->accel)) {
                pass(c, "both hosts run VMs with %s", s->accel);
                return;
        }
        fail(c, "host %s runs VMs with %s, host %s with %s", s->name, s->accel, t->name,
             t->accel);
        set_fix(c, "a VM cannot move between KVM and TCG: turn on hardware virtualization "
                "(VT-x/AMD-V) in the BIOS of the %s host, or choose a host with %s",
                dv_streq(s->accel, "tcg") ? "source" : "target", s->accel);
}

/* Compares dotted versions numerically: <0, 0, >0. */
static int version_cmp(const char *a, const char *b)
{
        while (*a || *b) {
                char *ea, *eb;
                unsigned long x = strtoul(a, &ea, 10), y = strtoul(b, &eb, 10);

                if (x != y)
                        return x < y ? -1 : 1;
                a = *ea == '.' ? ea + 1 : ea;
                b = *eb == '.' ? eb + 1 : eb;
                if (a == ea && b == eb) /* neither advanced past a number: stop */
                        break;
        }
        return 0;
}

static void check_qemu_version(F *f, C *c)
{
        const struct dv_precheck_host *s = &f->source, *t = &f->target;

        if (!s->qemu_version || !t->qemu_version) {
                skip(c, "the QEMU version of host %s is unknown",
                     s->qemu_version ? t->name : s->name);
                return;
        }
        if (version_cmp(t->qemu_version, s->qemu_version) >= 0) {
                pass(c, "host %s's QEMU %s can receive from QEMU %s", t->name, t->qemu_version,
                     s->qemu_version);
                return;
        }
        fail(c, "host %s's QEMU %s is older than host %s's QEMU %s", t->name, t->qemu_version,
             s->name, s->qemu_version);
        set_fix(c, "upgrade QEMU on host %s, or choose a host with QEMU %s or later", t->name,
                s->qemu_version);
}

static void check_overcommit_match(F *f, C *c)
{
        const char *sn = f->source.cluster, *tn = f->target.cluster;
        bool so = f->source_cluster && f->source_cluster->overcommit;
        bool to = f->target_cluster && f->target_cluster->overcommit;

        if (!sn && !tn) {
                skip(c, "neither host is in a cluster");
                return;
        }
        if (dv_streq(sn, tn)) {
                skip(c, "both hosts are in cluster %s", sn);
                return;
        }
        if (so == to) {
                pass(c, "memory overcommit is %s on both sides (%s and %s)", so ? "on" : "off",
                     sn ? sn : "no cluster", tn ? tn : "no cluster");
                return;
        }
        fail(c, "memory overcommit is %s %s %s but %s %s %s", so ? "on" : "off",
             sn ? "in cluster" : "on host", sn ? sn : f->source.name, to ? "on" : "off",
             tn ? "in cluster" : "on host", tn ? tn : f->target.name);
        set_fix(c, "set the same memory-overcommit switch on both clusters, or choose a host in "
                "the VM's own cluster");
}

/* ---- Network. */

static void check_target_dvs(F *f, C *c)
{
        const struct dv_precheck_host *t = &f->target;
        struct list missing = { 0 }, used = { 0 }, names = { 0 };

        for (size_t i = 0; i < f->vm.n_nics; i++) {
                const struct dv_precheck_nic *n = &f->vm.nics[i];
                bool seen = false;

                if (!n->dvs)
                        continue;
                for (size_t j = 0; j < i; j++)
                        if (dv_streq(f->vm.nics[j].dvs, n->dvs))
                                seen = true;
                if (seen)
                        continue;
                list_add(&used, "%s", n->dvs);
                if (!str_in(n->dvs, t->dvs, t->n_dvs)) {
                        list_add(&missing, "%s (%s on port group %s)", n->dvs, or_unknown(n->name),
                                 or_unknown(n->portgroup));
                        list_add(&names, "%s", n->dvs);
                }
        }
        if (used.n == 0) {
                pass(c, "the VM has no NICs on a DVS");
                return;
        }
        if (missing.n == 0) {
                pass(c, "host %s is attached to every DVS the VM's NICs use: %s", t->name,
                     list_str(&used));
                return;
        }
        fail(c, "host %s is not attached to DVS %s", t->name, list_str(&missing));
        if (names.n == 1)
                set_fix(c, "attach host %s to DVS %s (drover dvs add-host %s %s), or choose a "
                        "host attached to it", t->name, names.text, names.text, t->name);
        else
                set_fix(c, "attach host %s to DVS %s (drover dvs add-host DVS %s for each), or "
                        "choose a host attached to them", t->name, list_str(&names), t->name);
}

static void check_migration_network(F *f, C *c)
{
        const struct dv_precheck_network *n = &f->network;
        char rate[96] = "rate not measured";

        if (!n->probed) {
                fail(c, "the migration network from host %s to host %s was not probed%s%s",
                     f->source.name, f->target.name, n->error ? ": " : "",
                     n->error ? n->error : "");
                set_fix(c, "check that both agents are connected, then run the check again");
                return;
        }
        if (!n->reachable) {
                fail(c, "host %s cannot reach host %s on the migration network%s%s%s: %s",
                     f->source.name, f->target.name, n->address ? " (" : "",
                     n->address ? n->address : "", n->address ? ")" : "",
                     n->error ? n->error : "no answer");
                set_fix(c, "restore layer-3 connectivity between the hosts' management (or "
                        "migration) networks");
                return;
        }
        if (n->rate > 0) {
                fmt_bytes((double)n->rate, rate, sizeof(rate));
                appendf(rate, sizeof(rate), "/s measured");
        }
        if (n->rate > 0 && n->last_rate > 0) {
                char last[32];

                fmt_bytes((double)n->last_rate, last, sizeof(last));
                appendf(rate, sizeof(rate), ", %s/s in the last migration", last);
        }
        pass(c, "host %s reaches host %s on the migration network%s%s%s, %s", f->source.name,
             f->target.name, n->address ? " (" : "", n->address ? n->address : "",
             n->address ? ")" : "", rate);
}

/* ---- Storage. */

static void check_shared_storage(F *f, C *c)
{
        const struct dv_precheck_host *t = &f->target;
        struct list l = { 0 };

        if (f->vm.n_disks == 0) {
                pass(c, "the VM has no disks");
                return;
        }
        for (size_t i = 0; i < f->vm.n_disks; i++) {
                const struct dv_precheck_disk *d = &f->vm.disks[i];

                if (!str_in(d->datastore, t->datastores, t->n_datastores))
                        list_add(&l, "%s on %s", or_unknown(d->name), or_unknown(d->datastore));
        }
        if (l.n == 0) {
                pass(c, "host %s reaches the datastore of every disk", t->name);
                return;
        }
        fail(c, "host %s does not reach the datastore of %s", t->name, list_str(&l));
        set_fix(c, "add --datastore DS to move the disks too (change host + datastore), or make "
                "the datastore reachable from host %s", t->name);
}

static void check_datastore_reachable(F *f, C *c)
{
        const struct dv_precheck_host *h = dest_host(f);
        struct list l = { 0 };

        if (str_in(f->datastore, h->datastores, h->n_datastores)) {
                pass(c, "host %s reaches datastore %s", h->name, f->datastore);
                return;
        }
        for (size_t i = 0; i < h->n_datastores; i++)
                list_add(&l, "%s", h->datastores[i]);
        fail(c, "host %s does not reach datastore %s", h->name, f->datastore);
        if (l.n > 0)
                set_fix(c, "choose a datastore host %s reaches: %s", h->name, list_str(&l));
        else
                set_fix(c, "host %s reaches no datastore: attach one", h->name);
}

/* Is the datastore of this name one QEMU can mirror? Adds what is wrong to bad. */
static bool datastore_ok(F *f, const char *name, const char *role, struct list *bad,
                         struct list *good)
{
        const struct dv_precheck_datastore *ds = find_datastore(f, name);

        if (!ds) {
                list_add(bad, "no facts about %s datastore %s", role, or_unknown(name));
                return false;
        }
        if (!ds->virtualized || dv_streq(ds->type, "fs")) {
                list_add(bad, "%s datastore %s is of type %s", role, ds->name,
                         or_unknown(ds->type));
                return false;
        }
        list_add(good, "%s (%s)", ds->name, or_unknown(ds->type));
        return true;
}

static void check_datastore_supported(F *f, C *c)
{
        struct list bad = { 0 }, good = { 0 };
        bool target_ok;

        /* The target, then each datastore the moving disks leave (once). */
        target_ok = datastore_ok(f, f->datastore, "target", &bad, &good);
        for (size_t i = 0; i < f->vm.n_disks; i++) {
                const struct dv_precheck_disk *d = &f->vm.disks[i];
                bool seen = false;

                if (!disk_moves(f, d))
                        continue;
                for (size_t j = 0; j < i && !seen; j++)
                        seen = disk_moves(f, &f->vm.disks[j]) &&
                               dv_streq(f->vm.disks[j].datastore, d->datastore);
                if (!seen)
                        datastore_ok(f, d->datastore, "source", &bad, &good);
        }
        if (bad.n == 0) {
                pass(c, "virtualized datastores: %s", list_str(&good));
                return;
        }
        fail(c, "%s; only virtualized datastores can be mirrored", list_str(&bad));
        if (!target_ok)
                set_fix(c, "choose a virtualized target datastore (a local or shared directory "
                        "of images)");
        else
                set_fix(c, "disks on FS or raw datastores cannot be moved live: move them while "
                        "the VM is stopped");
}

static void check_not_same_datastore(F *f, C *c)
{
        size_t moving = 0;

        for (size_t i = 0; i < f->vm.n_disks; i++)
                if (disk_moves(f, &f->vm.disks[i]))
                        moving++;
        if (moving > 0) {
                pass(c, "%zu of %zu disk%s move%s to datastore %s", moving, f->vm.n_disks,
                     f->vm.n_disks == 1 ? "" : "s", moving == 1 ? "s" : "", f->datastore);
                return;
        }
        if (f->vm.n_disks == 0)
                fail(c, "the VM has no disks to move");
        else
                fail(c, "every disk of the VM is already on datastore %s", f->datastore);
        set_fix(c, "choose another datastore");
}

static bool disk_shared(const struct dv_precheck_disk *d) { return d->shared; }
static bool disk_linked_clone(const struct dv_precheck_disk *d) { return d->linked_clone; }
static bool disk_non_persistent(const struct dv_precheck_disk *d) { return d->non_persistent; }
static bool disk_icache(const struct dv_precheck_disk *d) { return d->icache; }

/* A check that no moving disk has a property: one, many are the verb
 * phrases for one disk and for several. */
static void check_disk_flag(F *f, C *c, bool (*has)(const struct dv_precheck_disk *d),
                            const char *one, const char *many, const char *fix)
{
        struct list l = { 0 };

        for (size_t i = 0; i < f->vm.n_disks; i++) {
                const struct dv_precheck_disk *d = &f->vm.disks[i];

                if (has(d) && disk_moves(f, d))
                        list_add(&l, "%s", or_unknown(d->name));
        }
        if (l.n == 0) {
                pass(c, "no disk to move %s", one);
                return;
        }
        fail(c, "%s %s %s", l.n == 1 ? "disk" : "disks", list_str(&l), l.n == 1 ? one : many);
        set_fix(c, "%s", fix);
}

static void check_no_shared_type_disk(F *f, C *c)
{
        check_disk_flag(f, c, disk_shared, "is attached as a shared-type disk",
                        "are attached as shared-type disks",
                        "detach the shared disk first (shared disks stay on shared storage: "
                        "use change host alone)");
}

static void check_no_linked_clone(F *f, C *c)
{
        check_disk_flag(f, c, disk_linked_clone, "is a linked clone", "are linked clones",
                        "make the VM a full clone (consolidate its disks) first, or use change "
                        "host alone on shared storage");
}

static void check_no_non_persistent_disk(F *f, C *c)
{
        check_disk_flag(f, c, disk_non_persistent, "is non-persistent", "are non-persistent",
                        "make the disk persistent first, or use change host alone on shared "
                        "storage");
}

static void check_no_icache_disk(F *f, C *c)
{
        check_disk_flag(f, c, disk_icache, "has Icache on", "have Icache on",
                        "turn Icache off for the VM first");
}

static void check_datastore_capacity(F *f, C *c)
{
        const struct dv_precheck_datastore *ds = find_datastore(f, f->datastore);
        double need = 0;
        char needs[32], frees[32];

        for (size_t i = 0; i < f->vm.n_disks; i++)
                if (disk_moves(f, &f->vm.disks[i]))
                        need += disk_copy_bytes(&f->vm.disks[i]);
        fmt_bytes(need, needs, sizeof(needs));
        if (!ds || ds->free_bytes < 0) {
                skip(c, "the free space of datastore %s is unknown (the disks need %s)",
                     f->datastore, needs);
                return;
        }
        fmt_bytes((double)ds->free_bytes, frees, sizeof(frees));
        if (need <= (double)ds->free_bytes) {
                pass(c, "datastore %s has %s free, the disks to move need %s", ds->name, frees,
                     needs);
                return;
        }
        fail(c, "datastore %s has %s free, the disks to move need %s", ds->name, frees, needs);
        set_fix(c, "free space on datastore %s, or choose a datastore with room", ds->name);
}

/* ---- The table. */

enum {
        K_H = 1 << DV_MIGRATE_HOST,
        K_HD = 1 << DV_MIGRATE_HOST_DATASTORE,
        K_D = 1 << DV_MIGRATE_DATASTORE,
        K_ALL = K_H | K_HD | K_D,
        K_MOVE_VM = K_H | K_HD,
        K_MOVE_DISKS = K_HD | K_D,
};

static const struct {
        const char *code;
        unsigned kinds;
        void (*run)(F *f, C *c);
} checks[] = {
        { "vm-running",             K_ALL,        check_vm_running },
        { "tools-running",          K_MOVE_VM,    check_tools_running },
        { "no-passthrough",         K_MOVE_VM,    check_no_passthrough },
        { "not-same-host",          K_MOVE_VM,    check_not_same_host },
        { "source-state",           K_ALL,        check_source_state },
        { "target-state",           K_MOVE_VM,    check_target_state },
        { "target-capacity",        K_MOVE_VM,    check_target_capacity },
        { "migration-slots",        K_ALL,        check_migration_slots },
        { "cpu-compatible",         K_MOVE_VM,    check_cpu_compatible },
        { "accel-match",            K_MOVE_VM,    check_accel_match },
        { "qemu-version",           K_MOVE_VM,    check_qemu_version },
        { "overcommit-match",       K_MOVE_VM,    check_overcommit_match },
        { "target-dvs",             K_MOVE_VM,    check_target_dvs },
        { "migration-network",      K_MOVE_VM,    check_migration_network },
        { "shared-storage",         K_H,          check_shared_storage },
        { "datastore-reachable",    K_MOVE_DISKS, check_datastore_reachable },
        { "datastore-supported",    K_MOVE_DISKS, check_datastore_supported },
        { "not-same-datastore",     K_D,          check_not_same_datastore },
        { "no-shared-type-disk",    K_MOVE_DISKS, check_no_shared_type_disk },
        { "no-linked-clone",        K_MOVE_DISKS, check_no_linked_clone },
        { "no-non-persistent-disk", K_MOVE_DISKS, check_no_non_persistent_disk },
        { "no-icache-disk",         K_MOVE_DISKS, check_no_icache_disk },
        { "datastore-capacity",     K_MOVE_DISKS, check_datastore_capacity },
};

_Static_assert(ELEMENTSOF(checks) <= DV_PRECHECK_MAX_CHECKS, "too many checks");

static void skip_for_kind(F *f, C *c)
{
        switch (f->kind) {
        case DV_MIGRATE_DATASTORE:
                if (dv_streq(c->code, "tools-running"))
                        skip(c, "storage migration: Tools is not needed");
                else
                        skip(c, "storage migration: the VM stays on host %s", f->source.name);
                break;
        case DV_MIGRATE_HOST:
                skip(c, "change host: the disks stay on their datastores");
                break;
        case DV_MIGRATE_HOST_DATASTORE:
                if (dv_streq(c->code, "shared-storage"))
                        skip(c, "change host + datastore: the disks move to datastore %s",
                             f->datastore);
                else
                        skip(c, "change host + datastore: disks already on %s stay there",
                             f->datastore);
                break;
        }
}

static void copy_name(char *dst, const char *src)
{
        snprintf(dst, DV_NAME_MAX + 1, "%s", src ? src : "");
}

static void predict_facts(F *f, struct dv_precheck_result *res)
{
        struct dv_precheck_prediction *p = &res->prediction;
        struct dv_precheck_model m = {
                .nonzero_ratio = f->vm.nonzero_ratio > 0 && f->vm.nonzero_ratio <= 1 ?
                                 f->vm.nonzero_ratio : 1.0,
                .dirty_rate = (double)f->vm.dirty_rate,
                .downtime_limit_s = (double)f->params.downtime_limit_ms / 1000.0,
                .switchover_s = (double)f->params.switchover_ms / 1000.0,
                .max_rounds = f->params.max_rounds,
                .throttle_ratio = f->params.throttle_ratio,
        };
        double link = (double)f->network.rate;

        /* QEMU's own pace, when a migration between the hosts showed it. */
        if (link > 0 && f->network.last_rate > 0 && (double)f->network.last_rate < link)
                link = (double)f->network.last_rate;

        if (!res->ok) {
                snprintf(p->why, sizeof(p->why), "%zu check%s failed", res->n_failed,
                         res->n_failed == 1 ? "" : "s");
                return;
        }
        if (f->params.bandwidth_limit > 0 && link > f->params.bandwidth_limit)
                link = (double)f->params.bandwidth_limit;
        for (size_t i = 0; i < f->vm.n_disks; i++)
                if (disk_moves(f, &f->vm.disks[i]))
                        m.disk_bytes += disk_copy_bytes(&f->vm.disks[i]);
        if (changes_host(f)) {
                if (link <= 0) {
                        snprintf(p->why, sizeof(p->why), "the migration network's rate was not "
                                 "measured");
                        return;
                }
                m.memory_bytes = (double)f->vm.memory_mib * MIB;
                m.link_rate = link;
                m.disk_rate = f->storage_rate > 0 ? DV_MIN(link, (double)f->storage_rate) : link;
        } else {
                if (f->storage_rate <= 0 && m.disk_bytes > 0) {
                        snprintf(p->why, sizeof(p->why), "the datastores' copy rate was not "
                                 "measured");
                        return;
                }
                m.disk_rate = (double)f->storage_rate;
        }
        if (dv_precheck_predict(&m, p) < 0) {
                *p = (struct dv_precheck_prediction) { 0 };
                snprintf(p->why, sizeof(p->why), "the migration settings are out of range");
        }
}

int dv_precheck_run(const struct dv_precheck_facts *facts, struct dv_precheck_result *ret)
{
        F *f = facts;

        if (!f || !ret || !f->vm.name || !f->source.name ||
            (changes_host(f) && !f->target.name) ||
            (f->kind != DV_MIGRATE_HOST && !f->datastore) ||
            (unsigned)f->kind > DV_MIGRATE_DATASTORE)
                return -EINVAL;

        *ret = (struct dv_precheck_result) { .kind = f->kind, .ok = true };
        copy_name(ret->vm, f->vm.name);
        copy_name(ret->source, f->source.name);
        copy_name(ret->target, dest_host(f)->name);
        copy_name(ret->datastore, f->kind != DV_MIGRATE_HOST ? f->datastore : NULL);

        for (size_t i = 0; i < ELEMENTSOF(checks); i++) {
                C *c = &ret->checks[ret->n_checks++];

                c->code = checks[i].code;
                if (checks[i].kinds & (1u << f->kind))
                        checks[i].run(f, c);
                else
                        skip_for_kind(f, c);
                if (c->status == DV_CHECK_FAIL) {
                        ret->ok = false;
                        ret->n_failed++;
                } else {
                        c->fix[0] = '\0';
                }
        }
        predict_facts(f, ret);
        return 0;
}

const struct dv_precheck_check *dv_precheck_result_get(const struct dv_precheck_result *result,
                                                       const char *code)
{
        for (size_t i = 0; i < result->n_checks; i++)
                if (dv_streq(result->checks[i].code, code))
                        return &result->checks[i];
        return NULL;
}

/* ---- Prediction. */

struct precopy {
        bool converged;
        int64_t rounds;
        double sent, time, downtime;
};

/* Pre-copy at dirty rate d: the first round sends all the non-zero RAM
 * while the guest runs (QEMU never stops it before), each next one what
 * the previous one left dirty, until the rest fits in the downtime
 * limit. */
static struct precopy precopy(const struct dv_precheck_model *m, double d)
{
        double pending = m->memory_bytes * m->nonzero_ratio;
        struct precopy p = { .converged = true };

        while (p.rounds == 0 || pending / m->link_rate > m->downtime_limit_s) {
                double dt = pending / m->link_rate;

                if (p.rounds >= m->max_rounds) {
                        p.converged = false;
                        break;
                }
                p.rounds++;
                p.sent += pending;
                p.time += dt;
                pending = DV_MIN(d * dt, m->memory_bytes);
        }
        /* Stop-and-copy (forced when not converged: what is left). */
        p.downtime = pending / m->link_rate + m->switchover_s;
        p.sent += pending;
        p.time += p.downtime;
        return p;
}

int dv_precheck_predict(const struct dv_precheck_model *m, struct dv_precheck_prediction *ret)
{
        struct dv_precheck_prediction p = { .available = true, .converges = true,
                                            .converged = true };

        if (!m || !ret || !(m->memory_bytes >= 0) || !(m->disk_bytes >= 0) ||
            !(m->switchover_s >= 0))
                return -EINVAL;
        if (m->disk_bytes > 0 && !(m->disk_rate > 0))
                return -EINVAL;
        if (m->memory_bytes > 0 &&
            (!(m->link_rate > 0) || !(m->nonzero_ratio > 0 && m->nonzero_ratio <= 1) ||
             !(m->downtime_limit_s > 0) || m->max_rounds < 1 ||
             m->max_rounds > DV_PRECHECK_MAX_ROUNDS ||
             !(m->throttle_ratio > 0 && m->throttle_ratio < 1)))
                return -EINVAL;

        p.disk_bytes = m->disk_bytes;
        p.disk_s = m->disk_bytes > 0 ? m->disk_bytes / m->disk_rate : 0;
        p.dirty_rate_known = m->dirty_rate >= 0;
        if (m->memory_bytes > 0) {
                double d = p.dirty_rate_known ? m->dirty_rate : 0;
                struct precopy pc = { 0 };

                p.link_rate = m->link_rate;
                p.guest_dirty_rate = d;
                p.converges = d < m->link_rate;
                if (p.converges) {
                        pc = precopy(m, d);
                        p.converges = pc.converged;
                }
                if (!p.converges) {
                        /* The plan: throttle the guest (dirty-limit, else auto-converge). */
                        p.throttled = true;
                        d = DV_MIN(d, m->throttle_ratio * m->link_rate);
                        pc = precopy(m, d);
                }
                p.dirty_rate = d;
                p.converged = pc.converged;
                p.rounds = pc.rounds;
                p.memory_bytes = pc.sent;
                p.memory_s = pc.time;
                p.downtime_s = pc.downtime;
        } else {
                p.downtime_s = m->switchover_s; /* the pivot to the copied disks */
        }
        p.total_s = p.disk_s + p.memory_s + (m->memory_bytes > 0 ? 0 : p.downtime_s);
        *ret = p;
        return 0;
}

/* ---- Rendering. */

static json_t *json_rounded(double x)
{
        if (!(x >= 0))
                return json_integer(0);
        if (x >= 9.0e18) /* beyond int64: not a real migration */
                return json_integer(INT64_MAX);
        return json_integer((json_int_t)(x + 0.5));
}

static json_t *prediction_to_json(const struct dv_precheck_prediction *p)
{
        if (!p->available)
                return json_pack("{s:b, s:s}", "available", 0, "reason", p->why);
        return json_pack("{s:b, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:b, s:b, s:b, "
                         "s:b}",
                         "available", 1,
                         "total_ms", json_rounded(p->total_s * 1000.0),
                         "downtime_ms", json_rounded(p->downtime_s * 1000.0),
                         "memory_ms", json_rounded(p->memory_s * 1000.0),
                         "disk_ms", json_rounded(p->disk_s * 1000.0),
                         "rounds", (json_int_t)p->rounds,
                         "memory_bytes", json_rounded(p->memory_bytes),
                         "disk_bytes", json_rounded(p->disk_bytes),
                         "link_rate", json_rounded(p->link_rate),
                         "guest_dirty_rate", json_rounded(p->guest_dirty_rate),
                         "dirty_rate", json_rounded(p->dirty_rate),
                         "dirty_rate_known", p->dirty_rate_known,
                         "converges", p->converges,
                         "throttled", p->throttled,
                         "converged", p->converged);
}

json_t *dv_precheck_result_to_json(const struct dv_precheck_result *r)
{
        json_t *doc, *checks_j, *blockers;

        checks_j = json_array();
        blockers = json_array();
        doc = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:b, s:o, s:o, s:o}",
                        "kind", dv_migrate_kind_to_string(r->kind),
                        "vm", r->vm,
                        "source", r->source,
                        "target", r->target,
                        "datastore", r->datastore[0] ? r->datastore : NULL,
                        "ok", r->ok,
                        "blockers", blockers,
                        "checks", checks_j,
                        "prediction", prediction_to_json(&r->prediction));
        if (!doc)
                return NULL;
        for (size_t i = 0; i < r->n_checks; i++) {
                const struct dv_precheck_check *c = &r->checks[i];
                json_t *cj = json_pack("{s:s, s:s, s:s, s:s?}",
                                       "code", c->code,
                                       "status", dv_check_status_to_string(c->status),
                                       "reason", c->reason,
                                       "fix", c->fix[0] ? c->fix : NULL);

                if (!cj || json_array_append_new(checks_j, cj) < 0 ||
                    (c->status == DV_CHECK_FAIL &&
                     json_array_append_new(blockers, json_string(c->code)) < 0)) {
                        json_decref(doc);
                        return NULL;
                }
        }
        return doc;
}

/* A growing string; aborts on out-of-memory like dv_asprintf. */
struct text {
        char *buf;
        size_t len, size;
};

static void text_add(struct text *t, const char *fmt, ...) _printf_(2, 3);
static void text_add(struct text *t, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                abort();
        if (t->len + (size_t)n + 1 > t->size) {
                size_t size = DV_MAX(t->size * 2, t->len + (size_t)n + 1);
                char *p = realloc(t->buf, size);

                if (!p)
                        abort();
                t->buf = p;
                t->size = size;
        }
        va_start(ap, fmt);
        vsnprintf(t->buf + t->len, t->size - t->len, fmt, ap);
        va_end(ap);
        t->len += (size_t)n;
}

static void prediction_to_text(struct text *t, const struct dv_precheck_prediction *p)
{
        char total[32], down[32], sent[32], link[32], dirty[32], guest[32], disk[32], disk_s[32];

        if (!p->available) {
                text_add(t, "no prediction: %s\n", p->why);
                return;
        }
        fmt_duration(p->total_s, total, sizeof(total));
        fmt_duration(p->downtime_s, down, sizeof(down));
        text_add(t, "predicted: %s in all, %s downtime\n", total, down);
        if (p->disk_bytes > 0) {
                fmt_bytes(p->disk_bytes, disk, sizeof(disk));
                fmt_duration(p->disk_s, disk_s, sizeof(disk_s));
                text_add(t, "  disks: %s mirrored in %s\n", disk, disk_s);
        }
        if (p->link_rate <= 0)
                return;
        fmt_bytes(p->memory_bytes, sent, sizeof(sent));
        fmt_bytes(p->link_rate, link, sizeof(link));
        fmt_bytes(p->dirty_rate, dirty, sizeof(dirty));
        fmt_bytes(p->guest_dirty_rate, guest, sizeof(guest));
        text_add(t, "  memory: %" PRId64 " pre-copy round%s, %s sent at %s/s; ", p->rounds,
                 p->rounds == 1 ? "" : "s", sent, link);
        if (!p->dirty_rate_known)
                text_add(t, "dirty rate not measured (a lower bound)\n");
        else if (p->throttled)
                text_add(t, "the guest dirties %s/s, too fast to converge: throttled "
                         "(dirty-limit / auto-converge) to %s/s\n", guest, dirty);
        else
                text_add(t, "the guest dirties %s/s\n", guest);
        if (!p->converged)
                text_add(t, "  warning: does not converge even throttled; the switchover is "
                         "forced after the last round\n");
}

char *dv_precheck_result_to_text(const struct dv_precheck_result *r)
{
        struct text t = { 0 };
        size_t skipped = 0;

        for (size_t i = 0; i < r->n_checks; i++) {
                const struct dv_precheck_check *c = &r->checks[i];

                if (c->status == DV_CHECK_SKIP)
                        skipped++;
                text_add(&t, "%s %s  %s%s%s\n", c->status == DV_CHECK_PASS ? "PASS" :
                         c->status == DV_CHECK_FAIL ? "FAIL" : "SKIP", c->code, c->reason,
                         c->fix[0] ? " — " : "", c->fix);
        }
        if (r->ok) {
                text_add(&t, "ok: %zu checks passed, %zu skipped\n", r->n_checks - skipped,
                         skipped);
        } else {
                const char *sep = " ";

                text_add(&t, "blocked by %zu check%s:", r->n_failed, r->n_failed == 1 ? "" : "s");
                for (size_t i = 0; i < r->n_checks; i++)
                        if (r->checks[i].status == DV_CHECK_FAIL) {
                                text_add(&t, "%s%s", sep, r->checks[i].code);
                                sep = ", ";
                        }
                text_add(&t, "\n");
        }
        prediction_to_text(&t, &r->prediction);
        return t.buf;
}

/* ---- Facts from JSON. */

struct facts_owner {
        struct dv_precheck_facts facts;    /* first: the pointer handed out */
        json_t *doc;
        void *allocs[64];                  /* arrays made while loading */
        size_t n_allocs;
};

static void *owner_calloc(struct facts_owner *o, size_t n, size_t size)
{
        void *p;

        if (o->n_allocs >= ELEMENTSOF(o->allocs))
                return NULL;
        p = calloc(n ? n : 1, size);
        if (!p)
                return NULL;
        o->allocs[o->n_allocs++] = p;
        return p;
}

void dv_precheck_facts_free(struct dv_precheck_facts *facts)
{
        struct facts_owner *o = (struct facts_owner *)facts;

        if (!o)
                return;
        for (size_t i = 0; i < o->n_allocs; i++)
                free(o->allocs[i]);
        json_decref(o->doc);
        free(o);
}

static int bad(struct dv_error *err, const char *path, const char *key, const char *what)
{
        return dv_error_set(err, 400, "invalid-field", "field '%s%s%s' %s", path,
                            *path ? "." : "", key, what);
}

static int missing(struct dv_error *err, const char *path, const char *key)
{
        return dv_error_set(err, 400, "missing-field", "field '%s%s%s' is required", path,
                            *path ? "." : "", key);
}

static json_t *get(json_t *obj, const char *key)
{
        json_t *v = json_object_get(obj, key);

        return json_is_null(v) ? NULL : v;
}

static int get_str(json_t *obj, const char *key, bool required, const char **ret,
                   const char *path, struct dv_error *err)
{
        json_t *v = get(obj, key);

        if (!v)
                return required ? missing(err, path, key) : 0;
        if (!json_is_string(v))
                return bad(err, path, key, "must be a string");
        *ret = json_string_value(v);
        return 0;
}

static int get_int(json_t *obj, const char *key, bool required, int64_t min, int64_t *ret,
                   const char *path, struct dv_error *err)
{
        json_t *v = get(obj, key);

        if (!v)
                return required ? missing(err, path, key) : 0;
        if (!json_is_integer(v))
                return bad(err, path, key, "must be an integer");
        if (json_integer_value(v) < min)
                return bad(err, path, key, "is out of range");
        *ret = json_integer_value(v);
        return 0;
}

static int get_num(json_t *obj, const char *key, double min, double max, double *ret,
                   const char *path, struct dv_error *err)
{
        json_t *v = get(obj, key);

        if (!v)
                return 0;
        if (!json_is_number(v))
                return bad(err, path, key, "must be a number");
        if (!(json_number_value(v) >= min && json_number_value(v) <= max))
                return bad(err, path, key, "is out of range");
        *ret = json_number_value(v);
        return 0;
}

static int get_bool(json_t *obj, const char *key, bool *ret, const char *path,
                    struct dv_error *err)
{
        json_t *v = get(obj, key);

        if (!v)
                return 0;
        if (!json_is_boolean(v))
                return bad(err, path, key, "must be true or false");
        *ret = json_is_true(v);
        return 0;
}

/* An array of names: strings, or objects with a "name" (as HOST's datastores). */
static int get_names(struct facts_owner *o, json_t *obj, const char *key,
                     const char *const **ret, size_t *ret_n, const char *path,
                     struct dv_error *err)
{
        json_t *v = get(obj, key), *e;
        const char **names;
        size_t i;

        if (!v)
                return 0;
        if (!json_is_array(v))
                return bad(err, path, key, "must be an array");
        names = owner_calloc(o, json_array_size(v), sizeof(*names));
        if (!names)
                return -ENOMEM;
        json_array_foreach(v, i, e) {
                json_t *n = json_is_object(e) ? json_object_get(e, "name") : e;

                if (!json_is_string(n))
                        return bad(err, path, key, "must hold names");
                names[i] = json_string_value(n);
        }
        *ret = names;
        *ret_n = json_array_size(v);
        return 0;
}

/* The array at key (or NULL when absent), checked to hold objects. */
static int get_objects(json_t *obj, const char *key, json_t **ret, const char *path,
                       struct dv_error *err)
{
        json_t *v = get(obj, key), *e;
        size_t i;

        *ret = NULL;
        if (!v)
                return 0;
        if (!json_is_array(v))
                return bad(err, path, key, "must be an array");
        json_array_foreach(v, i, e)
                if (!json_is_object(e))
                        return bad(err, path, key, "must hold objects");
        *ret = v;
        return 0;
}

static int get_object(json_t *obj, const char *key, bool required, json_t **ret,
                      const char *path, struct dv_error *err)
{
        json_t *v = get(obj, key);

        *ret = NULL;
        if (!v)
                return required ? missing(err, path, key) : 0;
        if (!json_is_object(v))
                return bad(err, path, key, "must be an object");
        *ret = v;
        return 0;
}

static int load_disks(struct facts_owner *o, json_t *vm, struct dv_error *err)
{
        struct dv_precheck_vm *v = &o->facts.vm;
        struct dv_precheck_disk *disks;
        json_t *arr, *e;
        size_t i;
        int r;

        r = get_objects(vm, "disks", &arr, "vm", err);
        if (r < 0 || !arr)
                return r;
        disks = owner_calloc(o, json_array_size(arr), sizeof(*disks));
        if (!disks)
                return -ENOMEM;
        json_array_foreach(arr, i, e) {
                struct dv_precheck_disk *d = &disks[i];
                char path[48];
                int64_t gib = -1;

                snprintf(path, sizeof(path), "vm.disks[%zu]", i);
                d->allocated_bytes = -1;
                d->size_bytes = -1;
                if ((r = get_str(e, "name", false, &d->name, path, err)) < 0 ||
                    (r = get_str(e, "datastore", true, &d->datastore, path, err)) < 0 ||
                    (r = get_int(e, "size_bytes", false, 0, &d->size_bytes, path, err)) < 0 ||
                    (r = get_int(e, "size_gib", false, 0, &gib, path, err)) < 0 ||
                    (r = get_int(e, "allocated_bytes", false, 0, &d->allocated_bytes, path,
                                 err)) < 0 ||
                    (r = get_bool(e, "shared", &d->shared, path, err)) < 0 ||
                    (r = get_bool(e, "linked_clone", &d->linked_clone, path, err)) < 0 ||
                    (r = get_bool(e, "non_persistent", &d->non_persistent, path, err)) < 0 ||
                    (r = get_bool(e, "icache", &d->icache, path, err)) < 0)
                        return r;
                if (d->size_bytes < 0 && gib >= 0) {
                        if (gib > INT64_MAX / (1024 * 1024 * 1024))
                                return bad(err, path, "size_gib", "is out of range");
                        d->size_bytes = gib * 1024 * 1024 * 1024;
                }
                if (d->size_bytes < 0)
                        return missing(err, path, "size_bytes");
        }
        v->disks = disks;
        v->n_disks = json_array_size(arr);
        return 0;
}

static int load_vm(struct facts_owner *o, json_t *vm, struct dv_error *err)
{
        struct dv_precheck_vm *v = &o->facts.vm;
        json_t *tools, *arr, *e;
        size_t i;
        int r;

        v->memory_reservation_mib = -1;
        v->dirty_rate = -1;
        if ((r = get_str(vm, "name", true, &v->name, "vm", err)) < 0 ||
            (r = get_str(vm, "state", true, &v->state, "vm", err)) < 0 ||
            (r = get_str(vm, "cpu_model", false, &v->cpu_model, "vm", err)) < 0 ||
            (r = get_names(o, vm, "cpu_flags", &v->cpu_flags, &v->n_cpu_flags, "vm", err)) < 0 ||
            (r = get_int(vm, "cpus", true, 1, &v->cpus, "vm", err)) < 0 ||
            (r = get_int(vm, "memory_mib", true, 1, &v->memory_mib, "vm", err)) < 0 ||
            (r = get_int(vm, "memory_reservation_mib", false, 0, &v->memory_reservation_mib,
                         "vm", err)) < 0 ||
            (r = get_int(vm, "cpu_reservation_mhz", false, 0, &v->cpu_reservation_mhz, "vm",
                         err)) < 0 ||
            (r = get_int(vm, "dirty_rate", false, 0, &v->dirty_rate, "vm", err)) < 0 ||
            (r = get_num(vm, "nonzero_ratio", 0, 1, &v->nonzero_ratio, "vm", err)) < 0 ||
            (r = get_object(vm, "tools", false, &tools, "vm", err)) < 0)
                return r;
        if (tools &&
            ((r = get_str(tools, "state", false, &v->tools_state, "vm.tools", err)) < 0 ||
             (r = get_str(tools, "version", false, &v->tools_version, "vm.tools", err)) < 0))
                return r;

        r = get_objects(vm, "passthrough", &arr, "vm", err);
        if (r < 0)
                return r;
        if (arr) {
                struct dv_precheck_device *devs = owner_calloc(o, json_array_size(arr),
                                                               sizeof(*devs));
                if (!devs)
                        return -ENOMEM;
                json_array_foreach(arr, i, e) {
                        char path[48];

                        snprintf(path, sizeof(path), "vm.passthrough[%zu]", i);
                        if ((r = get_str(e, "kind", true, &devs[i].kind, path, err)) < 0 ||
                            (r = get_str(e, "id", false, &devs[i].id, path, err)) < 0)
                                return r;
                }
                v->devices = devs;
                v->n_devices = json_array_size(arr);
        }

        r = get_objects(vm, "nics", &arr, "vm", err);
        if (r < 0)
                return r;
        if (arr) {
                struct dv_precheck_nic *nics = owner_calloc(o, json_array_size(arr),
                                                            sizeof(*nics));
                if (!nics)
                        return -ENOMEM;
                json_array_foreach(arr, i, e) {
                        char path[48];

                        snprintf(path, sizeof(path), "vm.nics[%zu]", i);
                        if ((r = get_str(e, "name", false, &nics[i].name, path, err)) < 0 ||
                            (r = get_str(e, "portgroup", false, &nics[i].portgroup, path,
                                         err)) < 0 ||
                            (r = get_str(e, "dvs", false, &nics[i].dvs, path, err)) < 0)
                                return r;
                }
                v->nics = nics;
                v->n_nics = json_array_size(arr);
        }
        return load_disks(o, vm, err);
}

static int load_host(struct facts_owner *o, json_t *h, const char *path,
                     struct dv_precheck_host *ret, struct dv_error *err)
{
        int r;

        ret->cpu_free_mhz = -1;
        if ((r = get_str(h, "name", true, &ret->name, path, err)) < 0 ||
            (r = get_str(h, "state", true, &ret->state, path, err)) < 0 ||
            (r = get_str(h, "cluster", false, &ret->cluster, path, err)) < 0 ||
            (r = get_str(h, "cpu_model", false, &ret->cpu_model, path, err)) < 0 ||
            (r = get_names(o, h, "cpu_flags", &ret->cpu_flags, &ret->n_cpu_flags, path,
                           err)) < 0 ||
            (r = get_str(h, "accel", false, &ret->accel, path, err)) < 0 ||
            (r = get_str(h, "qemu_version", false, &ret->qemu_version, path, err)) < 0 ||
            (r = get_int(h, "cpus", true, 0, &ret->cpus, path, err)) < 0 ||
            (r = get_int(h, "memory_mib", true, 0, &ret->memory_mib, path, err)) < 0 ||
            (r = get_int(h, "memory_reserved_mib", false, 0, &ret->memory_reserved_mib, path,
                         err)) < 0 ||
            (r = get_int(h, "cpu_free_mhz", false, 0, &ret->cpu_free_mhz, path, err)) < 0 ||
            (r = get_names(o, h, "dvs", &ret->dvs, &ret->n_dvs, path, err)) < 0 ||
            (r = get_names(o, h, "datastores", &ret->datastores, &ret->n_datastores, path,
                           err)) < 0 ||
            (r = get_int(h, "migrations", false, 0, &ret->migrations, path, err)) < 0)
                return r;
        return 0;
}

static int load_clusters(struct facts_owner *o, json_t *doc, struct dv_error *err)
{
        struct dv_precheck_facts *f = &o->facts;
        struct dv_precheck_cluster *cl = NULL;
        size_t n = 0, i;
        json_t *arr, *e;
        int r;

        r = get_objects(doc, "clusters", &arr, "", err);
        if (r < 0)
                return r;
        if (arr) {
                n = json_array_size(arr);
                cl = owner_calloc(o, n, sizeof(*cl));
                if (!cl)
                        return -ENOMEM;
                json_array_foreach(arr, i, e) {
                        char path[48];

                        snprintf(path, sizeof(path), "clusters[%zu]", i);
                        if ((r = get_str(e, "name", true, &cl[i].name, path, err)) < 0 ||
                            (r = get_bool(e, "compat_mode", &cl[i].compat_mode, path, err)) < 0 ||
                            (r = get_str(e, "baseline", false, &cl[i].baseline, path, err)) < 0 ||
                            (r = get_bool(e, "overcommit", &cl[i].overcommit, path, err)) < 0)
                                return r;
                        if (cl[i].compat_mode && !cl[i].baseline)
                                return missing(err, path, "baseline");
                }
        }
        for (int k = 0; k < 2; k++) {
                const struct dv_precheck_host *h = k == 0 ? &f->source : &f->target;
                const struct dv_precheck_cluster **slot = k == 0 ? &f->source_cluster :
                                                                   &f->target_cluster;

                if (!h->cluster)
                        continue;
                for (i = 0; i < n; i++)
                        if (dv_streq(cl[i].name, h->cluster))
                                *slot = &cl[i];
                if (!*slot)
                        return bad(err, k == 0 ? "source" : "target", "cluster",
                                   "names a cluster missing from 'clusters'");
        }
        return 0;
}

static int load_datastores(struct facts_owner *o, json_t *doc, struct dv_error *err)
{
        struct dv_precheck_datastore *dss;
        json_t *arr, *e;
        size_t i;
        int r;

        r = get_objects(doc, "datastores", &arr, "", err);
        if (r < 0 || !arr)
                return r;
        dss = owner_calloc(o, json_array_size(arr), sizeof(*dss));
        if (!dss)
                return -ENOMEM;
        json_array_foreach(arr, i, e) {
                struct dv_precheck_datastore *d = &dss[i];
                char path[48];
                int64_t gib = -1;

                snprintf(path, sizeof(path), "datastores[%zu]", i);
                d->free_bytes = -1;
                if ((r = get_str(e, "name", true, &d->name, path, err)) < 0 ||
                    (r = get_str(e, "type", false, &d->type, path, err)) < 0 ||
                    (r = get_int(e, "free_bytes", false, 0, &d->free_bytes, path, err)) < 0 ||
                    (r = get_int(e, "free_gib", false, 0, &gib, path, err)) < 0)
                        return r;
                /* Default: FS (distributed block storage) and raw LUNs are not virtualized. */
                d->virtualized = !(dv_streq(d->type, "fs") || dv_streq(d->type, "block") ||
                                   dv_streq(d->type, "lun"));
                if ((r = get_bool(e, "virtualized", &d->virtualized, path, err)) < 0)
                        return r;
                if (d->free_bytes < 0 && gib >= 0) {
                        if (gib > INT64_MAX / (1024 * 1024 * 1024))
                                return bad(err, path, "free_gib", "is out of range");
                        d->free_bytes = gib * 1024 * 1024 * 1024;
                }
        }
        o->facts.datastores = dss;
        o->facts.n_datastores = json_array_size(arr);
        return 0;
}

static int load_params(json_t *doc, struct dv_precheck_params *p, struct dv_error *err)
{
        json_t *params;
        int r;

        if ((r = get_object(doc, "params", false, &params, "", err)) < 0 || !params)
                return r;
        if ((r = get_int(params, "downtime_limit_ms", false, 1, &p->downtime_limit_ms, "params",
                         err)) < 0 ||
            (r = get_int(params, "switchover_ms", false, 0, &p->switchover_ms, "params",
                         err)) < 0 ||
            (r = get_int(params, "max_rounds", false, 1, &p->max_rounds, "params", err)) < 0 ||
            (r = get_num(params, "throttle_ratio", 0.01, 0.99, &p->throttle_ratio, "params",
                         err)) < 0 ||
            (r = get_int(params, "bandwidth_limit", false, 0, &p->bandwidth_limit, "params",
                         err)) < 0 ||
            (r = get_int(params, "max_migrations_per_host", false, 0,
                         &p->max_migrations_per_host, "params", err)) < 0)
                return r;
        return 0;
}

static int load_facts(struct facts_owner *o, json_t *doc, struct dv_error *err)
{
        struct dv_precheck_facts *f = &o->facts;
        const char *kind = NULL;
        json_t *vm, *src, *tgt, *net;
        int r;

        if (!json_is_object(doc))
                return dv_error_set(err, 400, "invalid-json", "the facts must be a JSON object");
        if ((r = get_str(doc, "kind", true, &kind, "", err)) < 0)
                return r;
        r = dv_migrate_kind_from_string(kind);
        if (r < 0)
                return bad(err, "", "kind", "must be change-host, change-host-datastore or "
                           "change-datastore");
        f->kind = (enum dv_migrate_kind)r;
        dv_precheck_params_default(&f->params);
        f->storage_rate = -1;
        if ((r = get_object(doc, "vm", true, &vm, "", err)) < 0 ||
            (r = load_vm(o, vm, err)) < 0 ||
            (r = get_object(doc, "source", true, &src, "", err)) < 0 ||
            (r = load_host(o, src, "source", &f->source, err)) < 0 ||
            (r = get_object(doc, "target", f->kind != DV_MIGRATE_DATASTORE, &tgt, "", err)) < 0 ||
            (tgt && (r = load_host(o, tgt, "target", &f->target, err)) < 0) ||
            (r = load_clusters(o, doc, err)) < 0 ||
            (r = get_str(doc, "datastore", f->kind != DV_MIGRATE_HOST, &f->datastore, "",
                         err)) < 0 ||
            (r = load_datastores(o, doc, err)) < 0 ||
            (r = get_int(doc, "storage_rate", false, 0, &f->storage_rate, "", err)) < 0 ||
            (r = load_params(doc, &f->params, err)) < 0 ||
            (r = get_object(doc, "network", false, &net, "", err)) < 0)
                return r;
        if (f->kind == DV_MIGRATE_HOST)
                f->datastore = NULL;
        if (net &&
            ((r = get_bool(net, "probed", &f->network.probed, "network", err)) < 0 ||
             (r = get_bool(net, "reachable", &f->network.reachable, "network", err)) < 0 ||
             (r = get_int(net, "rate", false, 0, &f->network.rate, "network", err)) < 0 ||
             (r = get_int(net, "last_rate", false, 0, &f->network.last_rate, "network", err)) < 0 ||
             (r = get_str(net, "address", false, &f->network.address, "network", err)) < 0 ||
             (r = get_str(net, "error", false, &f->network.error, "network", err)) < 0))
                return r;
        return 0;
}

int dv_precheck_facts_from_json(json_t *doc, struct dv_precheck_facts **ret,
                                struct dv_error *err)
{
        struct facts_owner *o;
        int r;

        o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        o->doc = json_incref(doc);
        r = load_facts(o, doc, err);
        if (r < 0) {
                if (r == -ENOMEM)
                        dv_error_set(err, 500, "internal", "out of memory");
                dv_precheck_facts_free(&o->facts);
                return r;
        }
        *ret = &o->facts;
        return 0;
}
