/* drover alarm list */
#include "cli.h"

static const struct cli_column alarm_columns[] = {
        { "TIME", "time", NULL },
        { "SEVERITY", "severity", NULL },
        { "KIND", "kind", NULL },
        { "TARGET", NULL, cli_fmt_target },
        { "STATE", "state", NULL },
        { "MESSAGE", "message", NULL },
        { NULL },
};

static int alarm_list(struct cli_ctx *ctx, const struct cli_args *a)
{
        return cli_list(ctx, "alarms", "alarms", alarm_columns);
}

static const struct cli_verb alarm_verbs[] = {
        { .name = "list", .summary = "list active alarms", .run = alarm_list },
};

const struct cli_noun cli_noun_alarm = {
        .name = "alarm",
        .summary = "alarms raised by the manager",
        .verbs = alarm_verbs,
        .n_verbs = ELEMENTSOF(alarm_verbs),
};
