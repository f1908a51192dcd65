/* Migration prechecks (src/manager/precheck.c).
 *
 * Table-driven: tests/unit/data/precheck/cases.json lists cases, each a base
 * facts file (host.json, host-datastore.json, datastore.json: migrations
 * where every check passes) with a JSON merge patch (RFC 7386) applied, and
 * the exact set of checks that must fail, plus checks that must pass or be
 * skipped, text the reason or fix must contain, prediction fields and a
 * golden text rendering. Each case runs as a cmocka test of its own name.
 * PRECHECK_UPDATE_GOLDEN=1 rewrites the golden files; PRECHECK_VERBOSE=1
 * prints every case's text rendering.
 *
 * The prediction model has its own tests with numbers worked out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "precheck.h"

#define MIB (1024.0 * 1024.0)

/* cmocka 1.1 has no double assertion that prints the values. */
#define assert_near(got, want, eps)                                                    \
        do {                                                                           \
                double _g = (got), _w = (want);                                        \
                if (!(fabs(_g - _w) <= (eps)))                                         \
                        fail_msg("%s = %.9g, expected %.9g", #got, _g, _w);            \
        } while (0)

static json_t *load_json(const char *name)
{
        _cleanup_(freep) char *path = dv_asprintf("%s/%s", PRECHECK_DATA_DIR, name);
        json_error_t je;
        json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);

        if (!j)
                fail_msg("%s:%d: %s", path, je.line, je.text);
        return j;
}

/* RFC 7386: objects merge recursively, null deletes, anything else replaces. */
static void merge_patch(json_t *target, json_t *patch)
{
        const char *key;
        json_t *v;

        json_object_foreach(patch, key, v) {
                json_t *t = json_object_get(target, key);

                if (json_is_null(v))
                        json_object_del(target, key);
                else if (json_is_object(v) && json_is_object(t))
                        merge_patch(t, v);
                else
                        json_object_set_new(target, key, json_deep_copy(v));
        }
}

static bool json_has_string(json_t *arr, const char *s)
{
        size_t i;
        json_t *e;

        json_array_foreach(arr, i, e)
                if (dv_streq(json_string_value(e), s))
                        return true;
        return false;
}

static const char *const all_codes[] = {
        "vm-running", "tools-running", "no-passthrough", "not-same-host", "source-state",
        "target-state", "target-capacity", "migration-slots", "cpu-compatible", "accel-match",
        "qemu-version", "overcommit-match", "target-dvs", "migration-network", "shared-storage",
        "datastore-reachable", "datastore-supported", "not-same-datastore",
        "no-shared-type-disk", "no-linked-clone", "no-non-persistent-disk", "no-icache-disk",
        "datastore-capacity",
};

/* Every result: every check present once, in order, with a reason; a fix
 * exactly on failures; ok and blockers consistent. */
static void check_invariants(const char *name, const struct dv_precheck_result *res,
                             json_t *rj)
{
        json_t *blockers = json_object_get(rj, "blockers");
        size_t failed = 0;

        if (res->n_checks != ELEMENTSOF(all_codes))
                fail_msg("%s: %zu checks, expected %zu", name, res->n_checks,
                         ELEMENTSOF(all_codes));
        for (size_t i = 0; i < res->n_checks; i++) {
                const struct dv_precheck_check *c = &res->checks[i];

                assert_string_equal(c->code, all_codes[i]);
                if (!c->reason[0])
                        fail_msg("%s: %s has no reason", name, c->code);
                if ((c->status == DV_CHECK_FAIL) != (c->fix[0] != '\0'))
                        fail_msg("%s: %s: fix '%s' with status %s", name, c->code, c->fix,
                                 dv_check_status_to_string(c->status));
                if (c->status == DV_CHECK_FAIL) {
                        failed++;
                        if (!json_has_string(blockers, c->code))
                                fail_msg("%s: %s failed but is not a blocker", name, c->code);
                }
        }
        assert_int_equal(failed, res->n_failed);
        assert_int_equal(json_array_size(blockers), failed);
        assert_int_equal(res->ok, failed == 0);
        assert_int_equal(json_is_true(json_object_get(rj, "ok")), res->ok);
        assert_int_equal(json_array_size(json_object_get(rj, "checks")), res->n_checks);
}

