#include "mcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dvs.h"
#include "ha-env.h"
#include "vm-qos.h"

/* What the VMs placed on one host add up to. */
struct usage {
        int64_t reserved_mib;     /* configured memory */
        int64_t reserved_over_mib; /* memory counted with overcommit on (reservations) */
        int64_t count;            /* VMs */
        int64_t cpu_reserved_mhz; /* CPU reservations */
};

/* The hosts as read at one generation: their documents and the scheduler's
 * view of them without the usage (filled per snapshot). Shared by the
 * snapshots taken from it; freed with the last reference. */
struct dv_mcache_table {
        int refs;                 /* atomic */
        json_t *hosts;            /* host documents */
        json_t *dvs;              /* per host: the DVS names it is attached to */
        struct dv_sched_host *sh; /* per host, usage zero (borrows from hosts, dvs, names) */
        size_t n;                 /* hosts */
        const char **names;       /* datastore names, all hosts */
        const char **dvs_names;   /* DVS names, all hosts */
        size_t *uidx;             /* per host: its index in dv_mcache.u */
};

struct dv_mcache {
        struct dv_mgr *m;          /* the manager */
        pthread_mutex_t lock;      /* a leaf: guards the members below */
        json_t *uidx;              /* host id -> index in u */
        struct usage *u;           /* per host seen (by a VM or the host table) */
        size_t n_u, cap_u;
        uint64_t gen;              /* bumped by every host or DVS write */
        uint64_t table_gen;        /* gen the table was read at */
        struct dv_mcache_table *table; /* the hosts, or NULL */
        json_t *cleanup;           /* ids of the VMs marked _cleanup -> true */
        json_t *vms;               /* VM id -> [host_id|null, memory_mib, cpu_reserved_mhz,
                                    * memory counted with overcommit on, index in facts] */
        struct dv_mcache_vm *facts; /* per VM (order: none; a removal moves the last in) */
        size_t n_facts, cap_facts;
        json_t *cluster;           /* the default cluster's document (read-only), or NULL */
        bool overcommit;           /* its memory overcommit switch */
};

void dv_mcache_vm_from_doc(json_t *vm, struct dv_mcache_vm *ret)
{
        struct dv_mcache_vm f = { 0 };
        json_t *d;
        size_t i;

#define COPY(dst, s) snprintf(dst, sizeof(dst), "%s", (s) ? (s) : "")
        COPY(f.id, dv_doc_str(vm, "id"));
        COPY(f.name, dv_doc_str(vm, "name"));
        COPY(f.host_id, dv_doc_str(vm, "host_id"));
        COPY(f.state, dv_doc_str(vm, "state"));
        COPY(f.task, dv_doc_str(vm, "_task"));
        COPY(f.migration_target, dv_doc_str(json_object_get(vm, "migration"), "target_id"));
#undef COPY
        f.memory_mib = dv_doc_int(vm, "memory_mib", 0);
        f.cpus = dv_doc_int(vm, "cpus", 1);
        f.tools_running = dv_streq(dv_doc_str(json_object_get(vm, "tools"), "state"), "running");
        f.migration = json_object_get(vm, "migration") != NULL;
        f.abort_on = json_object_get(vm, "_abort_on") != NULL;
        json_array_foreach(json_object_get(vm, "disks"), i, d) {
                const char *ds = dv_doc_str(d, "datastore");
                size_t n = ds ? strlen(ds) : 0;

                if (n > 6 && strcmp(ds + n - 6, "-local") == 0)
                        f.local_disk = true;
        }
        *ret = f;
}

/* The default cluster written (c->lock held). */
static void cluster_note(struct dv_mcache *c, json_t *doc)
{
        if (!doc || (!dv_streq(dv_doc_str(doc, "name"), DV_CLUSTER_DEFAULT) &&
                     !dv_streq(dv_doc_str(doc, "id"), DV_CLUSTER_DEFAULT)))
                return;
        json_decref(c->cluster);
        c->cluster = json_incref(doc); /* the store's own copy: nobody changes it */
        c->overcommit = json_is_true(json_object_get(doc, "overcommit"));
}

