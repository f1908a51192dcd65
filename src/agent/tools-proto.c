#include "tools-proto.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <string.h>

#define JS_MAX_SAFE 9007199254740991LL /* 2^53 - 1 */
#define KIB_MAX ((int64_t)1 << 50)

/* ------------------------------------------------------------ schemas -- */

/* Field kinds and string formats of the tiny schema language below. */
enum {
        K_STR,
        K_INT,
        K_BOOL,
        K_OBJ,      /* sub: member list; NULL sub = any object (checked elsewhere) */
        K_ARR,      /* sub: one element description */
        K_OBJ_NULL, /* an object as K_OBJ, or null */
};

enum {
        F_TEXT,     /* printable: no control characters */
        F_WORD,     /* [a-z0-9-]+ */
        F_VERSION,  /* [A-Za-z0-9.+~_-]+ */
        F_HEX16,
        F_HEX64,
        F_MAC,      /* xx:xx:xx:xx:xx:xx, any case */
        F_MAC_OPT,  /* a MAC or "" */
        F_IP,       /* IPv4 or IPv6 literal */
        F_IPV4,
        F_PATH,     /* absolute, printable */
        F_FAMILY,   /* inet | inet6 */
        F_BASE64,
};

struct field {
        const char *key;
        unsigned char kind;
        unsigned char fmt;          /* K_STR */
        bool required;
        int64_t min, max;           /* K_INT: value; K_STR: length; K_ARR: items */
        const struct field *sub;    /* K_OBJ, K_OBJ_NULL: members; K_ARR: element */
};

#define END { NULL, 0, 0, false, 0, 0, NULL }
#define STR(k, f, req, lo, hi) { k, K_STR, f, req, lo, hi, NULL }
#define INT(k, req, lo, hi) { k, K_INT, 0, req, lo, hi, NULL }
#define BOOL(k, req) { k, K_BOOL, 0, req, 0, 0, NULL }
#define OBJ(k, req, s) { k, K_OBJ, 0, req, 0, 0, s }
#define OBJ_NULL(k, req, s) { k, K_OBJ_NULL, 0, req, 0, 0, s }
#define ARR(k, req, lo, hi, el) { k, K_ARR, 0, req, lo, hi, el }

static const struct field no_fields[] = { END };

/* --- info --- */
static const struct field os_fields[] = {
        STR("id", F_TEXT, true, 0, 127), STR("name", F_TEXT, true, 0, 127),
        STR("version", F_TEXT, true, 0, 127), STR("pretty_name", F_TEXT, true, 0, 127), END,
};
static const struct field kernel_fields[] = {
        STR("release", F_TEXT, true, 1, 64), STR("version", F_TEXT, true, 0, 127),
        STR("machine", F_TEXT, true, 1, 64), END,
};
static const struct field memory_fields[] = {
        INT("total_kib", true, 0, KIB_MAX), INT("free_kib", true, 0, KIB_MAX),
        INT("available_kib", true, 0, KIB_MAX), END,
};
static const struct field cpus_fields[] = {
        INT("online", true, 0, 8192), INT("present", true, 0, 8192), INT("possible", true, 0, 8192), END,
};
static const struct field addr_fields[] = {
        STR("family", F_FAMILY, true, 4, 5), STR("address", F_IP, true, 2, 45),
        INT("prefix", true, 0, 128), END,
};
static const struct field addr_el[] = { OBJ(NULL, true, addr_fields) };
static const struct field nic_fields[] = {
        STR("name", F_TEXT, true, 1, 15), STR("mac", F_MAC_OPT, true, 0, 17), BOOL("up", true),
        BOOL("carrier", true), INT("mtu", true, 0, 65536), ARR("addresses", true, 0, 16, addr_el), END,
};
static const struct field nic_el[] = { OBJ(NULL, true, nic_fields) };
static const struct field gw_fields[] = {
        STR("address", F_IPV4, true, 7, 15), STR("nic", F_TEXT, true, 1, 16),
        INT("metric", true, 0, 4294967295LL), END,
};
static const struct field fs_fields[] = {
        STR("mount", F_PATH, true, 1, 255), STR("device", F_TEXT, true, 1, 127),
        STR("type", F_TEXT, true, 1, 31), BOOL("read_only", true), INT("total_kib", true, 0, KIB_MAX),
        INT("free_kib", true, 0, KIB_MAX), BOOL("frozen", true), END,
};
static const struct field fs_el[] = { OBJ(NULL, true, fs_fields) };
static const struct field fw_fields[] = {
        BOOL("rules", true), INT("rule_count", true, 0, JS_MAX_SAFE), STR("method", F_TEXT, true, 1, 127),
        STR("detail", F_TEXT, true, 0, 191), END,
};
static const struct field info_result[] = {
        OBJ("os", true, os_fields),
        OBJ("kernel", true, kernel_fields),
        STR("hostname", F_TEXT, true, 0, 64),
        INT("uptime_s", true, 0, JS_MAX_SAFE),
        OBJ("memory", true, memory_fields),
        OBJ("cpus", true, cpus_fields),
        ARR("nics", true, 0, 32, nic_el),
        OBJ_NULL("gateway", true, gw_fields),
        ARR("filesystems", true, 0, 32, fs_el),
        OBJ("firewall", true, fw_fields),
        STR("tools_version", F_VERSION, true, 1, 64),
        END,
};

