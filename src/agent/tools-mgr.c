/* The agent's per-VM Tools channels (see tools-mgr.h). */
#include "tools-mgr.h"

#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "qemu-cmd.h" /* file names only: no link dependency on the driver */

#define NET_CONFIG_TIMEOUT_MS 10000
#define TIME_SET_TIMEOUT_MS 5000
#define RESUME_WAIT_MS 15000   /* Tools heartbeats again after a resume */
#define SPEC_MAX (1024 * 1024) /* spec.json of an adopted VM */

enum job_kind { JOB_NET, JOB_TIME, _JOB_MAX };

struct dv_tools_vm {
        struct dv_tools_mgr *tm;      /* the registry */
        char id[65];                  /* VM id */
        struct dv_tools_chan *chan;   /* the channel, freed with the entry */
        json_t *net;                  /* net-config args, or NULL (read-only once set) */
        struct dv_tools_vm *next;     /* [tm->lock] next in tm->vms */
        int refs;                     /* [tm->lock] the table's and every user's */
        bool linked;                  /* [tm->lock] in tm->vms */
        enum dv_tools_state state;    /* [tm->lock] as the channel last said */
        char version[65];             /* [tm->lock] last version heard, "" if none */
        char reason[256];             /* [tm->lock] why not running, "" if none */
        char vm_state[16];            /* [tm->lock] the driver's last report */
        bool exited;                  /* [tm->lock] the driver reported it stopped */
        int64_t born_ms;              /* when the channel was opened (monotonic) */
        bool job_running[_JOB_MAX];   /* [tm->lock] a job thread of that kind exists */
        bool job_again[_JOB_MAX];     /* [tm->lock] ... and must run (once more) */
};

struct dv_tools_mgr {
        char *run_dir;                /* RUN_DIR */
        int hb_timeout_ms;            /* heartbeat loss */
        void (*kick)(void *);         /* heartbeat now */
        void *userdata;               /* for kick */
        pthread_mutex_t lock;         /* see tools-mgr.h */
        pthread_cond_t cond;          /* [lock] exits, job threads ending */
        struct dv_tools_vm *vms;      /* [lock] entries with a channel */
        unsigned jobs;                /* [lock] job threads alive */
        bool stopping;                /* [lock] dv_tools_mgr_free() began */
};

struct job {
        struct dv_tools_vm *v;        /* a reference */
        enum job_kind kind;
};

/* ---- entries ------------------------------------------------------------ */

static void vm_destroy(struct dv_tools_vm *v)
{
        dv_tools_chan_free(v->chan); /* joins the channel's thread */
        json_decref(v->net);
        free(v);
}

void dv_tools_vm_unref(struct dv_tools_vm *v)
{
        bool last;

        if (!v)
                return;
        pthread_mutex_lock(&v->tm->lock);
        last = --v->refs == 0;
        pthread_mutex_unlock(&v->tm->lock);
        if (last)
                vm_destroy(v);
}

struct dv_tools_chan *dv_tools_vm_chan(struct dv_tools_vm *v)
{
        return v->chan;
}

bool dv_tools_vm_usable(struct dv_tools_vm *v)
{
        bool ok;

        pthread_mutex_lock(&v->tm->lock);
        ok = v->state == DV_TOOLS_RUNNING && !v->exited && dv_streq(v->vm_state, "running");
        pthread_mutex_unlock(&v->tm->lock);
        return ok;
}

bool dv_tools_vm_wait_exit(struct dv_tools_vm *v, int timeout_ms)
{
        struct dv_tools_mgr *tm = v->tm;
        int64_t deadline = dv_now_ms() + timeout_ms;
        bool exited;

        pthread_mutex_lock(&tm->lock);
        while (!v->exited && !tm->stopping) {
                int64_t left = deadline - dv_now_ms();
                struct timespec ts;

                if (left <= 0)
                        break;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += left / 1000;
                ts.tv_nsec += (left % 1000) * 1000000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&tm->cond, &tm->lock, &ts);
        }
        exited = v->exited;
        pthread_mutex_unlock(&tm->lock);
        return exited;
}

/* [tm->lock] held. */
static struct dv_tools_vm *find_locked(struct dv_tools_mgr *tm, const char *vm_id)
{
        for (struct dv_tools_vm *v = tm->vms; v; v = v->next)
                if (strcasecmp(v->id, vm_id) == 0)
                        return v;
        return NULL;
}

