#include "mstats.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define MINUTE_MS 60000

const char *const dv_io_names[DV_IO_N] = {
        [DV_IO_DISK_READ_BPS] = "disk_read_bps",   [DV_IO_DISK_WRITE_BPS] = "disk_write_bps",
        [DV_IO_DISK_READ_IOPS] = "disk_read_iops", [DV_IO_DISK_WRITE_IOPS] = "disk_write_iops",
        [DV_IO_NET_RX_BPS] = "net_rx_bps",         [DV_IO_NET_TX_BPS] = "net_tx_bps",
        [DV_IO_NET_RX_PPS] = "net_rx_pps",         [DV_IO_NET_TX_PPS] = "net_tx_pps",
};

/* ---- counters to rates ---- */

int dv_io_counters_parse(json_t *o, const char *const k[4], struct dv_io_counters *ret)
{
        struct dv_io_counters c = { .valid = true };
        json_t *t = json_object_get(o, "t_ms"), *e = json_object_get(o, "epoch");

        if (!json_is_object(o) || !json_is_integer(t) || json_integer_value(t) <= 0)
                return -EINVAL;
        c.t_ms = json_integer_value(t);
        if (e && !json_is_null(e)) {
                if (!json_is_string(e) || json_string_length(e) >= sizeof(c.epoch))
                        return -EINVAL;
                snprintf(c.epoch, sizeof(c.epoch), "%s", json_string_value(e));
        }
        for (int i = 0; i < 4; i++) {
                json_t *v = json_object_get(o, k[i]);

                if (!json_is_integer(v) || json_integer_value(v) < 0)
                        return -EINVAL;
                c.v[i] = (uint64_t)json_integer_value(v);
        }
        *ret = c;
        return 0;
}

bool dv_io_rates(const struct dv_io_counters *prev, const struct dv_io_counters *cur,
                 double ret[4])
{
        bool restarted;
        double dt;

        if (!prev || !cur || !prev->valid || !cur->valid || cur->t_ms <= prev->t_ms ||
            cur->t_ms - prev->t_ms > DV_IO_MAX_GAP_MS)
                return false;
        restarted = strcmp(prev->epoch, cur->epoch) != 0;
        dt = (double)(cur->t_ms - prev->t_ms) / 1000.0;
        for (int i = 0; i < 4; i++) {
                uint64_t d = restarted || cur->v[i] < prev->v[i] ? cur->v[i]
                                                                 : cur->v[i] - prev->v[i];

                ret[i] = (double)d / dt;
        }
        return true;
}

bool dv_io_track_add(struct dv_io_track *t, const struct dv_io_counters *c, double ret[4])
{
        bool ok, new_epoch;

        if (!c || !c->valid)
                return false;
        new_epoch = t->last.valid && strcmp(c->epoch, t->last.epoch) != 0;
        if (new_epoch && t->has_retired && strcmp(c->epoch, t->retired) == 0)
                return false;
        if (t->last.valid && c->t_ms <= t->last.t_ms)
                return false;
        ok = dv_io_rates(&t->last, c, ret);
        if (new_epoch) {
                snprintf(t->retired, sizeof(t->retired), "%s", t->last.epoch);
                t->has_retired = true;
        }
        t->last = *c;
        return ok;
}

/* ---- one series ---- */

void dv_ts_init(struct dv_ts *ts)
{
        memset(ts, 0, sizeof(*ts));
        ts->acc_minute = -1;
}

static void close_minute(struct dv_ts *ts)
{
        if (ts->acc_n == 0)
                return;
        ts->min[ts->min_next] = (struct dv_ts_sample){
                .t_ms = ts->acc_minute * MINUTE_MS,
                .cpu_pct = ts->acc_cpu / ts->acc_n,
                .memory_mib = ts->acc_mem / ts->acc_n,
        };
        ts->min_next = (ts->min_next + 1) % DV_TS_MINUTES;
        if (ts->min_n < DV_TS_MINUTES)
                ts->min_n++;
        for (int k = 0; k < DV_IO_N; k++) {
                struct dv_ts_sample *m = &ts->min[(ts->min_next + DV_TS_MINUTES - 1) % DV_TS_MINUTES];

                m->io[k] = ts->acc_io_n[k] ? (float)(ts->acc_io[k] / ts->acc_io_n[k]) : NAN;
                ts->acc_io[k] = 0;
                ts->acc_io_n[k] = 0;
        }
        ts->acc_cpu = ts->acc_mem = 0;
        ts->acc_n = 0;
}

