/* Command line of drover-agent. */
#include "agent.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <string.h>

enum {
        OPT_MANAGER = 0x100,
        OPT_LISTEN,
        OPT_ADVERTISE,
        OPT_DATA_DIR,
        OPT_NAME,
        OPT_TOKEN_FILE,
        OPT_ACCEL,
        OPT_QEMU,
        OPT_DRIVER,
        OPT_SIM_DELAY_MS,
        OPT_SIM_CPUS,
        OPT_SIM_MEMORY_MIB,
        OPT_HEARTBEAT_MS,
        OPT_NO_SANDBOX,
        OPT_DATASTORE,
        OPT_OVS_DB,
        OPT_OVS_DATAPATH,
        OPT_UPLINK,
        OPT_MIGRATION_ADDRESS,
        OPT_CPU_MASK,
        OPT_TOOLS_TIMEOUT_S,
        OPT_CONSOLE_LOG_MAX_KIB,
        OPT_CGROUP,
        OPT_CGROUP_ROOT,
        OPT_CGROUP_PARENT,
        OPT_CPU_MHZ,
        OPT_VM_MEMORY_MIB,
        OPT_KSM,
        OPT_ISOLATION_ADDRESS,
        OPT_WATCHDOG_BMC,
        OPT_WATCHDOG_USER,
        OPT_WATCHDOG_PASSWORD_FILE,
        OPT_WATCHDOG_TIMEOUT_MS,
        OPT_NO_IMAGE_LOCKING,
        OPT_VERSION,
};

