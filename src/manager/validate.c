#include "validate.h"

#include <ctype.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <string.h>

#include "json.h"
#include "vm-tools.h"
#include "mstats.h"

/* Prefix the message of err with the element it is about ("disks[2]: "). */
_printf_(3, 4) static int in_element(int r, struct dv_error *err, const char *fmt, ...)
{
        char where[64], msg[sizeof(err->message) + sizeof(where) + 2];
        size_t n;
        va_list ap;

        if (r >= 0 || !err)
                return r;
        va_start(ap, fmt);
        vsnprintf(where, sizeof(where), fmt, ap);
        va_end(ap);
        snprintf(msg, sizeof(msg), "%s: %s", where, err->message);
        n = DV_MIN(strlen(msg), sizeof(err->message) - 1);
        memcpy(err->message, msg, n);
        err->message[n] = 0;
        return r;
}

static int get_array(json_t *obj, const char *key, size_t max, json_t **ret,
                     struct dv_error *err)
{
        json_t *v = json_object_get(obj, key);

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_array(v))
                return dv_error_set(err, 400, "invalid-field", "field '%s' must be an array", key);
        if (json_array_size(v) > max)
                return dv_error_set(err, 400, "out-of-range",
                                    "field '%s' has %zu elements, at most %zu are allowed", key,
                                    json_array_size(v), max);
        *ret = v;
        return 0;
}

static int element_object(json_t *v, const char *key, size_t i, struct dv_error *err)
{
        if (!json_is_object(v))
                return dv_error_set(err, 400, "invalid-field", "%s[%zu] must be an object", key,
                                    i);
        return 0;
}

bool dv_ipv4_parse(const char *s, uint32_t *ret_addr)
{
        struct in_addr a;

        /* inet_pton accepts only the dotted-quad form (no "1", no octal). */
        if (!s || inet_pton(AF_INET, s, &a) != 1)
                return false;
        if (ret_addr)
                *ret_addr = ntohl(a.s_addr);
        return true;
}

bool dv_mac_valid(const char *s)
{
        unsigned b[6];
        bool zero = true;

        if (!s || strlen(s) != 17)
                return false;
        for (int i = 0; i < 17; i++) {
                if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
                        return false;
        }
        if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
                return false;
        for (int i = 0; i < 6; i++)
                if (b[i])
                        zero = false;
        return !zero && !(b[0] & 1); /* not all-zero, not multicast/broadcast */
}

static int validate_nic(json_t *o, struct dv_nic_req *nic, struct dv_error *err)
{
        static const char *const keys[] = { "portgroup", "ip", "prefix", "gateway", "mac", NULL };
        uint32_t ip = 0, gw, mask;
        int r;

        r = dv_json_check_keys(o, keys, err);
        if (r >= 0)
                r = dv_json_get_name(o, "portgroup", true, &nic->portgroup, err);
        if (r >= 0)
                r = dv_json_get_string(o, "ip", false, &nic->ip, err);
        if (r >= 0)
                r = dv_json_get_int(o, "prefix", false, 1, 32, &nic->prefix, err);
        if (r >= 0)
                r = dv_json_get_string(o, "gateway", false, &nic->gateway, err);
        if (r >= 0)
                r = dv_json_get_string(o, "mac", false, &nic->mac, err);
        if (r < 0)
                return r;
        if (nic->ip && !dv_ipv4_parse(nic->ip, &ip))
                return dv_error_set(err, 400, "invalid-field",
                                    "field 'ip': '%.40s' is not an IPv4 address", nic->ip);
        if (nic->ip && nic->prefix == 0)
                return dv_error_set(err, 400, "missing-field",
                                    "field 'prefix' is required with 'ip'");
        if (!nic->ip && nic->prefix != 0)
                return dv_error_set(err, 400, "missing-field",
                                    "field 'ip' is required with 'prefix'");
        if (nic->gateway && !nic->ip)
                return dv_error_set(err, 400, "missing-field",
                                    "field 'ip' is required with 'gateway'");
        mask = nic->prefix ? (uint32_t)(0xffffffffull << (32 - nic->prefix)) : 0;
        if (nic->ip && nic->prefix <= 30 && ((ip & ~mask) == 0 || (ip & ~mask) == ~mask))
                return dv_error_set(err, 400, "invalid-field",
                                    "field 'ip': %s is the network or broadcast address of /%lld",
                                    nic->ip, (long long)nic->prefix);
        if (nic->gateway) {
                if (!dv_ipv4_parse(nic->gateway, &gw))
                        return dv_error_set(err, 400, "invalid-field",
                                            "field 'gateway': '%.40s' is not an IPv4 address",
                                            nic->gateway);
                if ((gw & mask) != (ip & mask) || gw == ip)
                        return dv_error_set(err, 400, "invalid-field",
                                            "field 'gateway': %s is not another address of %s/%lld",
                                            nic->gateway, nic->ip, (long long)nic->prefix);
        }
        if (nic->mac && !dv_mac_valid(nic->mac))
                return dv_error_set(err, 400, "invalid-field",
                                    "field 'mac': '%.40s' is not a unicast MAC address", nic->mac);
        return 0;
}