/* --- net-config --- */
static const struct field netcfg_nic_args[] = {
        STR("mac", F_MAC, true, 17, 17), STR("ip", F_IPV4, false, 7, 15), INT("prefix", false, 1, 32),
        STR("gateway", F_IPV4, false, 7, 15), END,
};
static const struct field netcfg_nic_arg_el[] = { OBJ(NULL, true, netcfg_nic_args) };
static const struct field netcfg_args[] = { ARR("nics", true, 1, 16, netcfg_nic_arg_el), END };
static const struct field netcfg_nic_res[] = {
        STR("mac", F_MAC, true, 17, 17), STR("name", F_TEXT, true, 1, 15), BOOL("changed", true), END,
};
static const struct field netcfg_nic_res_el[] = { OBJ(NULL, true, netcfg_nic_res) };
static const struct field netcfg_result[] = { ARR("nics", true, 1, 16, netcfg_nic_res_el), END };

/* --- power --- */
static const struct field power_result[] = { STR("method", F_WORD, true, 1, 31), END };

/* --- cpus-online, time-set --- */
static const struct field cpus_online_result[] = {
        INT("online", true, 0, 8192), INT("present", true, 0, 8192), INT("possible", true, 0, 8192),
        INT("onlined", true, 0, 8192), INT("failed", true, 0, 8192), END,
};
static const struct field time_args[] = { INT("epoch_ms", true, 946684800000LL, 7258118400000LL), END };
static const struct field time_result[] = {
        INT("previous_ms", true, -JS_MAX_SAFE, JS_MAX_SAFE), INT("delta_ms", true, -JS_MAX_SAFE, JS_MAX_SAFE),
        END,
};

/* --- fs --- */
static const struct field path_el[] = { STR(NULL, F_PATH, true, 1, 255) };
static const struct field freeze_args[] = { INT("timeout_s", false, 1, 600), END };
static const struct field freeze_result[] = {
        ARR("frozen", true, 0, 32, path_el), ARR("skipped", true, 0, 32, path_el),
        INT("timeout_s", true, 1, 600), END,
};
static const struct field thaw_result[] = { ARR("thawed", true, 0, 32, path_el), END };

/* --- ping --- */
static const struct field ping_args[] = {
        STR("address", F_IPV4, true, 7, 15), INT("count", false, 1, 10), INT("timeout_s", false, 1, 10), END,
};
static const struct field ping_result[] = {
        STR("address", F_IPV4, true, 7, 15), INT("transmitted", true, 0, 10), INT("received", true, 0, 10),
        INT("loss_pct", true, 0, 100), INT("rtt_min_us", false, 0, 60000000),
        INT("rtt_avg_us", false, 0, 60000000), INT("rtt_max_us", false, 0, 60000000),
        INT("exit_status", true, 0, 255), END,
};

