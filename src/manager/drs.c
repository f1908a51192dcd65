/* DRS decision core (drs.h). Pure. */
#include "drs.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

/* ---- settings ------------------------------------------------------------------- */

void dv_drs_settings_default(struct dv_drs_settings *s)
{
        *s = (struct dv_drs_settings){
                .mode = DV_DRS_OFF,
                .threshold = 3,
                .interval_s = 60,
                .max_moves = 4,
                .max_concurrent = 1,
                .persist_passes = 3,
                .max_copy_mib = 16384,
        };
}

static const char *const mode_names[] = { "off", "manual", "automatic" };

const char *dv_drs_mode_to_string(enum dv_drs_mode m)
{
        return (unsigned)m < ELEMENTSOF(mode_names) ? mode_names[m] : "?";
}

int dv_drs_mode_from_string(const char *s, enum dv_drs_mode *ret)
{
        for (size_t i = 0; s && i < ELEMENTSOF(mode_names); i++)
                if (strcmp(s, mode_names[i]) == 0) {
                        *ret = (enum dv_drs_mode)i;
                        return 0;
                }
        return -EINVAL;
}

/* Threshold -> tolerated imbalance and least gain of a move. 1 acts on
 * rules only. */
static const double targets[] = { 0, INFINITY, 0.25, 0.15, 0.08, 0.04 };
static const double min_gains[] = { 0, INFINITY, 0.05, 0.03, 0.015, 0.005 };

double dv_drs_target(int threshold)
{
        return threshold >= 1 && threshold <= 5 ? targets[threshold] : INFINITY;
}

double dv_drs_min_gain(int threshold)
{
        return threshold >= 1 && threshold <= 5 ? min_gains[threshold] : INFINITY;
}

json_t *dv_drs_settings_to_json(const struct dv_drs_settings *s)
{
        return json_pack("{s:s,s:i,s:I,s:i,s:i,s:i,s:I}", "mode", dv_drs_mode_to_string(s->mode),
                         "threshold", s->threshold, "interval_s", (json_int_t)s->interval_s,
                         "max_moves", s->max_moves, "max_concurrent", s->max_concurrent,
                         "persist_passes", s->persist_passes, "max_copy_mib",
                         (json_int_t)s->max_copy_mib);
}

int dv_drs_settings_patch(struct dv_drs_settings *s, json_t *patch, struct dv_error *err)
{
        static const char *const keys[] = { "mode", "threshold", "interval_s", "max_moves",
                                            "max_concurrent", "persist_passes", "max_copy_mib",
                                            NULL };
        struct dv_drs_settings n = *s;
        const char *mode = NULL;
        int64_t v;
        int r;

        if (!json_is_object(patch))
                return dv_error_set(err, 400, "invalid-field", "field 'drs' must be an object");
        r = dv_json_check_keys(patch, keys, err);
        if (r >= 0)
                r = dv_json_get_string(patch, "mode", false, &mode, err);
        if (r < 0)
                return r;
        if (mode && dv_drs_mode_from_string(mode, &n.mode) < 0)
                return dv_error_set(err, 400, "invalid-field",
                                    "drs: field 'mode' must be off, manual or automatic");
        v = n.threshold;
        r = dv_json_get_int(patch, "threshold", false, DV_DRS_THRESHOLD_MIN, DV_DRS_THRESHOLD_MAX,
                            &v, err);
        if (r < 0)
                return r;
        n.threshold = (int)v;
        r = dv_json_get_int(patch, "interval_s", false, 5, 86400, &n.interval_s, err);
        if (r < 0)
                return r;
        v = n.max_moves;
        r = dv_json_get_int(patch, "max_moves", false, 1, DV_DRS_MAX_RECS, &v, err);
        if (r < 0)
                return r;
        n.max_moves = (int)v;
        v = n.max_concurrent;
        r = dv_json_get_int(patch, "max_concurrent", false, 1, 16, &v, err);
        if (r < 0)
                return r;
        n.max_concurrent = (int)v;
        v = n.persist_passes;
        r = dv_json_get_int(patch, "persist_passes", false, 1, 100, &v, err);
        if (r < 0)
                return r;
        n.persist_passes = (int)v;
        r = dv_json_get_int(patch, "max_copy_mib", false, 1, INT64_C(1) << 30, &n.max_copy_mib,
                            err);
        if (r < 0)
                return r;
        *s = n;
        return 0;
}