int dv_validate_kernel_args(const char *s, struct dv_error *err)
{
        size_t n = strlen(s);

        if (n == 0 || n > DV_VM_KERNEL_ARGS_MAX)
                return dv_error_set(err, 400, "out-of-range",
                                    "field 'kernel_args' must be 1..%d bytes", DV_VM_KERNEL_ARGS_MAX);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || strchr("._=,:/+-", c);

                if (c == ' ' && i > 0 && i + 1 < n && s[i - 1] != ' ')
                        continue;
                if (!word || c == 0)
                        return dv_error_set(err, 400, "invalid-field",
                                            "field 'kernel_args': character %zu is not allowed "
                                            "(words of A-Z a-z 0-9 . _ = , : / + - separated by single spaces)",
                                            i + 1);
        }
        return 0;
}

int dv_validate_vm_create(json_t *body, struct dv_vm_req *ret, struct dv_error *err)
{
        static const char *const keys[] = { "name", "cpus", "max_cpus", "memory_mib", "disks",
                                            "nics", "host", "image", "ha", "kernel_args",
                                            "cpu_qos", "mem_qos", NULL };
        static const char *const disk_keys[] = { "size_gib", "datastore", "iops_max", "bps_max",
                                                 NULL };
        struct dv_vm_req q = { 0 };
        json_t *disks = NULL, *nics = NULL, *v;
        size_t i;
        int r;

        r = dv_json_check_keys(body, keys, err);
        if (r >= 0)
                r = dv_json_get_name(body, "name", true, &q.name, err);
        if (r >= 0)
                r = dv_json_get_int(body, "cpus", true, 1, DV_VM_CPUS_MAX, &q.cpus, err);
        if (r >= 0) {
                q.max_cpus = q.cpus;
                r = dv_json_get_int(body, "max_cpus", false, q.cpus, DV_VM_CPUS_MAX, &q.max_cpus,
                                    err);
        }
        if (r >= 0)
                r = dv_json_get_int(body, "memory_mib", true, DV_VM_MEMORY_MIN_MIB,
                                    DV_VM_MEMORY_MAX_MIB, &q.memory_mib, err);
        if (r >= 0)
                r = dv_json_get_name(body, "host", false, &q.host, err);
        if (r >= 0)
                r = dv_json_get_name(body, "image", false, &q.image, err);
        if (r >= 0)
                r = dv_json_get_bool(body, "ha", false, &q.ha, err);
        if (r >= 0)
                r = dv_json_get_string(body, "kernel_args", false, &q.kernel_args, err);
        if (r >= 0 && q.kernel_args)
                r = dv_validate_kernel_args(q.kernel_args, err);
        if (r >= 0) {
                dv_cpu_qos_default(&q.cpu_qos);
                r = dv_cpu_qos_merge(json_object_get(body, "cpu_qos"), &q.cpu_qos, err);
        }
        if (r >= 0) {
                dv_mem_qos_default(&q.mem_qos);
                r = dv_mem_qos_merge(json_object_get(body, "mem_qos"), &q.mem_qos, err);
        }
        if (r >= 0)
                r = dv_mem_qos_check(&q.mem_qos, q.memory_mib, err);
        if (r >= 0)
                r = get_array(body, "disks", DV_VM_DISKS_MAX, &disks, err);
        if (r >= 0)
                r = get_array(body, "nics", DV_VM_NICS_MAX, &nics, err);
        if (r < 0)
                return r;

        json_array_foreach(disks, i, v) {
                struct dv_disk_req *d = &q.disks[i];

                r = element_object(v, "disks", i, err);
                if (r >= 0)
                        r = dv_json_check_keys(v, disk_keys, err);
                if (r >= 0)
                        r = dv_json_get_int(v, "size_gib", true, 1, DV_DISK_GIB_MAX, &d->size_gib,
                                            err);
                if (r >= 0)
                        r = dv_json_get_name(v, "datastore", false, &d->datastore, err);
                if (r >= 0)
                        r = dv_json_get_int(v, "iops_max", false, 0, DV_QOS_IOPS_MAX,
                                            &d->qos.iops_max, err);
                if (r >= 0)
                        r = dv_json_get_int(v, "bps_max", false, 0, DV_QOS_BPS_MAX,
                                            &d->qos.bps_max, err);
                if (r < 0)
                        return in_element(r, err, "disks[%zu]", i);
                q.n_disks++;
        }
        json_array_foreach(nics, i, v) {
                r = element_object(v, "nics", i, err);
                if (r >= 0)
                        r = validate_nic(v, &q.nics[i], err);
                if (r < 0)
                        return in_element(r, err, "nics[%zu]", i);
                for (size_t j = 0; j < i; j++)
                        if (q.nics[i].mac && dv_streq(q.nics[j].mac, q.nics[i].mac))
                                return dv_error_set(err, 400, "invalid-field",
                                                    "nics[%zu]: mac %s is also nics[%zu]'s", i,
                                                    q.nics[i].mac, j);
                q.n_nics++;
        }
        *ret = q;
        return 0;
}

