/* The decision cores alone at scale (bench/scale.sh runs it): a synthetic
 * cluster of H hosts (32 CPUs, 256 GiB, all with a BMC) and V running VMs
 * (1-4 vCPUs, 1-4 GiB, 2-20 % of a CPU per vCPU, a skewed spread so that
 * DRS has work), then one DRS pass (drs.c) and one DPM pass (dpm.c, with HA
 * admission control hosts:1), timed. Prints one JSON line per pass.
 *   drover-bench-decide [HOSTS [VMS]] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dpm.h"
#include "drs.h"

static double ms_since(const struct timespec *t0)
{
        struct timespec t1;

        clock_gettime(CLOCK_MONOTONIC, &t1);
        return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

int main(int argc, char **argv)
{
        size_t nh = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
        size_t nv = argc > 2 ? strtoul(argv[2], NULL, 10) : 50000;
        struct dv_drs_host *dh = calloc(nh, sizeof(*dh));
        struct dv_drs_vm *dv = calloc(nv, sizeof(*dv));
        struct dv_dpm_host *ph = calloc(nh, sizeof(*ph));
        struct dv_dpm_vm *pv = calloc(nv, sizeof(*pv));
        struct dv_drs_result *dres = calloc(1, sizeof(*dres));
        struct dv_dpm_result pres;
        struct dv_drs_input din = { 0 };
        struct dv_dpm_input pin = { 0 };
        struct dv_ha_settings ha;
        char (*names)[24] = calloc(nh + nv, sizeof(*names));
        struct timespec t0;
        unsigned seed = 42;
        int r;

        if (!dh || !dv || !ph || !pv || !dres || !names)
                return 1;
        for (size_t i = 0; i < nh; i++) {
                snprintf(names[i], sizeof(names[i]), "sim%04zu", i + 1);
                dh[i] = (struct dv_drs_host){ names[i], names[i], true, 3200, 32, 262144, 0, 0 };
                ph[i] = (struct dv_dpm_host){ names[i], DV_DPM_HOST_ON, true, 3200, 32, 262144 };
        }
        for (size_t i = 0; i < nv; i++) {
                /* Skewed: the first tenth of the hosts gets about 1.5 times
                 * its share. */
                size_t h = rand_r(&seed) % 20 == 0 ? (size_t)rand_r(&seed) % (nh / 10 + 1)
                                                   : (size_t)rand_r(&seed) % nh;
                int64_t cpus = 1 + rand_r(&seed) % 4, mem = 1024 * (1 + rand_r(&seed) % 4);
                double cpu = (2 + rand_r(&seed) % 19) * (double)cpus;

                snprintf(names[nh + i], sizeof(names[0]), "vm%05zu", i + 1);
                dv[i] = (struct dv_drs_vm){ names[nh + i], names[nh + i], h, true, cpu,
                                            (double)mem * 0.4, mem, cpus };
                pv[i] = (struct dv_dpm_vm){ names[nh + i], h, true, true, cpu, (double)mem * 0.4,
                                            mem, cpus };
                dh[h].reserved_mib += mem;
        }
        din = (struct dv_drs_input){ .hosts = dh, .n_hosts = nh, .vms = dv, .n_vms = nv };
        dv_drs_settings_default(&din.settings);
        din.settings.mode = DV_DRS_MANUAL;
        din.settings.persist_passes = 1;
        din.settings.threshold = 5; /* target 0.04: moves to make */
        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = dv_drs_pass(&din, dres);
        printf("{\"bench\":\"decide\",\"pass\":\"drs\",\"hosts\":%zu,\"vms\":%zu,\"rc\":%d,"
               "\"ms\":%.3f,\"imbalance\":%.4f,\"recommendations\":%zu,\"note\":\"%s\"}\n",
               nh, nv, r, ms_since(&t0), dres->imbalance, dres->n_recs, dres->note);

        dv_ha_settings_default(&ha);
        pin = (struct dv_dpm_input){ .hosts = ph, .n_hosts = nh, .vms = pv, .n_vms = nv, .ha = &ha };
        dv_dpm_settings_default(&pin.settings);
        pin.settings.mode = DV_DPM_MANUAL;
        pin.settings.persist_passes = 1;
        pin.settings.low_pct = 50; /* utilisation is ~43 %: a host goes */
        pin.settings.high_pct = 80;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = dv_dpm_pass(&pin, &pres);
        printf("{\"bench\":\"decide\",\"pass\":\"dpm\",\"hosts\":%zu,\"vms\":%zu,\"rc\":%d,"
               "\"ms\":%.3f,\"util_pct\":%.1f,\"action\":\"%s\",\"host\":\"%s\"}\n",
               nh, nv, r, ms_since(&t0), pres.util * 100, dv_dpm_action_to_string(pres.action),
               pres.action != DV_DPM_NONE ? ph[pres.host].name : "");
        return 0;
}
