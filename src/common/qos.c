#include "qos.h"

#include <stdarg.h>
#include <string.h>

#include "json.h"

/* ---- CPU sets ------------------------------------------------------------ */

static void set_bit(struct dv_cpuset *s, int n)
{
        s->bits[n / 64] |= UINT64_C(1) << (n % 64);
}

static bool has_bit(const struct dv_cpuset *s, int n)
{
        return s->bits[n / 64] & (UINT64_C(1) << (n % 64));
}

static int parse_cpu(const char **p, int *ret)
{
        int v = 0, digits = 0;

        while (**p >= '0' && **p <= '9') {
                v = v * 10 + (**p - '0');
                (*p)++;
                if (++digits > 4)
                        return -EINVAL;
        }
        if (digits == 0 || v >= DV_CPUSET_MAX)
                return -EINVAL;
        *ret = v;
        return 0;
}

int dv_cpuset_parse(const char *s, struct dv_cpuset *ret)
{
        struct dv_cpuset set = { { 0 } };
        const char *p = s;

        if (!s || !*s || strlen(s) > DV_QOS_AFFINITY_LEN_MAX)
                return -EINVAL;
        for (;;) {
                int lo, hi;

                if (parse_cpu(&p, &lo) < 0)
                        return -EINVAL;
                hi = lo;
                if (*p == '-') {
                        p++;
                        if (parse_cpu(&p, &hi) < 0 || hi < lo)
                                return -EINVAL;
                }
                for (int c = lo; c <= hi; c++)
                        set_bit(&set, c);
                if (*p == 0)
                        break;
                if (*p != ',')
                        return -EINVAL;
                p++;
        }
        *ret = set;
        return 0;
}

void dv_cpuset_format(const struct dv_cpuset *set, char *buf, size_t len)
{
        size_t off = 0;

        if (len == 0)
                return;
        buf[0] = 0;
        for (int c = 0; c < DV_CPUSET_MAX; c++) {
                int hi = c;
                int n;

                if (!has_bit(set, c))
                        continue;
                while (hi + 1 < DV_CPUSET_MAX && has_bit(set, hi + 1))
                        hi++;
                if (hi == c)
                        n = snprintf(buf + off, len - off, "%s%d", off ? "," : "", c);
                else
                        n = snprintf(buf + off, len - off, "%s%d-%d", off ? "," : "", c, hi);
                if (n < 0 || (size_t)n >= len - off) {
                        buf[off] = 0; /* truncated: keep whole entries only */
                        return;
                }
                off += (size_t)n;
                c = hi;
        }
}

int dv_cpuset_count(const struct dv_cpuset *set)
{
        int n = 0;

        for (size_t i = 0; i < ELEMENTSOF(set->bits); i++)
                n += __builtin_popcountll(set->bits[i]);
        return n;
}

bool dv_cpuset_is_subset(const struct dv_cpuset *a, const struct dv_cpuset *b)
{
        for (size_t i = 0; i < ELEMENTSOF(a->bits); i++)
                if (a->bits[i] & ~b->bits[i])
                        return false;
        return true;
}

void dv_cpuset_first_n(int n, struct dv_cpuset *ret)
{
        memset(ret, 0, sizeof(*ret));
        for (int c = 0; c < n && c < DV_CPUSET_MAX; c++)
                set_bit(ret, c);
}

void dv_cpuset_and(struct dv_cpuset *a, const struct dv_cpuset *b)
{
        for (size_t i = 0; i < ELEMENTSOF(a->bits); i++)
                a->bits[i] &= b->bits[i];
}

/* ---- the CPU QoS object ---------------------------------------------------- */

void dv_cpu_qos_default(struct dv_cpu_qos *q)
{
        memset(q, 0, sizeof(*q));
        q->shares = DV_QOS_SHARES_DEFAULT;
}

/* Prefix err's message with "cpu_qos." where it names a field. */
static int in_cpu_qos(int r, struct dv_error *err)
{
        char msg[sizeof(err->message) + 16];
        size_t n;

        if (r >= 0 || !err)
                return r;
        snprintf(msg, sizeof(msg), "cpu_qos: %s", err->message);
        n = DV_MIN(strlen(msg), sizeof(err->message) - 1);
        memcpy(err->message, msg, n);
        err->message[n] = 0;
        return r;
}