static const char *const kind_names[] = { "affinity", "anti-affinity", "host-must",
                                          "host-should" };

const char *dv_drs_rule_kind_to_string(enum dv_drs_rule_kind k)
{
        return (unsigned)k < ELEMENTSOF(kind_names) ? kind_names[k] : "?";
}

int dv_drs_rule_kind_from_string(const char *s, enum dv_drs_rule_kind *ret)
{
        for (size_t i = 0; s && i < ELEMENTSOF(kind_names); i++)
                if (strcmp(s, kind_names[i]) == 0) {
                        *ret = (enum dv_drs_rule_kind)i;
                        return 0;
                }
        return -EINVAL;
}

/* ---- loads --------------------------------------------------------------------- */

static double sd(const double *v, const struct dv_drs_host *hosts, size_t n)
{
        double sum = 0, sq = 0, k = 0;

        for (size_t i = 0; i < n; i++)
                if (hosts[i].usable) {
                        sum += v[i];
                        k++;
                }
        if (k < 2)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (hosts[i].usable)
                        sq += (v[i] - sum / k) * (v[i] - sum / k);
        return sqrt(sq / k);
}

double dv_drs_loads(const struct dv_drs_input *in, const size_t *place, double *cpu, double *mem)
{
        double sc, sm;

        for (size_t h = 0; h < in->n_hosts; h++)
                cpu[h] = mem[h] = 0;
        for (size_t i = 0; i < in->n_vms; i++) {
                size_t h = place ? place[i] : in->vms[i].host;

                if (h >= in->n_hosts)
                        continue;
                cpu[h] += in->vms[i].cpu_demand;
                mem[h] += in->vms[i].mem_demand_mib;
        }
        for (size_t h = 0; h < in->n_hosts; h++) {
                const struct dv_drs_host *x = &in->hosts[h];

                cpu[h] = x->cpu_capacity > 0 ? cpu[h] / x->cpu_capacity : 0;
                mem[h] = x->memory_mib > 0 ? mem[h] / (double)x->memory_mib : 0;
        }
        sc = sd(cpu, in->hosts, in->n_hosts);
        sm = sd(mem, in->hosts, in->n_hosts);
        return sqrt(sc * sc + sm * sm);
}

/* ---- the simulated cluster ------------------------------------------------------- */

struct sim {
        const struct dv_drs_input *in;
        size_t *place;       /* vm -> host */
        int64_t *reserved;   /* host -> reserved MiB */
        int *migrations;     /* host -> migrations in flight (the pass's own moves are
                              * a plan; automatic mode submits them max_concurrent at a
                              * time) */
        bool *moved;         /* vm -> already in a recommendation */
        double *cpu, *mem;   /* scratch: loads */
        double *scratch;     /* scratch: one double per host */
        struct dv_drs_result *res;
};

static double imbalance(struct sim *s)
{
        return dv_drs_loads(s->in, s->place, s->cpu, s->mem);
}

static double imbalance_if(struct sim *s, size_t vm, size_t to)
{
        size_t from = s->place[vm];
        double v;

        s->place[vm] = to;
        v = imbalance(s);
        s->place[vm] = from;
        return v;
}

static bool rule_has_vm(const struct dv_drs_rule *r, size_t vm)
{
        for (size_t i = 0; i < r->n_vms; i++)
                if (r->vms[i] == vm)
                        return true;
        return false;
}

