/* net-config: apply IPv4 address/prefix/gateway per NIC, found by MAC.
 * Declarative and idempotent: the NIC is brought up, the address is added
 * when missing, its other IPv4 addresses are removed, and its default route
 * is made to be exactly "via GATEWAY metric M" (M counts the NICs with a
 * gateway, in the order given, from 0) or removed when no gateway is given.
 * A NIC without "ip" keeps its addresses. Uses rtnetlink; runs no command. */
#include "tools.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>

#define NET_NICS_MAX 16

struct nic_spec {
        char mac[18];          /* lower case */
        char ifname[IF_NAMESIZE];
        int ifindex;
        bool has_ip;
        struct in_addr ip;
        int prefix;
        bool has_gw;
        struct in_addr gw;
};

struct nlreq {
        struct nlmsghdr nh;
        union {
                struct ifaddrmsg ifa;
                struct rtmsg rt;
        };
        char attrs[64];
};

static void add_attr(struct nlreq *r, unsigned short type, const void *data, size_t len)
{
        struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->nh.nlmsg_len));

        a->rta_type = type;
        a->rta_len = (unsigned short)RTA_LENGTH(len);
        memcpy(RTA_DATA(a), data, len);
        r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Send one request and wait for its acknowledgement. */
static int nl_talk(int fd, struct nlreq *r)
{
        static uint32_t seq;
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        char buf[4096];

        r->nh.nlmsg_seq = ++seq;
        r->nh.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
        if (sendto(fd, r, r->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        for (;;) {
                ssize_t k = recv(fd, buf, sizeof(buf), 0);
                size_t len;

                if (k < 0)
                        return errno == EINTR ? -EINTR : -errno;
                len = (size_t)k;
                for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len);
                     nh = NLMSG_NEXT(nh, len)) {
                        if (nh->nlmsg_seq != seq || nh->nlmsg_type != NLMSG_ERROR)
                                continue;
                        return ((struct nlmsgerr *)NLMSG_DATA(nh))->error;
                }
        }
}

static int addr_change(int fd, int type, int ifindex, struct in_addr ip, int prefix)
{
        struct nlreq r;

        memset(&r, 0, sizeof(r));
        r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
        r.nh.nlmsg_type = (unsigned short)type;
        if (type == RTM_NEWADDR)
                r.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
        r.ifa.ifa_family = AF_INET;
        r.ifa.ifa_prefixlen = (unsigned char)prefix;
        r.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
        r.ifa.ifa_index = (unsigned)ifindex;
        add_attr(&r, IFA_LOCAL, &ip, sizeof(ip));
        add_attr(&r, IFA_ADDRESS, &ip, sizeof(ip));
        if (type == RTM_NEWADDR && prefix < 31) {
                struct in_addr bc;
                uint32_t host = prefix == 0 ? 0xffffffffu : (0xffffffffu >> prefix);
                bc.s_addr = ip.s_addr | htonl(host);
                add_attr(&r, IFA_BROADCAST, &bc, sizeof(bc));
        }
        return nl_talk(fd, &r);
}

static int route_change(int fd, int type, int ifindex, struct in_addr gw, uint32_t metric)
{
        struct nlreq r;

        memset(&r, 0, sizeof(r));
        r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
        r.nh.nlmsg_type = (unsigned short)type;
        if (type == RTM_NEWROUTE)
                r.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
        r.rt.rtm_family = AF_INET;
        r.rt.rtm_table = RT_TABLE_MAIN;
        /* protocol 0 on delete matches a route whoever added it */
        r.rt.rtm_protocol = type == RTM_NEWROUTE ? RTPROT_BOOT : 0;
        r.rt.rtm_scope = type == RTM_NEWROUTE ? RT_SCOPE_UNIVERSE : RT_SCOPE_NOWHERE;
        r.rt.rtm_type = RTN_UNICAST;
        add_attr(&r, RTA_GATEWAY, &gw, sizeof(gw));
        add_attr(&r, RTA_OIF, &ifindex, sizeof(ifindex));
        add_attr(&r, RTA_PRIORITY, &metric, sizeof(metric));
        return nl_talk(fd, &r);
}

static int iface_by_mac(const char *mac, char *ifname)
{
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        d = opendir("/sys/class/net");
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char path[300], addr[32];

                if (de->d_name[0] == '.' || strlen(de->d_name) >= IF_NAMESIZE)
                        continue;
                snprintf(path, sizeof(path), "/sys/class/net/%s/address", de->d_name);
                if (dv_read_small(path, addr, sizeof(addr)) > 0 && strcasecmp(addr, mac) == 0) {
                        snprintf(ifname, IF_NAMESIZE, "%s", de->d_name);
                        return 0;
                }
        }
        return -ENOENT;
}

