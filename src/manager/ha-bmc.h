/* Host BMCs over IPMI for HA: one worker thread per host with a BMC that
 * reads the chassis power (`ipmitool ... chassis power status`) and, when
 * asked, powers the host off (`chassis power off`, the fence, and DPM's
 * standby) or on (`chassis power on`, DPM). ipmitool is
 * run by fork/exec, no shell, killed after a timeout; the password goes in
 * its environment (IPMI_PASSWORD, with -E), never on its command line.
 *
 * Readings come back to the HA environment through dv_bmc_reading(); none
 * of these calls blocks on the BMC. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ha.h"

#define DV_BMC_ADDRESS_MAX 253 /* a DNS name or an IPv4/IPv6 literal */
#define DV_BMC_USER_MAX 16     /* IPMI user names */
#define DV_BMC_PASSWORD_MAX 20 /* IPMI 2.0 passwords */
#define DV_BMC_DEFAULT_PORT 623

struct dv_bmc_config {
        char address[DV_BMC_ADDRESS_MAX + 1];   /* where ipmitool -H goes */
        int port;                               /* UDP port (623) */
        char user[DV_BMC_USER_MAX + 1];         /* ipmitool -U */
        char password[DV_BMC_PASSWORD_MAX + 1]; /* IPMI_PASSWORD */
};

/* How often the worker reads the power. */
enum dv_bmc_pace {
        DV_BMC_PACE_IDLE,     /* host healthy: every 10 s */
        DV_BMC_PACE_URGENT,   /* host silent: every 500 ms */
        DV_BMC_PACE_SETTLED,  /* host confirmed off: every 3 s */
};

/* The last reading. */
struct dv_bmc_reading {
        bool configured;             /* the host has BMC settings */
        enum dv_ha_power power;      /* last power reading (UNKNOWN on error / none) */
        int64_t power_ms;            /* when that reading was started (dv_now_ms), -1 never */
        int64_t error_ms;            /* when the last call failed, -1 never / since succeeded */
        char error[160];             /* its message, "" when none */
        int64_t fence_ms;            /* when the last power-off was accepted, -1 never */
        int64_t on_ms;               /* when the last power-on was accepted, -1 never */
};

struct dv_bmc;

/* A worker for host (its name, for logs). Starts its thread. */
int dv_bmc_new(const char *host, struct dv_bmc **ret);
/* Asks the thread to end (returns at once): stopping many workers, ask
 * them all first, then free them. */
void dv_bmc_request_stop(struct dv_bmc *b);
/* Stops and joins the thread (waits for an ipmitool in flight, <= its timeout). */
void dv_bmc_free(struct dv_bmc *b); /* NULL-safe */

/* New settings (NULL: the host has no BMC any more). A change drops the
 * readings taken with the old ones and reads again at once. */
void dv_bmc_configure(struct dv_bmc *b, const struct dv_bmc_config *c);
void dv_bmc_set_pace(struct dv_bmc *b, enum dv_bmc_pace pace);
/* Ask for a power-off. -ENODEV without settings; the last error (e.g.
 * -EHOSTUNREACH) when the BMC failed its last call within the last 5 s
 * (refused at once); else 0: the worker runs it next (the result shows in
 * later readings). */
int dv_bmc_request_off(struct dv_bmc *b);
/* Ask for a power-on (DPM's standby hosts), as dv_bmc_request_off. */
int dv_bmc_request_on(struct dv_bmc *b);
/* Read the power at once (the next reading comes as soon as the worker is free). */
void dv_bmc_read_now(struct dv_bmc *b);
void dv_bmc_reading(struct dv_bmc *b, struct dv_bmc_reading *ret);

/* Pure (tested): ipmitool's answer to "chassis power status" ("Chassis
 * Power is on|off") as a power state; DV_HA_POWER_UNKNOWN otherwise. */
enum dv_ha_power dv_bmc_parse_power(const char *out);
/* Pure (tested): "ADDR[:PORT]" (IPv6 in brackets) into c->address/port;
 * -EINVAL when malformed. */
int dv_bmc_parse_address(const char *s, struct dv_bmc_config *c);
/* Is s an acceptable BMC address (host name or IP literal, no shell or
 * option tricks: no leading '-', no spaces or control characters)? */
bool dv_bmc_address_valid(const char *s);
