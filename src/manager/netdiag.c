#include "netdiag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "nethealth.h"
#include "util.h"
#include "validate.h"

/* One evaluation. */
struct diag {
        json_t *facts;          /* the input (borrowed) */
        json_t *checks;         /* CHECK objects, in order */
        json_t *faults;         /* FAULT objects, in the tree's order */
        json_t *vm[2];          /* facts.vms[i] (borrowed) */
        const char *name[2];    /* their names */
        bool running[2];        /* state running on a connected host */
        bool tools[2];          /* Tools running */
        bool have_ip[2];        /* an IPv4 address is known */
        const char *ip[2];      /* the address the NIC uses */
        int prefix[2];          /* its prefix */
        const char *gw[2];      /* its gateway, or NULL */
        uint32_t addr[2];       /* ip, parsed */
        bool same_host;         /* both on one host */
        bool same_subnet;       /* each address inside the other's subnet */
        bool routed;            /* different subnets, both with a gateway */
};

static const char *str(json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

static json_t *add_check(struct diag *d, const char *id, int vm, const char *host,
                         const char *status, json_t *evidence, const char *fmt, ...)
        _printf_(7, 8);
static json_t *add_check(struct diag *d, const char *id, int vm, const char *host,
                         const char *status, json_t *evidence, const char *fmt, ...)
{
        va_list ap;
        char buf[1024];
        json_t *c;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        c = json_pack("{s:s,s:s,s:s}", "id", id, "status", status, "summary", buf);
        if (vm >= 0)
                json_object_set_new(c, "vm", json_string(d->name[vm]));
        if (host)
                json_object_set_new(c, "host", json_string(host));
        if (evidence)
                json_object_set_new(c, "evidence", evidence);
        json_array_append_new(d->checks, c);
        return c;
}

/* A fault found by check c (its status becomes "fail"). */
static void add_fault(struct diag *d, json_t *c, const char *code, const char *fix,
                      const char *fmt, ...) _printf_(5, 6);
static void add_fault(struct diag *d, json_t *c, const char *code, const char *fix,
                      const char *fmt, ...)
{
        va_list ap;
        char buf[1024];
        json_t *f;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        json_object_set_new(c, "status", json_string("fail"));
        f = json_pack("{s:s,s:O,s:s,s:s}", "fault", code, "check", json_object_get(c, "id"),
                      "summary", buf, "fix", fix);
        if (json_object_get(c, "vm"))
                json_object_set(f, "vm", json_object_get(c, "vm"));
        if (json_object_get(c, "host"))
                json_object_set(f, "host", json_object_get(c, "host"));
        json_array_append_new(d->faults, f);
}

static json_t *guest_nic(json_t *vm)
{
        const char *mac = str(json_object_get(vm, "nic"), "mac");
        size_t i;
        json_t *n;

        json_array_foreach(json_object_get(json_object_get(vm, "guest"), "nics"), i, n)
                if (mac && str(n, "mac") && strcasecmp(str(n, "mac"), mac) == 0)
                        return n;
        return NULL;
}

static json_t *first_inet(json_t *gnic)
{
        size_t i;
        json_t *a;

        json_array_foreach(json_object_get(gnic, "addresses"), i, a)
                if (dv_streq(str(a, "family"), "inet") && str(a, "address"))
                        return a;
        return NULL;
}

bool dv_netdiag_effective_ip(json_t *vm, const char **ret_ip, int *ret_prefix,
                             const char **ret_gateway, bool *ret_from_guest)
{
        json_t *nic = json_object_get(vm, "nic"), *guest = json_object_get(vm, "guest");
        json_t *gnic, *a, *gw;

        if (!nic)
                return false;
        if (json_is_object(guest)) {
                gnic = guest_nic(vm);
                a = first_inet(gnic);
                if (!a)
                        return false;
                gw = json_object_get(guest, "gateway");
                *ret_ip = str(a, "address");
                *ret_prefix = (int)json_integer_value(json_object_get(a, "prefix"));
                *ret_gateway = dv_streq(str(gw, "nic"), str(gnic, "name")) ? str(gw, "address")
                                                                           : NULL;
                *ret_from_guest = true;
                return true;
        }
        if (!str(nic, "ip"))
                return false;
        *ret_ip = str(nic, "ip");
        *ret_prefix = (int)json_integer_value(json_object_get(nic, "prefix"));
        *ret_gateway = str(nic, "gateway");
        *ret_from_guest = false;
        return true;
}

static bool in_subnet(uint32_t addr, uint32_t net_addr, int prefix)
{
        uint32_t mask = dv_prefix_mask(prefix);

        return (addr & mask) == (net_addr & mask);
}

static json_t *probe(struct diag *d, const char *kind, int i)
{
        json_t *p = json_array_get(json_object_get(json_object_get(d->facts, "probes"), kind), i);

        return json_is_object(p) ? p : NULL;
}

static int probe_ok(struct diag *d, const char *kind, int i) /* 1 ok, 0 failed, -1 none */
{
        json_t *p = probe(d, kind, i);

        return p ? json_is_true(json_object_get(p, "ok")) : -1;
}

/* ---- 1. the guest side ------------------------------------------------------- */

static void check_vm(struct diag *d, int i)
{
        json_t *vm = d->vm[i], *c;
        const char *state = str(vm, "state"), *hs = str(vm, "host_state");

        if (!dv_streq(state, "running")) {
                c = add_check(d, "vm.running", i, NULL, "fail", NULL, "vm %s is %s", d->name[i],
                              state ? state : "in an unknown state");
                add_fault(d, c, "vm-not-running", "start it (drover vm start VM)",
                          "vm %s is %s: it cannot talk to anything", d->name[i],
                          state ? state : "not running");
                return;
        }
        if (!dv_streq(hs, "connected") && !dv_streq(hs, "maintenance")) {
                c = add_check(d, "vm.running", i, str(vm, "host"), "fail", NULL,
                              "vm %s is running on host %s, which is %s", d->name[i],
                              str(vm, "host"), hs ? hs : "unknown");
                add_fault(d, c, "host-not-connected",
                          "bring the host back or let HA restart the VM elsewhere",
                          "host %s of vm %s is %s: its state is unknown", str(vm, "host"),
                          d->name[i], hs ? hs : "unknown");
                return;
        }
        d->running[i] = true;
        add_check(d, "vm.running", i, str(vm, "host"), "pass", NULL, "vm %s is running on host %s",
                  d->name[i], str(vm, "host"));
}

static void check_tools(struct diag *d, int i)
{
        const char *t = str(d->vm[i], "tools");
        json_t *c;

        if (!d->running[i]) {
                add_check(d, "tools.running", i, NULL, "skip", NULL, "vm %s is not running",
                          d->name[i]);
                return;
        }
        if (dv_streq(t, "running")) {
                d->tools[i] = true;
                add_check(d, "tools.running", i, NULL, "pass", NULL, "Tools is running in vm %s",
                          d->name[i]);
                return;
        }
        c = add_check(d, "tools.running", i, NULL, "fail", NULL, "Tools is %s in vm %s",
                      t ? t : "not running", d->name[i]);
        add_fault(d, c, "tools-not-running",
                  "start Drover Tools in the guest (or install it); then diagnose again",
                  "Tools is not running in vm %s: its guest side (NIC, address, firewall) cannot "
                  "be checked and it cannot run probes",
                  d->name[i]);
}

static void check_firewall(struct diag *d, int i)
{
        json_t *guest = json_object_get(d->vm[i], "guest");
        json_t *fw = json_object_get(guest, "firewall");

        if (!json_is_object(guest)) {
                add_check(d, "guest.firewall", i, NULL, "skip", NULL, "no guest info%s%s",
                          str(d->vm[i], "guest_error") ? ": " : "",
                          str(d->vm[i], "guest_error") ?: "");
                return;
        }
        if (!json_is_true(json_object_get(fw, "rules"))) {
                add_check(d, "guest.firewall", i, NULL, "pass", json_incref(fw),
                          "no firewall rules in vm %s", d->name[i]);
                return;
        }
        /* Rules are not a fault by themselves: judged with the probes. */
        add_check(d, "guest.firewall", i, NULL, "warn", json_incref(fw),
                  "vm %s has %lld firewall rule(s)", d->name[i],
                  (long long)json_integer_value(json_object_get(fw, "rule_count")));
}

static void check_ip(struct diag *d, int i)
{
        json_t *vm = d->vm[i], *nic = json_object_get(vm, "nic"), *c, *gnic;
        bool from_guest = false;

        if (!json_is_object(nic)) {
                c = add_check(d, "guest.ip", i, NULL, "fail", NULL, "vm %s has no NIC",
                              d->name[i]);
                add_fault(d, c, "no-nic", "add a NIC on a port group to the VM",
                          "vm %s has no NIC", d->name[i]);
                return;
        }
        d->have_ip[i] = dv_netdiag_effective_ip(vm, &d->ip[i], &d->prefix[i], &d->gw[i],
                                                &from_guest) &&
                        dv_ipv4_parse(d->ip[i], &d->addr[i]);
        if (!d->running[i]) {
                add_check(d, "guest.ip", i, NULL, "skip", NULL, "vm %s is not running",
                          d->name[i]);
                return;
        }
        if (!json_is_object(json_object_get(vm, "guest"))) {
                if (d->have_ip[i])
                        add_check(d, "guest.ip", i, NULL, "skip", NULL,
                                  "not verified in the guest; the spec gives %s/%d%s%s", d->ip[i],
                                  d->prefix[i], d->gw[i] ? " gateway " : "",
                                  d->gw[i] ? d->gw[i] : "");
                else
                        add_check(d, "guest.ip", i, NULL, "skip", NULL,
                                  "the address of vm %s is unknown (none in its spec, no guest "
                                  "info)",
                                  d->name[i]);
                return;
        }
        gnic = guest_nic(vm);
        if (!gnic) {
                c = add_check(d, "guest.ip", i, NULL, "fail", NULL,
                              "the guest of vm %s shows no NIC with MAC %s", d->name[i],
                              str(nic, "mac"));
                add_fault(d, c, "guest-nic-missing",
                          "check the guest's virtio-net driver and that the NIC is plugged",
                          "the guest of vm %s does not see its NIC %s", d->name[i],
                          str(nic, "mac"));
                return;
        }
        if (!json_is_true(json_object_get(gnic, "up"))) {
                c = add_check(d, "guest.ip", i, NULL, "fail", json_incref(gnic),
                              "NIC %s of vm %s is down in the guest", str(gnic, "name"),
                              d->name[i]);
                add_fault(d, c, "guest-nic-down", "bring the interface up in the guest",
                          "NIC %s (%s) is down in the guest of vm %s", str(gnic, "name"),
                          str(nic, "mac"), d->name[i]);
                return;
        }
        if (!d->have_ip[i]) {
                c = add_check(d, "guest.ip", i, NULL, "fail", json_incref(gnic),
                              "NIC %s of vm %s has no IPv4 address", str(gnic, "name"),
                              d->name[i]);
                add_fault(d, c, "guest-no-ip",
                          "give the NIC an address (--nic PORTGROUP:IP/PREFIX[:GW]) or fix the "
                          "guest's network configuration",
                          "NIC %s of vm %s has no IPv4 address", str(gnic, "name"), d->name[i]);
                return;
        }
        if (str(nic, "ip") && (!dv_streq(str(nic, "ip"), d->ip[i]) ||
                               json_integer_value(json_object_get(nic, "prefix")) != d->prefix[i])) {
                add_check(d, "guest.ip", i, NULL, "warn", json_incref(gnic),
                          "NIC %s of vm %s has %s/%d in the guest, but its spec says %s/%lld",
                          str(gnic, "name"), d->name[i], d->ip[i], d->prefix[i], str(nic, "ip"),
                          (long long)json_integer_value(json_object_get(nic, "prefix")));
                return;
        }
        add_check(d, "guest.ip", i, NULL, "pass", json_incref(gnic), "NIC %s of vm %s has %s/%d%s%s",
                  str(gnic, "name"), d->name[i], d->ip[i], d->prefix[i],
                  d->gw[i] ? ", gateway " : ", no gateway", d->gw[i] ? d->gw[i] : "");
}

static void check_subnet(struct diag *d)
{
        bool in0, in1, route0, route1;
        json_t *c;
        int bad;

        if (!d->have_ip[0] || !d->have_ip[1]) {
                add_check(d, "ip.subnet", -1, NULL, "skip", NULL,
                          "the address of vm %s is unknown",
                          d->name[d->have_ip[0] ? 1 : 0]);
                return;
        }
        in0 = in_subnet(d->addr[1], d->addr[0], d->prefix[0]); /* VM1 inside VM0's subnet */
        in1 = in_subnet(d->addr[0], d->addr[1], d->prefix[1]);
        if (in0 && in1) {
                d->same_subnet = true;
                add_check(d, "ip.subnet", -1, NULL, "pass", NULL,
                          "%s/%d and %s/%d are in one subnet", d->ip[0], d->prefix[0], d->ip[1],
                          d->prefix[1]);
                return;
        }
        route0 = in0 || d->gw[0];
        route1 = in1 || d->gw[1];
        if (route0 && route1) {
                d->routed = true;
                add_check(d, "ip.subnet", -1, NULL, "pass", NULL,
                          "different subnets (%s/%d, %s/%d), routed through %s%s%s", d->ip[0],
                          d->prefix[0], d->ip[1], d->prefix[1], d->gw[0] ? d->gw[0] : "",
                          d->gw[0] && d->gw[1] ? " and " : "", d->gw[1] ? d->gw[1] : "");
                return;
        }
        bad = route0 ? 1 : 0;
        c = add_check(d, "ip.subnet", bad, NULL, "fail", NULL,
                      "vm %s (%s/%d) has no route to %s: not in its subnet and no gateway",
                      d->name[bad], d->ip[bad], d->prefix[bad], d->ip[1 - bad]);
        add_fault(d, c, "not-same-subnet",
                  "give both NICs addresses in one subnet (check the prefix), or gateways",
                  "vm %s (%s/%d) and vm %s (%s/%d) are not in one subnet and vm %s has no "
                  "gateway",
                  d->name[bad], d->ip[bad], d->prefix[bad], d->name[1 - bad], d->ip[1 - bad],
                  d->prefix[1 - bad], d->name[bad]);
}

static void check_conflicts(struct diag *d)
{
        json_t *all = json_array(), *c, *x;
        const char *mac0 = str(json_object_get(d->vm[0], "nic"), "mac");
        const char *mac1 = str(json_object_get(d->vm[1], "nic"), "mac");
        size_t k;

        if (d->have_ip[0] && d->have_ip[1] && d->addr[0] == d->addr[1])
                json_array_append_new(all, json_pack("{s:s,s:s,s:s}", "kind", "ip", "value",
                                                     d->ip[0], "vm", d->name[1]));
        if (mac0 && mac1 && strcasecmp(mac0, mac1) == 0)
                json_array_append_new(all, json_pack("{s:s,s:s,s:s}", "kind", "mac", "value",
                                                     mac0, "vm", d->name[1]));
        for (int i = 0; i < 2; i++)
                json_array_foreach(json_object_get(d->vm[i], "conflicts"), k, x)
                        json_array_append(all, x);
        if (json_array_size(all) == 0) {
                json_decref(all);
                add_check(d, "ip.conflict", -1, NULL, "pass", NULL,
                          "no other NIC on these VLANs uses their MAC or IP addresses");
                return;
        }
        x = json_array_get(all, 0);
        c = add_check(d, "ip.conflict", -1, NULL, "fail", all, "%s %s is also used by vm %s",
                      dv_streq(str(x, "kind"), "mac") ? "MAC" : "address", str(x, "value"),
                      str(x, "vm"));
        add_fault(d, c, "address-conflict", "give each NIC its own MAC and IP address",
                  "%s %s is used twice on one layer-2 network (also by vm %s)",
                  dv_streq(str(x, "kind"), "mac") ? "MAC" : "address", str(x, "value"),
                  str(x, "vm"));
}

/* ---- 2. the virtual switch --------------------------------------------------- */

static json_t *pg_of(struct diag *d, int i)
{
        json_t *pg = json_object_get(d->vm[i], "portgroup");

        return json_is_object(pg) ? pg : NULL;
}

static int vlan_of(struct diag *d, int i)
{
        return (int)json_integer_value(json_object_get(pg_of(d, i), "vlan"));
}

static bool check_switch(struct diag *d)
{
        json_t *c, *pg[2];
        int v0, v1;

        for (int i = 0; i < 2; i++) {
                json_t *nic = json_object_get(d->vm[i], "nic");

                pg[i] = pg_of(d, i);
                if (!json_is_object(nic)) {
                        add_check(d, "nic.portgroup", i, NULL, "skip", NULL, "vm %s has no NIC",
                                  d->name[i]);
                } else if (!pg[i]) {
                        c = add_check(d, "nic.portgroup", i, NULL, "fail", NULL,
                                      "port group %s of vm %s does not exist",
                                      str(nic, "portgroup") ?: "(none)", d->name[i]);
                        add_fault(d, c, "portgroup-missing",
                                  "connect the NIC to an existing port group",
                                  "NIC %s of vm %s is on port group %s, which does not exist",
                                  str(nic, "mac"), d->name[i], str(nic, "portgroup") ?: "(none)");
                } else {
                        add_check(d, "nic.portgroup", i, NULL, "pass", NULL,
                                  "NIC %s of vm %s is on port group %s (dvs %s, VLAN %lld)",
                                  str(nic, "mac"), d->name[i], str(pg[i], "name"),
                                  str(pg[i], "dvs"),
                                  (long long)json_integer_value(json_object_get(pg[i], "vlan")));
                }
        }
        if (!pg[0] || !pg[1]) {
                add_check(d, "dvs.same", -1, NULL, "skip", NULL, "a NIC has no port group");
                add_check(d, "vlan.same", -1, NULL, "skip", NULL, "a NIC has no port group");
                return false;
        }
        if (!dv_streq(str(pg[0], "dvs"), str(pg[1], "dvs"))) {
                if (d->routed) {
                        add_check(d, "dvs.same", -1, NULL, "warn", NULL,
                                  "different DVSs (%s, %s): traffic must be routed between their "
                                  "networks",
                                  str(pg[0], "dvs"), str(pg[1], "dvs"));
                } else {
                        c = add_check(d, "dvs.same", -1, NULL, "fail", NULL,
                                      "vm %s is on dvs %s, vm %s on dvs %s", d->name[0],
                                      str(pg[0], "dvs"), d->name[1], str(pg[1], "dvs"));
                        add_fault(d, c, "different-dvs",
                                  "put both NICs on port groups of one DVS, or route between "
                                  "them with gateways",
                                  "vm %s and vm %s are on different DVSs (%s, %s) without "
                                  "routing",
                                  d->name[0], d->name[1], str(pg[0], "dvs"), str(pg[1], "dvs"));
                }
                add_check(d, "vlan.same", -1, NULL, "skip", NULL, "different DVSs");
                return false;
        }
        add_check(d, "dvs.same", -1, NULL, "pass", NULL, "both on dvs %s", str(pg[0], "dvs"));
        v0 = vlan_of(d, 0);
        v1 = vlan_of(d, 1);
        if (dv_streq(str(pg[0], "name"), str(pg[1], "name"))) {
                add_check(d, "vlan.same", -1, NULL, "pass", NULL,
                          "same port group %s (VLAN %d)", str(pg[0], "name"), v0);
        } else if (v0 == v1) {
                add_check(d, "vlan.same", -1, NULL, "pass", NULL,
                          "port groups %s and %s share VLAN %d: one layer-2 network",
                          str(pg[0], "name"), str(pg[1], "name"), v0);
        } else if (d->routed) {
                add_check(d, "vlan.same", -1, NULL, "warn", NULL,
                          "different VLANs (%d, %d): the TOR must route between them", v0, v1);
        } else {
                c = add_check(d, "vlan.same", -1, NULL, "fail", NULL,
                              "vm %s is on VLAN %d (port group %s), vm %s on VLAN %d (port group "
                              "%s)",
                              d->name[0], v0, str(pg[0], "name"), d->name[1], v1,
                              str(pg[1], "name"));
                add_fault(d, c, "different-vlans",
                          "put both NICs on port groups of the same VLAN, or give them subnets "
                          "and gateways the TOR routes between",
                          "vm %s (VLAN %d) and vm %s (VLAN %d) are on different VLANs: they "
                          "cannot talk at layer 2",
                          d->name[0], v0, d->name[1], v1);
        }
        return true;
}

/* ---- 3. placement, uplinks and the TOR ---------------------------------------- */

static void check_uplink(struct diag *d, int i)
{
        json_t *up = json_object_get(d->vm[i], "uplink"), *c;
        const char *host = str(d->vm[i], "host");

        if (!json_is_object(up)) {
                add_check(d, "host.uplink", -1, host, "skip", NULL, "uplink of host %s unknown%s%s",
                          host, str(d->vm[i], "uplink_error") ? ": " : "",
                          str(d->vm[i], "uplink_error") ?: "");
                return;
        }
        if (json_is_true(json_object_get(up, "carrier"))) {
                add_check(d, "host.uplink", -1, host, "pass", json_incref(up),
                          "uplink %s of host %s is up", str(up, "interface"), host);
                return;
        }
        if (d->same_host) {
                add_check(d, "host.uplink", -1, host, "warn", json_incref(up),
                          "uplink %s of host %s has no carrier (not on the path between these "
                          "VMs, but their gateways are out of reach)",
                          str(up, "interface"), host);
                return;
        }
        c = add_check(d, "host.uplink", -1, host, "fail", json_incref(up),
                      "uplink %s of host %s has no carrier", str(up, "interface"), host);
        add_fault(d, c, "uplink-down",
                  "check the uplink's cable and its TOR port (in the lab: drover lab link HOST "
                  "uplink up)",
                  "the uplink %s of host %s is down: vm %s cannot reach the TOR",
                  str(up, "interface"), host, d->name[i]);
}

/* Known to be down (unknown is not down: the health result then judges). */
static bool uplink_down(struct diag *d, int i)
{
        json_t *up = json_object_get(d->vm[i], "uplink");

        return json_is_object(up) && !json_is_true(json_object_get(up, "carrier"));
}

static void check_tor_vlan(struct diag *d, json_t *health, int i)
{
        const char *host = str(d->vm[i], "host"), *st;
        json_t *e, *c;
        int v = vlan_of(d, i), gw = probe_ok(d, "gateway", i);

        e = dv_health_entry(health, host, v);
        st = str(e, "status");
        if (!st) {
                add_check(d, "tor.vlan", -1, host, "skip", NULL,
                          "no health result for host %s on VLAN %d", host, v);
        } else if (dv_streq(st, "ok")) {
                add_check(d, "tor.vlan", -1, host, "pass", json_incref(e),
                          "VLAN %d reaches host %s from the other hosts of its network", v, host);
        } else if (dv_streq(st, "uplink-down") || dv_streq(st, "unknown") ||
                   dv_streq(st, "no-peers")) {
                add_check(d, "tor.vlan", -1, host, "skip", json_incref(e), "%s", str(e, "reason"));
        } else if (dv_streq(st, "isolated") && gw == 1) {
                /* The VM reached its gateway on this VLAN through the TOR: the port
                 * carries it; the host is alone on its network (tor.interconnect). */
                add_check(d, "tor.vlan", -1, host, "pass", json_incref(e),
                          "vm %s reaches its gateway on VLAN %d, so the TOR port of host %s "
                          "carries it; no other host of the DVS is on that network",
                          d->name[i], v, host);
        } else if (dv_streq(st, "isolated") && gw == -1) {
                c = add_check(d, "tor.vlan", -1, host, "fail", json_incref(e), "%s",
                              str(e, "reason"));
                add_fault(d, c, "host-isolated",
                          "check which VLANs the TOR port of the host carries and how its TOR "
                          "connects to the others",
                          "%s", str(e, "reason"));
        } else {
                c = add_check(d, "tor.vlan", -1, host, "fail", json_incref(e), "%s",
                              str(e, "reason"));
                if (dv_streq(st, "mtu-mismatch"))
                        add_fault(d, c, "mtu-mismatch",
                                  "make the MTU of the uplinks and the TOR ports equal",
                                  "%s", str(e, "reason"));
                else if (dv_streq(st, "partial"))
                        add_fault(d, c, "vlan-partial",
                                  "compare the VLANs allowed on the TOR ports of the hosts named",
                                  "on VLAN %d, host %s (vm %s) reaches only part of the other "
                                  "hosts: %s",
                                  v, host, d->name[i], str(e, "reason"));
                else if (dv_streq(st, "not-on-tor"))
                        add_fault(d, c, "vlan-not-on-tor",
                                  "add the VLAN to the TOR and to the host ports",
                                  "%s", str(e, "reason"));
                else
                        add_fault(d, c, "vlan-not-trunked",
                                  "allow the VLAN on that host's TOR port (in the lab: drover lab "
                                  "vlan HOST VLAN allow)",
                                  "VLAN %d is not carried to host %s (vm %s): %s", v, host,
                                  d->name[i], str(e, "reason"));
        }
}

static void check_interconnect(struct diag *d, json_t *health)
{
        const char *h0 = str(d->vm[0], "host"), *h1 = str(d->vm[1], "host");
        int n0 = dv_health_network_of(health, h0), n1 = dv_health_network_of(health, h1);
        json_t *nets = json_object_get(health, "networks"), *c;
        size_t s0, s1;

        if (n0 < 0 || n1 < 0) {
                add_check(d, "tor.interconnect", -1, NULL, "skip", NULL,
                          "an uplink is down or a host did not answer");
                return;
        }
        if (n0 == n1) {
                add_check(d, "tor.interconnect", -1, NULL, "pass", NULL,
                          "hosts %s and %s exchange frames: one physical network", h0, h1);
                return;
        }
        s0 = json_array_size(json_array_get(nets, n0));
        s1 = json_array_size(json_array_get(nets, n1));
        /* A host alone on its network is either cut from every VLAN or on a
         * network of its own: its VM reaching its gateway tells which. */
        if ((s0 < 2 && probe_ok(d, "gateway", 0) != 1) || (s1 < 2 && probe_ok(d, "gateway", 1) != 1)) {
                add_check(d, "tor.interconnect", -1, NULL, "skip", NULL,
                          "a host hears no other host (see tor.vlan)");
                return;
        }
        c = add_check(d, "tor.interconnect", -1, NULL, "fail",
                      json_pack("{s:O}", "networks", nets),
                      "hosts %s and %s are on two physical networks that do not reach each "
                      "other",
                      h0, h1);
        add_fault(d, c, "networks-not-interconnected",
                  "connect the two networks (the TORs) or place both VMs on hosts of one "
                  "network (in the lab: drover lab tor connect)",
                  "vm %s (host %s) and vm %s (host %s) are on two physical networks that are not "
                  "interconnected; each reaches its own TOR",
                  d->name[0], h0, d->name[1], h1);
}

static void check_placement(struct diag *d, bool same_dvs)
{
        const char *h0 = str(d->vm[0], "host"), *h1 = str(d->vm[1], "host");
        json_t *health = json_object_get(d->facts, "health");
        const char *herr = str(d->facts, "health_error");

        if (!d->running[0] || !d->running[1]) {
                add_check(d, "placement", -1, NULL, "skip", NULL, "a VM is not running");
                return;
        }
        d->same_host = dv_streq(h0, h1);
        if (d->same_host)
                add_check(d, "placement", -1, h0, "pass", NULL,
                          "both on host %s: traffic between them stays in its switch", h0);
        else
                add_check(d, "placement", -1, NULL, "pass", NULL,
                          "on hosts %s and %s: traffic crosses both uplinks and the TOR", h0, h1);
        check_uplink(d, 0);
        if (!d->same_host)
                check_uplink(d, 1);
        if (d->same_host) {
                add_check(d, "tor.vlan", -1, h0, "skip", NULL,
                          "same host: the TOR is not on the path");
                return;
        }
        if (!same_dvs || !json_is_object(health)) {
                add_check(d, "tor.vlan", -1, NULL, "skip", NULL, "no DVS health result%s%s",
                          herr ? ": " : "", herr ? herr : "");
                return;
        }
        for (int i = 0; i < 2; i++)
                if (uplink_down(d, i))
                        add_check(d, "tor.vlan", -1, str(d->vm[i], "host"), "skip", NULL,
                                  "the uplink of host %s is down (see host.uplink)",
                                  str(d->vm[i], "host"));
                else
                        check_tor_vlan(d, health, i);
        if (uplink_down(d, 0) || uplink_down(d, 1))
                add_check(d, "tor.interconnect", -1, NULL, "skip", NULL,
                          "an uplink is down (see host.uplink)");
        else
                check_interconnect(d, health);
}

/* ---- 4. active probes -------------------------------------------------------- */

static void check_probes(struct diag *d)
{
        for (int i = 0; i < 2; i++) {
                json_t *p = probe(d, "gateway", i);

                if (!p)
                        add_check(d, "probe.gateway", i, NULL, "skip", NULL, "%s",
                                  !d->tools[i]  ? "no probe from this VM (Tools not running)"
                                  : !d->gw[i]   ? "no gateway"
                                                : "not run");
                else
                        add_check(d, "probe.gateway", i, NULL,
                                  json_is_true(json_object_get(p, "ok")) ? "pass" : "fail",
                                  json_incref(p), "vm %s %s its gateway %s (%lld/%lld answered)%s%s",
                                  d->name[i],
                                  json_is_true(json_object_get(p, "ok")) ? "reaches"
                                                                         : "cannot reach",
                                  str(p, "target"),
                                  (long long)json_integer_value(json_object_get(p, "received")),
                                  (long long)json_integer_value(json_object_get(p, "transmitted")),
                                  str(p, "error") ? ": " : "", str(p, "error") ?: "");
        }
        for (int i = 0; i < 2; i++) {
                json_t *p = probe(d, "peer", i);

                if (!p)
                        add_check(d, "probe.peer", i, NULL, "skip", NULL, "%s",
                                  !d->tools[i]         ? "no probe from this VM (Tools not running)"
                                  : !d->have_ip[1 - i] ? "the peer's address is unknown"
                                                       : "not run");
                else
                        add_check(d, "probe.peer", i, NULL,
                                  json_is_true(json_object_get(p, "ok")) ? "pass" : "fail",
                                  json_incref(p), "vm %s %s vm %s at %s (%lld/%lld answered)%s%s",
                                  d->name[i],
                                  json_is_true(json_object_get(p, "ok")) ? "reaches"
                                                                         : "cannot reach",
                                  d->name[1 - i], str(p, "target"),
                                  (long long)json_integer_value(json_object_get(p, "received")),
                                  (long long)json_integer_value(json_object_get(p, "transmitted")),
                                  str(p, "error") ? ": " : "", str(p, "error") ?: "");
        }
}

static json_t *find_check(struct diag *d, const char *id, const char *vm)
{
        size_t i;
        json_t *c;

        json_array_foreach(d->checks, i, c)
                if (dv_streq(str(c, "id"), id) && (!vm || dv_streq(str(c, "vm"), vm)))
                        return c;
        return NULL;
}

/* No fault in the tree, yet the peers do not answer: read the probes. */
static void judge_probes(struct diag *d)
{
        int gw[2] = { probe_ok(d, "gateway", 0), probe_ok(d, "gateway", 1) };

        for (int i = 0; i < 2; i++) {
                json_t *fw = find_check(d, "guest.firewall", d->name[i]);

                if (fw && dv_streq(str(fw, "status"), "warn") &&
                    (probe_ok(d, "peer", 1 - i) == 0 || probe_ok(d, "peer", i) == 0)) {
                        add_fault(d, fw, "guest-firewall",
                                  "review the guest firewall of the VM: allow the traffic (and "
                                  "ICMP for diagnosis)",
                                  "the firewall in vm %s drops the traffic: it has rules, and "
                                  "probes to and from it fail while every other check passes%s",
                                  d->name[i],
                                  gw[i] == 0 ? " (it cannot reach its gateway either)" : "");
                        return;
                }
        }
        if (gw[0] == 0 || gw[1] == 0) {
                for (int i = 0; i < 2; i++)
                        if (gw[i] == 0)
                                add_fault(d, find_check(d, "probe.gateway", d->name[i]),
                                          "vm-to-tor",
                                          "check the VM's NIC and port group, the host's uplink "
                                          "and its TOR port",
                                          "vm %s cannot reach its gateway %s: the fault lies "
                                          "between vm %s and its TOR",
                                          d->name[i], d->gw[i] ? d->gw[i] : "?", d->name[i]);
                return;
        }
        if (gw[0] == 1 && gw[1] == 1) {
                json_t *c = find_check(d, "probe.peer", d->name[0]);

                add_fault(d, c, "tor-side",
                          "check the TOR: the link between TORs and the routing between the "
                          "VLANs or subnets",
                          "both VMs reach their gateways but not each other: the fault is on the "
                          "TOR side");
                /* The fault lies between the TORs: no VM is to blame. */
                json_object_del(json_array_get(d->faults, json_array_size(d->faults) - 1), "vm");
                return;
        }
        add_fault(d, find_check(d, "probe.peer", d->name[0]), "unexplained",
                  "check the guests' firewalls and routes by hand",
                  "the VMs do not answer each other, and no check explains it");
}

json_t *dv_netdiag_evaluate(json_t *facts)
{
        struct diag d = { .facts = facts };
        json_t *vms = json_object_get(facts, "vms"), *out, *concl;
        bool same_dvs;
        int can_talk = -1; /* -1 unknown */

        if (json_array_size(vms) != 2)
                return NULL;
        d.checks = json_array();
        d.faults = json_array();
        for (int i = 0; i < 2; i++) {
                d.vm[i] = json_array_get(vms, i);
                d.name[i] = str(d.vm[i], "name") ?: "?";
        }
        /* 1. guest side */
        for (int i = 0; i < 2; i++)
                check_vm(&d, i);
        for (int i = 0; i < 2; i++)
                check_tools(&d, i);
        for (int i = 0; i < 2; i++)
                check_firewall(&d, i);
        for (int i = 0; i < 2; i++)
                check_ip(&d, i);
        check_subnet(&d);
        check_conflicts(&d);
        /* 2. virtual switch */
        same_dvs = check_switch(&d);
        /* 3. placement */
        check_placement(&d, same_dvs);
        /* 4. probes */
        check_probes(&d);

        for (int i = 0; i < 2; i++) {
                int p = probe_ok(&d, "peer", i);

                if (p == 1)
                        can_talk = 1;
                else if (p == 0 && can_talk < 0)
                        can_talk = 0;
        }
        if (json_array_size(d.faults) == 0 && can_talk == 0)
                judge_probes(&d);
        if (json_array_size(d.faults) == 0 && can_talk == 1) {
                /* Firewall rules that let ICMP through are fine. */
                for (int i = 0; i < 2; i++) {
                        json_t *fw = find_check(&d, "guest.firewall", d.name[i]);

                        if (fw && dv_streq(str(fw, "status"), "warn"))
                                json_object_set_new(fw, "status", json_string("pass"));
                }
        }
        if (json_array_size(d.faults) > 0) {
                concl = json_incref(json_array_get(d.faults, 0));
        } else if (can_talk == 1) {
                char buf[300];

                snprintf(buf, sizeof(buf),
                         "vm %s and vm %s can talk: every check passes and they answer each other",
                         d.name[0], d.name[1]);
                concl = json_pack("{s:s,s:s}", "fault", "none", "summary", buf);
        } else {
                concl = json_pack("{s:s,s:s}", "fault", "none", "summary",
                                  "no fault found, but no probe could run between the VMs");
        }
        out = json_pack("{s:[s,s],s:o,s:o,s:o,s:o}", "vms", d.name[0], d.name[1], "checks",
                        d.checks, "can_talk",
                        can_talk < 0 ? json_null() : json_boolean(can_talk == 1), "faults",
                        d.faults, "conclusion", concl);
        return out;
}
