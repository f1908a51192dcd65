/* What a heartbeat means for one VM: a pure decision from the state in the
 * record and the state the host reports.
 *
 * - A VM with an operation in flight in this manager (busy) is left to it.
 * - Reported running/paused/crashed: the record follows the host.
 * - Reported stopped (QEMU exited) or absent: a VM recorded as running,
 *   paused, starting, stopping or migrating becomes stopped; stopped and
 *   crashed stay as they are (a crash is not hidden by the exit after it). */
#pragma once

#include "util.h"

struct dv_reconcile {
        bool change;           /* the record's state must change */
        const char *state;     /* the new state */
        const char *reason;    /* state_reason to record */
};

void dv_reconcile_vm(const char *record_state, bool busy, const char *reported_state,
                     const char *reported_reason, struct dv_reconcile *ret);

/* Is state one where a QEMU process should exist? */
bool dv_vm_state_active(const char *state);
