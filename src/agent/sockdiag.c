/* Aborting hung TCP connects through sock_diag (sockdiag.h). */
#include "sockdiag.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

#define NL_BUF 32768

struct diag_req {
        struct nlmsghdr nlh;       /* netlink header */
        struct inet_diag_req_v2 r; /* the request */
};

static int nl_send(int fd, uint16_t type, uint16_t flags, uint32_t seq,
                   const struct inet_diag_sockid *id)
{
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        struct diag_req req = {
                .nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = type,
                         .nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags), .nlmsg_seq = seq },
                .r = { .sdiag_family = AF_INET, .sdiag_protocol = IPPROTO_TCP,
                       .idiag_states = 1U << TCP_SYN_SENT },
        };

        if (id)
                req.r.id = *id;
        if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        return 0;
}

/* The SYN-SENT sockets towards dst:port (network order) into ids. */
static int find_connects(int fd, struct in_addr dst, uint16_t port,
                         struct inet_diag_sockid *ids, size_t *n)
{
        _cleanup_(freep) char *buf = malloc(NL_BUF);
        int r;

        if (!buf)
                return -ENOMEM;
        r = nl_send(fd, SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, 1, NULL);
        if (r < 0)
                return r;
        for (;;) {
                ssize_t len = recv(fd, buf, NL_BUF, 0);
                struct nlmsghdr *h;

                if (len < 0)
                        return errno == EINTR ? 0 : -errno;
                if (len == 0)
                        return -EIO;
                for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
                        const struct inet_diag_msg *m;

                        if (h->nlmsg_type == NLMSG_DONE)
                                return 0;
                        if (h->nlmsg_type == NLMSG_ERROR) {
                                const struct nlmsgerr *e = NLMSG_DATA(h);

                                return e->error < 0 ? e->error : -EIO;
                        }
                        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
                            h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
                                continue;
                        m = NLMSG_DATA(h);
                        if (m->idiag_state == TCP_SYN_SENT && m->id.idiag_dport == port &&
                            m->id.idiag_dst[0] == dst.s_addr && *n < DV_SOCKDIAG_MAX)
                                ids[(*n)++] = m->id;
                }
        }
}

int dv_sockdiag_abort_connects(struct in_addr dst, int port, int *ret_aborted)
{
        struct inet_diag_sockid ids[DV_SOCKDIAG_MAX];
        struct nlmsgerr ack_err;
        size_t n = 0;
        int fd, r, aborted = 0;

        if (port < 1 || port > 65535)
                return -EINVAL;
        fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (fd < 0)
                return -errno;
        r = find_connects(fd, dst, htons((uint16_t)port), ids, &n);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                char buf[512];
                ssize_t len;
                const struct nlmsghdr *h = (const struct nlmsghdr *)buf;

                r = nl_send(fd, SOCK_DESTROY, NLM_F_ACK, (uint32_t)(2 + i), &ids[i]);
                if (r < 0)
                        break;
                len = recv(fd, buf, sizeof(buf), 0);
                if (len < 0) {
                        r = -errno;
                        break;
                }
                if (!NLMSG_OK(h, (size_t)len) || h->nlmsg_type != NLMSG_ERROR ||
                    h->nlmsg_len < NLMSG_LENGTH(sizeof(ack_err))) {
                        r = -EIO;
                        break;
                }
                memcpy(&ack_err, NLMSG_DATA(h), sizeof(ack_err));
                if (ack_err.error == 0)
                        aborted++;
                else if (ack_err.error != -ENOENT) /* it connected or went meanwhile */
                        r = ack_err.error;
        }
        close(fd);
        if (r < 0)
                return r;
        *ret_aborted = aborted;
        return 0;
}