/* --- upgrade --- */
static const struct field upbegin_args[] = {
        INT("size", true, 64, DV_TOOLS_UPGRADE_MAX), STR("sha256", F_HEX64, true, 64, 64), END,
};
static const struct field upbegin_result[] = { INT("size", true, 64, DV_TOOLS_UPGRADE_MAX), END };
static const struct field upchunk_args[] = {
        INT("offset", true, 0, DV_TOOLS_UPGRADE_MAX), STR("data", F_BASE64, true, 4, 60000), END,
};
static const struct field upchunk_result[] = { INT("received", true, 0, DV_TOOLS_UPGRADE_MAX), END };
static const struct field upcommit_result[] = {
        STR("previous_version", F_VERSION, true, 1, 64), STR("sha256", F_HEX64, true, 64, 64),
        BOOL("restarting", true), END,
};
static const struct field upabort_result[] = { BOOL("aborted", true), END };

/* --- version --- */
static const struct field version_result[] = {
        STR("version", F_VERSION, true, 1, 64), INT("proto", true, 1, 1000),
        STR("session", F_HEX16, true, 16, 16), INT("pid", true, 1, 2147483647), END,
};

/* --- guest messages --- */
static const struct field word_el[] = { STR(NULL, F_WORD, true, 1, 31) };
static const struct field hello_fields[] = {
        STR("event", F_WORD, true, 1, 31), INT("proto", true, 1, 1000),
        STR("version", F_VERSION, true, 1, 64), STR("session", F_HEX16, true, 16, 16),
        INT("pid", false, 1, 2147483647), ARR("ops", false, 0, 64, word_el), END,
};
static const struct field heartbeat_fields[] = {
        STR("event", F_WORD, true, 1, 31), INT("seq", true, 0, JS_MAX_SAFE),
        STR("version", F_VERSION, true, 1, 64), STR("session", F_HEX16, true, 16, 16), END,
};
static const struct field thawed_fields[] = {
        STR("event", F_WORD, true, 1, 31), STR("reason", F_WORD, true, 1, 31),
        ARR("mounts", true, 0, 32, path_el), END,
};
static const struct field error_fields[] = {
        STR("code", F_WORD, true, 1, 31), STR("message", F_TEXT, true, 0, 512), END,
};
static const struct field reply_ok_fields[] = {
        INT("id", true, 1, JS_MAX_SAFE), BOOL("ok", true), OBJ("result", true, NULL), END,
};
static const struct field reply_err_fields[] = {
        INT("id", true, 1, JS_MAX_SAFE), BOOL("ok", true), OBJ("error", true, error_fields), END,
};

static int check_ping(json_t *result, struct dv_error *err);
static int check_info(json_t *result, struct dv_error *err);

static const struct op {
        const char *name;
        const struct field *args;
        const struct field *result;
        int (*extra)(json_t *result, struct dv_error *err);  /* cross-field checks */
} ops[] = {
        { "version", no_fields, version_result, NULL },
        { "info", no_fields, info_result, check_info },
        { "net-config", netcfg_args, netcfg_result, NULL },
        { "shutdown", no_fields, power_result, NULL },
        { "reboot", no_fields, power_result, NULL },
        { "hibernate", no_fields, power_result, NULL },
        { "cpus-online", no_fields, cpus_online_result, NULL },
        { "time-set", time_args, time_result, NULL },
        { "fs-freeze", freeze_args, freeze_result, NULL },
        { "fs-thaw", no_fields, thaw_result, NULL },
        { "ping", ping_args, ping_result, check_ping },
        { "upgrade-begin", upbegin_args, upbegin_result, NULL },
        { "upgrade-chunk", upchunk_args, upchunk_result, NULL },
        { "upgrade-commit", no_fields, upcommit_result, NULL },
        { "upgrade-abort", no_fields, upabort_result, NULL },
};

static const struct op *op_find(const char *name)
{
        if (!name)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(ops); i++)
                if (strcmp(ops[i].name, name) == 0)
                        return &ops[i];
        return NULL;
}

bool dv_tools_op_known(const char *op)
{
        return op_find(op) != NULL;
}

const char *const *dv_tools_op_names(void)
{
        static const char *names[ELEMENTSOF(ops) + 1];

        if (!names[0])
                for (size_t i = 0; i < ELEMENTSOF(ops); i++)
                        names[i] = ops[i].name;
        return names;
}

