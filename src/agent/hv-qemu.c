/* The QEMU hypervisor driver (dv_hv_qemu_ops, see hv.h).
 *
 * One QEMU process per VM, with its state in RUN_DIR/<vm-id>/ (mode 0700,
 * owned by the VM's uid; file names in qemu-cmd.h). QEMU runs as the VM's
 * own uid under the seccomp sandbox, in its own session, and is not the
 * agent's child: the agent forks an intermediate child that forks QEMU and
 * exits, so QEMU outlives an agent killed with -9 and a new agent adopts
 * it (adopt()) from its pidfile and QMP socket.
 *
 * Each VM has a watcher thread (detached, holding a reference on the VM)
 * that polls three fds: a pidfd of QEMU (works for non-children), the QMP
 * socket, and an eventfd that stops it. It is the only QMP reader of its
 * VM: it dispatches QMP events to the event callback at once, (re)connects
 * QMP when the link is down and learns the run state with query-status
 * after each connect. When QEMU exits it drains QMP (the SHUTDOWN event),
 * removes the sockets, pidfile and spec.json and the taps, and reports
 * "stopped" with a reason: host-request (after stop(), or the reason
 * stop() was given, e.g. lease-lost), guest-shutdown
 * (SHUTDOWN with guest=true), qemu-exited (anything else, e.g. kill -9).
 * list() reports an exited VM once more and then forgets it. console.log
 * and qemu.log stay in RUN_DIR/<vm-id>/ for post-mortems until the VM's
 * next start (which recreates them) or until adopt() of a later agent
 * sweeps directories without a live QEMU.
 *
 * Lock order (outer first; no other nesting):
 *   qmp read_lock (the watcher inside dv_qmp_process(), delivering events)
 *     -> hv->lock -> vm->lock
 * Rules:
 *   - Never call dv_qmp_execute() with hv->lock or vm->lock held: its reply
 *     is read by the watcher, whose event handler takes vm->lock.
 *   - The event callback (hv->cb) and the NIC hook are called with no
 *     driver lock held, but the callback runs on a watcher thread that is
 *     also the VM's QMP reader: it must return quickly and must not call
 *     stop(), reboot() or console_ticket() itself (list() is fine).
 *   - The VM list holds one reference on each VM, every operation takes
 *     its own for its duration (vm_find()), and each watcher holds one.
 *
 * Library code: never logs; failures come back as -errno and dv_error. */
#include "hv.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/if_tun.h>

#include "cgroup.h"
#include "json.h"
#include "qemu-cmd.h"
#include "qmp.h"
#include "sockdiag.h"

#define START_TIMEOUT_MS 30000    /* QEMU up and QMP answering */
#define ADOPT_TIMEOUT_MS 5000     /* all adopted VMs answering QMP */
#define QMP_TIMEOUT_MS 10000      /* one QMP command */
#define QUIT_WAIT_MS 5000         /* exit after "quit" */
#define KILL_WAIT_MS 15000        /* exit after SIGKILL */
#define RECONNECT_MS 1000         /* QMP reconnect interval of a running VM */
#define STARTING_POLL_MS 50       /* QMP connect interval while QEMU starts */
#define POWERDOWN_REPEAT_MS 10000 /* ACPI power button pressed again */
#define MAX_STOP_TIMEOUT_S 3600
#define MAX_TICKET_TTL_S 86400
#define BLOCKSTATS_MS 1000        /* query-blockstats interval of a running VM */

struct vm {
        struct dv_hv *hv;        /* the driver */
        char id[37];             /* VM id (UUID) */
        char *name;              /* VM name */
        uid_t uid;               /* the uid QEMU runs as */
        struct dv_vm_spec *spec; /* the spec, or NULL (adopted without spec.json) */
        int refs;                /* [hv->lock] references */
        struct vm *next;         /* [hv->lock] next in hv->vms */
        struct vm *wnext;        /* [hv->lock] next in hv->watched */

        pthread_mutex_t lock;    /* guards the fields marked [lock] */
        pthread_cond_t cond;     /* [lock] signalled on status_known, exited */
        pid_t pid;               /* QEMU's pid, set before the watcher starts */
        int pidfd;               /* pidfd of QEMU, owned */
        int wake_fd;             /* eventfd stopping the watcher, owned */
        int64_t started_at;      /* wall ms QEMU started */
        bool starting;           /* [lock] start() not done: hidden, no callbacks */
        bool status_known;       /* [lock] query-status answered after a connect */
        unsigned seq;            /* [lock] bumped by every state-changing event */
        struct dv_qmp *qmp;      /* [lock] the QMP link, NULL while down */
        const char *state;       /* [lock] "running", "paused", "crashed", "stopped" */
        const char *reason;      /* [lock] reason of the state, or NULL */
        bool stop_requested;     /* [lock] stop() was called */
        const char *stop_reason; /* [lock] the reason stop() gave (static), NULL: host-request */
        bool guest_shutdown;     /* [lock] SHUTDOWN with guest=true seen */
        bool exited;             /* [lock] QEMU exited and cleanup is done */
        bool cleaned;            /* [lock] files and taps removed */
        bool incoming;           /* started with -incoming defer: a migration target */
        bool migrated;           /* [lock] migrated away: its exit is reason "migrated" */
        bool held;               /* [lock] migrated out, paused until confirm or resume */
        struct vm_mirror *mirrors; /* [lock] its running disk mirrors (n_mirrors), or NULL */
        size_t n_mirrors;        /* [lock] entries in mirrors */
        bool nbd;                /* [lock] an incoming VM's NBD server runs */
        struct dv_vm_spec *old_spec; /* a spec replaced after a pivot, freed with the VM
                                  * (threads may still read the strings it holds) */
        uint64_t cpu_ticks;      /* [lock] utime+stime at the last sample */
        int64_t cpu_ms;          /* [lock] monotonic ms of the last sample, 0 = none */
        double cpu_pct;          /* [lock] the last computed CPU use */
        int64_t blk_t_ms;        /* [lock] wall ms of the last query-blockstats, 0: none */
        uint64_t blk[4];         /* [lock] its sums: read/write bytes, read/write ops */
        size_t blk_n;            /* [lock] the block devices summed */
        bool in_cgroup;          /* [lock] QEMU is in its cgroup (cgroup.h) */
        struct dv_cpu_qos cpu_qos; /* [lock] CPU QoS (from the spec, then set_qos) */
        struct dv_disk_qos disk_qos[DV_VM_MAX_DISKS]; /* [lock] per disk I/O limits */
        size_t n_disks;          /* disks of the spec (0 without a spec) */
        int64_t cg_quota_us;     /* [lock] last applied cfs quota (-1 none) */
        int64_t cg_weight;       /* [lock] last applied weight */
        int64_t memory_mib;      /* guest RAM of the spec (0 without a spec) */
        struct dv_mem_qos mem_qos; /* [lock] memory QoS (from the spec, then set_qos) */
        int64_t balloon_target_mib; /* [lock] last balloon target set (memory_mib: none) */
        int64_t balloon_actual_mib; /* [lock] guest RAM after the balloon (BALLOON_CHANGE) */
};

/* One disk mirror job (blockdev-mirror) of a VM. */
struct vm_mirror {
        int disk;                /* disk index */
        char job[32];            /* job id: "mirror-diskN" */
        char source[64];         /* the disk's node before the mirror */
        char target[32];         /* the target's node, added by blockdev-add */
        char *path;              /* a local target's file, or NULL (NBD) */
};

struct dv_hv {
        char *run_dir;             /* RUN_DIR */
        char *qemu_bin;            /* absolute path of QEMU */
        const char *accel;         /* "kvm" or "tcg" */
        bool sandbox;              /* -sandbox on,... */
        bool no_locking;           /* disks opened with locking=off (--no-image-locking) */
        uint64_t console_log_max;  /* bytes before a console log is cut back */
        dv_hv_event_cb cb;         /* state change callback */
        void *userdata;            /* for cb */
        struct dv_cgroup *cg;      /* per-VM cgroups (borrowed), or NULL */
        int64_t host_mhz;          /* nominal MHz of a core */
        pthread_mutex_t qos_lock;  /* serializes cgroup weight updates; taken
                                    * before hv->lock, never held over QMP */
        dv_hv_qemu_nic_hook nic_hook; /* DVS hook, or NULL */
        void *nic_userdata;        /* for nic_hook */

        pthread_mutex_t lock;      /* guards the fields marked [lock] */
        pthread_cond_t cond;       /* [lock] signalled when a watcher ends */
        struct vm *vms;            /* [lock] known VMs */
        struct vm *watched;        /* [lock] VMs whose watcher thread runs */
};

static const char *const vm_files[] = {
        DV_QEMU_QMP_SOCK, DV_QEMU_TOOLS_SOCK, DV_QEMU_VNC_SOCK, DV_QEMU_PIDFILE, DV_QEMU_SPEC,
};

/* dv_error_set() that returns r (a -errno) instead of -EINVAL. */
static int set_err(struct dv_error *err, int r, int status, const char *code, const char *fmt,
                   ...) _printf_(5, 6);
static int set_err(struct dv_error *err, int r, int status, const char *code, const char *fmt,
                   ...)
{
        va_list ap;

        if (err) {
                err->status = status;
                snprintf(err->code, sizeof(err->code), "%s", code);
                va_start(ap, fmt);
                vsnprintf(err->message, sizeof(err->message), fmt, ap);
                va_end(ap);
        }
        return r;
}

/* ---- VM objects ---------------------------------------------------------- */

static struct vm *vm_new(struct dv_hv *hv, const char *id, const char *name, uid_t uid)
{
        struct vm *vm = calloc(1, sizeof(*vm));
        pthread_condattr_t ca;

        if (!vm)
                return NULL;
        vm->hv = hv;
        snprintf(vm->id, sizeof(vm->id), "%s", id);
        vm->name = dv_strdup(name);
        vm->uid = uid;
        vm->refs = 1;
        vm->pid = -1;
        vm->pidfd = -1;
        vm->wake_fd = -1;
        vm->state = "running";
        dv_cpu_qos_default(&vm->cpu_qos);
        vm->cg_quota_us = -1;
        pthread_mutex_init(&vm->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&vm->cond, &ca);
        pthread_condattr_destroy(&ca);
        return vm;
}

static void vm_destroy(struct vm *vm)
{
        dv_qmp_unref(vm->qmp);
        if (vm->pidfd >= 0)
                close(vm->pidfd);
        if (vm->wake_fd >= 0)
                close(vm->wake_fd);
        dv_vm_spec_free(vm->spec);
        dv_vm_spec_free(vm->old_spec);
        for (size_t i = 0; i < vm->n_mirrors; i++)
                free(vm->mirrors[i].path);
        free(vm->mirrors);
        free(vm->name);
        pthread_cond_destroy(&vm->cond);
        pthread_mutex_destroy(&vm->lock);
        free(vm);
}

static void vm_unref(struct vm *vm)
{
        bool last;

        if (!vm)
                return;
        pthread_mutex_lock(&vm->hv->lock);
        last = --vm->refs == 0;
        pthread_mutex_unlock(&vm->hv->lock);
        if (last)
                vm_destroy(vm);
}

static void vm_unrefp(struct vm **vm) { vm_unref(*vm); }

/* [hv->lock] held. */
static struct vm *vm_find_locked(struct dv_hv *hv, const char *id)
{
        for (struct vm *vm = hv->vms; vm; vm = vm->next)
                if (strcasecmp(vm->id, id) == 0)
                        return vm;
        return NULL;
}

/* A new reference on the VM with this id, or NULL. */
static struct vm *vm_find(struct dv_hv *hv, const char *id)
{
        struct vm *vm;

        pthread_mutex_lock(&hv->lock);
        vm = vm_find_locked(hv, id);
        if (vm)
                vm->refs++;
        pthread_mutex_unlock(&hv->lock);
        return vm;
}

/* [hv->lock] held. Unlink vm from the list; the caller drops the list's
 * reference (outside the lock). */
static void vm_unlink_locked(struct dv_hv *hv, struct vm *vm)
{
        for (struct vm **pp = &hv->vms; *pp; pp = &(*pp)->next)
                if (*pp == vm) {
                        *pp = vm->next;
                        vm->next = NULL;
                        return;
                }
}

static struct dv_qmp *vm_qmp_get(struct vm *vm)
{
        struct dv_qmp *qmp;

        pthread_mutex_lock(&vm->lock);
        qmp = dv_qmp_ref(vm->qmp);
        pthread_mutex_unlock(&vm->lock);
        return qmp;
}

static char *vm_path(struct vm *vm, const char *file)
{
        return dv_qemu_vm_path(vm->hv->run_dir, vm->id, file);
}

/* Wait on vm->cond until *flag is true, QEMU exited or deadline
 * (monotonic ms) passed. Returns *flag. */
static bool vm_wait_flag(struct vm *vm, const bool *flag, int64_t deadline)
{
        struct timespec ts = { .tv_sec = deadline / 1000, .tv_nsec = (deadline % 1000) * 1000000 };
        bool r;

        pthread_mutex_lock(&vm->lock);
        while (!*flag && !vm->exited && dv_now_ms() < deadline)
                pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
        r = *flag;
        pthread_mutex_unlock(&vm->lock);
        return r;
}

/* ---- files ------------------------------------------------------------- */

/* Read a file from a VM's directory, which QEMU (running as the VM's uid)
 * may have tampered with: no symlinks, regular files only (a FIFO must not
 * block us), at most max bytes; with tail, the last max bytes of a longer
 * file. NUL-terminated. */
static int read_vm_file(const char *path, size_t max, bool tail, char **ret)
{
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *buf = NULL;
        struct stat st;
        size_t len = 0;

        fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADF;
        if ((size_t)st.st_size > max) {
                if (!tail)
                        return -EFBIG;
                if (lseek(fd, st.st_size - (off_t)max, SEEK_SET) < 0)
                        return -errno;
        }
        buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        while (len < max) {
                ssize_t k = read(fd, buf + len, max - len);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                len += (size_t)k;
        }
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* ---- /proc ------------------------------------------------------------- */

/* utime+stime and starttime (clock ticks) of pid. */
static int proc_stat(pid_t pid, uint64_t *ret_ticks, uint64_t *ret_start)
{
        _cleanup_(freep) char *path = dv_asprintf("/proc/%d/stat", (int)pid);
        _cleanup_(freep) char *buf = NULL;
        unsigned long long v[20];
        char *p;
        int r;

        r = dv_read_file(path, 4096, &buf, NULL);
        if (r < 0)
                return r;
        p = strrchr(buf, ')');
        if (!p)
                return -EIO;
        p++;
        /* Fields 3.. follow the command name: state, ppid, ..., utime (14),
         * stime (15), ..., starttime (22). */
        for (int i = 0; i < 20; i++) {
                while (*p == ' ')
                        p++;
                if (!*p)
                        return -EIO;
                v[i] = i == 0 ? 0 : strtoull(p, NULL, 10);
                while (*p && *p != ' ')
                        p++;
        }
        *ret_ticks = v[11] + v[12];
        if (ret_start)
                *ret_start = v[19];
        return 0;
}

/* A "Name:   N kB" field of /proc/PID/status, 0 when absent. */
static int64_t proc_status_kib(pid_t pid, const char *field)
{
        _cleanup_(freep) char *path = dv_asprintf("/proc/%d/status", (int)pid);
        _cleanup_(freep) char *buf = NULL, *key = dv_asprintf("\n%s:", field);
        char *p;

        if (dv_read_file(path, 65536, &buf, NULL) < 0)
                return 0;
        p = strstr(buf, key);
        return p ? strtoll(p + strlen(key), NULL, 10) : 0;
}

/* Resident KiB of the guest's RAM in QEMU: the Rss of the mapping (in
 * /proc/PID/smaps) whose size is memory_mib up to 64 MiB more, largest
 * Rss first; QEMU's own memory (TCG's code buffer, devices) is left out.
 * -1 when not found. */
static int64_t proc_guest_rss_kib(pid_t pid, int64_t memory_mib)
{
        _cleanup_(freep) char *path = dv_asprintf("/proc/%d/smaps", (int)pid);
        _cleanup_(fclosep) FILE *f = fopen(path, "re");
        char line[512];
        bool in = false;
        int64_t best = -1;

        if (!f || memory_mib <= 0)
                return -1;
        while (fgets(line, sizeof(line), f)) {
                unsigned long long lo, hi;
                long long v;

                if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
                        unsigned long long mib = (hi - lo) >> 20;

                        in = mib >= (unsigned long long)memory_mib &&
                             mib <= (unsigned long long)memory_mib + 64;
                } else if (in && sscanf(line, "Rss: %lld kB", &v) == 1) {
                        best = DV_MAX(best, (int64_t)v);
                        in = false;
                }
        }
        return best;
}

/* Pages of the process KSM merged (kernel 6.1+), KiB; 0 when unknown. */
static int64_t proc_ksm_kib(pid_t pid)
{
        _cleanup_(freep) char *path = dv_asprintf("/proc/%d/ksm_merging_pages", (int)pid);
        _cleanup_(freep) char *buf = NULL;

        if (dv_read_file(path, 4096, &buf, NULL) < 0)
                return 0;
        return strtoll(buf, NULL, 10) * (sysconf(_SC_PAGESIZE) / 1024);
}

static int64_t proc_rss_kib(pid_t pid)
{
        _cleanup_(freep) char *path = dv_asprintf("/proc/%d/status", (int)pid);
        _cleanup_(freep) char *buf = NULL;
        char *p;

        if (dv_read_file(path, 65536, &buf, NULL) < 0)
                return 0;
        p = strstr(buf, "\nVmRSS:");
        return p ? strtoll(p + 7, NULL, 10) : 0;
}

/* Wall clock ms at which pid started. */
static int64_t proc_start_wall_ms(pid_t pid)
{
        _cleanup_(freep) char *buf = NULL;
        uint64_t ticks, start;
        long hz = sysconf(_SC_CLK_TCK);
        double up;

        if (proc_stat(pid, &ticks, &start) < 0 || hz <= 0 ||
            dv_read_file("/proc/uptime", 4096, &buf, NULL) < 0)
                return dv_wall_ms();
        up = strtod(buf, NULL);
        return dv_wall_ms() - (int64_t)((up - (double)start / (double)hz) * 1000.0);
}

/* [vm->lock] held. CPU use since the last sample (or since start). */
static double vm_sample_cpu_locked(struct vm *vm)
{
        long hz = sysconf(_SC_CLK_TCK);
        int64_t now = dv_now_ms();
        uint64_t ticks, start;

        if (hz <= 0 || proc_stat(vm->pid, &ticks, &start) < 0)
                return vm->cpu_pct;
        if (vm->cpu_ms == 0) {
                int64_t age = dv_wall_ms() - vm->started_at;

                vm->cpu_pct = age > 0 ? (double)ticks * 1000.0 / (double)hz / (double)age * 100.0
                                      : 0.0;
        } else if (now - vm->cpu_ms >= 200) {
                /* Shorter intervals (two callers in a row) would be noise:
                 * keep the last value then. */
                vm->cpu_pct = (double)(ticks - vm->cpu_ticks) * 1000.0 / (double)hz /
                              (double)(now - vm->cpu_ms) * 100.0;
        } else {
                return vm->cpu_pct;
        }
        vm->cpu_ticks = ticks;
        vm->cpu_ms = now;
        return vm->cpu_pct;
}