/* [tm->lock] held. Take v out of the table; the caller drops the table's
 * reference (outside the lock). */
static void unlink_locked(struct dv_tools_mgr *tm, struct dv_tools_vm *v)
{
        for (struct dv_tools_vm **pp = &tm->vms; *pp; pp = &(*pp)->next)
                if (*pp == v) {
                        *pp = v->next;
                        v->next = NULL;
                        v->linked = false;
                        return;
                }
}

int dv_tools_mgr_get(struct dv_tools_mgr *tm, const char *vm_id, struct dv_tools_vm **ret_vm)
{
        struct dv_tools_vm *v;

        if (!tm || !vm_id)
                return -ENOENT;
        pthread_mutex_lock(&tm->lock);
        v = find_locked(tm, vm_id);
        if (v)
                v->refs++;
        pthread_mutex_unlock(&tm->lock);
        if (!v)
                return -ENOENT;
        *ret_vm = v;
        return 0;
}

/* ---- jobs: guest events acted on away from the channel's thread ---------- */

static void job_net(struct dv_tools_vm *v)
{
        _cleanup_(json_decrefp) json_t *result = NULL;
        struct dv_error err = {};
        json_t *nic;
        size_t i;

        if (dv_tools_call(v->chan, "net-config", v->net, NET_CONFIG_TIMEOUT_MS, &result, &err) < 0) {
                dv_warn("vm %s: Tools net-config failed: %s", v->id, err.message);
                return;
        }
        json_array_foreach(json_object_get(result, "nics"), i, nic)
                dv_info("vm %s: Tools net-config: %s (%s)%s", v->id,
                        json_string_value(json_object_get(nic, "mac")),
                        json_string_value(json_object_get(nic, "name")),
                        json_is_true(json_object_get(nic, "changed")) ? " changed" : " unchanged");
}

static void job_time(struct dv_tools_vm *v)
{
        _cleanup_(json_decrefp) json_t *args = NULL, *result = NULL;
        struct dv_error err = {};

        /* Heartbeats of a guest that was paused for long have stopped:
         * give Tools time to be heard again (in slices, so that a closing
         * registry does not wait for it). */
        for (int64_t deadline = dv_now_ms() + RESUME_WAIT_MS;;) {
                bool give_up;

                if (dv_tools_chan_wait_running(v->chan, 500) == 0)
                        break;
                pthread_mutex_lock(&v->tm->lock);
                give_up = v->tm->stopping || v->exited || dv_now_ms() >= deadline;
                pthread_mutex_unlock(&v->tm->lock);
                if (give_up) {
                        dv_warn("vm %s: no time sync: Tools is not running", v->id);
                        return;
                }
        }
        args = json_pack("{s:I}", "epoch_ms", (json_int_t)dv_wall_ms());
        if (dv_tools_call(v->chan, "time-set", args, TIME_SET_TIMEOUT_MS, &result, &err) < 0) {
                dv_warn("vm %s: Tools time-set failed: %s", v->id, err.message);
                return;
        }
        dv_info("vm %s: guest clock synced (was off by %lld ms)", v->id,
                (long long)json_integer_value(json_object_get(result, "delta_ms")));
}

static void *job_main(void *arg)
{
        struct job *j = arg;
        struct dv_tools_vm *v = j->v;
        struct dv_tools_mgr *tm = v->tm;

        for (;;) {
                bool run;

                pthread_mutex_lock(&tm->lock);
                run = v->job_again[j->kind] && !tm->stopping && !v->exited;
                v->job_again[j->kind] = false;
                if (!run)
                        v->job_running[j->kind] = false;
                pthread_mutex_unlock(&tm->lock);
                if (!run)
                        break;
                if (j->kind == JOB_NET)
                        job_net(v);
                else
                        job_time(v);
        }
        dv_tools_vm_unref(v); /* may free the channel: fine on this thread */
        free(j);
        pthread_mutex_lock(&tm->lock);
        tm->jobs--;
        pthread_cond_broadcast(&tm->cond);
        pthread_mutex_unlock(&tm->lock); /* tm may be freed from here on */
        return NULL;
}

