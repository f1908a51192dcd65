/* libFuzzer target: arbitrary guest bytes into the host-side Tools parser
 * (src/agent/tools-proto.c): framing, bounds, rate, message validation and
 * every op's result schema. Built and run by tests/fuzz/run.sh. */
#include <stdint.h>
#include <string.h>

#include "tools-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_msg(void *userdata, struct dv_tools_msg *msg)
{
        unsigned *n = userdata;

        (*n)++;
        if (msg->kind == DV_TOOLS_MSG_REPLY && msg->ok) {
                /* A reply may claim to answer any op: check it against each. */
                for (const char *const *op = dv_tools_op_names(); *op; op++) {
                        struct dv_error err;
                        dv_tools_check_result(*op, msg->result, &err);
                        dv_tools_check_args(*op, msg->result, &err);
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct dv_tools_reader *r;
        struct dv_tools_limits lim;
        struct dv_tools_msg m;
        struct dv_error err;
        unsigned n = 0;
        size_t chunk, off = 0;
        int64_t now = 0;

        if (!r) {
                /* A small line limit so that oversized lines are reached. */
                dv_tools_limits_default(&lim);
                lim.line_max = 4096;
                lim.quarantine_ms = 50;
                if (dv_tools_reader_new(&lim, &r) < 0)
                        return 0;
        }
        /* The whole input as one line. */
        if (dv_tools_msg_parse((const char *)data, size, &m, &err) == 0) {
                on_msg(&n, &m);
                dv_tools_msg_clear(&m);
        }
        /* As a stream, split into chunks whose size the first byte picks,
         * with time advancing so that the rate bucket and the quarantine
         * both come into play. */
        chunk = size > 0 ? (size_t)data[0] % 64 + 1 : 1;
        dv_tools_reader_reset(r);
        while (off < size) {
                size_t k = size - off < chunk ? size - off : chunk;
                dv_tools_reader_feed(r, data + off, k, now, on_msg, &n);
                off += k;
                now += 7;
        }
        dv_tools_reader_misbehaving(r, now, NULL);
        return 0;
}