int dv_cpu_qos_merge(json_t *obj, struct dv_cpu_qos *q, struct dv_error *err)
{
        static const char *const keys[] = { "shares", "limit_mhz", "limit_pct",
                                            "reservation_mhz", "affinity", NULL };
        struct dv_cpu_qos n = *q;
        int64_t mhz = -1, pct = -1;
        json_t *aff;
        int r;

        if (!obj || json_is_null(obj))
                return 0;
        if (!json_is_object(obj))
                return dv_error_set(err, 400, "invalid-field", "field 'cpu_qos' must be an object");
        r = dv_json_check_keys(obj, keys, err);
        if (r >= 0)
                r = dv_json_get_int(obj, "shares", false, DV_QOS_SHARES_MIN, DV_QOS_SHARES_MAX,
                                    &n.shares, err);
        if (r >= 0)
                r = dv_json_get_int(obj, "limit_mhz", false, 0, DV_QOS_MHZ_MAX, &mhz, err);
        if (r >= 0)
                r = dv_json_get_int(obj, "limit_pct", false, 0, DV_QOS_LIMIT_PCT_MAX, &pct, err);
        if (r >= 0)
                r = dv_json_get_int(obj, "reservation_mhz", false, 0, DV_QOS_MHZ_MAX,
                                    &n.reservation_mhz, err);
        if (r < 0)
                return in_cpu_qos(r, err);
        if (mhz > 0 && pct > 0)
                return dv_error_set(err, 400, "invalid-field",
                                    "cpu_qos: give the limit as 'limit_mhz' or 'limit_pct', not both");
        if (mhz >= 0 || pct >= 0) {
                n.limit_mhz = DV_MAX(mhz, 0);
                n.limit_pct = DV_MAX(pct, 0);
        }
        aff = json_object_get(obj, "affinity");
        if (aff && json_is_null(aff)) {
                n.has_affinity = false;
                memset(&n.affinity, 0, sizeof(n.affinity));
        } else if (aff) {
                if (!json_is_string(aff) || dv_cpuset_parse(json_string_value(aff), &n.affinity) < 0)
                        return dv_error_set(err, 400, "invalid-field",
                                            "cpu_qos: field 'affinity' must be a CPU list such as "
                                            "\"0-3,8\" (CPUs 0..%d) or null",
                                            DV_CPUSET_MAX - 1);
                n.has_affinity = true;
        }
        *q = n;
        return 0;
}

json_t *dv_cpu_qos_to_json(const struct dv_cpu_qos *q)
{
        char aff[DV_QOS_AFFINITY_LEN_MAX * 2];

        dv_cpuset_format(&q->affinity, aff, sizeof(aff));
        return json_pack("{s:I,s:I,s:I,s:I,s:o}", "shares", (json_int_t)q->shares, "limit_mhz",
                         (json_int_t)q->limit_mhz, "limit_pct", (json_int_t)q->limit_pct,
                         "reservation_mhz", (json_int_t)q->reservation_mhz, "affinity",
                         q->has_affinity ? json_string(aff) : json_null());
}

int64_t dv_cpu_qos_limit_mhz(const struct dv_cpu_qos *q, int64_t host_mhz)
{
        if (q->limit_mhz > 0)
                return q->limit_mhz;
        if (q->limit_pct > 0)
                return DV_MAX((q->limit_pct * host_mhz + 50) / 100, 1);
        return 0;
}