static void check_statuses(const char *name, const struct dv_precheck_result *res,
                           json_t *want, enum dv_check_status status)
{
        size_t i;
        json_t *e;

        json_array_foreach(want, i, e) {
                const struct dv_precheck_check *c = dv_precheck_result_get(res,
                                                                   json_string_value(e));
                if (!c)
                        fail_msg("%s: no check %s", name, json_string_value(e));
                if (c->status != status)
                        fail_msg("%s: %s is %s (%s), expected %s", name, c->code,
                                 dv_check_status_to_string(c->status), c->reason,
                                 dv_check_status_to_string(status));
        }
}

static void check_golden(const char *name, const char *file, const char *text)
{
        _cleanup_(freep) char *path = dv_asprintf("%s/%s", PRECHECK_DATA_DIR, file);
        _cleanup_(freep) char *want = NULL;
        size_t len;

        if (getenv("PRECHECK_UPDATE_GOLDEN")) {
                assert_int_equal(dv_write_file_atomic(path, text, strlen(text), 0644), 0);
                return;
        }
        if (dv_read_file(path, 1 << 20, &want, &len) < 0)
                fail_msg("%s: cannot read %s", name, path);
        if (strcmp(want, text) != 0)
                fail_msg("%s: text differs from %s:\n--- got\n%s--- want\n%s", name, file, text,
                         want);
}

static void run_case(void **state)
{
        json_t *tc = *state;
        const char *name = json_string_value(json_object_get(tc, "name"));
        _cleanup_(json_decrefp) json_t *doc = load_json(
                json_string_value(json_object_get(tc, "base")));
        _cleanup_(dv_precheck_facts_freep) struct dv_precheck_facts *facts = NULL;
        _cleanup_(json_decrefp) json_t *rj = NULL;
        _cleanup_(freep) struct dv_precheck_result *res = calloc(1, sizeof(*res));
        _cleanup_(freep) char *text = NULL;
        struct dv_error err = { 0 };
        json_t *want_fail = json_object_get(tc, "fail"), *e, *pred;
        const char *key;
        size_t i;

        assert_non_null(res);
        merge_patch(doc, json_object_get(tc, "patch"));
        if (dv_precheck_facts_from_json(doc, &facts, &err) < 0)
                fail_msg("%s: facts: %s: %s", name, err.code, err.message);
        assert_int_equal(dv_precheck_run(facts, res), 0);
        rj = dv_precheck_result_to_json(res);
        assert_non_null(rj);
        text = dv_precheck_result_to_text(res);
        if (getenv("PRECHECK_VERBOSE"))
                fprintf(stderr, "--- %s\n%s", name, text);
        check_invariants(name, res, rj);

        /* Exactly the expected failures: each alone, or all together. */
        json_array_foreach(json_object_get(rj, "blockers"), i, e)
                if (!json_has_string(want_fail, json_string_value(e)))
                        fail_msg("%s: unexpected failure %s: %s", name, json_string_value(e),
                                 dv_precheck_result_get(res, json_string_value(e))->reason);
        check_statuses(name, res, want_fail, DV_CHECK_FAIL);
        check_statuses(name, res, json_object_get(tc, "pass"), DV_CHECK_PASS);
        check_statuses(name, res, json_object_get(tc, "skip"), DV_CHECK_SKIP);

        json_object_foreach(json_object_get(tc, "contains"), key, e) {
                const struct dv_precheck_check *c = dv_precheck_result_get(res, key);

                assert_non_null(c);
                if (!strstr(c->reason, json_string_value(e)) &&
                    !strstr(c->fix, json_string_value(e)))
                        fail_msg("%s: %s: '%s' not in '%s' / '%s'", name, key,
                                 json_string_value(e), c->reason, c->fix);
        }

        pred = json_object_get(rj, "prediction");
        json_object_foreach(json_object_get(tc, "prediction"), key, e)
                if (!json_equal(json_object_get(pred, key), e)) {
                        _cleanup_(freep) char *got = json_dumps(pred, JSON_SORT_KEYS);

                        fail_msg("%s: prediction.%s: got %s", name, key, got);
                }

        if (json_object_get(tc, "golden"))
                check_golden(name, json_string_value(json_object_get(tc, "golden")), text);
}

/* ---- Prediction, by hand. */

static struct dv_precheck_model model_1g(void)
{
        /* 1 GiB guest, half of it zero pages, 128 MiB/s link, 100 ms limit. */
        return (struct dv_precheck_model) {
                .memory_bytes = 1024 * MIB,
                .nonzero_ratio = 0.5,
                .link_rate = 128 * MIB,
                .dirty_rate = 16 * MIB,
                .downtime_limit_s = 0.1,
                .max_rounds = 30,
                .throttle_ratio = 0.5,
        };
}

