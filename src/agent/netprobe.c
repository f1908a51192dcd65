/* Network probes (see netprobe.h). */
#include "netprobe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "json.h"
#include "log.h"

#define ETH_P_8021Q_TPID 0x8100
#define ARPHRD_ETHER_TYPE 1           /* /sys/class/net/IF/type of Ethernet */
#define SOCKET_BUF (4 * 1024 * 1024)  /* SO_RCVBUF/SO_SNDBUF: a round of jumbo frames */
#define RX_BUF (DV_NETPROBE_FRAME_MAX + DV_NETPROBE_VLAN_HLEN + 64) /* larger: not ours */
#define RX_BATCH 256                  /* frames read per wake-up before the clock is checked */
#define RX_MAX_ERRORS 64              /* consecutive receive errors before we stop listening */
#define TX_WAIT_MS 100                /* longest wait for room in the socket's send buffer */

/* ---- names and request bodies ------------------------------------------- */

bool dv_netprobe_ifname_valid(const char *s)
{
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n < 1 || n >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (; *s; s++)
                if (!(('a' <= *s && *s <= 'z') || ('A' <= *s && *s <= 'Z') ||
                      ('0' <= *s && *s <= '9') || *s == '_' || *s == '.' || *s == ':' ||
                      *s == '-'))
                        return false;
        return true;
}