int dv_validate_vm_stop(json_t *body, struct dv_stop_req *ret, struct dv_error *err)
{
        static const char *const keys[] = { "force", "timeout_s", NULL };
        struct dv_stop_req q = { .force = false, .timeout_s = 60 };
        int r;

        r = dv_json_check_keys(body, keys, err);
        if (r >= 0)
                r = dv_json_get_bool(body, "force", false, &q.force, err);
        if (r >= 0)
                r = dv_json_get_int(body, "timeout_s", false, 1, DV_STOP_TIMEOUT_MAX_S,
                                    &q.timeout_s, err);
        if (r < 0)
                return r;
        *ret = q;
        return 0;
}

int dv_validate_empty(json_t *body, struct dv_error *err)
{
        static const char *const keys[] = { NULL };
        return dv_json_check_keys(body, keys, err);
}

static int get_url(json_t *o, const char *key, const char **ret, struct dv_error *err)
{
        const char *s = NULL;
        int r = dv_json_get_string(o, key, true, &s, err);

        if (r < 0)
                return r;
        if (!(dv_startswith(s, "http://") || dv_startswith(s, "https://")) || strlen(s) > 512 ||
            strlen(s) < 10)
                return dv_error_set(err, 400, "invalid-field",
                                    "field '%s': '%.80s' is not an http(s) URL", key, s);
        for (const char *p = s; *p; p++)
                if ((unsigned char)*p <= ' ' || *p == 0x7f)
                        return dv_error_set(err, 400, "invalid-field",
                                            "field '%s' contains a space or control character",
                                            key);
        *ret = s;
        return 0;
}

static int get_short_string(json_t *o, const char *key, bool required, size_t max,
                            const char **ret, struct dv_error *err)
{
        const char *s = NULL;
        int r = dv_json_get_string(o, key, required, &s, err);

        if (r < 0 || !s)
                return r;
        if (strlen(s) > max)
                return dv_error_set(err, 400, "out-of-range",
                                    "field '%s' is longer than %zu characters", key, max);
        *ret = s;
        return 0;
}