static bool rule_has_host(const struct dv_drs_rule *r, size_t h)
{
        for (size_t i = 0; i < r->n_hosts; i++)
                if (r->hosts[i] == h)
                        return true;
        return false;
}

/* Another VM of rule r on host h? */
static bool other_on(struct sim *s, const struct dv_drs_rule *r, size_t vm, size_t h)
{
        for (size_t i = 0; i < r->n_vms; i++)
                if (r->vms[i] != vm && s->place[r->vms[i]] == h)
                        return true;
        return false;
}

/* Does vm on host `to` keep every rule? balancing: also keep "should"
 * and never split an affinity group. except: a rule not checked (the one
 * being fixed). */
static bool rules_allow(struct sim *s, size_t vm, size_t to, bool balancing,
                        const struct dv_drs_rule *except)
{
        const struct dv_drs_input *in = s->in;

        for (size_t k = 0; k < in->n_rules; k++) {
                const struct dv_drs_rule *r = &in->rules[k];

                if (r == except || !rule_has_vm(r, vm))
                        continue;
                switch (r->kind) {
                case DV_DRS_RULE_ANTI_AFFINITY:
                        if (other_on(s, r, vm, to))
                                return false;
                        break;
                case DV_DRS_RULE_AFFINITY:
                        /* Moving is fine only to join all the others. */
                        for (size_t i = 0; i < r->n_vms; i++)
                                if (r->vms[i] != vm && s->place[r->vms[i]] != to)
                                        return false;
                        break;
                case DV_DRS_RULE_HOST_MUST:
                        if (!rule_has_host(r, to))
                                return false;
                        break;
                case DV_DRS_RULE_HOST_SHOULD:
                        if (balancing && !rule_has_host(r, to) &&
                            rule_has_host(r, s->place[vm]))
                                return false;
                        break;
                }
        }
        return true;
}

/* Can vm move to `to` at all (capacity, state, concurrency)? */
static bool can_move(struct sim *s, size_t vm, size_t to)
{
        const struct dv_drs_vm *v = &s->in->vms[vm];
        const struct dv_drs_host *h = &s->in->hosts[to];
        int maxc = s->in->settings.max_concurrent;

        return v->movable && !s->moved[vm] && to != s->place[vm] && h->usable &&
               h->memory_mib - s->reserved[to] >= v->memory_mib && h->cpus >= v->cpus &&
               s->migrations[to] < maxc && s->migrations[s->place[vm]] < maxc;
}

static int64_t cost_of(const struct dv_drs_vm *v)
{
        return v->mem_demand_mib > 0 ? (int64_t)ceil(v->mem_demand_mib) : v->memory_mib;
}

/* Record the move and apply it to the simulation. */
static void recommend(struct sim *s, size_t vm, size_t to, enum dv_drs_why why,
                      const char *rule, const char *fmt, ...) _printf_(6, 7);

static void recommend(struct sim *s, size_t vm, size_t to, enum dv_drs_why why,
                      const char *rule, const char *fmt, ...)
{
        struct dv_drs_result *res = s->res;
        struct dv_drs_rec *rec = &res->recs[res->n_recs++];
        const struct dv_drs_vm *v = &s->in->vms[vm];
        va_list ap;

        rec->vm = vm;
        rec->from = s->place[vm];
        rec->to = to;
        rec->why = why;
        rec->rule = rule;
        rec->imbalance_before = imbalance(s);
        rec->imbalance_after = imbalance_if(s, vm, to);
        rec->gain = rec->imbalance_before - rec->imbalance_after;
        rec->cost_mib = cost_of(v);
        va_start(ap, fmt);
        vsnprintf(rec->reason, sizeof(rec->reason), fmt, ap);
        va_end(ap);
        s->reserved[rec->from] -= v->memory_mib;
        s->reserved[to] += v->memory_mib;
        s->moved[vm] = true;
        s->place[vm] = to;
}

