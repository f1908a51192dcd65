#include "nethealth.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* One probe session, indexed: hosts 0..nh-1, VLANs 0..nv-1.
 * small[(v*nh + r)*nh + s]: frames of sender s that receiver r heard on v. */
struct session {
        int nh;              /* hosts */
        int nv;              /* VLANs */
        const char **name;   /* host names (borrowed from the input) */
        int *vlan;           /* VLAN ids */
        bool *up;            /* carrier up and answered */
        bool *answered;      /* the probe call succeeded */
        int *small;          /* counts, see above */
        int *large;          /* the same for frames of full MTU */
        int *net;            /* network (component) of each host, -1 if not up */
        bool *dark;          /* dark[v*nh + i]: host i exchanges nothing on VLAN v while
                              * other hosts of its network do (its port lacks v) */
};

static int host_index(const struct session *s, const char *name)
{
        for (int i = 0; name && i < s->nh; i++)
                if (strcmp(s->name[i], name) == 0)
                        return i;
        return -1;
}

static int vlan_index(const struct session *s, int vlan)
{
        for (int i = 0; i < s->nv; i++)
                if (s->vlan[i] == vlan)
                        return i;
        return -1;
}

static int *cell(const struct session *s, int *a, int v, int recv, int send)
{
        return &a[((size_t)v * s->nh + recv) * s->nh + send];
}

/* Frames between a and b on VLAN v, in either direction. */
static bool linked(const struct session *s, int v, int a, int b)
{
        return *cell(s, s->small, v, a, b) > 0 || *cell(s, s->small, v, b, a) > 0 ||
               *cell(s, s->large, v, a, b) > 0 || *cell(s, s->large, v, b, a) > 0;
}

/* Frame counts from the network: negative ignored, sums saturate. */
static void count_add(int *c, json_int_t n)
{
        if (n <= 0)
                return;
        *c = n >= (json_int_t)(1 << 30) - *c ? 1 << 30 : *c + (int)n;
}

static void session_free(struct session *s)
{
        free(s->name);
        free(s->vlan);
        free(s->up);
        free(s->answered);
        free(s->small);
        free(s->large);
        free(s->net);
        free(s->dark);
}

static int session_load(struct session *s, json_t *input)
{
        json_t *hosts = json_object_get(input, "hosts"), *vlans = json_object_get(input, "vlans");
        json_t *h, *v, *rx;
        size_t i, j;

        memset(s, 0, sizeof(*s));
        s->nh = (int)DV_MIN(json_array_size(hosts), (size_t)DV_HEALTH_MAX_HOSTS);
        s->nv = (int)DV_MIN(json_array_size(vlans), (size_t)DV_HEALTH_MAX_VLANS);
        s->name = calloc(s->nh + 1, sizeof(*s->name));
        s->vlan = calloc(s->nv + 1, sizeof(*s->vlan));
        s->up = calloc(s->nh + 1, sizeof(*s->up));
        s->answered = calloc(s->nh + 1, sizeof(*s->answered));
        s->small = calloc((size_t)s->nv * s->nh * s->nh + 1, sizeof(int));
        s->large = calloc((size_t)s->nv * s->nh * s->nh + 1, sizeof(int));
        s->net = calloc(s->nh + 1, sizeof(*s->net));
        s->dark = calloc((size_t)s->nv * s->nh + 1, sizeof(*s->dark));
        if (!s->name || !s->vlan || !s->up || !s->answered || !s->small || !s->large || !s->net ||
            !s->dark)
                return -1;
        json_array_foreach(vlans, i, v) {
                if ((int)i >= s->nv)
                        break;
                s->vlan[i] = (int)json_integer_value(v);
        }
        json_array_foreach(hosts, i, h) {
                if ((int)i >= s->nh)
                        break;
                s->name[i] = json_string_value(json_object_get(h, "host"));
                if (!s->name[i])
                        s->name[i] = "?";
                s->answered[i] = !json_is_string(json_object_get(h, "error"));
                s->up[i] = s->answered[i] && json_is_true(json_object_get(h, "carrier"));
        }
        json_array_foreach(hosts, i, h) {
                if ((int)i >= s->nh)
                        break;
                json_array_foreach(json_object_get(h, "received"), j, rx) {
                        int from = host_index(s, json_string_value(json_object_get(rx, "host")));
                        int vi = vlan_index(s, (int)json_integer_value(json_object_get(rx, "vlan")));

                        if (from < 0 || vi < 0 || from == (int)i)
                                continue;
                        count_add(cell(s, s->small, vi, i, from),
                                  json_integer_value(json_object_get(rx, "small")));
                        count_add(cell(s, s->large, vi, i, from),
                                  json_integer_value(json_object_get(rx, "large")));
                }
        }
        return 0;
}

/* Networks: connected components of "frames on some VLAN", among hosts
 * whose uplink is up. Numbered in order of their first host. */