bool dv_ts_last(const struct dv_ts *ts, struct dv_ts_sample *ret)
{
        if (ts->raw_n == 0)
                return false;
        *ret = ts->raw[(ts->raw_next + DV_TS_RAW - 1) % DV_TS_RAW];
        return true;
}

void dv_ts_add_sample(struct dv_ts *ts, const struct dv_ts_sample *s)
{
        struct dv_ts_sample last;
        int64_t minute = s->t_ms / MINUTE_MS;

        if (!isfinite(s->cpu_pct) || !isfinite(s->memory_mib))
                return;
        if (dv_ts_last(ts, &last) && s->t_ms <= last.t_ms)
                return;
        ts->raw[ts->raw_next] = *s;
        for (int k = 0; k < DV_IO_N; k++)
                if (!isfinite(s->io[k]) || s->io[k] < 0)
                        ts->raw[ts->raw_next].io[k] = NAN;
        ts->raw_next = (ts->raw_next + 1) % DV_TS_RAW;
        if (ts->raw_n < DV_TS_RAW)
                ts->raw_n++;
        if (minute != ts->acc_minute) {
                close_minute(ts);
                ts->acc_minute = minute;
        }
        ts->acc_cpu += s->cpu_pct;
        ts->acc_mem += s->memory_mib;
        ts->acc_n++;
        for (int k = 0; k < DV_IO_N; k++)
                if (isfinite(s->io[k]) && s->io[k] >= 0) {
                        ts->acc_io[k] += s->io[k];
                        ts->acc_io_n[k]++;
                }
}

void dv_ts_add(struct dv_ts *ts, int64_t t_ms, double cpu_pct, double memory_mib)
{
        struct dv_ts_sample s = { .t_ms = t_ms, .cpu_pct = cpu_pct, .memory_mib = memory_mib };

        for (int k = 0; k < DV_IO_N; k++)
                s.io[k] = NAN;
        dv_ts_add_sample(ts, &s);
}

/* The i-th oldest raw sample. */
static const struct dv_ts_sample *raw_at(const struct dv_ts *ts, size_t i)
{
        return &ts->raw[(ts->raw_next + DV_TS_RAW - ts->raw_n + i) % DV_TS_RAW];
}

static const struct dv_ts_sample *min_at(const struct dv_ts *ts, size_t i)
{
        return &ts->min[(ts->min_next + DV_TS_MINUTES - ts->min_n + i) % DV_TS_MINUTES];
}

/* Sum the known rates of io into sum / n. */
static void add_io(double sum[DV_IO_N], double n[DV_IO_N], const float io[DV_IO_N])
{
        for (int k = 0; k < DV_IO_N; k++)
                if (isfinite(io[k])) {
                        sum[k] += io[k];
                        n[k]++;
                }
}

bool dv_ts_avg(const struct dv_ts *ts, int64_t now_ms, int64_t window_ms,
               struct dv_ts_sample *ret)
{
        double cpu = 0, mem = 0, n = 0, io[DV_IO_N] = { 0 }, io_n[DV_IO_N] = { 0 };
        int64_t from = now_ms - window_ms;

        if (ts->raw_n == 0)
                return false;
        /* The raw ring covers the window: use it. */
        if (raw_at(ts, 0)->t_ms <= from || window_ms <= MINUTE_MS) {
                for (size_t i = 0; i < ts->raw_n; i++) {
                        const struct dv_ts_sample *s = raw_at(ts, i);

                        if (s->t_ms > from && s->t_ms <= now_ms) {
                                cpu += s->cpu_pct;
                                mem += s->memory_mib;
                                n++;
                                add_io(io, io_n, s->io);
                        }
                }
        } else {
                /* Whole minutes that began in the window (weight 1 each:
                 * the heartbeat rate is steady), plus the current one. */
                for (size_t i = 0; i < ts->min_n; i++) {
                        const struct dv_ts_sample *s = min_at(ts, i);

                        if (s->t_ms > from - MINUTE_MS && s->t_ms <= now_ms) {
                                cpu += s->cpu_pct;
                                mem += s->memory_mib;
                                n++;
                                add_io(io, io_n, s->io);
                        }
                }
                if (ts->acc_n > 0 && ts->acc_minute * MINUTE_MS <= now_ms) {
                        cpu += ts->acc_cpu / ts->acc_n;
                        mem += ts->acc_mem / ts->acc_n;
                        n++;
                        for (int k = 0; k < DV_IO_N; k++)
                                if (ts->acc_io_n[k]) {
                                        io[k] += ts->acc_io[k] / ts->acc_io_n[k];
                                        io_n[k]++;
                                }
                }
        }
        if (n == 0)
                return false;
        *ret = (struct dv_ts_sample){ .t_ms = now_ms, .cpu_pct = cpu / n, .memory_mib = mem / n };
        for (int k = 0; k < DV_IO_N; k++)
                ret->io[k] = io_n[k] ? (float)(io[k] / io_n[k]) : NAN;
        return true;
}

