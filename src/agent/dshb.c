/* Datastore heartbeats (see dshb.h). */
#include "dshb.h"

#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"

#define LOG_EVERY_MS 30000 /* a failing datastore is logged this often */

struct dshb_ds {
        char *name;        /* datastore name */
        char *dir;         /* DS/.drover-hb */
        char *file;        /* DS/.drover-hb/HOST */
        bool failing;      /* the last write failed */
        int64_t logged_ms; /* when a failure was last logged */
};

struct dv_dshb {
        char *host;             /* our host name */
        struct dshb_ds *ds;     /* the shared datastores */
        size_t n_ds;
        pthread_t thread;       /* the writer */
        pthread_mutex_t lock;   /* guards stop */
        pthread_cond_t cond;    /* signalled by stop */
        bool stop;              /* time to go */
        uint64_t counter;       /* beats written (per datastore attempt round) */
};

char *dv_dshb_content(const char *host, uint64_t counter, int64_t wall_ms, long pid)
{
        json_t *j = json_pack("{s:s,s:I,s:I,s:I}", "host", host, "counter", (json_int_t)counter,
                              "wall_ms", (json_int_t)wall_ms, "pid", (json_int_t)pid);
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        char *line;

        json_decref(j);
        if (!s)
                return NULL;
        line = dv_asprintf("%s\n", s);
        free(s);
        return line;
}

static void beat(struct dv_dshb *h, struct dshb_ds *d)
{
        _cleanup_(freep) char *data = dv_dshb_content(h->host, h->counter, dv_wall_ms(),
                                                      (long)getpid());
        int64_t now = dv_now_ms();
        int r;

        r = data ? dv_mkdir_p(d->dir, 0755) : -ENOMEM;
        if (r >= 0)
                r = dv_write_file_atomic(d->file, data, strlen(data), 0644);
        if (r < 0) {
                if (!d->failing || now - d->logged_ms >= LOG_EVERY_MS) {
                        dv_warn_errno(r, "datastore %s: cannot write the heartbeat %s: %m",
                                      d->name, d->file);
                        d->logged_ms = now;
                }
                d->failing = true;
                return;
        }
        if (d->failing)
                dv_info("datastore %s: heartbeats written again", d->name);
        d->failing = false;
}

static void *writer(void *arg)
{
        struct dv_dshb *h = arg;
        int64_t next = dv_now_ms();

        pthread_mutex_lock(&h->lock);
        while (!h->stop) {
                struct timespec ts;
                int64_t wait = next - dv_now_ms();

                if (wait > 0) {
                        clock_gettime(CLOCK_MONOTONIC, &ts);
                        ts.tv_sec += wait / 1000;
                        ts.tv_nsec += (wait % 1000) * 1000000L;
                        if (ts.tv_nsec >= 1000000000L) {
                                ts.tv_sec++;
                                ts.tv_nsec -= 1000000000L;
                        }
                        pthread_cond_timedwait(&h->cond, &h->lock, &ts);
                        continue;
                }
                pthread_mutex_unlock(&h->lock);
                h->counter++;
                /* One slow datastore (a hung NFS server) delays the others'
                 * beats too; the manager then sees them all late, which errs
                 * on the side of "failed", never of a missed failure. */
                for (size_t i = 0; i < h->n_ds; i++)
                        beat(h, &h->ds[i]);
                next = dv_now_ms() + DV_DSHB_PERIOD_MS;
                pthread_mutex_lock(&h->lock);
        }
        pthread_mutex_unlock(&h->lock);
        return NULL;
}

static void dshb_free(struct dv_dshb *h)
{
        for (size_t i = 0; i < h->n_ds; i++) {
                free(h->ds[i].name);
                free(h->ds[i].dir);
                free(h->ds[i].file);
        }
        free(h->ds);
        free(h->host);
        pthread_cond_destroy(&h->cond);
        pthread_mutex_destroy(&h->lock);
        free(h);
}

int dv_dshb_start(struct dv_agent *agent, struct dv_dshb **ret)
{
        struct dv_dshb *h;
        pthread_condattr_t ca;
        int r;

        *ret = NULL;
        if (agent->ds.n <= 1)
                return 0; /* only the local datastore */
        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        pthread_mutex_init(&h->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&h->cond, &ca);
        pthread_condattr_destroy(&ca);
        h->host = dv_strdup(agent->cfg.name);
        h->ds = calloc(agent->ds.n - 1, sizeof(*h->ds));
        if (!h->ds) {
                dshb_free(h);
                return -ENOMEM;
        }
        /* Entry 0 is the local datastore (main.c adds it first). */
        for (size_t i = 1; i < agent->ds.n; i++) {
                struct dshb_ds *d = &h->ds[h->n_ds++];

                d->name = dv_strdup(agent->ds.items[i].name);
                d->dir = dv_asprintf("%s/%s", agent->ds.items[i].path, DV_DSHB_DIR);
                d->file = dv_asprintf("%s/%s", d->dir, h->host);
        }
        r = pthread_create(&h->thread, NULL, writer, h);
        if (r != 0) {
                dshb_free(h);
                return -r;
        }
        dv_info("datastore heartbeats every %d ms into %zu shared datastore(s)",
                DV_DSHB_PERIOD_MS, h->n_ds);
        *ret = h;
        return 0;
}

void dv_dshb_stop(struct dv_dshb *h)
{
        if (!h)
                return;
        pthread_mutex_lock(&h->lock);
        h->stop = true;
        pthread_cond_signal(&h->cond);
        pthread_mutex_unlock(&h->lock);
        pthread_join(h->thread, NULL);
        dshb_free(h);
}
