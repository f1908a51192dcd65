/* Network probes (docs/agent.md "Network probes"): the facts of a link
 * (/sys/class/net) and a VLAN/MTU probe on a DVS uplink for the manager's
 * DVS health check (POST /agent/v1/net/link and /agent/v1/net/probe).
 *
 * A probe opens an AF_PACKET socket on the interface and, during the first
 * half of a window, broadcasts `rounds` rounds of frames on every VLAN
 * asked for (a small one and one whose payload is exactly the MTU), while
 * counting, until the window ends, the probe frames of the same session
 * that other hosts send: per (sender host, VLAN as seen on the wire, VLAN
 * the sender wrote in the payload).
 *
 * A probe frame (EtherType 0x88B5, IEEE local experimental), after the
 * Ethernet header and an optional 802.1Q tag:
 *   magic    8 bytes  "DRVHC1\0\0"
 *   session 32 bytes  16..32 lowercase hex digits, NUL padded
 *   host    64 bytes  1..63 of [A-Za-z0-9._-], NUL padded
 *   vlan     2 bytes  big endian, 0..4094 (0: sent untagged)
 *   kind     1 byte   0 small, 1 large
 *   round    1 byte   0..DV_NETPROBE_ROUNDS_MAX-1
 *   zeros up to the frame's size.
 *
 * The pure part (request checks, frames, aggregation, JSON) does no I/O and
 * is unit-tested (tests/unit/test-agent-netprobe.c); dv_netprobe_link_read()
 * and dv_netprobe_run() do the I/O; neither logs. dv_netprobe_route() is the
 * agent API's part and logs a line per probe, as api.c does. No global
 * state: probes run concurrently, each with its own socket. Frames from the
 * network are untrusted: fixed buffers, every length and field checked. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"
#include "http.h"
#include "util.h"

#define DV_NETPROBE_ETHERTYPE 0x88b5  /* IEEE 802 local experimental 1 */
#define DV_NETPROBE_MAGIC "DRVHC1\0\0" /* first 8 bytes of a probe payload */
#define DV_NETPROBE_MAGIC_LEN 8
#define DV_NETPROBE_SESSION_LEN 32     /* session field; sessions are 16..32 hex digits */
#define DV_NETPROBE_SESSION_MIN 16
#define DV_NETPROBE_HOST_LEN 64        /* host field; names are 1..63 characters */
/* magic + session + host + vlan + kind + round */
#define DV_NETPROBE_PAYLOAD_MIN                                                          \
        (DV_NETPROBE_MAGIC_LEN + DV_NETPROBE_SESSION_LEN + DV_NETPROBE_HOST_LEN + 2 + 1 + 1)
#define DV_NETPROBE_ETH_HLEN 14         /* destination, source, EtherType */
#define DV_NETPROBE_VLAN_HLEN 4         /* an 802.1Q tag */
/* The small frame: the probe payload and nothing more (122 bytes untagged,
 * 126 tagged). The payload does not fit the 60-byte Ethernet minimum. */
#define DV_NETPROBE_SMALL_PAYLOAD DV_NETPROBE_PAYLOAD_MIN
#define DV_NETPROBE_MTU_MIN DV_NETPROBE_PAYLOAD_MIN /* a large frame must hold the payload */
#define DV_NETPROBE_MTU_MAX 9000
#define DV_NETPROBE_FRAME_MAX                                                            \
        (DV_NETPROBE_ETH_HLEN + DV_NETPROBE_VLAN_HLEN + DV_NETPROBE_MTU_MAX)
#define DV_NETPROBE_WINDOW_MIN 200      /* window_ms bounds and default */
#define DV_NETPROBE_WINDOW_MAX 10000
#define DV_NETPROBE_WINDOW_DEFAULT 1500
#define DV_NETPROBE_ROUNDS_MAX 10       /* rounds bounds (from 1) and default */
#define DV_NETPROBE_ROUNDS_DEFAULT 3
#define DV_NETPROBE_MAX_VLANS 64        /* VLANs per probe */
#define DV_NETPROBE_MAX_ENTRIES 256     /* distinct (host, vlan, sent_vlan) counted */
#define DV_NETPROBE_MAX_SEND_ERRORS 256 /* distinct (vlan, size, error) kept */

