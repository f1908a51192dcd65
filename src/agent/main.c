/* drover-agent: the host daemon. Thin: parse flags, collect host facts,
 * set up datastores, start the driver (and adopt running VMs), serve the
 * agent API, register and heartbeat, wait for SIGTERM/SIGINT.
 * QEMU processes outlive the agent by design: shutdown leaves VMs running. */
#include "agent.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>

#include "agent-ha.h"
#include "agent-tools.h"
#include "cgroup.h"
#include "dshb.h"
#include "log.h"
#include "qemu-cmd.h"

static int setup_dirs(struct dv_agent *agent, char **ret_run_dir)
{
        _cleanup_(freep) char *run_dir = NULL, *local = NULL, *local_name = NULL;
        const struct dv_agent_config *cfg = &agent->cfg;
        int r;

        /* 0711: QEMU runs as each VM's uid and must reach its disks and run
         * directory without listing anything. */
        r = dv_mkdir_p(cfg->data_dir, 0711);
        if (r < 0)
                return dv_log_errno(r, "cannot create %s: %m", cfg->data_dir);
        run_dir = dv_asprintf("%s/run", cfg->data_dir);
        r = dv_mkdir_p(run_dir, 0711);
        if (r < 0)
                return dv_log_errno(r, "cannot create %s: %m", run_dir);

        local = dv_asprintf("%s/datastores/local", cfg->data_dir);
        local_name = dv_asprintf("%s-local", cfg->name);
        r = dv_datastores_add(&agent->ds, local_name, local);
        if (r < 0)
                return dv_log_errno(r, "datastore %s (%s): %m", local_name, local);
        for (size_t i = 0; i < cfg->n_datastores; i++) {
                const struct dv_agent_ds_arg *a = &cfg->datastores[i];

                r = dv_datastores_add(&agent->ds, a->name, a->path);
                if (r == -ENOTUNIQ)
                        return dv_log_errno(r, "datastore %s (%s) overlaps another datastore",
                                            a->name, a->path);
                if (r < 0)
                        return dv_log_errno(r, "datastore %s (%s): %m", a->name, a->path);
        }
        for (size_t i = 0; i < agent->ds.n; i++)
                dv_info("datastore %s at %s", agent->ds.items[i].name, agent->ds.items[i].path);
        *ret_run_dir = TAKE_PTR(run_dir);
        return 0;
}

static int load_credential(struct dv_agent *agent)
{
        int r = dv_agent_load_credential(agent);

        if (r == 0) {
                dv_info("using the host credential in %s", agent->credential_path);
                return 0;
        }
        if (r == -EPERM)
                return dv_log_errno(r, "%s must be a file of ours with mode 0600; fix or remove it",
                                    agent->credential_path);
        if (r == -EBADMSG)
                return dv_log_errno(r, "%s does not hold a 64-hex-digit credential; remove it",
                                    agent->credential_path);
        if (r != -ENOENT)
                return dv_log_errno(r, "cannot read %s: %m", agent->credential_path);
        if (!agent->cfg.token_file)
                return dv_log_errno(-ENOENT,
                                    "no credential in %s and no --token-file to register with",
                                    agent->credential_path);
        dv_info("no credential yet: registering with the token in %s", agent->cfg.token_file);
        return 0;
}

/* The HTTP server binds with SO_REUSEPORT, which would let a second agent
 * share the port of a running one. A plain bind finds that out first. */
