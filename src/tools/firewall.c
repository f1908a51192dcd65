/* Does the guest filter packets? Asked of the kernel directly, so that it
 * works without iptables/nft binaries and runs no command:
 *  - nftables (and iptables-nft): a netlink dump of every rule;
 *  - legacy iptables: for each loaded table, IPT_SO_GET_INFO gives the
 *    number of entries; a table with only its built-in chain policies has
 *    one per hook plus an error entry. A chain policy other than ACCEPT
 *    with no rule is not detected (docs/tools.md). */
#include "tools.h"

#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

/* <linux/netfilter_ipv4/ip_tables.h> pulls kernel-only types on some
 * systems; the two stable ABI items it would give are spelled out. */
#define DV_IPT_SO_GET_INFO 64  /* IPT_BASE_CTL, also IP6T_SO_GET_INFO */
struct dv_ipt_getinfo {
        char name[32];
        unsigned int valid_hooks;
        unsigned int hook_entry[5];
        unsigned int underflow[5];
        unsigned int num_entries;
        unsigned int size;
};

/* Number of nftables rules, -errno when nf_tables is absent. */
static int64_t nft_rule_count(void)
{
        _cleanup_(closep) int fd = -1;
        struct {
                struct nlmsghdr nh;
                struct nfgenmsg nfg;
        } req = {
                .nh = {
                        .nlmsg_len = sizeof(req),
                        .nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE,
                        .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
                        .nlmsg_seq = 1,
                },
                .nfg = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0 },
        };
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        struct timeval tv = { .tv_sec = 1 };
        static char buf[65536];
        int64_t count = 0;

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
        if (fd < 0)
                return -errno;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        /* A dump of a huge ruleset is cut short: the answer is "rules" anyway. */
        for (int rounds = 0; rounds < 256; rounds++) {
                ssize_t k = recv(fd, buf, sizeof(buf), 0);
                struct nlmsghdr *nh;
                size_t len;

                if (k < 0)
                        return errno == EINTR ? count : -errno;
                len = (size_t)k;
                for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
                        if (nh->nlmsg_type == NLMSG_DONE)
                                return count;
                        if (nh->nlmsg_type == NLMSG_ERROR) {
                                struct nlmsgerr *ne = NLMSG_DATA(nh);
                                return ne->error < 0 ? ne->error : count;
                        }
                        if (nh->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE))
                                count++;
                }
        }
        return count;
}

/* Entries beyond the built-in policies in the loaded legacy tables of one
 * family; -ENOENT when none is loaded. */
static int64_t xt_extra_entries(int family, const char *names_path)
{
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_(closep) int fd = -1;
        char name[64];
        int64_t extra = 0;

        f = fopen(names_path, "re");
        if (!f)
                return -ENOENT;
        fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
        if (fd < 0)
                return -errno;
        while (fgets(name, sizeof(name), f)) {
                struct dv_ipt_getinfo info;
                socklen_t len = sizeof(info);
                unsigned hooks;

                name[strcspn(name, "\n")] = '\0';
                if (name[0] == '\0' || strlen(name) >= sizeof(info.name))
                        continue;
                memset(&info, 0, sizeof(info));
                memcpy(info.name, name, strlen(name));
                if (getsockopt(fd, family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6, DV_IPT_SO_GET_INFO,
                               &info, &len) < 0)
                        continue;
                hooks = (unsigned)__builtin_popcount(info.valid_hooks);
                if (info.num_entries > hooks + 1)
                        extra += info.num_entries - hooks - 1;
        }
        return extra;
}

void dv_firewall_probe(struct dv_firewall *fw)
{
        int64_t nft = nft_rule_count();
        int64_t v4 = xt_extra_entries(AF_INET, "/proc/net/ip_tables_names");
        int64_t v6 = xt_extra_entries(AF_INET6, "/proc/net/ip6_tables_names");
        char a[48], b[48], c[48];

        fw->rule_count = (nft > 0 ? nft : 0) + (v4 > 0 ? v4 : 0) + (v6 > 0 ? v6 : 0);
        fw->rules = fw->rule_count > 0;
        if (nft >= 0)
                snprintf(a, sizeof(a), "nftables: %lld rules", (long long)nft);
        else
                snprintf(a, sizeof(a), "nftables: not available");
        if (v4 >= 0)
                snprintf(b, sizeof(b), "ip_tables: %lld entries", (long long)v4);
        else
                snprintf(b, sizeof(b), "ip_tables: not loaded");
        if (v6 >= 0)
                snprintf(c, sizeof(c), "ip6_tables: %lld entries", (long long)v6);
        else
                snprintf(c, sizeof(c), "ip6_tables: not loaded");
        snprintf(fw->detail, sizeof(fw->detail), "%s; %s; %s", a, b, c);
}
