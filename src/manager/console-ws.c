/* The console websocket: GET /api/v1/vms/{id}/console/ws?ticket=T.
 *
 * The ticket (from POST /vms/{id}/console, docs/web.md) is the credential,
 * since a browser cannot set headers on a websocket: it works once, for
 * that VM, within 30 s. The manager then opens the VM's VNC through its
 * host's agent (GET /agent/v1/vms/{id}/vnc upgraded to "drover-vnc" with
 * the host's credential, on the management network like every agent call)
 * and relays bytes: RFC 6455 frames from the browser (masked, at most
 * 64 KiB each) are unmasked into the VNC stream, VNC bytes go back as
 * binary frames. QEMU's own VNC password (the "ticket" of the console
 * call) still has to be given by the client. */
#include "web.h"

#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "crypto.h"
#include "log.h"

#define WS_MAX_FRAME 65536
#define WS_MAX_CONSOLES 32
#define AGENT_HDR_MAX 4096
#define AGENT_CONNECT_TIMEOUT_MS 5000

static int consoles_open; /* guarded by lock */
static pthread_mutex_t consoles_lock = PTHREAD_MUTEX_INITIALIZER;

struct ws_ctx {
        int agent_fd;          /* the VNC stream through the agent */
        char *pending;         /* VNC bytes read with the agent's 101 */
        size_t pending_len;
        char vm[72];           /* VM name, for the log */
        char user[64];         /* who opened it */
};

static void consoles_release(void)
{
        pthread_mutex_lock(&consoles_lock);
        consoles_open--;
        pthread_mutex_unlock(&consoles_lock);
}

/* Consumes c and its slot among the open consoles. */
static void ctx_free(void *p)
{
        struct ws_ctx *c = p;

        if (c->agent_fd >= 0)
                close(c->agent_fd);
        free(c->pending);
        free(c);
        consoles_release();
}

bool dv_console_ws_path(const char *path)
{
        size_t n = strlen(path);

        return strncmp(path, "/api/v1/vms/", 12) == 0 && n > 23 &&
               strcmp(path + n - 11, "/console/ws") == 0;
}

static int write_all(int fd, const void *buf, size_t n)
{
        const char *p = buf;

        while (n > 0) {
                ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

/* Connect to the agent at url ("http://ADDR:PORT") and upgrade
 * /agent/v1/vms/ID/vnc. Bytes after its 101 go to *ret_pending. */
static int agent_vnc_open(const char *url, const char *cred, const char *vm_id, int *ret_fd,
                          char **ret_pending, size_t *ret_pending_len, char *why, size_t wlen)
{
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
        char host[256], port[16], hdr[AGENT_HDR_MAX + 1];
        _cleanup_(freep) char *req = NULL;
        const char *p, *colon, *end;
        size_t got = 0;
        struct timeval tv = { .tv_sec = AGENT_CONNECT_TIMEOUT_MS / 1000 };
        char *eoh;
        int fd = -1, r;

        if (!url || strncmp(url, "http://", 7) != 0) {
                snprintf(why, wlen, "the host's url is not http://ADDR:PORT");
                return -EINVAL;
        }
        p = url + 7;
        end = p + strcspn(p, "/");
        colon = memrchr(p, ':', (size_t)(end - p));
        if (!colon || (size_t)(colon - p) >= sizeof(host) || (size_t)(end - colon) > sizeof(port)) {
                snprintf(why, wlen, "the host's url has no port");
                return -EINVAL;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(colon - p), p);
        snprintf(port, sizeof(port), "%.*s", (int)(end - colon - 1), colon + 1);
        r = getaddrinfo(host, port, &hints, &ai);
        if (r != 0) {
                snprintf(why, wlen, "%s: %s", host, gai_strerror(r));
                return -EHOSTUNREACH;
        }
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        }
        if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
                snprintf(why, wlen, "connect %s:%s: %m", host, port);
                freeaddrinfo(ai);
                if (fd >= 0)
                        close(fd);
                return -EHOSTUNREACH;
        }
        freeaddrinfo(ai);
        req = dv_asprintf("GET /agent/v1/vms/%s/vnc HTTP/1.1\r\nHost: %s:%s\r\n"
                          "Authorization: Bearer %s\r\nConnection: Upgrade\r\n"
                          "Upgrade: drover-vnc\r\n\r\n",
                          vm_id, host, port, cred ? cred : "");
        r = write_all(fd, req, strlen(req));
        while (r >= 0) {
                ssize_t n = recv(fd, hdr + got, AGENT_HDR_MAX - got, 0);
                if (n <= 0) {
                        r = n < 0 ? -errno : -ECONNRESET;
                        break;
                }
                got += (size_t)n;
                hdr[got] = 0;
                eoh = strstr(hdr, "\r\n\r\n");
                if (eoh) {
                        if (strncmp(hdr, "HTTP/1.1 101", 12) != 0) {
                                char *body = eoh + 4;
                                snprintf(why, wlen, "the agent refused: %.*s %.200s",
                                         (int)strcspn(hdr, "\r\n"), hdr, body);
                                close(fd);
                                return -EPROTO;
                        }
                        *ret_pending_len = got - (size_t)(eoh + 4 - hdr);
                        *ret_pending = NULL;
                        if (*ret_pending_len) {
                                *ret_pending = malloc(*ret_pending_len);
                                if (!*ret_pending) {
                                        close(fd);
                                        return -ENOMEM;
                                }
                                memcpy(*ret_pending, eoh + 4, *ret_pending_len);
                        }
                        tv.tv_sec = 0;
                        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
                        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                        *ret_fd = fd;
                        return 0;
                }
                if (got == AGENT_HDR_MAX)
                        r = -EMSGSIZE;
        }
        snprintf(why, wlen, "the agent's answer: %s", strerror(-r));
        close(fd);
        return r;
}