static int check_listen_free(const char *listen)
{
        struct sockaddr_in sa = { .sin_family = AF_INET };
        _cleanup_(closep) int fd = -1;
        char addr[64];
        uint16_t port;
        int one = 1;

        if (dv_parse_hostport(listen, addr, sizeof(addr), &port) < 0 ||
            inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
                return -EINVAL;
        sa.sin_port = htons(port);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        return 0;
}

/* The QEMU driver's NIC hook: taps into their DVS bridge (ovs.c). */
static int nic_hook(void *userdata, bool plug, const char *vm_id, const char *tap,
                    const struct dv_vm_nic *nic, struct dv_error *err)
{
        struct dv_agent *agent = userdata;
        int r;

        if (plug) {
                r = dv_ovs_port_plug(&agent->ovs, nic->bridge, tap, nic->vlan < 0 ? 0 : nic->vlan,
                                     vm_id, nic->mac, err);
                if (r < 0)
                        dv_warn("vm %s: %s", vm_id, err->message);
                else
                        dv_info("vm %s: %s on bridge %s, vlan %d (%s)", vm_id, tap, nic->bridge,
                                nic->vlan < 0 ? 0 : nic->vlan, nic->mac);
                if (r >= 0 && (nic->shaping.ingress.average_kbps > 0 ||
                               nic->shaping.egress.average_kbps > 0)) {
                        r = dv_ovs_port_shape(&agent->ovs, tap, nic->mac, &nic->shaping, err);
                        if (r < 0)
                                dv_warn("vm %s: shaping %s: %s", vm_id, tap, err->message);
                        else
                                dv_info("vm %s: %s shaped: in %lld, out %lld kbit/s", vm_id, tap,
                                        (long long)nic->shaping.ingress.average_kbps,
                                        (long long)nic->shaping.egress.average_kbps);
                }
                return r;
        }
        r = dv_ovs_port_unplug(&agent->ovs, tap, err);
        if (r < 0)
                dv_warn("vm %s: %s", vm_id, err->message);
        return r;
}

/* name is one of the comma-separated names of csv. */
static bool in_csv(const char *csv, const char *name)
{
        size_t n = name ? strlen(name) : 0;

        for (const char *p = csv; n && p; p = strchr(p, ',')) {
                if (*p == ',')
                        p++;
                if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
                        return true;
        }
        return false;
}

static int run(struct dv_agent *agent, const sigset_t *signals)
{
        _cleanup_(freep) char *run_dir = NULL;
        struct dv_http_server *server = NULL;
        struct dv_dshb *dshb = NULL;
        struct dv_hv_config hvcfg;
        pthread_t link;
        int r, sig = 0;

        r = check_listen_free(agent->cfg.listen);
        if (r < 0)
                return dv_log_errno(r, "cannot serve on %s: %m (another agent running?)",
                                    agent->cfg.listen);
        r = dv_hostinfo_collect(agent->cfg.accel, &agent->facts);
        if (r == -ENODEV)
                return dv_log_errno(r, "--accel kvm: /dev/kvm is not usable");
        if (r < 0)
                return dv_log_errno(r, "collecting host facts: %m");
        r = setup_dirs(agent, &run_dir);
        if (r < 0)
                return r;
        agent->credential_path = dv_asprintf("%s/credential", agent->cfg.data_dir);
        r = load_credential(agent);
        if (r < 0)
                return r;

        hvcfg = (struct dv_hv_config){
                .run_dir = run_dir,
                .accel = agent->facts.accel, /* resolved: what we report is what runs */
                .qemu_bin = agent->cfg.qemu_bin,
                .sandbox = agent->cfg.sandbox,
                .console_log_max = (uint64_t)agent->cfg.console_log_max_kib * 1024,
                .host_mhz = agent->facts.cpu_mhz,
                .sim_delay_ms = agent->cfg.sim_delay_ms,
                .no_locking = !agent->cfg.image_locking,
        };
        if (dv_streq(agent->cfg.driver, "sim")) {
                agent->ops = &dv_hv_sim_ops;
                if (agent->cfg.sim_cpus > 0)
                        agent->facts.cpus = agent->cfg.sim_cpus;
                if (agent->cfg.sim_memory_mib > 0)
                        agent->facts.memory_mib = agent->cfg.sim_memory_mib;
        }
        if (agent->cfg.cpu_mask) {
                /* Masked features are not reported: prechecks see a CPU
                 * without them. */
                json_t *kept = json_array(), *flag;
                size_t i;

                if (!kept)
                        return -ENOMEM;
                json_array_foreach(agent->facts.cpu_flags, i, flag)
                        if (!in_csv(agent->cfg.cpu_mask, json_string_value(flag)))
                                json_array_append(kept, flag);
                dv_info("cpu mask: %zu of %zu features reported", json_array_size(kept),
                        json_array_size(agent->facts.cpu_flags));
                json_decref(agent->facts.cpu_flags);
                agent->facts.cpu_flags = kept;
        }
        /* The memory this host gives to VMs (docs/qos.md): what it
         * registers, so that admission and ballooning count it. */
        if (agent->cfg.vm_memory_mib > 0) {
                if (agent->cfg.vm_memory_mib > agent->facts.memory_mib)
                        dv_warn("--vm-memory-mib %lld is more than the host's %lld MiB",
                                (long long)agent->cfg.vm_memory_mib,
                                (long long)agent->facts.memory_mib);
                agent->facts.memory_mib = agent->cfg.vm_memory_mib;
        }
        agent->ksm.disabled = agent->cfg.ksm_off;
        if (agent->cfg.cpu_mhz > 0)
                agent->facts.cpu_mhz = hvcfg.host_mhz = agent->cfg.cpu_mhz;
        if (!dv_streq(agent->cfg.cgroup_mode, "off") && agent->ops == &dv_hv_qemu_ops) {
                _cleanup_(freep) char *parent = agent->cfg.cgroup_parent
                                                        ? dv_strdup(agent->cfg.cgroup_parent)
                                                        : dv_asprintf("drover/%s", agent->cfg.name);
                struct dv_cgroup_config cgc = { .root = agent->cfg.cgroup_root,
                                                .mode = agent->cfg.cgroup_mode,
                                                .parent = parent };
                struct dv_error cgerr = { 0 };

                r = dv_cgroup_open(&cgc, &agent->cgroup, &cgerr);
                if (r < 0 && !dv_streq(agent->cfg.cgroup_mode, "auto"))
                        return dv_log_errno(r, "--cgroup %s: %s", agent->cfg.cgroup_mode,
                                            cgerr.message);
                if (r < 0)
                        dv_warn("no cgroups (%s): VMs with CPU QoS cannot start here",
                                cgerr.message);
                else
                        dv_info("cgroup v%d, VMs under %s/.../%s, %lld MHz per core",
                                (int)dv_cgroup_version(agent->cgroup), agent->cfg.cgroup_root,
                                parent, (long long)agent->facts.cpu_mhz);
                hvcfg.cgroup = agent->cgroup;
        }
        /* Simulated VMs have no Tools channel (the driver reports Tools). */
        r = agent->ops == &dv_hv_qemu_ops ? dv_agent_tools_init(agent, run_dir) : 0;
        if (r < 0)
                return dv_log_errno(r, "starting the Tools registry: %m");
        r = agent->ops->init(&hvcfg, dv_agent_on_vm_event, agent, &agent->hv);
        if (r < 0) {
                dv_agent_tools_done(agent);
                return dv_log_errno(r, "starting the %s driver: %m", agent->ops->name);
        }
        if (agent->ops == &dv_hv_qemu_ops)
                dv_hv_qemu_set_nic_hook(agent->hv, nic_hook, agent);
        /* Before registering, so the first heartbeat reports adopted VMs. */
        r = agent->ops->adopt(agent->hv);
        if (r < 0)
                dv_warn_errno(r, "adopting running VMs: %m");
        else
                dv_info("adopted %d running VM(s)", r);
        if (r > 0) {
                /* Opens the Tools channels of the adopted VMs (a final
                 * "stopped" report it meets is kept for the heartbeat). */
                json_t *vms = NULL;

                if (dv_agent_vms_snapshot(agent, &vms) >= 0)
                        json_decref(vms);
        }

        /* Before the API: VM starts take their leases through it. */
        r = dv_agent_ha_start(agent, &agent->ha);
        if (r < 0) {
                dv_log_errno(r, "starting HA (leases, isolation, watchdog): %m");
                goto out_hv;
        }
        r = dv_http_server_start(agent->cfg.listen, DV_AGENT_MAX_BODY, dv_agent_api_handle, agent,
                                 &server);
        if (r < 0) {
                dv_log_errno(r, "cannot serve on %s: %m", agent->cfg.listen);
                goto out_hv;
        }
        /* HA's second channel: heartbeats on the shared datastores. */
        r = dv_dshb_start(agent, &dshb);
        if (r < 0) {
                dv_log_errno(r, "starting the datastore heartbeats: %m");
                dv_http_server_stop(server);
                goto out_hv;
        }
        r = dv_agent_link_start(agent, &link);
        if (r < 0) {
                dv_log_errno(r, "starting the manager link: %m");
                dv_http_server_stop(server);
                dv_dshb_stop(dshb);
                goto out_hv;
        }
        dv_info("drover-agent %s: host %s, %d CPUs, %lld MiB, accel %s; serving %s as %s; "
                "manager %s",
                DROVER_VERSION, agent->cfg.name, agent->facts.cpus,
                (long long)agent->facts.memory_mib, agent->facts.accel, agent->cfg.listen,
                agent->cfg.advertise_url, agent->cfg.manager_url);

        while (sigwait(signals, &sig) != 0 || (sig != SIGTERM && sig != SIGINT))
                ;
        dv_info("%s: shutting down (VMs keep running)", strsignal(sig));
        dv_agent_link_request_stop(agent);
        dv_http_server_stop(server); /* waits for requests in flight */
        pthread_join(link, NULL);
        dv_ksm_restore(&agent->ksm); /* the heartbeat thread is gone */
        dv_dshb_stop(dshb);
        r = 0;
out_hv:
        dv_agent_ha_stop(agent->ha); /* disarms the watchdog; leases stay with the VMs */
        agent->ha = NULL;
        agent->ops->free(agent->hv);
        agent->hv = NULL;
        dv_cgroup_free(agent->cgroup); /* after the driver, which borrows it */
        agent->cgroup = NULL;
        dv_agent_tools_done(agent); /* after the driver: no more VM events */
        return r;
}

int main(int argc, char **argv)
{
        struct dv_agent agent = { .ops = &dv_hv_qemu_ops };
        char err[512];
        sigset_t signals;
        int r;

        dv_log_init("drover-agent", DV_LOG_INFO);
        r = dv_agent_config_parse(argc, argv, &agent.cfg, err, sizeof(err));
        if (r == DV_AGENT_CONFIG_RUN)
                dv_ovs_init(&agent.ovs, agent.cfg.ovs_db, agent.cfg.ovs_datapath);
        if (r == DV_AGENT_CONFIG_EXIT) {
                dv_agent_config_done(&agent.cfg);
                return 0;
        }
        if (r < 0) {
                fprintf(stderr, "drover-agent: %s\nTry 'drover-agent --help'.\n", err);
                dv_agent_config_done(&agent.cfg);
                return 2;
        }

        /* Before any thread exists (driver, HTTP, link): every thread
         * inherits the mask, and only sigwait() below sees these. */
        sigemptyset(&signals);
        sigaddset(&signals, SIGTERM);
        sigaddset(&signals, SIGINT);
        pthread_sigmask(SIG_BLOCK, &signals, NULL);
        signal(SIGPIPE, SIG_IGN);
        dv_http_global_init();

        r = dv_agent_init(&agent);
        if (r == 0)
                r = run(&agent, &signals);
        dv_hostinfo_done(&agent.facts);
        dv_ovs_done(&agent.ovs);
        free(agent.credential_path);
        dv_agent_done(&agent);
        dv_agent_config_done(&agent.cfg);
        return r < 0 ? 1 : 0;
}
