/* drover-sim: many simulated hosts in one process, for scale tests
 * (docs/scale.md). Each host is a real agent as far as the manager can
 * tell — the agent's own registration, heartbeat loop and agent API code
 * (register.c, heartbeat.c, api.c) — with the simulated driver (hv-sim.c)
 * and synthetic host facts. One HTTP server serves every host's agent API
 * under a path of its own: host NAME advertises http://LISTEN/h/NAME.
 *
 *   drover-sim --manager URL --token-file F --hosts N [--prefix sim]
 *              [--listen 127.0.0.1:7900] [--data-dir DIR] [--heartbeat-ms 10000]
 *              [--cpus 32] [--memory-mib 262144] [--delay-ms 50]
 *
 * Stops on SIGTERM/SIGINT (the manager then sees the hosts go silent). */
#include "agent.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

struct sim {
        struct dv_agent **hosts; /* one agent per simulated host */
        size_t n;                /* hosts */
        json_t *index;           /* name -> index into hosts */
};

/* /h/NAME/agent/v1/... -> that host's agent API with /agent/v1/... */
static void handle(void *userdata, const struct dv_http_request *req,
                   struct dv_http_response *resp)
{
        struct sim *s = userdata;
        struct dv_http_request sub = *req;
        const char *p = req->path, *slash;
        struct dv_agent *a;
        char name[128];
        json_t *i;

        if (strncmp(p, "/h/", 3) != 0 || !(slash = strchr(p + 3, '/')) ||
            (size_t)(slash - p - 3) >= sizeof(name)) {
                dv_http_reply_error(resp, 404, "not-found", "drover-sim serves /h/HOST/agent/v1/...");
                return;
        }
        snprintf(name, sizeof(name), "%.*s", (int)(slash - p - 3), p + 3);
        i = json_object_get(s->index, name);
        if (!i) {
                dv_http_reply_error(resp, 404, "not-found", "no simulated host '%s'", name);
                return;
        }
        sub.path = slash;
        a = s->hosts[json_integer_value(i)];
        /* The network is not simulated: DVS and port calls succeed with
         * nothing done (OVS is not there). */
        if (dv_startswith(slash, "/agent/v1/dvs") || dv_startswith(slash, "/agent/v1/ports") ||
            dv_startswith(slash, "/agent/v1/net")) {
                bool ok;

                pthread_mutex_lock(&a->lock);
                ok = dv_agent_token_equal(req->token, a->credential);
                pthread_mutex_unlock(&a->lock);
                if (!ok)
                        dv_http_reply_error(resp, 401, "unauthorized", "token missing or wrong");
                else if (strcmp(slash, "/agent/v1/dvs/sync") == 0)
                        dv_http_reply(resp, 200,
                                      json_pack("{s:[],s:[],s:i,s:i,s:[],s:b}", "bridges",
                                                "deleted", "retagged", 0, "removed_ports", 0,
                                                "errors", "simulated", true));
                else
                        dv_http_reply(resp, 200, json_pack("{s:b}", "simulated", true));
                return;
        }
        dv_agent_api_handle(a, &sub, resp);
}