bool dv_netprobe_host_valid(const char *s)
{
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n < 1 || n >= DV_NETPROBE_HOST_LEN)
                return false;
        for (; *s; s++)
                if (!(('a' <= *s && *s <= 'z') || ('A' <= *s && *s <= 'Z') ||
                      ('0' <= *s && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
                        return false;
        return true;
}

bool dv_netprobe_session_valid(const char *s)
{
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n < DV_NETPROBE_SESSION_MIN || n > DV_NETPROBE_SESSION_LEN)
                return false;
        for (; *s; s++)
                if (!(('0' <= *s && *s <= '9') || ('a' <= *s && *s <= 'f')))
                        return false;
        return true;
}

/* An optional integer field in [min, max] (dv_json_get_int's errors). */
static int get_int(json_t *o, const char *key, int64_t min, int64_t max, int *ret,
                   struct dv_error *err)
{
        int64_t v = *ret;
        int r = dv_json_get_int(o, key, false, min, max, &v, err);

        if (r == 0)
                *ret = (int)v;
        return r;
}

/* A required string field that passes valid(); 400 invalid-field otherwise. */
static int get_checked(json_t *o, const char *key, bool (*valid)(const char *),
                       const char *what, const char **ret, struct dv_error *err)
{
        const char *s = NULL;
        int r = dv_json_get_string(o, key, true, &s, err);

        if (r < 0)
                return r;
        if (!valid(s))
                return dv_error_set(err, 400, "invalid-field", "field '%s': '%.40s' is not %s",
                                    key, s, what);
        *ret = s;
        return 0;
}

#define IFNAME_WHAT "a network interface name (1-15 of A-Z a-z 0-9 _ . : -)"

int dv_netprobe_parse_link_req(json_t *body, const char **ret_interface, struct dv_error *err)
{
        static const char *const keys[] = { "interface", NULL };
        int r;

        r = dv_json_check_keys(body, keys, err);
        if (r == 0)
                r = get_checked(body, "interface", dv_netprobe_ifname_valid, IFNAME_WHAT,
                                ret_interface, err);
        return r;
}

static int get_vlans(json_t *body, struct dv_netprobe_req *req, struct dv_error *err)
{
        uint8_t seen[4096 / 8] = {};
        json_t *vlans = json_object_get(body, "vlans"), *v;
        size_t i;

        if (!vlans || json_is_null(vlans))
                return dv_error_set(err, 400, "missing-field", "field 'vlans' is required");
        if (!json_is_array(vlans) || json_array_size(vlans) < 1 ||
            json_array_size(vlans) > DV_NETPROBE_MAX_VLANS)
                return dv_error_set(err, 400, "invalid-field",
                                    "field 'vlans' must be an array of 1..%d VLAN ids",
                                    DV_NETPROBE_MAX_VLANS);
        json_array_foreach(vlans, i, v) {
                json_int_t id;

                if (!json_is_integer(v) || (id = json_integer_value(v)) < 0 || id > 4094)
                        return dv_error_set(err, 400, "invalid-field",
                                            "field 'vlans': entry %zu is not a VLAN id 0..4094",
                                            i);
                if (seen[id / 8] & (1u << (id % 8)))
                        return dv_error_set(err, 400, "invalid-field",
                                            "field 'vlans': VLAN %lld is listed twice",
                                            (long long)id);
                seen[id / 8] |= 1u << (id % 8);
                req->vlans[req->n_vlans++] = (uint16_t)id;
        }
        return 0;
}

int dv_netprobe_parse_probe_req(json_t *body, struct dv_netprobe_req *ret, struct dv_error *err)
{
        static const char *const keys[] = { "interface", "session", "host", "vlans", "mtu",
                                            "window_ms", "rounds", NULL };
        struct dv_netprobe_req req = {
                .window_ms = DV_NETPROBE_WINDOW_DEFAULT,
                .rounds = DV_NETPROBE_ROUNDS_DEFAULT,
        };
        const char *interface = NULL, *session = NULL, *host = NULL;
        int r;

        r = dv_json_check_keys(body, keys, err);
        if (r == 0)
                r = get_checked(body, "interface", dv_netprobe_ifname_valid, IFNAME_WHAT,
                                &interface, err);
        if (r == 0)
                r = get_checked(body, "session", dv_netprobe_session_valid,
                                "a session id (16-32 lowercase hex digits)", &session, err);
        if (r == 0)
                r = get_checked(body, "host", dv_netprobe_host_valid,
                                "a host name (1-63 of A-Z a-z 0-9 . _ -)", &host, err);
        if (r == 0)
                r = get_vlans(body, &req, err);
        if (r == 0)
                r = get_int(body, "mtu", DV_NETPROBE_MTU_MIN, DV_NETPROBE_MTU_MAX, &req.mtu, err);
        if (r == 0)
                r = get_int(body, "window_ms", DV_NETPROBE_WINDOW_MIN, DV_NETPROBE_WINDOW_MAX,
                            &req.window_ms, err);
        if (r == 0)
                r = get_int(body, "rounds", 1, DV_NETPROBE_ROUNDS_MAX, &req.rounds, err);
        if (r < 0)
                return r;
        /* Lengths checked by the validators above. */
        memcpy(req.interface, interface, strlen(interface) + 1);
        memcpy(req.session, session, strlen(session) + 1);
        memcpy(req.host, host, strlen(host) + 1);
        *ret = req;
        return 0;
}

/* ---- link facts --------------------------------------------------------- */

/* s without its trailing whitespace into buf; false when it does not fit. */
static bool trim(const char *s, char *buf, size_t len)
{
        size_t n = strlen(s);

        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t'))
                n--;
        if (n >= len)
                return false;
        memcpy(buf, s, n);
        buf[n] = 0;
        return true;
}

static bool all_of(const char *s, const char *allowed)
{
        for (; *s; s++)
                if (!strchr(allowed, *s))
                        return false;
        return true;
}

static int parse_mac(const char *s, uint8_t out[6])
{
        unsigned b[6];
        int n = 0;

        if (strlen(s) != 17 ||
            sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
                   &n) != 6 ||
            n != 17)
                return -EINVAL;
        for (int i = 0; i < 6; i++)
                out[i] = (uint8_t)b[i];
        return 0;
}

