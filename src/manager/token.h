/* The admin token: DATA/token, 64 hex characters from getrandom(), mode
 * 0600, created atomically on first start. */
#pragma once

#include "util.h"

#define DV_TOKEN_LEN 64

/* Read path, or create it when missing. -EBADMSG if it is not 64 hex. */
int dv_token_load_or_create(const char *path, char ret_token[DV_TOKEN_LEN + 1]);
/* Compare in time independent of where they differ. */
bool dv_token_equal(const char *expected, const char *given);