/* [tm->lock] held. Run job kind for v (again, if one is running). */
static void queue_job_locked(struct dv_tools_mgr *tm, struct dv_tools_vm *v, enum job_kind kind)
{
        pthread_attr_t attr;
        pthread_t t;
        struct job *j;

        if (tm->stopping)
                return;
        v->job_again[kind] = true;
        if (v->job_running[kind])
                return;
        j = calloc(1, sizeof(*j));
        if (!j)
                return;
        j->v = v;
        j->kind = kind;
        v->refs++;
        v->job_running[kind] = true;
        tm->jobs++;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, job_main, j) != 0) {
                v->refs--; /* the caller holds another one */
                v->job_running[kind] = false;
                tm->jobs--;
                free(j);
        }
        pthread_attr_destroy(&attr);
}

/* ---- channel callbacks (the channel's thread, no lock held) -------------- */

static void on_state(void *userdata, enum dv_tools_state state, const char *version,
                     const char *reason)
{
        struct dv_tools_vm *v = userdata;
        struct dv_tools_mgr *tm = v->tm;

        pthread_mutex_lock(&tm->lock);
        v->state = state;
        if (version)
                snprintf(v->version, sizeof(v->version), "%s", version);
        snprintf(v->reason, sizeof(v->reason), "%s", reason ? reason : "");
        pthread_mutex_unlock(&tm->lock);
        if (state == DV_TOOLS_RUNNING)
                dv_info("vm %s: Tools running, version %s", v->id, version ? version : "?");
        else
                dv_warn("vm %s: Tools %s%s%s", v->id, dv_tools_state_to_string(state),
                        reason && *reason ? ": " : "", reason ? reason : "");
        if (tm->kick)
                tm->kick(tm->userdata);
}

static void on_event(void *userdata, const char *event, json_t *body)
{
        struct dv_tools_vm *v = userdata;
        struct dv_tools_mgr *tm = v->tm;

        if (dv_streq(event, "hello")) {
                dv_info("vm %s: drover-tools %s says hello (pid %lld)", v->id,
                        json_string_value(json_object_get(body, "version")),
                        (long long)json_integer_value(json_object_get(body, "pid")));
                if (v->net) {
                        pthread_mutex_lock(&tm->lock);
                        queue_job_locked(tm, v, JOB_NET);
                        pthread_mutex_unlock(&tm->lock);
                }
        } else if (dv_streq(event, "fs-thawed")) {
                dv_warn("vm %s: the guest thawed its filesystems by itself (%s)", v->id,
                        json_string_value(json_object_get(body, "reason")));
        }
}

/* ---- registry ----------------------------------------------------------- */

int dv_tools_spec_check(json_t *spec, struct dv_error *err)
{
        json_t *tools = json_object_get(spec, "tools");
        int r;

        if (!tools || json_is_null(tools))
                return 0;
        if (!json_is_object(tools))
                return dv_error_set(err, 400, "invalid-field", "field 'tools' must be an object");
        r = dv_tools_check_args("net-config", tools, err);
        if (r < 0 && err) {
                char msg[sizeof(err->message) + 8];

                snprintf(msg, sizeof(msg), "tools: %s", err->message);
                snprintf(err->message, sizeof(err->message), "%.*s",
                         (int)sizeof(err->message) - 1, msg);
        }
        return r;
}

/* A new entry (one reference, not in the table) with its channel. */
static int vm_new(struct dv_tools_mgr *tm, const char *vm_id, json_t *net,
                  struct dv_tools_vm **ret)
{
        _cleanup_(freep) char *sock = dv_asprintf("%s/%s/%s", tm->run_dir, vm_id, DV_QEMU_TOOLS_SOCK);
        struct dv_tools_chan_config cfg = {
                .socket_path = sock,
                .heartbeat_timeout_ms = tm->hb_timeout_ms,
                .state_cb = on_state,
                .event_cb = on_event,
        };
        struct dv_tools_vm *v;
        int r;

        v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        v->tm = tm;
        snprintf(v->id, sizeof(v->id), "%s", vm_id);
        v->refs = 1;
        v->net = json_incref(net);
        v->state = DV_TOOLS_NOT_INSTALLED;
        v->born_ms = dv_now_ms();
        snprintf(v->vm_state, sizeof(v->vm_state), "running");
        cfg.userdata = v;
        r = dv_tools_chan_new(&cfg, &v->chan);
        if (r < 0) {
                json_decref(v->net);
                free(v);
                return r;
        }
        *ret = v;
        return 0;
}

/* Put v (consumed: the table's reference) in the table in place of any
 * entry of the same VM, which is closed. */