int dv_netprobe_link_parse(const char *name, const char *flags, const char *carrier,
                           const char *operstate, const char *mtu, const char *address,
                           const char *type, struct dv_netprobe_link *ret)
{
        struct dv_netprobe_link link = {};
        char buf[64], *end;
        unsigned long fl;
        int64_t v;

        if (!dv_netprobe_ifname_valid(name) || !flags || !mtu)
                return -EINVAL;
        memcpy(link.name, name, strlen(name) + 1);

        if (!trim(flags, buf, sizeof(buf)) || !dv_startswith(buf, "0x") || !buf[2])
                return -EINVAL;
        errno = 0;
        fl = strtoul(buf + 2, &end, 16);
        if (errno || *end)
                return -EINVAL;
        link.admin_up = fl & IFF_UP;

        link.carrier = carrier && trim(carrier, buf, sizeof(buf)) && strcmp(buf, "1") == 0;

        if (operstate && trim(operstate, buf, sizeof(buf)) && buf[0] &&
            strlen(buf) < sizeof(link.operstate) && all_of(buf, "abcdefghijklmnopqrstuvwxyz"))
                memcpy(link.operstate, buf, strlen(buf) + 1);
        else
                snprintf(link.operstate, sizeof(link.operstate), "unknown");

        if (!trim(mtu, buf, sizeof(buf)) || dv_parse_int64(buf, 0, INT32_MAX, &v) < 0)
                return -EINVAL;
        link.mtu = (int)v;

        if (address && trim(address, buf, sizeof(buf)) && strlen(buf) < sizeof(link.mac) &&
            all_of(buf, "0123456789abcdefABCDEF:"))
                memcpy(link.mac, buf, strlen(buf) + 1);

        link.ethernet = type && trim(type, buf, sizeof(buf)) &&
                        dv_parse_int64(buf, 0, 65535, &v) == 0 && v == ARPHRD_ETHER_TYPE &&
                        parse_mac(link.mac, link.hwaddr) == 0;
        *ret = link;
        return 0;
}

json_t *dv_netprobe_link_to_json(const struct dv_netprobe_link *link)
{
        return json_pack("{s:s,s:b,s:b,s:s,s:i,s:s}", "interface", link->name, "admin_up",
                         link->admin_up, "carrier", link->carrier, "operstate", link->operstate,
                         "mtu", link->mtu, "mac", link->mac);
}

/* ---- frames ------------------------------------------------------------- */

static void put16(uint8_t *p, unsigned v)
{
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
}

static unsigned get16(const uint8_t *p)
{
        return (unsigned)p[0] << 8 | p[1];
}

size_t dv_netprobe_frame_size(int vlan, size_t payload)
{
        return DV_NETPROBE_ETH_HLEN + (vlan > 0 ? DV_NETPROBE_VLAN_HLEN : 0) + payload;
}

int dv_netprobe_frame_build(uint8_t *buf, size_t cap, const uint8_t src[6], const char *session,
                            const char *host, int vlan, int kind, int round, size_t payload,
                            size_t *ret_len)
{
        size_t len;
        uint8_t *p;

        if (!buf || !src || !dv_netprobe_session_valid(session) ||
            !dv_netprobe_host_valid(host) || vlan < 0 || vlan > 4094 ||
            (kind != DV_NETPROBE_SMALL && kind != DV_NETPROBE_LARGE) || round < 0 ||
            round >= DV_NETPROBE_ROUNDS_MAX || payload < DV_NETPROBE_PAYLOAD_MIN ||
            payload > DV_NETPROBE_MTU_MAX)
                return -EINVAL;
        len = dv_netprobe_frame_size(vlan, payload);
        if (len > cap)
                return -ENOBUFS;
        memset(buf, 0, len);
        memset(buf, 0xff, 6);
        memcpy(buf + 6, src, 6);
        p = buf + 12;
        if (vlan > 0) {
                put16(p, ETH_P_8021Q_TPID);
                put16(p + 2, (unsigned)vlan); /* PCP 0, DEI 0 */
                p += DV_NETPROBE_VLAN_HLEN;
        }
        put16(p, DV_NETPROBE_ETHERTYPE);
        p += 2;
        memcpy(p, DV_NETPROBE_MAGIC, DV_NETPROBE_MAGIC_LEN);
        p += DV_NETPROBE_MAGIC_LEN;
        memcpy(p, session, strlen(session));
        p += DV_NETPROBE_SESSION_LEN;
        memcpy(p, host, strlen(host));
        p += DV_NETPROBE_HOST_LEN;
        put16(p, (unsigned)vlan);
        p[2] = (uint8_t)kind;
        p[3] = (uint8_t)round;
        *ret_len = len;
        return 0;
}

/* A NUL-padded text field of len bytes: its text (at most max_text bytes,
 * then only NULs) into out (max_text + 1 bytes). */
static bool field_text(const uint8_t *p, size_t len, size_t max_text, char *out)
{
        size_t n = 0;

        while (n < len && p[n])
                n++;
        if (n > max_text)
                return false;
        for (size_t i = n; i < len; i++)
                if (p[i])
                        return false;
        memcpy(out, p, n);
        out[n] = 0;
        return true;
}

