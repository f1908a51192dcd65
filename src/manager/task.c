#include "task.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "log.h"

struct dv_task {
        struct dv_tasks *pool;     /* owner */
        json_t *doc;               /* the task document (this copy is the truth) */
        dv_task_fn fn;             /* what to run */
        void *data;                /* fn's argument, owned */
        dv_task_free_fn free_data; /* frees data */
        bool cancel;               /* cancel requested (under pool->lock) */
        bool finished;             /* succeed/fail/cancelled was called */
        struct dv_task *next;      /* queue / active list link */
};

struct dv_tasks {
        struct dv_store *store;    /* where task documents are written */
        pthread_mutex_t lock;      /* guards everything below */
        pthread_cond_t cond;       /* queue changed, or a task ended */
        struct dv_task *queue;     /* FIFO of pending tasks (head) */
        struct dv_task *queue_tail;
        struct dv_task *running;   /* tasks being run */
        int pending;               /* tasks queued */
        int max_pending;           /* bound on pending */
        int n_running;             /* tasks being run */
        int n_workers;             /* threads started */
        pthread_t *workers;        /* the threads */
        bool stopping;             /* no more tasks are taken */
};

json_t *dv_task_doc_new(const char *op, const char *target_kind, const char *target_id,
                        const char *target_name, const char *user)
{
        char id[37], now[32];

        if (dv_uuid_new(id) < 0)
                abort();
        dv_iso_time(dv_wall_ms(), now, sizeof(now));
        return json_pack("{s:s,s:s,s:{s:s,s:s?,s:s?},s:s,s:i,s:s,s:n,s:n,s:s,s:s,s:n,s:n}", "id",
                         id, "op", op, "target", "kind", target_kind, "id", target_id, "name",
                         target_name, "state", "queued", "progress", 0, "message", "queued",
                         "result", "error", "user", user, "created_at", now, "started_at",
                         "finished_at");
}

static void task_free(struct dv_task *t)
{
        if (!t)
                return;
        if (t->free_data)
                t->free_data(t->data);
        json_decref(t->doc);
        free(t);
}

static void persist(struct dv_task *t)
{
        int r = dv_store_update(t->pool->store, DV_KIND_TASK, t->doc);

        if (r < 0)
                dv_warn_errno(r, "task %s: cannot write its state: %m", dv_task_id(t));
}

const char *dv_task_id(struct dv_task *t)
{
        return json_string_value(json_object_get(t->doc, "id"));
}

bool dv_task_cancel_requested(struct dv_task *t)
{
        bool c;

        pthread_mutex_lock(&t->pool->lock);
        c = t->cancel;
        pthread_mutex_unlock(&t->pool->lock);
        return c;
}

void dv_task_progress(struct dv_task *t, int pct, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        json_object_set_new(t->doc, "progress", json_integer(DV_MAX(0, DV_MIN(pct, 100))));
        json_object_set_new(t->doc, "message", json_string(msg));
        persist(t);
}

void dv_task_detail(struct dv_task *t, json_t *detail)
{
        if (detail)
                json_object_set_new(t->doc, "detail", detail);
        else
                json_object_del(t->doc, "detail");
}

static void finish(struct dv_task *t, const char *state, json_t *result, json_t *error,
                   const char *msg)
{
        char now[32];

        if (t->finished) {
                json_decref(result);
                json_decref(error);
                return;
        }
        t->finished = true;
        dv_iso_time(dv_wall_ms(), now, sizeof(now));
        json_object_set_new(t->doc, "state", json_string(state));
        if (strcmp(state, "succeeded") == 0)
                json_object_set_new(t->doc, "progress", json_integer(100));
        json_object_set_new(t->doc, "message", json_string(msg));
        json_object_set_new(t->doc, "result", result ? result : json_null());
        json_object_set_new(t->doc, "error", error ? error : json_null());
        json_object_set_new(t->doc, "finished_at", json_string(now));
        persist(t);
        dv_info("task %s %s %s: %s", dv_task_id(t),
                json_string_value(json_object_get(t->doc, "op")), state, msg);
}

void dv_task_succeed(struct dv_task *t, json_t *result, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        finish(t, "succeeded", result, NULL, msg);
}

void dv_task_fail_result(struct dv_task *t, json_t *result, const char *code,
                         const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        finish(t, "failed", result, json_pack("{s:s,s:s}", "code", code, "message", msg), msg);
}

void dv_task_fail(struct dv_task *t, const char *code, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        finish(t, "failed", NULL, json_pack("{s:s,s:s}", "code", code, "message", msg), msg);
}

void dv_task_cancelled(struct dv_task *t, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        finish(t, "cancelled", NULL,
               json_pack("{s:s,s:s}", "code", "cancelled", "message", msg), msg);
}

