#include "overcommit.h"

#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "json.h"
#include "log.h"
#include "qos.h"
#include "vm-qos.h"
#include "vm-tools.h"

#define LOW_PCT 10          /* free below 10 % of the VM memory: reclaim */
#define HIGH_PCT 20         /* free above 20 %: give back; reclaim aims here */
#define MARGIN_MIB 48       /* above what the guest uses: at least this, */
#define MARGIN_PCT 25       /* or this % of its size, whichever is more */
#define STEP_MIB 64         /* per VM per round */
#define CALL_TIMEOUT_MS 5000
#define MIN_MOVE_MIB 8      /* smaller target changes are not sent */

/* Guest memory in use, from Tools (MiB), or -1. */
static int64_t guest_used_mib(json_t *host, const char *vm_id)
{
        struct dv_error err = { 0 };
        json_t *info = NULL, *mem;
        int64_t used = -1;

        if (dv_vm_tools_call(host, vm_id, "tools/info", NULL, CALL_TIMEOUT_MS, &info, &err) < 0)
                return -1;
        mem = json_object_get(info, "memory");
        if (json_is_integer(json_object_get(mem, "total_kib")) &&
            json_is_integer(json_object_get(mem, "available_kib")))
                used = (json_integer_value(json_object_get(mem, "total_kib")) -
                        json_integer_value(json_object_get(mem, "available_kib"))) / 1024;
        json_decref(info);
        return used;
}

/* The agent's report of a VM (from the last heartbeat), or NULL. */
static json_t *reported(json_t *rvms, const char *id)
{
        json_t *s;
        size_t i;

        json_array_foreach(rvms, i, s)
                if (dv_streq(dv_doc_str(s, "id"), id))
                        return s;
        return NULL;
}

static void set_target(struct dv_mgr *m, json_t *host, json_t *vm, int64_t from, int64_t to,
                       const char *why)
{
        _cleanup_(freep) char *path = dv_asprintf("/agent/v1/vms/%s/balloon", dv_doc_str(vm, "id"));
        struct dv_error err = { 0 };
        json_t *body = json_pack("{s:I}", "target_mib", (json_int_t)to), *rt;
        int r;

        r = dv_agent_call(host, "POST", path, body, CALL_TIMEOUT_MS, NULL, &err);
        json_decref(body);
        if (r < 0) {
                dv_warn("overcommit: vm %s: balloon %lld -> %lld MiB failed: %s",
                        dv_doc_str(vm, "name"), (long long)from, (long long)to, err.message);
                return;
        }
        dv_mgr_lock(m);
        rt = json_object_get(m->host_rt, dv_doc_str(host, "id"));
        if (rt && !json_is_object(json_object_get(rt, "balloon_set_ms")))
                json_object_set_new(rt, "balloon_set_ms", json_object());
        json_object_set_new(json_object_get(rt, "balloon_set_ms"), dv_doc_str(vm, "id"),
                            json_integer(dv_now_ms()));
        dv_mgr_event(m, "system", to < from ? "vm.balloon-inflate" : "vm.balloon-deflate", "vm",
                     vm, "vm '%s' on host '%s': balloon target %lld -> %lld MiB (%s)",
                     dv_doc_str(vm, "name"), dv_doc_str(host, "name"), (long long)from,
                     (long long)to, why);
        dv_mgr_unlock(m);
}