/* ---------------------------------------------------------- validator -- */

static bool is_hex(const char *s, size_t n)
{
        return strspn(s, "0123456789abcdef") == n;
}

static bool fmt_ok(unsigned fmt, const char *s, size_t n)
{
        unsigned char buf[16];

        /* Every format is printable ASCII or UTF-8 without control bytes. */
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x20 || c == 0x7f)
                        return false;
        }
        switch (fmt) {
        case F_TEXT:
                return true;
        case F_WORD:
                return n > 0 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
        case F_VERSION:
                return n > 0 &&
                       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.+~_-") == n;
        case F_HEX16:
                return n == 16 && is_hex(s, n);
        case F_HEX64:
                return n == 64 && is_hex(s, n);
        case F_MAC_OPT:
                if (n == 0)
                        return true;
                /* fall through */
        case F_MAC:
                if (n != 17)
                        return false;
                for (size_t i = 0; i < 17; i++) {
                        if (i % 3 == 2 ? s[i] != ':' : !strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
                                return false;
                }
                return true;
        case F_IP:
                return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
        case F_IPV4:
                return inet_pton(AF_INET, s, buf) == 1;
        case F_PATH:
                return n > 0 && s[0] == '/';
        case F_FAMILY:
                return strcmp(s, "inet") == 0 || strcmp(s, "inet6") == 0;
        case F_BASE64:
                return n % 4 == 0 &&
                       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == n;
        }
        return false;
}

struct vctx {
        struct dv_error *err;
        int status;
        const char *code;
        char path[160];   /* "result.nics[2].mac" */
};

