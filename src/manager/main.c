/* droverd: the Drover manager. Thin: options, setup, signals, shutdown. */
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "auth.h"
#include "cron.h"
#include "dvs-health.h"
#include "dvs.h"
#include "ha-env.h"
#include "http.h"
#include "image.h"
#include "log.h"
#include "manager.h"
#include "mstats.h"
#include "dpm-run.h"
#include "drs-run.h"
#include "mcache.h"
#include "overcommit.h"
#include "recover.h"
#include "store.h"
#include "token.h"

#define MAX_BODY (1024 * 1024)
#define TASK_WORKERS 16
#define TASK_MAX_PENDING 1024
#define SHUTDOWN_WAIT_MS 15000

static void usage(FILE *f)
{
        fprintf(f,
                "usage: droverd [OPTIONS]\n"
                "  --listen ADDR:PORT          API address (default 127.0.0.1:7080)\n"
                "  --data-dir DIR              state directory (default /var/lib/drover)\n"
                "  --image-dir DIR             register DIR/image.json as image \"default\"\n"
                "  --heartbeat-timeout-ms N    hosts silent longer are unreachable (default 5000)\n"
                "  --store-sync full|normal    durability of the store (default full: a commit is\n"
                "                              on disk before an API reply or a task acts on it,\n"
                "                              concurrent commits sharing a sync; normal: a manager\n"
                "                              crash loses nothing, an OS crash may lose the last\n"
                "                              commits)\n"
                "  --web-dir DIR               serve the web console's files from DIR under /\n"
                "  --admin-password-file FILE  the web login's admin password (default: generated\n"
                "                              into DATA/admin-password on first start)\n"
                "  --max-migrations-per-host N live migrations a host takes part in at once,\n"
                "                              as source or target (default 2; 0: no limit)\n"
                "  --balloon-interval-ms N     the memory-overcommit controller's round, 250..60000\n"
                "                              (default 3000)\n"
                "  --help                      this text\n");
}

static int parse_args(int argc, char **argv, struct dv_mgr_config *cfg)
{
        static const struct option opts[] = {
                { "listen", required_argument, NULL, 'l' },
                { "data-dir", required_argument, NULL, 'd' },
                { "image-dir", required_argument, NULL, 'i' },
                { "heartbeat-timeout-ms", required_argument, NULL, 't' },
                { "store-sync", required_argument, NULL, 's' },
                { "web-dir", required_argument, NULL, 'w' },
                { "admin-password-file", required_argument, NULL, 'p' },
                { "max-migrations-per-host", required_argument, NULL, 'M' },
                { "balloon-interval-ms", required_argument, NULL, 'B' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        char addr[256];
        uint16_t port;
        int c;

        *cfg = (struct dv_mgr_config){
                .listen = "127.0.0.1:7080",
                .data_dir = "/var/lib/drover",
                .heartbeat_timeout_ms = 5000,
                .max_migrations_per_host = 2,
                .balloon_interval_ms = DV_OVERCOMMIT_EVERY_MS,
        };
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'l':
                        if (dv_parse_hostport(optarg, addr, sizeof(addr), &port) < 0 ||
                            port == 0) {
                                fprintf(stderr, "droverd: --listen: '%s' is not ADDR:PORT\n",
                                        optarg);
                                return -EINVAL;
                        }
                        cfg->listen = optarg;
                        break;
                case 'd':
                        if (!*optarg) {
                                fprintf(stderr, "droverd: --data-dir must not be empty\n");
                                return -EINVAL;
                        }
                        cfg->data_dir = optarg;
                        break;
                case 'i':
                        cfg->image_dir = optarg;
                        break;
                case 's':
                        if (!dv_streq(optarg, "full") && !dv_streq(optarg, "normal")) {
                                fprintf(stderr, "droverd: --store-sync: full or normal, not '%s'\n",
                                        optarg);
                                return -EINVAL;
                        }
                        /* The store reads it when it opens (store-sqlite.c). */
                        setenv("DROVER_STORE_SYNC", optarg, 1);
                        break;
                case 't':
                        if (dv_parse_int64(optarg, 100, 3600000, &cfg->heartbeat_timeout_ms) <
                            0) {
                                fprintf(stderr,
                                        "droverd: --heartbeat-timeout-ms: '%s' is not an integer in 100..3600000\n",
                                        optarg);
                                return -EINVAL;
                        }
                        break;
                case 'w':
                        cfg->web_dir = optarg;
                        break;
                case 'p':
                        cfg->admin_password_file = optarg;
                        break;
                case 'M':
                        if (dv_parse_int64(optarg, 0, 1000, &cfg->max_migrations_per_host) < 0) {
                                fprintf(stderr,
                                        "droverd: --max-migrations-per-host: '%s' is not an integer in 0..1000\n",
                                        optarg);
                                return -EINVAL;
                        }
                        break;
                case 'B':
                        if (dv_parse_int64(optarg, 250, 60000, &cfg->balloon_interval_ms) < 0) {
                                fprintf(stderr,
                                        "droverd: --balloon-interval-ms: '%s' is not an integer in 250..60000\n",
                                        optarg);
                                return -EINVAL;
                        }
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                default:
                        fprintf(stderr, "droverd: option '%s' is unknown or needs a value\n",
                                argv[optind - 1]);
                        usage(stderr);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "droverd: unexpected argument '%s'\n", argv[optind]);
                usage(stderr);
                return -EINVAL;
        }
        return 0;
}