/* Does pid run QEMU with -uuid id? */
static bool proc_is_vm_qemu(pid_t pid, const char *id, char **ret_name)
{
        _cleanup_(freep) char *path = dv_asprintf("/proc/%d/cmdline", (int)pid);
        _cleanup_(freep) char *buf = NULL;
        const char *base, *name = NULL;
        bool uuid_ok = false;
        size_t len;

        if (dv_read_file(path, 256 * 1024, &buf, &len) < 0 || len == 0)
                return false;
        base = strrchr(buf, '/');
        base = base ? base + 1 : buf;
        if (!dv_startswith(base, "qemu-system-"))
                return false;
        for (size_t off = 0; off < len; off += strlen(buf + off) + 1) {
                const char *arg = buf + off, *next;

                if (off + strlen(arg) + 1 >= len)
                        break;
                next = arg + strlen(arg) + 1;
                if (strcmp(arg, "-uuid") == 0 && strcasecmp(next, id) == 0)
                        uuid_ok = true;
                if (strcmp(arg, "-name") == 0 && dv_startswith(next, "guest="))
                        name = next + 6;
        }
        if (uuid_ok && ret_name && name)
                *ret_name = strndup(name, strcspn(name, ","));
        return uuid_ok;
}

static uid_t proc_uid(pid_t pid)
{
        char path[32];
        struct stat st;

        snprintf(path, sizeof(path), "/proc/%d", (int)pid);
        return stat(path, &st) < 0 ? (uid_t)-1 : st.st_uid;
}

/* pid from RUN_DIR/<id>/qemu.pid if it names a live QEMU of this VM. */
static pid_t run_dir_live_pid(struct dv_hv *hv, const char *id, char **ret_name)
{
        _cleanup_(freep) char *path = dv_qemu_vm_path(hv->run_dir, id, DV_QEMU_PIDFILE);
        _cleanup_(freep) char *buf = NULL;
        int64_t pid;

        if (read_vm_file(path, 64, false, &buf) < 0)
                return -1;
        buf[strcspn(buf, "\n")] = 0;
        if (dv_parse_int64(buf, 2, INT32_MAX, &pid) < 0 || !dv_pid_alive((pid_t)pid) ||
            !proc_is_vm_qemu((pid_t)pid, id, ret_name))
                return -1;
        return (pid_t)pid;
}

/* ---- taps --------------------------------------------------------------- */

/* Create (or attach to) the tap name and bring its link up. The tap is
 * not persistent: it lives while an fd on it is open, i.e. as long as the
 * QEMU that inherits the fd. */
static int tap_open(const char *name, int *ret_fd)
{
        _cleanup_(closep) int fd = -1, sock = -1;
        struct ifreq ifr = { 0 };

        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        /* What QEMU expects of a tap fd it is given (no multiqueue). */
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI; /* no vnet header: no offloads, see qemu-cmd.c */
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                return -errno;
        sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sock < 0)
                return -errno;
        if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Unplug vm's taps from their bridges (the taps themselves go with QEMU). */
static void vm_unplug_taps(struct vm *vm)
{
        struct dv_hv *hv = vm->hv;

        if (!hv->nic_hook)
                return;
        for (unsigned i = 0; i < DV_VM_MAX_NICS; i++) {
                const struct dv_vm_nic *nic = NULL;
                char tap[DV_TAP_NAME_MAX];
                struct dv_error ignored;

                dv_qemu_tap_name(vm->id, i, tap);
                if (vm->spec) {
                        if (i >= vm->spec->n_nics)
                                break;
                        nic = &vm->spec->nics[i];
                        if (!nic->bridge)
                                continue;
                } else if (if_nametoindex(tap) == 0) {
                        continue;
                }
                hv->nic_hook(hv->nic_userdata, false, vm->id, tap, nic, &ignored);
        }
}

