#include "sched-place.h"

#include <stdlib.h>
#include <string.h>

static bool has_datastore(const struct dv_sched_host *h, const char *name)
{
        for (size_t i = 0; i < h->n_datastores; i++)
                if (dv_streq(h->datastores[i], name))
                        return true;
        return false;
}

/* The first datastore the VM needs that h lacks, or NULL. */
static const char *missing_datastore(const struct dv_sched_host *h,
                                     const struct dv_sched_req *req, char *local, size_t len)
{
        for (size_t i = 0; i < req->n_datastores; i++)
                if (!has_datastore(h, req->datastores[i]))
                        return req->datastores[i];
        if (req->need_local) {
                snprintf(local, len, "%s-local", h->name);
                if (!has_datastore(h, local))
                        return local;
        }
        return NULL;
}

/* The first DVS the VM needs that h is not attached to, or NULL. */
static const char *missing_dvs(const struct dv_sched_host *h, const struct dv_sched_req *req)
{
        for (size_t i = 0; i < req->n_dvs; i++) {
                bool found = false;

                for (size_t j = 0; j < h->n_dvs && !found; j++)
                        found = dv_streq(h->dvs[j], req->dvs[i]);
                if (!found)
                        return req->dvs[i];
        }
        return NULL;
}

static int64_t unreserved(const struct dv_sched_host *h)
{
        return h->memory_mib - h->reserved_mib;
}

/* CPU capacity not reserved (MHz); INT64_MAX when not known. */
static int64_t cpu_unreserved(const struct dv_sched_host *h)
{
        if (h->cpu_mhz <= 0)
                return INT64_MAX;
        return h->cpus * h->cpu_mhz - h->cpu_reserved_mhz;
}

static bool fits(const struct dv_sched_host *h, const struct dv_sched_req *req)
{
        return unreserved(h) >= req->memory_mib && h->cpus >= req->cpus &&
               cpu_unreserved(h) >= req->cpu_reservation_mhz;
}

static bool host_usable(const struct dv_sched_host *h, const struct dv_sched_req *req)
{
        char local[DV_NAME_MAX + 8];

        return h->connected && !missing_datastore(h, req, local, sizeof(local));
}

/* No usable host is attached to every DVS: name one no usable host has, if
 * there is one. */
static int dvs_error(const struct dv_sched_host *hosts, size_t n_hosts,
                     const struct dv_sched_req *req, const char *first, struct dv_error *err)
{
        for (size_t k = 0; k < req->n_dvs; k++) {
                bool any = false;

                for (size_t i = 0; i < n_hosts && !any; i++)
                        for (size_t j = 0; j < hosts[i].n_dvs && !any; j++)
                                any = host_usable(&hosts[i], req) &&
                                      dv_streq(hosts[i].dvs[j], req->dvs[k]);
                if (!any)
                        return dv_error_set(err, 409, "insufficient-resources",
                                            "no connected host with the vm's datastores is "
                                            "attached to dvs '%s', which the vm's nics need",
                                            req->dvs[k]);
        }
        return dv_error_set(err, 409, "insufficient-resources",
                            "no connected host is attached to every dvs the vm's nics need "
                            "(e.g. '%s')",
                            first);
}

int dv_sched_check_host(const struct dv_sched_host *h, const struct dv_sched_req *req,
                        struct dv_error *err)
{
        char local[DV_NAME_MAX + 8];
        const char *ds;

        if (!h->connected && dv_streq(h->state, "maintenance"))
                return dv_error_set(err, 409, "invalid-state",
                                    "host '%s' is in maintenance mode: it takes no new VMs "
                                    "(drover host maintenance %s exit)",
                                    h->name, h->name);
        if (!h->connected && dv_streq(h->state, "standby"))
                return dv_error_set(err, 409, "invalid-state",
                                    "host '%s' is in standby (powered off by DPM): it takes no "
                                    "new VMs", h->name);
        if (!h->connected)
                return dv_error_set(err, 409, "invalid-state", "host '%s' is not connected",
                                    h->name);
        ds = missing_datastore(h, req, local, sizeof(local));
        if (ds)
                return dv_error_set(err, 404, "unknown-datastore",
                                    "host '%s' has no datastore '%s'", h->name, ds);
        ds = missing_dvs(h, req);
        if (ds)
                return dv_error_set(err, 409, "insufficient-resources",
                                    "host '%s' is not attached to dvs '%s', which the vm's nics "
                                    "need", h->name, ds);
        if (h->cpus < req->cpus)
                return dv_error_set(err, 409, "insufficient-resources",
                                    "host '%s' has %lld CPUs, the vm needs %lld", h->name,
                                    (long long)h->cpus, (long long)req->cpus);
        if (cpu_unreserved(h) < req->cpu_reservation_mhz)
                return dv_error_set(err, 409, "insufficient-resources",
                                    "host '%s' has %lld MHz of unreserved CPU, the vm reserves "
                                    "%lld MHz",
                                    h->name, (long long)DV_MAX(cpu_unreserved(h), 0),
                                    (long long)req->cpu_reservation_mhz);
        if (!fits(h, req))
                return dv_error_set(err, 409, "insufficient-resources",
                                    "host '%s' has %lld MiB of unreserved memory, the vm needs "
                                    "%lld MiB",
                                    h->name, (long long)DV_MAX(unreserved(h), 0),
                                    (long long)req->memory_mib);
        return 0;
}