static json_t *num(double v, bool ok)
{
        return ok && isfinite(v) ? json_real(round(v * 10.0) / 10.0) : json_null();
}

json_t *dv_ts_summary(const struct dv_ts *ts, int64_t now_ms)
{
        struct dv_ts_sample last = { 0 }, a1 = { 0 }, a5 = { 0 };
        bool hl = dv_ts_last(ts, &last);
        bool h1 = dv_ts_avg(ts, now_ms, MINUTE_MS, &a1);
        bool h5 = dv_ts_avg(ts, now_ms, 5 * MINUTE_MS, &a5);
        char when[32] = "";

        json_t *o;

        if (hl)
                dv_iso_time(last.t_ms, when, sizeof(when));
        o = json_pack("{s:{s:o,s:o,s:o},s:{s:o,s:o,s:o},s:s?}", "cpu_pct", "now",
                         num(last.cpu_pct, hl), "avg_1m", num(a1.cpu_pct, h1), "avg_5m",
                         num(a5.cpu_pct, h5), "memory_mib", "now", num(last.memory_mib, hl),
                         "avg_1m", num(a1.memory_mib, h1), "avg_5m", num(a5.memory_mib, h5),
                         "sampled_at", hl ? when : NULL);
        for (int k = 0; o && k < DV_IO_N; k++)
                json_object_set_new(o, dv_io_names[k],
                                    json_pack("{s:o,s:o,s:o}", "now", num(last.io[k], hl),
                                              "avg_1m", num(a1.io[k], h1), "avg_5m",
                                              num(a5.io[k], h5)));
        return o;
}

static json_t *sample_json(const struct dv_ts_sample *s)
{
        char when[32];
        json_t *o;

        dv_iso_time(s->t_ms, when, sizeof(when));
        o = json_pack("{s:s,s:o,s:o}", "t", when, "cpu_pct", num(s->cpu_pct, true), "memory_mib",
                      num(s->memory_mib, true));
        for (int k = 0; o && k < DV_IO_N; k++)
                json_object_set_new(o, dv_io_names[k], num(s->io[k], true));
        return o;
}

json_t *dv_ts_to_json(const struct dv_ts *ts, int64_t now_ms)
{
        json_t *o = dv_ts_summary(ts, now_ms), *raw = json_array(), *mins = json_array();

        for (size_t i = 0; i < ts->raw_n; i++)
                json_array_append_new(raw, sample_json(raw_at(ts, i)));
        for (size_t i = 0; i < ts->min_n; i++)
                json_array_append_new(mins, sample_json(min_at(ts, i)));
        json_object_set_new(o, "samples", raw);
        json_object_set_new(o, "minutes", mins);
        return o;
}

/* ---- the registry ---- */

struct series {
        char id[64];        /* host or VM id */
        char kind[8];       /* "host" or "vm" */
        int64_t fed_ms;     /* wall-clock ms of the last sample */
        struct dv_io_track disk; /* its disk counters */
        struct dv_io_track net;  /* its network counters */
        struct dv_ts ts;    /* the series */
};

struct dv_mstats {
        pthread_mutex_t lock; /* a leaf */
        struct series *v;     /* the series, unordered */
        size_t n;             /* in use */
        size_t cap;           /* allocated */
};

struct dv_mstats *dv_mstats_new(void)
{
        struct dv_mstats *s = calloc(1, sizeof(*s));

        if (s)
                pthread_mutex_init(&s->lock, NULL);
        return s;
}

void dv_mstats_free(struct dv_mstats *s)
{
        if (!s)
                return;
        pthread_mutex_destroy(&s->lock);
        free(s->v);
        free(s);
}

static struct series *find(struct dv_mstats *s, const char *id)
{
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->v[i].id, id) == 0)
                        return &s->v[i];
        return NULL;
}