int dv_netprobe_frame_parse(const uint8_t *buf, size_t len, int tag_tci,
                            struct dv_netprobe_frame *ret)
{
        struct dv_netprobe_frame f = {};
        const uint8_t *p;
        size_t off = DV_NETPROBE_ETH_HLEN;
        unsigned type;

        if (!buf || len < DV_NETPROBE_ETH_HLEN)
                return -EBADMSG;
        f.vlan = tag_tci >= 0 ? (tag_tci & 0x0fff) : 0;
        type = get16(buf + 12);
        if (type == ETH_P_8021Q_TPID) {
                if (tag_tci >= 0)
                        return -ENOMSG; /* two tags: not a frame we send */
                if (len < DV_NETPROBE_ETH_HLEN + DV_NETPROBE_VLAN_HLEN)
                        return -EBADMSG;
                f.vlan = get16(buf + 14) & 0x0fff;
                type = get16(buf + 16);
                off += DV_NETPROBE_VLAN_HLEN;
        }
        if (type != DV_NETPROBE_ETHERTYPE)
                return -ENOMSG;
        if (len - off < DV_NETPROBE_PAYLOAD_MIN)
                return -EBADMSG;
        p = buf + off;
        if (memcmp(p, DV_NETPROBE_MAGIC, DV_NETPROBE_MAGIC_LEN) != 0)
                return -EBADMSG;
        p += DV_NETPROBE_MAGIC_LEN;
        if (!field_text(p, DV_NETPROBE_SESSION_LEN, DV_NETPROBE_SESSION_LEN, f.session) ||
            !dv_netprobe_session_valid(f.session))
                return -EBADMSG;
        p += DV_NETPROBE_SESSION_LEN;
        if (!field_text(p, DV_NETPROBE_HOST_LEN, DV_NETPROBE_HOST_LEN - 1, f.host) ||
            !dv_netprobe_host_valid(f.host))
                return -EBADMSG;
        p += DV_NETPROBE_HOST_LEN;
        f.sent_vlan = (int)get16(p);
        f.kind = p[2];
        f.round = p[3];
        if (f.sent_vlan > 4094 || (f.kind != DV_NETPROBE_SMALL && f.kind != DV_NETPROBE_LARGE) ||
            f.round >= DV_NETPROBE_ROUNDS_MAX)
                return -EBADMSG;
        *ret = f;
        return 0;
}

/* ---- aggregation -------------------------------------------------------- */

struct dv_netprobe_result *dv_netprobe_result_new(const char *interface)
{
        struct dv_netprobe_result *res;

        if (!dv_netprobe_ifname_valid(interface))
                return NULL;
        res = calloc(1, sizeof(*res));
        if (!res)
                return NULL;
        memcpy(res->interface, interface, strlen(interface) + 1);
        return res;
}

void dv_netprobe_result_free(struct dv_netprobe_result *res)
{
        free(res);
}

static void bump(uint32_t *c)
{
        if (*c < UINT32_MAX)
                (*c)++;
}

int dv_netprobe_account(struct dv_netprobe_result *res, const struct dv_netprobe_frame *f,
                        const char *session, const char *self_host)
{
        struct dv_netprobe_entry *e = NULL;

        if (strcmp(f->session, session) != 0 || strcmp(f->host, self_host) == 0)
                return 0;
        for (size_t i = 0; i < res->n_entries && !e; i++)
                if (res->entries[i].vlan == f->vlan && res->entries[i].sent_vlan == f->sent_vlan &&
                    strcmp(res->entries[i].host, f->host) == 0)
                        e = &res->entries[i];
        if (!e) {
                if (res->n_entries >= DV_NETPROBE_MAX_ENTRIES) {
                        res->overflow++;
                        return -ENOSPC;
                }
                e = &res->entries[res->n_entries++];
                *e = (struct dv_netprobe_entry){ .vlan = f->vlan, .sent_vlan = f->sent_vlan };
                memcpy(e->host, f->host, sizeof(e->host)); /* NUL-terminated, same size */
        }
        bump(f->kind == DV_NETPROBE_SMALL ? &e->small : &e->large);
        return 1;
}