/* One frame to the browser (server frames are not masked). */
static int ws_send(int fd, int opcode, const void *data, size_t n)
{
        uint8_t h[10];
        size_t hl;
        int r;

        h[0] = (uint8_t)(0x80 | opcode);
        if (n < 126) {
                h[1] = (uint8_t)n;
                hl = 2;
        } else if (n < 65536) {
                h[1] = 126;
                h[2] = (uint8_t)(n >> 8);
                h[3] = (uint8_t)n;
                hl = 4;
        } else {
                h[1] = 127;
                for (int i = 0; i < 8; i++)
                        h[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
                hl = 10;
        }
        r = write_all(fd, h, hl);
        if (r >= 0 && n)
                r = write_all(fd, data, n);
        return r;
}

static void ws_close(int fd, uint16_t code)
{
        uint8_t b[2] = { (uint8_t)(code >> 8), (uint8_t)code };

        (void)ws_send(fd, 0x8, b, 2);
}

/* Frames in buf[0..*len): handle the complete ones, keep the rest.
 * Returns 0 to go on, 1 when closed, < 0 on a protocol error (*code set). */
static int ws_consume(int cfd, int afd, uint8_t *buf, size_t *len, uint16_t *code)
{
        size_t off = 0;

        for (;;) {
                size_t avail = *len - off, hl = 2;
                uint8_t *f = buf + off, *mask;
                uint64_t plen;
                int opcode;

                if (avail < 2)
                        break;
                opcode = f[0] & 0x0f;
                if (f[0] & 0x70) {
                        *code = 1002; /* no extensions were negotiated */
                        return -EPROTO;
                }
                if (!(f[1] & 0x80)) {
                        *code = 1002; /* clients must mask (RFC 6455 5.1) */
                        return -EPROTO;
                }
                plen = f[1] & 0x7f;
                if (plen == 126) {
                        if (avail < 4)
                                break;
                        plen = (uint64_t)f[2] << 8 | f[3];
                        hl = 4;
                } else if (plen == 127) {
                        if (avail < 10)
                                break;
                        plen = 0;
                        for (int i = 0; i < 8; i++)
                                plen = plen << 8 | f[2 + i];
                        hl = 10;
                }
                if (plen > WS_MAX_FRAME) {
                        *code = 1009;
                        return -EMSGSIZE;
                }
                if (avail < hl + 4 + plen)
                        break;
                mask = f + hl;
                for (uint64_t i = 0; i < plen; i++)
                        f[hl + 4 + i] ^= mask[i & 3];
                switch (opcode) {
                case 0x0: case 0x1: case 0x2:      /* data: into the VNC stream */
                        if (write_all(afd, f + hl + 4, (size_t)plen) < 0) {
                                *code = 1011;
                                return -EPIPE;
                        }
                        break;
                case 0x8:                          /* close: answer and end */
                        ws_close(cfd, 1000);
                        return 1;
                case 0x9:                          /* ping */
                        if (plen > 125) {
                                *code = 1002;
                                return -EPROTO;
                        }
                        (void)ws_send(cfd, 0xA, f + hl + 4, (size_t)plen);
                        break;
                case 0xA:                          /* pong */
                        break;
                default:
                        *code = 1002;
                        return -EPROTO;
                }
                off += hl + 4 + (size_t)plen;
        }
        memmove(buf, buf + off, *len - off);
        *len -= off;
        return 0;
}

static void ws_relay(void *p, int cfd, const char *extra, size_t extra_len)
{
        struct ws_ctx *c = p;
        size_t cap = WS_MAX_FRAME + 14, len = 0;
        _cleanup_(freep) uint8_t *in = malloc(cap);
        uint8_t out[16384];
        uint16_t code = 1000;
        int r = 0;

        dv_info("console of vm '%s' opened by %s", c->vm, c->user);
        if (!in || extra_len > cap)
                goto done;
        if (extra_len)
                memcpy(in, extra, extra_len);
        len = extra_len;
        if (c->pending_len && ws_send(cfd, 0x2, c->pending, c->pending_len) < 0)
                goto done;
        for (;;) {
                struct pollfd pf[2] = { { .fd = cfd, .events = POLLIN },
                                        { .fd = c->agent_fd, .events = POLLIN } };
                ssize_t n;

                r = ws_consume(cfd, c->agent_fd, in, &len, &code);
                if (r != 0)
                        break;
                if (poll(pf, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (pf[0].revents) {
                        n = recv(cfd, in + len, cap - len, 0);
                        if (n <= 0)
                                break;
                        len += (size_t)n;
                }
                if (pf[1].revents) {
                        n = recv(c->agent_fd, out, sizeof(out), 0);
                        if (n <= 0) {
                                ws_close(cfd, 1000); /* the VM's VNC went away */
                                break;
                        }
                        if (ws_send(cfd, 0x2, out, (size_t)n) < 0)
                                break;
                }
        }
        if (r < 0) {
                /* Close, then read what the client still sends for a
                 * moment (at most 1 MiB, 1 s), so that it gets the close
                 * frame rather than a reset. */
                struct timeval tv = { .tv_sec = 1 };
                size_t drained = 0;
                ssize_t n;

                ws_close(cfd, code);
                shutdown(cfd, SHUT_WR);
                setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                while (drained < (1 << 20) && (n = recv(cfd, in, cap, 0)) > 0)
                        drained += (size_t)n;
        }
done:
        dv_info("console of vm '%s' (%s) closed", c->vm, c->user);
        ctx_free(c);
}

static bool header_has(const char *v, const char *word)
{
        size_t n = strlen(word);

        for (const char *p = v; p && *p;) {
                p += strspn(p, " \t,");
                if (strncasecmp(p, word, n) == 0 && (p[n] == 0 || p[n] == ',' || p[n] == ' '))
                        return true;
                p += strcspn(p, ",");
        }
        return false;
}

void dv_api_console_ws(struct dv_api *a)
{
        const struct dv_http_request *req = a->req;
        const char *upgrade = dv_http_header(req, "Upgrade");
        const char *connection = dv_http_header(req, "Connection");
        const char *key = dv_http_header(req, "Sec-WebSocket-Key");
        const char *version = dv_http_header(req, "Sec-WebSocket-Version");
        const char *origin = dv_http_header(req, "Origin");
        const char *hosthdr = dv_http_header(req, "Host");
        const char *protos = dv_http_header(req, "Sec-WebSocket-Protocol");
        const char *ticket = dv_http_query(req, "ticket");
        _cleanup_(freep) char *buf = NULL, *accept_in = NULL;
        const char *segs[8];
        json_t *vm = NULL, *host = NULL;
        struct ws_ctx *c = NULL;
        char user[64], why[512];
        uint8_t sha[20];
        int n, r;

        if (!dv_api_is(a, "GET")) {
                dv_api_bad_method(a);
                return;
        }
        n = dv_http_split_path(req->path, &buf, segs, 8);
        if (n != 6) {
                dv_api_error(a, 404, "not-found", "no such path: %.200s", req->path);
                return;
        }
        if (!upgrade || strcasecmp(upgrade, "websocket") != 0 || !connection ||
            !header_has(connection, "upgrade") || !version || strcmp(version, "13") != 0 || !key ||
            strlen(key) != 24) {
                dv_api_error(a, 400, "bad-upgrade", "a WebSocket (version 13) upgrade is expected");
                return;
        }
        /* A page of another origin cannot use a ticket it got hold of. */
        if (origin) {
                const char *o = strncmp(origin, "http://", 7) == 0    ? origin + 7
                                : strncmp(origin, "https://", 8) == 0 ? origin + 8
                                                                      : NULL;
                if (!o || !hosthdr || strcasecmp(o, hosthdr) != 0) {
                        dv_api_error(a, 403, "forbidden", "origin '%.100s' is not this server",
                                     origin);
                        return;
                }
        }
        vm = dv_mgr_get(a->m, DV_KIND_VM, segs[3]);
        r = dv_auth_ticket_take(a->m->auth, ticket, vm ? dv_doc_str(vm, "id") : "", user);
        if (r == -EXDEV) {
                dv_api_error(a, 403, "ticket-mismatch", "the console ticket is for another vm");
                goto out;
        }
        if (r < 0) {
                dv_api_error(a, 401, "invalid-ticket",
                             "the console ticket is missing, unknown, used or expired");
                goto out;
        }
        if (!dv_streq(dv_doc_str(vm, "state"), "running") &&
            !dv_streq(dv_doc_str(vm, "state"), "paused")) {
                dv_api_error(a, 409, "invalid-state", "vm '%s' is %s", dv_doc_str(vm, "name"),
                             dv_doc_str(vm, "state"));
                goto out;
        }
        host = dv_mgr_get(a->m, DV_KIND_HOST, dv_doc_str(vm, "host_id"));
        if (!host) {
                dv_api_error(a, 503, "agent-unreachable", "the host of vm '%s' is unknown",
                             dv_doc_str(vm, "name"));
                goto out;
        }
        pthread_mutex_lock(&consoles_lock);
        if (consoles_open >= WS_MAX_CONSOLES) {
                pthread_mutex_unlock(&consoles_lock);
                dv_api_error(a, 503, "busy", "%d consoles are open", WS_MAX_CONSOLES);
                goto out;
        }
        consoles_open++;
        pthread_mutex_unlock(&consoles_lock);
        c = calloc(1, sizeof(*c));
        if (!c) {
                consoles_release();
                dv_api_internal(a, -ENOMEM, "console");
                goto out;
        }
        c->agent_fd = -1;
        snprintf(c->vm, sizeof(c->vm), "%s", dv_doc_str(vm, "name"));
        snprintf(c->user, sizeof(c->user), "%s", user);
        r = agent_vnc_open(dv_doc_str(host, "url"), dv_doc_str(host, "_credential"),
                           dv_doc_str(vm, "id"), &c->agent_fd, &c->pending, &c->pending_len, why,
                           sizeof(why));
        if (r < 0) {
                ctx_free(c);
                dv_api_error(a, 502, "agent-error", "host '%s': vnc of vm '%s': %s",
                             dv_doc_str(host, "name"), dv_doc_str(vm, "name"), why);
                goto out;
        }
        accept_in = dv_asprintf("%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
        dv_sha1(accept_in, strlen(accept_in), sha);
        dv_base64(sha, 20, a->resp->ws_accept);
        a->resp->status = 101;
        a->resp->upgrade_proto = "websocket";
        a->resp->upgrade = ws_relay;
        a->resp->upgrade_ctx = c;
        a->resp->upgrade_free = ctx_free;
        if (protos && header_has(protos, "binary"))
                a->resp->ws_protocol = "binary";
        dv_mgr_event(a->m, user, "vm.console-opened", "vm", vm, "console of vm '%s' opened",
                     dv_doc_str(vm, "name"));
out:
        json_decref(vm);
        json_decref(host);
}