/* Open the tap of every bridged NIC into fds[i] and plug it. */
static int vm_open_taps(struct vm *vm, int fds[DV_VM_MAX_NICS], struct dv_error *err)
{
        struct dv_hv *hv = vm->hv;

        for (size_t i = 0; i < vm->spec->n_nics; i++) {
                const struct dv_vm_nic *nic = &vm->spec->nics[i];
                char tap[DV_TAP_NAME_MAX];
                int r;

                if (!nic->bridge)
                        continue;
                dv_qemu_tap_name(vm->id, (unsigned)i, tap);
                r = tap_open(tap, &fds[i]);
                if (r < 0)
                        return set_err(err, r, 500, "qemu-failed",
                                       "nics[%zu]: cannot create tap %s: %s", i, tap,
                                       strerror(-r));
                if (hv->nic_hook) {
                        r = hv->nic_hook(hv->nic_userdata, true, vm->id, tap, nic, err);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* ---- CPU QoS in cgroups (docs/qos.md) ------------------------------------ */

/* The VM's QoS from its spec (none: defaults). Before the VM is shared. */
static void vm_load_qos(struct vm *vm)
{
        dv_cpu_qos_default(&vm->cpu_qos);
        dv_mem_qos_default(&vm->mem_qos);
        vm->n_disks = 0;
        if (!vm->spec)
                return;
        vm->cpu_qos = vm->spec->cpu_qos;
        vm->mem_qos = vm->spec->mem_qos;
        vm->memory_mib = vm->spec->memory_mib;
        vm->balloon_target_mib = vm->memory_mib;
        vm->balloon_actual_mib = vm->memory_mib;
        vm->n_disks = vm->spec->n_disks;
        for (size_t i = 0; i < vm->n_disks; i++)
                vm->disk_qos[i] = vm->spec->disks[i].qos;
}

static bool cpu_qos_is_default(const struct dv_cpu_qos *q)
{
        struct dv_cpu_qos d;

        dv_cpu_qos_default(&d);
        return memcmp(&d, q, sizeof(d)) == 0;
}

/* Recompute and write the cgroup values of every VM in a cgroup: weights
 * depend on all running VMs (dv_qos_weights), so any start, stop or change
 * rewrites them all. Returns the first error. */
static int qos_apply_all(struct dv_hv *hv)
{
        _cleanup_(freep) struct vm **vms = NULL;
        _cleanup_(freep) struct dv_cpu_qos *qs = NULL;
        _cleanup_(freep) const struct dv_cpu_qos **qp = NULL;
        _cleanup_(freep) int *cpus = NULL;
        _cleanup_(freep) int64_t *w = NULL;
        struct dv_cpuset host;
        size_t n = 0, cap = 0;
        int ret = 0;

        if (!hv->cg)
                return 0;
        dv_cgroup_host_cpus(hv->cg, &host);
        pthread_mutex_lock(&hv->qos_lock);
        pthread_mutex_lock(&hv->lock);
        for (struct vm *v = hv->vms; v; v = v->next)
                cap++;
        vms = calloc(cap + 1, sizeof(*vms));
        qs = calloc(cap + 1, sizeof(*qs));
        qp = calloc(cap + 1, sizeof(*qp));
        cpus = calloc(cap + 1, sizeof(*cpus));
        w = calloc(cap + 1, sizeof(*w));
        if (!vms || !qs || !qp || !cpus || !w) {
                pthread_mutex_unlock(&hv->lock);
                pthread_mutex_unlock(&hv->qos_lock);
                return -ENOMEM;
        }
        for (struct vm *v = hv->vms; v; v = v->next) {
                struct dv_cpuset e = host;

                pthread_mutex_lock(&v->lock);
                if (v->in_cgroup && !v->exited) {
                        qs[n] = v->cpu_qos;
                        if (qs[n].has_affinity)
                                dv_cpuset_and(&e, &qs[n].affinity);
                        cpus[n] = DV_MAX(dv_cpuset_count(&e), 1);
                        qp[n] = &qs[n];
                        v->refs++; /* [hv->lock] ours, dropped below */
                        vms[n++] = v;
                }
                pthread_mutex_unlock(&v->lock);
        }
        pthread_mutex_unlock(&hv->lock);

        dv_qos_weights(dv_cgroup_version(hv->cg), n, qp, cpus, hv->host_mhz, w);
        for (size_t i = 0; i < n; i++) {
                int64_t quota = dv_qos_quota_us(dv_cpu_qos_limit_mhz(&qs[i], hv->host_mhz),
                                                hv->host_mhz);
                int r = dv_cgroup_vm_set_cpu(hv->cg, vms[i]->id, quota, w[i],
                                             qs[i].has_affinity ? &qs[i].affinity : NULL);

                if (r < 0 && ret == 0)
                        ret = r;
                pthread_mutex_lock(&vms[i]->lock);
                if (r >= 0) {
                        vms[i]->cg_quota_us = quota;
                        vms[i]->cg_weight = w[i];
                }
                pthread_mutex_unlock(&vms[i]->lock);
        }
        pthread_mutex_unlock(&hv->qos_lock);
        for (size_t i = 0; i < n; i++)
                vm_unref(vms[i]);
        return ret;
}

/* QEMU's own memory beyond guest RAM that the memory limit allows for
 * (device state, TCG's translation buffer, I/O buffers). */
#define MEM_OVERHEAD_MIB 512

/* The memory cgroup of a VM (docs/qos.md "Memory"): limit = its size +
 * QEMU's overhead, protected = its reservation. Nothing without a spec
 * (an adopted VM whose spec.json is gone) or a memory controller. */
static int vm_apply_mem(struct vm *vm, const struct dv_mem_qos *q)
{
        if (!vm->hv->cg || !dv_cgroup_has_memory(vm->hv->cg) || vm->memory_mib <= 0)
                return 0;
        return dv_cgroup_vm_set_mem(vm->hv->cg, vm->id,
                                    (vm->memory_mib + MEM_OVERHEAD_MIB) * INT64_C(1048576),
                                    q->reservation_mib * INT64_C(1048576));
}

/* Put a started or adopted QEMU into the VM's cgroup. */
static int vm_enter_cgroup(struct vm *vm)
{
        struct dv_mem_qos mq;
        int r;

        if (!vm->hv->cg)
                return 0;
        r = dv_cgroup_vm_attach(vm->hv->cg, vm->id, vm->pid);
        if (r < 0)
                return r;
        pthread_mutex_lock(&vm->lock);
        vm->in_cgroup = true;
        mq = vm->mem_qos;
        pthread_mutex_unlock(&vm->lock);
        r = vm_apply_mem(vm, &mq);
        if (r < 0)
                return r;
        return qos_apply_all(vm->hv);
}

/* After QEMU exited: its cgroup goes, the others' weights change. */
static void vm_leave_cgroup(struct vm *vm)
{
        bool was;

        pthread_mutex_lock(&vm->lock);
        was = vm->in_cgroup;
        vm->in_cgroup = false;
        pthread_mutex_unlock(&vm->lock);
        if (!was)
                return;
        (void)dv_cgroup_vm_remove(vm->hv->cg, vm->id);
        (void)qos_apply_all(vm->hv);
}

/* Remove what a VM leaves behind (not console.log and qemu.log). Once. */
static void vm_cleanup(struct vm *vm)
{
        bool done;

        pthread_mutex_lock(&vm->lock);
        done = vm->cleaned;
        vm->cleaned = true;
        pthread_mutex_unlock(&vm->lock);
        if (done)
                return;
        for (size_t i = 0; i < ELEMENTSOF(vm_files); i++) {
                _cleanup_(freep) char *p = vm_path(vm, vm_files[i]);
                unlink(p);
        }
        vm_unplug_taps(vm);
        vm_leave_cgroup(vm);
}

/* ---- QMP events and the watcher ---------------------------------------- */

static void vm_notify(struct vm *vm, const char *state, const char *reason)
{
        bool starting;

        pthread_mutex_lock(&vm->lock);
        starting = vm->starting;
        pthread_mutex_unlock(&vm->lock);
        if (!starting && vm->hv->cb)
                vm->hv->cb(vm->hv->userdata, vm->id, state, reason);
}

/* [vm->lock] held. Move to state (reason may be NULL); true if that is a
 * change worth reporting. */
static bool vm_set_state_locked(struct vm *vm, const char *state, const char *reason)
{
        bool changed = !dv_streq(vm->state, state) || !dv_streq(vm->reason, reason);

        vm->state = state;
        vm->reason = reason;
        vm->seq++;
        return changed;
}

/* QMP event handler: runs on the watcher thread (or in the connect it
 * makes), with the QMP read_lock held. */
static void vm_on_qmp_event(void *userdata, const char *name, json_t *data, int64_t ts_us)
{
        struct vm *vm = userdata;
        const char *state = NULL, *reason = NULL;
        bool notify = false;

        pthread_mutex_lock(&vm->lock);
        if (strcmp(name, "SHUTDOWN") == 0) {
                /* QEMU exits right after; the watcher reports that. */
                if (json_is_true(json_object_get(data, "guest")))
                        vm->guest_shutdown = true;
        } else if (strcmp(name, "STOP") == 0) {
                /* A panic pauses the VM (-action panic=pause): GUEST_PANICKED
                 * comes first, then STOP, and the VM stays crashed. */
                if (!dv_streq(vm->state, "crashed"))
                        notify = vm_set_state_locked(vm, "paused", "paused");
        } else if (strcmp(name, "RESUME") == 0) {
                notify = vm_set_state_locked(vm, "running", NULL);
        } else if (strcmp(name, "BALLOON_CHANGE") == 0) {
                json_t *actual = json_object_get(data, "actual");

                if (json_is_integer(actual))
                        vm->balloon_actual_mib = json_integer_value(actual) / 1048576;
        } else if (strcmp(name, "GUEST_PANICKED") == 0) {
                notify = vm_set_state_locked(vm, "crashed", "guest-panicked");
        } else if (strcmp(name, "RESET") == 0) {
                /* Same state, but worth knowing (e.g. Tools restart). */
                notify = true;
                if (dv_streq(vm->state, "running"))
                        reason = json_is_true(json_object_get(data, "guest")) ? "guest-reset"
                                                                              : "host-reset";
        }
        state = vm->state;
        if (!reason)
                reason = vm->reason;
        pthread_mutex_unlock(&vm->lock);
        if (notify)
                vm_notify(vm, state, reason);
}

static const char *runstate_to_state(const char *status)
{
        if (dv_streq(status, "running"))
                return "running";
        if (dv_streq(status, "guest-panicked"))
                return "crashed";
        return "paused";
}

/* Connect QMP and check that the peer is this VM's QEMU (the socket sits
 * in a directory QEMU controls). Returns a reference, or NULL. */
static struct dv_qmp *vm_connect_qmp(struct vm *vm, int timeout_ms)
{
        _cleanup_(freep) char *path = vm_path(vm, DV_QEMU_QMP_SOCK);
        struct dv_qmp *qmp = NULL;
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (dv_qmp_connect(path, timeout_ms, vm_on_qmp_event, vm, &qmp) < 0)
                return NULL;
        if (getsockopt(dv_qmp_fd(qmp), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
            cred.pid != vm->pid || cred.uid != vm->uid) {
                dv_qmp_unref(qmp);
                return NULL;
        }
        pthread_mutex_lock(&vm->lock);
        dv_qmp_unref(vm->qmp);
        vm->qmp = dv_qmp_ref(qmp);
        pthread_mutex_unlock(&vm->lock);
        return qmp;
}

static void vm_drop_qmp(struct vm *vm, struct dv_qmp *qmp)
{
        pthread_mutex_lock(&vm->lock);
        if (vm->qmp == qmp) {
                vm->qmp = NULL;
                dv_qmp_unref(qmp);
        }
        pthread_mutex_unlock(&vm->lock);
}

/* Apply a query-status reply unless an event changed the state since the
 * query was sent (the event is newer). */
static void vm_apply_status(struct vm *vm, json_t *ret, unsigned seq)
{
        const char *state = NULL, *reason = NULL;

        pthread_mutex_lock(&vm->lock);
        if (ret && vm->seq == seq) {
                const char *s = runstate_to_state(json_string_value(json_object_get(ret, "status")));

                if (!dv_streq(s, vm->state)) {
                        vm->state = s;
                        vm->reason = dv_streq(s, "crashed")  ? "guest-panicked"
                                     : dv_streq(s, "paused") ? "paused"
                                                             : NULL;
                        state = vm->state;
                        reason = vm->reason;
                }
        }
        vm->status_known = true;
        pthread_cond_broadcast(&vm->cond);
        pthread_mutex_unlock(&vm->lock);
        if (state)
                vm_notify(vm, state, reason);
}

static void vm_on_exit(struct vm *vm)
{
        siginfo_t si;
        const char *reason;

        /* Reap QEMU in case it became our child (the agent is a subreaper
         * or PID 1 of its namespace); harmless otherwise. */
        memset(&si, 0, sizeof(si));
        (void)waitid(P_PIDFD, (id_t)vm->pidfd, &si, WEXITED | WNOHANG);
        vm_cleanup(vm);
        pthread_mutex_lock(&vm->lock);
        vm->reason = reason = vm->migrated       ? "migrated"
                              : vm->stop_requested ? (vm->stop_reason ?: "host-request")
                              : vm->guest_shutdown ? "guest-shutdown"
                                                   : "qemu-exited";
        vm->state = "stopped";
        vm->exited = true;
        dv_qmp_unref(vm->qmp);
        vm->qmp = NULL;
        pthread_cond_broadcast(&vm->cond);
        pthread_mutex_unlock(&vm->lock);
        vm_notify(vm, "stopped", reason);
}

/* The sums of a query-blockstats reply's devices (their own stats, not
 * their backing nodes'). */
static void vm_apply_blockstats(struct vm *vm, json_t *ret)
{
        static const char *const keys[4] = { "rd_bytes", "wr_bytes", "rd_operations",
                                             "wr_operations" };
        uint64_t sum[4] = { 0 };
        size_t i, n = 0;
        json_t *dev;

        if (!json_is_array(ret))
                return;
        json_array_foreach(ret, i, dev) {
                json_t *st = json_object_get(dev, "stats");

                if (!json_is_object(st))
                        continue;
                for (int k = 0; k < 4; k++) {
                        json_int_t v = json_integer_value(json_object_get(st, keys[k]));

                        sum[k] += v > 0 ? (uint64_t)v : 0;
                }
                n++;
        }
        pthread_mutex_lock(&vm->lock);
        memcpy(vm->blk, sum, sizeof(sum));
        vm->blk_n = n;
        vm->blk_t_ms = dv_wall_ms();
        pthread_mutex_unlock(&vm->lock);
}

/* The watcher's query-blockstats: sent every BLOCKSTATS_MS without waiting
 * (the reply comes with the other QMP input); one that gets no reply
 * within QMP_TIMEOUT_MS is given up. Returns the poll timeout. */
static int blockstats_tick(struct vm *vm, struct dv_qmp *qmp, uint64_t *id, int64_t *next,
                           int64_t *sent)
{
        int64_t now = dv_now_ms();
        bool known;

        pthread_mutex_lock(&vm->lock);
        known = vm->status_known && !vm->starting;
        pthread_mutex_unlock(&vm->lock);
        if (*id && now - *sent > QMP_TIMEOUT_MS) {
                dv_qmp_forget(qmp, *id);
                *id = 0;
        }
        if (!*id && known && now >= *next) {
                if (dv_qmp_send(qmp, "query-blockstats", NULL, QMP_TIMEOUT_MS, id) < 0)
                        *id = 0;
                *sent = now;
                *next = now + BLOCKSTATS_MS;
        }
        if (*id)
                return (int)DV_MAX(*sent + QMP_TIMEOUT_MS - now, (int64_t)1);
        return known ? (int)DV_MAX(*next - now, (int64_t)1) : 1000;
}

static void *watcher_main(void *arg)
{
        struct vm *vm = arg;
        struct dv_hv *hv = vm->hv;
        struct dv_qmp *qmp = NULL; /* the watcher's reference on the link */
        int64_t next_connect = 0;
        uint64_t status_id = 0, blk_id = 0;
        int64_t blk_next = 0, blk_sent = 0;
        unsigned status_seq = 0;
        bool exited = false, last;

        for (;;) {
                struct pollfd pfd[3] = {
                        { .fd = vm->pidfd, .events = POLLIN },
                        { .fd = vm->wake_fd, .events = POLLIN },
                        { .fd = -1, .events = POLLIN },
                };
                int timeout = -1;

                if (!qmp) {
                        int64_t now = dv_now_ms();
                        bool starting;

                        pthread_mutex_lock(&vm->lock);
                        starting = vm->starting;
                        pthread_mutex_unlock(&vm->lock);
                        if (now >= next_connect) {
                                qmp = vm_connect_qmp(vm, 1000);
                                if (qmp) {
                                        pthread_mutex_lock(&vm->lock);
                                        status_seq = vm->seq;
                                        pthread_mutex_unlock(&vm->lock);
                                        if (dv_qmp_send(qmp, "query-status", NULL, QMP_TIMEOUT_MS,
                                                        &status_id) < 0)
                                                status_id = 0;
                                }
                                now = dv_now_ms();
                                next_connect = now + (starting ? STARTING_POLL_MS : RECONNECT_MS);
                        }
                        if (!qmp)
                                timeout = (int)DV_MAX(next_connect - now, (int64_t)0);
                }
                if (qmp) {
                        pfd[2].fd = dv_qmp_fd(qmp);
                        timeout = blockstats_tick(vm, qmp, &blk_id, &blk_next, &blk_sent);
                }

                if (poll(pfd, 3, timeout) < 0 && errno != EINTR)
                        break;
                if (qmp && (pfd[2].revents || pfd[0].revents)) {
                        /* On exit, this drains what QEMU said last. */
                        int r = dv_qmp_process(qmp);

                        if (status_id && dv_qmp_reply_ready(qmp, status_id)) {
                                _cleanup_(json_decrefp) json_t *ret = NULL;

                                if (dv_qmp_wait(qmp, status_id, 0, &ret, NULL) < 0)
                                        json_decref(TAKE_PTR(ret));
                                vm_apply_status(vm, ret, status_seq);
                                status_id = 0;
                        }
                        if (blk_id && dv_qmp_reply_ready(qmp, blk_id)) {
                                _cleanup_(json_decrefp) json_t *ret = NULL;

                                if (dv_qmp_wait(qmp, blk_id, 0, &ret, NULL) >= 0)
                                        vm_apply_blockstats(vm, ret);
                                blk_id = 0;
                        }
                        if (r < 0) {
                                if (status_id)
                                        dv_qmp_forget(qmp, status_id);
                                if (blk_id)
                                        dv_qmp_forget(qmp, blk_id);
                                status_id = blk_id = 0;
                                vm_drop_qmp(vm, qmp);
                                dv_qmp_unref(qmp);
                                qmp = NULL;
                                next_connect = dv_now_ms() + STARTING_POLL_MS;
                        }
                }
                if (pfd[0].revents) {
                        exited = true;
                        break;
                }
                if (pfd[1].revents)
                        break;
        }
        if (qmp && status_id)
                dv_qmp_forget(qmp, status_id);
        if (qmp && blk_id)
                dv_qmp_forget(qmp, blk_id);
        dv_qmp_unref(qmp);
        if (exited)
                vm_on_exit(vm);

        /* Leave hv->watched and drop the watcher's reference in one go:
         * once off the list, hv may be freed under us. */
        pthread_mutex_lock(&hv->lock);
        for (struct vm **pp = &hv->watched; *pp; pp = &(*pp)->wnext)
                if (*pp == vm) {
                        *pp = vm->wnext;
                        break;
                }
        last = --vm->refs == 0;
        pthread_cond_broadcast(&hv->cond);
        pthread_mutex_unlock(&hv->lock);
        if (last)
                vm_destroy(vm);
        return NULL;
}

static int vm_start_watcher(struct vm *vm)
{
        pthread_attr_t attr;
        pthread_t t;
        int r;

        struct dv_hv *hv = vm->hv;

        vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (vm->wake_fd < 0)
                return -errno;
        pthread_mutex_lock(&hv->lock);
        vm->refs++; /* the watcher's */
        vm->wnext = hv->watched;
        hv->watched = vm;
        pthread_mutex_unlock(&hv->lock);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = pthread_create(&t, &attr, watcher_main, vm);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                pthread_mutex_lock(&hv->lock);
                for (struct vm **pp = &hv->watched; *pp; pp = &(*pp)->wnext)
                        if (*pp == vm) {
                                *pp = vm->wnext;
                                break;
                        }
                vm->refs--; /* the caller still holds one */
                pthread_mutex_unlock(&hv->lock);
                return -r;
        }
        return 0;
}

/* ---- status ------------------------------------------------------------- */

/* A counter of a tap (/sys/class/net/TAP/statistics/NAME); false when
 * there is no such tap. */
static bool tap_counter(const char *tap, const char *name, uint64_t *ret)
{
        _cleanup_(freep) char *path = dv_asprintf("/sys/class/net/%s/statistics/%s", tap, name);
        _cleanup_(freep) char *buf = NULL;

        if (!path || dv_read_file(path, 64, &buf, NULL) < 0)
                return false;
        *ret = strtoull(buf, NULL, 10);
        return true;
}

/* [vm->lock] held. VMSTATUS "io" of a running VM: its disks (the
 * watcher's last query-blockstats) and its NICs (the taps' counters, as
 * the guest sees them: what the tap sends goes to the guest). */
static json_t *vm_io_locked(struct vm *vm)
{
        uint64_t net[4] = { 0 }, v;
        json_t *io = json_object();
        char epoch[64];
        size_t taps = 0;

        if (!io)
                return NULL;
        if (vm->blk_t_ms > 0) {
                snprintf(epoch, sizeof(epoch), "%d %" PRId64 " d%zu", (int)vm->pid, vm->started_at,
                         vm->blk_n);
                json_object_set_new(io, "disk",
                                    json_pack("{s:I,s:s,s:I,s:I,s:I,s:I}", "t_ms",
                                              (json_int_t)vm->blk_t_ms, "epoch", epoch,
                                              "read_bytes", (json_int_t)vm->blk[0], "write_bytes",
                                              (json_int_t)vm->blk[1], "read_ops",
                                              (json_int_t)vm->blk[2], "write_ops",
                                              (json_int_t)vm->blk[3]));
        }
        for (unsigned i = 0; i < DV_VM_MAX_NICS; i++) {
                char tap[DV_TAP_NAME_MAX];

                dv_qemu_tap_name(vm->id, i, tap);
                if (!tap_counter(tap, "tx_bytes", &v))
                        continue;
                net[0] += v;
                if (tap_counter(tap, "rx_bytes", &v))
                        net[1] += v;
                if (tap_counter(tap, "tx_packets", &v))
                        net[2] += v;
                if (tap_counter(tap, "rx_packets", &v))
                        net[3] += v;
                taps++;
        }
        if (taps > 0) {
                snprintf(epoch, sizeof(epoch), "%d %" PRId64 " n%zu", (int)vm->pid, vm->started_at,
                         taps);
                json_object_set_new(io, "net",
                                    json_pack("{s:I,s:s,s:I,s:I,s:I,s:I}", "t_ms",
                                              (json_int_t)dv_wall_ms(), "epoch", epoch, "rx_bytes",
                                              (json_int_t)net[0], "tx_bytes", (json_int_t)net[1],
                                              "rx_packets", (json_int_t)net[2], "tx_packets",
                                              (json_int_t)net[3]));
        }
        return io;
}

/* [hv->lock] may be held. VMSTATUS of vm. */
static json_t *vm_status(struct vm *vm)
{
        _cleanup_(freep) char *console = vm_path(vm, DV_QEMU_CONSOLE_LOG);
        _cleanup_(freep) char *vnc = vm_path(vm, DV_QEMU_VNC_SOCK);
        char started[32];
        json_t *j;

        pthread_mutex_lock(&vm->lock);
        dv_iso_time(vm->started_at, started, sizeof(started));
        if (vm->exited) {
                j = json_pack("{s:s, s:s, s:s, s:n, s:s, s:f, s:i, s:s, s:n, s:s?}", "id", vm->id,
                              "name", vm->name, "state", "stopped", "pid", "started_at", started,
                              "cpu_pct", 0.0, "rss_mib", 0, "console_log", console, "vnc",
                              "reason", vm->reason);
        } else {
                double cpu = vm_sample_cpu_locked(vm);
                _cleanup_(freep) char *vnc_url = dv_asprintf("unix:%s", vnc);

                j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:f, s:I, s:s, s:s, s:s?}", "id", vm->id,
                              "name", vm->name, "state", vm->state, "pid", (int)vm->pid,
                              "started_at", started, "cpu_pct", (double)(int64_t)(cpu * 10) / 10,
                              "rss_mib", (json_int_t)(proc_rss_kib(vm->pid) / 1024),
                              "console_log", console, "vnc", vnc_url, "reason", vm->reason);
                /* Memory overcommit (docs/qos.md): the balloon and swap. */
                if (j && vm->memory_mib > 0) {
                        int64_t g = proc_guest_rss_kib(vm->pid, vm->memory_mib);

                        json_object_set_new(j, "balloon_target_mib",
                                            json_integer(vm->balloon_target_mib));
                        json_object_set_new(j, "balloon_mib", json_integer(vm->balloon_actual_mib));
                        if (g >= 0)
                                json_object_set_new(j, "guest_rss_mib", json_integer(g / 1024));
                        json_object_set_new(j, "ksm_merged_mib",
                                            json_integer(proc_ksm_kib(vm->pid) / 1024));
                }
                if (j) {
                        json_object_set_new(j, "swap_mib",
                                            json_integer(proc_status_kib(vm->pid, "VmSwap") / 1024));
                        json_object_set_new(j, "io", vm_io_locked(vm));
                }
        }
        pthread_mutex_unlock(&vm->lock);
        if (!j)
                abort();
        return j;
}

/* ---- start -------------------------------------------------------------- */

/* The VM's directory: created 0700 and owned by its uid; what an earlier
 * run left is removed. */
static int vm_prepare_dir(struct vm *vm, struct dv_error *err)
{
        _cleanup_(freep) char *dir = dv_asprintf("%s/%s", vm->hv->run_dir, vm->id);
        const char *const old[] = { DV_QEMU_CONSOLE_LOG, DV_QEMU_LOG };
        struct stat st;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                goto fail;
        if (lstat(dir, &st) < 0)
                goto fail;
        if (!S_ISDIR(st.st_mode)) {
                errno = ENOTDIR;
                goto fail;
        }
        if (lchown(dir, vm->uid, vm->uid) < 0 || chmod(dir, 0700) < 0)
                goto fail;
        for (size_t i = 0; i < ELEMENTSOF(vm_files); i++) {
                _cleanup_(freep) char *p = vm_path(vm, vm_files[i]);
                unlink(p);
        }
        for (size_t i = 0; i < ELEMENTSOF(old); i++) {
                _cleanup_(freep) char *p = vm_path(vm, old[i]);
                unlink(p);
        }
        return 0;
fail:
        return set_err(err, -errno, 500, "qemu-failed", "cannot prepare %s: %s", dir,
                       strerror(errno));
}

/* Give the disks to the VM's uid (0600) and check the kernel and initrd
 * are world-readable files. */
static int vm_prepare_files(struct vm *vm, struct dv_error *err)
{
        const struct dv_vm_spec *s = vm->spec;
        const char *boot_files[2] = { s->kernel, s->initrd };
        const char *boot_names[2] = { "boot.kernel", "boot.initrd" };

        for (size_t i = 0; i < s->n_disks; i++) {
                _cleanup_(closep) int fd = -1;
                struct stat st;

                fd = open(s->disks[i].path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
                if (fd < 0 || fstat(fd, &st) < 0)
                        return set_err(err, -errno, 400, "invalid-field",
                                       "disks[%zu].path '%.200s': %s", i, s->disks[i].path,
                                       strerror(errno));
                if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                        return dv_error_set(err, 400, "invalid-field",
                                            "disks[%zu].path '%.200s' is not a file or block device",
                                            i, s->disks[i].path);
                if (fchown(fd, vm->uid, vm->uid) < 0 || fchmod(fd, 0600) < 0)
                        return set_err(err, -errno, 500, "qemu-failed",
                                       "disks[%zu]: cannot give '%.200s' to uid %u: %s", i,
                                       s->disks[i].path, (unsigned)vm->uid, strerror(errno));
        }
        for (int i = 0; i < 2; i++) {
                struct stat st;

                if (!boot_files[i])
                        continue;
                if (stat(boot_files[i], &st) < 0)
                        return set_err(err, -errno, 400, "invalid-field", "%s '%.200s': %s",
                                       boot_names[i], boot_files[i], strerror(errno));
                if (!S_ISREG(st.st_mode) || !(st.st_mode & S_IROTH))
                        return dv_error_set(err, 400, "invalid-field",
                                            "%s '%.200s' must be a world-readable file",
                                            boot_names[i], boot_files[i]);
        }
        return 0;
}

/* The last lines of qemu.log, for error messages. */
static void qemu_log_tail(struct vm *vm, char *buf, size_t len)
{
        _cleanup_(freep) char *path = vm_path(vm, DV_QEMU_LOG);
        _cleanup_(freep) char *data = NULL;
        const char *lines[4];
        size_t n = 0, out = 0;

        buf[0] = 0;
        if (read_vm_file(path, 16384, true, &data) < 0)
                return;
        for (char *save = NULL, *l = strtok_r(data, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save)) {
                /* Drop the "-msg timestamp=on" prefix. */
                if (l[0] >= '0' && l[0] <= '9' && strchr(l, ' '))
                        l = strchr(l, ' ') + 1;
                if (*l)
                        lines[n++ % ELEMENTSOF(lines)] = l;
        }
        for (size_t i = n > ELEMENTSOF(lines) ? n - ELEMENTSOF(lines) : 0; i < n; i++) {
                int k = snprintf(buf + out, len - out, "%s%s", out ? " | " : "",
                                 lines[i % ELEMENTSOF(lines)]);
                if (k < 0 || (size_t)k >= len - out)
                        break;
                out += (size_t)k;
        }
}

/* Fork, and fork again: the grandchild becomes QEMU, in its own session, as
 * uid, with stdout/stderr into log_fd and tap_fds[i] (if >= 0) as fd
 * DV_QEMU_TAP_FD_BASE + i; the middle child exits at once so that QEMU is
 * not our child. The grandchild waits on a pipe until the parent holds a
 * pidfd on it, so that the pid cannot be reused before. */
static int spawn_qemu(char **argv, uid_t uid, int log_fd, int null_fd,
                      const int tap_fds[DV_VM_MAX_NICS], pid_t *ret_pid, int *ret_pidfd)
{
        _cleanup_(closep) int go_r = -1, go_w = -1, info_r = -1, info_w = -1;
        int fds[2], status, pidfd;
        sigset_t empty;
        pid_t child, gc = -1;
        ssize_t k;

        sigemptyset(&empty);
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        go_r = fds[0];
        go_w = fds[1];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        info_r = fds[0];
        info_w = fds[1];

        child = fork();
        if (child < 0)
                return -errno;
        if (child == 0) {
                /* Only async-signal-safe calls from here on. */
                pid_t g = fork();

                if (g == 0) {
                        int high[DV_VM_MAX_NICS];
                        char c;

                        close(go_w);
                        close(info_r);
                        close(info_w);
                        if (setsid() < 0)
                                _exit(125);
                        for (int sig = 1; sig < NSIG; sig++) {
                                struct sigaction sa = { .sa_handler = SIG_DFL };
                                (void)sigaction(sig, &sa, NULL);
                        }
                        sigprocmask(SIG_SETMASK, &empty, NULL);
                        if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
                                _exit(125);
                        if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0) {
                                static const char msg[] = "drover: cannot switch to the VM's uid\n";
                                (void)!write(2, msg, sizeof(msg) - 1);
                                _exit(125);
                        }
                        if (chdir("/") < 0)
                                _exit(125);
                        umask(0077);
                        if (read(go_r, &c, 1) != 1)
                                _exit(126);
                        /* Taps to their numbers, via copies out of the way
                         * so that no move overwrites a source. */
                        for (int i = 0; i < DV_VM_MAX_NICS; i++) {
                                high[i] = tap_fds[i] < 0 ? -1
                                                         : fcntl(tap_fds[i], F_DUPFD_CLOEXEC,
                                                                 DV_QEMU_TAP_FD_BASE +
                                                                         DV_VM_MAX_NICS);
                                if (tap_fds[i] >= 0 && high[i] < 0)
                                        _exit(125);
                        }
                        for (int i = 0; i < DV_VM_MAX_NICS; i++) {
                                if (high[i] < 0)
                                        close(DV_QEMU_TAP_FD_BASE + i);
                                else if (dup2(high[i], DV_QEMU_TAP_FD_BASE + i) < 0)
                                        _exit(125);
                        }
                        close_range(DV_QEMU_TAP_FD_BASE + DV_VM_MAX_NICS, ~0U, 0);
                        execv(argv[0], argv);
                        {
                                static const char msg[] = "drover: cannot execute QEMU\n";
                                (void)!write(2, msg, sizeof(msg) - 1);
                        }
                        _exit(127);
                }
                (void)!write(info_w, &g, sizeof(g));
                _exit(g > 0 ? 0 : 1);
        }
        close(info_w);
        info_w = -1;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR)
                ;
        do
                k = read(info_r, &gc, sizeof(gc));
        while (k < 0 && errno == EINTR);
        if (k != sizeof(gc) || gc <= 0)
                return -ECHILD;
        pidfd = pidfd_open(gc, 0);
        if (pidfd < 0) {
                int r = -errno;
                /* Closing go_w makes the grandchild exit without exec. */
                return r;
        }
        if (write(go_w, "g", 1) != 1) {
                int r = -errno;
                close(pidfd);
                return r;
        }
        *ret_pid = gc;
        *ret_pidfd = pidfd;
        return 0;
}

/* Kill QEMU now and wait for its watcher to see the exit. */
static void vm_kill_wait(struct vm *vm)
{
        (void)pidfd_send_signal(vm->pidfd, SIGKILL, NULL, 0);
        vm_wait_flag(vm, &vm->exited, dv_now_ms() + KILL_WAIT_MS);
}