static int find_networks(struct session *s)
{
        int n = 0;

        for (int i = 0; i < s->nh; i++)
                s->net[i] = -1;
        for (int i = 0; i < s->nh; i++) {
                bool grew = true;

                if (!s->up[i] || s->net[i] >= 0)
                        continue;
                s->net[i] = n;
                while (grew) {
                        grew = false;
                        for (int a = 0; a < s->nh; a++) {
                                if (s->net[a] != n)
                                        continue;
                                for (int b = 0; b < s->nh; b++)
                                        for (int v = 0; v < s->nv && s->up[b] && s->net[b] < 0; v++)
                                                if (linked(s, v, a, b)) {
                                                        s->net[b] = n;
                                                        grew = true;
                                                }
                        }
                }
                n++;
        }
        return n;
}

static void add_problem(json_t *problems, const char *host, int vlan, const char *status,
                        const char *reason)
{
        json_t *p = json_pack("{s:s,s:s}", "status", status, "reason", reason);

        if (host)
                json_object_set_new(p, "host", json_string(host));
        if (vlan >= 0)
                json_object_set_new(p, "vlan", json_integer(vlan));
        json_array_append_new(problems, p);
}

static char *names_text(json_t *names)
{
        size_t i, len = 0;
        json_t *n;
        char *out;

        json_array_foreach(names, i, n)
                len += strlen(json_string_value(n)) + 2;
        out = calloc(1, len + 1);
        if (!out)
                return NULL;
        json_array_foreach(names, i, n) {
                if (i)
                        strcat(out, ", ");
                strcat(out, json_string_value(n));
        }
        return out;
}

/* Does VLAN v carry frames between two hosts of network net other than skip? */
static bool net_carries(const struct session *s, int v, int net, int skip)
{
        for (int a = 0; a < s->nh; a++)
                for (int b = a + 1; b < s->nh; b++)
                        if (a != skip && b != skip && s->net[a] == net && s->net[b] == net &&
                            linked(s, v, a, b))
                                return true;
        return false;
}

/* Hosts cut off a VLAN: nothing on it, while others of their network are. */
static void find_dark(struct session *s)
{
        for (int v = 0; v < s->nv; v++)
                for (int i = 0; i < s->nh; i++) {
                        bool any = false;

                        if (s->net[i] < 0)
                                continue;
                        for (int j = 0; j < s->nh && !any; j++)
                                any = j != i && linked(s, v, i, j);
                        s->dark[v * s->nh + i] = !any && net_carries(s, v, s->net[i], i);
                }
}

/* The status of host i on VLAN index v; peers/missing filled. reason: owned. */
static const char *judge(const struct session *s, int i, int v, int up_count, json_t *peers,
                         json_t *missing, char **reason)
{
        int others = 0, linked_n = 0, vlan = s->vlan[v];
        _cleanup_(freep) char *miss = NULL;

        if (!s->answered[i]) {
                *reason = dv_asprintf("host %s did not answer the probe", s->name[i]);
                return "unknown";
        }
        if (!s->up[i]) {
                *reason = dv_asprintf("the uplink of host %s has no carrier", s->name[i]);
                return "uplink-down";
        }
        for (int j = 0; j < s->nh; j++) {
                if (j == i || s->net[j] != s->net[i])
                        continue;
                if (linked(s, v, i, j)) {
                        others++;
                        linked_n++;
                        json_array_append_new(peers, json_string(s->name[j]));
                } else {
                        json_array_append_new(missing, json_string(s->name[j]));
                        /* A peer cut off the VLAN is its own problem, not ours. */
                        if (!s->dark[v * s->nh + j] || s->dark[v * s->nh + i])
                                others++;
                }
        }
        if (others == 0 && json_array_size(missing) > 0 && !s->dark[v * s->nh + i]) {
                *reason = dv_asprintf("frames of full MTU reach every other host of its network "
                                      "that carries VLAN %d", vlan);
                return "ok";
        }
        if (others == 0 && up_count <= 1) {
                *reason = dv_asprintf("no other host with its uplink up to exchange frames with");
                return "no-peers";
        }
        if (others == 0) {
                *reason = dv_asprintf("host %s hears no other host on any VLAN and none hears it: "
                                      "its TOR port carries none of the DVS's VLANs, or it is on "
                                      "a network not connected to the other hosts",
                                      s->name[i]);
                return "isolated";
        }
        miss = names_text(missing);
        if (linked_n == 0 && net_carries(s, v, s->net[i], i)) {
                *reason = dv_asprintf("VLAN %d does not reach host %s while the other hosts of its "
                                      "network exchange frames on it: the TOR port of %s does not "
                                      "carry VLAN %d",
                                      vlan, s->name[i], s->name[i], vlan);
                return "not-carried";
        }
        if (linked_n == 0) {
                *reason = dv_asprintf("no host of the network of %s exchanges frames on VLAN %d: "
                                      "the TOR carries it on none of their ports",
                                      s->name[i], vlan);
                return "not-on-tor";
        }
        if (linked_n < others) {
                *reason = dv_asprintf("frames of host %s on VLAN %d do not reach %s", s->name[i],
                                      vlan, miss ? miss : "?");
                return "partial";
        }
        /* Every peer is reached; frames of full MTU too? */
        for (int j = 0; j < s->nh; j++) {
                if (j == i || s->net[j] != s->net[i])
                        continue;
                if (*cell(s, s->small, v, i, j) > 0 && *cell(s, s->large, v, i, j) == 0) {
                        *reason = dv_asprintf("on VLAN %d, host %s receives small frames from %s "
                                              "but none of full MTU: an MTU mismatch on the path",
                                              vlan, s->name[i], s->name[j]);
                        return "mtu-mismatch";
                }
        }
        *reason = dv_asprintf("frames of full MTU reach every other host of its network");
        return "ok";
}