static bool room(struct sim *s)
{
        return s->res->n_recs < (size_t)DV_MIN(s->in->settings.max_moves, DV_DRS_MAX_RECS);
}

static void note_violation(struct sim *s, const char *fmt, ...) _printf_(2, 3);

static void note_violation(struct sim *s, const char *fmt, ...)
{
        char *v = s->res->violations;
        size_t used = strlen(v);
        va_list ap;

        if (used + 3 >= sizeof(s->res->violations))
                return;
        if (used)
                used += (size_t)snprintf(v + used, sizeof(s->res->violations) - used, "; ");
        va_start(ap, fmt);
        vsnprintf(v + used, sizeof(s->res->violations) - used, fmt, ap);
        va_end(ap);
}

/* The best host for vm among those pred accepts: lowest imbalance after. */
static size_t best_target(struct sim *s, size_t vm, const struct dv_drs_rule *fixing,
                          bool (*pred)(struct sim *, const struct dv_drs_rule *, size_t, size_t))
{
        size_t best = SIZE_MAX;
        double best_v = INFINITY;

        for (size_t h = 0; h < s->in->n_hosts; h++) {
                double v;

                if (!can_move(s, vm, h) || !rules_allow(s, vm, h, false, fixing) ||
                    (pred && !pred(s, fixing, vm, h)))
                        continue;
                v = imbalance_if(s, vm, h);
                if (v < best_v) {
                        best_v = v;
                        best = h;
                }
        }
        return best;
}

/* ---- rules --------------------------------------------------------------------- */

static bool in_rule_hosts(struct sim *s, const struct dv_drs_rule *r, size_t vm, size_t h)
{
        return rule_has_host(r, h);
}

static bool no_other_there(struct sim *s, const struct dv_drs_rule *r, size_t vm, size_t h)
{
        return !other_on(s, r, vm, h);
}

static const char *vm_name(struct sim *s, size_t vm)
{
        return s->in->vms[vm].name;
}

static const char *host_name(struct sim *s, size_t h)
{
        return s->in->hosts[h].name;
}

static void fix_host_rule(struct sim *s, const struct dv_drs_rule *r, bool must)
{
        for (size_t i = 0; i < r->n_vms && room(s); i++) {
                size_t vm = r->vms[i], from = s->place[vm], to;

                if (rule_has_host(r, from))
                        continue;
                to = best_target(s, vm, r, in_rule_hosts);
                if (to != SIZE_MAX && !must) {
                        /* should: only when balance allows. */
                        double after = imbalance_if(s, vm, to), now = imbalance(s);

                        if (after > now && after > dv_drs_target(s->in->settings.threshold))
                                to = SIZE_MAX;
                }
                if (to == SIZE_MAX) {
                        if (must)
                                note_violation(s, "rule '%s': vm '%s' must run on %s but no "
                                               "such host can take it now%s",
                                               r->name, vm_name(s, vm),
                                               r->n_hosts ? "its hosts" : "no host",
                                               s->in->vms[vm].movable ? "" : " (it cannot move)");
                        continue;
                }
                recommend(s, vm, to, DV_DRS_WHY_RULE, r->name,
                          "rule '%s' (%s): vm '%s' runs on host '%s', outside the rule's "
                          "hosts; host '%s' is the one of them that keeps the cluster best "
                          "balanced",
                          r->name, dv_drs_rule_kind_to_string(r->kind), vm_name(s, vm),
                          host_name(s, from), host_name(s, to));
        }
}

