/* Parsers for the values users type on the command line: numbers, sizes,
 * --disk and --nic specifications. Pure logic: each fills *ret only on
 * success, and otherwise returns -EINVAL with a one-line reason in err
 * (without the option name, which the caller adds). */
#pragma once

#include <jansson.h>

#include "util.h"

/* Bounds from docs/api.md. */
#define CLI_CPUS_MAX 64
#define CLI_MEMORY_MIB_MIN 16
#define CLI_MEMORY_MIB_MAX 1048576
#define CLI_DISK_GIB_MAX 16384

struct cli_disk_spec {
        int64_t size_gib;                 /* 1..CLI_DISK_GIB_MAX */
        char datastore[DV_NAME_MAX + 1];  /* "" = the manager picks */
};

struct cli_nic_spec {
        char portgroup[DV_NAME_MAX + 1];  /* port group name */
        char ip[16];                      /* dotted IPv4 address, "" = none */
        int prefix;                       /* 1..32, or -1 when no address */
        char gateway[16];                 /* dotted IPv4 gateway, "" = none */
};

/* A whole decimal number in [min, max]: digits only (no sign, spaces, or
 * suffix). */
int cli_parse_number(const char *s, int64_t min, int64_t max, int64_t *ret, char *err,
                     size_t err_len);

/* Memory in MiB: "512", "512M", "512MiB", "2G", "2GiB"; within the API's
 * bounds (16 MiB .. 1 TiB). */
int cli_parse_memory_mib(const char *s, int64_t *ret, char *err, size_t err_len);

/* --disk GIB[@DATASTORE] */
int cli_parse_disk(const char *s, struct cli_disk_spec *ret, char *err, size_t err_len);

/* --nic PORTGROUP[:IP/PREFIX[:GW]] (IPv4) */
int cli_parse_nic(const char *s, struct cli_nic_spec *ret, char *err, size_t err_len);

/* --subnet a.b.c.d/N (N 1..32), --gateway a.b.c.d, --uplink IFACE (a
 * network interface name: 1..15 characters, no '/', ':' or spaces). */
int cli_parse_subnet(const char *s, char *err, size_t err_len);
int cli_parse_ipv4(const char *s, char *err, size_t err_len);
int cli_parse_ifname(const char *s, char *err, size_t err_len);

/* The API's JSON for a disk or NIC: {"size_gib","datastore"?},
 * {"portgroup","ip"?,"prefix"?,"gateway"?}. New references. */
json_t *cli_disk_json(const struct cli_disk_spec *d);
json_t *cli_nic_json(const struct cli_nic_spec *n);
