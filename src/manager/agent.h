/* Calls from the manager to a host's agent (docs/api.md, "Agent"), with the
 * host's url and credential taken from its document. */
#pragma once

#include <jansson.h>

#include "error.h"

/* On a 2xx answer: 0 and *ret_reply (a new reference, may be NULL when
 * ret_reply is NULL or the body is empty). Otherwise err is filled and:
 * -EHOSTUNREACH: no answer (503 agent-unreachable: the outcome is unknown);
 * -EPROTO: the agent answered with an error (502 agent-error, its message). */
int dv_agent_call(json_t *host, const char *method, const char *path, json_t *body,
                  long timeout_ms, json_t **ret_reply, struct dv_error *err);