enum {
        DV_NETPROBE_SMALL = 0, /* kind of the small frame */
        DV_NETPROBE_LARGE = 1, /* kind of the frame of full MTU */
};

/* A checked POST /agent/v1/net/probe body. */
struct dv_netprobe_req {
        char interface[IFNAMSIZ];                   /* the uplink */
        char session[DV_NETPROBE_SESSION_LEN + 1];  /* shared by all hosts of one check */
        char host[DV_NETPROBE_HOST_LEN];            /* our name, written in our frames */
        uint16_t vlans[DV_NETPROBE_MAX_VLANS];      /* distinct, 0..4094 (0: untagged) */
        size_t n_vlans;                             /* entries used in vlans[], >= 1 */
        int mtu;                                    /* payload of a large frame; 0: the link's */
        int window_ms;                              /* how long the probe listens */
        int rounds;                                 /* rounds of frames sent */
};

/* A probe frame as received (dv_netprobe_frame_parse). */
struct dv_netprobe_frame {
        int vlan;                                   /* VLAN on the wire, 0 when untagged */
        int sent_vlan;                              /* VLAN in the payload */
        int kind;                                   /* DV_NETPROBE_SMALL or _LARGE */
        int round;                                  /* the sender's round */
        char session[DV_NETPROBE_SESSION_LEN + 1];  /* NUL-terminated */
        char host[DV_NETPROBE_HOST_LEN];            /* NUL-terminated, checked charset */
};

/* Frames of one sender heard on one VLAN. */
struct dv_netprobe_entry {
        char host[DV_NETPROBE_HOST_LEN]; /* the sender */
        int vlan;                        /* VLAN on the wire */
        int sent_vlan;                   /* VLAN the sender meant */
        uint32_t small;                  /* small frames (saturating) */
        uint32_t large;                  /* frames of full MTU (saturating) */
};

/* Sends that failed, merged by (vlan, size, error). */
struct dv_netprobe_send_error {
        int vlan;       /* the frame's VLAN */
        uint32_t size;  /* the frame's size, tag included */
        int error;      /* positive errno */
        uint32_t count; /* how many sends failed so */
};

/* What a probe found. Allocated by dv_netprobe_result_new (it is large). */
struct dv_netprobe_result {
        char interface[IFNAMSIZ];  /* the uplink */
        bool carrier;              /* carrier at the start of the probe */
        int mtu;                   /* payload of the large frames */
        int window_ms;             /* the window used */
        uint32_t sent;             /* frames sent */
        struct dv_netprobe_send_error errors[DV_NETPROBE_MAX_SEND_ERRORS]; /* failed sends */
        size_t n_errors;           /* entries used in errors[] */
        struct dv_netprobe_entry entries[DV_NETPROBE_MAX_ENTRIES]; /* frames heard */
        size_t n_entries;          /* entries used in entries[] */
        uint64_t overflow;         /* valid frames not counted: entries[] was full */
};

/* The facts of a link, from /sys/class/net/IF. */
struct dv_netprobe_link {
        char name[IFNAMSIZ]; /* the interface */
        bool admin_up;       /* IFF_UP in flags */
        bool carrier;        /* carrier reads 1 (false when unreadable: admin down) */
        char operstate[16];  /* "up", "down", "unknown", "lowerlayerdown", ... */
        int mtu;             /* the link's MTU */
        char mac[64];        /* address as sysfs shows it (checked charset), or "" */
        bool ethernet;       /* type 1 (ARPHRD_ETHER) with a 6-byte address */
        uint8_t hwaddr[6];   /* the address when ethernet */
};

/* ---- pure ---- */

