/* The network diagnosis, pure part: the DVS health analysis (nethealth.c:
 * who hears whom on which VLAN) and the decision tree of `drover net
 * diagnose` (netdiag.c) over the facts api-net.c gathers. Each diagnosis
 * test starts from one healthy pair of VMs and breaks one thing, then
 * checks what an operator reads: the conclusion, the faults (exactly the
 * expected ones, nothing else blamed), the status of the checks that
 * matter, and can_talk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "netdiag.h"
#include "nethealth.h"

/* ---- helpers ----------------------------------------------------------------- */

static json_t *J(const char *text)
{
        json_error_t err;
        json_t *v = json_loads(text, JSON_DECODE_ANY, &err);

        if (!v)
                fail_msg("bad JSON in the test: %s: %s", err.text, text);
        return v;
}

static void dump(const char *what, json_t *v)
{
        char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);

        fprintf(stderr, "%s:\n%s\n", what, s ? s : "(null)");
        free(s);
}

/* What r heard from s on VLAN vlan (frames of each size). */
typedef void link_fn(int r, int s, int vlan, int *small, int *large);

static void link_all(int r, int s, int vlan, int *small, int *large)
{
        *small = 3;
        *large = 3;
}

/* A probe input (nethealth.h): hosts h1..hN, every host answered with its
 * carrier up; what each heard comes from link(). */
static json_t *probe_input(int nh, const int *vlans, int nv, link_fn *link)
{
        json_t *in = json_pack("{s:[],s:i,s:[]}", "vlans", "mtu", 1500, "hosts");
        json_t *hosts = json_object_get(in, "hosts");

        for (int v = 0; v < nv; v++)
                json_array_append_new(json_object_get(in, "vlans"), json_integer(vlans[v]));
        for (int r = 0; r < nh; r++) {
                json_t *rx = json_array();
                char name[16];

                for (int s = 0; s < nh; s++) {
                        char from[16];

                        if (s == r)
                                continue;
                        snprintf(from, sizeof(from), "h%d", s + 1);
                        for (int v = 0; v < nv; v++) {
                                int small = 0, large = 0;

                                link(r, s, vlans[v], &small, &large);
                                if (!small && !large)
                                        continue;
                                json_array_append_new(rx, json_pack("{s:s,s:i,s:i,s:i}", "host",
                                                                    from, "vlan", vlans[v],
                                                                    "small", small, "large",
                                                                    large));
                        }
                }
                snprintf(name, sizeof(name), "h%d", r + 1);
                json_array_append_new(hosts, json_pack("{s:s,s:n,s:b,s:o,s:[]}", "host", name,
                                                       "error", "carrier", 1, "received", rx,
                                                       "send_errors"));
        }
        return in;
}

static json_t *analyze(json_t *input)
{
        json_t *out = dv_health_analyze(input);

        assert_non_null(out);
        json_decref(input);
        return out;
}

static json_t *host_in(json_t *input, int i)
{
        return json_array_get(json_object_get(input, "hosts"), i);
}

static void assert_status(json_t *health, const char *host, int vlan, const char *status)
{
        const char *st = dv_health_status(health, host, vlan);

        if (!st || strcmp(st, status) != 0) {
                dump("health", health);
                fail_msg("%s/%d: expected %s, got %s", host, vlan, status, st ? st : "(none)");
        }
}

static json_t *host_out(json_t *health, const char *host)
{
        size_t i;
        json_t *h;

        json_array_foreach(json_object_get(health, "hosts"), i, h)
                if (strcmp(json_string_value(json_object_get(h, "host")), host) == 0)
                        return h;
        fail_msg("no host %s in the health result", host);
        return NULL;
}

/* problems, each "host/vlan/status" ("-" for a missing field), in order. */
static void assert_problems(json_t *health, const char *const *expect, size_t n)
{
        json_t *problems = json_object_get(health, "problems"), *p;
        size_t i;

        if (json_array_size(problems) != n)
                goto bad;
        json_array_foreach(problems, i, p) {
                char buf[128];

                if (json_object_get(p, "vlan"))
                        snprintf(buf, sizeof(buf), "%s/%lld/%s",
                                 json_string_value(json_object_get(p, "host")) ?: "-",
                                 (long long)json_integer_value(json_object_get(p, "vlan")),
                                 json_string_value(json_object_get(p, "status")));
                else
                        snprintf(buf, sizeof(buf), "%s/-/%s",
                                 json_string_value(json_object_get(p, "host")) ?: "-",
                                 json_string_value(json_object_get(p, "status")));
                if (strcmp(buf, expect[i]) != 0)
                        goto bad;
                if (!json_string_value(json_object_get(p, "reason")) ||
                    !*json_string_value(json_object_get(p, "reason")))
                        goto bad;
        }
        return;
bad:
        dump("health", health);
        fail_msg("unexpected problems (expected %zu, first %s)", n, n ? expect[0] : "-");
}

/* networks as text: "h1,h2|h3". */
static void assert_networks(json_t *health, const char *expect)
{
        json_t *n, *h;
        size_t i, j;
        char buf[256] = "";

        json_array_foreach(json_object_get(health, "networks"), i, n) {
                if (i)
                        strcat(buf, "|");
                json_array_foreach(n, j, h) {
                        if (j)
                                strcat(buf, ",");
                        strncat(buf, json_string_value(h), 16);
                }
        }
        if (strcmp(buf, expect) != 0) {
                dump("health", health);
                fail_msg("networks: expected %s, got %s", expect, buf);
        }
}

/* ---- the facts of a healthy pair -------------------------------------------- */

#define MAC0 "52:54:00:00:00:01"
#define MAC1 "52:54:00:00:00:02"
#define IP0 "10.10.0.10"
#define IP1 "10.10.0.11"
#define GW "10.10.0.1"

static json_t *portgroup(const char *name, int vlan, const char *subnet, const char *gw)
{
        return json_pack("{s:s,s:s,s:i,s:s?,s:s?}", "name", name, "dvs", "dvs0", "vlan", vlan,
                         "subnet", subnet, "gateway", gw);
}

static json_t *guest_info(const char *mac, const char *ip, int prefix, const char *gw)
{
        return json_pack("{s:s,s:[{s:s,s:s,s:b,s:b,s:i,s:[{s:s,s:s,s:i}]}],s:o,"
                         "s:{s:b,s:i,s:s,s:s},s:s}",
                         "hostname", "guest", "nics", "name", "eth0", "mac", mac, "up", 1,
                         "carrier", 1, "mtu", 1500, "addresses", "family", "inet", "address", ip,
                         "prefix", prefix, "gateway",
                         gw ? json_pack("{s:s,s:s,s:i}", "address", gw, "nic", "eth0", "metric", 0)
                            : json_null(),
                         "firewall", "rules", 0, "rule_count", 0, "method", "nftables", "detail",
                         "nftables: 0 rules", "tools_version", "0.1.0");
}

static json_t *vm_fact(const char *name, const char *host, const char *mac, const char *ip,
                       int prefix, const char *gw)
{
        return json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:i,s:s?},s:i,s:o,s:o,"
                         "s:{s:s,s:b,s:s},s:[]}",
                         "name", name, "state", "running", "host", host, "host_state",
                         "connected", "tools", "running", "nic", "mac", mac, "portgroup", "pg10",
                         "ip", ip, "prefix", prefix, "gateway", gw, "nic_count", 1, "portgroup",
                         portgroup("pg10", 10, "10.10.0.0/24", GW), "guest",
                         guest_info(mac, ip, prefix, gw), "uplink", "interface", "eth1", "carrier",
                         1, "operstate", "up", "conflicts");
}

static json_t *probe(const char *target, bool ok)
{
        return json_pack("{s:s,s:b,s:i,s:i}", "target", target, "ok", ok, "transmitted", 3,
                         "received", ok ? 3 : 0);
}

/* The health of dvs0: hosts h1..h3 on VLAN 10, everyone hears everyone. */
static json_t *healthy_health(void)
{
        static const int vlans[] = { 10 };

        return analyze(probe_input(3, vlans, 1, link_all));
}

/* vm web on h1 (10.10.0.10/24) and vm db on h2 (10.10.0.11/24), both on
 * port group pg10 (VLAN 10, dvs0), gateway 10.10.0.1, every probe ok. */
