#include "error.h"

#include <stdarg.h>
#include <string.h>

int dv_error_set(struct dv_error *err, int status, const char *code, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return -EINVAL;
        err->status = status;
        snprintf(err->code, sizeof(err->code), "%s", code);
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        return -EINVAL;
}