/* 1..15 of [A-Za-z0-9_.:-], not "." or "..". */
bool dv_netprobe_ifname_valid(const char *s);
/* 1..63 of [A-Za-z0-9._-]. */
bool dv_netprobe_host_valid(const char *s);
/* 16..32 lowercase hex digits. */
bool dv_netprobe_session_valid(const char *s);

/* Check a parsed body. Unknown keys: 400 unknown-field; a missing
 * required one: 400 missing-field; any bad value: 400 invalid-field. */
int dv_netprobe_parse_link_req(json_t *body, const char **ret_interface, struct dv_error *err);
int dv_netprobe_parse_probe_req(json_t *body, struct dv_netprobe_req *ret, struct dv_error *err);

/* The link's facts from the texts of its sysfs attributes (carrier NULL
 * when it could not be read). -EINVAL when flags or mtu do not parse. */
int dv_netprobe_link_parse(const char *name, const char *flags, const char *carrier,
                           const char *operstate, const char *mtu, const char *address,
                           const char *type, struct dv_netprobe_link *ret);
json_t *dv_netprobe_link_to_json(const struct dv_netprobe_link *link);

/* The size of a frame (tag included) with this payload. */
size_t dv_netprobe_frame_size(int vlan, size_t payload);
/* Write a probe frame into buf: broadcast from src, tagged when vlan > 0,
 * payload bytes after the Ethernet (+802.1Q) header. -EINVAL for a bad
 * argument, -ENOBUFS when cap is too small. */
int dv_netprobe_frame_build(uint8_t *buf, size_t cap, const uint8_t src[6], const char *session,
                            const char *host, int vlan, int kind, int round, size_t payload,
                            size_t *ret_len);
/* Parse a received frame. tag_tci is the 802.1Q TCI the kernel took out of
 * the frame, or -1 when it took none; a tag still in the frame is read too
 * (two tags: not a probe frame). 0 for a probe frame; -ENOMSG for another
 * protocol; -EBADMSG for a malformed probe frame. */
int dv_netprobe_frame_parse(const uint8_t *buf, size_t len, int tag_tci,
                            struct dv_netprobe_frame *ret);

struct dv_netprobe_result *dv_netprobe_result_new(const char *interface);
void dv_netprobe_result_free(struct dv_netprobe_result *res);
static inline void dv_netprobe_result_freep(struct dv_netprobe_result **p)
{
        dv_netprobe_result_free(*p);
}
/* Count a parsed frame: 1 counted, 0 ignored (another session, or our own
 * host), -ENOSPC when the table is full (counted in overflow). */
int dv_netprobe_account(struct dv_netprobe_result *res, const struct dv_netprobe_frame *f,
                        const char *session, const char *self_host);
/* Record a failed send (r: negative errno). */
void dv_netprobe_send_failed(struct dv_netprobe_result *res, int vlan, size_t size, int r);
/* The reply body; entries sorted by host, vlan, sent_vlan. */
json_t *dv_netprobe_result_to_json(const struct dv_netprobe_result *res);

/* ---- I/O ---- */

/* Read /sys/class/net/NAME. 404 no-such-interface when it does not exist. */
int dv_netprobe_link_read(const char *name, struct dv_netprobe_link *ret, struct dv_error *err);

/* Run a probe (blocks for req->window_ms). 404 no-such-interface; 400
 * invalid-field when the interface is not Ethernet or req->mtu is above its
 * MTU; 500 for a socket that cannot be opened. Send failures are recorded
 * in the result, not returned. */
int dv_netprobe_run(const struct dv_netprobe_req *req, struct dv_netprobe_result **ret,
                    struct dv_error *err);

/* ---- HTTP (the agent API) ---- */

/* POST /agent/v1/net/{what}: "link" or "probe". Returns false (nothing
 * replied) for another what. */
bool dv_netprobe_route(const char *what, const struct dv_http_request *req,
                       struct dv_http_response *resp);