static void fix_anti_affinity(struct sim *s, const struct dv_drs_rule *r)
{
        for (size_t h = 0; h < s->in->n_hosts; h++) {
                size_t keep = SIZE_MAX, n = 0;

                /* Keep the one that cannot move, else the one most costly
                 * to move: the others go (fewest moves: all but one). */
                for (size_t i = 0; i < r->n_vms; i++) {
                        size_t vm = r->vms[i];

                        if (s->place[vm] != h)
                                continue;
                        n++;
                        if (keep == SIZE_MAX || !s->in->vms[vm].movable ||
                            (s->in->vms[keep].movable &&
                             cost_of(&s->in->vms[vm]) > cost_of(&s->in->vms[keep])))
                                keep = vm;
                }
                if (n < 2)
                        continue;
                for (size_t i = 0; i < r->n_vms && room(s); i++) {
                        size_t vm = r->vms[i], to;

                        if (vm == keep || s->place[vm] != h)
                                continue;
                        to = best_target(s, vm, r, no_other_there);
                        if (to == SIZE_MAX) {
                                note_violation(s, "rule '%s': vm '%s' and vm '%s' share host "
                                               "'%s' and no other host can take '%s'",
                                               r->name, vm_name(s, keep), vm_name(s, vm),
                                               host_name(s, h), vm_name(s, vm));
                                continue;
                        }
                        recommend(s, vm, to, DV_DRS_WHY_RULE, r->name,
                                  "rule '%s' (anti-affinity): vm '%s' shares host '%s' with "
                                  "vm '%s'; moving it to host '%s', which holds none of the "
                                  "rule's VMs",
                                  r->name, vm_name(s, vm), host_name(s, h), vm_name(s, keep),
                                  host_name(s, to));
                }
        }
}

static void fix_affinity(struct sim *s, const struct dv_drs_rule *r)
{
        size_t anchor = SIZE_MAX, best_n = 0;
        bool split = false;

        for (size_t i = 1; i < r->n_vms; i++)
                split = split || s->place[r->vms[i]] != s->place[r->vms[0]];
        if (!split)
                return;
        /* Anchor: the host of a VM that cannot move, else the host holding
         * the most of them (fewest moves). */
        for (size_t i = 0; i < r->n_vms; i++)
                if (!s->in->vms[r->vms[i]].movable)
                        anchor = s->place[r->vms[i]];
        if (anchor == SIZE_MAX)
                for (size_t i = 0; i < r->n_vms; i++) {
                        size_t h = s->place[r->vms[i]], n = 0;

                        for (size_t j = 0; j < r->n_vms; j++)
                                n += s->place[r->vms[j]] == h;
                        if (n > best_n) {
                                best_n = n;
                                anchor = h;
                        }
                }
        for (size_t i = 0; i < r->n_vms && room(s); i++) {
                size_t vm = r->vms[i];

                if (s->place[vm] == anchor)
                        continue;
                if (!can_move(s, vm, anchor) || !rules_allow(s, vm, anchor, false, r)) {
                        note_violation(s, "rule '%s': vm '%s' cannot join the others on host "
                                       "'%s'", r->name, vm_name(s, vm), host_name(s, anchor));
                        continue;
                }
                recommend(s, vm, anchor, DV_DRS_WHY_RULE, r->name,
                          "rule '%s' (affinity): vm '%s' runs apart on host '%s'; host '%s' "
                          "already holds the most of the rule's VMs",
                          r->name, vm_name(s, vm), host_name(s, s->place[vm]),
                          host_name(s, anchor));
        }
}

/* ---- balance ------------------------------------------------------------------- */

/* Sums over the usable hosts' loads (s->cpu, s->mem as imbalance() left
 * them). */
struct sums {
        double k;          /* usable hosts */
        double sc, qc;     /* sum and sum of squares of CPU loads */
        double sm, qm;     /* the same for memory */
};

static void sums_take(struct sim *s, struct sums *x)
{
        *x = (struct sums){ 0 };
        for (size_t h = 0; h < s->in->n_hosts; h++)
                if (s->in->hosts[h].usable) {
                        x->k++;
                        x->sc += s->cpu[h];
                        x->qc += s->cpu[h] * s->cpu[h];
                        x->sm += s->mem[h];
                        x->qm += s->mem[h] * s->mem[h];
                }
}

/* The imbalance with vm moved to `to`, from the sums (the same figure as
 * imbalance_if() up to rounding). */