static const struct option options[] = {
        { "manager", required_argument, NULL, OPT_MANAGER },
        { "listen", required_argument, NULL, OPT_LISTEN },
        { "advertise", required_argument, NULL, OPT_ADVERTISE },
        { "data-dir", required_argument, NULL, OPT_DATA_DIR },
        { "name", required_argument, NULL, OPT_NAME },
        { "token-file", required_argument, NULL, OPT_TOKEN_FILE },
        { "accel", required_argument, NULL, OPT_ACCEL },
        { "qemu", required_argument, NULL, OPT_QEMU },
        { "driver", required_argument, NULL, OPT_DRIVER },
        { "sim-delay-ms", required_argument, NULL, OPT_SIM_DELAY_MS },
        { "sim-cpus", required_argument, NULL, OPT_SIM_CPUS },
        { "sim-memory-mib", required_argument, NULL, OPT_SIM_MEMORY_MIB },
        { "heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT_MS },
        { "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },
        { "datastore", required_argument, NULL, OPT_DATASTORE },
        { "ovs-db", required_argument, NULL, OPT_OVS_DB },
        { "ovs-datapath", required_argument, NULL, OPT_OVS_DATAPATH },
        { "uplink", required_argument, NULL, OPT_UPLINK },
        { "migration-address", required_argument, NULL, OPT_MIGRATION_ADDRESS },
        { "cpu-mask", required_argument, NULL, OPT_CPU_MASK },
        { "tools-timeout-s", required_argument, NULL, OPT_TOOLS_TIMEOUT_S },
        { "console-log-max-kib", required_argument, NULL, OPT_CONSOLE_LOG_MAX_KIB },
        { "cgroup", required_argument, NULL, OPT_CGROUP },
        { "cgroup-root", required_argument, NULL, OPT_CGROUP_ROOT },
        { "cgroup-parent", required_argument, NULL, OPT_CGROUP_PARENT },
        { "cpu-mhz", required_argument, NULL, OPT_CPU_MHZ },
        { "vm-memory-mib", required_argument, NULL, OPT_VM_MEMORY_MIB },
        { "ksm", required_argument, NULL, OPT_KSM },
        { "isolation-address", required_argument, NULL, OPT_ISOLATION_ADDRESS },
        { "watchdog-bmc", required_argument, NULL, OPT_WATCHDOG_BMC },
        { "watchdog-user", required_argument, NULL, OPT_WATCHDOG_USER },
        { "watchdog-password-file", required_argument, NULL, OPT_WATCHDOG_PASSWORD_FILE },
        { "watchdog-timeout-ms", required_argument, NULL, OPT_WATCHDOG_TIMEOUT_MS },
        { "no-image-locking", no_argument, NULL, OPT_NO_IMAGE_LOCKING },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, OPT_VERSION },
        {},
};

void dv_agent_config_usage(FILE *f)
{
        fputs("Usage: drover-agent --manager URL [OPTIONS]\n"
              "\n"
              "The Drover host agent: runs VMs on this host for the manager.\n"
              "\n"
              "  --manager URL        the manager, e.g. http://10.0.0.1:7080 (required)\n"
              "  --listen ADDR:PORT   address of the agent API (default " DV_AGENT_DEFAULT_LISTEN ")\n"
              "  --advertise URL      how the manager reaches this agent\n"
              "                       (default http://LISTEN, 127.0.0.1 for 0.0.0.0)\n"
              "  --data-dir DIR       state directory (default " DV_AGENT_DEFAULT_DATA_DIR ")\n"
              "  --name HOST          host name at the manager (default: the hostname)\n"
              "  --token-file FILE    the manager's admin token, used to register when\n"
              "                       DIR/credential does not exist yet\n"
              "  --accel auto|kvm|tcg accelerator (default auto: kvm when kvm_intel or\n"
              "                       kvm_amd is loaded, else tcg)\n"
              "  --qemu PATH          QEMU binary (default " DV_AGENT_DEFAULT_QEMU ")\n"
              "  --driver qemu|sim    hypervisor driver (default qemu; sim: simulated VMs, no\n"
              "                       QEMU, docs/scale.md)\n"
              "  --sim-delay-ms MS    sim: simulated duration of start/stop/migrate (200)\n"
              "  --sim-cpus N         sim: CPUs to report (default: the real ones)\n"
              "  --sim-memory-mib M   sim: memory to report (default: the real one)\n"
              "  --heartbeat-ms N     heartbeat period, 100..60000 (default 1000)\n"
              "  --datastore NAME=PATH  an extra directory datastore (repeatable), e.g.\n"
              "                       a shared directory mounted on every host\n"
              "  --no-sandbox         run QEMU without -sandbox\n"
              "  --ovs-db unix:PATH   the host's Open vSwitch database\n"
              "                       (default " DV_OVS_DEFAULT_DB ")\n"
              "  --ovs-datapath netdev|system  datapath of DVS bridges (default netdev,\n"
              "                       the userspace one; real hosts use system)\n"
              "  --uplink IFACE       the host's default DVS uplink (a trunk to the TOR)\n"
              "  --migration-address IP  this host's IPv4 address on the migration\n"
              "                       network: migrations to it arrive there (default:\n"
              "                       the --listen address, the management network)\n"
              "  --tools-timeout-s N  a VM's Tools is not running after N s without a\n"
              "                       heartbeat, 2..600 (default 10)\n"
              "  --console-log-max-kib N  a VM's serial console log is cut back to\n"
              "                       nothing once it outgrows N KiB, 4..1048576\n"
              "                       (default 16384): the guest writes it\n"
              "  --cgroup auto|v1|v2|off  cgroups for CPU QoS (default auto: v2 when\n"
              "                       its cpu controller is available, else v1)\n"
              "  --cgroup-root DIR    cgroup mount point (default /sys/fs/cgroup)\n"
              "  --cgroup-parent PATH Drover's subtree in each hierarchy\n"
              "                       (default drover/NAME)\n"
              "  --cpu-mhz N          nominal MHz of a core, 1..1000000 (default:\n"
              "                       cpufreq's maximum, else /proc/cpuinfo)\n"
              "  --cpu-mask FLAGS     CPU features (comma-separated /proc/cpuinfo names)\n"
              "                       this host reports as missing: migration prechecks\n"
              "                       treat it as a CPU without them (a lab's stand-in\n"
              "                       for an older host; QEMU's CPU is not changed)\n"
              "  --vm-memory-mib N    memory this host gives to VMs, 16..MemTotal\n"
              "                       (default: MemTotal)\n"
              "  --ksm auto|off       auto: KSM on and tuned while the cluster's\n"
              "                       memory overcommit is on (default); off: never\n"
              "                       touch /sys/kernel/mm/ksm\n"
              "  --isolation-address IPV4  HA: the address pinged to tell an isolated\n"
              "                       host from a manager outage (default: the gateway\n"
              "                       of the route to the manager, if any)\n"
              "  --watchdog-bmc ADDR[:PORT]  HA: pet this host's BMC watchdog (IPMI over\n"
              "                       LAN, ipmitool) every second; a hung host is reset\n"
              "  --watchdog-user USER --watchdog-password-file FILE  its credentials\n"
              "  --watchdog-timeout-ms N  the watchdog's timeout, 1000..60000 (default\n"
              "                       3000; keep it below the cluster's lease timeout)\n"
              "  --no-image-locking   open VM disks with QEMU's image locking off (tests\n"
              "                       of HA's leases and fencing only)\n"
              "  --help, --version\n",
              f);
}

static void set_str(char **dst, const char *src)
{
        free(*dst);
        *dst = dv_strdup(src);
}

/* http://... or https://..., stripped of trailing slashes. */
static int parse_url(const char *flag, const char *arg, char **dst, char *err, size_t err_len)
{
        size_t n, scheme;

        if (!dv_startswith(arg, "http://") && !dv_startswith(arg, "https://")) {
                snprintf(err, err_len, "%s: '%s' is not an http:// or https:// URL", flag, arg);
                return -EINVAL;
        }
        scheme = dv_startswith(arg, "https://") ? strlen("https://") : strlen("http://");
        set_str(dst, arg);
        n = strlen(*dst);
        while (n > scheme && (*dst)[n - 1] == '/')
                (*dst)[--n] = 0;
        if (n == scheme || strchr(*dst + scheme, '/') || strpbrk(*dst, " \t\r\n")) {
                snprintf(err, err_len, "%s: '%s' must be scheme://HOST[:PORT] without a path",
                         flag, arg);
                return -EINVAL;
        }
        return 0;
}

static int parse_datastore(struct dv_agent_config *cfg, const char *arg, char *err,
                           size_t err_len)
{
        const char *eq = strchr(arg, '=');
        _cleanup_(freep) char *name = NULL;

        if (!eq || eq == arg || !eq[1]) {
                snprintf(err, err_len, "--datastore: expected NAME=PATH, got '%s'", arg);
                return -EINVAL;
        }
        name = dv_strdup(arg);
        name[eq - arg] = 0;
        if (!dv_name_valid(name)) {
                snprintf(err, err_len,
                         "--datastore: '%s' is not a valid name (1-64 of A-Z a-z 0-9 . _ -)",
                         name);
                return -EINVAL;
        }
        if (eq[1] != '/') {
                snprintf(err, err_len, "--datastore %s: the path must be absolute", name);
                return -EINVAL;
        }
        for (size_t i = 0; i < cfg->n_datastores; i++)
                if (strcmp(cfg->datastores[i].name, name) == 0) {
                        snprintf(err, err_len, "--datastore: '%s' given twice", name);
                        return -EINVAL;
                }
        if (cfg->n_datastores == DV_AGENT_MAX_DATASTORES) {
                snprintf(err, err_len, "--datastore: at most %d datastores",
                         DV_AGENT_MAX_DATASTORES);
                return -EINVAL;
        }
        cfg->datastores[cfg->n_datastores].name = TAKE_PTR(name);
        cfg->datastores[cfg->n_datastores].path = dv_strdup(eq + 1);
        cfg->n_datastores++;
        return 0;
}

static int check_listen(const char *arg, char *err, size_t err_len)
{
        char addr[64];
        uint16_t port;
        struct in_addr in;

        if (dv_parse_hostport(arg, addr, sizeof(addr), &port) < 0 ||
            inet_pton(AF_INET, addr, &in) != 1 || port == 0) {
                snprintf(err, err_len, "--listen: expected IPV4:PORT, got '%s'", arg);
                return -EINVAL;
        }
        return 0;
}

static int finish(struct dv_agent_config *cfg, char *err, size_t err_len)
{
        char host[256];
        size_t local_len = strlen("-local");

        if (!cfg->manager_url) {
                snprintf(err, err_len, "--manager URL is required");
                return -EINVAL;
        }
        if (!cfg->name) {
                if (gethostname(host, sizeof(host)) < 0) {
                        snprintf(err, err_len, "gethostname: %s; use --name", strerror(errno));
                        return -EINVAL;
                }
                host[sizeof(host) - 1] = 0;
                cfg->name = dv_strdup(host);
        }
        if (!dv_name_valid(cfg->name) || strlen(cfg->name) > DV_NAME_MAX - local_len) {
                snprintf(err, err_len,
                         "host name '%.80s' is not valid (1-%zu of A-Z a-z 0-9 . _ -); use --name",
                         cfg->name, DV_NAME_MAX - local_len);
                return -EINVAL;
        }
        for (size_t i = 0; i < cfg->n_datastores; i++)
                if (strcmp(cfg->datastores[i].name, cfg->name) == 0 ||
                    (dv_startswith(cfg->datastores[i].name, cfg->name) &&
                     strcmp(cfg->datastores[i].name + strlen(cfg->name), "-local") == 0)) {
                        snprintf(err, err_len, "--datastore: '%s' is the local datastore's name",
                                 cfg->datastores[i].name);
                        return -EINVAL;
                }
        if (!cfg->advertise_url) {
                if (dv_startswith(cfg->listen, "0.0.0.0:"))
                        cfg->advertise_url = dv_asprintf("http://127.0.0.1:%s",
                                                         cfg->listen + strlen("0.0.0.0:"));
                else
                        cfg->advertise_url = dv_asprintf("http://%s", cfg->listen);
        }
        if (cfg->watchdog_bmc && (!cfg->watchdog_user || !cfg->watchdog_password_file)) {
                snprintf(err, err_len,
                         "--watchdog-bmc needs --watchdog-user and --watchdog-password-file");
                return -EINVAL;
        }
        if (cfg->data_dir[0] != '/') {
                snprintf(err, err_len, "--data-dir: the path must be absolute");
                return -EINVAL;
        }
        return 0;
}

int dv_agent_config_parse(int argc, char **argv, struct dv_agent_config *cfg, char *err,
                          size_t err_len)
{
        int c, r;
        int64_t v;

        *cfg = (struct dv_agent_config){
                .listen = dv_strdup(DV_AGENT_DEFAULT_LISTEN),
                .data_dir = dv_strdup(DV_AGENT_DEFAULT_DATA_DIR),
                .accel = dv_strdup("auto"),
                .qemu_bin = dv_strdup(DV_AGENT_DEFAULT_QEMU),
                .driver = dv_strdup("qemu"),
                .sim_delay_ms = 200,
                .heartbeat_ms = DV_AGENT_DEFAULT_HEARTBEAT_MS,
                .sandbox = true,
                .ovs_db = dv_strdup(DV_OVS_DEFAULT_DB),
                .ovs_datapath = dv_strdup("netdev"),
                .tools_timeout_s = DV_TOOLS_DEFAULT_TIMEOUT_S,
                .console_log_max_kib = 16384,
                .cgroup_mode = dv_strdup("auto"),
                .cgroup_root = dv_strdup("/sys/fs/cgroup"),
                .watchdog_timeout_ms = 3000,
                .image_locking = true,
        };
        err[0] = 0;
        optind = 0; /* full reinitialisation (GNU), so tests can parse twice */
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
                r = 0;
                switch (c) {
                case OPT_MANAGER:
                        r = parse_url("--manager", optarg, &cfg->manager_url, err, err_len);
                        break;
                case OPT_LISTEN:
                        r = check_listen(optarg, err, err_len);
                        if (r == 0)
                                set_str(&cfg->listen, optarg);
                        break;
                case OPT_ADVERTISE:
                        r = parse_url("--advertise", optarg, &cfg->advertise_url, err, err_len);
                        break;
                case OPT_DATA_DIR:
                        set_str(&cfg->data_dir, optarg);
                        break;
                case OPT_NAME:
                        set_str(&cfg->name, optarg);
                        break;
                case OPT_TOKEN_FILE:
                        set_str(&cfg->token_file, optarg);
                        break;
                case OPT_ACCEL:
                        if (!dv_hostinfo_resolve_accel(optarg, false)) {
                                snprintf(err, err_len, "--accel: expected auto, kvm or tcg, got '%s'",
                                         optarg);
                                r = -EINVAL;
                        } else {
                                set_str(&cfg->accel, optarg);
                        }
                        break;
                case OPT_QEMU:
                        set_str(&cfg->qemu_bin, optarg);
                        break;
                case OPT_DRIVER:
                        if (!dv_streq(optarg, "qemu") && !dv_streq(optarg, "sim")) {
                                snprintf(err, err_len, "--driver: expected qemu or sim, got '%s'",
                                         optarg);
                                r = -EINVAL;
                        } else {
                                set_str(&cfg->driver, optarg);
                        }
                        break;
                case OPT_SIM_DELAY_MS:
                        if (dv_parse_int64(optarg, 0, 60000, &v) < 0) {
                                snprintf(err, err_len,
                                         "--sim-delay-ms: expected 0..60000, got '%s'", optarg);
                                r = -EINVAL;
                        } else {
                                cfg->sim_delay_ms = (int)v;
                        }
                        break;
                case OPT_SIM_CPUS:
                        if (dv_parse_int64(optarg, 1, 4096, &v) < 0) {
                                snprintf(err, err_len, "--sim-cpus: expected 1..4096, got '%s'",
                                         optarg);
                                r = -EINVAL;
                        } else {
                                cfg->sim_cpus = (int)v;
                        }
                        break;
                case OPT_SIM_MEMORY_MIB:
                        if (dv_parse_int64(optarg, 64, INT64_C(1) << 30, &v) < 0) {
                                snprintf(err, err_len,
                                         "--sim-memory-mib: expected 64..2^30, got '%s'", optarg);
                                r = -EINVAL;
                        } else {
                                cfg->sim_memory_mib = v;
                        }
                        break;
                case OPT_HEARTBEAT_MS:
                        if (dv_parse_int64(optarg, 100, 60000, &v) < 0) {
                                snprintf(err, err_len,
                                         "--heartbeat-ms: expected 100..60000, got '%s'", optarg);
                                r = -EINVAL;
                        } else {
                                cfg->heartbeat_ms = (int)v;
                        }
                        break;
                case OPT_NO_SANDBOX:
                        cfg->sandbox = false;
                        break;
                case OPT_DATASTORE:
                        r = parse_datastore(cfg, optarg, err, err_len);
                        break;
                case OPT_OVS_DB:
                        if (!dv_startswith(optarg, "unix:/") && !dv_startswith(optarg, "tcp:") &&
                            !dv_startswith(optarg, "ssl:")) {
                                snprintf(err, err_len,
                                         "--ovs-db: expected unix:/PATH (or tcp:/ssl:), got '%s'",
                                         optarg);
                                r = -EINVAL;
                        } else {
                                set_str(&cfg->ovs_db, optarg);
                        }
                        break;
                case OPT_OVS_DATAPATH:
                        if (strcmp(optarg, "netdev") != 0 && strcmp(optarg, "system") != 0) {
                                snprintf(err, err_len,
                                         "--ovs-datapath: expected netdev or system, got '%s'",
                                         optarg);
                                r = -EINVAL;
                        } else {
                                set_str(&cfg->ovs_datapath, optarg);
                        }
                        break;
                case OPT_UPLINK:
                        if (!*optarg || strlen(optarg) > 15 || strpbrk(optarg, "/: \t\n") ||
                            strcmp(optarg, ".") == 0 || strcmp(optarg, "..") == 0) {
                                snprintf(err, err_len,
                                         "--uplink: '%s' is not a network interface name", optarg);
                                r = -EINVAL;
                        } else {
                                set_str(&cfg->uplink, optarg);
                        }
                        break;
                case OPT_MIGRATION_ADDRESS: {
                        struct in_addr in;

                        if (inet_pton(AF_INET, optarg, &in) != 1 || in.s_addr == INADDR_ANY ||
                            in.s_addr == INADDR_BROADCAST) {
                                snprintf(err, err_len,
                                         "--migration-address: '%s' is not a host IPv4 address",
                                         optarg);
                                r = -EINVAL;
                        } else {
                                set_str(&cfg->migration_address, optarg);
                        }
                        break;
                }
                case OPT_CPU_MASK:
                        if (!*optarg || strlen(optarg) > 1024 ||
                            strspn(optarg, "abcdefghijklmnopqrstuvwxyz0123456789_,.") !=
                                    strlen(optarg)) {
                                snprintf(err, err_len,
                                         "--cpu-mask: expected comma-separated CPU feature names, "
                                         "got '%.64s'", optarg);
                                r = -EINVAL;
                        } else {
                                set_str(&cfg->cpu_mask, optarg);
                        }
                        break;
                case OPT_TOOLS_TIMEOUT_S:
                        if (dv_parse_int64(optarg, 2, 600, &v) < 0) {
                                snprintf(err, err_len,
                                         "--tools-timeout-s: expected 2..600, got '%s'", optarg);
                                r = -EINVAL;
                        } else {
                                cfg->tools_timeout_s = (int)v;
                        }
                        break;
                case OPT_CONSOLE_LOG_MAX_KIB:
                        if (dv_parse_int64(optarg, 4, 1048576, &v) < 0) {
                                snprintf(err, err_len,
                                         "--console-log-max-kib: expected 4..1048576, got '%s'",
                                         optarg);
                                r = -EINVAL;
                        } else {
                                cfg->console_log_max_kib = v;
                        }
                        break;
                case OPT_CGROUP:
                        if (!dv_streq(optarg, "auto") && !dv_streq(optarg, "v1") &&
                            !dv_streq(optarg, "v2") && !dv_streq(optarg, "off")) {
                                snprintf(err, err_len, "--cgroup: expected auto, v1, v2 or off, got '%s'",
                                         optarg);
                                r = -EINVAL;
                        } else {
                                set_str(&cfg->cgroup_mode, optarg);
                        }
                        break;
                case OPT_CGROUP_ROOT:
                        if (optarg[0] != '/' || strlen(optarg) > 256) {
                                snprintf(err, err_len, "--cgroup-root: '%s' is not an absolute path",
                                         optarg);
                                r = -EINVAL;
                        } else {
                                set_str(&cfg->cgroup_root, optarg);
                        }
                        break;
                case OPT_CGROUP_PARENT:
                        /* Checked in full by dv_cgroup_open(). */
                        if (!*optarg || optarg[0] == '/' || strlen(optarg) > 200 ||
                            strstr(optarg, "..")) {
                                snprintf(err, err_len,
                                         "--cgroup-parent: '%s' is not a relative path of [A-Za-z0-9._-] names",
                                         optarg);
                                r = -EINVAL;
                        } else {
                                set_str(&cfg->cgroup_parent, optarg);
                        }
                        break;
                case OPT_CPU_MHZ:
                        if (dv_parse_int64(optarg, 1, 1000000, &v) < 0) {
                                snprintf(err, err_len, "--cpu-mhz: expected 1..1000000, got '%s'",
                                         optarg);
                                r = -EINVAL;
                        } else {
                                cfg->cpu_mhz = v;
                        }
                        break;
                case OPT_VM_MEMORY_MIB:
                        if (dv_parse_int64(optarg, 16, INT64_C(1) << 30, &v) < 0) {
                                snprintf(err, err_len, "--vm-memory-mib: expected 16..2^30, got '%s'",
                                         optarg);
                                r = -EINVAL;
                        } else {
                                cfg->vm_memory_mib = v;
                        }
                        break;
                case OPT_KSM:
                        if (!dv_streq(optarg, "auto") && !dv_streq(optarg, "off")) {
                                snprintf(err, err_len, "--ksm: expected auto or off, got '%s'",
                                         optarg);
                                r = -EINVAL;
                        } else {
                                cfg->ksm_off = dv_streq(optarg, "off");
                        }
                        break;
                case OPT_ISOLATION_ADDRESS: {
                        struct in_addr in;

                        if (inet_pton(AF_INET, optarg, &in) != 1) {
                                snprintf(err, err_len,
                                         "--isolation-address: expected an IPv4 address, got '%s'",
                                         optarg);
                                r = -EINVAL;
                        } else {
                                set_str(&cfg->isolation_address, optarg);
                        }
                        break;
                }
                case OPT_WATCHDOG_BMC: {
                        char addr[64];
                        uint16_t port = 623;

                        if (strchr(optarg, ':') ? dv_parse_hostport(optarg, addr, sizeof(addr),
                                                                    &port) < 0 || port == 0
                                                : strlen(optarg) >= sizeof(addr) ||
                                                          !*optarg || strpbrk(optarg, " \t\n/")) {
                                snprintf(err, err_len,
                                         "--watchdog-bmc: expected ADDR[:PORT], got '%s'", optarg);
                                r = -EINVAL;
                        } else {
                                if (!strchr(optarg, ':'))
                                        snprintf(addr, sizeof(addr), "%s", optarg);
                                set_str(&cfg->watchdog_bmc, addr);
                                cfg->watchdog_port = port;
                        }
                        break;
                }
                case OPT_WATCHDOG_USER:
                        set_str(&cfg->watchdog_user, optarg);
                        break;
                case OPT_WATCHDOG_PASSWORD_FILE:
                        set_str(&cfg->watchdog_password_file, optarg);
                        break;
                case OPT_WATCHDOG_TIMEOUT_MS:
                        if (dv_parse_int64(optarg, 1000, 60000, &v) < 0) {
                                snprintf(err, err_len,
                                         "--watchdog-timeout-ms: expected 1000..60000, got '%s'",
                                         optarg);
                                r = -EINVAL;
                        } else {
                                cfg->watchdog_timeout_ms = v;
                        }
                        break;
                case OPT_NO_IMAGE_LOCKING:
                        cfg->image_locking = false;
                        break;
                case 'h':
                        dv_agent_config_usage(stdout);
                        return DV_AGENT_CONFIG_EXIT;
                case OPT_VERSION:
                        printf("drover-agent %s\n", DROVER_VERSION);
                        return DV_AGENT_CONFIG_EXIT;
                case ':':
                        snprintf(err, err_len, "option '%s' needs a value", argv[optind - 1]);
                        r = -EINVAL;
                        break;
                default:
                        if (optopt > 0 && optopt < 0x80)
                                snprintf(err, err_len, "unknown option '-%c'", optopt);
                        else
                                snprintf(err, err_len, "unknown or malformed option '%s'",
                                         argv[optind - 1]);
                        r = -EINVAL;
                        break;
                }
                if (r < 0)
                        return r;
        }
        if (optind < argc) {
                snprintf(err, err_len, "unexpected argument '%s'", argv[optind]);
                return -EINVAL;
        }
        return finish(cfg, err, err_len);
}

void dv_agent_config_done(struct dv_agent_config *cfg)
{
        free(cfg->manager_url);
        free(cfg->listen);
        free(cfg->advertise_url);
        free(cfg->data_dir);
        free(cfg->name);
        free(cfg->token_file);
        free(cfg->accel);
        free(cfg->qemu_bin);
        free(cfg->driver);
        free(cfg->ovs_db);
        free(cfg->ovs_datapath);
        free(cfg->uplink);
        free(cfg->migration_address);
        free(cfg->cpu_mask);
        free(cfg->cgroup_mode);
        free(cfg->cgroup_root);
        free(cfg->cgroup_parent);
        free(cfg->isolation_address);
        free(cfg->watchdog_bmc);
        free(cfg->watchdog_user);
        free(cfg->watchdog_password_file);
        for (size_t i = 0; i < cfg->n_datastores; i++) {
                free(cfg->datastores[i].name);
                free(cfg->datastores[i].path);
        }
        *cfg = (struct dv_agent_config){};
}