int dv_validate_register(json_t *body, struct dv_register_req *ret, struct dv_error *err)
{
        static const char *const keys[] = { "name", "url", "hostname", "cpus", "cpu_model",
                                            "cpu_flags", "memory_mib", "accel", "version",
                                            "datastores", "uplink", "cpu_mhz",
                                            "migration_address", NULL };
        static const char *const ds_keys[] = { "name", "path", "capacity_gib", "free_gib",
                                               NULL };
        struct dv_register_req q = { 0 };
        json_t *flags = NULL, *dss = NULL, *v;
        size_t i;
        int r;

        r = dv_json_check_keys(body, keys, err);
        if (r >= 0)
                r = dv_json_get_name(body, "name", true, &q.name, err);
        if (r >= 0)
                r = get_url(body, "url", &q.url, err);
        if (r >= 0)
                r = get_short_string(body, "hostname", true, 255, &q.hostname, err);
        if (r >= 0)
                r = dv_json_get_int(body, "cpus", true, 1, 65536, &q.cpus, err);
        if (r >= 0)
                r = get_short_string(body, "cpu_model", true, 256, &q.cpu_model, err);
        if (r >= 0)
                r = dv_json_get_int(body, "memory_mib", true, 1, INT64_C(1) << 40, &q.memory_mib,
                                    err);
        if (r >= 0)
                r = dv_json_get_int(body, "cpu_mhz", false, 1, 1000000, &q.cpu_mhz, err);
        if (r >= 0)
                r = dv_json_get_string(body, "accel", true, &q.accel, err);
        if (r >= 0 && !dv_streq(q.accel, "kvm") && !dv_streq(q.accel, "tcg"))
                r = dv_error_set(err, 400, "invalid-field", "field 'accel' must be kvm or tcg");
        if (r >= 0)
                r = get_short_string(body, "version", true, 64, &q.version, err);
        if (r >= 0)
                r = dv_json_get_string(body, "uplink", false, &q.uplink, err);
        if (r >= 0 && q.uplink && !dv_ifname_valid(q.uplink))
                r = dv_error_set(err, 400, "invalid-field",
                                 "field 'uplink': '%.40s' is not a network interface name", q.uplink);
        if (r >= 0)
                r = dv_json_get_string(body, "migration_address", false, &q.migration_address,
                                       err);
        if (r >= 0 && q.migration_address) {
                struct in_addr in;

                if (inet_pton(AF_INET, q.migration_address, &in) != 1 || in.s_addr == INADDR_ANY)
                        r = dv_error_set(err, 400, "invalid-field",
                                         "field 'migration_address': '%.40s' is not a host IPv4 "
                                         "address", q.migration_address);
        }
        if (r >= 0)
                r = get_array(body, "cpu_flags", 1024, &flags, err);
        if (r >= 0)
                r = get_array(body, "datastores", DV_HOST_DATASTORES_MAX, &dss, err);
        if (r < 0)
                return r;
        json_array_foreach(flags, i, v)
                if (!json_is_string(v) || json_string_length(v) > 64)
                        return dv_error_set(err, 400, "invalid-field",
                                            "cpu_flags[%zu] must be a short string", i);
        q.cpu_flags = flags;
        json_array_foreach(dss, i, v) {
                struct dv_datastore_info *d = &q.datastores[i];

                r = element_object(v, "datastores", i, err);
                if (r >= 0)
                        r = dv_json_check_keys(v, ds_keys, err);
                if (r >= 0)
                        r = dv_json_get_name(v, "name", true, &d->name, err);
                if (r >= 0)
                        r = get_short_string(v, "path", true, 4096, &d->path, err);
                if (r >= 0 && d->path[0] != '/')
                        r = dv_error_set(err, 400, "invalid-field", "field 'path' must be absolute");
                if (r >= 0)
                        r = dv_json_get_int(v, "capacity_gib", true, 0, INT64_C(1) << 40,
                                            &d->capacity_gib, err);
                if (r >= 0)
                        r = dv_json_get_int(v, "free_gib", true, 0, INT64_C(1) << 40,
                                            &d->free_gib, err);
                if (r < 0)
                        return in_element(r, err, "datastores[%zu]", i);
                for (size_t j = 0; j < i; j++)
                        if (dv_streq(q.datastores[j].name, d->name))
                                return dv_error_set(err, 400, "invalid-field",
                                                    "datastores[%zu]: name '%s' is used twice", i,
                                                    d->name);
                q.n_datastores++;
        }
        *ret = q;
        return 0;
}

static bool vm_state_reported(const char *s)
{
        return dv_streq(s, "running") || dv_streq(s, "paused") || dv_streq(s, "crashed") ||
               dv_streq(s, "stopped");
}

/* "io" of a heartbeat or a VMSTATUS: {"disk"?: counters, "net"?: counters}
 * (mstats.h). */