/* The index of host_id's usage, made zero on first sight (c->lock held);
 * SIZE_MAX when out of memory. */
static size_t usage_index(struct dv_mcache *c, const char *host_id)
{
        json_t *i = json_object_get(c->uidx, host_id);

        if (i)
                return (size_t)json_integer_value(i);
        if (c->n_u == c->cap_u) {
                size_t cap = c->cap_u ? 2 * c->cap_u : 64;
                struct usage *u = realloc(c->u, cap * sizeof(*u));

                if (!u)
                        return SIZE_MAX;
                c->u = u;
                c->cap_u = cap;
        }
        c->u[c->n_u] = (struct usage){ 0 };
        json_object_set_new(c->uidx, host_id, json_integer((json_int_t)c->n_u));
        return c->n_u++;
}

static void table_unref(struct dv_mcache_table *t)
{
        if (!t || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        json_decref(t->hosts);
        json_decref(t->dvs);
        free(t->sh);
        free(t->names);
        free(t->dvs_names);
        free(t->uidx);
        free(t);
}

static struct dv_mcache_table *table_ref(struct dv_mcache_table *t)
{
        __atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
        return t;
}

/* Add (sign +1) or take away (-1) a contribution to a host's usage
 * (c->lock held). */
static void apply(struct dv_mcache *c, const char *host, int64_t mem, int64_t cpu,
                  int64_t mem_over, int sign)
{
        size_t i;

        if (!host || (i = usage_index(c, host)) == SIZE_MAX)
                return;
        c->u[i].reserved_mib += sign * mem;
        c->u[i].reserved_over_mib += sign * mem_over;
        c->u[i].count += sign;
        c->u[i].cpu_reserved_mhz += sign * cpu;
}

/* Forget what VM id contributed (c->lock held). */
static void vm_forget(struct dv_mcache *c, const char *id)
{
        json_t *e = id ? json_object_get(c->vms, id) : NULL;

        if (!e)
                return;
        size_t slot = (size_t)json_integer_value(json_array_get(e, 4));

        apply(c, json_string_value(json_array_get(e, 0)), json_integer_value(json_array_get(e, 1)),
              json_integer_value(json_array_get(e, 2)), json_integer_value(json_array_get(e, 3)),
              -1);
        if (slot < c->n_facts && --c->n_facts != slot) {
                /* The last VM's facts move into the freed slot. */
                json_t *moved = json_object_get(c->vms, c->facts[c->n_facts].id);

                c->facts[slot] = c->facts[c->n_facts];
                if (moved)
                        json_array_set_new(moved, 4, json_integer((json_int_t)slot));
        }
        json_object_del(c->vms, id);
        json_object_del(c->cleanup, id);
}

/* Record what a VM document contributes (c->lock held). */
static void vm_note(struct dv_mcache *c, json_t *vm)
{
        const char *id = json_string_value(json_object_get(vm, "id"));
        const char *host = json_string_value(json_object_get(vm, "host_id"));
        int64_t mem = json_integer_value(json_object_get(vm, "memory_mib"));
        int64_t mem_over = dv_vm_mem_admitted_mib(vm, true);
        struct dv_cpu_qos q;
        size_t slot;

        if (!id)
                return;
        vm_forget(c, id);
        if (c->n_facts == c->cap_facts) {
                size_t cap = c->cap_facts ? 2 * c->cap_facts : 1024;
                struct dv_mcache_vm *f = realloc(c->facts, cap * sizeof(*f));

                if (!f)
                        abort();
                c->facts = f;
                c->cap_facts = cap;
        }
        slot = c->n_facts++;
        dv_mcache_vm_from_doc(vm, &c->facts[slot]);
        dv_vm_cpu_qos_get(vm, &q);
        apply(c, host, mem, q.reservation_mhz, mem_over, +1);
        json_object_set_new(c->vms, id,
                            json_pack("[s?,I,I,I,I]", host, (json_int_t)mem,
                                      (json_int_t)q.reservation_mhz, (json_int_t)mem_over,
                                      (json_int_t)slot));
        if (json_object_get(vm, "_cleanup"))
                json_object_set_new(c->cleanup, id, json_true());
}

static void observe(void *userdata, enum dv_kind kind, json_t *old_doc, json_t *new_doc)
{
        struct dv_mcache *c = userdata;

        pthread_mutex_lock(&c->lock);
        if (kind == DV_KIND_VM) {
                if (new_doc)
                        vm_note(c, new_doc);
                else if (old_doc)
                        vm_forget(c, json_string_value(json_object_get(old_doc, "id")));
        } else {
                if (kind == DV_KIND_CLUSTER)
                        cluster_note(c, new_doc);
                else
                        c->gen++; /* a host or DVS: the table is read again */
        }
        pthread_mutex_unlock(&c->lock);
}

int dv_mcache_new(struct dv_mgr *m, struct dv_mcache **ret)
{
        struct dv_mcache *c = calloc(1, sizeof(*c));
        json_t *vms = NULL, *vm;
        size_t i;
        int r;

        if (!c)
                return -ENOMEM;
        c->m = m;
        c->uidx = json_object();
        c->cleanup = json_object();
        c->vms = json_object();
        c->gen = 1;
        pthread_mutex_init(&c->lock, NULL);
        r = dv_store_list(m->store, DV_KIND_VM, NULL, &vms);
        if (r < 0) {
                dv_mcache_free(c);
                return r;
        }
        json_array_foreach(vms, i, vm)
                vm_note(c, vm);
        json_decref(vms);
        vms = NULL;
        if (dv_store_get(m->store, DV_KIND_CLUSTER, DV_CLUSTER_DEFAULT, &vms) >= 0)
                /* A fresh document of ours: nobody else changes it. */
                cluster_note(c, vms);
        json_decref(vms);
        m->store->observe_userdata = c;
        m->store->observe = observe;
        *ret = c;
        return 0;
}

void dv_mcache_free(struct dv_mcache *c)
{
        if (!c)
                return;
        if (c->m->store && c->m->store->observe == observe) {
                c->m->store->observe = NULL;
                c->m->store->observe_userdata = NULL;
        }
        json_decref(c->uidx);
        free(c->u);
        json_decref(c->cleanup);
        json_decref(c->vms);
        free(c->facts);
        json_decref(c->cluster);
        table_unref(c->table);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

void dv_mcache_host_usage(struct dv_mcache *c, const char *host_id, int64_t *ret_reserved_mib,
                          int64_t *ret_count, int64_t *ret_cpu_reserved_mhz)
{
        json_t *i;
        struct usage u = { 0 };
        bool over = ret_reserved_mib && dv_mem_overcommit(c->m);

        pthread_mutex_lock(&c->lock);
        i = host_id ? json_object_get(c->uidx, host_id) : NULL;
        if (i)
                u = c->u[json_integer_value(i)];
        pthread_mutex_unlock(&c->lock);
        if (ret_reserved_mib)
                *ret_reserved_mib = over ? u.reserved_over_mib : u.reserved_mib;
        if (ret_count)
                *ret_count = u.count;
        if (ret_cpu_reserved_mhz)
                *ret_cpu_reserved_mhz = u.cpu_reserved_mhz;
}

int dv_mcache_vms(struct dv_mcache *c, bool (*keep)(const struct dv_mcache_vm *v),
                  struct dv_mcache_vm **ret, size_t *ret_n)
{
        struct dv_mcache_vm *v;
        size_t n = 0;

        pthread_mutex_lock(&c->lock);
        v = malloc(((keep ? 0 : c->n_facts) + 1) * sizeof(*v));
        if (v && !keep) {
                memcpy(v, c->facts, c->n_facts * sizeof(*v));
                n = c->n_facts;
        }
        for (size_t i = 0; v && keep && i < c->n_facts; i++) {
                struct dv_mcache_vm *w;

                if (!keep(&c->facts[i]))
                        continue;
                w = realloc(v, (n + 2) * sizeof(*v));
                if (!w) {
                        free(v);
                        v = NULL;
                        break;
                }
                v = w;
                v[n++] = c->facts[i];
        }
        pthread_mutex_unlock(&c->lock);
        if (!v)
                return -ENOMEM;
        *ret = v;
        *ret_n = n;
        return 0;
}

json_t *dv_mcache_cluster(struct dv_mcache *c)
{
        json_t *d;

        pthread_mutex_lock(&c->lock);
        d = json_incref(c->cluster);
        pthread_mutex_unlock(&c->lock);
        return d;
}

bool dv_mcache_overcommit(struct dv_mcache *c)
{
        bool on;

        pthread_mutex_lock(&c->lock);
        on = c->overcommit;
        pthread_mutex_unlock(&c->lock);
        return on;
}

static int cmp_vm_name(const void *a, const void *b)
{
        return strcmp(((const struct dv_mcache_vm *)a)->name,
                      ((const struct dv_mcache_vm *)b)->name);
}

int dv_mgr_vm_facts(struct dv_mgr *m, struct dv_mcache_vm **ret, size_t *ret_n)
{
        json_t *all = NULL, *d;
        struct dv_mcache_vm *v;
        size_t i;
        int r;

        if (m->cache) {
                /* By name, as the store lists them: a pass's ties fall the
                 * same way whichever way the VMs were read. */
                r = dv_mcache_vms(m->cache, NULL, ret, ret_n);
                if (r >= 0)
                        qsort(*ret, *ret_n, sizeof(**ret), cmp_vm_name);
                return r;
        }
        r = dv_store_list(m->store, DV_KIND_VM, NULL, &all);
        if (r < 0)
                return r;
        v = calloc(json_array_size(all) + 1, sizeof(*v));
        if (!v) {
                json_decref(all);
                return -ENOMEM;
        }
        json_array_foreach(all, i, d)
                dv_mcache_vm_from_doc(d, &v[i]);
        *ret_n = json_array_size(all);
        *ret = v;
        json_decref(all);
        return 0;
}

int dv_mgr_cluster_default(struct dv_mgr *m, json_t **ret)
{
        json_t *d = m->cache ? dv_mcache_cluster(m->cache) : NULL;

        if (!d)
                return dv_cluster_get_default(m, ret);
        *ret = d;
        return 0;
}

json_t *dv_mcache_cleanup_ids(struct dv_mcache *c)
{
        json_t *ids = json_array(), *v;
        const char *id;

        pthread_mutex_lock(&c->lock);
        json_object_foreach(c->cleanup, id, v)
                json_array_append_new(ids, json_string(id));
        pthread_mutex_unlock(&c->lock);
        return ids;
}

/* The scheduler's view of hosts (usage left zero), its name arrays
 * borrowing from hosts and dvs. */
static int table_build(json_t *hosts, json_t *dvs, struct dv_mcache_table **ret)
{
        struct dv_mcache_table *t = calloc(1, sizeof(*t));
        size_t i, total = 0, total_dvs = 0, k = 0, kd = 0;
        json_t *h, *d;

        if (!t)
                return -ENOMEM;
        t->refs = 1;
        t->hosts = json_incref(hosts);
        t->dvs = json_incref(dvs);
        t->n = json_array_size(hosts);
        json_array_foreach(hosts, i, h)
                total += json_array_size(json_object_get(h, "datastores"));
        json_array_foreach(dvs, i, d)
                total_dvs += json_array_size(d);
        t->sh = calloc(t->n + 1, sizeof(*t->sh));
        t->names = calloc(total + 1, sizeof(*t->names));
        t->dvs_names = calloc(total_dvs + 1, sizeof(*t->dvs_names));
        t->uidx = calloc(t->n + 1, sizeof(*t->uidx));
        if (!t->sh || !t->names || !t->dvs_names || !t->uidx) {
                table_unref(t);
                return -ENOMEM;
        }
        json_array_foreach(hosts, i, h) {
                struct dv_sched_host *x = &t->sh[i];
                size_t j;

                x->id = dv_doc_str(h, "id");
                x->name = dv_doc_str(h, "name");
                x->state = dv_doc_str(h, "state");
                x->connected = dv_streq(x->state, "connected");
                x->cpus = dv_doc_int(h, "cpus", 0);
                x->memory_mib = dv_doc_int(h, "memory_mib", 0);
                x->cpu_mhz = dv_host_cpu_mhz(h);
                x->datastores = &t->names[k];
                json_array_foreach(json_object_get(h, "datastores"), j, d)
                        t->names[k++] = dv_doc_str(d, "name");
                x->n_datastores = json_array_size(json_object_get(h, "datastores"));
                x->dvs = &t->dvs_names[kd];
                json_array_foreach(json_array_get(dvs, i), j, d)
                        t->dvs_names[kd++] = json_string_value(d);
                x->n_dvs = json_array_size(json_array_get(dvs, i));
        }
        *ret = t;
        return 0;
}

/* The current table, read again after a host or DVS write: a new
 * reference. */
static int table_get(struct dv_mgr *m, struct dv_mcache_table **ret)
{
        struct dv_mcache *c = m->cache;
        struct dv_mcache_table *t = NULL;
        json_t *hosts = NULL, *dvs, *h;
        uint64_t gen;
        size_t i;
        int r;

        pthread_mutex_lock(&c->lock);
        if (c->table && c->table_gen == c->gen) {
                *ret = table_ref(c->table);
                pthread_mutex_unlock(&c->lock);
                return 0;
        }
        gen = c->gen;
        pthread_mutex_unlock(&c->lock);

        /* Read outside the cache's lock (the observer takes it under the
         * store's); a write meanwhile bumps gen and the next call reads
         * again. */
        r = dv_store_list(m->store, DV_KIND_HOST, NULL, &hosts);
        if (r < 0)
                return r;
        dvs = json_array();
        json_array_foreach(hosts, i, h) {
                json_t *names = NULL;

                r = dv_dvs_of_host(m, json_string_value(json_object_get(h, "id")), &names);
                if (r < 0)
                        break;
                json_array_append_new(dvs, names);
        }
        if (r >= 0)
                r = table_build(hosts, dvs, &t);
        json_decref(hosts);
        json_decref(dvs);
        if (r < 0)
                return r;
        pthread_mutex_lock(&c->lock);
        for (i = 0; i < t->n; i++)
                t->uidx[i] = usage_index(c, t->sh[i].id);
        if (gen == c->gen) {
                table_unref(c->table);
                c->table = table_ref(t);
                c->table_gen = gen;
        }
        pthread_mutex_unlock(&c->lock);
        *ret = t;
        return 0;
}

int dv_mcache_hosts(struct dv_mgr *m, json_t **ret_hosts, json_t **ret_dvs)
{
        struct dv_mcache_table *t = NULL;
        int r = table_get(m, &t);

        if (r < 0)
                return r;
        *ret_hosts = json_incref(t->hosts);
        *ret_dvs = json_incref(t->dvs);
        table_unref(t);
        return 0;
}

int dv_mcache_sched_hosts(struct dv_mgr *m, struct dv_mcache_table **ret_table,
                          struct dv_sched_host **ret_sh, size_t *ret_n)
{
        struct dv_mcache *c = m->cache;
        struct dv_mcache_table *t = NULL;
        struct dv_sched_host *sh;
        bool over;
        int r = table_get(m, &t);

        if (r < 0)
                return r;
        sh = malloc((t->n + 1) * sizeof(*sh));
        if (!sh) {
                table_unref(t);
                return -ENOMEM;
        }
        memcpy(sh, t->sh, (t->n + 1) * sizeof(*sh));
        over = dv_mem_overcommit(m);
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < t->n; i++) {
                const struct usage *u = t->uidx[i] == SIZE_MAX ? NULL : &c->u[t->uidx[i]];

                sh[i].reserved_mib = u ? (over ? u->reserved_over_mib : u->reserved_mib) : 0;
                sh[i].cpu_reserved_mhz = u ? u->cpu_reserved_mhz : 0;
        }
        pthread_mutex_unlock(&c->lock);
        *ret_table = t;
        *ret_sh = sh;
        *ret_n = t->n;
        return 0;
}

json_t *dv_mcache_table_hosts(struct dv_mcache_table *t)
{
        return t->hosts;
}

json_t *dv_mcache_table_dvs(struct dv_mcache_table *t)
{
        return t->dvs;
}

void dv_mcache_table_unref(struct dv_mcache_table *t)
{
        table_unref(t);
}