void dv_netprobe_send_failed(struct dv_netprobe_result *res, int vlan, size_t size, int r)
{
        struct dv_netprobe_send_error *e;

        for (size_t i = 0; i < res->n_errors; i++) {
                e = &res->errors[i];
                if (e->vlan == vlan && e->size == size && e->error == -r) {
                        bump(&e->count);
                        return;
                }
        }
        if (res->n_errors >= DV_NETPROBE_MAX_SEND_ERRORS)
                return;
        res->errors[res->n_errors++] = (struct dv_netprobe_send_error){
                .vlan = vlan, .size = (uint32_t)size, .error = -r, .count = 1,
        };
}

static int entry_cmp(const void *a, const void *b)
{
        const struct dv_netprobe_entry *x = a, *y = b;
        int c = strcmp(x->host, y->host);

        if (c)
                return c;
        if (x->vlan != y->vlan)
                return x->vlan < y->vlan ? -1 : 1;
        return x->sent_vlan < y->sent_vlan ? -1 : x->sent_vlan > y->sent_vlan;
}

json_t *dv_netprobe_result_to_json(const struct dv_netprobe_result *res)
{
        _cleanup_(json_decrefp) json_t *errors = json_array(), *received = json_array();
        _cleanup_(freep) struct dv_netprobe_entry *sorted = NULL;

        if (!errors || !received)
                return NULL;
        for (size_t i = 0; i < res->n_errors; i++) {
                const struct dv_netprobe_send_error *e = &res->errors[i];
                char buf[128];

                if (json_array_append_new(
                            errors, json_pack("{s:i,s:I,s:s,s:I}", "vlan", e->vlan, "size",
                                              (json_int_t)e->size, "error",
                                              strerror_r(e->error, buf, sizeof(buf)), "count",
                                              (json_int_t)e->count)) < 0)
                        return NULL;
        }
        if (res->n_entries > 0) {
                sorted = malloc(res->n_entries * sizeof(*sorted));
                if (!sorted)
                        return NULL;
                memcpy(sorted, res->entries, res->n_entries * sizeof(*sorted));
                qsort(sorted, res->n_entries, sizeof(*sorted), entry_cmp);
        }
        for (size_t i = 0; i < res->n_entries; i++) {
                const struct dv_netprobe_entry *e = &sorted[i];

                if (json_array_append_new(
                            received, json_pack("{s:s,s:i,s:I,s:I,s:i}", "host", e->host, "vlan",
                                                e->vlan, "small", (json_int_t)e->small, "large",
                                                (json_int_t)e->large, "sent_vlan",
                                                e->sent_vlan)) < 0)
                        return NULL;
        }
        return json_pack("{s:s,s:b,s:i,s:I,s:O,s:O,s:i,s:I}", "interface", res->interface,
                         "carrier", res->carrier, "mtu", res->mtu, "sent",
                         (json_int_t)res->sent, "send_errors", errors, "received", received,
                         "window_ms", res->window_ms, "overflow", (json_int_t)res->overflow);
}

/* ---- I/O: the link ------------------------------------------------------ */

/* /sys/class/net/NAME/ATTR (one read: sysfs attributes are small) into buf. */
static int read_attr(const char *name, const char *attr, char *buf, size_t len)
{
        char path[sizeof("/sys/class/net//") + IFNAMSIZ + 32];
        _cleanup_(closep) int fd = -1;
        ssize_t k;

        snprintf(path, sizeof(path), "/sys/class/net/%s/%s", name, attr);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        do
                k = read(fd, buf, len - 1);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return -errno;
        buf[k] = 0;
        return 0;
}

static int no_such_interface(const char *name, struct dv_error *err)
{
        return dv_error_set(err, 404, "no-such-interface", "no network interface '%s' on this host",
                            name);
}