json_t *dv_health_analyze(json_t *input)
{
        struct session s;
        json_t *out = NULL, *hosts, *problems, *networks;
        int nnet, up_count = 0;
        bool ok = true;

        if (session_load(&s, input) < 0)
                goto done;
        nnet = find_networks(&s);
        find_dark(&s);
        for (int i = 0; i < s.nh; i++)
                up_count += s.up[i];

        networks = json_array();
        for (int n = 0; n < nnet; n++) {
                json_t *members = json_array();

                for (int i = 0; i < s.nh; i++)
                        if (s.net[i] == n)
                                json_array_append_new(members, json_string(s.name[i]));
                json_array_append_new(networks, members);
        }

        hosts = json_array();
        problems = json_array();
        for (int i = 0; i < s.nh; i++) {
                json_t *vl = json_array();
                json_t *h = json_pack("{s:s,s:s,s:o}", "host", s.name[i], "uplink",
                                      !s.answered[i] ? "unknown" : s.up[i] ? "up" : "down",
                                      "vlans", vl);
                bool host_reported = false;

                if (!s.answered[i]) {
                        json_t *e = json_object_get(json_array_get(json_object_get(input, "hosts"),
                                                                   i),
                                                    "error");

                        json_object_set(h, "error", e);
                }
                for (int v = 0; v < s.nv; v++) {
                        json_t *peers = json_array(), *missing = json_array();
                        _cleanup_(freep) char *reason = NULL;
                        const char *st = judge(&s, i, v, up_count, peers, missing, &reason);

                        json_array_append_new(vl, json_pack("{s:i,s:s,s:o,s:o,s:s}", "vlan",
                                                            s.vlan[v], "status", st, "peers",
                                                            peers, "missing", missing, "reason",
                                                            reason ? reason : ""));
                        if (dv_streq(st, "ok") || dv_streq(st, "no-peers"))
                                continue;
                        ok = false;
                        /* One problem per host for host-wide causes. */
                        if (dv_streq(st, "uplink-down") || dv_streq(st, "isolated") ||
                            dv_streq(st, "unknown")) {
                                if (!host_reported)
                                        add_problem(problems, s.name[i], -1, st, reason);
                                host_reported = true;
                        } else {
                                add_problem(problems, s.name[i], s.vlan[v], st, reason);
                        }
                }
                json_array_append_new(hosts, h);
        }
        if (nnet >= 2) {
                /* Several networks of two hosts or more: not interconnected. */
                int big = 0;

                for (size_t n = 0; n < json_array_size(networks); n++)
                        big += json_array_size(json_array_get(networks, n)) >= 2;
                if (big >= 2) {
                        _cleanup_(freep) char *all = strdup(""), *reason = NULL;

                        for (size_t n = 0; all && n < json_array_size(networks); n++) {
                                _cleanup_(freep) char *t = names_text(json_array_get(networks, n));
                                char *next = dv_asprintf("%s%s[%s]", all, n ? " and " : "",
                                                         t ? t : "?");

                                free(all);
                                all = next;
                        }
                        reason = dv_asprintf("the hosts form %d networks that do not reach each "
                                             "other: %s",
                                             nnet, all ? all : "?");
                        add_problem(problems, NULL, -1, "not-interconnected", reason);
                        ok = false;
                }
        }
        out = json_pack("{s:b,s:O?,s:O?,s:o,s:o,s:o}", "ok", ok, "vlans",
                        json_object_get(input, "vlans"), "mtu", json_object_get(input, "mtu"),
                        "networks", networks,
                        "hosts", hosts, "problems", problems);
done:
        session_free(&s);
        return out;
}

json_t *dv_health_entry(json_t *result, const char *host, int vlan)
{
        size_t i, j;
        json_t *h, *e;

        json_array_foreach(json_object_get(result, "hosts"), i, h) {
                if (!dv_streq(json_string_value(json_object_get(h, "host")), host))
                        continue;
                json_array_foreach(json_object_get(h, "vlans"), j, e)
                        if (json_integer_value(json_object_get(e, "vlan")) == vlan)
                                return e;
        }
        return NULL;
}

const char *dv_health_status(json_t *result, const char *host, int vlan)
{
        return json_string_value(json_object_get(dv_health_entry(result, host, vlan), "status"));
}

int dv_health_network_of(json_t *result, const char *host)
{
        size_t i, j;
        json_t *n, *h;

        json_array_foreach(json_object_get(result, "networks"), i, n)
                json_array_foreach(n, j, h)
                        if (dv_streq(json_string_value(h), host))
                                return (int)i;
        return -1;
}