static void test_predict_converges(void **state)
{
        struct dv_precheck_model m = model_1g();
        struct dv_precheck_prediction p;

        /* Round 1: 512 MiB non-zero in 4 s, 64 MiB dirtied meanwhile.
         * Round 2: 64 MiB in 0.5 s, 8 MiB dirtied.
         * 8 MiB takes 62.5 ms <= 100 ms: stop-and-copy.
         * Total 4 + 0.5 + 0.0625 s; 512 + 64 + 8 MiB sent. */
        assert_int_equal(dv_precheck_predict(&m, &p), 0);
        assert_true(p.available && p.converges && p.converged && !p.throttled);
        assert_int_equal(p.rounds, 2);
        assert_near(p.total_s, 4.5625, 1e-9);
        assert_near(p.downtime_s, 0.0625, 1e-9);
        assert_near(p.memory_bytes, 584 * MIB, 1);
        assert_near(p.disk_s, 0, 0);

        /* A fixed switchover cost adds to downtime and total. */
        m.switchover_s = 0.02;
        assert_int_equal(dv_precheck_predict(&m, &p), 0);
        assert_near(p.downtime_s, 0.0825, 1e-9);
        assert_near(p.total_s, 4.5825, 1e-9);
}

static void test_predict_unknown_dirty_rate(void **state)
{
        struct dv_precheck_model m = model_1g();
        struct dv_precheck_prediction p;

        /* No dirtying: one round of 4 s, nothing left; a lower bound. */
        m.dirty_rate = -1;
        assert_int_equal(dv_precheck_predict(&m, &p), 0);
        assert_false(p.dirty_rate_known);
        assert_int_equal(p.rounds, 1);
        assert_near(p.total_s, 4.0, 1e-9);
        assert_near(p.downtime_s, 0, 1e-12);
}

static void test_predict_small_guest_one_round(void **state)
{
        struct dv_precheck_model m = model_1g();
        struct dv_precheck_prediction p;

        /* 16 MiB, half non-zero: 8 MiB would fit in 62.5 ms <= 100 ms, but
         * QEMU sends it while the guest runs (one round), then stops the
         * guest for what it dirtied meanwhile: 16 MiB/s x 62.5 ms = 1 MiB,
         * 7.8125 ms. */
        m.memory_bytes = 16 * MIB;
        assert_int_equal(dv_precheck_predict(&m, &p), 0);
        assert_int_equal(p.rounds, 1);
        assert_near(p.downtime_s, 0.0078125, 1e-9);
        assert_near(p.total_s, 0.0703125, 1e-9);
}

static void test_predict_throttled(void **state)
{
        struct dv_precheck_model m = model_1g();
        struct dv_precheck_prediction p;

        /* 512 MiB of random data; the guest dirties 256 MiB/s >= 128 MiB/s:
         * no convergence, so the plan throttles it to 0.5 x 128 = 64 MiB/s.
         * Rounds: 512 MiB 4 s -> 256 MiB 2 s -> 128 MiB 1 s -> 64 MiB 0.5 s
         * -> 32 MiB 0.25 s -> 16 MiB 0.125 s -> 8 MiB left: 62.5 ms. */
        m.memory_bytes = 512 * MIB;
        m.nonzero_ratio = 1;
        m.dirty_rate = 256 * MIB;
        assert_int_equal(dv_precheck_predict(&m, &p), 0);
        assert_false(p.converges);
        assert_true(p.throttled);
        assert_true(p.converged);
        assert_near(p.guest_dirty_rate, 256 * MIB, 1);
        assert_near(p.dirty_rate, 64 * MIB, 1);
        assert_int_equal(p.rounds, 6);
        assert_near(p.total_s, 7.9375, 1e-9);
        assert_near(p.downtime_s, 0.0625, 1e-9);
        assert_near(p.memory_bytes, 1016 * MIB, 1);

        /* Dirtying equal to the link is already non-convergent. */
        m.dirty_rate = 128 * MIB;
        assert_int_equal(dv_precheck_predict(&m, &p), 0);
        assert_true(p.throttled);
        assert_near(p.total_s, 7.9375, 1e-9);
}

