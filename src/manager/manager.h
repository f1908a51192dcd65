/* The manager's shared state and the helpers every module of droverd uses.
 *
 * Lock order (never take them the other way round):
 *   0. dv_mgr.net_lock - serializes changes of the DVS (dvs, port groups,
 *                      hosts joining or leaving a DVS, VLAN retags and the
 *                      pushes of netsync), including their agent calls.
 *   1. dv_mgr.lock   - serializes read-check-write sequences on documents
 *                      (a VM's state, placement, a host's state) and guards
 *                      host_rt. Never held during a call to an agent.
 *   2. the store's lock (inside the store; a leaf, or held for a store
 *      transaction that was begun under dv_mgr.lock).
 *   3. the task pool's lock (a leaf).
 */
#pragma once

#include <jansson.h>
#include <pthread.h>

#include "error.h"
#include "store.h"
#include "task.h"
#include "util.h"

struct dv_mgr_config {
        const char *listen;           /* "ADDR:PORT" */
        const char *data_dir;         /* DATA: token, droverd.db, images/ */
        const char *image_dir;        /* registered as image "default", or NULL */
        int64_t heartbeat_timeout_ms; /* hosts silent longer are unreachable */
        const char *web_dir;          /* the web console's files, or NULL */
        const char *admin_password_file; /* admin's password, or NULL: DATA/admin-password */
        int64_t max_migrations_per_host; /* concurrent migrations a host is in (0: no limit) */
        int64_t balloon_interval_ms;  /* the overcommit controller's round (overcommit.c) */
};

struct dv_netsync;
struct dv_ha_rt;
struct dv_mstats;
struct dv_drs_rt;
struct dv_dpm_rt;
struct dv_mcache;
struct dv_auth;

struct dv_mgr {
        struct dv_mgr_config cfg;  /* from the command line */
        char token[65];            /* the admin token (64 hex chars) */
        struct dv_store *store;    /* documents, events, counters */
        struct dv_tasks *tasks;    /* the worker pool */
        pthread_mutex_t lock;      /* see the lock order above */
        json_t *host_rt;           /* host id -> {"seen_ms","last_heartbeat","metrics"}; under lock */
        pthread_mutex_t net_lock;  /* see the lock order above */
        struct dv_netsync *netsync; /* pushes DVS configuration to agents, or NULL */
        struct dv_ha_rt *ha;       /* HA runtime (ha-env.h), or NULL */
        struct dv_mstats *mstats;  /* load metrics of hosts and VMs (mstats.h), or NULL */
        struct dv_drs_rt *drs;     /* DRS runtime (drs-run.h), or NULL */
        struct dv_dpm_rt *dpm;     /* DPM runtime (dpm-run.h), or NULL */
        struct dv_mcache *cache;   /* usage and host caches (mcache.h), or NULL: read the store */
        struct dv_auth *auth;      /* users, sessions, console tickets (auth.h), or NULL */
        char *web_root;            /* realpath of cfg.web_dir, or NULL */
};

/* Users named in tasks and events. */
#define DV_USER_ADMIN "admin"
#define DV_USER_SYSTEM "system"

/* Timeouts of calls to agents (ms). */
#define DV_AGENT_TIMEOUT_MS 30000
#define DV_AGENT_START_TIMEOUT_MS 90000
#define DV_AGENT_DISK_TIMEOUT_MS 120000

void dv_mgr_lock(struct dv_mgr *m);
void dv_mgr_unlock(struct dv_mgr *m);

/* Append an event (logs a failure, never fails). target may be NULL; its
 * "id" and "name" are used. */
void dv_mgr_event(struct dv_mgr *m, const char *user, const char *kind, const char *target_kind,
                  json_t *target, const char *fmt, ...) _printf_(6, 7);

/* The current time as ISO 8601 (buf: 32 bytes). */
void dv_mgr_now(char buf[32]);

/* Document helpers. */
const char *dv_doc_str(json_t *doc, const char *key);             /* NULL if absent */
int64_t dv_doc_int(json_t *doc, const char *key, int64_t def);
void dv_doc_set_str(json_t *doc, const char *key, const char *v); /* NULL -> null */
/* A copy of doc without the internal "_" keys. */
json_t *dv_doc_public(json_t *doc);

/* The document of a host (a new reference), by id; NULL if missing. */
json_t *dv_mgr_get(struct dv_mgr *m, enum dv_kind kind, const char *id_or_name);

/* A host heard from: record it in host_rt (caller holds lock). */
void dv_mgr_host_seen(struct dv_mgr *m, const char *host_id, json_t *metrics);