int dv_cpu_qos_check(const struct dv_cpu_qos *q, int64_t vcpus, int64_t host_cpus,
                     int64_t host_mhz, struct dv_error *err)
{
        int64_t limit = dv_cpu_qos_limit_mhz(q, host_mhz);
        int64_t usable = vcpus * host_mhz;
        struct dv_cpuset host;

        dv_cpuset_first_n((int)DV_MIN(host_cpus, DV_CPUSET_MAX), &host);
        if (q->has_affinity) {
                char s[DV_QOS_AFFINITY_LEN_MAX * 2];

                dv_cpuset_format(&q->affinity, s, sizeof(s));
                if (!dv_cpuset_is_subset(&q->affinity, &host))
                        return dv_error_set(err, 409, "qos-conflict",
                                            "cpu affinity %s names CPUs the host lacks "
                                            "(it has CPUs 0-%lld)",
                                            s, (long long)host_cpus - 1);
                if (q->reservation_mhz > dv_cpuset_count(&q->affinity) * host_mhz)
                        return dv_error_set(err, 409, "qos-conflict",
                                            "cpu reservation %lld MHz is more than the %d CPUs "
                                            "of affinity %s give (%lld MHz)",
                                            (long long)q->reservation_mhz,
                                            dv_cpuset_count(&q->affinity), s,
                                            (long long)dv_cpuset_count(&q->affinity) * host_mhz);
        }
        if (limit > 0 && q->reservation_mhz > limit)
                return dv_error_set(err, 409, "qos-conflict",
                                    "cpu reservation %lld MHz is over the cpu limit %lld MHz%s",
                                    (long long)q->reservation_mhz, (long long)limit,
                                    q->limit_pct > 0 ? " (the percent limit on this host)" : "");
        if (q->reservation_mhz > usable)
                return dv_error_set(err, 409, "qos-conflict",
                                    "cpu reservation %lld MHz is more than the vm's %lld vCPUs "
                                    "can use (%lld MHz at %lld MHz per core)",
                                    (long long)q->reservation_mhz, (long long)vcpus,
                                    (long long)usable, (long long)host_mhz);
        return 0;
}

static void effective_set(const struct dv_cpu_qos *q, const struct dv_cpuset *host,
                          struct dv_cpuset *ret)
{
        *ret = *host;
        if (q->has_affinity)
                dv_cpuset_and(ret, &q->affinity);
}

int dv_cpu_qos_admit(const char *host, const struct dv_qos_vm *vms, size_t n, int64_t host_cpus,
                     int64_t host_mhz, struct dv_error *err)
{
        struct dv_cpuset all;

        dv_cpuset_first_n((int)DV_MIN(host_cpus, DV_CPUSET_MAX), &all);
        /* S = the whole host, then each VM's own set. */
        for (size_t k = 0; k <= n; k++) {
                struct dv_cpuset s;
                int64_t sum = 0, cap;
                char text[DV_QOS_AFFINITY_LEN_MAX * 2];

                if (k < n && !vms[k].q->has_affinity)
                        continue;
                if (k == n)
                        s = all;
                else
                        effective_set(vms[k].q, &all, &s);
                for (size_t i = 0; i < n; i++) {
                        struct dv_cpuset e;

                        effective_set(vms[i].q, &all, &e);
                        if (dv_cpuset_is_subset(&e, &s))
                                sum += vms[i].q->reservation_mhz;
                }
                cap = dv_cpuset_count(&s) * host_mhz;
                if (sum <= cap)
                        continue;
                if (k == n)
                        return dv_error_set(err, 409, "insufficient-resources",
                                            "host '%s' has %lld MHz of CPU (%lld CPUs at %lld MHz); "
                                            "its vms would reserve %lld MHz",
                                            host, (long long)cap, (long long)host_cpus,
                                            (long long)host_mhz, (long long)sum);
                dv_cpuset_format(&s, text, sizeof(text));
                return dv_error_set(err, 409, "insufficient-resources",
                                    "CPUs %s of host '%s' give %lld MHz; the vms confined to them "
                                    "(e.g. '%s') would reserve %lld MHz",
                                    text, host, (long long)cap, vms[k].name, (long long)sum);
        }
        return 0;
}

/* ---- cgroup values ---------------------------------------------------------- */

int64_t dv_qos_quota_us(int64_t limit_mhz, int64_t host_mhz)
{
        int64_t q;

        if (limit_mhz <= 0 || host_mhz <= 0)
                return -1;
        q = (limit_mhz * DV_QOS_PERIOD_US + host_mhz / 2) / host_mhz;
        return DV_MAX(q, DV_QOS_QUOTA_MIN_US);
}

void dv_qos_weights(enum dv_cg_version v, size_t n, const struct dv_cpu_qos *const *qs,
                    const int *cpus, int64_t host_mhz, int64_t *out)
{
        double k = v == DV_CG_V2 ? 10000.0 : 100000.0;
        int64_t lo = v == DV_CG_V2 ? 1 : 2, hi = v == DV_CG_V2 ? 10000 : 262144;
        double p = 0, shares = 0, scale = 1;

        for (size_t i = 0; i < n; i++) {
                double cap = (double)DV_MAX(cpus[i], 1) * (double)DV_MAX(host_mhz, 1);

                p += DV_MIN((double)qs[i]->reservation_mhz / cap, 1.0);
                shares += (double)qs[i]->shares;
        }
        if (p > 1) {
                scale = 1 / p;
                p = 1;
        }
        for (size_t i = 0; i < n; i++) {
                double cap = (double)DV_MAX(cpus[i], 1) * (double)DV_MAX(host_mhz, 1);
                double rho = DV_MIN((double)qs[i]->reservation_mhz / cap, 1.0) * scale;
                double frac = rho + (1 - p) * (shares > 0 ? (double)qs[i]->shares / shares : 0);
                int64_t w = (int64_t)(frac * k + 0.5);

                out[i] = DV_MIN(DV_MAX(w, lo), hi);
        }
}