static int vm_launch(struct vm *vm, struct dv_error *err)
{
        struct dv_hv *hv = vm->hv;
        struct dv_qemu_config qc = {
                .qemu_bin = hv->qemu_bin,
                .run_dir = hv->run_dir,
                .accel = hv->accel,
                .sandbox = hv->sandbox,
                .no_locking = hv->no_locking,
        };
        _cleanup_(dv_strv_freep) char **argv = NULL;
        _cleanup_(freep) char *spec_text = NULL, *spec_path = NULL, *log_path = NULL;
        _cleanup_(closep) int log_fd = -1, null_fd = -1;
        char tail[400];
        bool ready, exited;
        pid_t pid = -1;
        int r, pidfd = -1, taps[DV_VM_MAX_NICS];

        for (size_t i = 0; i < ELEMENTSOF(taps); i++)
                taps[i] = -1;
        r = vm_prepare_dir(vm, err);
        if (r < 0)
                return r;
        r = vm_prepare_files(vm, err);
        if (r < 0)
                return r;
        r = dv_qemu_build_argv(vm->spec, &qc, &argv, err);
        if (r < 0)
                return r;
        if (vm->incoming) {
                /* A migration target: QEMU waits for migrate-incoming. */
                size_t n = 0;
                char **v;

                while (argv[n])
                        n++;
                v = realloc(argv, (n + 3) * sizeof(char *));
                if (!v)
                        return -ENOMEM;
                argv = v;
                argv[n] = dv_strdup("-incoming");
                argv[n + 1] = dv_strdup("defer");
                argv[n + 2] = NULL;
        }

        spec_text = json_dumps(vm->spec->json, JSON_COMPACT);
        spec_path = vm_path(vm, DV_QEMU_SPEC);
        if (!spec_text)
                return -ENOMEM;
        r = dv_write_file_atomic(spec_path, spec_text, strlen(spec_text), 0600);
        if (r < 0) {
                dv_error_set(err, 500, "qemu-failed", "cannot write %s: %s", spec_path,
                             strerror(-r));
                return r;
        }
        log_path = vm_path(vm, DV_QEMU_LOG);
        log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (log_fd < 0 || null_fd < 0) {
                r = -errno;
                dv_error_set(err, 500, "qemu-failed", "cannot open %s: %s", log_path,
                             strerror(-r));
                return r;
        }

        r = vm_open_taps(vm, taps, err);
        if (r >= 0) {
                r = spawn_qemu(argv, vm->uid, log_fd, null_fd, taps, &pid, &pidfd);
                if (r < 0)
                        dv_error_set(err, 500, "qemu-failed", "cannot start QEMU: %s",
                                     strerror(-r));
        }
        /* QEMU has its copies now (or never will). */
        for (size_t i = 0; i < ELEMENTSOF(taps); i++)
                if (taps[i] >= 0)
                        close(taps[i]);
        if (r >= 0) {
                pthread_mutex_lock(&vm->lock);
                vm->pid = pid;
                vm->pidfd = pidfd;
                vm->started_at = dv_wall_ms();
                pthread_mutex_unlock(&vm->lock);
                r = vm_start_watcher(vm);
                if (r < 0) {
                        (void)pidfd_send_signal(vm->pidfd, SIGKILL, NULL, 0);
                        dv_error_set(err, 500, "qemu-failed", "cannot watch QEMU: %s",
                                     strerror(-r));
                }
                if (r >= 0) {
                        r = vm_enter_cgroup(vm);
                        if (r < 0) {
                                vm_kill_wait(vm);
                                dv_error_set(err, 500, "cgroup-error",
                                             "cannot put QEMU into its cgroup: %s", strerror(-r));
                                return r;
                        }
                }
        }
        if (r < 0) {
                vm_cleanup(vm);
                return r;
        }

        /* The watcher connects QMP and asks query-status; it wakes us when
         * that is answered or QEMU is gone. */
        ready = vm_wait_flag(vm, &vm->status_known, dv_now_ms() + START_TIMEOUT_MS);
        pthread_mutex_lock(&vm->lock);
        exited = vm->exited;
        pthread_mutex_unlock(&vm->lock);
        if (ready && !exited)
                return 0;
        if (!exited)
                vm_kill_wait(vm);
        qemu_log_tail(vm, tail, sizeof(tail));
        dv_error_set(err, 500, "qemu-failed", "QEMU %s: %s",
                     exited ? "exited during start" : "did not answer QMP in time",
                     tail[0] ? tail : "(no output in qemu.log)");
        return -EIO;
}

static int vm_apply_disk_qos(struct vm *vm, const struct dv_disk_qos *only, struct dv_error *err);

/* 409 not-supported when the host cannot realise q. */
static int qos_supported(struct dv_hv *hv, const struct dv_cpu_qos *q, struct dv_error *err)
{
        struct dv_cpuset host;

        if (cpu_qos_is_default(q))
                return 0;
        if (!hv->cg)
                return set_err(err, -EOPNOTSUPP, 409, "not-supported",
                               "this host runs without cgroups (--cgroup off or none usable): "
                               "no CPU limits, shares, reservations or affinity");
        if (q->has_affinity) {
                if (!dv_cgroup_has_cpuset(hv->cg))
                        return set_err(err, -EOPNOTSUPP, 409, "not-supported",
                                       "this host has no cpuset cgroup controller: no CPU affinity");
                dv_cgroup_host_cpus(hv->cg, &host);
                dv_cpuset_and(&host, &q->affinity);
                if (dv_cpuset_count(&host) == 0)
                        return set_err(err, -EINVAL, 409, "qos-conflict",
                                       "the cpu affinity names none of the CPUs this host gives its VMs");
        }
        return 0;
}

static int qemu_start(struct dv_hv *hv, json_t *spec_json, json_t **ret_status,
                      struct dv_error *err)
{
        _cleanup_(dv_vm_spec_freep) struct dv_vm_spec *spec = NULL;
        _cleanup_(vm_unrefp) struct vm *vm = NULL;
        struct vm *old, *stale = NULL;
        pid_t live;
        int r;

        r = dv_vm_spec_parse(spec_json, &spec, err);
        if (r < 0)
                return r;
        vm = vm_new(hv, spec->id, spec->name, spec->uid);
        if (!vm)
                return -ENOMEM;
        vm->spec = TAKE_PTR(spec);
        vm->starting = true;
        vm_load_qos(vm);
        r = qos_supported(hv, &vm->cpu_qos, err);
        if (r < 0)
                return r;

        pthread_mutex_lock(&hv->lock);
        old = vm_find_locked(hv, vm->id);
        if (old) {
                bool gone;
                pid_t pid;

                pthread_mutex_lock(&old->lock);
                gone = old->exited;
                pid = old->pid;
                pthread_mutex_unlock(&old->lock);
                if (!gone) {
                        pthread_mutex_unlock(&hv->lock);
                        return set_err(err, -EBUSY, 409, "invalid-state",
                                       "vm '%s' is already running on this host (pid %d)",
                                       vm->name, (int)pid);
                }
                /* Exited and not reported yet: the new run supersedes it. */
                vm_unlink_locked(hv, old);
                stale = old;
        }
        live = run_dir_live_pid(hv, vm->id, NULL);
        if (live > 0) {
                pthread_mutex_unlock(&hv->lock);
                vm_unref(stale);
                return set_err(err, -EBUSY, 409, "invalid-state",
                                "vm '%s' already runs in QEMU pid %d (not adopted)", vm->name,
                                (int)live);
        }
        vm->refs++; /* the list's */
        vm->next = hv->vms;
        hv->vms = vm;
        pthread_mutex_unlock(&hv->lock);
        vm_unref(stale);

        r = vm_launch(vm, err);
        if (r >= 0) {
                /* QEMU runs the guest already; the throttles follow within
                 * milliseconds, long before the guest's first I/O. */
                r = vm_apply_disk_qos(vm, NULL, err);
                if (r < 0)
                        vm_kill_wait(vm);
        }

        pthread_mutex_lock(&hv->lock);
        if (r < 0) {
                vm_unlink_locked(hv, vm);
                vm->refs--; /* the list's; ours remains */
        }
        pthread_mutex_unlock(&hv->lock);
        if (r < 0)
                return r;

        pthread_mutex_lock(&vm->lock);
        vm->starting = false;
        pthread_mutex_unlock(&vm->lock);
        if (ret_status)
                *ret_status = vm_status(vm);
        return 0;
}

/* ---- stop, reboot, console ---------------------------------------------- */

static int vm_exec(struct vm *vm, const char *cmd, json_t *args, json_t **ret,
                   struct dv_error *err)
{
        _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = vm_qmp_get(vm);

        if (!qmp)
                return set_err(err, -ENOTCONN, 500, "qemu-failed",
                               "vm '%s': no QMP connection to QEMU (reconnecting)", vm->name);
        return dv_qmp_execute(qmp, cmd, args, QMP_TIMEOUT_MS, ret, err);
}

/* A reference on a VM that runs (not starting, not exited), or an error. */
static int vm_get_running(struct dv_hv *hv, const char *vm_id, struct vm **ret_vm,
                          struct dv_error *err)
{
        struct vm *vm = vm_id ? vm_find(hv, vm_id) : NULL;
        bool starting, exited;

        if (!vm)
                return set_err(err, -ENOENT, 409, "invalid-state",
                               "vm '%.64s' is not running on this host", vm_id ? vm_id : "");
        pthread_mutex_lock(&vm->lock);
        starting = vm->starting;
        exited = vm->exited;
        pthread_mutex_unlock(&vm->lock);
        if (starting || exited) {
                dv_error_set(err, 409, "invalid-state", "vm '%s' is %s", vm->name,
                             starting ? "starting" : "not running");
                vm_unref(vm);
                return -EBUSY;
        }
        *ret_vm = vm;
        return 0;
}

/* ---- QoS: disk throttles (QMP) and live changes ------------------------- */

/* block_set_io_throttle for each disk (only: the new values, one per disk,
 * and only those that differ from the VM's are sent; NULL: every disk with
 * a limit, at start). */
static int vm_apply_disk_qos(struct vm *vm, const struct dv_disk_qos *only, struct dv_error *err)
{
        for (size_t i = 0; i < vm->n_disks; i++) {
                _cleanup_(json_decrefp) json_t *args = NULL;
                struct dv_disk_qos cur, q;
                char id[80];
                int r;

                pthread_mutex_lock(&vm->lock);
                cur = vm->disk_qos[i];
                pthread_mutex_unlock(&vm->lock);
                q = only ? only[i] : cur;
                if (only ? memcmp(&q, &cur, sizeof(q)) == 0 : (q.iops_max == 0 && q.bps_max == 0))
                        continue;
                /* The virtio-blk device inside its PCI proxy holds the backend. */
                snprintf(id, sizeof(id), "/machine/peripheral/virtio-disk%zu/virtio-backend", i);
                args = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "id", id, "bps",
                                 (json_int_t)q.bps_max, "bps_rd", (json_int_t)0, "bps_wr",
                                 (json_int_t)0, "iops", (json_int_t)q.iops_max, "iops_rd",
                                 (json_int_t)0, "iops_wr", (json_int_t)0);
                r = vm_exec(vm, "block_set_io_throttle", args, NULL, err);
                if (r < 0)
                        return r;
                pthread_mutex_lock(&vm->lock);
                vm->disk_qos[i] = q;
                pthread_mutex_unlock(&vm->lock);
        }
        return 0;
}

static json_t *vm_qos_info(struct vm *vm)
{
        struct dv_hv *hv = vm->hv;
        _cleanup_(freep) char *path = hv->cg ? dv_cgroup_vm_path(hv->cg, vm->id) : NULL;
        json_t *disks = json_array(), *info;
        struct dv_cpu_qos q;
        struct dv_cpuset cpus;
        char text[DV_QOS_AFFINITY_LEN_MAX * 2] = "";
        uint64_t usage = 0;
        bool in_cg, have_usage;
        int64_t quota, weight;

        pthread_mutex_lock(&vm->lock);
        q = vm->cpu_qos;
        in_cg = vm->in_cgroup;
        quota = vm->cg_quota_us;
        weight = vm->cg_weight;
        for (size_t i = 0; i < vm->n_disks; i++)
                json_array_append_new(disks, json_pack("{s:I,s:I,s:I}", "index", (json_int_t)i,
                                                       "iops_max", (json_int_t)vm->disk_qos[i].iops_max,
                                                       "bps_max", (json_int_t)vm->disk_qos[i].bps_max));
        pthread_mutex_unlock(&vm->lock);
        have_usage = in_cg && dv_cgroup_vm_usage_ns(hv->cg, vm->id, &usage) >= 0;
        if (hv->cg) {
                dv_cgroup_host_cpus(hv->cg, &cpus);
                if (q.has_affinity)
                        dv_cpuset_and(&cpus, &q.affinity);
                dv_cpuset_format(&cpus, text, sizeof(text));
        }
        info = json_pack("{s:o,s:s?,s:o,s:I,s:I,s:I,s:s?,s:o,s:o}", "cpu_qos",
                         dv_cpu_qos_to_json(&q), "cgroup", in_cg ? path : NULL,
                         "cgroup_version",
                         hv->cg ? json_integer(dv_cgroup_version(hv->cg)) : json_null(),
                         "host_mhz", (json_int_t)hv->host_mhz, "quota_us", (json_int_t)quota,
                         "period_us", (json_int_t)DV_QOS_PERIOD_US, "cpus",
                         hv->cg ? text : NULL, "weight",
                         in_cg ? json_integer(weight) : json_null(), "cpu_usage_ns",
                         have_usage ? json_integer((json_int_t)usage) : json_null());
        json_object_set_new(info, "disks", disks);
        {
                int64_t used = 0, swap = 0;
                bool have_mem = in_cg && hv->cg && dv_cgroup_has_memory(hv->cg) &&
                                dv_cgroup_vm_mem_usage(hv->cg, vm->id, &used, &swap) >= 0;

                pthread_mutex_lock(&vm->lock);
                json_object_set_new(info, "mem_qos", dv_mem_qos_to_json(&vm->mem_qos, vm->memory_mib));
                json_object_set_new(info, "mem_limit_bytes",
                                    have_mem ? json_integer((vm->memory_mib + MEM_OVERHEAD_MIB) *
                                                            INT64_C(1048576))
                                             : json_null());
                json_object_set_new(info, "mem_protected_bytes",
                                    have_mem ? json_integer(vm->mem_qos.reservation_mib *
                                                            INT64_C(1048576))
                                             : json_null());
                json_object_set_new(info, "balloon_target_mib", json_integer(vm->balloon_target_mib));
                json_object_set_new(info, "balloon_mib", json_integer(vm->balloon_actual_mib));
                pthread_mutex_unlock(&vm->lock);
                json_object_set_new(info, "mem_usage_bytes", have_mem ? json_integer(used) : json_null());
                json_object_set_new(info, "mem_swap_bytes", have_mem ? json_integer(swap) : json_null());
        }
        return info;
}

/* Keep the VM's spec.json in step with its QoS (a later agent adopting it
 * reads it). */
static void vm_persist_qos(struct vm *vm)
{
        _cleanup_(freep) char *text = NULL, *path = NULL;
        json_t *disks;

        if (!vm->spec)
                return;
        pthread_mutex_lock(&vm->lock);
        json_object_set_new(vm->spec->json, "cpu_qos", dv_cpu_qos_to_json(&vm->cpu_qos));
        json_object_set_new(vm->spec->json, "mem_qos",
                            dv_mem_qos_to_json(&vm->mem_qos, vm->spec->memory_mib));
        vm->spec->mem_qos = vm->mem_qos;
        disks = json_object_get(vm->spec->json, "disks");
        for (size_t i = 0; i < vm->n_disks && i < json_array_size(disks); i++) {
                json_t *d = json_array_get(disks, i);

                json_object_set_new(d, "iops_max", json_integer(vm->disk_qos[i].iops_max));
                json_object_set_new(d, "bps_max", json_integer(vm->disk_qos[i].bps_max));
                vm->spec->disks[i].qos = vm->disk_qos[i];
        }
        vm->spec->cpu_qos = vm->cpu_qos;
        text = json_dumps(vm->spec->json, JSON_COMPACT);
        pthread_mutex_unlock(&vm->lock);
        path = vm_path(vm, DV_QEMU_SPEC);
        if (text)
                (void)dv_write_file_atomic(path, text, strlen(text), 0600);
}

static int qemu_set_qos(struct dv_hv *hv, const char *vm_id, json_t *body, json_t **ret_info,
                        struct dv_error *err)
{
        static const char *const keys[] = { "cpu_qos", "mem_qos", "disks", NULL };
        static const char *const disk_keys[] = { "index", "iops_max", "bps_max", NULL };
        _cleanup_(vm_unrefp) struct vm *vm = NULL;
        struct dv_cpu_qos q, old;
        struct dv_mem_qos mq, old_mq;
        int64_t target;
        struct dv_disk_qos disks[DV_VM_MAX_DISKS], old_disks[DV_VM_MAX_DISKS];
        json_t *jd, *d;
        size_t i;
        int r;

        if (!json_is_object(body))
                return dv_error_set(err, 400, "invalid-json", "the body must be a JSON object");
        r = dv_json_check_keys(body, keys, err);
        if (r < 0)
                return r;
        r = vm_get_running(hv, vm_id, &vm, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&vm->lock);
        q = old = vm->cpu_qos;
        mq = old_mq = vm->mem_qos;
        target = vm->balloon_target_mib;
        memcpy(disks, vm->disk_qos, sizeof(disks));
        pthread_mutex_unlock(&vm->lock);
        memcpy(old_disks, disks, sizeof(disks));
        r = dv_cpu_qos_merge(json_object_get(body, "cpu_qos"), &q, err);
        if (r < 0)
                return r;
        r = dv_mem_qos_merge(json_object_get(body, "mem_qos"), &mq, err);
        if (r >= 0 && vm->memory_mib > 0)
                r = dv_mem_qos_check(&mq, vm->memory_mib, err);
        if (r < 0)
                return r;
        mq.limit_mib = -1;
        if (json_object_get(body, "mem_qos") && !vm->memory_mib)
                return dv_error_set(err, 409, "not-supported",
                                    "vm '%s' was adopted without its spec: no memory QoS", vm->name);
        r = qos_supported(hv, &q, err);
        if (r < 0)
                return r;
        jd = json_object_get(body, "disks");
        if (jd && !json_is_array(jd))
                return dv_error_set(err, 400, "invalid-field", "field 'disks' must be an array");
        json_array_foreach(jd, i, d) {
                int64_t idx = -1;

                if (!json_is_object(d))
                        return dv_error_set(err, 400, "invalid-field", "disks[%zu] must be an object", i);
                r = dv_json_check_keys(d, disk_keys, err);
                if (r >= 0)
                        r = dv_json_get_int(d, "index", true, 0, DV_VM_MAX_DISKS - 1, &idx, err);
                if (r >= 0 && (size_t)idx >= vm->n_disks)
                        r = dv_error_set(err, 400, "out-of-range",
                                         "disks[%zu]: vm '%s' has %zu disks here", i, vm->name,
                                         vm->n_disks);
                if (r >= 0)
                        r = dv_disk_qos_parse(d, &disks[idx], err);
                if (r < 0)
                        return r;
        }
        /* Disks first (QMP, may fail): roll back what was applied on failure. */
        r = vm_apply_disk_qos(vm, disks, err);
        if (r < 0) {
                (void)vm_apply_disk_qos(vm, old_disks, NULL);
                return r;
        }
        r = vm_apply_mem(vm, &mq);
        if (r < 0) {
                (void)vm_apply_mem(vm, &old_mq);
                (void)vm_apply_disk_qos(vm, old_disks, NULL);
                return set_err(err, r, 500, "cgroup-error",
                               "vm '%s': cannot write its memory cgroup: %s", vm->name,
                               strerror(-r));
        }
        /* A balloon below a raised reservation goes back up to it. */
        if (target < mq.reservation_mib) {
                _cleanup_(json_decrefp) json_t *args =
                        json_pack("{s:I}", "value", (json_int_t)mq.reservation_mib * 1048576);

                if (vm_exec(vm, "balloon", args, NULL, NULL) >= 0) {
                        pthread_mutex_lock(&vm->lock);
                        vm->balloon_target_mib = mq.reservation_mib;
                        pthread_mutex_unlock(&vm->lock);
                }
        }
        pthread_mutex_lock(&vm->lock);
        vm->cpu_qos = q;
        vm->mem_qos = mq;
        pthread_mutex_unlock(&vm->lock);
        r = qos_apply_all(hv);
        if (r < 0) {
                pthread_mutex_lock(&vm->lock);
                vm->cpu_qos = old;
                vm->mem_qos = old_mq;
                pthread_mutex_unlock(&vm->lock);
                (void)qos_apply_all(hv);
                (void)vm_apply_mem(vm, &old_mq);
                (void)vm_apply_disk_qos(vm, old_disks, NULL);
                return set_err(err, r, 500, "cgroup-error", "vm '%s': cannot write its cgroup: %s",
                               vm->name, strerror(-r));
        }
        vm_persist_qos(vm);
        if (ret_info)
                *ret_info = vm_qos_info(vm);
        return 0;
}

/* Balloon target (docs/qos.md "Ballooning"): never below the VM's memory
 * reservation, never above its size. */