static double imbalance_moved(struct sim *s, const struct sums *x, size_t vm, size_t to)
{
        const struct dv_drs_vm *v = &s->in->vms[vm];
        size_t from = s->place[vm];
        double sc = x->sc, qc = x->qc, sm = x->sm, qm = x->qm, c, m, sdc, sdm;
        const struct dv_drs_host *hs[2] = { &s->in->hosts[from], &s->in->hosts[to] };
        size_t idx[2] = { from, to };

        for (int i = 0; i < 2; i++) {
                double sign = i == 0 ? -1.0 : 1.0;

                if (!hs[i]->usable)
                        continue;
                c = s->cpu[idx[i]] + sign * (hs[i]->cpu_capacity > 0
                                                     ? v->cpu_demand / hs[i]->cpu_capacity
                                                     : 0);
                m = s->mem[idx[i]] + sign * (hs[i]->memory_mib > 0
                                                     ? v->mem_demand_mib / (double)hs[i]->memory_mib
                                                     : 0);
                sc += c - s->cpu[idx[i]];
                qc += c * c - s->cpu[idx[i]] * s->cpu[idx[i]];
                sm += m - s->mem[idx[i]];
                qm += m * m - s->mem[idx[i]] * s->mem[idx[i]];
        }
        sdc = dv_drs_sd(x->k, sc, qc);
        sdm = dv_drs_sd(x->k, sm, qm);
        return sqrt(sdc * sdc + sdm * sdm);
}

#define DRS_SIDE 32 /* large clusters: moves from the SIDE most loaded hosts to the SIDE least */