static int validate_io(json_t *io, struct dv_error *err)
{
        static const char *const keys[] = { "disk", "net", NULL };
        static const char *const dk[4] = { "read_bytes", "write_bytes", "read_ops", "write_ops" };
        static const char *const nk[4] = { "rx_bytes", "tx_bytes", "rx_packets", "tx_packets" };
        struct dv_io_counters c;
        json_t *v;
        int r;

        if (!io || json_is_null(io))
                return 0;
        if (!json_is_object(io))
                return dv_error_set(err, 400, "invalid-field", "field 'io' must be an object");
        r = dv_json_check_keys(io, keys, err);
        if (r < 0)
                return in_element(r, err, "io");
        for (int k = 0; k < 2; k++) {
                const char *const *names = k == 0 ? dk : nk;
                static const char *const allowed[2][7] = {
                        { "t_ms", "epoch", "read_bytes", "write_bytes", "read_ops", "write_ops", NULL },
                        { "t_ms", "epoch", "rx_bytes", "tx_bytes", "rx_packets", "tx_packets", NULL },
                };

                v = json_object_get(io, k == 0 ? "disk" : "net");
                if (!v || json_is_null(v))
                        continue;
                if (dv_io_counters_parse(v, names, &c) < 0)
                        return dv_error_set(err, 400, "invalid-field",
                                            "io.%s: must be {\"t_ms\",\"epoch\",\"%s\",\"%s\",\"%s\",\"%s\"} "
                                            "with non-negative integers",
                                            k == 0 ? "disk" : "net", names[0], names[1], names[2],
                                            names[3]);
                r = dv_json_check_keys(v, allowed[k], err);
                if (r < 0)
                        return in_element(r, err, k == 0 ? "io.disk" : "io.net");
        }
        return 0;
}

static int validate_vmstatus(json_t *o, struct dv_error *err)
{
        static const char *const keys[] = { "id", "name", "state", "pid", "started_at",
                                            "cpu_pct", "rss_mib", "console_log", "vnc",
                                            "reason", "tools", "io", "balloon_target_mib",
                                            "balloon_mib", "swap_mib", "guest_rss_mib",
                                            "ksm_merged_mib", NULL };
        const char *id = NULL, *state = NULL, *s = NULL;
        int64_t pid;
        json_t *v;
        int r;

        r = dv_json_check_keys(o, keys, err);
        if (r >= 0)
                r = get_short_string(o, "id", true, 64, &id, err);
        if (r >= 0)
                r = dv_json_get_string(o, "state", true, &state, err);
        if (r >= 0 && !vm_state_reported(state))
                r = dv_error_set(err, 400, "invalid-field",
                                 "field 'state': '%.32s' is not running, paused, crashed or stopped",
                                 state);
        if (r >= 0)
                r = get_short_string(o, "name", false, 64, &s, err);
        if (r >= 0)
                r = dv_json_get_int(o, "pid", false, 0, INT32_MAX, &pid, err);
        if (r >= 0)
                r = get_short_string(o, "console_log", false, 4096, &s, err);
        if (r >= 0)
                r = get_short_string(o, "vnc", false, 4096, &s, err);
        if (r >= 0)
                r = get_short_string(o, "reason", false, 256, &s, err);
        if (r >= 0)
                r = get_short_string(o, "started_at", false, 64, &s, err);
        if (r >= 0)
                r = dv_validate_vm_tools_status(json_object_get(o, "tools"), err); /* vm-tools.c */
        if (r >= 0)
                r = validate_io(json_object_get(o, "io"), err);
        for (int k = 0; r >= 0 && k < 7; k++) {
                static const char *const nums[] = { "cpu_pct", "rss_mib", "balloon_target_mib",
                                                    "balloon_mib", "swap_mib", "guest_rss_mib",
                                                    "ksm_merged_mib" };
                const char *key = nums[k];
                v = json_object_get(o, key);
                if (v && !json_is_null(v) && !json_is_number(v))
                        r = dv_error_set(err, 400, "invalid-field", "field '%s' must be a number",
                                         key);
        }
        return r;
}