static int qemu_set_balloon(struct dv_hv *hv, const char *vm_id, int64_t target_mib,
                            json_t **ret_info, struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = NULL;
        _cleanup_(json_decrefp) json_t *args = NULL;
        int64_t rsv, size;
        int r = vm_get_running(hv, vm_id, &vm, err);

        if (r < 0)
                return r;
        pthread_mutex_lock(&vm->lock);
        rsv = vm->mem_qos.reservation_mib;
        size = vm->memory_mib;
        pthread_mutex_unlock(&vm->lock);
        if (size <= 0)
                return set_err(err, -EOPNOTSUPP, 409, "not-supported",
                               "vm '%s' was adopted without its spec: no ballooning", vm->name);
        if (target_mib < rsv || target_mib > size)
                return set_err(err, -EINVAL, 409, "qos-conflict",
                               "balloon target %lld MiB of vm '%s' is outside its reservation "
                               "%lld MiB .. size %lld MiB",
                               (long long)target_mib, vm->name, (long long)rsv, (long long)size);
        args = json_pack("{s:I}", "value", (json_int_t)target_mib * 1048576);
        r = vm_exec(vm, "balloon", args, NULL, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&vm->lock);
        vm->balloon_target_mib = target_mib;
        if (ret_info)
                *ret_info = json_pack("{s:I,s:I}", "balloon_target_mib", (json_int_t)target_mib,
                                      "balloon_mib", (json_int_t)vm->balloon_actual_mib);
        pthread_mutex_unlock(&vm->lock);
        return 0;
}

static int qemu_get_qos(struct dv_hv *hv, const char *vm_id, json_t **ret_info,
                        struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = NULL;
        _cleanup_(json_decrefp) json_t *stats = NULL;
        json_t *info, *d, *s;
        size_t i, j;
        int r = vm_get_running(hv, vm_id, &vm, err);

        if (r < 0)
                return r;
        info = vm_qos_info(vm);
        /* The disks' counters, as the guest's I/O reaches QEMU (a read of
         * an unallocated qcow2 cluster never reaches the host's file). */
        if (vm_exec(vm, "query-blockstats", NULL, &stats, NULL) >= 0)
                json_array_foreach(json_object_get(info, "disks"), i, d) {
                        char qdev[48];

                        snprintf(qdev, sizeof(qdev), "/virtio-disk%zu/", i);
                        json_array_foreach(stats, j, s) {
                                const char *q = json_string_value(json_object_get(s, "qdev"));
                                json_t *st = json_object_get(s, "stats");

                                if (!q || !strstr(q, qdev) || !json_is_object(st))
                                        continue;
                                json_object_set(d, "rd_operations", json_object_get(st, "rd_operations"));
                                json_object_set(d, "wr_operations", json_object_get(st, "wr_operations"));
                                json_object_set(d, "rd_bytes", json_object_get(st, "rd_bytes"));
                                json_object_set(d, "wr_bytes", json_object_get(st, "wr_bytes"));
                        }
                }
        *ret_info = info;
        return 0;
}

static int qemu_stop(struct dv_hv *hv, const char *vm_id, bool force, int timeout_s,
                     const char *reason, const char **ret_path, struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = NULL;
        const char *state;
        bool starting, exited;

        if (timeout_s < 0 || timeout_s > MAX_STOP_TIMEOUT_S)
                return dv_error_set(err, 400, "out-of-range",
                                    "field 'timeout_s' is %d, allowed 0..%d", timeout_s,
                                    MAX_STOP_TIMEOUT_S);
        vm = vm_id ? vm_find(hv, vm_id) : NULL;
        if (!vm) {
                *ret_path = "already-stopped";
                return 0;
        }
        pthread_mutex_lock(&vm->lock);
        starting = vm->starting;
        exited = vm->exited;
        state = vm->state;
        if (!starting && !exited && !vm->stop_requested) {
                vm->stop_requested = true;
                vm->stop_reason = reason;
        }
        pthread_mutex_unlock(&vm->lock);
        if (starting)
                return set_err(err, -EBUSY, 409, "invalid-state", "vm '%s' is starting",
                               vm->name);
        if (exited) {
                *ret_path = "already-stopped";
                return 0;
        }

        /* ACPI needs a running guest; a paused or crashed one is forced.
         * The power button is an edge a guest still booting misses, so it
         * is pressed again every POWERDOWN_REPEAT_MS. */
        if (!force && timeout_s > 0 && dv_streq(state, "running")) {
                int64_t deadline = dv_now_ms() + (int64_t)timeout_s * 1000;

                while (dv_now_ms() < deadline) {
                        /* A failure may be QEMU exiting right now: give
                         * the watcher a moment to see it. */
                        int64_t step = vm_exec(vm, "system_powerdown", NULL, NULL, NULL) >= 0
                                               ? POWERDOWN_REPEAT_MS
                                               : 2000;

                        if (vm_wait_flag(vm, &vm->exited, DV_MIN(deadline, dv_now_ms() + step))) {
                                *ret_path = "acpi";
                                return 0;
                        }
                        if (step != POWERDOWN_REPEAT_MS)
                                break;
                }
        }

        /* "quit" lets QEMU flush and exit cleanly; SIGKILL if it does not. */
        if (vm_exec(vm, "quit", NULL, NULL, NULL) < 0 ||
            !vm_wait_flag(vm, &vm->exited, dv_now_ms() + QUIT_WAIT_MS))
                vm_kill_wait(vm);
        if (!vm_wait_flag(vm, &vm->exited, dv_now_ms()))
                return dv_error_set(err, 500, "qemu-failed",
                                    "vm '%s': QEMU pid %d did not exit after SIGKILL", vm->name,
                                    (int)vm->pid);
        *ret_path = "forced";
        return 0;
}

static int qemu_reboot(struct dv_hv *hv, const char *vm_id, struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = NULL;
        bool halted;
        int r;

        r = vm_get_running(hv, vm_id, &vm, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&vm->lock);
        halted = !dv_streq(vm->state, "running");
        pthread_mutex_unlock(&vm->lock);
        r = vm_exec(vm, "system_reset", NULL, NULL, err);
        if (r < 0)
                return r;
        /* A reset of a paused or crashed VM leaves it stopped: run it. */
        if (halted)
                r = vm_exec(vm, "cont", NULL, NULL, err);
        return r;
}

/* Hot-pluggable CPU slot order: socket, die, cluster, core, thread. */
static bool cpu_slot_before(json_t *a, json_t *b)
{
        static const char *const keys[] = { "socket-id", "die-id", "cluster-id", "core-id",
                                            "thread-id" };
        json_t *pa = json_object_get(a, "props"), *pb = json_object_get(b, "props");

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                json_int_t x = json_integer_value(json_object_get(pa, keys[i]));
                json_int_t y = json_integer_value(json_object_get(pb, keys[i]));

                if (x != y)
                        return x < y;
        }
        return false;
}

static int qemu_set_cpus(struct dv_hv *hv, const char *vm_id, int count, int *ret_present,
                         struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = NULL;
        _cleanup_(json_decrefp) json_t *slots = NULL;
        json_t *slot;
        size_t i;
        int r, present = 0, max;

        r = vm_get_running(hv, vm_id, &vm, err);
        if (r < 0)
                return r;
        r = vm_exec(vm, "query-hotpluggable-cpus", NULL, &slots, err);
        if (r < 0)
                return r;
        if (!json_is_array(slots) || json_array_size(slots) > DV_VM_MAX_CPUS)
                return set_err(err, -EPROTO, 500, "qemu-failed",
                               "vm '%s': query-hotpluggable-cpus gave no usable answer", vm->name);
        json_array_foreach(slots, i, slot) {
                if (json_integer_value(json_object_get(slot, "vcpus-count")) != 1)
                        return set_err(err, -ENOTSUP, 409, "not-supported",
                                       "vm '%s': CPU slots of several vCPUs are not supported",
                                       vm->name);
                if (json_object_get(slot, "qom-path"))
                        present++;
        }
        max = (int)json_array_size(slots);
        if (vm->spec && vm->spec->max_cpus < max)
                max = vm->spec->max_cpus;
        if (count > max)
                return set_err(err, -ERANGE, 409, "invalid-state",
                               "vm '%s' can have at most %d vCPUs (max_cpus)", vm->name, max);
        if (count < present)
                return set_err(err, -ENOTSUP, 409, "invalid-state",
                               "vm '%s' has %d vCPUs: removing vCPUs online is not supported",
                               vm->name, present);
        while (present < count) {
                _cleanup_(json_decrefp) json_t *args = NULL;
                json_t *best = NULL, *v;
                const char *key;
                char id[64];

                json_array_foreach(slots, i, slot)
                        if (!json_object_get(slot, "qom-path") &&
                            (!best || cpu_slot_before(slot, best)))
                                best = slot;
                if (!best)
                        break;
                snprintf(id, sizeof(id), "vcpu-s%lld-c%lld-t%lld",
                         (long long)json_integer_value(json_object_get(json_object_get(best, "props"), "socket-id")),
                         (long long)json_integer_value(json_object_get(json_object_get(best, "props"), "core-id")),
                         (long long)json_integer_value(json_object_get(json_object_get(best, "props"), "thread-id")));
                args = json_pack("{s:O,s:s}", "driver", json_object_get(best, "type"), "id", id);
                if (!args || !json_is_string(json_object_get(best, "type")))
                        return set_err(err, -EPROTO, 500, "qemu-failed",
                                       "vm '%s': a CPU slot without a type", vm->name);
                json_object_foreach(json_object_get(best, "props"), key, v)
                        if (json_is_integer(v))
                                json_object_set(args, key, v);
                r = vm_exec(vm, "device_add", args, NULL, err);
                if (r < 0)
                        return r;
                json_object_set_new(best, "qom-path", json_string(id));
                present++;
        }
        *ret_present = present;
        return 0;
}

static int qemu_console_ticket(struct dv_hv *hv, const char *vm_id, int ttl_s,
                               json_t **ret_info, struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = NULL;
        _cleanup_(json_decrefp) json_t *args = NULL;
        _cleanup_(freep) char *vnc = NULL, *when = NULL;
        json_t *info;
        char ticket[9], expires[32];
        int r;

        if (ttl_s < 1 || ttl_s > MAX_TICKET_TTL_S)
                return dv_error_set(err, 400, "out-of-range", "field 'ttl_s' is %d, allowed 1..%d",
                                    ttl_s, MAX_TICKET_TTL_S);
        r = vm_get_running(hv, vm_id, &vm, err);
        if (r < 0)
                return r;
        /* VNC passwords are at most 8 characters. */
        r = dv_random_hex(ticket, 4);
        if (r < 0)
                return set_err(err, r, 500, "qemu-failed", "no random bytes: %s", strerror(-r));
        args = json_pack("{s:s, s:s}", "protocol", "vnc", "password", ticket);
        r = vm_exec(vm, "set_password", args, NULL, err);
        if (r < 0)
                return r;
        json_decref(args);
        when = dv_asprintf("+%d", ttl_s);
        args = json_pack("{s:s, s:s}", "protocol", "vnc", "time", when);
        r = vm_exec(vm, "expire_password", args, NULL, err);
        if (r < 0)
                return r;
        dv_iso_time(dv_wall_ms() + (int64_t)ttl_s * 1000, expires, sizeof(expires));
        vnc = vm_path(vm, DV_QEMU_VNC_SOCK);
        info = json_pack("{s:s+, s:s, s:s}", "vnc", "unix:", vnc, "ticket", ticket, "expires_at",
                         expires);
        if (!info)
                return -ENOMEM;
        *ret_info = info;
        return 0;
}

static int qemu_vnc_path(struct dv_hv *hv, const char *vm_id, char **ret_path,
                         struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = NULL;
        int r = vm_get_running(hv, vm_id, &vm, err);

        if (r < 0)
                return r;
        *ret_path = vm_path(vm, DV_QEMU_VNC_SOCK);
        return 0;
}

/* ---- list ------------------------------------------------------------------ */

/* The guest writes its console log: cut it back to nothing (leaving one
 * line that says so) once it outgrows the bound. QEMU has it open with
 * O_APPEND, so its next write lands at the new end. The directory belongs
 * to the VM's uid: never follow a link, and only touch a regular file that
 * uid owns. */
static void console_log_bound(struct vm *vm)
{
        _cleanup_(freep) char *path = vm_path(vm, DV_QEMU_CONSOLE_LOG);
        _cleanup_(closep) int fd = -1;
        struct stat st;
        char line[128];
        int n;

        fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return;
        if (!S_ISREG(st.st_mode) || st.st_uid != vm->uid ||
            (uint64_t)st.st_size <= vm->hv->console_log_max)
                return;
        if (ftruncate(fd, 0) < 0)
                return;
        n = snprintf(line, sizeof(line), "drover: console log cut back after %lld bytes\n",
                     (long long)st.st_size);
        if (write(fd, line, (size_t)n) < 0)
                return;
}

static int qemu_list(struct dv_hv *hv, json_t **ret_array)
{
        json_t *arr = json_array();
        struct vm *gone = NULL;

        if (!arr)
                return -ENOMEM;
        pthread_mutex_lock(&hv->lock);
        for (struct vm **pp = &hv->vms; *pp;) {
                struct vm *vm = *pp;
                bool starting, exited;

                pthread_mutex_lock(&vm->lock);
                starting = vm->starting;
                exited = vm->exited;
                pthread_mutex_unlock(&vm->lock);
                if (starting) {
                        pp = &vm->next;
                        continue;
                }
                if (!exited)
                        console_log_bound(vm);
                json_array_append_new(arr, vm_status(vm));
                if (exited) {
                        /* Reported once as stopped: forget it. */
                        *pp = vm->next;
                        vm->next = gone;
                        gone = vm;
                        continue;
                }
                pp = &vm->next;
        }
        pthread_mutex_unlock(&hv->lock);
        while (gone) {
                struct vm *vm = gone;
                gone = vm->next;
                vm->next = NULL;
                vm_unref(vm);
        }
        *ret_array = arr;
        return 0;
}

/* ---- adopt ------------------------------------------------------------------ */

/* A VM directory without a live QEMU: remove its taps and the directory. */
static void sweep_stale_dir(struct dv_hv *hv, const char *id)
{
        _cleanup_(freep) char *dir = dv_asprintf("%s/%s", hv->run_dir, id);
        _cleanup_(freep) char *spec_path = dv_qemu_vm_path(hv->run_dir, id, DV_QEMU_SPEC);
        _cleanup_(freep) char *text = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_(vm_unrefp) struct vm *vm = vm_new(hv, id, id, 0);

        if (!vm)
                return;
        if (read_vm_file(spec_path, 1024 * 1024, false, &text) >= 0 &&
            (j = json_loads(text, 0, NULL)))
                (void)dv_vm_spec_parse(j, &vm->spec, NULL);
        vm_unplug_taps(vm);
        (void)dv_rm_rf(dir);
}

static struct vm *adopt_one(struct dv_hv *hv, const char *id)
{
        _cleanup_(freep) char *name = NULL, *text = NULL, *spec_path = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL;
        struct dv_vm_spec *spec = NULL;
        struct vm *vm;
        pid_t pid;
        uid_t uid;
        int pidfd;

        pid = run_dir_live_pid(hv, id, &name);
        if (pid <= 0)
                return NULL;
        uid = proc_uid(pid);
        if (uid == (uid_t)-1 || uid < DV_VM_MIN_UID)
                return NULL;
        spec_path = dv_qemu_vm_path(hv->run_dir, id, DV_QEMU_SPEC);
        if (read_vm_file(spec_path, 1024 * 1024, false, &text) >= 0 &&
            (j = json_loads(text, 0, NULL)) && dv_vm_spec_parse(j, &spec, NULL) >= 0 &&
            spec->uid != uid) {
                dv_vm_spec_free(spec);
                spec = NULL;
        }
        pidfd = pidfd_open(pid, 0);
        if (pidfd < 0) {
                dv_vm_spec_free(spec);
                return NULL;
        }
        /* Checked again with the pidfd held: the pid is not reused now. */
        if (!proc_is_vm_qemu(pid, id, NULL)) {
                close(pidfd);
                dv_vm_spec_free(spec);
                return NULL;
        }
        vm = vm_new(hv, spec ? spec->id : id, spec ? spec->name : name ? name : id, uid);
        if (!vm) {
                close(pidfd);
                dv_vm_spec_free(spec);
                return NULL;
        }
        vm->spec = spec;
        vm->pid = pid;
        vm->pidfd = pidfd;
        vm->started_at = proc_start_wall_ms(pid);
        vm_load_qos(vm);
        return vm;
}

static bool vm_is_known(void *userdata, const char *id)
{
        struct dv_hv *hv = userdata;
        bool known;

        pthread_mutex_lock(&hv->lock);
        known = vm_find_locked(hv, id) != NULL;
        pthread_mutex_unlock(&hv->lock);
        return known;
}

static int qemu_adopt(struct dv_hv *hv)
{
        _cleanup_(freep) struct vm **adopted = NULL;
        size_t n = 0, cap = 0;
        int64_t deadline;
        struct dirent *de;
        DIR *d;

        d = opendir(hv->run_dir);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                struct vm *vm;
                bool known;

                if (!dv_uuid_valid(de->d_name))
                        continue;
                pthread_mutex_lock(&hv->lock);
                known = vm_find_locked(hv, de->d_name) != NULL;
                pthread_mutex_unlock(&hv->lock);
                if (known)
                        continue;
                vm = adopt_one(hv, de->d_name);
                if (!vm) {
                        sweep_stale_dir(hv, de->d_name);
                        continue;
                }
                if (n == cap) {
                        struct vm **nb;

                        cap = cap ? cap * 2 : 16;
                        nb = realloc(adopted, cap * sizeof(*nb));
                        if (!nb) {
                                vm_unref(vm);
                                break;
                        }
                        adopted = nb;
                }
                pthread_mutex_lock(&hv->lock);
                vm->refs++; /* the list's */
                vm->next = hv->vms;
                hv->vms = vm;
                pthread_mutex_unlock(&hv->lock);
                if (vm_start_watcher(vm) < 0) {
                        /* Still listed (never a second QEMU for it), just
                         * not watched. */
                }
                adopted[n++] = vm;
        }
        closedir(d);
        /* Adopted QEMUs keep (or get back) their cgroups; cgroups of VMs
         * whose QEMU is gone are removed. */
        if (hv->cg) {
                for (size_t i = 0; i < n; i++)
                        if (dv_cgroup_vm_attach(hv->cg, adopted[i]->id, adopted[i]->pid) >= 0) {
                                pthread_mutex_lock(&adopted[i]->lock);
                                adopted[i]->in_cgroup = !adopted[i]->exited;
                                pthread_mutex_unlock(&adopted[i]->lock);
                        }
                (void)qos_apply_all(hv);
                (void)dv_cgroup_sweep(hv->cg, vm_is_known, hv);
        }

        /* Let every watcher connect QMP and learn the run state; a VM
         * whose QMP does not answer stays listed as running and its
         * watcher keeps trying. */
        deadline = dv_now_ms() + ADOPT_TIMEOUT_MS;
        for (size_t i = 0; i < n; i++) {
                vm_wait_flag(adopted[i], &adopted[i]->status_known, deadline);
                vm_unref(adopted[i]);
        }
        return (int)DV_MIN(n, (size_t)INT32_MAX);
}

/* ---- init, free ------------------------------------------------------------ */

/* The absolute path of an executable, searching PATH for a bare name. */
static int find_executable(const char *name, char **ret)
{
        _cleanup_(freep) char *path = NULL;
        const char *env;

        if (strchr(name, '/')) {
                if (name[0] != '/' || access(name, X_OK) < 0)
                        return name[0] != '/' ? -EINVAL : -errno;
                *ret = dv_strdup(name);
                return 0;
        }
        env = getenv("PATH");
        path = dv_strdup(env && *env ? env : "/usr/local/bin:/usr/bin:/bin");
        for (char *save = NULL, *dir = strtok_r(path, ":", &save); dir;
             dir = strtok_r(NULL, ":", &save)) {
                _cleanup_(freep) char *p = dv_asprintf("%s/%s", dir, name);

                if (dir[0] == '/' && access(p, X_OK) == 0) {
                        *ret = TAKE_PTR(p);
                        return 0;
                }
        }
        return -ENOENT;
}