int64_t dv_qos_cpuinfo_mhz(const char *cpuinfo)
{
        int64_t best = 0;
        const char *p = cpuinfo;

        while (p && (p = strstr(p, "cpu MHz")) != NULL) {
                const char *c = strchr(p, ':');
                double v;

                if (!c)
                        break;
                if (sscanf(c + 1, "%lf", &v) == 1 && v > best && v < 1e6)
                        best = (int64_t)(v + 0.5);
                p = c + 1;
        }
        return best;
}

/* ---- memory ------------------------------------------------------------------ */

void dv_mem_qos_default(struct dv_mem_qos *q)
{
        q->shares = DV_QOS_SHARES_DEFAULT;
        q->reservation_mib = 0;
        q->limit_mib = -1;
}

static int in_mem_qos(int r, struct dv_error *err)
{
        char msg[sizeof(err->message) + 16];
        size_t n;

        if (r >= 0 || !err)
                return r;
        snprintf(msg, sizeof(msg), "mem_qos: %s", err->message);
        n = DV_MIN(strlen(msg), sizeof(err->message) - 1);
        memcpy(err->message, msg, n);
        err->message[n] = 0;
        return r;
}

int dv_mem_qos_merge(json_t *obj, struct dv_mem_qos *q, struct dv_error *err)
{
        static const char *const keys[] = { "shares", "reservation_mib", "limit_mib", NULL };
        struct dv_mem_qos n = *q;
        int r;

        if (!obj || json_is_null(obj))
                return 0;
        if (!json_is_object(obj))
                return dv_error_set(err, 400, "invalid-field", "field 'mem_qos' must be an object");
        r = dv_json_check_keys(obj, keys, err);
        if (r >= 0)
                r = dv_json_get_int(obj, "shares", false, DV_QOS_SHARES_MIN, DV_QOS_SHARES_MAX,
                                    &n.shares, err);
        if (r >= 0)
                r = dv_json_get_int(obj, "reservation_mib", false, 0, DV_QOS_MEM_MIB_MAX,
                                    &n.reservation_mib, err);
        if (r >= 0)
                r = dv_json_get_int(obj, "limit_mib", false, 1, DV_QOS_MEM_MIB_MAX, &n.limit_mib,
                                    err);
        if (r < 0)
                return in_mem_qos(r, err);
        *q = n;
        return 0;
}

json_t *dv_mem_qos_to_json(const struct dv_mem_qos *q, int64_t memory_mib)
{
        return json_pack("{s:I,s:I,s:I}", "shares", (json_int_t)q->shares, "reservation_mib",
                         (json_int_t)q->reservation_mib, "limit_mib", (json_int_t)memory_mib);
}

int dv_mem_qos_check(const struct dv_mem_qos *q, int64_t memory_mib, struct dv_error *err)
{
        if (q->limit_mib > 0 && q->limit_mib != memory_mib)
                return dv_error_set(err, 409, "qos-conflict",
                                    "the memory limit is the vm's configured memory (%lld MiB); "
                                    "change memory_mib instead of limit_mib %lld",
                                    (long long)memory_mib, (long long)q->limit_mib);
        if (q->reservation_mib > memory_mib)
                return dv_error_set(err, 409, "qos-conflict",
                                    "memory reservation %lld MiB is over the vm's memory "
                                    "(its limit) %lld MiB",
                                    (long long)q->reservation_mib, (long long)memory_mib);
        return 0;
}

/* ---- the balloon controller's decision ------------------------------------------ */

int64_t dv_balloon_floor(const struct dv_balloon_vm *v, int64_t margin_mib)
{
        int64_t f = v->guest_used_mib >= 0 ? v->guest_used_mib + margin_mib : v->target_mib;

        f = DV_MAX(f, v->reservation_mib);
        return DV_MIN(f, v->memory_mib);
}