int dv_validate_heartbeat(json_t *body, struct dv_error *err)
{
        static const char *const keys[] = { "metrics", "vms", "io", NULL };
        static const char *const mkeys[] = { "cpu_usage_pct", "mem_total_mib", "mem_used_mib",
                                             "load1", "uptime_s", "swap_total_mib",
                                             "swap_used_mib", "ksm_run", "ksm_shared_mib",
                                             "ksm_saved_mib", "ksm_pages_to_scan",
                                             "ksm_sleep_ms", NULL };
        json_t *metrics, *vms = NULL, *v;
        const char *key;
        size_t i;
        int r;

        r = dv_json_check_keys(body, keys, err);
        if (r >= 0)
                r = get_array(body, "vms", DV_HEARTBEAT_VMS_MAX, &vms, err);
        if (r >= 0)
                r = validate_io(json_object_get(body, "io"), err);
        if (r < 0)
                return r;
        metrics = json_object_get(body, "metrics");
        if (metrics && !json_is_null(metrics)) {
                if (!json_is_object(metrics))
                        return dv_error_set(err, 400, "invalid-field",
                                            "field 'metrics' must be an object");
                r = dv_json_check_keys(metrics, mkeys, err);
                if (r < 0)
                        return in_element(r, err, "metrics");
                json_object_foreach(metrics, key, v)
                        if (!json_is_number(v) && !json_is_null(v))
                                return dv_error_set(err, 400, "invalid-field",
                                                    "metrics: field '%s' must be a number", key);
        }
        json_array_foreach(vms, i, v) {
                r = element_object(v, "vms", i, err);
                if (r >= 0)
                        r = validate_vmstatus(v, err);
                if (r < 0)
                        return in_element(r, err, "vms[%zu]", i);
        }
        return 0;
}

int dv_validate_image_import(json_t *body, struct dv_image_req *ret, struct dv_error *err)
{
        static const char *const keys[] = { "name", "path", "format", NULL };
        struct dv_image_req q = { 0 };
        int r;

        r = dv_json_check_keys(body, keys, err);
        if (r >= 0)
                r = dv_json_get_name(body, "name", true, &q.name, err);
        if (r >= 0)
                r = get_short_string(body, "path", true, 4096, &q.path, err);
        if (r >= 0 && q.path[0] != '/')
                r = dv_error_set(err, 400, "invalid-field", "field 'path' must be absolute");
        if (r >= 0)
                r = dv_json_get_string(body, "format", true, &q.format, err);
        if (r >= 0 && !dv_streq(q.format, "qcow2") && !dv_streq(q.format, "raw"))
                r = dv_error_set(err, 400, "invalid-field", "field 'format' must be qcow2 or raw");
        if (r < 0)
                return r;
        *ret = q;
        return 0;
}

int dv_validate_limit(const char *arg, int def, int max, int *ret, struct dv_error *err)
{
        int64_t v;

        if (!arg) {
                *ret = def;
                return 0;
        }
        if (dv_parse_int64(arg, 1, max, &v) < 0)
                return dv_error_set(err, 400, "invalid-field",
                                    "query 'limit': '%.20s' is not an integer in 1..%d", arg, max);
        *ret = (int)v;
        return 0;
}

int dv_validate_bool_arg(const char *name, const char *arg, bool *ret, struct dv_error *err)
{
        if (!arg || strcmp(arg, "false") == 0) {
                *ret = false;
                return 0;
        }
        if (strcmp(arg, "true") == 0) {
                *ret = true;
                return 0;
        }
        return dv_error_set(err, 400, "invalid-field", "query '%s' must be true or false", name);
}

/* ---- the distributed virtual switch ---- */

uint32_t dv_prefix_mask(int prefix)
{
        if (prefix <= 0)
                return 0;
        if (prefix >= 32)
                return 0xffffffffu;
        return (uint32_t)(0xffffffffull << (32 - prefix));
}

bool dv_cidr_parse(const char *s, uint32_t *ret_addr, int *ret_prefix)
{
        char ip[16];
        const char *slash;
        int64_t prefix;

        if (!s)
                return false;
        slash = strchr(s, '/');
        if (!slash || (size_t)(slash - s) >= sizeof(ip) || !slash[1] || strlen(slash + 1) > 2)
                return false;
        memcpy(ip, s, (size_t)(slash - s));
        ip[slash - s] = 0;
        for (const char *p = slash + 1; *p; p++)
                if (!isdigit((unsigned char)*p))
                        return false;
        if (dv_parse_int64(slash + 1, 1, 32, &prefix) < 0 || !dv_ipv4_parse(ip, ret_addr))
                return false;
        if (ret_prefix)
                *ret_prefix = (int)prefix;
        return true;
}