static void install(struct dv_tools_mgr *tm, struct dv_tools_vm *v)
{
        struct dv_tools_vm *old;

        pthread_mutex_lock(&tm->lock);
        old = find_locked(tm, v->id);
        if (old) {
                unlink_locked(tm, old);
                old->exited = true; /* its jobs end; waiters see a stop */
                pthread_cond_broadcast(&tm->cond);
        }
        v->next = tm->vms;
        v->linked = true;
        tm->vms = v;
        pthread_mutex_unlock(&tm->lock);
        dv_tools_vm_unref(old);
}

/* The net-config args of a SPEC, or NULL. */
static json_t *spec_net(json_t *spec)
{
        json_t *tools = json_object_get(spec, "tools");
        struct dv_error err = {};

        if (!json_is_object(tools) || dv_tools_spec_check(spec, &err) < 0)
                return NULL;
        return tools;
}

int dv_tools_mgr_vm_started(struct dv_tools_mgr *tm, const char *vm_id, json_t *spec)
{
        struct dv_tools_vm *v = NULL;
        int r;

        if (!tm)
                return 0;
        r = vm_new(tm, vm_id, spec_net(spec), &v);
        if (r < 0)
                return dv_log_errno(r, "vm %s: cannot open its Tools channel: %m", vm_id);
        install(tm, v);
        return 0;
}

/* The net configuration an adopted VM was started with: its spec.json,
 * which lives in a directory QEMU (the VM's uid) may write: read it as
 * untrusted (no symlink, regular file, bounded) and validate it. */
static json_t *adopted_net(struct dv_tools_mgr *tm, const char *vm_id)
{
        _cleanup_(freep) char *path = dv_asprintf("%s/%s/%s", tm->run_dir, vm_id, DV_QEMU_SPEC);
        _cleanup_(freep) char *buf = NULL;
        _cleanup_(closep) int fd = -1;
        _cleanup_(json_decrefp) json_t *spec = NULL;
        struct stat st;
        ssize_t k;
        json_t *net;

        fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SPEC_MAX)
                return NULL;
        buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return NULL;
        k = read(fd, buf, (size_t)st.st_size);
        if (k != st.st_size)
                return NULL;
        spec = json_loadb(buf, (size_t)k, JSON_REJECT_DUPLICATES, NULL);
        net = spec_net(spec);
        return json_incref(net);
}

void dv_tools_mgr_vm_event(struct dv_tools_mgr *tm, const char *vm_id, const char *state)
{
        struct dv_tools_vm *v;

        if (!tm || !vm_id || !state)
                return;
        pthread_mutex_lock(&tm->lock);
        v = find_locked(tm, vm_id);
        if (v) {
                if (dv_streq(state, "stopped")) {
                        v->exited = true;
                        pthread_cond_broadcast(&tm->cond);
                } else if (dv_streq(state, "running") && dv_streq(v->vm_state, "paused")) {
                        queue_job_locked(tm, v, JOB_TIME);
                }
                snprintf(v->vm_state, sizeof(v->vm_state), "%s", state);
        }
        pthread_mutex_unlock(&tm->lock);
}

void dv_tools_mgr_time_sync(struct dv_tools_mgr *tm, const char *vm_id)
{
        struct dv_tools_vm *v;

        if (!tm || !vm_id)
                return;
        pthread_mutex_lock(&tm->lock);
        v = find_locked(tm, vm_id);
        if (v)
                queue_job_locked(tm, v, JOB_TIME);
        pthread_mutex_unlock(&tm->lock);
}

static json_t *tools_json_locked(struct dv_tools_vm *v)
{
        return json_pack("{s:s,s:s?,s:s?}", "state", dv_tools_state_to_string(v->state),
                         "version", v->version[0] ? v->version : NULL, "reason",
                         v->reason[0] ? v->reason : NULL);
}