/* A slot for a new series: drop the expired ones, then grow, else reuse
 * the least recently fed. */
static struct series *slot(struct dv_mstats *s, int64_t now_ms)
{
        size_t oldest = 0;

        for (size_t i = 0; i < s->n;) {
                if (now_ms - s->v[i].fed_ms > DV_MSTATS_EXPIRE_MS)
                        s->v[i] = s->v[--s->n];
                else
                        i++;
        }
        if (s->n == s->cap && s->cap < DV_MSTATS_MAX_SERIES) {
                size_t cap = s->cap ? s->cap * 2 : 16;
                struct series *v;

                cap = DV_MIN(cap, (size_t)DV_MSTATS_MAX_SERIES);
                v = realloc(s->v, cap * sizeof(*v));
                if (!v)
                        return NULL;
                s->v = v;
                s->cap = cap;
        }
        if (s->n < s->cap)
                return &s->v[s->n++];
        for (size_t i = 1; i < s->n; i++)
                if (s->v[i].fed_ms < s->v[oldest].fed_ms)
                        oldest = i;
        return &s->v[oldest];
}

/* The rates of a group's reading c into out[0..3] (left NAN when none). */
static void group_rates(struct dv_io_track *t, const struct dv_io_counters *c, float *out)
{
        double r[4];

        if (dv_io_track_add(t, c, r))
                for (int i = 0; i < 4; i++)
                        out[i] = (float)r[i];
}

void dv_mstats_add(struct dv_mstats *s, const char *kind, const char *id, int64_t t_ms,
                   double cpu_pct, double memory_mib)
{
        dv_mstats_add_io(s, kind, id, t_ms, cpu_pct, memory_mib, NULL, NULL);
}

void dv_mstats_add_io(struct dv_mstats *s, const char *kind, const char *id, int64_t t_ms,
                      double cpu_pct, double memory_mib, const struct dv_io_counters *disk,
                      const struct dv_io_counters *net)
{
        struct dv_ts_sample smp = { .t_ms = t_ms, .cpu_pct = cpu_pct, .memory_mib = memory_mib };
        struct series *x;

        for (int k = 0; k < DV_IO_N; k++)
                smp.io[k] = NAN;

        if (!s || !id || strlen(id) >= sizeof(x->id))
                return;
        pthread_mutex_lock(&s->lock);
        x = find(s, id);
        if (!x) {
                x = slot(s, t_ms);
                if (x) {
                        snprintf(x->id, sizeof(x->id), "%s", id);
                        snprintf(x->kind, sizeof(x->kind), "%s", kind);
                        memset(&x->disk, 0, sizeof(x->disk));
                        memset(&x->net, 0, sizeof(x->net));
                        dv_ts_init(&x->ts);
                }
        }
        if (x) {
                x->fed_ms = t_ms;
                group_rates(&x->disk, disk, &smp.io[DV_IO_DISK_READ_BPS]);
                group_rates(&x->net, net, &smp.io[DV_IO_NET_RX_BPS]);
                dv_ts_add_sample(&x->ts, &smp);
        }
        pthread_mutex_unlock(&s->lock);
}

json_t *dv_mstats_summary(struct dv_mstats *s, const char *id, int64_t now_ms)
{
        struct series *x;
        json_t *o = NULL;

        if (!s || !id)
                return NULL;
        pthread_mutex_lock(&s->lock);
        x = find(s, id);
        if (x)
                o = dv_ts_summary(&x->ts, now_ms);
        pthread_mutex_unlock(&s->lock);
        return o;
}

json_t *dv_mstats_json(struct dv_mstats *s, const char *id, int64_t now_ms)
{
        struct series *x;
        json_t *o = NULL;

        if (!s || !id)
                return NULL;
        pthread_mutex_lock(&s->lock);
        x = find(s, id);
        if (x)
                o = dv_ts_to_json(&x->ts, now_ms);
        pthread_mutex_unlock(&s->lock);
        return o;
}

bool dv_mstats_avg(struct dv_mstats *s, const char *id, int64_t now_ms, int64_t window_ms,
                   struct dv_ts_sample *ret)
{
        struct series *x;
        bool ok = false;

        if (!s || !id)
                return false;
        pthread_mutex_lock(&s->lock);
        x = find(s, id);
        if (x)
                ok = dv_ts_avg(&x->ts, now_ms, window_ms, ret);
        pthread_mutex_unlock(&s->lock);
        return ok;
}
