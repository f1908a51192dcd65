/* Tasks: long operations run by a bounded pool of worker threads. A task is
 * a document in the store (see docs/api.md TASK), written on every change of
 * state, progress or message, so that a restart finds it.
 *
 * The caller stores the task (state "queued") together with its intent (a
 * VM's new state, ...) in one transaction, then submits it. The function
 * runs on a worker and must end the task (succeed/fail/cancelled); if it
 * returns without doing so the task fails with "internal".
 *
 * Locks: the pool's mutex is a leaf; it is never held while calling the
 * store or a task function. */
#pragma once

#include <jansson.h>

#include "store.h"
#include "util.h"

struct dv_tasks;
struct dv_task;

typedef void (*dv_task_fn)(struct dv_task *task, void *data);
typedef void (*dv_task_free_fn)(void *data);

int dv_tasks_new(struct dv_store *store, int workers, int max_pending, struct dv_tasks **ret);
/* Stop taking tasks; wait up to timeout_ms for the running ones. Returns the
 * number still running (then the pool is leaked on purpose: its threads
 * still use it; their tasks are failed by the next start). */
int dv_tasks_shutdown(struct dv_tasks *tasks, int64_t timeout_ms);
void dv_tasks_free(struct dv_tasks *tasks); /* only after shutdown returned 0 */

/* A new task document in state "queued" (not stored). */
json_t *dv_task_doc_new(const char *op, const char *target_kind, const char *target_id,
                        const char *target_name, const char *user);

/* Is there room for one more task? (Checked before writing an intent.) */
bool dv_tasks_can_accept(struct dv_tasks *tasks);
/* Submit a stored task. Borrows doc (copies it); consumes data. */
int dv_tasks_submit(struct dv_tasks *tasks, json_t *doc, dv_task_fn fn, void *data,
                    dv_task_free_fn free_data);
/* Is this task queued or running in this process? */
bool dv_tasks_active(struct dv_tasks *tasks, const char *task_id);
/* Ask a queued or running task to stop at its next step; -ENOENT if it is
 * not active here. */
int dv_tasks_cancel(struct dv_tasks *tasks, const char *task_id);

/* For task functions. */
const char *dv_task_id(struct dv_task *t);
bool dv_task_cancel_requested(struct dv_task *t);
void dv_task_progress(struct dv_task *t, int pct, const char *fmt, ...) _printf_(3, 4);
/* Structured progress shown with the task ("detail", e.g. a migration's
 * {"phase","bytes_done","bytes_total","rate","remaining_s"}); replaces the
 * previous one and is written with the next dv_task_progress(). Consumes
 * detail (NULL removes it). */
void dv_task_detail(struct dv_task *t, json_t *detail);
/* End the task. Consumes result (may be NULL). */
void dv_task_succeed(struct dv_task *t, json_t *result, const char *fmt, ...) _printf_(3, 4);
void dv_task_fail(struct dv_task *t, const char *code, const char *fmt, ...) _printf_(3, 4);
/* Fail with a result too (what was done before the failure). Consumes result. */
void dv_task_fail_result(struct dv_task *t, json_t *result, const char *code,
                         const char *fmt, ...) _printf_(4, 5);
void dv_task_cancelled(struct dv_task *t, const char *fmt, ...) _printf_(2, 3);