static json_t *healthy_facts(void)
{
        json_t *f = json_pack("{s:[o,o],s:o,s:{s:[o,o],s:[o,o]}}", "vms",
                              vm_fact("web", "h1", MAC0, IP0, 24, GW),
                              vm_fact("db", "h2", MAC1, IP1, 24, GW), "health", healthy_health(),
                              "probes", "gateway", probe(GW, true), probe(GW, true), "peer",
                              probe(IP1, true), probe(IP0, true));

        assert_non_null(f);
        return f;
}

static json_t *VM(json_t *facts, int i)
{
        return json_array_get(json_object_get(facts, "vms"), i);
}

static void set_probe(json_t *facts, const char *kind, int i, json_t *p)
{
        json_array_set_new(json_object_get(json_object_get(facts, "probes"), kind), i,
                           p ? p : json_null());
}

static void set_health(json_t *facts, json_t *health)
{
        json_object_set_new(facts, "health", health);
}

/* The address of VM i, in its spec and in its guest alike. */
static void set_address(json_t *facts, int i, const char *ip, int prefix, const char *gw)
{
        json_t *vm = VM(facts, i), *nic = json_object_get(vm, "nic");
        const char *mac = json_string_value(json_object_get(nic, "mac"));

        json_object_set_new(nic, "ip", json_string(ip));
        json_object_set_new(nic, "prefix", json_integer(prefix));
        json_object_set_new(nic, "gateway", gw ? json_string(gw) : json_null());
        json_object_set_new(vm, "guest", guest_info(mac, ip, prefix, gw));
}

static void set_portgroup(json_t *facts, int i, json_t *pg)
{
        json_t *vm = VM(facts, i);

        json_object_set(json_object_get(vm, "nic"), "portgroup", json_object_get(pg, "name"));
        json_object_set_new(vm, "portgroup", pg);
}

static json_t *diagnose(json_t *facts)
{
        json_t *r = dv_netdiag_evaluate(facts);

        assert_non_null(r);
        assert_true(json_is_array(json_object_get(r, "checks")));
        assert_true(json_is_array(json_object_get(r, "faults")));
        assert_true(json_is_object(json_object_get(r, "conclusion")));
        return r;
}

/* The first check with id (and vm, host when given), or NULL. */
static json_t *find_check(json_t *r, const char *id, const char *vm, const char *host)
{
        size_t i;
        json_t *c;

        json_array_foreach(json_object_get(r, "checks"), i, c) {
                const char *cvm = json_string_value(json_object_get(c, "vm"));
                const char *chost = json_string_value(json_object_get(c, "host"));

                if (strcmp(json_string_value(json_object_get(c, "id")), id) != 0)
                        continue;
                if (vm && (!cvm || strcmp(cvm, vm) != 0))
                        continue;
                if (host && (!chost || strcmp(chost, host) != 0))
                        continue;
                return c;
        }
        return NULL;
}

static void assert_check(json_t *r, const char *id, const char *vm, const char *host,
                         const char *status)
{
        json_t *c = find_check(r, id, vm, host);
        const char *st = json_string_value(json_object_get(c, "status"));

        if (!c || !st || strcmp(st, status) != 0) {
                dump("result", r);
                fail_msg("check %s (vm %s, host %s): expected %s, got %s", id, vm ? vm : "-",
                         host ? host : "-", status, c ? st : "(no such check)");
        }
        assert_non_null(json_string_value(json_object_get(c, "summary")));
}

/* Exactly these faults ("code/vm/host", "-" where absent), in order; the
 * conclusion is the first, or "none". */
static void assert_faults(json_t *r, const char *const *expect, size_t n)
{
        json_t *faults = json_object_get(r, "faults"), *f;
        const char *concl = json_string_value(json_object_get(json_object_get(r, "conclusion"),
                                                              "fault"));
        size_t i;

        if (json_array_size(faults) != n)
                goto bad;
        json_array_foreach(faults, i, f) {
                char buf[128];

                snprintf(buf, sizeof(buf), "%s/%s/%s",
                         json_string_value(json_object_get(f, "fault")),
                         json_string_value(json_object_get(f, "vm")) ?: "-",
                         json_string_value(json_object_get(f, "host")) ?: "-");
                if (strcmp(buf, expect[i]) != 0)
                        goto bad;
                /* Its check exists and failed; it says what and how to fix. */
                if (!json_string_value(json_object_get(f, "summary")) ||
                    !json_string_value(json_object_get(f, "fix")) ||
                    !json_string_value(json_object_get(f, "check")))
                        goto bad;
        }
        if (!concl)
                goto bad;
        if (n == 0 && strcmp(concl, "none") != 0)
                goto bad;
        if (n > 0 && !json_equal(json_object_get(r, "conclusion"), json_array_get(faults, 0)))
                goto bad;
        return;
bad:
        dump("result", r);
        fail_msg("unexpected faults (expected %zu, first %s)", n, n ? expect[0] : "none");
}

#define FAULTS(r, ...)                                                                    \
        do {                                                                              \
                static const char *const _e[] = { __VA_ARGS__ };                          \
                assert_faults((r), _e, sizeof(_e) / sizeof(_e[0]));                       \
        } while (0)
#define NO_FAULTS(r) assert_faults((r), NULL, 0)

static void assert_can_talk(json_t *r, int expect) /* 1, 0, -1 null */
{
        json_t *ct = json_object_get(r, "can_talk");

        if (expect < 0)
                assert_true(json_is_null(ct));
        else
                assert_true(json_is_boolean(ct) && json_is_true(ct) == (expect == 1));
}

/* No check of the result has this status. */
static void assert_none_with_status(json_t *r, const char *status)
{
        size_t i;
        json_t *c;

        json_array_foreach(json_object_get(r, "checks"), i, c)
                if (strcmp(json_string_value(json_object_get(c, "status")), status) == 0) {
                        dump("result", r);
                        fail_msg("check %s is %s", json_string_value(json_object_get(c, "id")),
                                 status);
                }
}

/* ---- health ------------------------------------------------------------------ */

static void test_health_all_hear(void **state)
{
        static const int vlans[] = { 10, 20 };
        json_t *h = analyze(probe_input(3, vlans, 2, link_all));

        assert_true(json_is_true(json_object_get(h, "ok")));
        assert_networks(h, "h1,h2,h3");
        assert_problems(h, NULL, 0);
        for (int i = 1; i <= 3; i++) {
                char name[16];

                snprintf(name, sizeof(name), "h%d", i);
                assert_status(h, name, 10, "ok");
                assert_status(h, name, 20, "ok");
                assert_string_equal(json_string_value(json_object_get(host_out(h, name), "uplink")),
                                    "up");
                assert_int_equal(dv_health_network_of(h, name), 0);
                assert_int_equal(json_array_size(json_object_get(dv_health_entry(h, name, 10),
                                                                 "peers")),
                                 2);
                assert_int_equal(json_array_size(json_object_get(dv_health_entry(h, name, 10),
                                                                 "missing")),
                                 0);
        }
        assert_int_equal(json_integer_value(json_object_get(h, "mtu")), 1500);
        assert_int_equal(json_array_size(json_object_get(h, "vlans")), 2);
        assert_null(dv_health_status(h, "h1", 30));
        assert_null(dv_health_status(h, "h9", 10));
        assert_int_equal(dv_health_network_of(h, "h9"), -1);
        json_decref(h);
}

/* h3's TOR port does not carry VLAN 10 (it does carry 20). */
static void link_h3_no10(int r, int s, int vlan, int *small, int *large)
{
        link_all(r, s, vlan, small, large);
        if (vlan == 10 && (r == 2 || s == 2))
                *small = *large = 0;
}

static void test_health_not_carried(void **state)
{
        static const int vlans[] = { 10, 20 };
        json_t *h = analyze(probe_input(3, vlans, 2, link_h3_no10));
        static const char *const problems[] = { "h3/10/not-carried" };

        assert_networks(h, "h1,h2,h3");
        assert_status(h, "h3", 10, "not-carried");
        assert_status(h, "h3", 20, "ok");
        assert_status(h, "h1", 20, "ok");
        assert_status(h, "h2", 20, "ok");
        assert_false(json_is_true(json_object_get(h, "ok")));
        assert_non_null(strstr(json_string_value(json_object_get(dv_health_entry(h, "h3", 10),
                                                                 "reason")),
                               "TOR port of h3"));
        /* h1 and h2 reach every host that carries VLAN 10: nothing wrong with
         * them, and h3 is the only one to blame. */
        assert_status(h, "h1", 10, "ok");
        assert_status(h, "h2", 10, "ok");
        assert_problems(h, problems, 1);
        json_decref(h);
}