static bool mac_valid(const char *s)
{
        if (strlen(s) != 17)
                return false;
        for (int i = 0; i < 17; i++) {
                if (i % 3 == 2) {
                        if (s[i] != ':')
                                return false;
                } else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                             (s[i] >= 'A' && s[i] <= 'F')))
                        return false;
        }
        return true;
}

static int parse_nic(const struct dv_tj *o, struct nic_spec *n, struct dv_op_err *e)
{
        static const char *const keys[] = { "mac", "ip", "prefix", "gateway", NULL };
        const char *mac = NULL, *ip = NULL, *gw = NULL;
        int64_t prefix = -1;

        if (o->type != DV_TJ_OBJECT)
                return dv_op_fail(e, "invalid-args", "each of 'nics' must be an object");
        if (dv_arg_check_keys(o, keys, e) < 0 || dv_arg_str(o, "mac", true, 17, &mac, e) < 0 ||
            dv_arg_str(o, "ip", false, 15, &ip, e) < 0 ||
            dv_arg_int(o, "prefix", false, 1, 32, &prefix, e) < 0 ||
            dv_arg_str(o, "gateway", false, 15, &gw, e) < 0)
                return -EINVAL;
        if (!mac_valid(mac))
                return dv_op_fail(e, "invalid-args", "'mac' must look like 52:54:00:12:34:56");
        for (int i = 0; i < 17; i++)
                n->mac[i] = (char)(mac[i] >= 'A' && mac[i] <= 'F' ? mac[i] + 32 : mac[i]);
        n->mac[17] = '\0';
        if (ip) {
                if (inet_pton(AF_INET, ip, &n->ip) != 1)
                        return dv_op_fail(e, "invalid-args", "'ip' must be an IPv4 address");
                if (prefix < 0)
                        return dv_op_fail(e, "invalid-args", "'prefix' is required with 'ip'");
                n->has_ip = true;
                n->prefix = (int)prefix;
        } else if (prefix >= 0)
                return dv_op_fail(e, "invalid-args", "'prefix' needs 'ip'");
        if (gw) {
                if (inet_pton(AF_INET, gw, &n->gw) != 1)
                        return dv_op_fail(e, "invalid-args", "'gateway' must be an IPv4 address");
                n->has_gw = true;
        }
        return 0;
}

static int link_up(const char *ifname, bool *changed)
{
        _cleanup_(closep) int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr;

        if (fd < 0)
                return -errno;
        memset(&ifr, 0, sizeof(ifr));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        if (ifr.ifr_flags & IFF_UP)
                return 0;
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                return -errno;
        *changed = true;
        return 0;
}

/* Make the NIC's IPv4 addresses exactly {ip/prefix}. Other addresses go
 * first: deleting a primary address also deletes the secondaries of its
 * subnet (unless promote_secondaries is set), so adding first could lose
 * the new one. The default route, flushed along with them, is put back by
 * apply_route() afterwards. */
static bool has_addr(const struct nic_spec *n)
{
        struct ifaddrs *ifa = NULL;
        bool have = false;

        if (getifaddrs(&ifa) < 0)
                return false;
        for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
                struct sockaddr_in *a = (struct sockaddr_in *)i->ifa_addr;
                struct sockaddr_in *m = (struct sockaddr_in *)i->ifa_netmask;

                if (a && a->sin_family == AF_INET && strcmp(i->ifa_name, n->ifname) == 0 &&
                    a->sin_addr.s_addr == n->ip.s_addr && m &&
                    __builtin_popcount(m->sin_addr.s_addr) == n->prefix)
                        have = true;
        }
        freeifaddrs(ifa);
        return have;
}

static int apply_addr(int fd, const struct nic_spec *n, bool *changed)
{
        struct ifaddrs *ifa = NULL;
        int r = 0;

        if (getifaddrs(&ifa) < 0)
                return -errno;
        for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
                struct sockaddr_in *a = (struct sockaddr_in *)i->ifa_addr;
                struct sockaddr_in *m = (struct sockaddr_in *)i->ifa_netmask;
                int plen;

                if (!a || a->sin_family != AF_INET || strcmp(i->ifa_name, n->ifname) != 0)
                        continue;
                plen = m ? __builtin_popcount(m->sin_addr.s_addr) : 0;
                if (a->sin_addr.s_addr == n->ip.s_addr && plen == n->prefix)
                        continue;
                r = addr_change(fd, RTM_DELADDR, n->ifindex, a->sin_addr, plen);
                if (r < 0 && r != -EADDRNOTAVAIL)
                        break;
                r = 0;
                *changed = true;
        }
        freeifaddrs(ifa);
        /* Deleting a primary may have taken the wanted secondary with it. */
        if (r < 0 || has_addr(n))
                return r;
        r = addr_change(fd, RTM_NEWADDR, n->ifindex, n->ip, n->prefix);
        if (r < 0)
                return r;
        *changed = true;
        return 0;
}

