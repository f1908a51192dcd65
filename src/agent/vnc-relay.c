/* GET /agent/v1/vms/{id}/vnc with "Upgrade: drover-vnc": the manager's
 * console websocket (src/manager/console-ws.c) reaches a VM's VNC UNIX
 * socket through this. Authenticated like every agent call (the host's
 * credential); the UNIX socket is connected before the 101, so a VM that
 * does not run is a plain HTTP error. After the 101 bytes pass both ways
 * unchanged until either side closes. QEMU still asks for the VM's VNC
 * password (the console ticket). */
#include "vnc-relay.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define RELAY_MAX 16

struct relay {
        int vnc_fd;       /* the VM's VNC socket */
        char vm_id[64];   /* for the log */
};

static int relays_open;
static pthread_mutex_t relays_lock = PTHREAD_MUTEX_INITIALIZER;

static void relay_free(void *p)
{
        struct relay *rl = p;

        close(rl->vnc_fd);
        free(rl);
        pthread_mutex_lock(&relays_lock);
        relays_open--;
        pthread_mutex_unlock(&relays_lock);
}

static int send_all(int fd, const char *p, size_t n)
{
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

static void relay_run(void *p, int fd, const char *extra, size_t extra_len)
{
        struct relay *rl = p;
        char buf[16384];

        dv_info("vm %s: vnc relay opened", rl->vm_id);
        if (extra_len && send_all(rl->vnc_fd, extra, extra_len) < 0)
                goto done;
        for (;;) {
                struct pollfd pf[2] = { { .fd = fd, .events = POLLIN },
                                        { .fd = rl->vnc_fd, .events = POLLIN } };
                ssize_t n;

                if (poll(pf, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (pf[0].revents) {
                        n = recv(fd, buf, sizeof(buf), 0);
                        if (n <= 0 || send_all(rl->vnc_fd, buf, (size_t)n) < 0)
                                break;
                }
                if (pf[1].revents) {
                        n = recv(rl->vnc_fd, buf, sizeof(buf), 0);
                        if (n <= 0 || send_all(fd, buf, (size_t)n) < 0)
                                break;
                }
        }
done:
        dv_info("vm %s: vnc relay closed", rl->vm_id);
        relay_free(rl);
}

void dv_agent_vnc_relay(struct dv_agent *agent, const char *id,
                        const struct dv_http_request *req, struct dv_http_response *resp)
{
        const char *upgrade = dv_http_header(req, "Upgrade");
        _cleanup_(freep) char *path = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct dv_error err = {};
        struct relay *rl;
        int fd, r;

        if (strcmp(req->method, "GET") != 0 || !upgrade || strcasecmp(upgrade, "drover-vnc") != 0) {
                dv_http_reply_error(resp, 400, "bad-upgrade",
                                    "GET with 'Upgrade: drover-vnc' is expected");
                return;
        }
        if (!agent->ops->vnc_path) {
                dv_http_reply_error(resp, 409, "not-supported", "this driver has no VNC console");
                return;
        }
        r = agent->ops->vnc_path(agent->hv, id, &path, &err);
        if (r < 0) {
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        if (strlen(path) >= sizeof(sa.sun_path)) {
                dv_http_reply_error(resp, 500, "internal", "the VNC socket path is too long");
                return;
        }
        pthread_mutex_lock(&relays_lock);
        if (relays_open >= RELAY_MAX) {
                pthread_mutex_unlock(&relays_lock);
                dv_http_reply_error(resp, 503, "busy", "%d consoles are open", RELAY_MAX);
                return;
        }
        relays_open++;
        pthread_mutex_unlock(&relays_lock);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                dv_http_reply_error(resp, 502, "vnc-unreachable", "vm %s: connect %s: %s", id,
                                    path, strerror(errno));
                if (fd >= 0)
                        close(fd);
                goto release;
        }
        rl = calloc(1, sizeof(*rl));
        if (!rl) {
                close(fd);
                dv_http_reply_error(resp, 500, "internal", "out of memory");
                goto release;
        }
        rl->vnc_fd = fd;
        snprintf(rl->vm_id, sizeof(rl->vm_id), "%s", id);
        resp->status = 101;
        resp->upgrade_proto = "drover-vnc";
        resp->upgrade = relay_run;
        resp->upgrade_ctx = rl;
        resp->upgrade_free = relay_free;
        return;
release:
        pthread_mutex_lock(&relays_lock);
        relays_open--;
        pthread_mutex_unlock(&relays_lock);
}
