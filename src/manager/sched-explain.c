/* Why a VM went where it went (sched-place.h dv_sched_explain): the
 * scheduler's verdict on every host, with DRS's load model beside it. */
#include "sched-place.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "drs.h"

/* Sums over the connected hosts' loads, for imbalances in O(1) per host
 * (the same formula as drs.c: sqrt(sd(cpu)^2 + sd(mem)^2)). */
struct sums {
        double k;      /* connected hosts */
        double sc, qc; /* sum and sum of squares of CPU loads */
        double sm, qm; /* the same for memory */
};

static double imbalance_of(const struct sums *x)
{
        double c = dv_drs_sd(x->k, x->sc, x->qc), m = dv_drs_sd(x->k, x->sm, x->qm);

        return sqrt(c * c + m * m);
}

/* The imbalance with the VM added to host h (connected). */
static double imbalance_with(const struct sums *x, const struct dv_sched_host *h,
                             const struct dv_sched_load *l, const struct dv_sched_req *req)
{
        struct sums y = *x;
        double c = l->cpu + (h->cpus > 0 ? (double)req->cpus / (double)h->cpus : 0);
        double m = l->mem + (h->memory_mib > 0 ? (double)req->memory_mib / (double)h->memory_mib
                                               : 0);

        y.sc += c - l->cpu;
        y.qc += c * c - l->cpu * l->cpu;
        y.sm += m - l->mem;
        y.qm += m * m - l->mem * l->mem;
        return imbalance_of(&y);
}

static json_t *num3(double v)
{
        return isfinite(v) ? json_real(round(v * 1000.0) / 1000.0) : json_null();
}

/* One host's entry in the listing order. */
struct entry {
        size_t i;          /* index into hosts */
        int rank;          /* 0 chosen, 1 candidate, 2 rejected */
        int64_t headroom;  /* unreserved memory after the VM (candidates) */
        const char *name;  /* host name */
};

static int cmp_entry(const void *a, const void *b)
{
        const struct entry *x = a, *y = b;

        if (x->rank != y->rank)
                return x->rank - y->rank;
        if (x->rank == 1 && x->headroom != y->headroom)
                return x->headroom > y->headroom ? -1 : 1;
        if (x->rank == 2)
                return x->i < y->i ? -1 : 1;
        return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

json_t *dv_sched_explain(const struct dv_sched_host *hosts, size_t n_hosts,
                         const struct dv_sched_req *req, const struct dv_sched_load *loads,
                         size_t chosen)
{
        struct entry *e = calloc(n_hosts + 1, sizeof(*e));
        struct dv_error *errs = calloc(n_hosts + 1, sizeof(*errs));
        struct sums x = { 0 };
        json_t *list = json_array(), *o;
        size_t n = 0, candidates = 0;
        int64_t best_headroom = 0;

        if (!e || !errs)
                abort();
        for (size_t i = 0; i < n_hosts; i++)
                if (loads && hosts[i].connected) {
                        x.k++;
                        x.sc += loads[i].cpu;
                        x.qc += loads[i].cpu * loads[i].cpu;
                        x.sm += loads[i].mem;
                        x.qm += loads[i].mem * loads[i].mem;
                }
        for (size_t i = 0; i < n_hosts; i++) {
                const struct dv_sched_host *h = &hosts[i];

                if (req->host_id && !dv_streq(h->id, req->host_id))
                        continue;
                e[n] = (struct entry){ .i = i, .name = h->name, .rank = 2 };
                if (dv_sched_check_host(h, req, &errs[i]) >= 0) {
                        e[n].rank = i == chosen ? 0 : 1;
                        e[n].headroom = h->memory_mib - h->reserved_mib - req->memory_mib;
                        candidates++;
                        if (i == chosen)
                                best_headroom = e[n].headroom;
                }
                n++;
        }
        qsort(e, n, sizeof(*e), cmp_entry);
        for (size_t k = 0; k < n; k++) {
                const struct dv_sched_host *h = &hosts[e[k].i];
                const struct dv_sched_load *l = loads ? &loads[e[k].i] : NULL;
                static const char *const verdicts[] = { "chosen", "candidate", "rejected" };
                char why[sizeof(errs[0].message) + 160];
                bool fit = e[k].rank < 2;

                if (e[k].rank == 0 && req->host_id)
                        snprintf(why, sizeof(why), "the host asked for: it fits");
                else if (e[k].rank == 0)
                        snprintf(why, sizeof(why),
                                 "the most headroom: %lld MiB unreserved once the vm is there, "
                                 "of %zu candidate(s)",
                                 (long long)e[k].headroom, candidates);
                else if (e[k].rank == 1 && chosen < n_hosts && e[k].headroom == best_headroom)
                        snprintf(why, sizeof(why),
                                 "fits, with as much headroom (%lld MiB) as host '%s', which "
                                 "comes first by name",
                                 (long long)e[k].headroom, hosts[chosen].name);
                else if (e[k].rank == 1 && chosen < n_hosts)
                        snprintf(why, sizeof(why),
                                 "fits, with less headroom (%lld MiB) than host '%s' (%lld MiB)",
                                 (long long)e[k].headroom, hosts[chosen].name,
                                 (long long)best_headroom);
                else if (e[k].rank == 1)
                        snprintf(why, sizeof(why), "fits");
                else
                        snprintf(why, sizeof(why), "%s", errs[e[k].i].message);
                o = json_pack("{s:s?,s:s?,s:s,s:s,s:I,s:o,s:o,s:o,s:o}", "name", h->name,
                              "state", h->state, "verdict", verdicts[e[k].rank], "reason", why,
                              "unreserved_mib", (json_int_t)(h->memory_mib - h->reserved_mib),
                              "headroom_mib",
                              fit ? json_integer((json_int_t)e[k].headroom) : json_null(),
                              "cpu_load_pct", l ? num3(100 * l->cpu) : json_null(),
                              "memory_load_pct", l ? num3(100 * l->mem) : json_null(),
                              "imbalance_after",
                              l && fit ? num3(imbalance_with(&x, h, l, req)) : json_null());
                json_array_append_new(list, o);
        }
        o = json_pack("{s:s,s:s?,s:s?,s:I,s:{s:I,s:I,s:I},s:o,s:o}", "policy",
                      req->host_id ? "the host asked for, if it fits"
                                   : "the connected host with the most unreserved memory that "
                                     "fits (ties: the first by name)",
                      "asked", req->host_id && n > 0 ? hosts[e[0].i].name : NULL, "chosen",
                      chosen < n_hosts ? hosts[chosen].name : NULL, "candidates",
                      (json_int_t)candidates, "vm", "cpus", (json_int_t)req->cpus, "memory_mib",
                      (json_int_t)req->memory_mib, "cpu_reservation_mhz",
                      (json_int_t)req->cpu_reservation_mhz, "imbalance",
                      loads ? num3(imbalance_of(&x)) : json_null(), "hosts", list);
        free(e);
        free(errs);
        return o;
}