static int cmp_score(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

/* src[h]: VMs of h are candidates; dst[h]: h is a candidate target. All
 * hosts on a cluster of up to 2 x DRS_SIDE hosts; on a larger one the
 * DRS_SIDE hosts most above the mean load (CPU and memory, each in units
 * of its sd) give, the DRS_SIDE most below it take: the single best move
 * is among them in practice, and a pass stays O(VMs) per move. */
static void pick_sides(struct sim *s, const struct sums *x, bool *src, bool *dst)
{
        size_t n = s->in->n_hosts;
        double mc = x->k > 0 ? x->sc / x->k : 0, mm = x->k > 0 ? x->sm / x->k : 0;
        double sdc = dv_drs_sd(x->k, x->sc, x->qc), sdm = dv_drs_sd(x->k, x->sm, x->qm);
        double *score, lo, hi;

        if (n <= 2 * DRS_SIDE) {
                for (size_t h = 0; h < n; h++)
                        src[h] = dst[h] = true;
                return;
        }
        score = calloc(n, sizeof(*score));
        if (!score) {
                for (size_t h = 0; h < n; h++)
                        src[h] = dst[h] = true;
                return;
        }
        for (size_t h = 0; h < n; h++)
                score[h] = (s->cpu[h] - mc) / (sdc > 1e-9 ? sdc : 1) +
                           (s->mem[h] - mm) / (sdm > 1e-9 ? sdm : 1);
        memcpy(s->scratch, score, n * sizeof(*score));
        qsort(s->scratch, n, sizeof(*score), cmp_score);
        lo = s->scratch[DRS_SIDE - 1];
        hi = s->scratch[n - DRS_SIDE];
        for (size_t h = 0; h < n; h++) {
                src[h] = score[h] >= hi || !s->in->hosts[h].usable;
                dst[h] = score[h] <= lo;
        }
        free(score);
}

static void balance(struct sim *s)
{
        const struct dv_drs_input *in = s->in;
        double target = dv_drs_target(in->settings.threshold);
        double min_gain = dv_drs_min_gain(in->settings.threshold);
        struct dv_drs_result *res = s->res;
        _cleanup_(freep) bool *src = calloc(in->n_hosts + 1, sizeof(*src));
        _cleanup_(freep) bool *dst = calloc(in->n_hosts + 1, sizeof(*dst));
        struct sums sm;

        if (!src || !dst) {
                snprintf(res->note, sizeof(res->note), "out of memory");
                return;
        }
        while (room(s)) {
                double now = imbalance(s), best_gain = 0;
                size_t best_vm = SIZE_MAX, best_to = SIZE_MAX;
                bool too_costly = false;

                if (now <= target) {
                        if (res->n_recs > 0 || res->imbalanced)
                                snprintf(res->note, sizeof(res->note),
                                         "imbalance %.3f is within the target %.3f", now,
                                         target);
                        return;
                }
                /* The loads now and their sums: each candidate's imbalance
                 * is worked out from the two hosts it changes (O(1)). */
                (void)imbalance(s);
                sums_take(s, &sm);
                pick_sides(s, &sm, src, dst);
                for (size_t vm = 0; vm < in->n_vms; vm++) {
                        if (!src[s->place[vm]] || !in->vms[vm].movable || s->moved[vm])
                                continue;
                        for (size_t h = 0; h < in->n_hosts; h++) {
                                double gain;

                                if (!dst[h] || !can_move(s, vm, h) ||
                                    !rules_allow(s, vm, h, true, NULL))
                                        continue;
                                gain = now - imbalance_moved(s, &sm, vm, h);
                                if (gain <= 0)
                                        continue;
                                if (cost_of(&in->vms[vm]) > in->settings.max_copy_mib) {
                                        too_costly = true;
                                        continue;
                                }
                                if (gain > best_gain + 1e-12 ||
                                    (fabs(gain - best_gain) <= 1e-12 && best_vm != SIZE_MAX &&
                                     cost_of(&in->vms[vm]) < cost_of(&in->vms[best_vm]))) {
                                        best_gain = gain;
                                        best_vm = vm;
                                        best_to = h;
                                }
                        }
                }
                if (best_vm == SIZE_MAX) {
                        snprintf(res->note, sizeof(res->note),
                                 "imbalance %.3f is above the target %.3f but no move improves "
                                 "it%s",
                                 now, target,
                                 too_costly ? " within the cost limit (max_copy_mib)"
                                            : " (rules, capacity, migrations in flight)");
                        return;
                }
                if (best_gain < min_gain) {
                        snprintf(res->note, sizeof(res->note),
                                 "imbalance %.3f is above the target %.3f but the best move "
                                 "(vm '%s' to host '%s') gains only %.3f, less than %.3f",
                                 now, target, vm_name(s, best_vm), host_name(s, best_to),
                                 best_gain, min_gain);
                        return;
                }
                {
                        size_t from = s->place[best_vm];

                        imbalance(s); /* s->cpu: the loads now */
                        recommend(s, best_vm, best_to, DV_DRS_WHY_BALANCE, NULL,
                                  "balance: host '%s' carries %.0f%% CPU and %.0f%% memory "
                                  "load, host '%s' %.0f%% and %.0f%%; moving vm '%s' (%.0f%% "
                                  "CPU, %.0f MiB active) lowers the imbalance from %.3f to "
                                  "%.3f (target %.3f at threshold %d)",
                                  host_name(s, from), 100 * s->cpu[from], 100 * s->mem[from],
                                  host_name(s, best_to), 100 * s->cpu[best_to],
                                  100 * s->mem[best_to], vm_name(s, best_vm),
                                  in->vms[best_vm].cpu_demand, in->vms[best_vm].mem_demand_mib,
                                  now, now - best_gain, target, in->settings.threshold);
                }
        }
}

/* ---- the pass ------------------------------------------------------------------ */

static int check_input(const struct dv_drs_input *in)
{
        if (in->settings.threshold < DV_DRS_THRESHOLD_MIN ||
            in->settings.threshold > DV_DRS_THRESHOLD_MAX || in->settings.max_moves < 0)
                return -EINVAL;
        for (size_t i = 0; i < in->n_vms; i++)
                if (in->vms[i].host >= in->n_hosts)
                        return -EINVAL;
        for (size_t k = 0; k < in->n_rules; k++) {
                const struct dv_drs_rule *r = &in->rules[k];

                for (size_t i = 0; i < r->n_vms; i++)
                        if (r->vms[i] >= in->n_vms)
                                return -EINVAL;
                for (size_t i = 0; i < r->n_hosts; i++)
                        if (r->hosts[i] >= in->n_hosts)
                                return -EINVAL;
        }
        return 0;
}

int dv_drs_pass(const struct dv_drs_input *in, struct dv_drs_result *res)
{
        struct sim s = { .in = in, .res = res };
        size_t nh = in->n_hosts + 1, nv = in->n_vms + 1;
        int r;

        memset(res, 0, sizeof(*res));
        r = check_input(in);
        if (r < 0)
                return r;
        s.place = calloc(nv, sizeof(*s.place));
        s.moved = calloc(nv, sizeof(*s.moved));
        s.reserved = calloc(nh, sizeof(*s.reserved));
        s.migrations = calloc(nh, sizeof(*s.migrations));
        s.cpu = calloc(nh, sizeof(*s.cpu));
        s.mem = calloc(nh, sizeof(*s.mem));
        s.scratch = calloc(nh, sizeof(*s.scratch));
        if (!s.place || !s.moved || !s.reserved || !s.migrations || !s.cpu || !s.mem ||
            !s.scratch)
                abort();
        for (size_t i = 0; i < in->n_vms; i++)
                s.place[i] = in->vms[i].host;
        for (size_t h = 0; h < in->n_hosts; h++) {
                s.reserved[h] = in->hosts[h].reserved_mib;
                s.migrations[h] = in->hosts[h].migrations;
        }

        res->target = dv_drs_target(in->settings.threshold);
        res->imbalance = imbalance(&s);
        res->cpu_load_sd = sd(s.cpu, in->hosts, in->n_hosts);
        res->mem_load_sd = sd(s.mem, in->hosts, in->n_hosts);
        res->imbalanced = res->imbalance > res->target;
        res->persisted = res->imbalanced ? in->persisted_before + 1 : 0;

        /* 1. rules: must, anti-affinity, affinity, should. */
        for (int pass = 0; pass < 4; pass++)
                for (size_t k = 0; k < in->n_rules; k++) {
                        const struct dv_drs_rule *rule = &in->rules[k];

                        if (pass == 0 && rule->kind == DV_DRS_RULE_HOST_MUST)
                                fix_host_rule(&s, rule, true);
                        else if (pass == 1 && rule->kind == DV_DRS_RULE_ANTI_AFFINITY)
                                fix_anti_affinity(&s, rule);
                        else if (pass == 2 && rule->kind == DV_DRS_RULE_AFFINITY)
                                fix_affinity(&s, rule);
                        else if (pass == 3 && rule->kind == DV_DRS_RULE_HOST_SHOULD)
                                fix_host_rule(&s, rule, false);
                }

        /* 2. balance, damped. */
        if (in->settings.threshold == 1)
                snprintf(res->note, sizeof(res->note),
                         "threshold 1: only rules are enforced, load is not balanced");
        else if (!res->imbalanced)
                snprintf(res->note, sizeof(res->note), "imbalance %.3f is within the target %.3f",
                         res->imbalance, res->target);
        else if (res->persisted < in->settings.persist_passes)
                snprintf(res->note, sizeof(res->note),
                         "imbalance %.3f is above the target %.3f for %d pass(es) of the %d "
                         "needed before moving VMs",
                         res->imbalance, res->target, res->persisted,
                         in->settings.persist_passes);
        else
                balance(&s);
        res->imbalance_after = imbalance(&s);

        free(s.place);
        free(s.moved);
        free(s.reserved);
        free(s.migrations);
        free(s.cpu);
        free(s.mem);
        free(s.scratch);
        return 0;
}