/* h3 and h4 lack VLAN 10: each is to blame, h1 and h2 are fine. */
static void link_h34_no10(int r, int s, int vlan, int *small, int *large)
{
        link_all(r, s, vlan, small, large);
        if (vlan == 10 && (r >= 2 || s >= 2))
                *small = *large = 0;
}

static void test_health_not_carried_two(void **state)
{
        static const int vlans[] = { 10, 20 };
        json_t *h = analyze(probe_input(4, vlans, 2, link_h34_no10));
        static const char *const problems[] = { "h3/10/not-carried", "h4/10/not-carried" };

        assert_networks(h, "h1,h2,h3,h4");
        assert_status(h, "h1", 10, "ok");
        assert_status(h, "h2", 10, "ok");
        assert_status(h, "h3", 10, "not-carried");
        assert_status(h, "h4", 10, "not-carried");
        assert_problems(h, problems, 2);
        json_decref(h);
}

/* Frames between h1 and h3 are lost on VLAN 10 (both reach h2 on it). */
static void link_h1h3_no10(int r, int s, int vlan, int *small, int *large)
{
        link_all(r, s, vlan, small, large);
        if (vlan == 10 && ((r == 0 && s == 2) || (r == 2 && s == 0)))
                *small = *large = 0;
}

static void test_health_partial(void **state)
{
        static const int vlans[] = { 10, 20 };
        json_t *h = analyze(probe_input(3, vlans, 2, link_h1h3_no10));
        static const char *const problems[] = { "h1/10/partial", "h3/10/partial" };

        assert_status(h, "h1", 10, "partial");
        assert_status(h, "h2", 10, "ok");
        assert_status(h, "h3", 10, "partial");
        assert_string_equal(json_string_value(json_array_get(
                                    json_object_get(dv_health_entry(h, "h1", 10), "missing"), 0)),
                            "h3");
        assert_problems(h, problems, 2);
        json_decref(h);
}

/* {h1,h3} and {h2,h4}: two TORs, not connected. */
static void link_two_groups(int r, int s, int vlan, int *small, int *large)
{
        link_all(r, s, vlan, small, large);
        if (r % 2 != s % 2)
                *small = *large = 0;
}

static void test_health_two_networks(void **state)
{
        static const int vlans[] = { 10 };
        json_t *h = analyze(probe_input(4, vlans, 1, link_two_groups)), *p;
        static const char *const problems[] = { "-/-/not-interconnected" };

        assert_false(json_is_true(json_object_get(h, "ok")));
        assert_networks(h, "h1,h3|h2,h4");
        assert_int_equal(dv_health_network_of(h, "h1"), 0);
        assert_int_equal(dv_health_network_of(h, "h4"), 1);
        /* Inside each network, all is well. */
        assert_status(h, "h1", 10, "ok");
        assert_status(h, "h2", 10, "ok");
        assert_status(h, "h3", 10, "ok");
        assert_status(h, "h4", 10, "ok");
        assert_problems(h, problems, 1);
        p = json_array_get(json_object_get(h, "problems"), 0);
        assert_non_null(strstr(json_string_value(json_object_get(p, "reason")),
                               "[h1, h3] and [h2, h4]"));
        json_decref(h);
}

static void test_health_carrier_down(void **state)
{
        static const int vlans[] = { 10, 20 };
        json_t *in = probe_input(3, vlans, 2, link_all), *h;
        static const char *const problems[] = { "h3/-/uplink-down" };

        /* h3 has no carrier: it heard nothing, and nobody heard it. */
        json_object_set_new(host_in(in, 2), "carrier", json_false());
        json_array_clear(json_object_get(host_in(in, 2), "received"));
        for (int i = 0; i < 2; i++) {
                json_t *rx = json_object_get(host_in(in, i), "received");

                for (size_t k = json_array_size(rx); k-- > 0;)
                        if (strcmp(json_string_value(json_object_get(json_array_get(rx, k),
                                                                     "host")),
                                   "h3") == 0)
                                json_array_remove(rx, k);
        }
        h = analyze(in);
        assert_false(json_is_true(json_object_get(h, "ok")));
        assert_networks(h, "h1,h2");
        assert_int_equal(dv_health_network_of(h, "h3"), -1);
        assert_string_equal(json_string_value(json_object_get(host_out(h, "h3"), "uplink")),
                            "down");
        assert_status(h, "h3", 10, "uplink-down");
        assert_status(h, "h3", 20, "uplink-down");
        assert_status(h, "h1", 10, "ok");
        assert_status(h, "h2", 20, "ok");
        assert_problems(h, problems, 1); /* once per host, not per VLAN */
        json_decref(h);
}

/* A carrier-less host whose stale "received" still names peers: it stays
 * out of the networks. */
static void test_health_carrier_down_stale(void **state)
{
        static const int vlans[] = { 10 };
        json_t *in = probe_input(3, vlans, 1, link_all), *h;

        json_object_set_new(host_in(in, 0), "carrier", json_false());
        h = analyze(in);
        assert_networks(h, "h2,h3");
        assert_status(h, "h1", 10, "uplink-down");
        assert_status(h, "h2", 10, "ok");
        assert_status(h, "h3", 10, "ok");
        json_decref(h);
}

/* h2 gets small frames from h1 but none of full MTU. */
static void link_mtu(int r, int s, int vlan, int *small, int *large)
{
        link_all(r, s, vlan, small, large);
        if (r == 1 && s == 0)
                *large = 0;
}

static void test_health_mtu(void **state)
{
        static const int vlans[] = { 10 };
        json_t *h = analyze(probe_input(3, vlans, 1, link_mtu));
        static const char *const problems[] = { "h2/10/mtu-mismatch" };

        assert_false(json_is_true(json_object_get(h, "ok")));
        assert_networks(h, "h1,h2,h3");
        assert_status(h, "h2", 10, "mtu-mismatch");
        assert_non_null(strstr(json_string_value(json_object_get(dv_health_entry(h, "h2", 10),
                                                                 "reason")),
                               "from h1"));
        assert_status(h, "h1", 10, "ok");
        assert_status(h, "h3", 10, "ok");
        assert_problems(h, problems, 1);
        json_decref(h);
}

static void test_health_error(void **state)
{
        static const int vlans[] = { 10, 20 };
        json_t *in = probe_input(3, vlans, 2, link_all), *h, *h2;
        static const char *const problems[] = { "h2/-/unknown" };

        /* h2 did not answer (no carrier field); the others still name it
         * (they heard it). */
        json_object_set_new(host_in(in, 1), "error", json_string("agent unreachable"));
        json_object_del(host_in(in, 1), "carrier");
        json_array_clear(json_object_get(host_in(in, 1), "received"));
        h = analyze(in);
        h2 = host_out(h, "h2");
        assert_string_equal(json_string_value(json_object_get(h2, "uplink")), "unknown");
        assert_string_equal(json_string_value(json_object_get(h2, "error")), "agent unreachable");
        assert_status(h, "h2", 10, "unknown");
        assert_status(h, "h2", 20, "unknown");
        assert_int_equal(dv_health_network_of(h, "h2"), -1);
        assert_false(json_is_true(json_object_get(h, "ok")));
        /* The others are fine among themselves; h2 is the only problem, once. */
        assert_status(h, "h1", 10, "ok");
        assert_status(h, "h3", 20, "ok");
        assert_networks(h, "h1,h3");
        assert_problems(h, problems, 1);
        json_decref(h);
}

static void test_health_single_host(void **state)
{
        static const int vlans[] = { 10, 20 };
        json_t *h = analyze(probe_input(1, vlans, 2, link_all));

        assert_true(json_is_true(json_object_get(h, "ok")));
        assert_networks(h, "h1");
        assert_status(h, "h1", 10, "no-peers");
        assert_status(h, "h1", 20, "no-peers");
        assert_problems(h, NULL, 0);
        json_decref(h);

        /* Two hosts, one without carrier: the other has no peers either. */
        h = analyze(J("{\"vlans\":[10],\"hosts\":[{\"host\":\"h1\",\"carrier\":true},"
                      "{\"host\":\"h2\",\"carrier\":false}]}"));
        assert_status(h, "h1", 10, "no-peers");
        assert_status(h, "h2", 10, "uplink-down");
        json_decref(h);
}

