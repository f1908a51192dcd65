/* A user-facing error: a stable code, an HTTP status and a message. Filled
 * where the problem is found, mapped to the JSON body in one place. */
#pragma once

#include "util.h"

struct dv_error {
        int status;        /* HTTP status, e.g. 400 */
        char code[48];     /* stable machine-readable code, e.g. "invalid-name" */
        char message[512]; /* one sentence for the operator */
};

/* Sets *err (if err is non-NULL) and returns -EINVAL-like r for chaining. */
int dv_error_set(struct dv_error *err, int status, const char *code, const char *fmt, ...)
        _printf_(4, 5);
