/* VM leases on shared storage (docs/ha.md, "Leases"). One file per HA VM
 * on the datastore of its disks, DS/.drover-lease/VM_ID, written
 * atomically (temporary file, fsync, rename) by the host that runs the
 * VM: {"vm","holder","generation","expiry_wall_ms","renewed_wall_ms"}.
 * holder "" is a released lease. The generation grows by one with every
 * acquisition and release, never with a renewal. Expiries are wall-clock
 * times: hosts and manager need synchronized clocks (one machine in the
 * lab; NTP in production). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

#define DV_LEASE_DIR ".drover-lease"
#define DV_LEASE_MAX 4096 /* bytes read of a lease file */

struct dv_lease {
        char holder[DV_NAME_MAX + 1]; /* host holding it, "" released */
        uint64_t generation;          /* acquisitions + releases so far */
        int64_t expiry_wall_ms;       /* runs out then unless renewed */
        int64_t renewed_wall_ms;      /* last acquisition or renewal */
};

/* Pure (tested): the file's content (owned, one line) and its parser
 * (-EBADMSG on anything else). */
char *dv_lease_content(const char *vm_id, const struct dv_lease *l);
int dv_lease_parse(const char *text, struct dv_lease *ret);
/* May host take (or keep) lease l at wall time now? Free, expired, or its own. */
bool dv_lease_takeable(const struct dv_lease *l, const char *host, int64_t now_wall_ms);

/* DS/.drover-lease/VM_ID (owned). */
char *dv_lease_path(const char *ds_path, const char *vm_id);
/* -ENOENT when there is none. */
int dv_lease_read(const char *path, struct dv_lease *ret);
/* Creates the directory when needed; fsyncs. */
int dv_lease_write(const char *path, const char *vm_id, const struct dv_lease *l);