static void qemu_free(struct dv_hv *hv);

static int qemu_init(const struct dv_hv_config *cfg, dv_hv_event_cb cb, void *userdata,
                     struct dv_hv **ret_hv)
{
        struct dv_hv *hv;
        struct stat st;
        int r;

        if (!cfg || !cfg->run_dir || cfg->run_dir[0] != '/')
                return -EINVAL;
        hv = calloc(1, sizeof(*hv));
        if (!hv)
                return -ENOMEM;
        pthread_mutex_init(&hv->lock, NULL);
        pthread_cond_init(&hv->cond, NULL);
        hv->cb = cb;
        hv->userdata = userdata;
        hv->sandbox = cfg->sandbox;
        hv->no_locking = cfg->no_locking;
        hv->console_log_max = cfg->console_log_max ? cfg->console_log_max : 16u * 1024 * 1024;
        hv->run_dir = dv_strdup(cfg->run_dir);
        hv->cg = cfg->cgroup;
        hv->host_mhz = cfg->host_mhz > 0 ? cfg->host_mhz : 1000;
        pthread_mutex_init(&hv->qos_lock, NULL);
        r = dv_qemu_resolve_accel(cfg->accel ? cfg->accel : "auto", NULL, &hv->accel);
        if (r >= 0)
                r = find_executable(cfg->qemu_bin ? cfg->qemu_bin : "qemu-system-x86_64",
                                    &hv->qemu_bin);
        /* Each QEMU, running as its own uid, must reach its directory. */
        if (r >= 0)
                r = dv_mkdir_p(hv->run_dir, 0755);
        if (r >= 0 && stat(hv->run_dir, &st) < 0)
                r = -errno;
        if (r >= 0 && (st.st_mode & 0111) != 0111 && chmod(hv->run_dir, (st.st_mode & 07777) | 0111) < 0)
                r = -errno;
        if (r < 0) {
                qemu_free(hv);
                return r;
        }
        *ret_hv = hv;
        return 0;
}

void dv_hv_qemu_set_nic_hook(struct dv_hv *hv, dv_hv_qemu_nic_hook hook, void *userdata)
{
        hv->nic_hook = hook;
        hv->nic_userdata = userdata;
}

/* Stops the watchers and forgets every VM; the QEMU processes keep
 * running, for the next agent to adopt. */
static void qemu_free(struct dv_hv *hv)
{
        struct vm *vms;

        if (!hv)
                return;
        pthread_mutex_lock(&hv->lock);
        for (struct vm *vm = hv->watched; vm; vm = vm->wnext)
                eventfd_write(vm->wake_fd, 1);
        while (hv->watched)
                pthread_cond_wait(&hv->cond, &hv->lock);
        vms = hv->vms;
        hv->vms = NULL;
        pthread_mutex_unlock(&hv->lock);
        while (vms) {
                struct vm *vm = vms;
                vms = vm->next;
                vm->next = NULL;
                vm_unref(vm);
        }
        pthread_cond_destroy(&hv->cond);
        pthread_mutex_destroy(&hv->lock);
        free(hv->run_dir);
        free(hv->qemu_bin);
        free(hv);
}

/* ---- storage mirroring ---------------------------------------------------- */

#define MIRROR_POLL_MS 10               /* query-block-jobs interval while waiting (the
                                         * guest may be paused for the switchover) */

/* The disk index of a query-block entry: its qdev path names the device
 * "virtio-diskN" (qemu-cmd.c). -1 when it is none of ours. */
static int disk_index_of_qdev(const char *qdev)
{
        const char *p = qdev ? strstr(qdev, "virtio-disk") : NULL;
        char *end;
        long i;

        if (!p)
                return -1;
        p += strlen("virtio-disk");
        i = strtol(p, &end, 10);
        if (end == p || (*end && *end != '/') || i < 0 || i >= DV_VM_MAX_DISKS)
                return -1;
        return (int)i;
}

/* [{"disk","node","path","virtual_size","allocated"}] from query-block. */
static int vm_disks(struct vm *vm, json_t **ret, struct dv_error *err)
{
        _cleanup_(json_decrefp) json_t *q = NULL;
        json_t *slots[DV_VM_MAX_DISKS] = { NULL }, *b, *arr;
        size_t i;
        int r;

        r = vm_exec(vm, "query-block", NULL, &q, err);
        if (r < 0)
                return r;
        json_array_foreach(q, i, b) {
                json_t *ins = json_object_get(b, "inserted"), *img = json_object_get(ins, "image");
                int d = disk_index_of_qdev(json_string_value(json_object_get(b, "qdev")));

                if (d < 0 || !json_is_object(ins) || slots[d])
                        continue;
                slots[d] = json_pack("{s:i,s:s?,s:s?,s:I,s:I}", "disk", d, "node",
                                     json_string_value(json_object_get(ins, "node-name")), "path",
                                     json_string_value(json_object_get(img, "filename")),
                                     "virtual_size",
                                     json_integer_value(json_object_get(img, "virtual-size")),
                                     "allocated",
                                     json_integer_value(json_object_get(img, "actual-size")));
        }
        arr = json_array();
        if (!arr)
                return -ENOMEM;
        for (i = 0; i < ELEMENTSOF(slots); i++)
                if (slots[i])
                        json_array_append_new(arr, slots[i]);
        *ret = arr;
        return 0;
}

static int qemu_disk_info(struct dv_hv *hv, const char *vm_id, json_t **ret_disks,
                          struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = NULL;
        int r;

        r = vm_get_running(hv, vm_id, &vm, err);
        if (r < 0)
                return r;
        return vm_disks(vm, ret_disks, err);
}

/* Take the VM's mirrors out of it (the caller owns them now). */
static struct vm_mirror *mirrors_take(struct vm *vm, size_t *ret_n)
{
        struct vm_mirror *m;

        pthread_mutex_lock(&vm->lock);
        m = TAKE_PTR(vm->mirrors);
        *ret_n = vm->n_mirrors;
        vm->n_mirrors = 0;
        pthread_mutex_unlock(&vm->lock);
        return m;
}

static void mirrors_free(struct vm_mirror *m, size_t n)
{
        for (size_t i = 0; m && i < n; i++)
                free(m[i].path);
        free(m);
}

/* The job of query-block-jobs with that id, or NULL (borrowed from jobs). */
static json_t *job_find(json_t *jobs, const char *id)
{
        json_t *j;
        size_t i;

        json_array_foreach(jobs, i, j)
                if (dv_streq(json_string_value(json_object_get(j, "device")), id))
                        return j;
        return NULL;
}

/* Wait until every job of m has concluded (or vanished); then dismiss
 * it. The first job error goes to err. */
static int mirrors_wait_concluded(struct vm *vm, struct vm_mirror *m, size_t n,
                                  int64_t deadline, struct dv_error *err)
{
        bool done[DV_VM_MAX_DISKS] = { false };
        size_t left = n;
        int r = 0;

        while (left > 0) {
                _cleanup_(json_decrefp) json_t *jobs = NULL;

                if (vm_exec(vm, "query-block-jobs", NULL, &jobs, err) < 0)
                        return -EIO;
                for (size_t i = 0; i < n; i++) {
                        json_t *j = done[i] ? NULL : job_find(jobs, m[i].job);
                        const char *st = json_string_value(json_object_get(j, "status"));
                        const char *e = json_string_value(json_object_get(j, "error"));

                        if (done[i] || (j && !dv_streq(st, "concluded") && !dv_streq(st, "null")))
                                continue;
                        done[i] = true;
                        left--;
                        if (e && r == 0)
                                r = dv_error_set(err, 502, "mirror-failed",
                                                 "vm '%s': mirror of disk%d: %s", vm->name,
                                                 m[i].disk, e);
                        if (j) {
                                _cleanup_(json_decrefp) json_t *a =
                                        json_pack("{s:s}", "id", m[i].job);
                                (void)vm_exec(vm, "job-dismiss", a, NULL, NULL);
                        }
                }
                if (left == 0)
                        break;
                if (dv_now_ms() >= deadline)
                        return dv_error_set(err, 504, "mirror-timeout",
                                            "vm '%s': %zu disk mirror(s) did not finish in time",
                                            vm->name, left);
                usleep(MIRROR_POLL_MS * 1000);
        }
        return r;
}

static void node_del(struct vm *vm, const char *node)
{
        _cleanup_(json_decrefp) json_t *a = json_pack("{s:s}", "node-name", node);

        (void)vm_exec(vm, "blockdev-del", a, NULL, NULL);
}

/* Cancel mirror jobs (how: DV_MIRROR_SYNC or _ABORT), wait for them, remove
 * their target nodes. Consumes m. */
static int mirrors_cancel(struct vm *vm, struct vm_mirror *m, size_t n, enum dv_mirror_end how,
                          int64_t deadline, struct dv_error *err)
{
        int r;

        for (size_t i = 0; i < n; i++) {
                _cleanup_(json_decrefp) json_t *a =
                        json_pack("{s:s,s:b}", "device", m[i].job, "force", how == DV_MIRROR_ABORT);
                (void)vm_exec(vm, "block-job-cancel", a, NULL, NULL);
        }
        r = mirrors_wait_concluded(vm, m, n, deadline, err);
        for (size_t i = 0; i < n; i++)
                node_del(vm, m[i].target);
        mirrors_free(m, n);
        return r;
}

static int qemu_mirror_start(struct dv_hv *hv, const char *vm_id,
                             const struct dv_hv_mirror_target *targets, size_t n,
                             struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = NULL;
        _cleanup_(json_decrefp) json_t *disks = NULL;
        struct vm_mirror *m;
        int64_t stamp = dv_now_ms() % 1000000000;
        size_t started = 0;
        int r;

        if (n == 0 || n > DV_VM_MAX_DISKS)
                return dv_error_set(err, 400, "invalid-field", "1..%d disks can be mirrored",
                                    DV_VM_MAX_DISKS);
        r = vm_get_running(hv, vm_id, &vm, err);
        if (r < 0)
                return r;
        r = vm_disks(vm, &disks, err);
        if (r < 0)
                return r;
        m = calloc(n, sizeof(*m));
        if (!m)
                return -ENOMEM;
        pthread_mutex_lock(&vm->lock);
        if (vm->n_mirrors > 0 || vm->incoming) {
                pthread_mutex_unlock(&vm->lock);
                free(m);
                return set_err(err, -EBUSY, 409, "invalid-state",
                               "vm '%s' is already mirroring its disks", vm->name);
        }
        pthread_mutex_unlock(&vm->lock);

        for (size_t i = 0; i < n; i++) {
                const struct dv_hv_mirror_target *t = &targets[i];
                _cleanup_(json_decrefp) json_t *add = NULL, *mir = NULL;
                json_t *d = NULL, *x;
                size_t k;

                json_array_foreach(disks, k, x)
                        if (json_integer_value(json_object_get(x, "disk")) == t->disk)
                                d = x;
                for (size_t j = 0; j < i && d; j++)
                        if (m[j].disk == t->disk)
                                d = NULL;
                if (!d || !json_string_value(json_object_get(d, "node"))) {
                        r = dv_error_set(err, 400, "invalid-field",
                                         "vm '%s' has no disk%d to mirror (or it is given twice)",
                                         vm->name, t->disk);
                        break;
                }
                m[i].disk = t->disk;
                snprintf(m[i].job, sizeof(m[i].job), "mirror-disk%d", t->disk);
                snprintf(m[i].source, sizeof(m[i].source), "%s",
                         json_string_value(json_object_get(d, "node")));
                /* Unique: the disk's node after a pivot, and never the
                 * name of an earlier one. */
                snprintf(m[i].target, sizeof(m[i].target), "disk%d-m%" PRId64, t->disk, stamp);
                if (t->path) {
                        m[i].path = dv_strdup(t->path);
                        add = json_pack("{s:s,s:s,s:{s:s,s:s}}", "driver", "qcow2", "node-name",
                                        m[i].target, "file", "driver", "file", "filename",
                                        t->path);
                } else {
                        char port[8];

                        snprintf(port, sizeof(port), "%d", t->nbd_port);
                        add = json_pack("{s:s,s:s,s:{s:s,s:s,s:s},s:s}", "driver", "nbd",
                                        "node-name", m[i].target, "server", "type", "inet",
                                        "host", t->nbd_host, "port", port, "export",
                                        t->nbd_export);
                }
                mir = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:I}", "job-id", m[i].job, "device",
                                m[i].source, "target", m[i].target, "sync", "full", "copy-mode",
                                "write-blocking", "auto-dismiss", 0, "speed",
                                (json_int_t)(t->speed > 0 ? t->speed : 0));
                if (!add || !mir) {
                        r = -ENOMEM;
                        break;
                }
                r = vm_exec(vm, "blockdev-add", add, NULL, err);
                if (r < 0) {
                        dv_error_set(err, 502, "mirror-failed",
                                     "vm '%s': cannot open the copy of disk%d: %s", vm->name,
                                     t->disk, err->message);
                        break;
                }
                r = vm_exec(vm, "blockdev-mirror", mir, NULL, err);
                if (r < 0) {
                        node_del(vm, m[i].target);
                        dv_error_set(err, 502, "mirror-failed",
                                     "vm '%s': cannot mirror disk%d: %s", vm->name, t->disk,
                                     err->message);
                        break;
                }
                started++;
        }
        if (r < 0) {
                struct dv_error ignored = { 0 };

                for (size_t i = started; i < n; i++)
                        free(TAKE_PTR(m[i].path));
                (void)mirrors_cancel(vm, m, started, DV_MIRROR_ABORT,
                                     dv_now_ms() + QMP_TIMEOUT_MS, &ignored);
                return r;
        }
        pthread_mutex_lock(&vm->lock);
        vm->mirrors = m;
        vm->n_mirrors = n;
        pthread_mutex_unlock(&vm->lock);
        return 0;
}

static int qemu_mirror_status(struct dv_hv *hv, const char *vm_id, json_t **ret_status,
                              struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = vm_id ? vm_find(hv, vm_id) : NULL;
        _cleanup_(json_decrefp) json_t *jobs = NULL;
        char ids[DV_VM_MAX_DISKS][32];
        int disks[DV_VM_MAX_DISKS];
        size_t n;
        json_t *arr;
        int r;

        if (!vm)
                return set_err(err, -ENOENT, 409, "invalid-state",
                               "vm '%.64s' is not running on this host", vm_id ? vm_id : "");
        pthread_mutex_lock(&vm->lock);
        n = vm->n_mirrors;
        for (size_t i = 0; i < n; i++) {
                snprintf(ids[i], sizeof(ids[i]), "%s", vm->mirrors[i].job);
                disks[i] = vm->mirrors[i].disk;
        }
        pthread_mutex_unlock(&vm->lock);
        if (n == 0)
                return set_err(err, -ENOENT, 409, "invalid-state",
                               "vm '%s' mirrors no disk (none was started, or the agent "
                               "restarted since)",
                               vm->name);
        r = vm_exec(vm, "query-block-jobs", NULL, &jobs, err);
        if (r < 0)
                return r;
        arr = json_array();
        for (size_t i = 0; i < n; i++) {
                json_t *j = job_find(jobs, ids[i]);

                json_array_append_new(
                        arr, json_pack("{s:i,s:s,s:I,s:I,s:b,s:s,s:s?}", "disk", disks[i], "job",
                                       ids[i], "offset",
                                       json_integer_value(json_object_get(j, "offset")), "len",
                                       json_integer_value(json_object_get(j, "len")), "ready",
                                       json_is_true(json_object_get(j, "ready")), "status",
                                       j ? json_string_value(json_object_get(j, "status")) : "gone",
                                       "error", json_string_value(json_object_get(j, "error"))));
        }
        *ret_status = json_pack("{s:o}", "jobs", arr);
        return 0;
}

/* After a pivot: the spec (and spec.json) names the copies. */
static void vm_spec_set_paths(struct vm *vm, const struct vm_mirror *m, size_t n)
{
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_(freep) char *text = NULL, *path = NULL;
        struct dv_vm_spec *spec = NULL;
        struct dv_error ignored = { 0 };

        if (!vm->spec)
                return;
        j = json_deep_copy(vm->spec->json);
        for (size_t i = 0; j && i < n; i++) {
                json_t *d = json_array_get(json_object_get(j, "disks"), (size_t)m[i].disk);

                if (d && m[i].path)
                        json_object_set_new(d, "path", json_string(m[i].path));
        }
        if (!j || dv_vm_spec_parse(j, &spec, &ignored) < 0)
                return;
        text = json_dumps(j, JSON_COMPACT);
        path = vm_path(vm, DV_QEMU_SPEC);
        if (text)
                (void)dv_write_file_atomic(path, text, strlen(text), 0600);
        pthread_mutex_lock(&vm->lock);
        dv_vm_spec_free(vm->old_spec);
        vm->old_spec = vm->spec;
        vm->spec = spec;
        pthread_mutex_unlock(&vm->lock);
}

/* Pivot: complete every job (the device switches to the copy), then close
 * the old images. Consumes m. */
static int mirrors_pivot(struct vm *vm, struct vm_mirror *m, size_t n, int64_t deadline,
                         struct dv_error *err)
{
        _cleanup_(json_decrefp) json_t *jobs = NULL;
        int r;

        /* Every copy must be in sync before any disk switches. */
        r = vm_exec(vm, "query-block-jobs", NULL, &jobs, err);
        for (size_t i = 0; i < n && r >= 0; i++)
                if (!json_is_true(json_object_get(job_find(jobs, m[i].job), "ready")))
                        r = dv_error_set(err, 409, "not-ready", "the copy of disk%d is not in sync",
                                         m[i].disk);
        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_(json_decrefp) json_t *a = json_pack("{s:s}", "device", m[i].job);
                r = vm_exec(vm, "block-job-complete", a, NULL, err);
        }
        if (r < 0) {
                /* Not ready after all: nothing pivoted yet is the usual
                 * case; keep the source for the disks that did not. */
                struct dv_error ignored = { 0 };
                (void)mirrors_cancel(vm, m, n, DV_MIRROR_ABORT, deadline, &ignored);
                return dv_error_set(err, 502, "mirror-failed", "vm '%s': pivot: %s", vm->name,
                                    err->message);
        }
        r = mirrors_wait_concluded(vm, m, n, deadline, err);
        if (r >= 0) {
                for (size_t i = 0; i < n; i++)
                        node_del(vm, m[i].source);
                vm_spec_set_paths(vm, m, n);
        }
        mirrors_free(m, n);
        return r;
}

/* An agent restarted during a mirror knows nothing of it: find our jobs
 * ("mirror-diskN") and copy nodes ("diskN-mSTAMP" that no device uses) in
 * QEMU itself, so that they can be dropped. */
static struct vm_mirror *mirrors_found(struct vm *vm, size_t *ret_n)
{
        _cleanup_(json_decrefp) json_t *jobs = NULL, *nodes = NULL, *disks = NULL,
                                      *flat = json_pack("{s:b}", "flat", 1);
        struct vm_mirror *m = calloc(DV_VM_MAX_DISKS, sizeof(*m));
        size_t n = 0, i, k;
        json_t *j, *x;

