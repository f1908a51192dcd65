/* Datastore heartbeats: HA's second channel. Every second the agent writes
 * DS/.drover-hb/HOST into each shared datastore it has (the --datastore
 * ones; never its local one), atomically (temporary file, fsync, rename):
 * {"host","counter","wall_ms","pid"}. A host that stops network
 * heartbeats but keeps writing these is isolated, not failed
 * (docs/ha.md). The manager reads the files (in the lab directly; see
 * docs/ha.md for the production gap). */
#pragma once

#include <stdint.h>

#include <jansson.h>

#define DV_DSHB_DIR ".drover-hb"
#define DV_DSHB_PERIOD_MS 1000

struct dv_agent;
struct dv_dshb;

/* Starts the writer thread over agent->ds (entries 1.. are the shared
 * ones). *ret is NULL when there is no shared datastore. */
int dv_dshb_start(struct dv_agent *agent, struct dv_dshb **ret);
void dv_dshb_stop(struct dv_dshb *h); /* NULL-safe; joins */

/* Pure (tested): the file's content for one beat (owned, one line). */
char *dv_dshb_content(const char *host, uint64_t counter, int64_t wall_ms, long pid);