int main(int argc, char **argv)
{
        struct dv_mgr m = { 0 };
        struct dv_http_server *http = NULL;
        struct dv_cron *cron = NULL;
        struct dv_health_sched *health = NULL;
        _cleanup_(freep) char *token_path = NULL, *db_path = NULL;
        struct dv_error err = { 0 };
        sigset_t sigs;
        int r, sig, left;

        if (parse_args(argc, argv, &m.cfg) < 0)
                return 2;
        dv_log_init("droverd", DV_LOG_INFO);

        /* Signals are taken by sigwait() in main only; every thread inherits
         * the mask. A closed client socket must not kill us. */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);
        dv_http_global_init();

        r = dv_mkdir_p(m.cfg.data_dir, 0700);
        if (r < 0)
                return dv_log_errno(r, "cannot create %s: %m", m.cfg.data_dir), 1;
        chmod(m.cfg.data_dir, 0700);
        token_path = dv_asprintf("%s/token", m.cfg.data_dir);
        r = dv_token_load_or_create(token_path, m.token);
        if (r < 0)
                return dv_log_errno(r, "token %s: %m", token_path), 1;
        r = dv_auth_new(m.cfg.data_dir, m.cfg.admin_password_file, &m.auth);
        if (r < 0)
                return dv_log_errno(r, "users (%s/users, --admin-password-file %s): %m",
                                    m.cfg.data_dir,
                                    m.cfg.admin_password_file ? m.cfg.admin_password_file
                                                              : "not given"),
                       1;
        if (m.cfg.web_dir) {
                m.web_root = realpath(m.cfg.web_dir, NULL);
                if (!m.web_root)
                        return dv_log_errno(-errno, "--web-dir %s: %m", m.cfg.web_dir), 1;
        }

        db_path = dv_asprintf("%s/droverd.db", m.cfg.data_dir);
        r = dv_store_open(&dv_store_sqlite_ops, db_path, &m.store);
        if (r < 0)
                return dv_log_errno(r, "cannot open the store %s: %m", db_path), 1;
        pthread_mutex_init(&m.lock, NULL);
        pthread_mutex_init(&m.net_lock, NULL);
        m.host_rt = json_object();

        r = dv_recover(&m);
        if (r < 0) {
                dv_log_errno(r, "recovery failed: %m");
                goto out;
        }
        r = dv_mcache_new(&m, &m.cache);
        if (r < 0) {
                dv_log_errno(r, "cannot build the usage caches: %m");
                goto out;
        }
        r = dv_tasks_new(m.store, TASK_WORKERS, TASK_MAX_PENDING, &m.tasks);
        if (r < 0) {
                dv_log_errno(r, "cannot start the task workers: %m");
                goto out;
        }
        if (m.cfg.image_dir) {
                r = dv_image_register_dir(&m, m.cfg.image_dir, &err);
                if (r < 0) {
                        dv_err("--image-dir %s: %s", m.cfg.image_dir, err.message);
                        goto out;
                }
        }
        m.mstats = dv_mstats_new();
        if (!m.mstats) {
                dv_err("cannot allocate the metrics registry");
                goto out;
        }
        r = dv_drs_rt_new(&m, &m.drs);
        if (r < 0) {
                dv_log_errno(r, "cannot set up DRS: %m");
                goto out;
        }
        r = dv_dpm_rt_new(&m, &m.dpm);
        if (r < 0) {
                dv_log_errno(r, "cannot set up DPM: %m");
                goto out;
        }
        r = dv_ha_rt_new(&m, &m.ha);
        if (r < 0) {
                dv_log_errno(r, "cannot set up HA: %m");
                goto out;
        }
        r = dv_cron_start(&m, &cron);
        if (r < 0) {
                dv_log_errno(r, "cannot start the cron thread: %m");
                goto out;
        }
        r = dv_netsync_start(&m);
        if (r < 0) {
                dv_log_errno(r, "cannot start the netsync thread: %m");
                goto out;
        }
        r = dv_health_sched_start(&m, &health);
        if (r < 0) {
                dv_log_errno(r, "cannot start the DVS health thread: %m");
                goto out;
        }
        r = dv_http_server_start(m.cfg.listen, MAX_BODY, dv_api_handle, &m, &http);
        if (r < 0) {
                dv_log_errno(r, "cannot listen on %s: %m", m.cfg.listen);
                goto out;
        }
        dv_info("droverd %s listening on %s, data in %s", DROVER_VERSION, m.cfg.listen,
                m.cfg.data_dir);

        while (sigwait(&sigs, &sig) != 0 || (sig != SIGTERM && sig != SIGINT))
                ;
        dv_info("signal %s: shutting down", strsignal(sig));
        r = 0;
out:
        dv_http_server_stop(http); /* waits for requests in flight */
        dv_health_sched_stop(health);
        dv_netsync_stop(&m);
        dv_cron_stop(cron);
        dv_ha_rt_free(m.ha); /* after the cron thread and the API: joins the BMC workers */
        dv_mstats_free(m.mstats);
        dv_drs_rt_free(m.drs);
        m.drs = NULL;
        dv_dpm_rt_free(m.dpm);
        m.dpm = NULL;
        m.mstats = NULL;
        m.ha = NULL;
        if (m.tasks) {
                left = dv_tasks_shutdown(m.tasks, SHUTDOWN_WAIT_MS);
                if (left > 0) {
                        /* They are recorded as running: the next start fails them. */
                        dv_warn("%d tasks still running; they fail with manager-restart at the next start",
                                left);
                        _exit(r < 0 ? 1 : 0);
                }
                dv_tasks_free(m.tasks);
        }
        dv_mcache_free(m.cache);
        dv_store_close(m.store);
        dv_auth_free(m.auth);
        free(m.web_root);
        json_decref(m.host_rt);
        pthread_mutex_destroy(&m.lock);
        pthread_mutex_destroy(&m.net_lock);
        dv_info("stopped");
        return r < 0 ? 1 : 0;
}
