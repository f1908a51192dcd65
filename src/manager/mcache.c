#include "mcache.h"

#include <pthread.h>
#include <stdlib.h>

#include "dvs.h"
#include "vm-qos.h"

struct dv_mcache {
        struct dv_mgr *m;          /* the manager */
        pthread_mutex_t lock;      /* a leaf: guards the members below */
        json_t *usage;             /* host id -> [reserved_mib, count, cpu_reserved_mhz] */
        uint64_t gen;              /* bumped by every host or DVS write */
        uint64_t hosts_gen;        /* gen the cached hosts were read at */
        json_t *hosts;             /* cached host documents, or NULL */
        json_t *dvs;               /* cached DVS names per host */
        json_t *cleanup;           /* ids of the VMs marked _cleanup -> true */
        json_t *vms;               /* VM id -> [host_id|null, memory_mib, cpu_reserved_mhz] */
};

/* Add (sign +1) or take away (-1) a contribution to a host's usage
 * (c->lock held). */
static void apply(struct dv_mcache *c, const char *host, int64_t mem, int64_t cpu, int sign)
{
        json_t *u;

        if (!host)
                return;
        u = json_object_get(c->usage, host);
        if (!u) {
                u = json_pack("[I,I,I]", (json_int_t)0, (json_int_t)0, (json_int_t)0);
                json_object_set_new(c->usage, host, u);
        }
        json_integer_set(json_array_get(u, 0), json_integer_value(json_array_get(u, 0)) + sign * mem);
        json_integer_set(json_array_get(u, 1), json_integer_value(json_array_get(u, 1)) + sign);
        json_integer_set(json_array_get(u, 2), json_integer_value(json_array_get(u, 2)) + sign * cpu);
}

/* Forget what VM id contributed (c->lock held). */
static void vm_forget(struct dv_mcache *c, const char *id)
{
        json_t *e = id ? json_object_get(c->vms, id) : NULL;

        if (!e)
                return;
        apply(c, json_string_value(json_array_get(e, 0)), json_integer_value(json_array_get(e, 1)),
              json_integer_value(json_array_get(e, 2)), -1);
        json_object_del(c->vms, id);
        json_object_del(c->cleanup, id);
}

/* Record what a VM document contributes (c->lock held). */
static void vm_note(struct dv_mcache *c, json_t *vm)
{
        const char *id = json_string_value(json_object_get(vm, "id"));
        const char *host = json_string_value(json_object_get(vm, "host_id"));
        int64_t mem = json_integer_value(json_object_get(vm, "memory_mib"));
        struct dv_cpu_qos q;

        if (!id)
                return;
        vm_forget(c, id);
        dv_vm_cpu_qos_get(vm, &q);
        apply(c, host, mem, q.reservation_mhz, +1);
        json_object_set_new(c->vms, id,
                            json_pack("[s?,I,I]", host, (json_int_t)mem,
                                      (json_int_t)q.reservation_mhz));
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
                c->gen++;
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
        c->usage = json_object();
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
        json_decref(c->usage);
        json_decref(c->cleanup);
        json_decref(c->vms);
        json_decref(c->hosts);
        json_decref(c->dvs);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

void dv_mcache_host_usage(struct dv_mcache *c, const char *host_id, int64_t *ret_reserved_mib,
                          int64_t *ret_count, int64_t *ret_cpu_reserved_mhz)
{
        json_t *u;

        pthread_mutex_lock(&c->lock);
        u = host_id ? json_object_get(c->usage, host_id) : NULL;
        if (ret_reserved_mib)
                *ret_reserved_mib = json_integer_value(json_array_get(u, 0));
        if (ret_count)
                *ret_count = json_integer_value(json_array_get(u, 1));
        if (ret_cpu_reserved_mhz)
                *ret_cpu_reserved_mhz = json_integer_value(json_array_get(u, 2));
        pthread_mutex_unlock(&c->lock);
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

int dv_mcache_hosts(struct dv_mgr *m, json_t **ret_hosts, json_t **ret_dvs)
{
        struct dv_mcache *c = m->cache;
        json_t *hosts = NULL, *dvs, *h;
        uint64_t gen;
        size_t i;
        int r;

        pthread_mutex_lock(&c->lock);
        if (c->hosts && c->hosts_gen == c->gen) {
                *ret_hosts = json_incref(c->hosts);
                *ret_dvs = json_incref(c->dvs);
                pthread_mutex_unlock(&c->lock);
                return 0;
        }
        gen = c->gen;
        pthread_mutex_unlock(&c->lock);

        /* Read outside the cache's lock; a write meanwhile bumps gen and
         * the next call reads again. */
        r = dv_store_list(m->store, DV_KIND_HOST, NULL, &hosts);
        if (r < 0)
                return r;
        dvs = json_array();
        json_array_foreach(hosts, i, h) {
                json_t *names = NULL;

                r = dv_dvs_of_host(m, json_string_value(json_object_get(h, "id")), &names);
                if (r < 0) {
                        json_decref(hosts);
                        json_decref(dvs);
                        return r;
                }
                json_array_append_new(dvs, names);
        }
        pthread_mutex_lock(&c->lock);
        if (gen == c->gen) {
                json_decref(c->hosts);
                json_decref(c->dvs);
                c->hosts = json_incref(hosts);
                c->dvs = json_incref(dvs);
                c->hosts_gen = gen;
        }
        pthread_mutex_unlock(&c->lock);
        *ret_hosts = hosts;
        *ret_dvs = dvs;
        return 0;
}
