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
 * and disk and network rates (dv_io_field), made from the cumulative
 * counters the agents report ("io" of VMSTATUS and of the heartbeat's
 * metrics, docs/api.md): a VM's disks (QMP query-blockstats, all disks
 * summed) and NICs (its taps' counters, seen from the guest: rx = to the
 * guest); a host's block devices (/proc/diskstats) and network interfaces
 * (/proc/net/dev, its uplinks). A rate is the counters' difference over
 * the agent's own sampling times; a counter that went back (QEMU restarted
 * or migrated, a host rebooted) or a changed "epoch" counts from zero.
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

/* Disk and network rates of a sample, per second. */
enum dv_io_field {
        DV_IO_DISK_READ_BPS,   /* bytes read */
        DV_IO_DISK_WRITE_BPS,  /* bytes written */
        DV_IO_DISK_READ_IOPS,  /* read operations */
        DV_IO_DISK_WRITE_IOPS, /* write operations */
        DV_IO_NET_RX_BPS,      /* bytes received (by the guest, or the host) */
        DV_IO_NET_TX_BPS,      /* bytes sent */
        DV_IO_NET_RX_PPS,      /* packets received */
        DV_IO_NET_TX_PPS,      /* packets sent */
        DV_IO_N,
};

/* Their JSON names ("disk_read_bps", ...), by dv_io_field. */
extern const char *const dv_io_names[DV_IO_N];

struct dv_ts_sample {
        int64_t t_ms;      /* wall-clock ms of the sample (minutes: start of the minute) */
        double cpu_pct;    /* CPU demand */
        double memory_mib; /* memory demand */
        float io[DV_IO_N]; /* disk / network rates; NAN: not known */
};

/* ---- counters to rates (pure) ---- */

/* One group of cumulative counters as an agent reported them: a VM's or a
 * host's disk (read bytes, write bytes, read ops, write ops) or network
 * (rx bytes, tx bytes, rx packets, tx packets). */
struct dv_io_counters {
        bool valid;        /* the rest is set */
        int64_t t_ms;      /* the agent's wall-clock ms of the reading */
        char epoch[64];    /* what the counters count since (a QEMU's pid and
                            * start, the devices summed); a change restarts them */
        uint64_t v[4];     /* the counters */
};

#define DV_IO_MAX_GAP_MS (5 * 60 * 1000) /* no rate over a longer silence */

/* Parse {"t_ms","epoch"?,k[0],k[1],k[2],k[3]} (non-negative integers).
 * -EINVAL when malformed (a missing counter included). */
int dv_io_counters_parse(json_t *o, const char *const k[4], struct dv_io_counters *ret);
/* The 4 rates per second from prev to cur. A counter below its previous
 * value, or a changed epoch, restarted: its whole value is the difference.
 * false (no rate) when prev is not valid, when cur is not later than prev,
 * or when they are more than DV_IO_MAX_GAP_MS apart. */
bool dv_io_rates(const struct dv_io_counters *prev, const struct dv_io_counters *cur,
                 double ret[4]);

/* What a series keeps of one group of counters between readings. */
struct dv_io_track {
        struct dv_io_counters last; /* the last reading taken */
        bool has_retired;           /* retired is set */
        char retired[64];           /* the epoch before last's */
};

/* Take a reading c: true with the rates since the last reading in ret
 * (dv_io_rates), false without. Ignored (false, nothing kept): a reading
 * not later than the last one, and one of the retired epoch, e.g. the
 * source QEMU of a migration still reported once by its host after the
 * target's first reading (taking it would count both from zero, twice). */
bool dv_io_track_add(struct dv_io_track *t, const struct dv_io_counters *c, double ret[4]);

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
        double acc_io[DV_IO_N];                 /* its sums of known rates */
        int acc_io_n[DV_IO_N];                  /* its known rates */
};

void dv_ts_init(struct dv_ts *ts);
/* Add a sample (samples older than the newest one are ignored). */
void dv_ts_add(struct dv_ts *ts, int64_t t_ms, double cpu_pct, double memory_mib);
/* The same with disk and network rates (NAN in s->io: not known). */
void dv_ts_add_sample(struct dv_ts *ts, const struct dv_ts_sample *s);
/* The newest sample; false when there is none. */
bool dv_ts_last(const struct dv_ts *ts, struct dv_ts_sample *ret);
/* The mean over (now_ms - window_ms, now_ms]: raw samples for windows up
 * to DV_TS_RAW samples back, else the minute averages (weighted by
 * samples) plus the minute being summed. false when no sample falls in. */
bool dv_ts_avg(const struct dv_ts *ts, int64_t now_ms, int64_t window_ms,
               struct dv_ts_sample *ret);
/* {"cpu_pct":{"now","avg_1m","avg_5m"},"memory_mib":{...},
 * "disk_read_bps":{...},... (every dv_io_names),"sampled_at"}
 * (nulls when empty or not known). */
json_t *dv_ts_summary(const struct dv_ts *ts, int64_t now_ms);
/* The summary plus "samples":[{"t","cpu_pct","memory_mib",
 * "disk_read_bps",...}] (oldest first) and "minutes":[...]. */
json_t *dv_ts_to_json(const struct dv_ts *ts, int64_t now_ms);

/* ---- the registry: series by id ---- */

struct dv_mstats;

struct dv_mstats *dv_mstats_new(void);
void dv_mstats_free(struct dv_mstats *s); /* NULL-safe */
/* Feed the series of id (kind: "host" or "vm"), making it when new. */
void dv_mstats_add(struct dv_mstats *s, const char *kind, const char *id, int64_t t_ms,
                   double cpu_pct, double memory_mib);
/* The same with the reported disk and network counters (either may be
 * NULL or not valid: not reported); the series keeps the last ones to
 * make rates of the next. */
void dv_mstats_add_io(struct dv_mstats *s, const char *kind, const char *id, int64_t t_ms,
                      double cpu_pct, double memory_mib, const struct dv_io_counters *disk,
                      const struct dv_io_counters *net);
/* dv_ts_summary / dv_ts_to_json of id's series, or NULL when none. */
json_t *dv_mstats_summary(struct dv_mstats *s, const char *id, int64_t now_ms);
json_t *dv_mstats_json(struct dv_mstats *s, const char *id, int64_t now_ms);
/* The mean over the last window_ms of id's series; false when none. */
bool dv_mstats_avg(struct dv_mstats *s, const char *id, int64_t now_ms, int64_t window_ms,
                   struct dv_ts_sample *ret);