static void test_predict_max_rounds(void **state)
{
        struct dv_precheck_model m = model_1g();
        struct dv_precheck_prediction p;

        /* 64 MiB of data over an 8 MiB/s link; the guest dirties 1 GiB/s,
         * throttled to 0.5 x 8 = 4 MiB/s. */
        m.memory_bytes = 64 * MIB;
        m.nonzero_ratio = 1;
        m.link_rate = 8 * MIB;
        m.dirty_rate = 1024 * MIB;
        assert_int_equal(dv_precheck_predict(&m, &p), 0);
        /* 64 MiB 8 s -> 32 MiB 4 s -> 16 MiB 2 s -> 8 MiB 1 s -> 4 MiB 0.5 s
         * -> 2 MiB 0.25 s -> 1 MiB 0.125 s -> 0.5 MiB left: 62.5 ms. */
        assert_int_equal(p.rounds, 7);
        assert_near(p.total_s, 15.9375, 1e-9);

        /* Too few rounds allowed: converges=false, forced switchover. */
        m.max_rounds = 2;
        assert_int_equal(dv_precheck_predict(&m, &p), 0);
        assert_false(p.converged);
        assert_int_equal(p.rounds, 2);
        assert_near(p.downtime_s, 2.0, 1e-9); /* 16 MiB at 8 MiB/s */
        assert_near(p.total_s, 14.0, 1e-9);
}

static void test_predict_disks(void **state)
{
        struct dv_precheck_model m = model_1g();
        struct dv_precheck_prediction p;

        /* Change host + datastore: 3 GiB mirrored at 128 MiB/s = 24 s first. */
        m.disk_bytes = 3072 * MIB;
        m.disk_rate = 128 * MIB;
        assert_int_equal(dv_precheck_predict(&m, &p), 0);
        assert_near(p.disk_s, 24.0, 1e-9);
        assert_near(p.total_s, 28.5625, 1e-9);

        /* Storage only: no memory phase. */
        m.memory_bytes = 0;
        m.link_rate = 0;
        m.disk_rate = 256 * MIB;
        m.switchover_s = 0.01;
        assert_int_equal(dv_precheck_predict(&m, &p), 0);
        assert_near(p.disk_s, 12.0, 1e-9);
        assert_near(p.memory_s, 0, 0);
        assert_near(p.downtime_s, 0.01, 1e-12);
        assert_near(p.total_s, 12.01, 1e-9);
}

static void test_predict_invalid(void **state)
{
        struct dv_precheck_model m;
        struct dv_precheck_prediction p;

        m = model_1g();
        m.link_rate = 0;
        assert_int_equal(dv_precheck_predict(&m, &p), -EINVAL);
        m = model_1g();
        m.nonzero_ratio = 0;
        assert_int_equal(dv_precheck_predict(&m, &p), -EINVAL);
        m = model_1g();
        m.nonzero_ratio = NAN;
        assert_int_equal(dv_precheck_predict(&m, &p), -EINVAL);
        m = model_1g();
        m.throttle_ratio = 1;
        assert_int_equal(dv_precheck_predict(&m, &p), -EINVAL);
        m = model_1g();
        m.max_rounds = 0;
        assert_int_equal(dv_precheck_predict(&m, &p), -EINVAL);
        m = model_1g();
        m.max_rounds = DV_PRECHECK_MAX_ROUNDS + 1;
        assert_int_equal(dv_precheck_predict(&m, &p), -EINVAL);
        m = model_1g();
        m.disk_bytes = 1;
        assert_int_equal(dv_precheck_predict(&m, &p), -EINVAL);
}

/* ---- Facts, API details. */

