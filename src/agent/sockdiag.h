/* Sockets of this network namespace through the kernel's sock_diag
 * netlink interface (NETLINK_SOCK_DIAG): find TCP connects that hang and
 * abort them. Why: QEMU's migration connects to the target with the
 * kernel's default SYN retries (about 2 min when SYNs go unanswered: a cut
 * network, a firewall that drops), and neither migrate_cancel nor yank
 * reaches a connect in progress; SOCK_DESTROY makes it fail at once with
 * ECONNABORTED (needs CONFIG_INET_DIAG_DESTROY and CAP_NET_ADMIN). Library
 * code: no logging. */
#pragma once

#include <netinet/in.h>

#define DV_SOCKDIAG_MAX 16 /* sockets aborted per call */

/* Abort every IPv4 TCP socket of this namespace still in SYN-SENT towards
 * dst:port (port in host order). *ret_aborted: how many. 0, or a negative
 * errno (-EOPNOTSUPP: the kernel cannot destroy sockets). */
int dv_sockdiag_abort_connects(struct in_addr dst, int port, int *ret_aborted);