static int vfail(struct vctx *v, const char *fmt, ...) _printf_(2, 3);
static int vfail(struct vctx *v, const char *fmt, ...)
{
        char msg[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        dv_error_set(v->err, v->status, v->code, "%s: %s", v->path, msg);
        return -EBADMSG;
}

static int check_object(struct vctx *v, json_t *obj, const struct field *fields);

static int check_value(struct vctx *v, json_t *val, const struct field *f)
{
        switch (f->kind) {
        case K_STR: {
                const char *s;
                size_t n;

                if (!json_is_string(val))
                        return vfail(v, "must be a string");
                s = json_string_value(val);
                n = json_string_length(val);
                if (strlen(s) != n)
                        return vfail(v, "must not contain NUL");
                if ((int64_t)n < f->min || (int64_t)n > f->max)
                        return vfail(v, "length %zu outside %lld..%lld", n, (long long)f->min,
                                     (long long)f->max);
                if (!fmt_ok(f->fmt, s, n))
                        return vfail(v, "malformed value");
                return 0;
        }
        case K_INT: {
                json_int_t i;

                if (!json_is_integer(val))
                        return vfail(v, "must be an integer");
                i = json_integer_value(val);
                if (i < f->min || i > f->max)
                        return vfail(v, "%lld outside %lld..%lld", (long long)i, (long long)f->min,
                                     (long long)f->max);
                return 0;
        }
        case K_BOOL:
                return json_is_boolean(val) ? 0 : vfail(v, "must be true or false");
        case K_OBJ_NULL:
                if (json_is_null(val))
                        return 0;
                /* fall through */
        case K_OBJ:
                if (!json_is_object(val))
                        return vfail(v, "must be an object");
                return f->sub ? check_object(v, val, f->sub) : 0;
        case K_ARR: {
                size_t n, idx, base = strlen(v->path);
                json_t *el;

                if (!json_is_array(val))
                        return vfail(v, "must be an array");
                n = json_array_size(val);
                if ((int64_t)n < f->min || (int64_t)n > f->max)
                        return vfail(v, "%zu items, outside %lld..%lld", n, (long long)f->min,
                                     (long long)f->max);
                json_array_foreach(val, idx, el) {
                        int r;

                        snprintf(v->path + base, sizeof(v->path) - base, "[%zu]", idx);
                        r = check_value(v, el, f->sub);
                        if (r < 0)
                                return r;
                        v->path[base] = '\0';
                }
                return 0;
        }
        }
        return vfail(v, "internal: unknown field kind");
}

static int check_object(struct vctx *v, json_t *obj, const struct field *fields)
{
        size_t base = strlen(v->path);
        const char *key;
        json_t *val;

        json_object_foreach(obj, key, val) {
                const struct field *f;

                for (f = fields; f->key; f++)
                        if (strcmp(f->key, key) == 0)
                                break;
                if (!f->key) {
                        snprintf(v->path + base, sizeof(v->path) - base, "%s%.40s", base ? "." : "",
                                 key);
                        return vfail(v, "unknown field");
                }
        }
        for (const struct field *f = fields; f->key; f++) {
                int r;

                snprintf(v->path + base, sizeof(v->path) - base, "%s%s", base ? "." : "", f->key);
                val = json_object_get(obj, f->key);
                if (!val) {
                        if (f->required)
                                return vfail(v, "missing");
                        continue;
                }
                r = check_value(v, val, f);
                if (r < 0)
                        return r;
        }
        v->path[base] = '\0';
        return 0;
}

static int validate(json_t *obj, const struct field *fields, const char *root, int status,
                    const char *code, struct dv_error *err)
{
        struct vctx v = { .err = err, .status = status, .code = code };

        snprintf(v.path, sizeof(v.path), "%s", root);
        if (!json_is_object(obj))
                return vfail(&v, "must be an object");
        return check_object(&v, obj, fields);
}

static int check_ping(json_t *result, struct dv_error *err)
{
        json_int_t tx = json_integer_value(json_object_get(result, "transmitted"));
        json_int_t rx = json_integer_value(json_object_get(result, "received"));

        if (rx > tx) {
                dv_error_set(err, 502, "tools-bad-reply",
                             "result: more ping replies (%lld) than requests (%lld)", (long long)rx,
                             (long long)tx);
                return -EBADMSG;
        }
        return 0;
}

static int check_info(json_t *result, struct dv_error *err)
{
        size_t i, j;
        json_t *nic, *addr;

        json_array_foreach(json_object_get(result, "nics"), i, nic) {
                json_array_foreach(json_object_get(nic, "addresses"), j, addr) {
                        const char *fam = json_string_value(json_object_get(addr, "family"));
                        const char *ip = json_string_value(json_object_get(addr, "address"));
                        json_int_t prefix = json_integer_value(json_object_get(addr, "prefix"));
                        unsigned char buf[16];
                        bool v4 = strcmp(fam, "inet") == 0;

                        if (inet_pton(v4 ? AF_INET : AF_INET6, ip, buf) != 1 || (v4 && prefix > 32)) {
                                dv_error_set(err, 502, "tools-bad-reply",
                                             "result.nics[%zu].addresses[%zu]: family, address and "
                                             "prefix disagree", i, j);
                                return -EBADMSG;
                        }
                }
        }
        return 0;
}

int dv_tools_check_args(const char *op, json_t *args, struct dv_error *err)
{
        const struct op *o = op_find(op);
        _cleanup_(json_decrefp) json_t *empty = NULL;

        if (!o)
                return dv_error_set(err, 400, "invalid-field", "unknown Tools op '%.40s'", op ? op : "");
        if (!args)
                args = empty = json_object();
        return validate(args, o->args, "args", 400, "invalid-field", err);
}

int dv_tools_check_result(const char *op, json_t *result, struct dv_error *err)
{
        const struct op *o = op_find(op);
        int r;

        if (!o)
                return dv_error_set(err, 502, "tools-bad-reply", "unknown Tools op '%.40s'", op ? op : "");
        r = validate(result, o->result, "result", 502, "tools-bad-reply", err);
        if (r < 0)
                return r;
        return o->extra ? o->extra(result, err) : 0;
}

int dv_tools_format_request(uint64_t id, const char *op, const char *session, json_t *args,
                            char **ret_line, size_t *ret_len)
{
        _cleanup_(json_decrefp) json_t *req = NULL;
        _cleanup_(freep) char *text = NULL;
        char *line;
        size_t n;

        if (!op_find(op) || id < 1 || id > (uint64_t)JS_MAX_SAFE)
                return -EINVAL;
        req = json_pack("{s:I,s:s,s:O?}", "id", (json_int_t)id, "op", op, "args", args);
        if (!req)
                return -ENOMEM;
        if (!args && json_object_set_new(req, "args", json_object()) < 0)
                return -ENOMEM;
        if (session && json_object_set_new(req, "session", json_string(session)) < 0)
                return -ENOMEM;
        text = json_dumps(req, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (!text)
                return -ENOMEM;
        n = strlen(text);
        if (n > DV_TOOLS_LINE_MAX)
                return -EMSGSIZE;
        line = realloc(text, n + 2);
        if (!line)
                return -ENOMEM;
        text = NULL;
        line[n] = '\n';
        line[n + 1] = '\0';
        *ret_line = line;
        *ret_len = n + 1;
        return 0;
}

/* ------------------------------------------------------------- parser -- */

void dv_tools_msg_clear(struct dv_tools_msg *msg)
{
        json_decref(msg->result);
        json_decref(msg->body);
        memset(msg, 0, sizeof(*msg));
}

static void copy_str(char *dst, size_t len, json_t *v)
{
        snprintf(dst, len, "%s", json_string_value(v) ? json_string_value(v) : "");
}

int dv_tools_msg_parse(const char *line, size_t len, struct dv_tools_msg *ret_msg,
                       struct dv_error *err)
{
        _cleanup_(json_decrefp) json_t *root = NULL;
        struct dv_tools_msg m = {};
        json_error_t jerr;
        json_t *ev;
        int r;

        if (len > DV_TOOLS_LINE_MAX)
                return dv_error_set(err, 502, "tools-protocol", "line of %zu bytes is over %d", len,
                                    DV_TOOLS_LINE_MAX);
        root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return dv_error_set(err, 502, "tools-protocol", "not JSON (column %d): %.80s",
                                    jerr.column, jerr.text);
        if (!json_is_object(root))
                return dv_error_set(err, 502, "tools-protocol", "message is not an object");

        ev = json_object_get(root, "event");
        if (ev) {
                const char *name = json_string_value(ev);
                const struct field *fields;

                if (json_object_get(root, "id"))
                        return dv_error_set(err, 502, "tools-protocol", "message has both event and id");
                if (!name)
                        return dv_error_set(err, 502, "tools-protocol", "event must be a string");
                if (strcmp(name, "hello") == 0) {
                        m.kind = DV_TOOLS_MSG_HELLO;
                        fields = hello_fields;
                } else if (strcmp(name, "heartbeat") == 0) {
                        m.kind = DV_TOOLS_MSG_HEARTBEAT;
                        fields = heartbeat_fields;
                } else if (strcmp(name, "fs-thawed") == 0) {
                        m.kind = DV_TOOLS_MSG_FS_THAWED;
                        fields = thawed_fields;
                } else
                        return dv_error_set(err, 502, "tools-protocol", "unknown event '%.32s'", name);
                r = validate(root, fields, name, 502, "tools-protocol", err);
                if (r < 0)
                        return r;
                m.proto = json_integer_value(json_object_get(root, "proto"));
                m.seq = json_integer_value(json_object_get(root, "seq"));
                copy_str(m.version, sizeof(m.version), json_object_get(root, "version"));
                copy_str(m.session, sizeof(m.session), json_object_get(root, "session"));
                m.body = TAKE_PTR(root);
        } else {
                json_t *ok = json_object_get(root, "ok");

                if (!json_is_boolean(ok))
                        return dv_error_set(err, 502, "tools-protocol",
                                            "message has neither event nor a boolean ok");
                m.kind = DV_TOOLS_MSG_REPLY;
                m.ok = json_is_true(ok);
                r = validate(root, m.ok ? reply_ok_fields : reply_err_fields, "reply", 502,
                             "tools-protocol", err);
                if (r < 0)
                        return r;
                m.id = (uint64_t)json_integer_value(json_object_get(root, "id"));
                if (m.ok)
                        m.result = json_incref(json_object_get(root, "result"));
                else {
                        json_t *e = json_object_get(root, "error");
                        copy_str(m.error_code, sizeof(m.error_code), json_object_get(e, "code"));
                        copy_str(m.error_message, sizeof(m.error_message), json_object_get(e, "message"));
                }
        }
        *ret_msg = m;
        return 0;
}

/* ------------------------------------------------------------- reader -- */

struct dv_tools_reader {
        struct dv_tools_limits lim;
        char *buf;                 /* the line being assembled, lim.line_max bytes */
        size_t len;
        bool discarding;           /* inside an oversized line */
        int64_t tokens_m;          /* rate bucket, in thousandths of a message */
        int64_t tokens_at_ms;      /* when the bucket was last refilled */
        bool tokens_init;
        int64_t *err_times;        /* ring of the last errors_max error times */
        size_t err_next;
        bool misbehaving;
        int64_t last_violation_ms;
        char reason[256];          /* why misbehaving */
        char last_error[256];      /* the last protocol error */
        int64_t last_error_ms;     /* when it happened */
        struct dv_tools_reader_stats st;
};

void dv_tools_limits_default(struct dv_tools_limits *l)
{
        *l = (struct dv_tools_limits){
                .line_max = DV_TOOLS_LINE_MAX,
                .rate_max = 50,
                .errors_max = 3,
                .error_window_ms = 10000,
                .quarantine_ms = 10000,
        };
}

int dv_tools_reader_new(const struct dv_tools_limits *limits, struct dv_tools_reader **ret_reader)
{
        _cleanup_(dv_tools_reader_freep) struct dv_tools_reader *r = NULL;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        if (limits)
                r->lim = *limits;
        else
                dv_tools_limits_default(&r->lim);
        if (r->lim.line_max == 0 || r->lim.line_max > DV_TOOLS_LINE_MAX)
                r->lim.line_max = DV_TOOLS_LINE_MAX;
        if (r->lim.rate_max == 0)
                r->lim.rate_max = 50;
        if (r->lim.errors_max == 0)
                r->lim.errors_max = 1;
        r->buf = malloc(r->lim.line_max);
        r->err_times = calloc(r->lim.errors_max, sizeof(int64_t));
        if (!r->buf || !r->err_times)
                return -ENOMEM;
        for (size_t i = 0; i < r->lim.errors_max; i++)
                r->err_times[i] = INT64_MIN;
        *ret_reader = TAKE_PTR(r);
        return 0;
}

void dv_tools_reader_free(struct dv_tools_reader *r)
{
        if (!r)
                return;
        free(r->buf);
        free(r->err_times);
        free(r);
}

void dv_tools_reader_freep(struct dv_tools_reader **r)
{
        dv_tools_reader_free(*r);
}

void dv_tools_reader_reset(struct dv_tools_reader *r)
{
        r->len = 0;
        r->discarding = false;
}

static void set_last_error(struct dv_tools_reader *r, int64_t now_ms, const char *what);

static void misbehave(struct dv_tools_reader *r, int64_t now_ms, const char *why)
{
        r->last_violation_ms = now_ms;
        if (!r->misbehaving) {
                r->misbehaving = true;
                snprintf(r->reason, sizeof(r->reason), "%s", why);
        }
}

/* A malformed message: tolerated up to errors_max per window. */
static void count_error(struct dv_tools_reader *r, int64_t now_ms, const char *what)
{
        int64_t oldest;

        r->st.errors++;
        set_last_error(r, now_ms, what);
        if (r->misbehaving) {
                r->last_violation_ms = now_ms;
                return;
        }
        r->err_times[r->err_next] = now_ms;
        r->err_next = (r->err_next + 1) % r->lim.errors_max;
        oldest = r->err_times[r->err_next]; /* the errors_max-th most recent */
        if (oldest != INT64_MIN && now_ms - oldest < r->lim.error_window_ms) {
                char why[256];
                snprintf(why, sizeof(why), "%u malformed messages within %lld s (last: %.160s)",
                         r->lim.errors_max, (long long)(r->lim.error_window_ms / 1000), what);
                misbehave(r, now_ms, why);
        }
}

void dv_tools_reader_violation(struct dv_tools_reader *r, int64_t now_ms, const char *what)
{
        count_error(r, now_ms, what);
}

static void quarantine_check(struct dv_tools_reader *r, int64_t now_ms)
{
        if (r->misbehaving && !r->discarding && now_ms - r->last_violation_ms >= r->lim.quarantine_ms) {
                r->misbehaving = false;
                r->reason[0] = '\0';
                for (size_t i = 0; i < r->lim.errors_max; i++)
                        r->err_times[i] = INT64_MIN;
        }
}

bool dv_tools_reader_misbehaving(struct dv_tools_reader *r, int64_t now_ms, const char **ret_reason)
{
        quarantine_check(r, now_ms);
        if (r->misbehaving && ret_reason)
                *ret_reason = r->reason;
        return r->misbehaving;
}

const char *dv_tools_reader_last_error(const struct dv_tools_reader *r, int64_t *ret_when_ms)
{
        if (!r->last_error[0])
                return NULL;
        if (ret_when_ms)
                *ret_when_ms = r->last_error_ms;
        return r->last_error;
}

static void set_last_error(struct dv_tools_reader *r, int64_t now_ms, const char *what)
{
        snprintf(r->last_error, sizeof(r->last_error), "%.200s", what);
        r->last_error_ms = now_ms;
}

void dv_tools_reader_get_stats(const struct dv_tools_reader *r, struct dv_tools_reader_stats *ret)
{
        *ret = r->st;
}

/* Token bucket: rate_max per second, burst rate_max. */
static bool rate_take(struct dv_tools_reader *r, int64_t now_ms)
{
        int64_t cap = (int64_t)r->lim.rate_max * 1000;

        if (!r->tokens_init) {
                r->tokens_m = cap;
                r->tokens_at_ms = now_ms;
                r->tokens_init = true;
        }
        if (now_ms > r->tokens_at_ms) {
                int64_t dt = now_ms - r->tokens_at_ms;
                r->tokens_m = dt > 1000 ? cap : DV_MIN(cap, r->tokens_m + dt * (int64_t)r->lim.rate_max);
                r->tokens_at_ms = now_ms;
        }
        if (r->tokens_m < 1000)
                return false;
        r->tokens_m -= 1000;
        return true;
}

static void handle_line(struct dv_tools_reader *r, const char *line, size_t len, int64_t now_ms,
                        dv_tools_msg_cb cb, void *userdata)
{
        struct dv_tools_msg msg;
        struct dv_error err = {};

        if (len > 0 && line[len - 1] == '\r')
                len--;
        if (len == 0)
                return; /* a bare newline resynchronizes the stream */
        r->st.lines++;
        if (!rate_take(r, now_ms)) {
                char why[96];
                r->st.flooded++;
                snprintf(why, sizeof(why), "flood: more than %u messages per second", r->lim.rate_max);
                set_last_error(r, now_ms, why);
                misbehave(r, now_ms, why);
                return;
        }
        if (dv_tools_msg_parse(line, len, &msg, &err) < 0) {
                count_error(r, now_ms, err.message);
                return;
        }
        if (r->misbehaving) {
                r->st.dropped++;
                dv_tools_msg_clear(&msg);
                return;
        }
        r->st.messages++;
        if (cb)
                cb(userdata, &msg);
        dv_tools_msg_clear(&msg);
}

int dv_tools_reader_feed(struct dv_tools_reader *r, const void *data, size_t len, int64_t now_ms,
                         dv_tools_msg_cb cb, void *userdata)
{
        const char *p = data;

        r->st.bytes += len;
        quarantine_check(r, now_ms);
        while (len > 0) {
                const char *nl = memchr(p, '\n', len);
                size_t take = nl ? (size_t)(nl - p) : len;

                if (r->discarding) {
                        /* still inside an oversized line: that is a violation going on */
                        r->last_violation_ms = now_ms;
                        if (nl)
                                r->discarding = false;
                } else if (take > r->lim.line_max - r->len) {
                        char why[96];
                        r->st.oversized++;
                        r->st.lines++;
                        snprintf(why, sizeof(why), "line over %zu bytes", r->lim.line_max);
                        set_last_error(r, now_ms, why);
                        misbehave(r, now_ms, why);
                        r->len = 0;
                        r->discarding = !nl;
                } else {
                        memcpy(r->buf + r->len, p, take);
                        r->len += take;
                        if (nl) {
                                size_t n = r->len;
                                r->len = 0;
                                handle_line(r, r->buf, n, now_ms, cb, userdata);
                        }
                }
                if (!nl)
                        break;
                len -= take + 1;
                p = nl + 1;
        }
        return 0;
}
