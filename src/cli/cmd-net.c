/* drover net diagnose VM1 VM2 */
#include "cli.h"

#include <string.h>

static const char *jstr(json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

/* The section of the decision tree a check belongs to. */
static const char *section_of(const char *id)
{
        if (dv_startswith(id, "vm.") || dv_startswith(id, "tools.") ||
            dv_startswith(id, "guest.") || dv_startswith(id, "ip."))
                return "guest side";
        if (dv_startswith(id, "nic.") || dv_startswith(id, "dvs.") || dv_startswith(id, "vlan."))
                return "virtual switch";
        if (dv_startswith(id, "probe."))
                return "probes through Tools";
        return "placement and physical network";
}

static const char *mark(const char *status)
{
        if (dv_streq(status, "pass"))
                return "ok";
        if (dv_streq(status, "fail"))
                return "FAIL";
        if (dv_streq(status, "warn"))
                return "warn";
        return "skip";
}

static void print_diagnosis(json_t *r)
{
        json_t *checks = json_object_get(r, "checks"), *c, *concl = json_object_get(r, "conclusion");
        json_t *faults = json_object_get(r, "faults"), *f;
        const char *section = NULL;
        size_t i;

        printf("diagnose %s <-> %s\n", json_string_value(json_array_get(json_object_get(r, "vms"), 0)),
               json_string_value(json_array_get(json_object_get(r, "vms"), 1)));
        json_array_foreach(checks, i, c) {
                const char *s = section_of(jstr(c, "id"));
                char who[160] = "";

                if (!dv_streq(s, section)) {
                        printf("%s\n", s);
                        section = s;
                }
                if (jstr(c, "vm"))
                        snprintf(who, sizeof(who), " [%s]", jstr(c, "vm"));
                else if (jstr(c, "host"))
                        snprintf(who, sizeof(who), " [%s]", jstr(c, "host"));
                printf("  %-4s  %s%s: %s\n", mark(jstr(c, "status")), jstr(c, "id"), who,
                       jstr(c, "summary") ?: "");
        }
        if (dv_streq(jstr(concl, "fault"), "none")) {
                printf("conclusion: %s\n", jstr(concl, "summary"));
                return;
        }
        printf("conclusion: %s: %s\n", jstr(concl, "fault"), jstr(concl, "summary"));
        printf("fix: %s\n", jstr(concl, "fix") ?: "-");
        json_array_foreach(faults, i, f) {
                if (i == 0)
                        continue;
                printf("also: %s: %s\n", jstr(f, "fault"), jstr(f, "summary"));
        }
}

static int net_diagnose(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *body = NULL, *reply = NULL;
        json_t *concl;
        int r;

        for (int i = 0; i < 2; i++) {
                r = cli_check_name(ctx, "vm", a->pos[i]);
                if (r != 0)
                        return r;
        }
        body = json_pack("{s:[s,s]}", "vms", a->pos[0], a->pos[1]);
        r = cli_api(ctx, "POST", body, &reply, "net/diagnose");
        if (r != 0)
                return CLI_EXIT_USAGE; /* 2: the diagnosis could not run */
        if (ctx->json)
                cli_print_json(ctx, reply);
        else
                print_diagnosis(reply);
        concl = json_object_get(reply, "conclusion");
        if (json_array_size(json_object_get(reply, "faults")) > 0)
                return CLI_EXIT_FAIL;
        if (dv_streq(jstr(concl, "fault"), "none") &&
            json_is_true(json_object_get(reply, "can_talk")))
                return CLI_EXIT_OK;
        return CLI_EXIT_USAGE; /* nothing found, nothing proven */
}

static const struct cli_verb net_verbs[] = {
        { .name = "diagnose", .args = "VM1 VM2", .min_args = 2, .max_args = 2,
          .summary = "find why two VMs cannot talk: every check with its evidence, then the "
                     "fault and its fix (exit 0: they can talk, 1: a fault was found, 2: the "
                     "diagnosis could not run)",
          .run = net_diagnose },
};

const struct cli_noun cli_noun_net = {
        .name = "net",
        .summary = "network troubleshooting between VMs",
        .verbs = net_verbs,
        .n_verbs = ELEMENTSOF(net_verbs),
};
