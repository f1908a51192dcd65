#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

static const char *log_prog = "drover";
static enum dv_log_level log_max = DV_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void dv_log_init(const char *prog, enum dv_log_level max_level)
{
        const char *env = getenv("DROVER_LOG");

        log_prog = prog;
        log_max = max_level;
        if (env && strcmp(env, "debug") == 0)
                log_max = DV_LOG_DEBUG;
}

static void log_va(enum dv_log_level level, const char *fmt, va_list ap)
{
        static const char *names[] = { "ERROR", "WARN", "INFO", "DEBUG" };
        char ts[32];
        int64_t ms = dv_wall_ms();

        if (level > log_max)
                return;
        dv_iso_time(ms, ts, sizeof(ts));
        pthread_mutex_lock(&log_lock);
        fprintf(stderr, "%s %s[%d] %s: ", ts, log_prog, (int)getpid(), names[level]);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        fflush(stderr);
        pthread_mutex_unlock(&log_lock);
}

void dv_log(enum dv_log_level level, const char *fmt, ...)
{
        va_list ap;
        int saved = errno;

        va_start(ap, fmt);
        log_va(level, fmt, ap);
        va_end(ap);
        errno = saved;
}

int dv_log_errno_internal(enum dv_log_level level, int r, const char *fmt, ...)
{
        va_list ap;

        errno = r < 0 ? -r : r;
        va_start(ap, fmt);
        log_va(level, fmt, ap);
        va_end(ap);
        return r < 0 ? r : -r;
}