/* Order: ascending shares (reclaim) or descending (give back); ties by
 * name, so that a round is deterministic. */
static bool before(const struct dv_balloon_vm *a, const struct dv_balloon_vm *b, bool reclaim)
{
        if (a->shares != b->shares)
                return reclaim ? a->shares < b->shares : a->shares > b->shares;
        return strcmp(a->name ? a->name : "", b->name ? b->name : "") < 0;
}

/* The shares order, kept as floors move: while a VM with lower shares has
 * room above its floor (its guest freed memory since), a VM with higher
 * shares does not keep a balloon; memory moves from the one to the other
 * (at most step per pair and round), the total ballooned unchanged. */
static void balloon_rebalance(const struct dv_balloon_params *p, struct dv_balloon_vm *vms,
                              size_t n)
{
        int64_t step = p->step_mib > 0 ? p->step_mib : INT64_MAX;

        for (size_t lo = 0; lo < n; lo++)
                for (size_t hi = 0; hi < n; hi++) {
                        int64_t room, d;

                        if (vms[hi].shares <= vms[lo].shares || vms[lo].guest_used_mib < 0)
                                continue;
                        room = vms[lo].new_target_mib - dv_balloon_floor(&vms[lo], p->margin_mib);
                        d = DV_MIN(DV_MIN(room, vms[hi].memory_mib - vms[hi].new_target_mib),
                                   step);
                        if (d <= 0)
                                continue;
                        vms[lo].new_target_mib -= d;
                        vms[hi].new_target_mib += d;
                }
}

int64_t dv_balloon_decide(const struct dv_balloon_params *p, struct dv_balloon_vm *vms, size_t n)
{
        int64_t free_mib = p->capacity_mib - p->used_mib;
        int64_t low = p->capacity_mib * p->low_pct / 100;
        int64_t high = p->capacity_mib * p->high_pct / 100;
        int64_t step = p->step_mib > 0 ? p->step_mib : INT64_MAX;
        int64_t want, done = 0;
        bool reclaim, *seen;

        for (size_t i = 0; i < n; i++) {
                /* A target out of bounds (a new VM, a changed reservation)
                 * is brought back into them first. */
                int64_t t = DV_MAX(vms[i].target_mib, vms[i].reservation_mib);

                /* A guest that now uses more than its target allows gets
                 * its floor back at once: never below its use + margin. */
                if (vms[i].guest_used_mib >= 0)
                        t = DV_MAX(t, vms[i].guest_used_mib + p->margin_mib);
                t = DV_MIN(t, vms[i].memory_mib);

                vms[i].new_target_mib = t;
        }
        /* Below low, reclaim; once started it goes on up to high (else it
         * stops between the marks and nothing is ever given back). */
        if (free_mib < low || (p->reclaiming && free_mib < high)) {
                /* At least a step a round too: inflating onto pages the
                 * host never backed frees nothing, and a few MiB short of
                 * high were moves too small to send (measured: stuck at
                 * 493 of 600 MiB with room above the floors). The floors
                 * bound it. */
                reclaim = true;
                want = DV_MAX(high - free_mib, p->step_mib);
        } else if (free_mib >= high) {
                /* At least a step a round: a few MiB above high would
                 * else be moves too small to send, round after round (the
                 * pages given back are not touched yet: free stays). */
                reclaim = false;
                want = DV_MAX(free_mib - high, p->step_mib);
        } else {
                balloon_rebalance(p, vms, n);
                return 0;
        }
        seen = calloc(n + 1, sizeof(*seen));
        if (!seen)
                return 0;
        while (want > 0) {
                size_t k = SIZE_MAX;
                int64_t room, d;

                for (size_t i = 0; i < n; i++)
                        if (!seen[i] && (k == SIZE_MAX || before(&vms[i], &vms[k], reclaim)))
                                k = i;
                if (k == SIZE_MAX)
                        break;
                seen[k] = true;
                /* A VM whose use is unknown (no Tools answer) may still
                 * have room: the VMs with higher shares wait for it. */
                if (reclaim && vms[k].guest_used_mib < 0 &&
                    vms[k].new_target_mib > vms[k].reservation_mib)
                        break;
                if (reclaim)
                        room = vms[k].new_target_mib - dv_balloon_floor(&vms[k], p->margin_mib);
                else
                        room = vms[k].memory_mib - vms[k].new_target_mib;
                /* Giving back takes no host memory until the guest touches
                 * the pages: all that free above the high mark allows, at
                 * once. Reclaim goes by steps (QEMU must free the pages). */
                d = DV_MIN(room, want);
                if (reclaim)
                        d = DV_MIN(d, step);
                if (d <= 0)
                        continue;
                vms[k].new_target_mib += reclaim ? -d : d;
                want -= d;
                done += d;
        }
        free(seen);
        balloon_rebalance(p, vms, n);
        return reclaim ? done : -done;
}