/* h3 hears nobody, nobody hears h3. */
static void link_h3_alone(int r, int s, int vlan, int *small, int *large)
{
        link_all(r, s, vlan, small, large);
        if (r == 2 || s == 2)
                *small = *large = 0;
}

static void test_health_isolated(void **state)
{
        static const int vlans[] = { 10, 20 };
        json_t *h = analyze(probe_input(3, vlans, 2, link_h3_alone));
        static const char *const problems[] = { "h3/-/isolated" };

        assert_networks(h, "h1,h2|h3");
        assert_status(h, "h3", 10, "isolated");
        assert_status(h, "h3", 20, "isolated");
        assert_status(h, "h1", 10, "ok");
        assert_problems(h, problems, 1); /* a lone host is not a second network */
        json_decref(h);
}

/* No host carries VLAN 20 (the TOR lacks it). */
static void link_no20(int r, int s, int vlan, int *small, int *large)
{
        link_all(r, s, vlan, small, large);
        if (vlan == 20)
                *small = *large = 0;
}

static void test_health_not_on_tor(void **state)
{
        static const int vlans[] = { 10, 20 };
        json_t *h = analyze(probe_input(3, vlans, 2, link_no20));
        static const char *const problems[] = { "h1/20/not-on-tor", "h2/20/not-on-tor",
                                                "h3/20/not-on-tor" };

        assert_networks(h, "h1,h2,h3");
        assert_status(h, "h1", 10, "ok");
        assert_status(h, "h1", 20, "not-on-tor");
        assert_status(h, "h3", 20, "not-on-tor");
        assert_problems(h, problems, 3);
        json_decref(h);
}

static void test_health_hostile(void **state)
{
        static const char *const inputs[] = {
                "null",
                "{}",
                "[]",
                "{\"vlans\":\"10\",\"hosts\":{}}",
                "{\"vlans\":[10],\"hosts\":[]}",
                "{\"vlans\":[],\"hosts\":[{\"host\":\"h1\",\"carrier\":true}]}",
                "{\"vlans\":[10],\"hosts\":[1,\"x\",null,[],{}]}",
                "{\"vlans\":[10,\"x\",null,{}],\"hosts\":[{\"host\":7,\"carrier\":\"yes\","
                " \"received\":{\"host\":\"h2\"}},{\"carrier\":true,\"received\":[1,null,"
                "{\"host\":null,\"vlan\":\"10\"},{\"host\":\"h1\",\"vlan\":10,\"small\":\"3\"}]}]}",
                /* unknown hosts, unknown VLANs, itself, negative and huge counts */
                "{\"vlans\":[10],\"hosts\":[{\"host\":\"h1\",\"carrier\":true,\"received\":["
                "{\"host\":\"ghost\",\"vlan\":10,\"small\":5,\"large\":5},"
                "{\"host\":\"h1\",\"vlan\":10,\"small\":5,\"large\":5},"
                "{\"host\":\"h2\",\"vlan\":99,\"small\":5,\"large\":5},"
                "{\"host\":\"h2\",\"vlan\":10,\"small\":-4,\"large\":1099511627776}]},"
                "{\"host\":\"h2\",\"carrier\":true,\"error\":5,\"send_errors\":\"x\"}]}",
                /* the same name twice, an error that is not a string */
                "{\"vlans\":[10],\"hosts\":[{\"host\":\"h1\",\"carrier\":true},"
                "{\"host\":\"h1\",\"carrier\":true,\"error\":{}}]}",
        };

        for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
                json_t *in = J(inputs[i]), *h = dv_health_analyze(in);

                assert_non_null(h);
                assert_true(json_is_array(json_object_get(h, "hosts")));
                assert_true(json_is_array(json_object_get(h, "networks")));
                assert_true(json_is_array(json_object_get(h, "problems")));
                json_decref(h);
                json_decref(in);
        }
        /* NULL input: an empty, healthy result. */
        {
                json_t *h = dv_health_analyze(NULL);

                assert_non_null(h);
                assert_int_equal(json_array_size(json_object_get(h, "hosts")), 0);
                json_decref(h);
        }
        /* The helpers on nonsense. */
        assert_null(dv_health_status(NULL, "h1", 10));
        assert_null(dv_health_entry(NULL, NULL, 10));
        assert_int_equal(dv_health_network_of(NULL, "h1"), -1);
}

static void test_health_too_many_vlans(void **state)
{
        int vlans[100];
        json_t *h, *in;

        for (int i = 0; i < 100; i++)
                vlans[i] = i + 1;
        in = probe_input(3, vlans, 100, link_all);
        h = analyze(in);
        /* Only the first DV_HEALTH_MAX_VLANS are judged. */
        assert_int_equal(json_array_size(json_object_get(host_out(h, "h1"), "vlans")),
                         DV_HEALTH_MAX_VLANS);
        assert_status(h, "h1", 1, "ok");
        assert_status(h, "h3", DV_HEALTH_MAX_VLANS, "ok");
        assert_null(dv_health_status(h, "h1", DV_HEALTH_MAX_VLANS + 1));
        assert_networks(h, "h1,h2,h3");
        json_decref(h);
}

static void test_health_too_many_hosts(void **state)
{
        static const int vlans[] = { 10 };
        json_t *h = analyze(probe_input(DV_HEALTH_MAX_HOSTS + 4, vlans, 1, link_all));

        assert_int_equal(json_array_size(json_object_get(h, "hosts")), DV_HEALTH_MAX_HOSTS);
        assert_status(h, "h1", 10, "ok");
        json_decref(h);
}

/* Two reports of the same peer whose counts add past INT_MAX. */
static void test_health_count_overflow(void **state)
{
        json_t *in = J("{\"vlans\":[10],\"hosts\":["
                       "{\"host\":\"h1\",\"carrier\":true,\"received\":["
                       "{\"host\":\"h2\",\"vlan\":10,\"small\":2147483647,\"large\":2147483647},"
                       "{\"host\":\"h2\",\"vlan\":10,\"small\":2147483647,\"large\":2147483647}]},"
                       "{\"host\":\"h2\",\"carrier\":true,\"received\":["
                       "{\"host\":\"h1\",\"vlan\":10,\"small\":3,\"large\":3}]}]}");
        json_t *h = dv_health_analyze(in);

        assert_non_null(h);
        /* h1 heard a great many frames from h2: linked, not lost. */
        assert_status(h, "h1", 10, "ok");
        assert_status(h, "h2", 10, "ok");
        json_decref(h);
        json_decref(in);
}

/* ---- diagnose ---------------------------------------------------------------- */

static void test_diag_healthy(void **state)
{
        json_t *f = healthy_facts(), *r = diagnose(f);
        static const char *const ids[] = { "vm.running", "tools.running", "guest.firewall",
                                           "guest.ip", "probe.gateway", "probe.peer" };

        NO_FAULTS(r);
        assert_can_talk(r, 1);
        assert_none_with_status(r, "fail");
        assert_none_with_status(r, "warn");
        assert_none_with_status(r, "skip");
        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
                assert_check(r, ids[i], "web", NULL, "pass");
                assert_check(r, ids[i], "db", NULL, "pass");
        }
        assert_check(r, "nic.portgroup", "web", NULL, "pass");
        assert_check(r, "ip.subnet", NULL, NULL, "pass");
        assert_check(r, "ip.conflict", NULL, NULL, "pass");
        assert_check(r, "dvs.same", NULL, NULL, "pass");
        assert_check(r, "vlan.same", NULL, NULL, "pass");
        assert_check(r, "placement", NULL, NULL, "pass");
        assert_check(r, "host.uplink", NULL, "h1", "pass");
        assert_check(r, "host.uplink", NULL, "h2", "pass");
        assert_check(r, "tor.vlan", NULL, "h1", "pass");
        assert_check(r, "tor.vlan", NULL, "h2", "pass");
        assert_check(r, "tor.interconnect", NULL, NULL, "pass");
        assert_string_equal(json_string_value(json_array_get(json_object_get(r, "vms"), 0)), "web");
        assert_string_equal(json_string_value(json_array_get(json_object_get(r, "vms"), 1)), "db");
        assert_non_null(strstr(json_string_value(json_object_get(json_object_get(r, "conclusion"),
                                                                 "summary")),
                               "can talk"));
        json_decref(r);
        json_decref(f);
}