int dv_netprobe_link_read(const char *name, struct dv_netprobe_link *ret, struct dv_error *err)
{
        static const char *const attrs[] = { "flags", "mtu", "operstate", "address" };
        char vals[ELEMENTSOF(attrs)][128], carrier[16], type[16];
        bool have_carrier, have_type;
        int r;

        if (!dv_netprobe_ifname_valid(name))
                return dv_error_set(err, 400, "invalid-field", "'%.40s' is not %s", name,
                                    IFNAME_WHAT);
        for (size_t i = 0; i < ELEMENTSOF(attrs); i++) {
                r = read_attr(name, attrs[i], vals[i], sizeof(vals[i]));
                if (r == -ENOENT || r == -ENOTDIR || r == -ENODEV)
                        return no_such_interface(name, err);
                if (r < 0)
                        return dv_error_set(err, 500, "internal",
                                            "reading /sys/class/net/%s/%s: %s", name, attrs[i],
                                            strerror(-r));
        }
        /* carrier fails with EINVAL while the link is administratively down. */
        have_carrier = read_attr(name, "carrier", carrier, sizeof(carrier)) == 0;
        have_type = read_attr(name, "type", type, sizeof(type)) == 0;
        r = dv_netprobe_link_parse(name, vals[0], have_carrier ? carrier : NULL, vals[2], vals[1],
                                   vals[3], have_type ? type : NULL, ret);
        if (r < 0)
                return dv_error_set(err, 500, "internal",
                                    "cannot parse the attributes of /sys/class/net/%s", name);
        return 0;
}

/* ---- I/O: the probe ----------------------------------------------------- */

/* One running probe. */
struct probe {
        const struct dv_netprobe_req *req; /* what was asked */
        struct dv_netprobe_result *res;    /* what is found */
        int fd;                            /* the packet socket, bound to the interface */
        uint8_t src[6];                    /* the interface's MAC */
        uint8_t *buf;                      /* RX_BUF bytes, for sending and receiving */
        bool listening;                    /* false after RX_MAX_ERRORS errors in a row */
        int rx_errors;                     /* consecutive receive errors */
};

static int open_socket(const char *name, int *ret_fd, struct dv_error *err)
{
        _cleanup_(closep) int fd = -1;
        struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
        int one = 1, size = SOCKET_BUF;
        unsigned idx;

        idx = if_nametoindex(name);
        if (idx == 0)
                return errno == ENODEV || errno == ENXIO
                               ? no_such_interface(name, err)
                               : dv_error_set(err, 500, "internal", "interface %s: %s", name,
                                              strerror(errno));
        /* Protocol 0: nothing is queued before bind() picks the interface. */
        fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return dv_error_set(err, 500, "internal", "cannot open a packet socket: %s",
                                    strerror(errno));
        if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) < 0)
                return dv_error_set(err, 500, "internal", "PACKET_AUXDATA: %s", strerror(errno));
#ifdef PACKET_IGNORE_OUTGOING
        /* Best effort (Linux 4.20): our own frames are ignored anyway. */
        (void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
#endif
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
                (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
                (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        sll.sll_ifindex = (int)idx;
        if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
                return errno == ENODEV || errno == ENXIO
                               ? no_such_interface(name, err)
                               : dv_error_set(err, 500, "internal",
                                              "binding a packet socket to %s: %s", name,
                                              strerror(errno));
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int send_frame(struct probe *p, size_t len, int64_t end)
{
        for (bool waited = false;;) {
                ssize_t k = send(p->fd, p->buf, len, MSG_DONTWAIT);
                struct pollfd pfd = { .fd = p->fd, .events = POLLOUT };
                int64_t left;

                if (k >= 0)
                        return (size_t)k == len ? 0 : -EIO;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN || waited)
                        return -errno;
                /* The send buffer is full: wait a little for room, never past the window. */
                left = DV_MIN(end - dv_now_ms(), TX_WAIT_MS);
                if (left <= 0)
                        return -EAGAIN;
                if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
                        return -errno;
                waited = true;
        }
}

static void send_round(struct probe *p, int round, int64_t end)
{
        static const int kinds[] = { DV_NETPROBE_SMALL, DV_NETPROBE_LARGE };

        for (size_t i = 0; i < p->req->n_vlans; i++)
                for (size_t j = 0; j < ELEMENTSOF(kinds); j++) {
                        int vlan = p->req->vlans[i];
                        size_t payload = kinds[j] == DV_NETPROBE_SMALL
                                                 ? DV_NETPROBE_SMALL_PAYLOAD
                                                 : (size_t)p->res->mtu;
                        size_t len = 0;
                        int r;

                        r = dv_netprobe_frame_build(p->buf, RX_BUF, p->src, p->req->session,
                                                    p->req->host, vlan, kinds[j], round, payload,
                                                    &len);
                        if (r == 0)
                                r = send_frame(p, len, end);
                        if (r < 0)
                                dv_netprobe_send_failed(p->res, vlan,
                                                        dv_netprobe_frame_size(vlan, payload), r);
                        else
                                p->res->sent++;
                }
}

/* One received frame in p->buf. */
static void handle_frame(struct probe *p, const struct msghdr *msg, size_t len)
{
        const struct sockaddr_ll *from = msg->msg_name;
        struct dv_netprobe_frame f;
        int tci = -1;

        if ((msg->msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
            msg->msg_namelen < offsetof(struct sockaddr_ll, sll_addr) ||
            from->sll_pkttype == PACKET_OUTGOING)
                return;
        for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)msg); c;
             c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
                struct tpacket_auxdata aux;

                if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA ||
                    c->cmsg_len < CMSG_LEN(sizeof(aux)))
                        continue;
                memcpy(&aux, CMSG_DATA(c), sizeof(aux));
                if (!(aux.tp_status & TP_STATUS_VLAN_VALID))
                        continue;
                if ((aux.tp_status & TP_STATUS_VLAN_TPID_VALID) &&
                    aux.tp_vlan_tpid != ETH_P_8021Q_TPID)
                        return; /* an 802.1ad tag: not a frame we send */
                tci = aux.tp_vlan_tci;
        }
        if (dv_netprobe_frame_parse(p->buf, len, tci, &f) == 0)
                (void)dv_netprobe_account(p->res, &f, p->req->session, p->req->host);
}

