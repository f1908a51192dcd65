/* Load metrics kept by the manager (docs/api.md "Metrics"): for every host
 * and VM a bounded time series of CPU demand and memory demand, fed by the
 * agents' heartbeats (the VMSTATUS "cpu_pct" and "rss_mib" of each VM):
 *
 *   VM:   cpu_pct     CPU time of its QEMU process, % of one host CPU
 *         memory_mib  resident memory of its QEMU process (what it touches,
 *                     not its configured size)
 *   host: cpu_pct     sum of its running VMs' cpu_pct / the host's CPUs
 *                     (0..100: % of the host's capacity the VMs demand)
 *         memory_mib  sum of its running VMs' memory_mib
 *
 * Retention: the last DV_TS_RAW samples (one per heartbeat, about a minute)
 * and DV_TS_MINUTES one-minute averages (an hour). At most
 * DV_MSTATS_MAX_SERIES series; one not fed for DV_MSTATS_EXPIRE_MS goes
 * (a deleted VM), the least recently fed goes first when full.
 *
 * Locks: the registry's mutex is a leaf (never held while calling out). */
#pragma once

#include <jansson.h>
#include <pthread.h>

#include "util.h"

#define DV_TS_RAW 60
#define DV_TS_MINUTES 60
#define DV_MSTATS_MAX_SERIES 4096
#define DV_MSTATS_EXPIRE_MS (60 * 60 * 1000)

struct dv_ts_sample {
        int64_t t_ms;      /* wall-clock ms of the sample (minutes: start of the minute) */
        double cpu_pct;    /* CPU demand */
        double memory_mib; /* memory demand */
};

/* One series. Pure: no clock, no locks. */
struct dv_ts {
        struct dv_ts_sample raw[DV_TS_RAW];     /* ring of the last samples */
        size_t raw_next;                        /* next slot to write */
        size_t raw_n;                           /* samples held (<= DV_TS_RAW) */
        struct dv_ts_sample min[DV_TS_MINUTES]; /* ring of finished minute averages */
        size_t min_next;                        /* next slot to write */
        size_t min_n;                           /* minutes held */
        int64_t acc_minute;                     /* the minute being summed (t_ms / 60000), -1: none */
        double acc_cpu, acc_mem;                /* its sums */
        int acc_n;                              /* its samples */
};

void dv_ts_init(struct dv_ts *ts);
/* Add a sample (samples older than the newest one are ignored). */
void dv_ts_add(struct dv_ts *ts, int64_t t_ms, double cpu_pct, double memory_mib);
/* The newest sample; false when there is none. */
bool dv_ts_last(const struct dv_ts *ts, struct dv_ts_sample *ret);
/* The mean over (now_ms - window_ms, now_ms]: raw samples for windows up
 * to DV_TS_RAW samples back, else the minute averages (weighted by
 * samples) plus the minute being summed. false when no sample falls in. */
bool dv_ts_avg(const struct dv_ts *ts, int64_t now_ms, int64_t window_ms,
               struct dv_ts_sample *ret);
/* {"cpu_pct":{"now","avg_1m","avg_5m"},"memory_mib":{...},"sampled_at"}
 * (nulls when empty). */
json_t *dv_ts_summary(const struct dv_ts *ts, int64_t now_ms);
/* The summary plus "samples":[{"t","cpu_pct","memory_mib"}] (oldest
 * first) and "minutes":[...]. */
json_t *dv_ts_to_json(const struct dv_ts *ts, int64_t now_ms);

/* ---- the registry: series by id ---- */

struct dv_mstats;

struct dv_mstats *dv_mstats_new(void);
void dv_mstats_free(struct dv_mstats *s); /* NULL-safe */
/* Feed the series of id (kind: "host" or "vm"), making it when new. */
void dv_mstats_add(struct dv_mstats *s, const char *kind, const char *id, int64_t t_ms,
                   double cpu_pct, double memory_mib);
/* dv_ts_summary / dv_ts_to_json of id's series, or NULL when none. */
json_t *dv_mstats_summary(struct dv_mstats *s, const char *id, int64_t now_ms);
json_t *dv_mstats_json(struct dv_mstats *s, const char *id, int64_t now_ms);
/* The mean over the last window_ms of id's series; false when none. */
bool dv_mstats_avg(struct dv_mstats *s, const char *id, int64_t now_ms, int64_t window_ms,
                   struct dv_ts_sample *ret);