        *ret_n = 0;
        if (!m || vm_exec(vm, "query-block-jobs", NULL, &jobs, NULL) < 0 ||
            vm_exec(vm, "query-named-block-nodes", flat, &nodes, NULL) < 0 ||
            vm_disks(vm, &disks, NULL) < 0) {
                free(m);
                return NULL;
        }
        json_array_foreach(jobs, i, j) {
                const char *id = json_string_value(json_object_get(j, "device"));
                int d;

                if (id && sscanf(id, "mirror-disk%d", &d) == 1 && d >= 0 && n < DV_VM_MAX_DISKS) {
                        m[n].disk = d;
                        snprintf(m[n].job, sizeof(m[n].job), "%s", id);
                        n++;
                }
        }
        json_array_foreach(nodes, i, j) {
                const char *name = json_string_value(json_object_get(j, "node-name"));
                bool root = false;
                long long stamp;
                int d;
                size_t e;

                if (!name || sscanf(name, "disk%d-m%lld", &d, &stamp) != 2)
                        continue;
                json_array_foreach(disks, k, x)
                        root = root || dv_streq(json_string_value(json_object_get(x, "node")), name);
                if (root)
                        continue;
                for (e = 0; e < n && !(m[e].disk == d && !m[e].target[0]); e++)
                        ;
                if (e == n && n == DV_VM_MAX_DISKS)
                        continue;
                if (e == n) {
                        m[n].disk = d;
                        n++;
                }
                snprintf(m[e].target, sizeof(m[e].target), "%s", name);
        }
        *ret_n = n;
        return m;
}

static int qemu_mirror_finish(struct dv_hv *hv, const char *vm_id, enum dv_mirror_end how,
                              int timeout_s, struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = vm_id ? vm_find(hv, vm_id) : NULL;
        int64_t deadline;
        struct vm_mirror *m;
        size_t n;

        if (!vm)
                return 0; /* nothing runs, nothing mirrors */
        if (timeout_s < 1 || timeout_s > MAX_STOP_TIMEOUT_S)
                timeout_s = 60;
        deadline = dv_now_ms() + (int64_t)timeout_s * 1000;
        m = mirrors_take(vm, &n);
        if (n == 0 && how != DV_MIRROR_PIVOT) {
                free(m);
                m = mirrors_found(vm, &n);
        }
        if (n == 0) {
                free(m);
                return how == DV_MIRROR_PIVOT
                               ? set_err(err, -ENOENT, 409, "invalid-state",
                                         "vm '%s' mirrors no disk", vm->name)
                               : 0;
        }
        if (how == DV_MIRROR_PIVOT)
                return mirrors_pivot(vm, m, n, deadline, err);
        return mirrors_cancel(vm, m, n, how, deadline, err);
}

/* ---- live migration ------------------------------------------------------ */

#define MIGRATE_CHANNELS 4              /* multifd channels */
/* Multifd only from this QEMU major version on; before, one plain
 * pre-copy stream. QEMU 7.2's multifd:
 * - can hang for good when one channel fails (the target dies, the
 *   network is cut) while the migration thread waits in a sync for
 *   another: that channel sees the failure flag before its pending sync
 *   and exits without posting it; the migration thread waits forever, the
 *   migration never ends ("failed" with its yank instance held) and the
 *   VM can never migrate again (traced: multifd_send_error on channel 0,
 *   multifd_send_thread_end on channel 1 without its sync,
 *   multifd_send_sync_main_wait channel 1 never returns);
 * - tore guest memory here (TCG, a guest dirtying 50 MiB/s, even with one
 *   channel): the guest kernel oopsed on the target right after the
 *   switchover (NULL pointer in psi_task_switch), in 1 of 5 raw QEMU
 *   runs with Drover's settings and in Drover's own runs, in none of
 *   Drover's 14 with the plain stream (bench/migrate: guest_ok; a plain
 *   stream with xbzrle tore one fast-dirtying guest too: not a proof);
 * - cost twice the plain stream's CPU for the same guest (cpu_ms ~2100
 *   against ~950 for 1 GiB, both QEMUs) and took twice as long.
 * Newer versions are not verified here. */
#define MIGRATE_MULTIFD_QEMU 9
#define MIGRATE_DOWNTIME_MS 100         /* downtime-limit */
#define MIGRATE_MAX_BANDWIDTH (INT64_C(100) << 30) /* bytes/s: no practical cap */
#define MIGRATE_POLL_MS 100             /* query-migrate interval */
#define MIGRATE_SETTLE_MS 20000         /* a migration's cleanup after it ended (see migrate_settle) */
#define MIGRATE_POLL_MIRROR_MS 10       /* ... with disk mirrors to end at pre-switchover */
/* A connect to the target still unanswered after this is aborted (see
 * migrate_abort_connects): the kernel would retry its SYNs for ~2 min. */
#define MIGRATE_CONNECT_MS 3000

static void vm_migration_status(struct vm *vm, char *buf, size_t len);

/* QEMU's major version (query-version), 0 if QMP does not tell. */
static int qemu_major_version(struct vm *vm)
{
        _cleanup_(json_decrefp) json_t *v = NULL;

        if (vm_exec(vm, "query-version", NULL, &v, NULL) < 0)
                return 0;
        return (int)json_integer_value(json_object_get(json_object_get(v, "qemu"), "major"));
}

/* Our migration settings; source and target agree on multifd (the same
 * QEMU version decides on both) and on its channel count (the manager's).
 * mirrors: the source has disk mirrors to end at the switchover (the
 * migration pauses before it: pause-before-switchover). *ret_channels:
 * the streams used (1 without multifd), *ret_multifd: whether multifd. */
static int migrate_setup(struct vm *vm, bool source, bool mirrors, int64_t max_bandwidth,
                         int channels, int *ret_channels, bool *ret_multifd,
                         struct dv_error *err)
{
        _cleanup_(json_decrefp) json_t *caps = NULL, *params = NULL;
        bool multifd = qemu_major_version(vm) >= MIGRATE_MULTIFD_QEMU;
        int64_t bw = max_bandwidth > 0 ? max_bandwidth : MIGRATE_MAX_BANDWIDTH;
        int r;

        caps = json_pack("{s:[{s:s,s:b},{s:s,s:b},{s:s,s:b}]}", "capabilities", "capability",
                         "multifd", "state", multifd, "capability", "auto-converge", "state",
                         source, "capability", "pause-before-switchover", "state", mirrors);
        if (channels < 1 || channels > 16)
                channels = MIGRATE_CHANNELS;
        if (!multifd)
                channels = 1;
        if (source && multifd)
                params = json_pack("{s:i,s:I,s:I}", "multifd-channels", channels, "max-bandwidth",
                                   (json_int_t)bw, "downtime-limit",
                                   (json_int_t)MIGRATE_DOWNTIME_MS);
        else if (source)
                params = json_pack("{s:I,s:I}", "max-bandwidth", (json_int_t)bw,
                                   "downtime-limit", (json_int_t)MIGRATE_DOWNTIME_MS);
        else if (multifd)
                params = json_pack("{s:i}", "multifd-channels", channels);
        if (!caps || ((source || multifd) && !params))
                return -ENOMEM;
        r = vm_exec(vm, "migrate-set-capabilities", caps, NULL, err);
        if (r >= 0 && params)
                r = vm_exec(vm, "migrate-set-parameters", params, NULL, err);
        if (ret_channels)
                *ret_channels = channels;
        if (ret_multifd)
                *ret_multifd = multifd;
        return r;
}

/* Forget an incoming VM that did not finish: kill it if needed, unlink it. */
static void migrate_drop(struct vm *vm)
{
        struct dv_hv *hv = vm->hv;
        bool exited;

        pthread_mutex_lock(&vm->lock);
        exited = vm->exited;
        pthread_mutex_unlock(&vm->lock);
        if (!exited)
                vm_kill_wait(vm);
        pthread_mutex_lock(&hv->lock);
        if (vm_find_locked(hv, vm->id) == vm) {
                vm_unlink_locked(hv, vm);
                vm->refs--; /* the list's */
        }
        pthread_mutex_unlock(&hv->lock);
}

static int qemu_migrate_in(struct dv_hv *hv, json_t *spec_json, const char *addr, int port,
                           int channels, char **ret_uri, struct dv_error *err)
{
        _cleanup_(dv_vm_spec_freep) struct dv_vm_spec *spec = NULL;
        _cleanup_(vm_unrefp) struct vm *vm = NULL;
        _cleanup_(json_decrefp) json_t *args = NULL;
        _cleanup_(freep) char *uri = NULL;
        struct vm *old, *stale = NULL;
        int r;

        if (!addr || port < 1 || port > 65535)
                return dv_error_set(err, 400, "invalid-field", "bad migration address %s:%d",
                                    addr ? addr : "(none)", port);
        r = dv_vm_spec_parse(spec_json, &spec, err);
        if (r < 0)
                return r;
        vm = vm_new(hv, spec->id, spec->name, spec->uid);
        if (!vm)
                return -ENOMEM;
        vm->spec = TAKE_PTR(spec);
        vm->starting = true; /* hidden until migrate_finish */
        vm->incoming = true;
        vm_load_qos(vm);

        pthread_mutex_lock(&hv->lock);
        old = vm_find_locked(hv, vm->id);
        if (old) {
                bool gone;

                pthread_mutex_lock(&old->lock);
                gone = old->exited;
                pthread_mutex_unlock(&old->lock);
                if (!gone) {
                        pthread_mutex_unlock(&hv->lock);
                        return set_err(err, -EBUSY, 409, "invalid-state",
                                       "vm '%s' already has a QEMU on this host", vm->name);
                }
                vm_unlink_locked(hv, old);
                stale = old;
        }
        if (run_dir_live_pid(hv, vm->id, NULL) > 0) {
                pthread_mutex_unlock(&hv->lock);
                vm_unref(stale);
                return set_err(err, -EBUSY, 409, "invalid-state",
                               "vm '%s' already runs in a QEMU of this host", vm->name);
        }
        vm->refs++; /* the list's */
        vm->next = hv->vms;
        hv->vms = vm;
        pthread_mutex_unlock(&hv->lock);
        vm_unref(stale);

        r = vm_launch(vm, err);
        if (r < 0) {
                pthread_mutex_lock(&hv->lock);
                vm_unlink_locked(hv, vm);
                vm->refs--;
                pthread_mutex_unlock(&hv->lock);
                return r;
        }
        uri = dv_asprintf("tcp:%s:%d", addr, port);
        args = json_pack("{s:s}", "uri", uri);
        r = migrate_setup(vm, false, false, 0, channels, NULL, NULL, err);
        if (r >= 0)
                r = vm_exec(vm, "migrate-incoming", args, NULL, err);
        if (r < 0) {
                migrate_drop(vm);
                return r;
        }
        *ret_uri = TAKE_PTR(uri);
        return 0;
}

static json_t *migrate_stats(json_t *q)
{
        json_t *ram = json_object_get(q, "ram");

        return json_pack("{s:s?,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "status",
                         json_string_value(json_object_get(q, "status")), "total_ms",
                         json_integer_value(json_object_get(q, "total-time")), "downtime_ms",
                         json_integer_value(json_object_get(q, "downtime")), "setup_ms",
                         json_integer_value(json_object_get(q, "setup-time")), "transferred",
                         json_integer_value(json_object_get(ram, "transferred")), "normal_bytes",
                         json_integer_value(json_object_get(ram, "normal-bytes")), "remaining",
                         json_integer_value(json_object_get(ram, "remaining")), "total",
                         json_integer_value(json_object_get(ram, "total")), "dirty_pages_rate",
                         json_integer_value(json_object_get(ram, "dirty-pages-rate")), "passes",
                         json_integer_value(json_object_get(ram, "dirty-sync-count")), "mbps",
                         json_real_value(json_object_get(ram, "mbps")));
}

/* Cancel an outgoing migration. QEMU 7.2's migrate_cancel shuts down the
 * main channel but not the multifd ones: with the network cut (or the
 * target dead) their threads stay blocked in a send until TCP gives up,
 * many minutes, and the migration stays "cancelling". yank shuts every
 * channel of the migration down at once. */
static int migrate_yank(struct vm *vm)
{
        _cleanup_(json_decrefp) json_t *yank =
                json_pack("{s:[{s:s}]}", "instances", "type", "migration");

        return vm_exec(vm, "yank", yank, NULL, NULL);
}

static int migrate_cancel_hard(struct vm *vm, struct dv_error *err)
{
        int r = vm_exec(vm, "migrate_cancel", NULL, NULL, err);

        (void)migrate_yank(vm);
        return r;
}

/* Whether QEMU's outgoing migration STATUS (query-migrate) still runs:
 * QEMU refuses a new migrate then. "" (never migrated), "completed",
 * "failed" and "cancelled" do not. */
static bool migration_runs(const char *status)
{
        static const char *const running[] = {
                "setup", "active", "pre-switchover", "device", "wait-unplug", "cancelling",
                "postcopy-active", "postcopy-paused", "postcopy-recover", "colo",
        };

        for (size_t i = 0; i < ELEMENTSOF(running); i++)
                if (dv_streq(status, running[i]))
                        return true;
        return false;
}

/* 1 while QEMU holds the outgoing migration's yank instance (query-yank
 * lists {"type": "migration"}), 0 when not, < 0 when QMP does not answer.
 * QEMU 7.2 drops it only when the ended migration is cleaned up (its
 * multifd threads joined), a moment after query-migrate already says
 * "failed" or "cancelled". */
static int migrate_yank_registered(struct vm *vm)
{
        _cleanup_(json_decrefp) json_t *list = NULL;
        struct dv_error e = { 0 };
        json_t *inst;
        size_t i;
        int r;

        r = vm_exec(vm, "query-yank", NULL, &list, &e);
        if (r < 0)
                /* QEMU < 6.0: no yank, nothing held */
                return strstr(e.message, ": CommandNotFound:") ? 0 : r;
        json_array_foreach(list, i, inst)
                if (dv_streq(json_string_value(json_object_get(inst, "type")), "migration"))
                        return 1;
        return 0;
}

/* Bring QEMU's outgoing migration to rest before DEADLINE: it neither runs
 * (query-migrate) nor holds its yank instance. CANCEL: cancel it if it
 * still runs (a failed or cancelled migration of ours); without, only wait
 * (and yank the channels of one that already ended). QEMU's status ends in
 * STATUS ("" if QMP does not answer). 0 at rest, -ETIMEDOUT if not.
 *
 * Why: QEMU 7.2's migrate sets the status to "setup" before it registers
 * the yank instance; if that fails ("duplicate yank instance": the
 * previous migration not yet cleaned up) the command fails but the status
 * stays "setup" for good, and every later migrate is refused ("There's a
 * migration process in progress"); a migrate_cancel then only moves it to
 * "cancelling", for good too. So never start a migration before this
 * returns 0. A migration still connecting (the target unreachable: the
 * TCP connect waits for its timeout) cannot be yanked; it ends when the
 * connect fails. */
static int migrate_settle(struct vm *vm, bool cancel, int64_t deadline, char *status,
                          size_t len)
{
        for (;;) {
                bool runs;
                int yank;

                vm_migration_status(vm, status, len);
                runs = migration_runs(status);
                yank = migrate_yank_registered(vm);
                if (!runs && yank == 0)
                        return 0;
                if (dv_now_ms() >= deadline)
                        return -ETIMEDOUT;
                if (runs && cancel)
                        (void)vm_exec(vm, "migrate_cancel", NULL, NULL, NULL);
                if (yank > 0 && (cancel || !runs))
                        (void)migrate_yank(vm);
                usleep(MIGRATE_POLL_MS * 1000);
        }
}

/* After a failed or cancelled migration: the source must run again. */
static void migrate_resume_source(struct vm *vm)
{
        _cleanup_(json_decrefp) json_t *st = NULL;

        if (vm_exec(vm, "query-status", NULL, &st, NULL) >= 0 &&
            !dv_streq(json_string_value(json_object_get(st, "status")), "running"))
                (void)vm_exec(vm, "cont", NULL, NULL, NULL);
}

/* After a failed, timed-out or cancelled migration: cancel what still
 * runs, wait (bounded) until QEMU is at rest so that the next migration
 * can start (migrate_settle), and run the guest again. NOTE: "" or, if
 * QEMU did not come to rest, a sentence for the error message. */
static void migrate_abort(struct vm *vm, char *note, size_t len)
{
        char ms[32];

        note[0] = 0;
        if (migrate_settle(vm, true, dv_now_ms() + MIGRATE_SETTLE_MS, ms, sizeof(ms)) < 0)
                snprintf(note, len, "; QEMU's outgoing migration has not ended after %d s (%s)",
                         MIGRATE_SETTLE_MS / 1000, ms[0] ? ms : "no answer");
        migrate_resume_source(vm);
}

/* QEMU's connects to the target (URI tcp:ADDR:PORT) that still hang, its
 * main channel's or a multifd one's, are aborted: the migration fails at
 * once (ECONNABORTED) and QEMU comes to rest, where a cancel or a yank
 * cannot reach a connect in progress and the kernel would retry the SYNs
 * for minutes (a cut network, a firewall dropping the port). Only the
 * migrating QEMU connects to that port of the target, which the target's
 * agent chose for this migration alone. True if one was aborted. */
static bool migrate_abort_connects(const char *uri)
{
        const char *host = uri + 4, *colon = strrchr(uri, ':');
        char addr[INET_ADDRSTRLEN];
        struct in_addr a;
        int n = 0, r;

        if (!colon || colon <= host || (size_t)(colon - host) >= sizeof(addr))
                return false;
        memcpy(addr, host, (size_t)(colon - host));
        addr[colon - host] = 0;
        if (inet_pton(AF_INET, addr, &a) != 1)
                return false;
        /* A kernel without CONFIG_INET_DIAG_DESTROY (-EOPNOTSUPP): the
         * connect keeps waiting for the kernel to give up, as before. */
        r = dv_sockdiag_abort_connects(a, atoi(colon + 1), &n);
        return r >= 0 && n > 0;
}