/* Read what is queued (at most RX_BATCH frames). */
static void drain(struct probe *p)
{
        for (int i = 0; i < RX_BATCH; i++) {
                struct sockaddr_ll from;
                union {
                        char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
                        struct cmsghdr align;
                } control;
                struct iovec iov = { .iov_base = p->buf, .iov_len = RX_BUF };
                struct msghdr msg = {
                        .msg_name = &from, .msg_namelen = sizeof(from),
                        .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = control.buf, .msg_controllen = sizeof(control.buf),
                };
                ssize_t k = recvmsg(p->fd, &msg, MSG_DONTWAIT);

                if (k < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return;
                        /* e.g. ENETDOWN once when the link goes down; give up on a
                         * socket that keeps failing rather than spin. */
                        if (++p->rx_errors >= RX_MAX_ERRORS)
                                p->listening = false;
                        return;
                }
                p->rx_errors = 0;
                handle_frame(p, &msg, DV_MIN((size_t)k, (size_t)RX_BUF));
        }
}

/* Receive until the monotonic time until (ms); never later. */
static void receive_until(struct probe *p, int64_t until)
{
        for (;;) {
                struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
                int64_t left = until - dv_now_ms();
                int n;

                if (left <= 0)
                        return;
                n = poll(&pfd, p->listening ? 1 : 0, (int)left);
                if (n < 0 && errno != EINTR)
                        p->listening = false; /* cannot happen with a valid fd; do not spin */
                if (n > 0)
                        drain(p);
        }
}

int dv_netprobe_run(const struct dv_netprobe_req *req, struct dv_netprobe_result **ret,
                    struct dv_error *err)
{
        _cleanup_(dv_netprobe_result_freep) struct dv_netprobe_result *res = NULL;
        _cleanup_(freep) uint8_t *buf = NULL;
        _cleanup_(closep) int fd = -1;
        struct dv_netprobe_link link;
        struct probe p;
        int64_t start, end;
        int mtu, r;

        r = dv_netprobe_link_read(req->interface, &link, err);
        if (r < 0)
                return r;
        if (!link.ethernet)
                return dv_error_set(err, 400, "invalid-field",
                                    "interface '%s' is not an Ethernet interface",
                                    req->interface);
        if (req->mtu > link.mtu)
                return dv_error_set(err, 400, "invalid-field",
                                    "field 'mtu' (%d) is above the MTU of %s (%d)", req->mtu,
                                    req->interface, link.mtu);
        mtu = req->mtu ? req->mtu : DV_MIN(link.mtu, DV_NETPROBE_MTU_MAX);
        if (mtu < DV_NETPROBE_MTU_MIN)
                return dv_error_set(err, 400, "invalid-field",
                                    "the MTU of %s (%d) is below %d, the smallest probe frame",
                                    req->interface, link.mtu, DV_NETPROBE_MTU_MIN);
        res = dv_netprobe_result_new(req->interface);
        buf = malloc(RX_BUF);
        if (!res || !buf)
                return dv_error_set(err, 500, "internal", "out of memory");
        res->carrier = link.carrier;
        res->mtu = mtu;
        res->window_ms = req->window_ms;
        r = open_socket(req->interface, &fd, err);
        if (r < 0)
                return r;