bool dv_ifname_valid(const char *s)
{
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n == 0 || n > DV_IFNAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (const char *p = s; *p; p++)
                if (*p == '/' || *p == ':' || (unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
                        return false;
        return true;
}

int dv_validate_dvs_create(json_t *body, struct dv_dvs_req *ret, struct dv_error *err)
{
        static const char *const keys[] = { "name", NULL };
        struct dv_dvs_req q = { 0 };
        int r;

        r = dv_json_check_keys(body, keys, err);
        if (r >= 0)
                r = dv_json_get_name(body, "name", true, &q.name, err);
        if (r < 0)
                return r;
        *ret = q;
        return 0;
}

int dv_validate_dvs_add_host(json_t *body, struct dv_dvs_host_req *ret, struct dv_error *err)
{
        static const char *const keys[] = { "host", "uplink", NULL };
        struct dv_dvs_host_req q = { 0 };
        int r;

        r = dv_json_check_keys(body, keys, err);
        if (r >= 0)
                r = dv_json_get_name(body, "host", true, &q.host, err);
        if (r >= 0)
                r = dv_json_get_string(body, "uplink", false, &q.uplink, err);
        if (r < 0)
                return r;
        if (q.uplink && !dv_ifname_valid(q.uplink))
                return dv_error_set(err, 400, "invalid-field",
                                    "field 'uplink': '%.40s' is not a network interface name "
                                    "(1-15 characters, no '/', ':' or spaces)",
                                    q.uplink);
        *ret = q;
        return 0;
}

int dv_validate_portgroup_create(json_t *body, struct dv_portgroup_req *ret,
                                 struct dv_error *err)
{
        static const char *const keys[] = { "name", "dvs", "vlan", "subnet", "gateway",
                                            "shaping", NULL };
        struct dv_portgroup_req q = { 0 };
        uint32_t net = 0, gw, mask;
        int prefix = 0, r;

        r = dv_json_check_keys(body, keys, err);
        if (r >= 0)
                r = dv_json_get_name(body, "name", true, &q.name, err);
        if (r >= 0)
                r = dv_json_get_name(body, "dvs", true, &q.dvs, err);
        if (r >= 0)
                r = dv_json_get_int(body, "vlan", true, 0, DV_VLAN_MAX, &q.vlan, err);
        if (r >= 0)
                r = dv_json_get_string(body, "subnet", false, &q.subnet, err);
        if (r >= 0)
                r = dv_json_get_string(body, "gateway", false, &q.gateway, err);
        if (r < 0)
                return r;
        if (q.subnet) {
                if (!dv_cidr_parse(q.subnet, &net, &prefix))
                        return dv_error_set(err, 400, "invalid-field",
                                            "field 'subnet': '%.40s' is not an IPv4 network "
                                            "(a.b.c.d/1..32)",
                                            q.subnet);
                mask = dv_prefix_mask(prefix);
                if (net & ~mask) {
                        uint32_t n = net & mask;
                        return dv_error_set(err, 400, "invalid-field",
                                            "field 'subnet': %s has host bits set (the network "
                                            "is %u.%u.%u.%u/%d)",
                                            q.subnet, n >> 24, (n >> 16) & 0xff, (n >> 8) & 0xff,
                                            n & 0xff, prefix);
                }
        }
        if (q.gateway) {
                if (!q.subnet)
                        return dv_error_set(err, 400, "missing-field",
                                            "field 'subnet' is required with 'gateway'");
                if (!dv_ipv4_parse(q.gateway, &gw))
                        return dv_error_set(err, 400, "invalid-field",
                                            "field 'gateway': '%.40s' is not an IPv4 address",
                                            q.gateway);
                mask = dv_prefix_mask(prefix);
                if ((gw & mask) != net)
                        return dv_error_set(err, 400, "invalid-field",
                                            "field 'gateway': %s is not inside %s", q.gateway,
                                            q.subnet);
                if (prefix <= 30 && ((gw & ~mask) == 0 || (gw & ~mask) == ~mask))
                        return dv_error_set(err, 400, "invalid-field",
                                            "field 'gateway': %s is the network or broadcast "
                                            "address of %s",
                                            q.gateway, q.subnet);
        }
        *ret = q;
        return 0;
}

int dv_validate_portgroup_patch(json_t *body, int64_t *ret_vlan, struct dv_error *err)
{
        static const char *const keys[] = { "vlan", NULL };
        int64_t vlan = 0;
        int r;

        r = dv_json_check_keys(body, keys, err);
        if (r >= 0)
                r = dv_json_get_int(body, "vlan", true, 0, DV_VLAN_MAX, &vlan, err);
        if (r < 0)
                return r;
        *ret_vlan = vlan;
        return 0;
}