void dv_tools_mgr_annotate(struct dv_tools_mgr *tm, json_t *vms)
{
        struct dv_tools_vm *gone = NULL, *v;
        json_t *st;
        size_t i;

        if (!tm)
                return;
        /* Running VMs without a channel (adopted, or a lost race): open one. */
        json_array_foreach(vms, i, st) {
                const char *id = json_string_value(json_object_get(st, "id"));
                bool have;

                if (!id || !dv_uuid_valid(id) ||
                    dv_streq(json_string_value(json_object_get(st, "state")), "stopped"))
                        continue;
                pthread_mutex_lock(&tm->lock);
                have = find_locked(tm, id) != NULL;
                pthread_mutex_unlock(&tm->lock);
                if (!have) {
                        _cleanup_(json_decrefp) json_t *net = adopted_net(tm, id);

                        if (vm_new(tm, id, net, &v) >= 0) {
                                pthread_mutex_lock(&tm->lock);
                                snprintf(v->vm_state, sizeof(v->vm_state), "%s",
                                         json_string_value(json_object_get(st, "state")));
                                pthread_mutex_unlock(&tm->lock);
                                install(tm, v);
                                dv_info("vm %s: Tools channel opened (%s)", id,
                                        net ? "with a net configuration" : "no net configuration");
                        }
                }
        }

        pthread_mutex_lock(&tm->lock);
        json_array_foreach(vms, i, st) {
                const char *id = json_string_value(json_object_get(st, "id"));

                if (!id || dv_streq(json_string_value(json_object_get(st, "state")), "stopped"))
                        continue;
                v = find_locked(tm, id);
                /* A new channel that has heard nothing yet says nothing
                 * for a heartbeat timeout (a booting guest, a reconnect
                 * after an agent restart): no "not-installed" flicker. */
                if (v && !(v->state == DV_TOOLS_NOT_INSTALLED &&
                           dv_now_ms() - v->born_ms < tm->hb_timeout_ms))
                        json_object_set_new(st, "tools", tools_json_locked(v));
        }
        /* Close the channels of VMs that exited: listed as stopped, or no
         * longer listed once the driver said so. (A VM being started is
         * not listed and has not exited.) */
        for (struct dv_tools_vm **pp = &tm->vms; *pp;) {
                bool listed = false, stopped = false;

                v = *pp;
                json_array_foreach(vms, i, st)
                        if (dv_streq(json_string_value(json_object_get(st, "id")), v->id)) {
                                listed = true;
                                stopped = dv_streq(json_string_value(json_object_get(st, "state")),
                                                   "stopped");
                        }
                if (stopped || (!listed && v->exited)) {
                        *pp = v->next;
                        v->linked = false;
                        v->exited = true;
                        v->next = gone;
                        gone = v;
                        continue;
                }
                pp = &v->next;
        }
        pthread_cond_broadcast(&tm->cond);
        pthread_mutex_unlock(&tm->lock);
        while (gone) {
                v = gone;
                gone = v->next;
                v->next = NULL;
                dv_info("vm %s: Tools channel closed", v->id);
                dv_tools_vm_unref(v);
        }
}

/* ---- life -------------------------------------------------------------- */

int dv_tools_mgr_new(const struct dv_tools_mgr_config *cfg, struct dv_tools_mgr **ret_tm)
{
        struct dv_tools_mgr *tm;
        pthread_condattr_t ca;

        if (!cfg || !cfg->run_dir)
                return -EINVAL;
        tm = calloc(1, sizeof(*tm));
        if (!tm)
                return -ENOMEM;
        tm->run_dir = dv_strdup(cfg->run_dir);
        tm->hb_timeout_ms = cfg->heartbeat_timeout_ms > 0 ? cfg->heartbeat_timeout_ms
                                                          : DV_TOOLS_DEFAULT_TIMEOUT_S * 1000;
        tm->kick = cfg->kick;
        tm->userdata = cfg->userdata;
        pthread_mutex_init(&tm->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&tm->cond, &ca);
        pthread_condattr_destroy(&ca);
        *ret_tm = tm;
        return 0;
}

void dv_tools_mgr_free(struct dv_tools_mgr *tm)
{
        struct dv_tools_vm *vms;

        if (!tm)
                return;
        pthread_mutex_lock(&tm->lock);
        tm->stopping = true;
        pthread_cond_broadcast(&tm->cond);
        vms = tm->vms;
        tm->vms = NULL;
        for (struct dv_tools_vm *v = vms; v; v = v->next)
                v->linked = false;
        pthread_mutex_unlock(&tm->lock);
        /* Drop the table's references; entries a job still holds go when
         * their job ends (its Tools call is bounded). */
        while (vms) {
                struct dv_tools_vm *v = vms;

                vms = v->next;
                v->next = NULL;
                dv_tools_vm_unref(v);
        }
        pthread_mutex_lock(&tm->lock);
        while (tm->jobs > 0)
                pthread_cond_wait(&tm->cond, &tm->lock);
        pthread_mutex_unlock(&tm->lock);
        pthread_cond_destroy(&tm->cond);
        pthread_mutex_destroy(&tm->lock);
        free(tm->run_dir);
        free(tm);
}