static void test_facts_errors(void **state)
{
        static const struct {
                const char *patch;
                const char *code;
                const char *message;
        } cases[] = {
                { "{\"kind\": \"teleport\"}", "invalid-field", "'kind'" },
                { "{\"vm\": {\"name\": null}}", "missing-field", "'vm.name'" },
                { "{\"vm\": {\"cpus\": \"two\"}}", "invalid-field", "'vm.cpus'" },
                { "{\"vm\": {\"disks\": [{\"name\": \"d\", \"size_gib\": 1}]}}",
                  "missing-field", "'vm.disks[0].datastore'" },
                { "{\"vm\": {\"nonzero_ratio\": 1.5}}", "invalid-field", "'vm.nonzero_ratio'" },
                { "{\"target\": null}", "missing-field", "'target'" },
                { "{\"target\": {\"cluster\": \"c9\"}}", "invalid-field", "'target.cluster'" },
                { "{\"kind\": \"change-datastore\"}", "missing-field", "'datastore'" },
                { "{\"clusters\": [{\"name\": \"c1\", \"compat_mode\": true}]}",
                  "missing-field", "'clusters[0].baseline'" },
                { "{\"source\": {\"dvs\": [1]}}", "invalid-field", "'source.dvs'" },
                { "{\"params\": {\"throttle_ratio\": 1}}", "invalid-field", "'params.throttle_ratio'" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(json_decrefp) json_t *doc = load_json("host.json");
                _cleanup_(json_decrefp) json_t *patch = json_loads(cases[i].patch, 0, NULL);
                struct dv_precheck_facts *facts = NULL;
                struct dv_error err = { 0 };

                assert_non_null(patch);
                merge_patch(doc, patch);
                assert_true(dv_precheck_facts_from_json(doc, &facts, &err) < 0);
                assert_null(facts);
                assert_int_equal(err.status, 400);
                assert_string_equal(err.code, cases[i].code);
                if (!strstr(err.message, cases[i].message))
                        fail_msg("%s: message '%s'", cases[i].patch, err.message);
        }
}

static void test_facts_outlive_doc(void **state)
{
        _cleanup_(dv_precheck_facts_freep) struct dv_precheck_facts *facts = NULL;
        _cleanup_(freep) struct dv_precheck_result *res = calloc(1, sizeof(*res));
        json_t *doc = load_json("host.json");
        struct dv_error err = { 0 };

        /* The facts hold a reference: the caller may drop its own. */
        assert_int_equal(dv_precheck_facts_from_json(doc, &facts, &err), 0);
        json_decref(doc);
        assert_int_equal(dv_precheck_run(facts, res), 0);
        assert_true(res->ok);
        assert_string_equal(res->vm, "web1");
        assert_string_equal(res->target, "h2");
}

static void test_struct_facts(void **state)
{
        /* The manager fills the structs directly; minimal facts. */
        static const char *const dvs[] = { "lan" };
        static const char *const ds[] = { "shared" };
        const struct dv_precheck_disk disk = { "disk0", "shared", 1 << 30, -1,
                                               false, false, false, false };
        const struct dv_precheck_nic nic = { "nic0", "web", "lan" };
        struct dv_precheck_facts f = {
                .kind = DV_MIGRATE_HOST,
                .vm = { .name = "v", .state = "running", .tools_state = "running",
                        .cpus = 1, .memory_mib = 256, .memory_reservation_mib = -1,
                        .disks = &disk, .n_disks = 1, .nics = &nic, .n_nics = 1,
                        .dirty_rate = -1 },
                .source = { .name = "a", .state = "connected", .cpu_model = "X", .cpus = 4,
                            .memory_mib = 4096, .cpu_free_mhz = -1, .dvs = dvs, .n_dvs = 1,
                            .datastores = ds, .n_datastores = 1 },
                .target = { .name = "b", .state = "connected", .cpu_model = "X", .cpus = 4,
                            .memory_mib = 4096, .cpu_free_mhz = -1, .dvs = dvs, .n_dvs = 1,
                            .datastores = ds, .n_datastores = 1 },
                .network = { .probed = true, .reachable = true, .rate = 256 << 20 },
                .storage_rate = -1,
        };
        struct dv_precheck_result res;

        dv_precheck_params_default(&f.params);
        assert_int_equal(dv_precheck_run(&f, &res), 0);
        assert_true(res.ok);
        /* 256 MiB at 256 MiB/s, nothing dirtied: 1 s. */
        assert_true(res.prediction.available);
        assert_near(res.prediction.total_s, 1.0, 1e-9);

        /* A bandwidth cap lowers the rate used. */
        f.params.bandwidth_limit = 128 << 20;
        assert_int_equal(dv_precheck_run(&f, &res), 0);
        assert_near(res.prediction.total_s, 2.0, 1e-9);

        /* Rate not measured: no prediction, the checks still pass. */
        f.network.rate = 0;
        assert_int_equal(dv_precheck_run(&f, &res), 0);
        assert_true(res.ok);
        assert_false(res.prediction.available);
        assert_non_null(strstr(res.prediction.why, "not measured"));

        /* Invalid facts. */
        f.kind = DV_MIGRATE_HOST_DATASTORE; /* needs a datastore */
        assert_int_equal(dv_precheck_run(&f, &res), -EINVAL);
        f.kind = DV_MIGRATE_HOST;
        f.vm.name = NULL;
        assert_int_equal(dv_precheck_run(&f, &res), -EINVAL);
}

static void test_long_lists_are_bounded(void **state)
{
        /* 40 disks on a datastore the target does not reach: the reason
         * names 6 and counts the rest; nothing overflows. */
        _cleanup_(json_decrefp) json_t *doc = load_json("host.json");
        _cleanup_(dv_precheck_facts_freep) struct dv_precheck_facts *facts = NULL;
        _cleanup_(freep) struct dv_precheck_result *res = calloc(1, sizeof(*res));
        json_t *disks = json_array();
        struct dv_error err = { 0 };
        const struct dv_precheck_check *c;

        for (int i = 0; i < 40; i++) {
                _cleanup_(freep) char *name = dv_asprintf("a-rather-long-disk-name-%d", i);

                json_array_append_new(disks, json_pack("{s:s, s:s, s:i}", "name", name,
                                                       "datastore", "h1-local", "size_gib", 1));
        }
        json_object_set_new(json_object_get(doc, "vm"), "disks", disks);
        assert_int_equal(dv_precheck_facts_from_json(doc, &facts, &err), 0);
        assert_int_equal(dv_precheck_run(facts, res), 0);
        c = dv_precheck_result_get(res, "shared-storage");
        assert_int_equal(c->status, DV_CHECK_FAIL);
        assert_non_null(strstr(c->reason, "and 34 more"));
}

static void test_text_lines(void **state)
{
        _cleanup_(json_decrefp) json_t *doc = load_json("host.json");
        _cleanup_(dv_precheck_facts_freep) struct dv_precheck_facts *facts = NULL;
        _cleanup_(freep) struct dv_precheck_result *res = calloc(1, sizeof(*res));
        _cleanup_(freep) char *text = NULL;
        struct dv_error err = { 0 };

        json_object_set_new(json_object_get(json_object_get(doc, "vm"), "tools"), "state",
                            json_string("not-running"));
        assert_int_equal(dv_precheck_facts_from_json(doc, &facts, &err), 0);
        assert_int_equal(dv_precheck_run(facts, res), 0);
        text = dv_precheck_result_to_text(res);
        assert_non_null(strstr(text, "PASS vm-running  VM web1 is running\n"));
        assert_non_null(strstr(text, "FAIL tools-running  Tools is not running in the guest — "
                                     "start drover-tools in the guest, or install it\n"));
        assert_non_null(strstr(text, "SKIP overcommit-match  both hosts are in cluster c1\n"));
        assert_non_null(strstr(text, "blocked by 1 check: tools-running\n"));
        assert_non_null(strstr(text, "no prediction: 1 check failed\n"));
}

static void test_kind_strings(void **state)
{
        for (int k = DV_MIGRATE_HOST; k <= DV_MIGRATE_DATASTORE; k++)
                assert_int_equal(dv_migrate_kind_from_string(dv_migrate_kind_to_string(k)), k);
        assert_int_equal(dv_migrate_kind_from_string("host"), -EINVAL);
        assert_int_equal(dv_migrate_kind_from_string(NULL), -EINVAL);
        assert_string_equal(dv_check_status_to_string(DV_CHECK_SKIP), "skip");
}

int main(void)
{
        const struct CMUnitTest unit[] = {
                cmocka_unit_test(test_predict_converges),
                cmocka_unit_test(test_predict_unknown_dirty_rate),
                cmocka_unit_test(test_predict_small_guest_one_round),
                cmocka_unit_test(test_predict_throttled),
                cmocka_unit_test(test_predict_max_rounds),
                cmocka_unit_test(test_predict_disks),
                cmocka_unit_test(test_predict_invalid),
                cmocka_unit_test(test_facts_errors),
                cmocka_unit_test(test_facts_outlive_doc),
                cmocka_unit_test(test_struct_facts),
                cmocka_unit_test(test_long_lists_are_bounded),
                cmocka_unit_test(test_text_lines),
                cmocka_unit_test(test_kind_strings),
        };
        _cleanup_(json_decrefp) json_t *cases = load_json("cases.json");
        _cleanup_(freep) struct CMUnitTest *tests = NULL;
        size_t n = json_array_size(cases), i;
        json_t *tc;
        int failed;

        failed = cmocka_run_group_tests_name("precheck", unit, NULL, NULL);
        tests = calloc(n ? n : 1, sizeof(*tests));
        if (!tests)
                return 1;
        json_array_foreach(cases, i, tc) {
                tests[i].name = json_string_value(json_object_get(tc, "name"));
                tests[i].test_func = run_case;
                tests[i].initial_state = tc;
        }
        failed += _cmocka_run_group_tests("precheck-cases", tests, n, NULL, NULL);
        return failed ? 1 : 0;
}