int dv_sched_place(const struct dv_sched_host *hosts, size_t n_hosts,
                   const struct dv_sched_req *req, size_t *ret_index, struct dv_error *err)
{
        char local[DV_NAME_MAX + 8];
        size_t best = SIZE_MAX, candidates = 0, with_ds = 0;
        const char *no_dvs = NULL;
        int r;

        if (req->host_id) {
                for (size_t i = 0; i < n_hosts; i++) {
                        if (!dv_streq(hosts[i].id, req->host_id))
                                continue;
                        r = dv_sched_check_host(&hosts[i], req, err);
                        if (r < 0)
                                return r;
                        *ret_index = i;
                        return 0;
                }
                return dv_error_set(err, 404, "unknown-host", "host '%s' not found",
                                    req->host_id);
        }

        for (size_t i = 0; i < n_hosts; i++) {
                const struct dv_sched_host *h = &hosts[i];

                const char *d;

                if (!h->connected || missing_datastore(h, req, local, sizeof(local)))
                        continue;
                with_ds++;
                d = missing_dvs(h, req);
                if (d) {
                        no_dvs = no_dvs ? no_dvs : d;
                        continue;
                }
                candidates++;
                if (!fits(h, req))
                        continue;
                if (best == SIZE_MAX || unreserved(h) > unreserved(&hosts[best]) ||
                    (unreserved(h) == unreserved(&hosts[best]) &&
                     strcmp(h->name, hosts[best].name) < 0))
                        best = i;
        }
        if (best == SIZE_MAX) {
                if (with_ds == 0)
                        return dv_error_set(err, 409, "insufficient-resources",
                                            "no connected host has the datastores the vm needs");
                if (candidates == 0)
                        return dvs_error(hosts, n_hosts, req, no_dvs, err);
                if (req->cpu_reservation_mhz > 0)
                        return dv_error_set(err, 409, "insufficient-resources",
                                            "no connected host has %lld MiB of unreserved memory, "
                                            "%lld CPUs and %lld MHz of unreserved CPU",
                                            (long long)req->memory_mib, (long long)req->cpus,
                                            (long long)req->cpu_reservation_mhz);
                return dv_error_set(err, 409, "insufficient-resources",
                                    "no connected host has %lld MiB of unreserved memory and %lld CPUs",
                                    (long long)req->memory_mib, (long long)req->cpus);
        }
        *ret_index = best;
        return 0;
}

size_t dv_sched_evacuate(const struct dv_sched_host *hosts, size_t n_hosts, size_t source,
                         const struct dv_sched_req *const *reqs, size_t n_vms,
                         size_t *ret_targets, struct dv_error *errs)
{
        struct dv_sched_host *copy = calloc(n_hosts + 1, sizeof(*copy));
        size_t *order = calloc(n_vms + 1, sizeof(*order)), failed = 0;

        if (!copy || !order)
                abort();
        memcpy(copy, hosts, n_hosts * sizeof(*copy));
        if (source < n_hosts)
                copy[source].connected = false;
        for (size_t i = 0; i < n_vms; i++)
                order[i] = i;
        /* Largest first (insertion sort: a host holds tens of VMs). */
        for (size_t i = 1; i < n_vms; i++)
                for (size_t j = i; j > 0 && reqs[order[j]]->memory_mib >
                                                    reqs[order[j - 1]]->memory_mib; j--) {
                        size_t t = order[j];
                        order[j] = order[j - 1];
                        order[j - 1] = t;
                }
        for (size_t k = 0; k < n_vms; k++) {
                size_t i = order[k], idx;
                struct dv_sched_req req = *reqs[i];

                req.host_id = NULL;
                errs[i] = (struct dv_error){ 0 };
                if (dv_sched_place(copy, n_hosts, &req, &idx, &errs[i]) < 0) {
                        ret_targets[i] = SIZE_MAX;
                        failed++;
                        continue;
                }
                ret_targets[i] = idx;
                copy[idx].reserved_mib += req.memory_mib;
        }
        free(order);
        free(copy);
        return failed;
}
