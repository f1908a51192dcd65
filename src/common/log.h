/* Daemon logging: one line per message on stderr, with time, program and
 * level. Daemons log at the top of a failure; library code does not log. */
#pragma once

#include "util.h"

enum dv_log_level {
        DV_LOG_ERR,
        DV_LOG_WARN,
        DV_LOG_INFO,
        DV_LOG_DEBUG,
};

void dv_log_init(const char *prog, enum dv_log_level max_level);
void dv_log(enum dv_log_level level, const char *fmt, ...) _printf_(2, 3);
/* Logs with errno set to -r (so %m names it) and returns r (negative). */
int dv_log_errno_internal(enum dv_log_level level, int r, const char *fmt, ...) _printf_(3, 4);

#define dv_err(...) dv_log(DV_LOG_ERR, __VA_ARGS__)
#define dv_warn(...) dv_log(DV_LOG_WARN, __VA_ARGS__)
#define dv_info(...) dv_log(DV_LOG_INFO, __VA_ARGS__)
#define dv_debug(...) dv_log(DV_LOG_DEBUG, __VA_ARGS__)
#define dv_log_errno(r, ...) dv_log_errno_internal(DV_LOG_ERR, (r), __VA_ARGS__)
#define dv_warn_errno(r, ...) dv_log_errno_internal(DV_LOG_WARN, (r), __VA_ARGS__)