/* ---- port-group traffic shaping ----------------------------------------------- */

static int shape_merge(json_t *obj, const char *dir, struct dv_shape *ret, struct dv_error *err)
{
        static const char *const keys[] = { "average_kbps", "peak_kbps", "burst_kb", NULL };
        struct dv_shape s = { 0 };
        int r;

        if (!obj)
                return 0;
        if (json_is_null(obj)) {
                *ret = s;
                return 0;
        }
        if (!json_is_object(obj))
                return dv_error_set(err, 400, "invalid-field",
                                    "shaping.%s must be an object or null", dir);
        r = dv_json_check_keys(obj, keys, err);
        if (r >= 0)
                r = dv_json_get_int(obj, "average_kbps", true, 1, DV_SHAPE_KBPS_MAX,
                                    &s.average_kbps, err);
        if (r >= 0) {
                s.peak_kbps = s.average_kbps;
                r = dv_json_get_int(obj, "peak_kbps", false, 1, DV_SHAPE_KBPS_MAX, &s.peak_kbps,
                                    err);
        }
        if (r >= 0) {
                /* One second at the average: a meter drops, it does not
                 * queue, and TCP through a 100 ms bucket reached only 55 %
                 * of the rate (docs/qos.md "Network"). */
                s.burst_kb = DV_MIN(DV_MAX(s.average_kbps / 8, 16), DV_SHAPE_BURST_KB_MAX);
                r = dv_json_get_int(obj, "burst_kb", false, 1, DV_SHAPE_BURST_KB_MAX, &s.burst_kb,
                                    err);
        }
        if (r < 0) {
                char msg[sizeof(err->message) + 32];
                size_t len;

                snprintf(msg, sizeof(msg), "shaping.%s: %s", dir, err->message);
                len = DV_MIN(strlen(msg), sizeof(err->message) - 1);
                memcpy(err->message, msg, len);
                err->message[len] = 0;
                return r;
        }
        if (s.peak_kbps < s.average_kbps)
                return dv_error_set(err, 409, "qos-conflict",
                                    "shaping.%s: peak %lld kbit/s is below the average %lld kbit/s",
                                    dir, (long long)s.peak_kbps, (long long)s.average_kbps);
        *ret = s;
        return 0;
}

int dv_shaping_merge(json_t *obj, struct dv_shaping *s, struct dv_error *err)
{
        static const char *const keys[] = { "ingress", "egress", NULL };
        struct dv_shaping n = *s;
        int r;

        if (!obj)
                return 0;
        if (json_is_null(obj)) {
                memset(s, 0, sizeof(*s));
                return 0;
        }
        if (!json_is_object(obj))
                return dv_error_set(err, 400, "invalid-field", "field 'shaping' must be an object or null");
        r = dv_json_check_keys(obj, keys, err);
        if (r >= 0)
                r = shape_merge(json_object_get(obj, "ingress"), "ingress", &n.ingress, err);
        if (r >= 0)
                r = shape_merge(json_object_get(obj, "egress"), "egress", &n.egress, err);
        if (r < 0)
                return r;
        *s = n;
        return 0;
}

static json_t *shape_json(const struct dv_shape *s)
{
        if (s->average_kbps <= 0)
                return json_null();
        return json_pack("{s:I,s:I,s:I}", "average_kbps", (json_int_t)s->average_kbps, "peak_kbps",
                         (json_int_t)s->peak_kbps, "burst_kb", (json_int_t)s->burst_kb);
}

json_t *dv_shaping_to_json(const struct dv_shaping *s)
{
        if (s->ingress.average_kbps <= 0 && s->egress.average_kbps <= 0)
                return json_null();
        return json_pack("{s:o,s:o}", "ingress", shape_json(&s->ingress), "egress",
                         shape_json(&s->egress));
}
