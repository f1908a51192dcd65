/* Host BMCs over IPMI for HA (see ha-bmc.h). */
#include "ha-bmc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define IPMITOOL "ipmitool"
#define IPMITOOL_TIMEOUT_MS 6000   /* whole call; ipmitool itself: -N 1 -R 2 */
#define OUTPUT_MAX 2048
#define IDLE_MS 10000
#define URGENT_MS 500
#define SETTLED_MS 3000
#define REFUSE_WITHIN_MS 5000      /* a BMC that failed this recently refuses a fence at once */
#define LOG_EVERY_MS 60000         /* repeated failures are logged this often */

struct dv_bmc {
        char *host;                  /* host name, for logs */
        pthread_t thread;            /* the worker */
        pthread_mutex_t lock;        /* guards everything below (a leaf) */
        pthread_cond_t cond;         /* wakes the worker */
        bool stop;                   /* the worker must end */
        bool configured;             /* cfg is valid */
        struct dv_bmc_config cfg;    /* current settings */
        uint64_t generation;         /* bumped by each configure */
        enum dv_bmc_pace pace;       /* how often to read */
        bool fence_wanted;           /* a power-off was asked for */
        bool on_wanted;              /* a power-on was asked for (DPM) */
        bool read_now;               /* read at once */
        struct dv_bmc_reading r;     /* what the worker saw last */
        int last_errno;              /* errno of the last failed call, 0 */
        int64_t logged_ms;           /* last failure logged */
};

/* ---- pure helpers --------------------------------------------------------- */

enum dv_ha_power dv_bmc_parse_power(const char *out)
{
        const char *p;

        if (!out)
                return DV_HA_POWER_UNKNOWN;
        p = strstr(out, "Chassis Power is ");
        if (!p)
                return DV_HA_POWER_UNKNOWN;
        p += strlen("Chassis Power is ");
        if (strncmp(p, "on", 2) == 0 && (p[2] == 0 || p[2] == '\n' || p[2] == '\r' || p[2] == ' '))
                return DV_HA_POWER_ON;
        if (strncmp(p, "off", 3) == 0 && (p[3] == 0 || p[3] == '\n' || p[3] == '\r' || p[3] == ' '))
                return DV_HA_POWER_OFF;
        return DV_HA_POWER_UNKNOWN;
}

bool dv_bmc_address_valid(const char *s)
{
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n == 0 || n > DV_BMC_ADDRESS_MAX || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-' || c == ':' || c == '_'))
                        return false;
        }
        return true;
}

int dv_bmc_parse_address(const char *s, struct dv_bmc_config *c)
{
        char addr[DV_BMC_ADDRESS_MAX + 1];
        const char *port = NULL, *end;
        int64_t p = DV_BMC_DEFAULT_PORT;
        size_t n;

        if (!s || !*s)
                return -EINVAL;
        if (s[0] == '[') {
                end = strchr(s, ']');
                if (!end)
                        return -EINVAL;
                n = (size_t)(end - s - 1);
                if (end[1] == ':')
                        port = end + 2;
                else if (end[1])
                        return -EINVAL;
                s++;
        } else {
                end = strchr(s, ':');
                if (end && strchr(end + 1, ':'))
                        end = NULL; /* a bare IPv6 literal: no port */
                n = end ? (size_t)(end - s) : strlen(s);
                if (end)
                        port = end + 1;
        }
        if (n == 0 || n >= sizeof(addr))
                return -EINVAL;
        memcpy(addr, s, n);
        addr[n] = 0;
        if (!dv_bmc_address_valid(addr))
                return -EINVAL;
        if (port && dv_parse_int64(port, 1, 65535, &p) < 0)
                return -EINVAL;
        snprintf(c->address, sizeof(c->address), "%s", addr);
        c->port = (int)p;
        return 0;
}

/* ---- ipmitool --------------------------------------------------------------- */

static void trim(char *s)
{
        size_t n = strlen(s);

        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
                s[--n] = 0;
}

/* Runs ipmitool with cmd (NULL-terminated) against c; stdout and stderr
 * into out. Returns 0 when it exited 0, -EHOSTUNREACH when it failed
 * (out says why), -ETIMEDOUT when it was killed, -errno when it did not
 * start. */
