/* drover event list */
#include "cli.h"

#include <inttypes.h>

static const struct cli_column event_columns[] = {
        { "TIME", "time", NULL },
        { "KIND", "kind", NULL },
        { "TARGET", NULL, cli_fmt_target },
        { "USER", "user", NULL },
        { "MESSAGE", "message", NULL },
        { NULL },
};

static int event_list(struct cli_ctx *ctx, const struct cli_args *a)
{
        int64_t limit = 0, since = -1;
        _cleanup_(freep) char *path = NULL;
        char query[96] = "";
        size_t n = 0;
        int r;

        r = cli_opt_number(ctx, a, "limit", 1, 100000, &limit);
        if (r == 0)
                r = cli_opt_number(ctx, a, "since", 0, INT64_MAX, &since);
        if (r != 0)
                return r;
        if (limit > 0)
                n += (size_t)snprintf(query + n, sizeof(query) - n, "&limit=%" PRId64, limit);
        if (since >= 0)
                snprintf(query + n, sizeof(query) - n, "&since=%" PRId64, since);
        /* "events" or "events?limit=N&since=ID" */
        path = dv_asprintf("events%s%s", query[0] ? "?" : "", query[0] ? query + 1 : "");
        return cli_list(ctx, path, "events", event_columns);
}

static const struct cli_opt list_opts[] = {
        { "limit", 0, "N", "at most N events, newest first" },
        { "since", 0, "ID", "only events after the event with this id" },
        { NULL },
};

static const struct cli_verb event_verbs[] = {
        { .name = "list", .summary = "list events (what happened, who did it)",
          .opts = list_opts, .run = event_list },
};

const struct cli_noun cli_noun_event = {
        .name = "event",
        .summary = "the event log",
        .verbs = event_verbs,
        .n_verbs = ELEMENTSOF(event_verbs),
};