static void host_round(struct dv_mgr *m, json_t *host, json_t *vms, json_t *rt, bool over)
{
        json_t *rvms = json_object_get(rt, "vms"), *metrics = json_object_get(rt, "metrics");
        size_t n = json_array_size(vms), k = 0, i;
        _cleanup_(freep) struct dv_balloon_vm *b = calloc(n + 1, sizeof(*b));
        _cleanup_(freep) json_t **docs = calloc(n + 1, sizeof(*docs));
        _cleanup_(freep) int64_t *ballooned = calloc(n + 1, sizeof(*ballooned)); /* MiB in the balloon */
        struct dv_balloon_params p = {
                .capacity_mib = dv_doc_int(host, "memory_mib", 0), .low_pct = LOW_PCT,
                .high_pct = HIGH_PCT, .margin_mib = MARGIN_MIB, .step_mib = STEP_MIB,
                .reclaiming = json_is_true(json_object_get(rt, "balloon_reclaiming")),
        };
        json_t *vm;
        char why[160];
        int64_t reclaimed;
        bool latch;

        if (!b || !docs || !ballooned)
                return;
        json_array_foreach(vms, i, vm) {
                json_t *s = reported(rvms, dv_doc_str(vm, "id"));
                struct dv_mem_qos q;

                if (!s || !dv_streq(dv_doc_str(s, "state"), "running") ||
                    !json_is_integer(json_object_get(s, "balloon_target_mib")))
                        continue;
                /* The guest's resident RAM less what KSM shares (QEMU's
                 * own memory is not the VMs' memory). */
                p.used_mib += DV_MAX(dv_doc_int(s, "guest_rss_mib", dv_doc_int(s, "rss_mib", 0)) -
                                     dv_doc_int(s, "ksm_merged_mib", 0), 0);
                dv_vm_mem_qos_get(vm, &q);
                b[k] = (struct dv_balloon_vm){
                        .name = dv_doc_str(vm, "name"),
                        .memory_mib = dv_doc_int(vm, "memory_mib", 0),
                        .reservation_mib = q.reservation_mib,
                        .shares = q.shares,
                        .guest_used_mib = -1,
                        .target_mib = dv_doc_int(s, "balloon_target_mib", 0),
                };
                ballooned[k] = DV_MAX(b[k].memory_mib - dv_doc_int(s, "balloon_mib", b[k].memory_mib), 0);
                docs[k++] = vm;
        }
        if (k == 0)
                return;
        /* The pages KSM shares count once (the host's KSM pages: an upper
         * bound of what our VMs map). */
        if (dv_doc_int(metrics, "ksm_run", 0) == 1)
                p.used_mib += dv_doc_int(metrics, "ksm_shared_mib", 0);
        p.used_mib = DV_MAX(p.used_mib, 0);
        if (!over) {
                for (i = 0; i < k; i++)
                        if (b[i].target_mib < b[i].memory_mib)
                                set_target(m, host, docs[i], b[i].target_mib, b[i].memory_mib,
                                           "memory overcommit is off");
                return;
        }
        /* The guests' use (Tools) whenever memory is short of the high
         * mark or a balloon is inflated: the floors of this round. */
        for (i = 0; i < k && p.capacity_mib - p.used_mib >= p.capacity_mib * HIGH_PCT / 100; i++)
                if (b[i].target_mib < b[i].memory_mib)
                        break;
        if (i < k || p.capacity_mib - p.used_mib < p.capacity_mib * HIGH_PCT / 100)
                for (i = 0; i < k; i++) {
                        int64_t used;

                        /* A balloon set less than a second before the last
                         * heartbeat makes the guest's use unknown for the
                         * round: the heartbeat's balloon size may predate
                         * the pages that Tools already counts (inflate,
                         * deflate, inflate again in turn, measured). */
                        if (dv_doc_int(rt, "seen_ms", 0) -
                                    dv_doc_int(json_object_get(rt, "balloon_set_ms"),
                                               dv_doc_str(docs[i], "id"), INT64_MIN / 2) <
                            1000)
                                continue;
                        used = guest_used_mib(host, dv_doc_str(docs[i], "id"));

                        /* With deflate-on-oom the guest's MemTotal keeps the
                         * pages in its balloon: they are not its use. */
                        if (used >= 0)
                                used = DV_MAX(used - ballooned[i], 0);
                        /* The margin grows with the guest: its extra over
                         * the fixed one is counted as use. */
                        if (used >= 0)
                                used += DV_MAX(b[i].memory_mib * MARGIN_PCT / 100 - MARGIN_MIB, 0);
                        b[i].guest_used_mib = used;
                }
        reclaimed = dv_balloon_decide(&p, b, k);
        /* The latch of the next round (kept in the host's runtime). */
        latch = reclaimed > 0 ||
                (p.reclaiming && p.capacity_mib - p.used_mib < p.capacity_mib * HIGH_PCT / 100);
        dv_mgr_lock(m);
        json_object_set_new(json_object_get(m->host_rt, dv_doc_str(host, "id")),
                            "balloon_reclaiming", json_boolean(latch));
        dv_mgr_unlock(m);
        /* Sent (and recorded) in the order of the decision: lowest
         * shares first. */
        for (size_t x = 0; x < k; x++)
                for (size_t y = x + 1; y < k; y++)
                        if (b[y].shares < b[x].shares ||
                            (b[y].shares == b[x].shares && strcmp(b[y].name, b[x].name) < 0)) {
                                struct dv_balloon_vm tb = b[x];
                                json_t *td = docs[x];

                                b[x] = b[y];
                                b[y] = tb;
                                docs[x] = docs[y];
                                docs[y] = td;
                        }
        /* Memory given back first (a round that moves a balloon from a
         * higher-share VM to a lower-share one: dv_balloon_decide), then
         * taken. */
        for (int pass = 0; pass < 2; pass++) {
                for (i = 0; i < k; i++) {
                        /* Small moves are noise (the guest's use moves a little
                         * every round), except the last step back to full size. */
                        int64_t from = b[i].target_mib, to = b[i].new_target_mib;

                        if (to == from || (to > from) != (pass == 0) ||
                            (llabs((long long)(to - from)) < MIN_MOVE_MIB && to != b[i].memory_mib))
                                continue;
                        snprintf(why, sizeof(why),
                                 "VMs use %lld of %lld MiB; shares %lld, floor %lld MiB",
                                 (long long)p.used_mib, (long long)p.capacity_mib,
                                 (long long)b[i].shares,
                                 (long long)dv_balloon_floor(&b[i], MARGIN_MIB));
                        set_target(m, host, docs[i], from, to, why);
                }
        }
}

void dv_overcommit_tick(struct dv_mgr *m)
{
        json_t *hosts = NULL, *h;
        bool over = dv_mem_overcommit(m);
        size_t i;

        dv_mgr_lock(m);
        if (dv_store_list(m->store, DV_KIND_HOST, NULL, &hosts) < 0) {
                dv_mgr_unlock(m);
                return;
        }
        dv_mgr_unlock(m);
        json_array_foreach(hosts, i, h) {
                struct dv_store_filter f = { .host_id = dv_doc_str(h, "id") };
                json_t *vms = NULL, *rt;

                if (!dv_streq(dv_doc_str(h, "state"), "connected"))
                        continue;
                dv_mgr_lock(m);
                rt = json_deep_copy(json_object_get(m->host_rt, dv_doc_str(h, "id")));
                if (dv_store_list(m->store, DV_KIND_VM, &f, &vms) < 0)
                        vms = NULL;
                dv_mgr_unlock(m);
                if (rt && vms)
                        host_round(m, h, vms, rt, over);
                json_decref(rt);
                json_decref(vms);
        }
        json_decref(hosts);
}