static void usage(FILE *f)
{
        fputs("Usage: drover-sim --manager URL --token-file FILE --hosts N [OPTIONS]\n"
              "\n"
              "Many simulated hosts in one process (docs/scale.md): each registers with the\n"
              "manager, sends heartbeats and serves the agent API with simulated VMs.\n"
              "\n"
              "  --manager URL        the manager (required)\n"
              "  --token-file FILE    the manager's admin token, to register (required)\n"
              "  --hosts N            hosts to simulate (1..100000)\n"
              "  --prefix P           host names P0001, P0002, ... (default sim)\n"
              "  --listen ADDR:PORT   the agent API of all hosts (default 127.0.0.1:7900)\n"
              "  --data-dir DIR       credentials (default /tmp/drover-sim)\n"
              "  --heartbeat-ms MS    heartbeat interval per host (default 10000)\n"
              "  --cpus N             CPUs per host (default 32)\n"
              "  --memory-mib M       memory per host (default 262144)\n"
              "  --delay-ms MS        simulated duration of start/stop/migrate (default 50)\n",
              f);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "manager", required_argument, NULL, 'm' },
                { "token-file", required_argument, NULL, 't' },
                { "hosts", required_argument, NULL, 'n' },
                { "prefix", required_argument, NULL, 'p' },
                { "listen", required_argument, NULL, 'l' },
                { "data-dir", required_argument, NULL, 'd' },
                { "heartbeat-ms", required_argument, NULL, 'b' },
                { "cpus", required_argument, NULL, 'c' },
                { "memory-mib", required_argument, NULL, 'M' },
                { "delay-ms", required_argument, NULL, 'D' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *manager = NULL, *token = NULL, *prefix = "sim", *listen = "127.0.0.1:7900",
                   *dir = "/tmp/drover-sim";
        int64_t n = 0, hb = 10000, cpus = 32, mem = 262144, delay = 50;
        struct dv_http_server *server = NULL;
        struct sim s = { 0 };
        pthread_t *links;
        sigset_t signals;
        int c, sig = 0, r;

        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                int64_t *num = NULL, lo = 0, hi = 0;

                switch (c) {
                case 'm': manager = optarg; break;
                case 't': token = optarg; break;
                case 'p': prefix = optarg; break;
                case 'l': listen = optarg; break;
                case 'd': dir = optarg; break;
                case 'n': num = &n, lo = 1, hi = 100000; break;
                case 'b': num = &hb, lo = 100, hi = 600000; break;
                case 'c': num = &cpus, lo = 1, hi = 4096; break;
                case 'M': num = &mem, lo = 64, hi = INT64_C(1) << 30; break;
                case 'D': num = &delay, lo = 0, hi = 60000; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
                if (num && dv_parse_int64(optarg, lo, hi, num) < 0) {
                        fprintf(stderr, "drover-sim: --%s: expected %lld..%lld, got '%s'\n",
                                opts[c == 'n' ? 2 : c == 'b' ? 6 : c == 'c' ? 7 : c == 'M' ? 8 : 9].name,
                                (long long)lo, (long long)hi, optarg);
                        return 2;
                }
        }
        if (!manager || !token || n < 1) {
                usage(stderr);
                return 2;
        }
        dv_log_init("drover-sim", DV_LOG_WARN);
        sigemptyset(&signals);
        sigaddset(&signals, SIGTERM);
        sigaddset(&signals, SIGINT);
        pthread_sigmask(SIG_BLOCK, &signals, NULL);
        signal(SIGPIPE, SIG_IGN);
        dv_http_global_init();
        (void)mkdir(dir, 0700);

        s.n = (size_t)n;
        s.hosts = calloc(s.n, sizeof(*s.hosts));
        links = calloc(s.n, sizeof(*links));
        s.index = json_object();
        if (!s.hosts || !links || !s.index)
                return 1;
        for (size_t i = 0; i < s.n; i++) {
                struct dv_agent *a = calloc(1, sizeof(*a));
                struct dv_hv_config hvcfg = { .sim_delay_ms = (int)delay };
                char name[64];

                if (!a)
                        return 1;
                snprintf(name, sizeof(name), "%s%04zu", prefix, i + 1);
                a->ops = &dv_hv_sim_ops;
                a->cfg.manager_url = dv_strdup(manager);
                a->cfg.advertise_url = dv_asprintf("http://%s/h/%s", listen, name);
                /* The address migrations are offered on (agent-migrate.c). */
                a->cfg.listen = dv_strdup(listen);
                a->cfg.name = dv_strdup(name);
                a->cfg.token_file = dv_strdup(token);
                a->cfg.data_dir = dv_strdup(dir);
                a->cfg.heartbeat_ms = (int)hb;
                a->credential_path = dv_asprintf("%s/%s.credential", dir, name);
                snprintf(a->facts.hostname, sizeof(a->facts.hostname), "%s", name);
                a->facts.cpus = (int)cpus;
                a->facts.cpu_model = dv_strdup("drover-sim virtual CPU");
                a->facts.cpu_flags = json_pack("[s,s,s]", "fpu", "sse2", "sim");
                a->facts.memory_mib = mem;
                a->facts.accel = "tcg";
                a->facts.cpu_mhz = 2000;
                dv_datastores_init(&a->ds);
                {
                        /* Its local datastore, as a real agent has (placement
                         * and disks name it); the directory stays empty. */
                        _cleanup_(freep) char *ln = dv_asprintf("%s-local", name);
                        _cleanup_(freep) char *lp = dv_asprintf("%s/%s-local", dir, name);

                        r = dv_datastores_add(&a->ds, ln, lp);
                        if (r < 0) {
                                fprintf(stderr, "drover-sim: %s: %s\n", lp, strerror(-r));
                                return 1;
                        }
                }
                dv_ovs_init(&a->ovs, NULL, NULL);
                r = dv_agent_init(a);
                if (r >= 0)
                        r = dv_hv_sim_ops.init(&hvcfg, dv_agent_on_vm_event, a, &a->hv);
                if (r < 0) {
                        fprintf(stderr, "drover-sim: host %s: %s\n", name, strerror(-r));
                        return 1;
                }
                (void)dv_agent_load_credential(a); /* from an earlier run, if any */
                s.hosts[i] = a;
                json_object_set_new(s.index, name, json_integer((json_int_t)i));
        }
        r = dv_http_server_start(listen, DV_AGENT_MAX_BODY, handle, &s, &server);
        if (r < 0) {
                fprintf(stderr, "drover-sim: cannot serve on %s: %s\n", listen, strerror(-r));
                return 1;
        }
        for (size_t i = 0; i < s.n; i++) {
                r = dv_agent_link_start(s.hosts[i], &links[i]);
                if (r < 0) {
                        fprintf(stderr, "drover-sim: host %zu: cannot start its link: %s\n", i,
                                strerror(-r));
                        return 1;
                }
        }
        fprintf(stderr, "drover-sim: %zu hosts (%s0001..), %lld CPUs and %lld MiB each, "
                "heartbeats every %lld ms, agent API on %s, manager %s\n", s.n, prefix,
                (long long)cpus, (long long)mem, (long long)hb, listen, manager);
        while (sigwait(&signals, &sig) != 0 || (sig != SIGTERM && sig != SIGINT))
                ;
        for (size_t i = 0; i < s.n; i++)
                dv_agent_link_request_stop(s.hosts[i]);
        dv_http_server_stop(server);
        for (size_t i = 0; i < s.n; i++)
                pthread_join(links[i], NULL);
        for (size_t i = 0; i < s.n; i++)
                dv_hv_sim_ops.free(s.hosts[i]->hv);
        fprintf(stderr, "drover-sim: stopped\n");
        return 0;
}