static int qemu_migrate_out(struct dv_hv *hv, const char *vm_id, const char *uri, int timeout_s,
                            int64_t max_bandwidth, int channels, json_t **ret_stats,
                            struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = NULL;
        _cleanup_(json_decrefp) json_t *args = NULL, *q = NULL;
        int64_t deadline, t_connect;
        const char *status = NULL;
        char ms[32], note[96];
        bool mirrors, unreachable = false, multifd = false;
        int r;

        if (!uri || strncmp(uri, "tcp:", 4) != 0)
                return dv_error_set(err, 400, "invalid-field", "uri must be tcp:ADDR:PORT");
        if (timeout_s < 1 || timeout_s > MAX_STOP_TIMEOUT_S)
                timeout_s = 600;
        r = vm_get_running(hv, vm_id, &vm, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&vm->lock);
        mirrors = vm->n_mirrors > 0;
        pthread_mutex_unlock(&vm->lock);
        /* A previous migration (failed, cancelled) may still be cleaning
         * up: a migrate now would wedge QEMU (see migrate_settle), and
         * QEMU refuses new settings while one runs. */
        if (migrate_settle(vm, false, dv_now_ms() + MIGRATE_SETTLE_MS, ms, sizeof(ms)) < 0)
                return dv_error_set(err, 409, "migration-busy",
                                    "vm '%s': its previous outgoing migration has not ended "
                                    "after %d s (QEMU: %s%s); try again later", vm->name,
                                    MIGRATE_SETTLE_MS / 1000, ms[0] ? ms : "no answer",
                                    dv_streq(ms, "setup") || dv_streq(ms, "cancelling")
                                            ? ", still connecting to an unreachable target"
                                            : "");
        r = migrate_setup(vm, true, mirrors, max_bandwidth, channels, &channels, &multifd, err);
        if (r < 0)
                return r;
        args = json_pack("{s:s}", "uri", uri);
        if (!args)
                return -ENOMEM;
        r = vm_exec(vm, "migrate", args, NULL, err);
        if (r < 0) {
                /* Whatever refused it, leave QEMU at rest. */
                (void)migrate_settle(vm, true, dv_now_ms() + MIGRATE_SETTLE_MS, ms, sizeof(ms));
                return r;
        }
        deadline = dv_now_ms() + (int64_t)timeout_s * 1000;
        t_connect = dv_now_ms() + MIGRATE_CONNECT_MS;
        for (;;) {
                struct dv_error qerr = { 0 };

                json_decref(TAKE_PTR(q));
                r = vm_exec(vm, "query-migrate", NULL, &q, &qerr);
                status = r >= 0 ? json_string_value(json_object_get(q, "status")) : NULL;
                if (dv_streq(status, "completed") || dv_streq(status, "failed") ||
                    dv_streq(status, "cancelled"))
                        break;
                if (dv_streq(status, "pre-switchover")) {
                        /* The guest is paused: the write-blocking mirrors
                         * hold every write on both sides; end them keeping
                         * the source (the target's copies are in sync),
                         * disconnect from the target's NBD server, go on. */
                        _cleanup_(json_decrefp) json_t *cont =
                                json_pack("{s:s}", "state", "pre-switchover");
                        struct vm_mirror *m;
                        size_t n;

                        m = mirrors_take(vm, &n);
                        r = mirrors_cancel(vm, m, n, DV_MIRROR_SYNC, deadline, err);
                        if (r >= 0)
                                r = vm_exec(vm, "migrate-continue", cont, NULL, err);
                        if (r < 0) {
                                struct dv_error e = *err; /* not formatted into itself */

                                migrate_abort(vm, note, sizeof(note));
                                return dv_error_set(err, 502, "migration-failed",
                                                    "vm '%s': ending the disk mirrors at the "
                                                    "switchover: %s%s", vm->name, e.message, note);
                        }
                }
                /* QEMU connects its channels at the start only: one
                 * still connecting by now is not answered. */
                if (dv_now_ms() >= t_connect && migrate_abort_connects(uri))
                        unreachable = true;
                if (dv_now_ms() >= deadline) {
                        migrate_abort(vm, note, sizeof(note));
                        return dv_error_set(err, 504, "migration-timeout",
                                            "vm '%s': migration to %s not done after %d s%s",
                                            vm->name, uri, timeout_s, note);
                }
                /* With mirrors the guest waits paused in pre-switchover
                 * until we notice: look more often. */
                usleep((mirrors ? MIGRATE_POLL_MIRROR_MS : MIGRATE_POLL_MS) * 1000);
        }
        if (!dv_streq(status, "completed")) {
                const char *desc = json_string_value(json_object_get(q, "error-desc"));

                /* Failed on one channel: the multifd ones may still hang
                 * on a dead peer until yanked (see migrate_settle). */
                migrate_abort(vm, note, sizeof(note));
                if (unreachable)
                        return dv_error_set(err, 504, "migration-unreachable",
                                            "vm '%s': the target's migration address %s did not "
                                            "answer a connect within %d s (migration network "
                                            "cut, or a firewall dropping the port?): aborted%s",
                                            vm->name, uri + 4, MIGRATE_CONNECT_MS / 1000, note);
                return dv_error_set(err, 502, "migration-failed",
                                    "vm '%s': migration to %s %s%s%s%s", vm->name, uri, status,
                                    desc ? ": " : "", desc ? desc : "", note);
        }
        /* The target has the guest now, but has not said it runs it: the
         * source QEMU stays paused (postmigrate, disks inactive) until the
         * manager confirms (quit) or, the target gone, resumes it. */
        pthread_mutex_lock(&vm->lock);
        vm->held = true;
        pthread_mutex_unlock(&vm->lock);
        if (ret_stats) {
                *ret_stats = migrate_stats(q);
                if (*ret_stats) {
                        json_object_set_new(*ret_stats, "channels", json_integer(channels));
                        json_object_set_new(*ret_stats, "multifd", json_boolean(multifd));
                }
        }
        return 0;
}

static int qemu_migrate_status(struct dv_hv *hv, const char *vm_id, json_t **ret_stats,
                               struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = NULL;
        _cleanup_(json_decrefp) json_t *q = NULL;
        int r;

        r = vm_get_running(hv, vm_id, &vm, err);
        if (r >= 0)
                r = vm_exec(vm, "query-migrate", NULL, &q, err);
        if (r < 0)
                return r;
        *ret_stats = migrate_stats(q);
        return 0;
}

static int qemu_migrate_cancel(struct dv_hv *hv, const char *vm_id, struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = NULL;
        int r;

        r = vm_get_running(hv, vm_id, &vm, err);
        if (r < 0)
                return r;
        return migrate_cancel_hard(vm, err);
}

static const char *str_or_empty(const char *s)
{
        return s ? s : "";
}

/* QEMU's run state ("running", "inmigrate", "postmigrate", ...) into buf;
 * "" when QMP does not answer. */
static void vm_runstate(struct vm *vm, char *buf, size_t len)
{
        _cleanup_(json_decrefp) json_t *st = NULL;

        buf[0] = 0;
        if (vm_exec(vm, "query-status", NULL, &st, NULL) >= 0)
                snprintf(buf, len, "%s", str_or_empty(json_string_value(json_object_get(st, "status"))));
}

static void vm_migration_status(struct vm *vm, char *buf, size_t len)
{
        _cleanup_(json_decrefp) json_t *q = NULL;

        buf[0] = 0;
        if (vm_exec(vm, "query-migrate", NULL, &q, NULL) >= 0)
                snprintf(buf, len, "%s", str_or_empty(json_string_value(json_object_get(q, "status"))));
}

static int qemu_migrate_confirm(struct dv_hv *hv, const char *vm_id, struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = vm_id ? vm_find(hv, vm_id) : NULL;
        char rs[32], ms[32];
        bool exited, held;

        if (!vm)
                return 0;
        pthread_mutex_lock(&vm->lock);
        exited = vm->exited;
        held = vm->held;
        pthread_mutex_unlock(&vm->lock);
        if (exited)
                return 0;
        vm_runstate(vm, rs, sizeof(rs));
        vm_migration_status(vm, ms, sizeof(ms));
        /* An adopted QEMU (the agent restarted) is not marked held: its
         * run state tells. */
        if (!(held || dv_streq(rs, "postmigrate")) || dv_streq(rs, "running") ||
            !(dv_streq(ms, "completed") || dv_streq(rs, "postmigrate")))
                return set_err(err, -EBUSY, 409, "invalid-state",
                               "vm '%s' has not migrated out (run state %s, migration %s)",
                               vm->name, rs[0] ? rs : "unknown", ms[0] ? ms : "none");
        pthread_mutex_lock(&vm->lock);
        vm->migrated = true;
        vm->stop_requested = true;
        pthread_mutex_unlock(&vm->lock);
        if (vm_exec(vm, "quit", NULL, NULL, NULL) < 0 ||
            !vm_wait_flag(vm, &vm->exited, dv_now_ms() + QUIT_WAIT_MS))
                vm_kill_wait(vm);
        return 0;
}

static int qemu_migrate_resume(struct dv_hv *hv, const char *vm_id, bool force,
                               struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = NULL;
        int64_t deadline = dv_now_ms() + 30000;
        char rs[32], ms[32];
        int r;

        r = vm_get_running(hv, vm_id, &vm, err);
        if (r < 0)
                return r;
        for (;;) {
                vm_migration_status(vm, ms, sizeof(ms));
                if (!(dv_streq(ms, "setup") || dv_streq(ms, "active") ||
                      dv_streq(ms, "pre-switchover") || dv_streq(ms, "device") ||
                      dv_streq(ms, "wait-unplug") || dv_streq(ms, "cancelling")))
                        break;
                (void)migrate_cancel_hard(vm, NULL);
                if (dv_now_ms() >= deadline)
                        return dv_error_set(err, 504, "migration-timeout",
                                            "vm '%s': the outgoing migration does not end (%s)",
                                            vm->name, ms);
                usleep(MIGRATE_POLL_MS * 1000);
        }
        vm_runstate(vm, rs, sizeof(rs));
        if (!force && (dv_streq(ms, "completed") || dv_streq(rs, "postmigrate")))
                return set_err(err, -EBUSY, 409, "migration-completed",
                               "vm '%s': its migration completed, the target may run it",
                               vm->name);
        if (!dv_streq(rs, "running")) {
                r = vm_exec(vm, "cont", NULL, NULL, err);
                if (r < 0)
                        return r;
        }
        pthread_mutex_lock(&vm->lock);
        vm->held = false;
        pthread_mutex_unlock(&vm->lock);
        return 0;
}

static int qemu_migrate_query(struct dv_hv *hv, const char *vm_id, json_t **ret,
                              struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = vm_id ? vm_find(hv, vm_id) : NULL;
        char rs[32] = "", ms[32] = "";
        bool exited = true, incoming = false, held = false;

        if (vm) {
                pthread_mutex_lock(&vm->lock);
                exited = vm->exited;
                incoming = vm->incoming && vm->starting;
                held = vm->held;
                pthread_mutex_unlock(&vm->lock);
        }
        if (!exited) {
                vm_runstate(vm, rs, sizeof(rs));
                vm_migration_status(vm, ms, sizeof(ms));
        }
        *ret = json_pack("{s:b,s:b,s:s?,s:s?,s:b}", "present", !exited, "incoming",
                         !exited && (incoming || dv_streq(rs, "inmigrate")), "runstate",
                         rs[0] ? rs : NULL, "migration", ms[0] ? ms : NULL, "held",
                         !exited && (held || dv_streq(rs, "postmigrate")));
        return *ret ? 0 : -ENOMEM;
}

/* The guest's dirty rate (QEMU's calc-dirty-rate, page sampling over
 * calc_s seconds; reported in MiB/s) and its resident share of RAM, for
 * the migration prediction. */
static int qemu_migrate_measure(struct dv_hv *hv, const char *vm_id, int calc_s,
                                int64_t *ret_dirty_rate, double *ret_nonzero,
                                struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = NULL;
        _cleanup_(json_decrefp) json_t *args = NULL;
        int64_t rss_kib, deadline;
        int r;

        *ret_dirty_rate = -1;
        *ret_nonzero = 0;
        r = vm_get_running(hv, vm_id, &vm, err);
        if (r < 0)
                return r;
        rss_kib = proc_guest_rss_kib(vm->pid, vm->memory_mib);
        if (rss_kib > 0 && vm->memory_mib > 0)
                *ret_nonzero = DV_MIN(1.0, (double)rss_kib / (double)(vm->memory_mib * 1024));
        args = json_pack("{s:i}", "calc-time", calc_s);
        if (!args)
                return -ENOMEM;
        if (vm_exec(vm, "calc-dirty-rate", args, NULL, NULL) < 0)
                return 0; /* an older QEMU: the dirty rate stays unknown */
        deadline = dv_now_ms() + calc_s * 1000 + 3000;
        while (dv_now_ms() < deadline) {
                _cleanup_(json_decrefp) json_t *q = NULL;

                usleep(100 * 1000);
                if (vm_exec(vm, "query-dirty-rate", NULL, &q, NULL) < 0)
                        break;
                if (dv_streq(json_string_value(json_object_get(q, "status")), "measured")) {
                        json_t *rate = json_object_get(q, "dirty-rate");

                        if (json_is_integer(rate) && json_integer_value(rate) >= 0)
                                *ret_dirty_rate = json_integer_value(rate) << 20;
                        break;
                }
        }
        return 0;
}

static int qemu_migrate_finish(struct dv_hv *hv, const char *vm_id, int timeout_s,
                               json_t **ret_status, struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = vm_id ? vm_find(hv, vm_id) : NULL;
        _cleanup_(json_decrefp) json_t *announce = NULL;
        int64_t deadline;
        bool incoming, exited, nbd;

        if (!vm)
                return set_err(err, -ENOENT, 409, "invalid-state",
                               "no incoming migration of vm '%.64s' on this host",
                               vm_id ? vm_id : "");
        pthread_mutex_lock(&vm->lock);
        incoming = vm->incoming && vm->starting;
        exited = vm->exited;
        pthread_mutex_unlock(&vm->lock);
        if (!incoming && !exited) {
                /* Adopted by a restarted agent while still incoming. */
                char rs[32];

                vm_runstate(vm, rs, sizeof(rs));
                incoming = dv_streq(rs, "inmigrate");
        }
        if (!incoming && !exited) {
                if (ret_status)
                        *ret_status = vm_status(vm); /* finished already */
                return 0;
        }
        if (timeout_s < 1 || timeout_s > MAX_STOP_TIMEOUT_S)
                timeout_s = 60;
        deadline = dv_now_ms() + (int64_t)timeout_s * 1000;
        for (;;) {
                _cleanup_(json_decrefp) json_t *q = NULL, *st = NULL;
                const char *ms, *rs;

                pthread_mutex_lock(&vm->lock);
                exited = vm->exited;
                pthread_mutex_unlock(&vm->lock);
                if (exited) {
                        char tail[400];

                        qemu_log_tail(vm, tail, sizeof(tail));
                        migrate_drop(vm);
                        return dv_error_set(err, 502, "migration-failed",
                                            "vm '%s': the target QEMU exited: %s", vm->name,
                                            tail[0] ? tail : "(no output in qemu.log)");
                }
                if (vm_exec(vm, "query-migrate", NULL, &q, NULL) >= 0 &&
                    vm_exec(vm, "query-status", NULL, &st, NULL) >= 0) {
                        ms = json_string_value(json_object_get(q, "status"));
                        rs = json_string_value(json_object_get(st, "status"));
                        if (dv_streq(ms, "failed"))
                                break;
                        if (dv_streq(rs, "running"))
                                break;
                        /* Completed but not resumed (it was paused, or
                         * autostart is off): resume it. */
                        if (dv_streq(ms, "completed") && !dv_streq(rs, "inmigrate"))
                                (void)vm_exec(vm, "cont", NULL, NULL, NULL);
                }
                if (dv_now_ms() >= deadline)
                        return dv_error_set(err, 504, "migration-timeout",
                                            "vm '%s': incoming migration not done after %d s",
                                            vm->name, timeout_s);
                usleep(MIGRATE_POLL_MS * 1000);
        }
        {
                _cleanup_(json_decrefp) json_t *st = NULL;

                if (vm_exec(vm, "query-status", NULL, &st, err) < 0 ||
                    !dv_streq(json_string_value(json_object_get(st, "status")), "running"))
                        return dv_error_set(err, 502, "migration-failed",
                                            "vm '%s': incoming migration failed", vm->name);
        }
        pthread_mutex_lock(&vm->lock);
        nbd = vm->nbd;
        vm->nbd = false;
        pthread_mutex_unlock(&vm->lock);
        if (nbd)
                (void)vm_exec(vm, "nbd-server-stop", NULL, NULL, NULL);
        pthread_mutex_lock(&vm->lock);
        vm->starting = false;
        vm->incoming = false;
        vm_set_state_locked(vm, "running", NULL);
        pthread_mutex_unlock(&vm->lock);
        /* Gratuitous ARP/RARP from every NIC so that switches learn the
         * new path now. */
        announce = json_pack("{s:i,s:i,s:i,s:i}", "initial", 50, "max", 550, "rounds", 5,
                             "step", 100);
        (void)vm_exec(vm, "announce-self", announce, NULL, NULL);
        /* Throttles are host configuration, not migrated guest state. */
        (void)vm_apply_disk_qos(vm, NULL, NULL);
        vm_notify(vm, "running", NULL);
        if (ret_status)
                *ret_status = vm_status(vm);
        return 0;
}

static int qemu_nbd_export(struct dv_hv *hv, const char *vm_id, const char *addr, int port,
                           const int *disks, size_t n_disks, struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = vm_id ? vm_find(hv, vm_id) : NULL;
        _cleanup_(json_decrefp) json_t *start = NULL;
        char portstr[8];
        bool incoming;
        size_t n;
        int r;

        if (!vm)
                return set_err(err, -ENOENT, 409, "invalid-state",
                               "no incoming migration of vm '%.64s' on this host",
                               vm_id ? vm_id : "");
        if (!addr || port < 1 || port > 65535)
                return dv_error_set(err, 400, "invalid-field", "bad NBD address %s:%d",
                                    addr ? addr : "(none)", port);
        pthread_mutex_lock(&vm->lock);
        incoming = vm->incoming && vm->starting && !vm->nbd;
        pthread_mutex_unlock(&vm->lock);
        if (!incoming || !vm->spec)
                return set_err(err, -EBUSY, 409, "invalid-state",
                               "vm '%s' is not a migration target waiting for its disks",
                               vm->name);
        n = n_disks;
        for (size_t i = 0; i < n; i++)
                if (disks[i] < 0 || (size_t)disks[i] >= vm->spec->n_disks)
                        return dv_error_set(err, 400, "invalid-field", "vm '%s' has no disk%d",
                                            vm->name, disks[i]);
        if (n == 0)
                return dv_error_set(err, 400, "invalid-field", "no disk to export");
        snprintf(portstr, sizeof(portstr), "%d", port);
        /* One connection per disk: the source's mirror of that disk. */
        start = json_pack("{s:{s:s,s:{s:s,s:s}},s:i}", "addr", "type", "inet", "data", "host",
                          addr, "port", portstr, "max-connections", (int)n);
        r = vm_exec(vm, "nbd-server-start", start, NULL, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&vm->lock);
        vm->nbd = true;
        pthread_mutex_unlock(&vm->lock);
        for (size_t i = 0; i < n; i++) {
                char node[32], id[48];
                _cleanup_(json_decrefp) json_t *exp = NULL;

                snprintf(node, sizeof(node), "disk%d", disks[i]);
                snprintf(id, sizeof(id), "export-disk%d", disks[i]);
                exp = json_pack("{s:s,s:s,s:s,s:s,s:b}", "type", "nbd", "id", id, "node-name", node,
                                "name", node, "writable", 1);
                r = vm_exec(vm, "block-export-add", exp, NULL, err);
                if (r < 0)
                        return r; /* the caller aborts the target (and its server) */
        }
        return 0;
}

static int qemu_migrate_abort(struct dv_hv *hv, const char *vm_id, struct dv_error *err)
{
        _cleanup_(vm_unrefp) struct vm *vm = vm_id ? vm_find(hv, vm_id) : NULL;
        bool incoming;

        if (!vm)
                return 0;
        pthread_mutex_lock(&vm->lock);
        incoming = vm->incoming && vm->starting;
        pthread_mutex_unlock(&vm->lock);
        if (!incoming) {
                /* Adopted by a restarted agent while still incoming. */
                char rs[32];

                vm_runstate(vm, rs, sizeof(rs));
                incoming = dv_streq(rs, "inmigrate");
        }
        if (!incoming)
                return set_err(err, -EBUSY, 409, "invalid-state",
                               "vm '%s' runs on this host (not a migration target)", vm->name);
        migrate_drop(vm);
        return 0;
}

const struct dv_hv_ops dv_hv_qemu_ops = {
        .name = "qemu",
        .init = qemu_init,
        .adopt = qemu_adopt,
        .start = qemu_start,
        .stop = qemu_stop,
        .reboot = qemu_reboot,
        .console_ticket = qemu_console_ticket,
        .vnc_path = qemu_vnc_path,
        .list = qemu_list,
        .free = qemu_free,
        .set_cpus = qemu_set_cpus,
        .migrate_in = qemu_migrate_in,
        .migrate_out = qemu_migrate_out,
        .migrate_finish = qemu_migrate_finish,
        .migrate_abort = qemu_migrate_abort,
        .migrate_status = qemu_migrate_status,
        .migrate_cancel = qemu_migrate_cancel,
        .migrate_confirm = qemu_migrate_confirm,
        .migrate_resume = qemu_migrate_resume,
        .migrate_query = qemu_migrate_query,
        .migrate_measure = qemu_migrate_measure,
        .disk_info = qemu_disk_info,
        .mirror_start = qemu_mirror_start,
        .mirror_status = qemu_mirror_status,
        .mirror_finish = qemu_mirror_finish,
        .nbd_export = qemu_nbd_export,
        .set_qos = qemu_set_qos,
        .get_qos = qemu_get_qos,
        .set_balloon = qemu_set_balloon,
};