static void run_one(struct dv_task *t)
{
        char now[32];

        dv_iso_time(dv_wall_ms(), now, sizeof(now));
        json_object_set_new(t->doc, "state", json_string("running"));
        json_object_set_new(t->doc, "started_at", json_string(now));
        json_object_set_new(t->doc, "message", json_string("running"));
        persist(t);
        t->fn(t, t->data);
        if (!t->finished)
                dv_task_fail(t, "internal", "the task ended without a result");
}

static void unlink_running(struct dv_tasks *p, struct dv_task *t)
{
        for (struct dv_task **pp = &p->running; *pp; pp = &(*pp)->next)
                if (*pp == t) {
                        *pp = t->next;
                        break;
                }
}

static void *worker(void *arg)
{
        struct dv_tasks *p = arg;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                struct dv_task *t;

                while (!p->queue && !p->stopping)
                        pthread_cond_wait(&p->cond, &p->lock);
                if (p->stopping)
                        break;
                t = p->queue;
                p->queue = t->next;
                if (!p->queue)
                        p->queue_tail = NULL;
                p->pending--;
                t->next = p->running;
                p->running = t;
                p->n_running++;
                pthread_mutex_unlock(&p->lock);

                run_one(t);

                pthread_mutex_lock(&p->lock);
                unlink_running(p, t);
                p->n_running--;
                pthread_cond_broadcast(&p->cond);
                pthread_mutex_unlock(&p->lock);
                task_free(t); /* data may be freed without the lock */
                pthread_mutex_lock(&p->lock);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

int dv_tasks_new(struct dv_store *store, int workers, int max_pending, struct dv_tasks **ret)
{
        struct dv_tasks *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        p->store = store;
        p->max_pending = max_pending;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);
        p->workers = calloc((size_t)workers, sizeof(pthread_t));
        if (!p->workers) {
                free(p);
                return -ENOMEM;
        }
        for (int i = 0; i < workers; i++) {
                int r = pthread_create(&p->workers[i], NULL, worker, p);
                if (r != 0) {
                        dv_tasks_shutdown(p, 0);
                        dv_tasks_free(p);
                        return -r;
                }
                p->n_workers++;
        }
        *ret = p;
        return 0;
}

bool dv_tasks_can_accept(struct dv_tasks *p)
{
        bool ok;

        pthread_mutex_lock(&p->lock);
        ok = !p->stopping && p->pending < p->max_pending;
        pthread_mutex_unlock(&p->lock);
        return ok;
}

int dv_tasks_submit(struct dv_tasks *p, json_t *doc, dv_task_fn fn, void *data,
                    dv_task_free_fn free_data)
{
        struct dv_task *t = calloc(1, sizeof(*t));

        if (!t) {
                if (free_data)
                        free_data(data);
                return -ENOMEM;
        }
        t->pool = p;
        t->doc = json_deep_copy(doc);
        t->fn = fn;
        t->data = data;
        t->free_data = free_data;
        pthread_mutex_lock(&p->lock);
        if (p->stopping) {
                /* Left "queued" in the store: the next start fails it. */
                pthread_mutex_unlock(&p->lock);
                task_free(t);
                return -ESHUTDOWN;
        }
        /* Over max_pending only by the callers that raced can_accept(). */
        if (p->queue_tail)
                p->queue_tail->next = t;
        else
                p->queue = t;
        p->queue_tail = t;
        p->pending++;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return 0;
}

static struct dv_task *find_locked(struct dv_tasks *p, const char *id)
{
        for (struct dv_task *t = p->queue; t; t = t->next)
                if (dv_streq(dv_task_id(t), id))
                        return t;
        for (struct dv_task *t = p->running; t; t = t->next)
                if (dv_streq(dv_task_id(t), id))
                        return t;
        return NULL;
}

bool dv_tasks_active(struct dv_tasks *p, const char *task_id)
{
        bool found;

        if (!task_id)
                return false;
        pthread_mutex_lock(&p->lock);
        found = find_locked(p, task_id) != NULL;
        pthread_mutex_unlock(&p->lock);
        return found;
}

int dv_tasks_cancel(struct dv_tasks *p, const char *task_id)
{
        struct dv_task *t;

        pthread_mutex_lock(&p->lock);
        t = find_locked(p, task_id);
        if (t)
                t->cancel = true;
        pthread_mutex_unlock(&p->lock);
        return t ? 0 : -ENOENT;
}

int dv_tasks_shutdown(struct dv_tasks *p, int64_t timeout_ms)
{
        int64_t deadline = dv_now_ms() + timeout_ms;
        int left;

        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->cond);
        while (p->n_running > 0 && dv_now_ms() < deadline) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 100 * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&p->cond, &p->lock, &ts);
        }
        left = p->n_running;
        pthread_mutex_unlock(&p->lock);
        if (left == 0)
                for (int i = 0; i < p->n_workers; i++)
                        pthread_join(p->workers[i], NULL);
        return left;
}

void dv_tasks_free(struct dv_tasks *p)
{
        if (!p)
                return;
        while (p->queue) {
                struct dv_task *t = p->queue;
                p->queue = t->next;
                task_free(t);
        }
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p->workers);
        free(p);
}