static int ipmitool(const struct dv_bmc_config *c, const char *const *cmd, char *out,
                    size_t out_len)
{
        char port[16], pwenv[DV_BMC_PASSWORD_MAX + 32];
        const char *argv[32];
        char *envp[4];
        posix_spawn_file_actions_t fa;
        int pipefd[2] = { -1, -1 }, status = 0, r;
        size_t n = 0, len = 0;
        int64_t deadline;
        pid_t pid;

        snprintf(port, sizeof(port), "%d", c->port);
        snprintf(pwenv, sizeof(pwenv), "IPMI_PASSWORD=%s", c->password);
        envp[0] = pwenv;
        envp[1] = (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        envp[2] = (char *)"LC_ALL=C";
        envp[3] = NULL;
        /* Cipher suite 3 (RAKP-HMAC-SHA1, AES): without -C ipmitool first asks
         * for the cipher suites, which some BMCs (ipmi_sim) never answer. */
        const char *const base[] = { IPMITOOL, "-I", "lanplus", "-C", "3", "-H", c->address,
                                     "-p", port, "-U", c->user, "-E", "-N", "1", "-R", "2" };
        for (size_t i = 0; i < ELEMENTSOF(base); i++)
                argv[n++] = base[i];
        for (size_t i = 0; cmd[i] && n < ELEMENTSOF(argv) - 1; i++)
                argv[n++] = cmd[i];
        argv[n] = NULL;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        r = -posix_spawn_file_actions_init(&fa);
        if (r == 0) {
                r = -posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
                if (r == 0)
                        r = -posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
                if (r == 0)
                        r = -posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
                if (r == 0)
                        r = -posix_spawn_file_actions_addclosefrom_np(&fa, 3);
                if (r == 0)
                        r = -posix_spawnp(&pid, IPMITOOL, &fa, NULL, (char *const *)argv, envp);
                posix_spawn_file_actions_destroy(&fa);
        }
        close(pipefd[1]);
        if (r < 0) {
                close(pipefd[0]);
                snprintf(out, out_len, "cannot run %s: %s", IPMITOOL, strerror(-r));
                return r;
        }
        out[0] = 0;
        deadline = dv_now_ms() + IPMITOOL_TIMEOUT_MS;
        for (;;) {
                struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
                int64_t left = deadline - dv_now_ms();
                char buf[512];
                ssize_t k;

                if (left <= 0) {
                        kill(pid, SIGKILL);
                        r = -ETIMEDOUT;
                        break;
                }
                if (poll(&p, 1, (int)left) < 0) {
                        if (errno == EINTR)
                                continue;
                        kill(pid, SIGKILL);
                        r = -errno;
                        break;
                }
                k = read(pipefd[0], buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                if (len + 1 < out_len) {
                        size_t take = DV_MIN((size_t)k, out_len - 1 - len);
                        memcpy(out + len, buf, take);
                        len += take;
                        out[len] = 0;
                }
        }
        close(pipefd[0]);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        trim(out);
        if (r == -ETIMEDOUT) {
                snprintf(out, out_len, "no answer within %d ms", IPMITOOL_TIMEOUT_MS);
                return r;
        }
        if (r < 0)
                return r;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                if (!out[0])
                        snprintf(out, out_len, "ipmitool exited with status %d",
                                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
                return -EHOSTUNREACH;
        }
        return 0;
}

/* ---- the worker ------------------------------------------------------------- */

static int64_t pace_ms(enum dv_bmc_pace p)
{
        return p == DV_BMC_PACE_URGENT ? URGENT_MS : p == DV_BMC_PACE_SETTLED ? SETTLED_MS : IDLE_MS;
}

/* Record the outcome of a call (b->lock held). */
static void note(struct dv_bmc *b, uint64_t gen, const char *what, int r, const char *out)
{
        int64_t now = dv_now_ms();

        if (gen != b->generation)
                return; /* settings changed meanwhile: the answer is about the old ones */
        if (r >= 0) {
                if (b->last_errno)
                        dv_info("host %s: BMC %s:%d answers again", b->host, b->cfg.address,
                                b->cfg.port);
                b->last_errno = 0;
                b->r.error[0] = 0;
                b->r.error_ms = -1;
                return;
        }
        if (!b->last_errno || now - b->logged_ms >= LOG_EVERY_MS) {
                dv_warn("host %s: BMC %s:%d: %s failed: %s", b->host, b->cfg.address, b->cfg.port,
                        what, out);
                b->logged_ms = now;
        }
        b->last_errno = r;
        b->r.error_ms = now;
        snprintf(b->r.error, sizeof(b->r.error), "%s: %s", what, out);
}

static void *worker(void *arg)
{
        struct dv_bmc *b = arg;
        int64_t next = 0;

        pthread_mutex_lock(&b->lock);
        while (!b->stop) {
                static const char *const status_cmd[] = { "chassis", "power", "status", NULL };
                static const char *const off_cmd[] = { "chassis", "power", "off", NULL };
                static const char *const on_cmd[] = { "chassis", "power", "on", NULL };
                struct dv_bmc_config cfg;
                char out[OUTPUT_MAX];
                bool fence, power_on;
                uint64_t gen;
                int64_t start;
                int r;

                if (!b->configured ||
                    (!b->fence_wanted && !b->on_wanted && !b->read_now && dv_now_ms() < next)) {
                        struct timespec ts;
                        int64_t wait = b->configured ? next - dv_now_ms() : IDLE_MS;

                        clock_gettime(CLOCK_MONOTONIC, &ts);
                        ts.tv_sec += wait / 1000;
                        ts.tv_nsec += (wait % 1000) * 1000000L;
                        if (ts.tv_nsec >= 1000000000L) {
                                ts.tv_sec++;
                                ts.tv_nsec -= 1000000000L;
                        }
                        pthread_cond_timedwait(&b->cond, &b->lock, &ts);
                        continue;
                }
                cfg = b->cfg;
                gen = b->generation;
                fence = b->fence_wanted;
                b->fence_wanted = false;
                power_on = b->on_wanted && !fence;
                b->on_wanted = false;
                b->read_now = false;
                pthread_mutex_unlock(&b->lock);

                if (fence) {
                        dv_info("host %s: fencing: ipmitool -H %s -p %d chassis power off", b->host,
                                cfg.address, cfg.port);
                        r = ipmitool(&cfg, off_cmd, out, sizeof(out));
                        pthread_mutex_lock(&b->lock);
                        note(b, gen, "chassis power off", r, out);
                        if (r >= 0 && gen == b->generation) {
                                b->r.fence_ms = dv_now_ms();
                                dv_info("host %s: BMC accepted the power-off (%s)", b->host, out);
                        }
                        pthread_mutex_unlock(&b->lock);
                }
                if (power_on) {
                        dv_info("host %s: ipmitool -H %s -p %d chassis power on", b->host,
                                cfg.address, cfg.port);
                        r = ipmitool(&cfg, on_cmd, out, sizeof(out));
                        pthread_mutex_lock(&b->lock);
                        note(b, gen, "chassis power on", r, out);
                        if (r >= 0 && gen == b->generation) {
                                b->r.on_ms = dv_now_ms();
                                dv_info("host %s: BMC accepted the power-on (%s)", b->host, out);
                        }
                        pthread_mutex_unlock(&b->lock);
                }
                /* The reading counts from when it was asked for: a heartbeat
                 * that arrives while ipmitool runs makes it stale. */
                start = dv_now_ms();
                r = ipmitool(&cfg, status_cmd, out, sizeof(out));
                pthread_mutex_lock(&b->lock);
                note(b, gen, "chassis power status", r, out);
                if (gen == b->generation) {
                        enum dv_ha_power p = r < 0 ? DV_HA_POWER_UNKNOWN : dv_bmc_parse_power(out);

                        if (r >= 0 && p == DV_HA_POWER_UNKNOWN)
                                note(b, gen, "chassis power status", -EBADMSG, out);
                        b->r.power = p;
                        b->r.power_ms = start;
                }
                next = dv_now_ms() + pace_ms(b->pace);
        }
        pthread_mutex_unlock(&b->lock);
        return NULL;
}

/* ---- API ------------------------------------------------------------------------ */

int dv_bmc_new(const char *host, struct dv_bmc **ret)
{
        struct dv_bmc *b = calloc(1, sizeof(*b));
        pthread_condattr_t ca;
        int r;

        if (!b)
                return -ENOMEM;
        b->host = dv_strdup(host);
        b->r.power = DV_HA_POWER_UNKNOWN;
        b->r.power_ms = b->r.error_ms = b->r.fence_ms = b->r.on_ms = -1;
        pthread_mutex_init(&b->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&b->cond, &ca);
        pthread_condattr_destroy(&ca);
        r = pthread_create(&b->thread, NULL, worker, b);
        if (r != 0) {
                pthread_cond_destroy(&b->cond);
                pthread_mutex_destroy(&b->lock);
                free(b->host);
                free(b);
                return -r;
        }
        *ret = b;
        return 0;
}

void dv_bmc_request_stop(struct dv_bmc *b)
{
        pthread_mutex_lock(&b->lock);
        b->stop = true;
        pthread_cond_signal(&b->cond);
        pthread_mutex_unlock(&b->lock);
}

void dv_bmc_free(struct dv_bmc *b)
{
        if (!b)
                return;
        dv_bmc_request_stop(b);
        pthread_join(b->thread, NULL);
        pthread_cond_destroy(&b->cond);
        pthread_mutex_destroy(&b->lock);
        explicit_bzero(&b->cfg, sizeof(b->cfg));
        free(b->host);
        free(b);
}

void dv_bmc_configure(struct dv_bmc *b, const struct dv_bmc_config *c)
{
        bool same;

        pthread_mutex_lock(&b->lock);
        same = c ? b->configured && memcmp(&b->cfg, c, sizeof(*c)) == 0 : !b->configured;
        if (!same) {
                b->configured = c != NULL;
                if (c)
                        b->cfg = *c;
                else
                        explicit_bzero(&b->cfg, sizeof(b->cfg));
                b->generation++;
                b->r.power = DV_HA_POWER_UNKNOWN;
                b->r.power_ms = b->r.error_ms = b->r.fence_ms = b->r.on_ms = -1;
                b->r.error[0] = 0;
                b->last_errno = 0;
                b->fence_wanted = false;
                b->on_wanted = false;
                b->read_now = true;
                pthread_cond_signal(&b->cond);
        }
        pthread_mutex_unlock(&b->lock);
}

void dv_bmc_set_pace(struct dv_bmc *b, enum dv_bmc_pace pace)
{
        pthread_mutex_lock(&b->lock);
        if (pace != b->pace) {
                /* Speeding up reads at once; slowing down waits its turn. */
                if (pace == DV_BMC_PACE_URGENT)
                        b->read_now = true;
                b->pace = pace;
                pthread_cond_signal(&b->cond);
        }
        pthread_mutex_unlock(&b->lock);
}

int dv_bmc_request_off(struct dv_bmc *b)
{
        int r = 0;

        pthread_mutex_lock(&b->lock);
        if (!b->configured)
                r = -ENODEV;
        else if (b->last_errno && b->r.error_ms >= 0 &&
                 dv_now_ms() - b->r.error_ms < REFUSE_WITHIN_MS)
                r = b->last_errno;
        if (r == 0) {
                b->fence_wanted = true;
                pthread_cond_signal(&b->cond);
        }
        pthread_mutex_unlock(&b->lock);
        return r;
}

int dv_bmc_request_on(struct dv_bmc *b)
{
        int r = 0;

        pthread_mutex_lock(&b->lock);
        if (!b->configured)
                r = -ENODEV;
        else if (b->last_errno && b->r.error_ms >= 0 &&
                 dv_now_ms() - b->r.error_ms < REFUSE_WITHIN_MS)
                r = b->last_errno;
        if (r == 0) {
                b->on_wanted = true;
                pthread_cond_signal(&b->cond);
        }
        pthread_mutex_unlock(&b->lock);
        return r;
}

void dv_bmc_read_now(struct dv_bmc *b)
{
        pthread_mutex_lock(&b->lock);
        b->read_now = true;
        pthread_cond_signal(&b->cond);
        pthread_mutex_unlock(&b->lock);
}

void dv_bmc_reading(struct dv_bmc *b, struct dv_bmc_reading *ret)
{
        pthread_mutex_lock(&b->lock);
        *ret = b->r;
        ret->configured = b->configured;
        pthread_mutex_unlock(&b->lock);
}
