#include "token.h"

#include <ctype.h>
#include <fcntl.h>
#include <string.h>

bool dv_token_equal(const char *expected, const char *given)
{
        size_t el, gl;
        volatile unsigned char diff = 0;

        if (!expected || !given)
                return false;
        el = strlen(expected);
        gl = strnlen(given, el + 1);
        diff |= (unsigned char)(el != gl);
        for (size_t i = 0; i < el; i++)
                diff |= (unsigned char)expected[i] ^ (unsigned char)(i < gl ? given[i] : 0);
        return diff == 0;
}

static bool token_valid(const char *s, size_t len)
{
        if (len != DV_TOKEN_LEN)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!isxdigit((unsigned char)s[i]))
                        return false;
        return true;
}

int dv_token_load_or_create(const char *path, char ret_token[DV_TOKEN_LEN + 1])
{
        _cleanup_(freep) char *data = NULL;
        char tok[DV_TOKEN_LEN + 2];
        size_t len;
        int r;

        r = dv_read_file(path, 4096, &data, &len);
        if (r == -ENOENT) {
                r = dv_random_hex(tok, DV_TOKEN_LEN / 2);
                if (r < 0)
                        return r;
                tok[DV_TOKEN_LEN] = '\n';
                r = dv_write_file_atomic(path, tok, DV_TOKEN_LEN + 1, 0600);
                if (r < 0)
                        return r;
                memcpy(ret_token, tok, DV_TOKEN_LEN);
                ret_token[DV_TOKEN_LEN] = 0;
                return 0;
        }
        if (r < 0)
                return r;
        while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
                len--;
        if (!token_valid(data, len))
                return -EBADMSG;
        memcpy(ret_token, data, DV_TOKEN_LEN);
        ret_token[DV_TOKEN_LEN] = 0;
        return 0;
}