static void test_diag_effective_ip(void **state)
{
        json_t *f = healthy_facts(), *vm = VM(f, 0);
        const char *ip = NULL, *gw = NULL;
        int prefix = 0;
        bool from_guest = false;

        /* The guest's address wins over the spec's. */
        json_object_set_new(json_object_get(vm, "nic"), "ip", json_string("10.10.0.99"));
        assert_true(dv_netdiag_effective_ip(vm, &ip, &prefix, &gw, &from_guest));
        assert_string_equal(ip, IP0);
        assert_int_equal(prefix, 24);
        assert_string_equal(gw, GW);
        assert_true(from_guest);
        /* No guest info: the spec's. */
        json_object_set_new(vm, "guest", json_null());
        assert_true(dv_netdiag_effective_ip(vm, &ip, &prefix, &gw, &from_guest));
        assert_string_equal(ip, "10.10.0.99");
        assert_false(from_guest);
        /* No NIC, no address. */
        json_object_del(vm, "nic");
        assert_false(dv_netdiag_effective_ip(vm, &ip, &prefix, &gw, &from_guest));
        json_decref(f);
}

static void test_diag_vm_stopped(void **state)
{
        json_t *f = healthy_facts(), *r, *vm = VM(f, 0);

        json_object_set_new(vm, "state", json_string("stopped"));
        json_object_set_new(vm, "tools", json_null());
        json_object_set_new(vm, "guest", json_null());
        json_object_set_new(vm, "guest_error", json_string("vm is not running"));
        set_probe(f, "gateway", 0, NULL);
        set_probe(f, "peer", 0, NULL);
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        FAULTS(r, "vm-not-running/web/-");
        assert_can_talk(r, 0);
        assert_check(r, "vm.running", "web", NULL, "fail");
        assert_check(r, "vm.running", "db", NULL, "pass");
        assert_check(r, "tools.running", "web", NULL, "skip");
        assert_check(r, "guest.firewall", "web", NULL, "skip");
        assert_check(r, "guest.ip", "web", NULL, "skip");
        assert_check(r, "placement", NULL, NULL, "skip");
        assert_check(r, "probe.gateway", "web", NULL, "skip");
        assert_check(r, "probe.peer", "web", NULL, "skip");
        assert_check(r, "tools.running", "db", NULL, "pass");
        json_decref(r);

        /* Only the state changed (stale guest info kept): same verdict. */
        json_decref(f);
        f = healthy_facts();
        json_object_set_new(VM(f, 1), "state", json_string("paused"));
        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, NULL);
        set_probe(f, "gateway", 1, NULL);
        r = diagnose(f);
        FAULTS(r, "vm-not-running/db/-");
        assert_check(r, "tools.running", "db", NULL, "skip");
        assert_check(r, "guest.ip", "db", NULL, "skip");
        json_decref(r);
        json_decref(f);
}

static void test_diag_host_not_connected(void **state)
{
        json_t *f = healthy_facts(), *r;

        json_object_set_new(VM(f, 1), "host_state", json_string("disconnected"));
        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, NULL);
        set_probe(f, "gateway", 1, NULL);
        r = diagnose(f);
        FAULTS(r, "host-not-connected/db/h2");
        assert_check(r, "tools.running", "db", NULL, "skip");
        json_decref(r);
        json_decref(f);
}

static void test_diag_tools_not_running(void **state)
{
        json_t *f = healthy_facts(), *r, *vm = VM(f, 0);

        json_object_set_new(vm, "tools", json_string("not-running"));
        json_object_set_new(vm, "guest", json_null());
        json_object_set_new(vm, "guest_error", json_string("Tools is not running"));
        set_probe(f, "gateway", 0, NULL);
        set_probe(f, "peer", 0, NULL);
        /* db's ping to web is answered. */
        r = diagnose(f);
        FAULTS(r, "tools-not-running/web/-");
        assert_can_talk(r, 1);
        assert_check(r, "tools.running", "web", NULL, "fail");
        assert_check(r, "tools.running", "db", NULL, "pass");
        assert_check(r, "guest.firewall", "web", NULL, "skip");
        assert_check(r, "guest.ip", "web", NULL, "skip");
        assert_check(r, "ip.subnet", NULL, NULL, "pass"); /* from the spec */
        assert_check(r, "probe.gateway", "web", NULL, "skip");
        assert_check(r, "probe.peer", "web", NULL, "skip");
        assert_check(r, "probe.peer", "db", NULL, "pass");
        json_decref(r);
        json_decref(f);
}

static void set_firewall(json_t *facts, int i, int rules)
{
        json_t *fw = json_object_get(json_object_get(VM(facts, i), "guest"), "firewall");

        json_object_set_new(fw, "rules", json_boolean(rules > 0));
        json_object_set_new(fw, "rule_count", json_integer(rules));
}

static void test_diag_guest_firewall(void **state)
{
        json_t *f = healthy_facts(), *r;

        set_firewall(f, 1, 7);
        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        FAULTS(r, "guest-firewall/db/-");
        assert_can_talk(r, 0);
        assert_check(r, "guest.firewall", "db", NULL, "fail");
        assert_check(r, "guest.firewall", "web", NULL, "pass");
        assert_check(r, "probe.gateway", "web", NULL, "pass");
        assert_check(r, "probe.gateway", "db", NULL, "pass");
        assert_check(r, "probe.peer", "web", NULL, "fail");
        json_decref(r);

        /* Rules that let the probes through are fine. */
        set_probe(f, "peer", 0, probe(IP1, true));
        set_probe(f, "peer", 1, probe(IP0, true));
        r = diagnose(f);
        NO_FAULTS(r);
        assert_can_talk(r, 1);
        assert_check(r, "guest.firewall", "db", NULL, "pass");
        json_decref(r);
        json_decref(f);
}

