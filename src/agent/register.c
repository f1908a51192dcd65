/* Registration with the manager (docs/api.md POST /api/v1/agent/register)
 * and the host credential kept in DATA/credential (mode 0600). */
#include "agent.h"

#include <ctype.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

#define REGISTER_TIMEOUT_MS 10000
#define SECRET_FILE_MAX 4096

json_t *dv_agent_info_json(struct dv_agent *agent)
{
        json_t *ds = dv_datastores_to_json(&agent->ds), *info;

        if (!ds)
                return NULL;
        info = json_pack("{s:s,s:s,s:s,s:i,s:s,s:O,s:I,s:s,s:s,s:o}", "name", agent->cfg.name,
                         "url", agent->cfg.advertise_url, "hostname", agent->facts.hostname,
                         "cpus", agent->facts.cpus, "cpu_model", agent->facts.cpu_model,
                         "cpu_flags", agent->facts.cpu_flags, "memory_mib",
                         (json_int_t)agent->facts.memory_mib, "accel", agent->facts.accel,
                         "version", DROVER_VERSION, "datastores", ds);
        /* Only when set: an older manager refuses unknown fields. */
        if (info)
                json_object_set_new(info, "cpu_mhz", json_integer(agent->facts.cpu_mhz));
        if (info && agent->cfg.uplink)
                json_object_set_new(info, "uplink", json_string(agent->cfg.uplink));
        if (info && agent->cfg.migration_address)
                json_object_set_new(info, "migration_address",
                                    json_string(agent->cfg.migration_address));
        return info;
}

/* Read a one-line secret, trimmed of surrounding whitespace. */
static int read_secret(const char *path, bool strict_mode, char **ret)
{
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *data = NULL;
        char fdpath[64];
        struct stat st;
        char *s, *e;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADF;
        if (strict_mode && ((st.st_mode & 0077) || st.st_uid != geteuid()))
                return -EPERM;
        snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
        r = dv_read_file(fdpath, SECRET_FILE_MAX, &data, NULL);
        if (r < 0)
                return r;
        for (s = data; isspace((unsigned char)*s); s++)
                ;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
                *--e = 0;
        if (!*s)
                return -ENODATA;
        for (const char *p = s; *p; p++)
                if (!isgraph((unsigned char)*p))
                        return -EBADMSG;
        *ret = dv_strdup(s);
        return 0;
}

int dv_agent_load_credential(struct dv_agent *agent)
{
        _cleanup_(freep) char *cred = NULL;
        int r;

        r = read_secret(agent->credential_path, true, &cred);
        if (r < 0)
                return r;
        if (!dv_agent_token_valid(cred))
                return -EBADMSG;
        pthread_mutex_lock(&agent->lock);
        snprintf(agent->credential, sizeof(agent->credential), "%s", cred);
        pthread_mutex_unlock(&agent->lock);
        return 0;
}

/* The manager accepted us: keep (and persist) the credential it returned. */
static int accept_reply(struct dv_agent *agent, json_t *reply, const char *used)
{
        const char *cred = json_string_value(json_object_get(reply, "credential"));
        json_t *host = json_object_get(reply, "host");
        const char *id = json_string_value(json_object_get(host, "id"));
        bool changed;
        int r;

        if (!dv_agent_token_valid(cred))
                return dv_log_errno(-EBADMSG,
                                    "registration: the manager's reply has no valid credential");
        changed = strcmp(cred, used) != 0;
        if (changed) {
                _cleanup_(freep) char *line = dv_asprintf("%s\n", cred);

                r = dv_write_file_atomic(agent->credential_path, line, strlen(line), 0600);
                if (r < 0)
                        /* Keep going with it in memory: after a restart the
                         * bootstrap token gets us a fresh one. */
                        dv_log_errno(r, "cannot store the credential in %s: %m",
                                     agent->credential_path);
        }
        pthread_mutex_lock(&agent->lock);
        snprintf(agent->credential, sizeof(agent->credential), "%s", cred);
        snprintf(agent->host_id, sizeof(agent->host_id), "%s", id ? id : "");
        agent->registered = true;
        pthread_mutex_unlock(&agent->lock);
        dv_info("registered with %s as host %s (id %s)%s", agent->cfg.manager_url,
                agent->cfg.name, id ? id : "?", changed ? "; new credential stored" : "");
        return 0;
}

/* POST the registration with one token. 0 = accepted, -EACCES = 401,
 * other negative = try again later. */
static int post_register(struct dv_agent *agent, const char *url, const char *token,
                         const char *what)
{
        _cleanup_(json_decrefp) json_t *body = dv_agent_info_json(agent);
        _cleanup_(json_decrefp) json_t *reply = NULL;
        char errbuf[512] = "";
        long status = 0;
        int r;

        if (!body)
                return -ENOMEM;
        r = dv_http_call("POST", url, token, body, REGISTER_TIMEOUT_MS, &status, &reply, errbuf,
                         sizeof(errbuf));
        if (r < 0) {
                /* Normal while the manager starts: not a warning. */
                dv_info("registration: waiting for the manager: %s", errbuf);
                return r;
        }
        if (status == 200)
                return accept_reply(agent, reply, token);
        if (status == 401) {
                dv_warn("registration: the manager refused %s: %s", what,
                        dv_http_error_message(reply) ? dv_http_error_message(reply) : "401");
                return -EACCES;
        }
        dv_warn("registration: the manager answered %ld: %s", status,
                dv_http_error_message(reply) ? dv_http_error_message(reply) : "(no message)");
        return -EPROTO;
}

int dv_agent_register_once(struct dv_agent *agent)
{
        _cleanup_(freep) char *url = dv_asprintf("%s/api/v1/agent/register",
                                                 agent->cfg.manager_url);
        _cleanup_(freep) char *token = NULL;
        char cred[DV_AGENT_CREDENTIAL_LEN + 1];
        int r;

        pthread_mutex_lock(&agent->lock);
        snprintf(cred, sizeof(cred), "%s", agent->credential);
        pthread_mutex_unlock(&agent->lock);

        if (cred[0]) {
                r = post_register(agent, url, cred, "this host's credential");
                if (r != -EACCES)
                        return r;
                /* The manager forgot us (new database?): bootstrap again. */
        }
        if (!agent->cfg.token_file) {
                dv_err("registration: no accepted credential and no --token-file to bootstrap with");
                return -EACCES;
        }
        r = read_secret(agent->cfg.token_file, false, &token);
        if (r < 0)
                return dv_log_errno(r, "registration: cannot read the token file %s: %m",
                                    agent->cfg.token_file);
        return post_register(agent, url, token, "the bootstrap token");
}