/* Make the NIC's default routes exactly {via gw metric} (none without gw). */
static int apply_route(int fd, const struct nic_spec *n, uint32_t metric, bool *changed)
{
        struct old { struct in_addr gw; uint32_t metric; } old[16];
        size_t nold = 0;
        bool have = false;
        char line[256];
        FILE *f;

        f = fopen("/proc/net/route", "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f) && nold < ELEMENTSOF(old)) {
                char ifn[IF_NAMESIZE + 1];
                unsigned long dst, gw, flags, refcnt, use, met, mask;

                if (sscanf(line, "%16s %lx %lx %lx %lu %lu %lu %lx", ifn, &dst, &gw, &flags, &refcnt,
                           &use, &met, &mask) != 8)
                        continue;
                if (dst != 0 || mask != 0 || strcmp(ifn, n->ifname) != 0)
                        continue;
                old[nold].gw.s_addr = (in_addr_t)gw;
                old[nold].metric = (uint32_t)met;
                if (n->has_gw && old[nold].gw.s_addr == n->gw.s_addr && old[nold].metric == metric)
                        have = true;
                nold++;
        }
        fclose(f);
        if (n->has_gw && !have) {
                int r = route_change(fd, RTM_NEWROUTE, n->ifindex, n->gw, metric);
                if (r < 0)
                        return r;
                *changed = true;
        }
        for (size_t i = 0; i < nold; i++) {
                int r;

                if (n->has_gw && old[i].gw.s_addr == n->gw.s_addr && old[i].metric == metric)
                        continue;
                r = route_change(fd, RTM_DELROUTE, n->ifindex, old[i].gw, old[i].metric);
                if (r < 0 && r != -ESRCH)
                        return r;
                *changed = true;
        }
        return 0;
}

int dv_op_net_config(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                     struct dv_tw *w, struct dv_op_err *e)
{
        static const char *const keys[] = { "nics", NULL };
        struct nic_spec nics[NET_NICS_MAX];
        const struct dv_tj *arr;
        _cleanup_(closep) int fd = -1;
        struct timeval tv = { .tv_sec = 2 };
        size_t n = 0;
        uint32_t metric = 0;

        if (dv_arg_check_keys(args, keys, e) < 0)
                return -EINVAL;
        arr = dv_tj_get(args, "nics");
        if (!arr || arr->type != DV_TJ_ARRAY || arr->n < 1 || arr->n > NET_NICS_MAX)
                return dv_op_fail(e, "invalid-args", "'nics' must be an array of 1..%d objects",
                                  NET_NICS_MAX);
        memset(nics, 0, sizeof(nics));
        for (const struct dv_tj *o = arr->child; o; o = o->next, n++) {
                if (parse_nic(o, &nics[n], e) < 0)
                        return -EINVAL;
                for (size_t j = 0; j < n; j++)
                        if (strcmp(nics[j].mac, nics[n].mac) == 0)
                                return dv_op_fail(e, "invalid-args", "MAC %s given twice", nics[n].mac);
        }
        /* Every NIC must exist before anything changes. */
        for (size_t i = 0; i < n; i++) {
                if (iface_by_mac(nics[i].mac, nics[i].ifname) < 0)
                        return dv_op_fail(e, "no-such-nic", "no interface with MAC %s", nics[i].mac);
                nics[i].ifindex = (int)if_nametoindex(nics[i].ifname);
                if (nics[i].ifindex <= 0)
                        return dv_op_fail(e, "no-such-nic", "interface %s vanished", nics[i].ifname);
        }
        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return dv_op_fail(e, "failed", "netlink socket: %s", strerror(errno));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

        dv_tw_arr_begin(w, "nics");
        for (size_t i = 0; i < n; i++) {
                bool changed = false;
                int r;

                r = link_up(nics[i].ifname, &changed);
                if (r >= 0 && nics[i].has_ip)
                        r = apply_addr(fd, &nics[i], &changed);
                if (r >= 0)
                        r = apply_route(fd, &nics[i], metric, &changed);
                if (r < 0)
                        return dv_op_fail(e, "failed", "%s (%s): %s", nics[i].ifname, nics[i].mac,
                                          strerror(-r));
                if (nics[i].has_gw)
                        metric++;
                if (changed)
                        dv_log("net-config: %s (%s) updated", nics[i].ifname, nics[i].mac);
                dv_tw_obj_begin(w, NULL);
                dv_tw_str(w, "mac", nics[i].mac);
                dv_tw_str(w, "name", nics[i].ifname);
                dv_tw_bool(w, "changed", changed);
                dv_tw_obj_end(w);
        }
        dv_tw_arr_end(w);
        return 0;
}
