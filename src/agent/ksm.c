/* KSM (page sharing with copy-on-write) on a host whose cluster has memory
 * overcommit on (docs/qos.md "Memory overcommit"): switched on and tuned
 * while the switch is on, switched back to what the agent found when it
 * goes off or the agent stops. QEMU marks guest RAM mergeable by default
 * (-machine mem-merge=on), so KSM needs nothing per VM. */
#include "agent.h"

#include <fcntl.h>
#include <string.h>

#include "log.h"

#define KSM_DIR "/sys/kernel/mm/ksm"
#define KSM_SLEEP_MS 20
#define KSM_SCAN_S 10                  /* aim: one pass over the VMs' memory in ~10 s */
#define KSM_PAGES_MIN 100
#define KSM_PAGES_MAX 10000

static int ksm_read(const char *file, char *buf, size_t len)
{
        return dv_read_attr(KSM_DIR, file, buf, len);
}

static int ksm_write(const char *file, const char *value)
{
        return dv_write_attr(KSM_DIR, file, value);
}

static int64_t ksm_value(const char *file)
{
        char buf[64];

        return ksm_read(file, buf, sizeof(buf)) < 0 ? -1 : strtoll(buf, NULL, 10);
}

int64_t dv_ksm_pages_to_scan(int64_t vm_memory_mib)
{
        int64_t pages = vm_memory_mib * 256 / (KSM_SCAN_S * 1000 / KSM_SLEEP_MS);

        return DV_MIN(DV_MAX(pages, KSM_PAGES_MIN), KSM_PAGES_MAX);
}

void dv_ksm_apply(struct dv_ksm *k, bool on, int64_t vm_memory_mib)
{
        char buf[32];
        int r;

        if (k->disabled || (on == k->on && k->known))
                return;
        k->known = true;
        if (on && !k->saved) {
                if (ksm_read("run", k->orig_run, sizeof(k->orig_run)) < 0 ||
                    ksm_read("pages_to_scan", k->orig_pages, sizeof(k->orig_pages)) < 0 ||
                    ksm_read("sleep_millisecs", k->orig_sleep, sizeof(k->orig_sleep)) < 0) {
                        dv_warn("KSM: %s is not readable: no page sharing on this host", KSM_DIR);
                        k->disabled = true;
                        return;
                }
                k->saved = true;
        }
        if (on) {
                snprintf(buf, sizeof(buf), "%lld", (long long)dv_ksm_pages_to_scan(vm_memory_mib));
                r = ksm_write("pages_to_scan", buf);
                if (r >= 0) {
                        snprintf(buf, sizeof(buf), "%d", KSM_SLEEP_MS);
                        r = ksm_write("sleep_millisecs", buf);
                }
                if (r >= 0)
                        r = ksm_write("run", "1");
                if (r < 0) {
                        dv_warn_errno(r, "KSM: cannot switch it on: %m");
                        return;
                }
                dv_info("KSM on (memory overcommit): %s pages per %d ms",
                        buf[0] ? buf : "?", KSM_SLEEP_MS);
                k->on = true;
                return;
        }
        if (!k->saved) {
                k->on = false;
                return; /* never switched on by us: left alone */
        }
        dv_ksm_restore(k);
        k->on = false;
}

void dv_ksm_restore(struct dv_ksm *k)
{
        if (!k->saved || !k->on)
                return;
        (void)ksm_write("pages_to_scan", k->orig_pages);
        (void)ksm_write("sleep_millisecs", k->orig_sleep);
        (void)ksm_write("run", k->orig_run);
        dv_info("KSM back to run=%s, pages_to_scan=%s, sleep_millisecs=%s", k->orig_run,
                k->orig_pages, k->orig_sleep);
        k->on = false;
}

void dv_ksm_metrics(json_t *metrics)
{
        long page = sysconf(_SC_PAGESIZE);
        int64_t run = ksm_value("run"), shared = ksm_value("pages_shared"),
                sharing = ksm_value("pages_sharing");

        if (run < 0 || page <= 0)
                return;
        json_object_set_new(metrics, "ksm_run", json_integer(run));
        /* pages_shared: KSM pages in use; pages_sharing: the mappings of
         * them beyond the first, i.e. the pages saved. */
        json_object_set_new(metrics, "ksm_shared_mib",
                            json_integer(DV_MAX(shared, 0) * page / 1048576));
        json_object_set_new(metrics, "ksm_saved_mib",
                            json_integer(DV_MAX(sharing, 0) * page / 1048576));
        json_object_set_new(metrics, "ksm_pages_to_scan", json_integer(ksm_value("pages_to_scan")));
        json_object_set_new(metrics, "ksm_sleep_ms", json_integer(ksm_value("sleep_millisecs")));
}
