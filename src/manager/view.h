/* Documents as the API shows them (docs/api.md HOST, VM, TASK, IMAGE). */
#pragma once

#include <jansson.h>

#include "manager.h"

/* Memory reserved by (sum over every VM placed on it) and number of VMs
 * placed on a host. */
int dv_host_usage(struct dv_mgr *m, const char *host_id, int64_t *ret_reserved_mib,
                  int64_t *ret_vm_count);
/* HOST: the document plus usage and runtime metrics. Takes m->lock: the
 * caller must not hold it. */
json_t *dv_view_host(struct dv_mgr *m, json_t *host);
/* VM: the document without internal keys, plus "demand" (mstats.h). */
json_t *dv_view_vm(struct dv_mgr *m, json_t *vm);
/* The load metrics of a host or VM (GET .../metrics): its series as
 * dv_ts_to_json() gives it plus "id", "name", "kind"; empty series before
 * the first sample. */
json_t *dv_view_metrics(struct dv_mgr *m, const char *kind, json_t *doc);
/* VM, TASK, IMAGE: the document without internal keys. */
json_t *dv_view(json_t *doc);
