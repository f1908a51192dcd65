/* The Tools protocol, host side (docs/tools-protocol.md): framing and
 * strict validation of what a guest sends, schemas of every op's args and
 * result, and request formatting. Pure logic: no I/O, no threads, no
 * logging, never executes anything a guest sends.
 *
 * The guest is untrusted. The reader bounds the line length (an oversized
 * line is dropped up to its newline), the message rate (a token bucket)
 * and the number of malformed messages; beyond those the channel is
 * "misbehaving" until it has been quiet for a quarantine period. */
#pragma once

#include <jansson.h>

#include "error.h"
#include "util.h"

#define DV_TOOLS_PROTO_VERSION 1
/* Longest line, newline excluded, either side accepts. */
#define DV_TOOLS_LINE_MAX 65536
/* Largest upgrade binary. */
#define DV_TOOLS_UPGRADE_MAX (32 * 1024 * 1024)

enum dv_tools_msg_kind {
        DV_TOOLS_MSG_HELLO,      /* guest (re)started or the host (re)connected */
        DV_TOOLS_MSG_HEARTBEAT,  /* every second */
        DV_TOOLS_MSG_FS_THAWED,  /* a freeze timed out and the guest thawed itself */
        DV_TOOLS_MSG_REPLY,      /* the answer to a request */
};

/* One validated guest message. Strings are copies; json members are owned
 * by the message (steal them with TAKE_PTR). */
struct dv_tools_msg {
        enum dv_tools_msg_kind kind;
        uint64_t id;              /* REPLY: the request's id */
        bool ok;                  /* REPLY: success or error */
        json_t *result;           /* REPLY ok: the result object, not yet checked
                                   * against the op (dv_tools_check_result) */
        char error_code[32];      /* REPLY !ok: [a-z0-9-]{1,31} */
        char error_message[513];  /* REPLY !ok: printable, may be empty */
        int64_t proto;            /* HELLO: protocol version the guest speaks */
        char version[65];         /* HELLO, HEARTBEAT: drover-tools version */
        char session[17];         /* HELLO, HEARTBEAT: 16 hex digits, per guest process */
        int64_t seq;              /* HEARTBEAT: sequence number */
        json_t *body;             /* events: the whole message object */
};

void dv_tools_msg_clear(struct dv_tools_msg *msg);

/* Parse and validate one line (no newline). On failure fills err with 502
 * "tools-protocol" and a message saying what was wrong. */
int dv_tools_msg_parse(const char *line, size_t len, struct dv_tools_msg *ret_msg,
                       struct dv_error *err);

/* Ops the protocol defines; every other name is refused. */
bool dv_tools_op_known(const char *op);
/* Names of all ops, NULL-terminated. */
const char *const *dv_tools_op_names(void);
/* Host-built args for op (NULL means {}): 400 invalid-field on a mistake. */
int dv_tools_check_args(const char *op, json_t *args, struct dv_error *err);
/* A guest's result for op: 502 "tools-bad-reply" naming the field. */
int dv_tools_check_result(const char *op, json_t *result, struct dv_error *err);

/* The request line (with its newline) for id/op/args; session may be NULL. */
int dv_tools_format_request(uint64_t id, const char *op, const char *session, json_t *args,
                            char **ret_line, size_t *ret_len);

/* ---- the reader: framing and limits over a byte stream ---- */

struct dv_tools_limits {
        size_t line_max;          /* longest line; default DV_TOOLS_LINE_MAX */
        unsigned rate_max;        /* messages per second (burst as large); default 50 */
        unsigned errors_max;      /* malformed messages within error_window_ms that make
                                   * the channel misbehaving; default 3 */
        int64_t error_window_ms;  /* default 10000 */
        int64_t quarantine_ms;    /* violation-free time before a misbehaving channel
                                   * delivers messages again; default 10000 */
};

void dv_tools_limits_default(struct dv_tools_limits *l);

struct dv_tools_reader_stats {
        uint64_t bytes;      /* fed */
        uint64_t lines;      /* complete non-empty lines */
        uint64_t messages;   /* delivered to the callback */
        uint64_t errors;     /* malformed lines and violations reported from above */
        uint64_t oversized;  /* lines over line_max */
        uint64_t flooded;    /* lines dropped by the rate bound */
        uint64_t dropped;    /* valid lines not delivered while misbehaving */
};

struct dv_tools_reader;

/* limits NULL: the defaults. */
int dv_tools_reader_new(const struct dv_tools_limits *limits, struct dv_tools_reader **ret_reader);
void dv_tools_reader_free(struct dv_tools_reader *r);
void dv_tools_reader_freep(struct dv_tools_reader **r);
/* A new connection: forget any partial line (violation state is kept). */
void dv_tools_reader_reset(struct dv_tools_reader *r);

/* Called for each valid message; msg is the reader's, cleared after the
 * call, so the callee steals what it keeps. */
typedef void (*dv_tools_msg_cb)(void *userdata, struct dv_tools_msg *msg);

/* Feed bytes as they arrive (any split). Returns 0, or -ENOMEM. */
int dv_tools_reader_feed(struct dv_tools_reader *r, const void *data, size_t len, int64_t now_ms,
                         dv_tools_msg_cb cb, void *userdata);
/* A violation found above the parser (a reply that fails its op's schema):
 * counts like a malformed line. */
void dv_tools_reader_violation(struct dv_tools_reader *r, int64_t now_ms, const char *what);
/* Misbehaving now? *ret_reason (borrowed, valid until the next call on r)
 * says why. A channel that has been quiet for quarantine_ms recovers. */
bool dv_tools_reader_misbehaving(struct dv_tools_reader *r, int64_t now_ms, const char **ret_reason);
/* The last protocol error seen, or NULL; *ret_when_ms (optional) gets its
 * time. Borrowed. */
const char *dv_tools_reader_last_error(const struct dv_tools_reader *r, int64_t *ret_when_ms);
void dv_tools_reader_get_stats(const struct dv_tools_reader *r, struct dv_tools_reader_stats *ret);