        p = (struct probe){ .req = req, .res = res, .fd = fd, .buf = buf, .listening = true };
        memcpy(p.src, link.hwaddr, sizeof(p.src));
        start = dv_now_ms();
        end = start + req->window_ms;
        /* Rounds spread evenly over the first half, with a margin at its start
         * for hosts whose probe starts a little later than ours. */
        for (int round = 0; round < req->rounds; round++) {
                receive_until(&p, start + (int64_t)req->window_ms / 2 * (round + 1) /
                                                  (req->rounds + 1));
                send_round(&p, round, end);
        }
        receive_until(&p, end);
        *ret = TAKE_PTR(res);
        return 0;
}

/* ---- HTTP --------------------------------------------------------------- */

/* The body as a JSON object (strict, like api.c); keys are checked by the
 * request parsers. */
static int parse_body(const struct dv_http_request *req, json_t **ret, struct dv_error *err)
{
        bool blank = true;

        for (size_t i = 0; i < req->body_len && blank; i++)
                blank = req->body[i] == ' ' || req->body[i] == '\t' || req->body[i] == '\r' ||
                        req->body[i] == '\n';
        if (blank)
                return dv_error_set(err, 400, "invalid-json", "a JSON body is required");
        return dv_json_parse_object(req->body, req->body_len, ret, err);
}

static void api_link(const struct dv_http_request *req, struct dv_http_response *resp)
{
        _cleanup_(json_decrefp) json_t *body = NULL;
        struct dv_netprobe_link link;
        const char *name = NULL;
        struct dv_error err = {};
        json_t *out;
        int r;

        r = parse_body(req, &body, &err);
        if (r == 0)
                r = dv_netprobe_parse_link_req(body, &name, &err);
        if (r == 0)
                r = dv_netprobe_link_read(name, &link, &err);
        if (r < 0) {
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        out = dv_netprobe_link_to_json(&link);
        if (!out)
                dv_http_reply_error(resp, 500, "internal", "out of memory");
        else
                dv_http_reply(resp, 200, out);
}

static void api_probe(const struct dv_http_request *req, struct dv_http_response *resp)
{
        _cleanup_(dv_netprobe_result_freep) struct dv_netprobe_result *res = NULL;
        _cleanup_(json_decrefp) json_t *body = NULL;
        struct dv_netprobe_req preq;
        struct dv_error err = {};
        json_t *out;
        int r;

        r = parse_body(req, &body, &err);
        if (r == 0)
                r = dv_netprobe_parse_probe_req(body, &preq, &err);
        if (r == 0)
                r = dv_netprobe_run(&preq, &res, &err);
        if (r < 0) {
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        dv_info("net probe on %s (session %s, %zu VLANs, MTU %d, %d ms): %u frames sent, "
                "%zu kinds of send error, %zu host/VLAN entries heard%s",
                preq.interface, preq.session, preq.n_vlans, res->mtu, preq.window_ms, res->sent,
                res->n_errors, res->n_entries, res->overflow ? " (table full)" : "");
        out = dv_netprobe_result_to_json(res);
        if (!out)
                dv_http_reply_error(resp, 500, "internal", "out of memory");
        else
                dv_http_reply(resp, 200, out);
}

bool dv_netprobe_route(const char *what, const struct dv_http_request *req,
                       struct dv_http_response *resp)
{
        void (*fn)(const struct dv_http_request *, struct dv_http_response *);

        if (strcmp(what, "link") == 0)
                fn = api_link;
        else if (strcmp(what, "probe") == 0)
                fn = api_probe;
        else
                return false;
        if (strcmp(req->method, "POST") != 0)
                dv_http_reply_error(resp, 405, "method-not-allowed", "%s %s: use POST",
                                    req->method, req->path);
        else
                fn(req, resp);
        return true;
}