static void test_diag_wrong_prefix(void **state)
{
        json_t *f = healthy_facts(), *r;

        /* web: 10.10.0.140/25, no gateway: db's 10.10.0.11 is outside its
         * subnet (10.10.0.128/25) and it has no route; db's /24 holds both. */
        set_address(f, 0, "10.10.0.140", 25, NULL);
        set_probe(f, "gateway", 0, NULL);
        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, probe("10.10.0.140", false));
        r = diagnose(f);
        FAULTS(r, "not-same-subnet/web/-");
        assert_can_talk(r, 0);
        assert_check(r, "ip.subnet", "web", NULL, "fail");
        assert_check(r, "guest.ip", "web", NULL, "pass");
        assert_check(r, "vlan.same", NULL, NULL, "pass");
        assert_check(r, "probe.gateway", "web", NULL, "skip");
        json_decref(r);

        /* The same, the other way round: db is blamed. */
        json_decref(f);
        f = healthy_facts();
        set_address(f, 1, "10.10.0.140", 25, NULL);
        set_probe(f, "gateway", 1, NULL);
        set_probe(f, "peer", 0, probe("10.10.0.140", false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        FAULTS(r, "not-same-subnet/db/-");
        json_decref(r);
        json_decref(f);
}

/* A guest address different from the spec's is a warning, not a fault. */
static void test_diag_guest_differs(void **state)
{
        json_t *f = healthy_facts(), *r;

        json_object_set_new(json_object_get(VM(f, 0), "nic"), "ip", json_string("10.10.0.50"));
        r = diagnose(f);
        NO_FAULTS(r);
        assert_check(r, "guest.ip", "web", NULL, "warn");
        json_decref(r);
        json_decref(f);
}

static void test_diag_different_vlans(void **state)
{
        static const int vlans[] = { 10, 20 };
        json_t *f = healthy_facts(), *r;

        set_health(f, analyze(probe_input(3, vlans, 2, link_all)));
        set_portgroup(f, 1, portgroup("pg20", 20, "10.10.0.0/24", GW));
        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        FAULTS(r, "different-vlans/-/-");
        assert_can_talk(r, 0);
        assert_check(r, "vlan.same", NULL, NULL, "fail");
        assert_check(r, "dvs.same", NULL, NULL, "pass");
        assert_check(r, "ip.subnet", NULL, NULL, "pass");
        assert_check(r, "tor.vlan", NULL, "h2", "pass");
        json_decref(r);
        json_decref(f);
}

static void test_diag_different_vlans_routed(void **state)
{
        static const int vlans[] = { 10, 20 };
        json_t *f = healthy_facts(), *r;

        set_health(f, analyze(probe_input(3, vlans, 2, link_all)));
        set_portgroup(f, 1, portgroup("pg20", 20, "10.20.0.0/24", "10.20.0.1"));
        set_address(f, 1, "10.20.0.11", 24, "10.20.0.1");
        set_probe(f, "gateway", 1, probe("10.20.0.1", true));
        set_probe(f, "peer", 0, probe("10.20.0.11", true));
        r = diagnose(f);
        NO_FAULTS(r);
        assert_can_talk(r, 1);
        assert_check(r, "ip.subnet", NULL, NULL, "pass");
        assert_check(r, "vlan.same", NULL, NULL, "warn");
        assert_check(r, "tor.vlan", NULL, "h2", "pass");
        assert_none_with_status(r, "fail");
        json_decref(r);

        /* Routed but the peers do not answer: the TOR's routing. */
        set_probe(f, "peer", 0, probe("10.20.0.11", false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        FAULTS(r, "tor-side/-/-");
        assert_can_talk(r, 0);
        json_decref(r);
        json_decref(f);
}

/* h2's TOR port does not carry VLAN 10 (it does carry 20). */
static void link_h2_no10(int r, int s, int vlan, int *small, int *large)
{
        link_all(r, s, vlan, small, large);
        if (vlan == 10 && (r == 1 || s == 1))
                *small = *large = 0;
}

static void test_diag_vlan_not_trunked(void **state)
{
        static const int vlans[] = { 10, 20 };
        json_t *f = healthy_facts(), *r;

        set_health(f, analyze(probe_input(3, vlans, 2, link_h2_no10)));
        set_probe(f, "gateway", 1, probe(GW, false));
        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        assert_check(r, "tor.vlan", NULL, "h2", "fail");
        assert_check(r, "tor.interconnect", NULL, NULL, "pass");
        assert_check(r, "probe.gateway", "db", NULL, "fail");
        assert_can_talk(r, 0);
        /* h1 carries VLAN 10 and reaches h3 on it: not to blame. */
        assert_check(r, "tor.vlan", NULL, "h1", "pass");
        FAULTS(r, "vlan-not-trunked/-/h2");
        json_decref(r);
        json_decref(f);
}

/* A DVS with VLAN 10 only: h2's port lacks it, so h2 hears nobody at all. */
static void test_diag_host_isolated(void **state)
{
        static const int vlans[] = { 10 };
        json_t *f = healthy_facts(), *r;

        set_health(f, analyze(probe_input(3, vlans, 1, link_h2_no10)));
        set_probe(f, "gateway", 1, probe(GW, false));
        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        FAULTS(r, "vlan-not-trunked/-/h2");
        assert_check(r, "tor.vlan", NULL, "h1", "pass");
        assert_check(r, "tor.vlan", NULL, "h2", "fail");
        assert_check(r, "tor.interconnect", NULL, NULL, "skip");
        json_decref(r);

        /* No gateway probe to tell a lone network from a cut port. */
        set_probe(f, "gateway", 1, NULL);
        r = diagnose(f);
        FAULTS(r, "host-isolated/-/h2");
        assert_check(r, "tor.interconnect", NULL, NULL, "skip");
        json_decref(r);
        json_decref(f);
}

static void test_diag_vlan_not_on_tor(void **state)
{
        static const int vlans[] = { 10, 20 };
        json_t *f = healthy_facts(), *r;

        /* No host exchanges frames on VLAN 20 at all; both VMs are on it. */
        set_health(f, analyze(probe_input(3, vlans, 2, link_no20)));
        set_portgroup(f, 0, portgroup("pg20", 20, "10.10.0.0/24", GW));
        set_portgroup(f, 1, portgroup("pg20", 20, "10.10.0.0/24", GW));
        set_probe(f, "gateway", 0, probe(GW, false));
        set_probe(f, "gateway", 1, probe(GW, false));
        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        FAULTS(r, "vlan-not-on-tor/-/h1", "vlan-not-on-tor/-/h2");
        assert_check(r, "tor.vlan", NULL, "h1", "fail");
        json_decref(r);
        json_decref(f);
}

static void test_diag_mtu_mismatch(void **state)
{
        static const int vlans[] = { 10 };
        json_t *f = healthy_facts(), *r;

        set_health(f, analyze(probe_input(3, vlans, 1, link_mtu)));
        r = diagnose(f);
        FAULTS(r, "mtu-mismatch/-/h2");
        assert_check(r, "tor.vlan", NULL, "h1", "pass");
        assert_check(r, "tor.vlan", NULL, "h2", "fail");
        assert_can_talk(r, 1);
        json_decref(r);
        json_decref(f);
}

static void test_diag_uplink_down(void **state)
{
        static const int vlans[] = { 10 };
        json_t *f = healthy_facts(), *r, *in;

        json_object_set_new(json_object_get(VM(f, 1), "uplink"), "carrier", json_false());
        json_object_set_new(json_object_get(VM(f, 1), "uplink"), "operstate",
                            json_string("down"));
        in = probe_input(3, vlans, 1, link_h2_no10);
        json_object_set_new(host_in(in, 1), "carrier", json_false());
        set_health(f, analyze(in));
        set_probe(f, "gateway", 1, probe(GW, false));
        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        FAULTS(r, "uplink-down/-/h2");
        assert_can_talk(r, 0);
        assert_check(r, "host.uplink", NULL, "h2", "fail");
        assert_check(r, "host.uplink", NULL, "h1", "pass");
        assert_check(r, "tor.vlan", NULL, "h1", "pass");
        /* Nothing is said about the TOR port of h2 but a skip. */
        {
                json_t *c = find_check(r, "tor.vlan", NULL, "h2");

                if (c)
                        assert_string_equal(json_string_value(json_object_get(c, "status")),
                                            "skip");
                c = find_check(r, "tor.interconnect", NULL, NULL);
                if (c)
                        assert_string_equal(json_string_value(json_object_get(c, "status")),
                                            "skip");
        }
        json_decref(r);
        json_decref(f);
}

static void test_diag_uplink_down_tor_vlan_reported(void **state)
{
        static const int vlans[] = { 10 };
        json_t *f = healthy_facts(), *r, *in;

        /* As above: an operator should see tor.vlan for h2 as skipped
         * (uplink down), not have it left out of the checks. */
        json_object_set_new(json_object_get(VM(f, 1), "uplink"), "carrier", json_false());
        in = probe_input(3, vlans, 1, link_h2_no10);
        json_object_set_new(host_in(in, 1), "carrier", json_false());
        set_health(f, analyze(in));
        set_probe(f, "gateway", 1, probe(GW, false));
        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        assert_check(r, "tor.vlan", NULL, "h2", "skip");
        json_decref(r);
        json_decref(f);
}

/* The uplink facts say up, the health probe saw no carrier (it changed
 * in between): tor.vlan skips on the health's word. */
static void test_diag_health_uplink_down(void **state)
{
        static const int vlans[] = { 10 };
        json_t *f = healthy_facts(), *r, *in;

        in = probe_input(3, vlans, 1, link_h2_no10);
        json_object_set_new(host_in(in, 1), "carrier", json_false());
        set_health(f, analyze(in));
        r = diagnose(f);
        NO_FAULTS(r);
        assert_check(r, "tor.vlan", NULL, "h2", "skip");
        assert_check(r, "tor.interconnect", NULL, NULL, "skip");
        json_decref(r);
        json_decref(f);
}

static void test_diag_not_interconnected(void **state)
{
        static const int vlans[] = { 10 };
        json_t *f = healthy_facts(), *r;

        /* web on h1 with h3, db on h2 with h4: two TORs, not connected. */
        set_health(f, analyze(probe_input(4, vlans, 1, link_two_groups)));
        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        FAULTS(r, "networks-not-interconnected/-/-");
        assert_can_talk(r, 0);
        assert_check(r, "tor.vlan", NULL, "h1", "pass");
        assert_check(r, "tor.vlan", NULL, "h2", "pass");
        assert_check(r, "tor.interconnect", NULL, NULL, "fail");
        assert_check(r, "probe.gateway", "web", NULL, "pass");
        assert_check(r, "probe.gateway", "db", NULL, "pass");
        json_decref(r);
        json_decref(f);
}

/* Each host alone on its own network (e.g. a two-host DVS on two TORs):
 * both VMs reach their gateways, so the TOR ports carry the VLAN. */
static void test_diag_not_interconnected_lone(void **state)
{
        json_t *f = healthy_facts(), *r;

        set_health(f, analyze(J("{\"vlans\":[10],\"mtu\":1500,\"hosts\":["
                                "{\"host\":\"h1\",\"carrier\":true,\"received\":[]},"
                                "{\"host\":\"h2\",\"carrier\":true,\"received\":[]}]}")));
        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        FAULTS(r, "networks-not-interconnected/-/-");
        assert_check(r, "tor.vlan", NULL, "h1", "pass");
        assert_check(r, "tor.vlan", NULL, "h2", "pass");
        json_decref(r);
        json_decref(f);
}

static void test_diag_tor_side(void **state)
{
        json_t *f = healthy_facts(), *r;

        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        FAULTS(r, "tor-side/-/-");
        assert_can_talk(r, 0);
        assert_check(r, "probe.peer", "web", NULL, "fail");
        assert_check(r, "tor.vlan", NULL, "h1", "pass");
        assert_check(r, "tor.vlan", NULL, "h2", "pass");
        assert_check(r, "tor.interconnect", NULL, NULL, "pass");
        json_decref(r);
        json_decref(f);
}

static void test_diag_vm_to_tor(void **state)
{
        json_t *f = healthy_facts(), *r;

        set_probe(f, "gateway", 1, probe(GW, false));
        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        FAULTS(r, "vm-to-tor/db/-");
        assert_can_talk(r, 0);
        assert_check(r, "probe.gateway", "db", NULL, "fail");
        assert_check(r, "probe.gateway", "web", NULL, "pass");
        json_decref(r);

        /* One peer answers: they can talk, the gateway alone is no fault. */
        set_probe(f, "peer", 0, probe(IP1, true));
        r = diagnose(f);
        NO_FAULTS(r);
        assert_can_talk(r, 1);
        json_decref(r);
        json_decref(f);
}

/* No gateways to probe, every structural check passes, the peers do not
 * answer: nothing explains it. */
static void test_diag_unexplained(void **state)
{
        json_t *f = healthy_facts(), *r;

        set_address(f, 0, IP0, 24, NULL);
        set_address(f, 1, IP1, 24, NULL);
        set_probe(f, "gateway", 0, NULL);
        set_probe(f, "gateway", 1, NULL);
        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        FAULTS(r, "unexplained/web/-");
        assert_can_talk(r, 0);
        assert_check(r, "probe.gateway", "web", NULL, "skip");
        json_decref(r);
        json_decref(f);
}

static void test_diag_address_conflict(void **state)
{
        json_t *f = healthy_facts(), *r;

        /* Both VMs use 10.10.0.10. */
        set_address(f, 1, IP0, 24, GW);
        set_probe(f, "peer", 0, probe(IP0, false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        FAULTS(r, "address-conflict/-/-");
        assert_check(r, "ip.conflict", NULL, NULL, "fail");
        assert_check(r, "ip.subnet", NULL, NULL, "pass");
        json_decref(r);
        json_decref(f);

        /* A third VM (per api-net.c) uses db's address. */
        f = healthy_facts();
        json_array_append_new(json_object_get(VM(f, 1), "conflicts"),
                              json_pack("{s:s,s:s,s:s}", "kind", "ip", "value", IP1, "vm", "old"));
        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        FAULTS(r, "address-conflict/-/-");
        assert_non_null(strstr(json_string_value(json_object_get(json_object_get(r, "conclusion"),
                                                                 "summary")),
                               "old"));
        json_decref(r);
        json_decref(f);

        /* The same MAC twice. */
        f = healthy_facts();
        json_object_set_new(json_object_get(VM(f, 1), "nic"), "mac", json_string(MAC0));
        json_object_set_new(VM(f, 1), "guest", guest_info(MAC0, IP1, 24, GW));
        r = diagnose(f);
        FAULTS(r, "address-conflict/-/-");
        json_decref(r);
        json_decref(f);
}

static void test_diag_same_host(void **state)
{
        json_t *f = healthy_facts(), *r;

        json_object_set_new(VM(f, 1), "host", json_string("h1"));
        r = diagnose(f);
        NO_FAULTS(r);
        assert_can_talk(r, 1);
        assert_check(r, "placement", NULL, "h1", "pass");
        assert_check(r, "tor.vlan", NULL, NULL, "skip");
        assert_null(find_check(r, "tor.vlan", NULL, "h2"));
        {
                json_t *c = find_check(r, "tor.interconnect", NULL, NULL);

                if (c)
                        assert_string_equal(json_string_value(json_object_get(c, "status")),
                                            "skip");
        }
        json_decref(r);

        /* Its uplink down: not on the path; a warning, no fault. */
        json_object_set_new(json_object_get(VM(f, 0), "uplink"), "carrier", json_false());
        json_object_set_new(json_object_get(VM(f, 1), "uplink"), "carrier", json_false());
        set_probe(f, "gateway", 0, probe(GW, false));
        set_probe(f, "gateway", 1, probe(GW, false));
        r = diagnose(f);
        NO_FAULTS(r);
        assert_can_talk(r, 1);
        assert_check(r, "host.uplink", NULL, "h1", "warn");
        assert_check(r, "tor.vlan", NULL, "h1", "skip");
        json_decref(r);
        json_decref(f);
}

static void test_diag_different_dvs(void **state)
{
        json_t *f = healthy_facts(), *r, *pg = portgroup("pgx", 10, "10.10.0.0/24", GW);

        json_object_set_new(pg, "dvs", json_string("dvs1"));
        set_portgroup(f, 1, pg);
        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        FAULTS(r, "different-dvs/-/-");
        assert_check(r, "vlan.same", NULL, NULL, "skip");
        json_decref(r);
        json_decref(f);
}

static void test_diag_guest_nic(void **state)
{
        json_t *f = healthy_facts(), *r, *gnic;

        /* The guest shows its NIC down. */
        gnic = json_array_get(json_object_get(json_object_get(VM(f, 0), "guest"), "nics"), 0);
        json_object_set_new(gnic, "up", json_false());
        set_probe(f, "gateway", 0, probe(GW, false));
        set_probe(f, "peer", 0, probe(IP1, false));
        set_probe(f, "peer", 1, probe(IP0, false));
        r = diagnose(f);
        FAULTS(r, "guest-nic-down/web/-");
        json_decref(r);

        /* ...or does not show it at all. */
        json_object_set_new(gnic, "mac", json_string("52:54:00:ff:ff:ff"));
        r = diagnose(f);
        FAULTS(r, "guest-nic-missing/web/-");
        assert_check(r, "ip.subnet", NULL, NULL, "skip");
        json_decref(r);

        /* ...or has no IPv4 address on it. */
        json_object_set_new(gnic, "mac", json_string(MAC0));
        json_object_set_new(gnic, "up", json_true());
        json_array_clear(json_object_get(gnic, "addresses"));
        r = diagnose(f);
        FAULTS(r, "guest-no-ip/web/-");
        json_decref(r);
        json_decref(f);
}

static void test_diag_bad_vms(void **state)
{
        static const char *const inputs[] = {
                "null",
                "{}",
                "{\"vms\":null}",
                "{\"vms\":{}}",
                "{\"vms\":[]}",
                "{\"vms\":[{}]}",
                "{\"vms\":[{},{},{}]}",
        };

        assert_null(dv_netdiag_evaluate(NULL));
        for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
                json_t *f = J(inputs[i]);

                assert_null(dv_netdiag_evaluate(f));
                json_decref(f);
        }
}

static void test_diag_hostile(void **state)
{
        static const char *const inputs[] = {
                "{\"vms\":[{},{}]}",
                "{\"vms\":[null,1]}",
                "{\"vms\":[\"a\",[]]}",
                "{\"vms\":[{\"name\":1,\"state\":\"running\",\"host_state\":\"connected\"},"
                "{\"name\":\"b\",\"state\":\"running\",\"host_state\":\"connected\","
                "\"tools\":\"running\",\"nic\":{},\"guest\":{},\"uplink\":{}}],"
                "\"health\":{},\"probes\":null}",
                "{\"vms\":[{\"name\":\"a\",\"state\":\"running\",\"host\":\"h1\","
                "\"host_state\":\"connected\",\"tools\":\"running\","
                "\"nic\":{\"mac\":5,\"ip\":\"not an address\",\"prefix\":99},"
                "\"portgroup\":{\"vlan\":\"x\"},\"guest\":{\"nics\":{},\"gateway\":7,"
                "\"firewall\":{\"rules\":true}},\"uplink\":[],\"conflicts\":{}},"
                "{\"name\":\"b\",\"state\":\"running\",\"host\":\"h2\","
                "\"host_state\":\"connected\","
                "\"tools\":\"running\",\"nic\":{\"mac\":\"m\",\"ip\":\"10.0.0.1\",\"prefix\":-3},"
                "\"portgroup\":{\"vlan\":10,\"dvs\":null},\"guest\":null,"
                "\"uplink\":{\"carrier\":true},\"conflicts\":[1,{\"kind\":7}]}],"
                "\"health\":{\"hosts\":[{\"host\":\"h2\",\"vlans\":[{\"vlan\":10,"
                "\"status\":\"partial\"}]}],\"networks\":[[\"h1\"],[\"h2\"]]},"
                "\"probes\":{\"gateway\":[{\"ok\":false},\"x\"],\"peer\":{}}}",
                "{\"vms\":[{\"name\":\"a\",\"state\":\"running\",\"host\":\"h1\","
                "\"host_state\":\"connected\",\"tools\":\"running\",\"nic\":{\"mac\":\"m\","
                "\"ip\":\"10.0.0.1\",\"prefix\":24},\"portgroup\":{\"name\":\"p\",\"dvs\":\"d\","
                "\"vlan\":10},\"uplink\":{\"carrier\":true}},"
                "{\"name\":\"b\",\"state\":\"running\",\"host\":null,\"host_state\":\"connected\","
                "\"tools\":\"running\",\"nic\":{\"mac\":\"n\",\"ip\":\"10.0.0.2\",\"prefix\":24},"
                "\"portgroup\":{\"name\":\"p\",\"dvs\":\"d\",\"vlan\":10},"
                "\"uplink\":{\"carrier\":true}}],"
                "\"health\":{\"networks\":[[\"h1\"],[]]},"
                "\"probes\":{\"gateway\":[{\"ok\":true},{\"ok\":true}],"
                "\"peer\":[{\"ok\":false},{\"ok\":false}]}}",
        };

        for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
                json_t *f = J(inputs[i]), *r = diagnose(f);

                assert_int_equal(json_array_size(json_object_get(r, "vms")), 2);
                json_decref(r);
                json_decref(f);
        }
}

/* The healthy facts with pieces missing: no crash, a sensible verdict. */
static void test_diag_missing_facts(void **state)
{
        json_t *f, *r;

        /* No guest info for either VM (Tools down), no probes at all. */
        f = healthy_facts();
        for (int i = 0; i < 2; i++) {
                json_object_del(VM(f, i), "guest");
                json_object_set_new(VM(f, i), "tools", json_null());
        }
        json_object_del(f, "probes");
        r = diagnose(f);
        FAULTS(r, "tools-not-running/web/-", "tools-not-running/db/-");
        assert_can_talk(r, -1);
        assert_check(r, "guest.ip", "web", NULL, "skip");
        json_decref(r);
        json_decref(f);

        /* No uplink facts, no health: the TOR is not judged. */
        f = healthy_facts();
        for (int i = 0; i < 2; i++) {
                json_object_del(VM(f, i), "uplink");
                json_object_set_new(VM(f, i), "uplink_error", json_string("agent down"));
        }
        json_object_del(f, "health");
        json_object_set_new(f, "health_error", json_string("probe failed"));
        r = diagnose(f);
        NO_FAULTS(r);
        assert_can_talk(r, 1);
        assert_check(r, "host.uplink", NULL, "h1", "skip");
        assert_check(r, "tor.vlan", NULL, NULL, "skip");
        json_decref(r);
        json_decref(f);

        /* No NIC, no port group. */
        f = healthy_facts();
        json_object_del(VM(f, 0), "nic");
        json_object_set_new(VM(f, 1), "portgroup", json_null());
        set_probe(f, "peer", 0, NULL);
        set_probe(f, "peer", 1, NULL);
        r = diagnose(f);
        FAULTS(r, "no-nic/web/-", "portgroup-missing/db/-");
        assert_check(r, "dvs.same", NULL, NULL, "skip");
        assert_can_talk(r, -1);
        json_decref(r);
        json_decref(f);

        /* A health result that does not name the hosts. */
        f = healthy_facts();
        set_health(f, J("{\"ok\":true,\"hosts\":[],\"networks\":[]}"));
        r = diagnose(f);
        NO_FAULTS(r);
        assert_check(r, "tor.vlan", NULL, "h1", "skip");
        assert_check(r, "tor.interconnect", NULL, NULL, "skip");
        json_decref(r);
        json_decref(f);

        /* No peer probe: no verdict on talking. */
        f = healthy_facts();
        set_probe(f, "peer", 0, NULL);
        set_probe(f, "peer", 1, NULL);
        r = diagnose(f);
        NO_FAULTS(r);
        assert_can_talk(r, -1);
        assert_non_null(strstr(json_string_value(json_object_get(json_object_get(r, "conclusion"),
                                                                 "summary")),
                               "no probe"));
        json_decref(r);
        json_decref(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_health_all_hear),
                cmocka_unit_test(test_health_not_carried),
                cmocka_unit_test(test_health_not_carried_two),
                cmocka_unit_test(test_health_partial),
                cmocka_unit_test(test_health_two_networks),
                cmocka_unit_test(test_health_carrier_down),
                cmocka_unit_test(test_health_carrier_down_stale),
                cmocka_unit_test(test_health_mtu),
                cmocka_unit_test(test_health_error),
                cmocka_unit_test(test_health_single_host),
                cmocka_unit_test(test_health_isolated),
                cmocka_unit_test(test_health_not_on_tor),
                cmocka_unit_test(test_health_hostile),
                cmocka_unit_test(test_health_too_many_vlans),
                cmocka_unit_test(test_health_too_many_hosts),
                cmocka_unit_test(test_health_count_overflow),
                cmocka_unit_test(test_diag_healthy),
                cmocka_unit_test(test_diag_effective_ip),
                cmocka_unit_test(test_diag_vm_stopped),
                cmocka_unit_test(test_diag_host_not_connected),
                cmocka_unit_test(test_diag_tools_not_running),
                cmocka_unit_test(test_diag_guest_firewall),
                cmocka_unit_test(test_diag_wrong_prefix),
                cmocka_unit_test(test_diag_guest_differs),
                cmocka_unit_test(test_diag_different_vlans),
                cmocka_unit_test(test_diag_different_vlans_routed),
                cmocka_unit_test(test_diag_vlan_not_trunked),
                cmocka_unit_test(test_diag_host_isolated),
                cmocka_unit_test(test_diag_vlan_not_on_tor),
                cmocka_unit_test(test_diag_mtu_mismatch),
                cmocka_unit_test(test_diag_uplink_down),
                cmocka_unit_test(test_diag_uplink_down_tor_vlan_reported),
                cmocka_unit_test(test_diag_health_uplink_down),
                cmocka_unit_test(test_diag_not_interconnected),
                cmocka_unit_test(test_diag_not_interconnected_lone),
                cmocka_unit_test(test_diag_tor_side),
                cmocka_unit_test(test_diag_vm_to_tor),
                cmocka_unit_test(test_diag_unexplained),
                cmocka_unit_test(test_diag_address_conflict),
                cmocka_unit_test(test_diag_same_host),
                cmocka_unit_test(test_diag_different_dvs),
                cmocka_unit_test(test_diag_guest_nic),
                cmocka_unit_test(test_diag_bad_vms),
                cmocka_unit_test(test_diag_hostile),
                cmocka_unit_test(test_diag_missing_facts),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
