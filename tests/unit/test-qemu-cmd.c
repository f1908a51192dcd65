/* Unit tests of the SPEC validation and the QEMU command line
 * (src/agent/qemu-cmd.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "qemu-cmd.h"

#define VM_ID "6f1c2a3b-1111-4222-8333-444455556666"
#define RUN "/run/drover/vms"
#define DIR RUN "/" VM_ID

static const char *typical_spec =
        "{\"id\": \"" VM_ID "\", \"name\": \"web-1\", \"uid\": 100001,"
        " \"cpus\": 2, \"max_cpus\": 4, \"memory_mib\": 512,"
        " \"disks\": [{\"path\": \"/var/lib/drover/ds/local/web-1/disk0.qcow2\", \"format\": \"qcow2\"},"
        "             {\"path\": \"/var/lib/drover/ds/local/web-1/disk1.img\", \"format\": \"raw\"}],"
        " \"nics\": [{\"mac\": \"52:54:00:AB:cd:01\", \"portgroup\": \"pg-web\", \"vlan\": 10, \"bridge\": \"dvs0\"},"
        "            {\"mac\": \"52:54:00:ab:cd:02\", \"portgroup\": \"pg-db\", \"vlan\": 20}],"
        " \"boot\": {\"kind\": \"kernel\", \"kernel\": \"/var/lib/drover/images/default/vmlinuz\","
        "           \"initrd\": \"/var/lib/drover/images/default/initrd.img\","
        "           \"cmdline\": \"console=ttyS0 quiet drover.net=a,b\"}}";

static const char *const typical_argv_tcg[] = {
        "/usr/bin/qemu-system-x86_64",
        "-name", "guest=web-1,debug-threads=on",
        "-uuid", VM_ID,
        "-machine", "q35,accel=tcg",
        "-cpu", "max",
        "-smp", "2,maxcpus=4",
        "-m", "512",
        "-nodefaults",
        "-no-user-config",
        "-display", "none",
        "-msg", "timestamp=on",
        "-pidfile", DIR "/qemu.pid",
        "-chardev", "socket,id=qmp,path=" DIR "/qmp.sock,server=on,wait=off",
        "-mon", "chardev=qmp,mode=control",
        "-chardev", "file,id=serial0,path=" DIR "/console.log,append=on",
        "-serial", "chardev:serial0",
        "-device", "virtio-serial-pci,id=vser0",
        "-chardev", "socket,id=tools0,path=" DIR "/tools.sock,server=on,wait=off",
        "-device", "virtserialport,bus=vser0.0,chardev=tools0,id=tools0,name=org.drover.tools.0",
        "-device", "virtio-balloon-pci,id=balloon0",
        "-device", "pvpanic",
        "-action", "panic=pause",
        "-device", "VGA,id=video0",
        "-vnc", "unix:" DIR "/vnc.sock,password=on",
        "-blockdev", "{\"node-name\":\"disk0\",\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\","
                     "\"filename\":\"/var/lib/drover/ds/local/web-1/disk0.qcow2\"}}",
        "-device", "virtio-blk-pci,drive=disk0,id=virtio-disk0",
        "-blockdev", "{\"node-name\":\"disk1\",\"driver\":\"raw\",\"file\":{\"driver\":\"file\","
                     "\"filename\":\"/var/lib/drover/ds/local/web-1/disk1.img\"}}",
        "-device", "virtio-blk-pci,drive=disk1,id=virtio-disk1",
        "-netdev", "tap,id=net0,fd=3,vhost=off",
        "-device", "virtio-net-pci,netdev=net0,id=nic0,mac=52:54:00:ab:cd:01",
        "-kernel", "/var/lib/drover/images/default/vmlinuz",
        "-initrd", "/var/lib/drover/images/default/initrd.img",
        "-append", "console=ttyS0 quiet drover.net=a,b",
        "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
        NULL,
};

static json_t *load_spec(const char *text)
{
        json_error_t je;
        json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);

        if (!j)
                fail_msg("bad test JSON: %s", je.text);
        return j;
}

static struct dv_vm_spec *parse_ok(const char *text)
{
        _cleanup_(json_decrefp) json_t *j = load_spec(text);
        struct dv_vm_spec *spec = NULL;
        struct dv_error err = { 0 };
        int r = dv_vm_spec_parse(j, &spec, &err);

        if (r < 0)
                fail_msg("spec refused: %s: %s", err.code, err.message);
        return spec;
}

static void assert_argv(char **argv, const char *const *want)
{
        size_t i;

        for (i = 0; want[i]; i++) {
                if (!argv[i])
                        fail_msg("argv ends at %zu, want '%s'", i, want[i]);
                if (strcmp(argv[i], want[i]) != 0)
                        fail_msg("argv[%zu] = '%s', want '%s'", i, argv[i], want[i]);
        }
        if (argv[i])
                fail_msg("argv[%zu] = '%s' is extra", i, argv[i]);
}

static bool argv_has(char **argv, const char *opt, const char *val)
{
        for (size_t i = 0; argv[i] && argv[i + 1]; i++)
                if (strcmp(argv[i], opt) == 0 && (!val || strcmp(argv[i + 1], val) == 0))
                        return true;
        return false;
}

static void test_typical_tcg(void **state)
{
        _cleanup_(dv_vm_spec_freep) struct dv_vm_spec *spec = parse_ok(typical_spec);
        _cleanup_(dv_strv_freep) char **argv = NULL;
        struct dv_qemu_config cfg = {
                .qemu_bin = "/usr/bin/qemu-system-x86_64",
                .run_dir = RUN,
                .accel = "tcg",
                .sandbox = true,
        };
        struct dv_error err = { 0 };

        assert_string_equal(spec->id, VM_ID);
        assert_string_equal(spec->name, "web-1");
        assert_int_equal(spec->uid, 100001);
        assert_int_equal(spec->n_disks, 2);
        assert_int_equal(spec->n_nics, 2);
        assert_string_equal(spec->nics[0].mac, "52:54:00:ab:cd:01");
        assert_int_equal(spec->nics[0].vlan, 10);
        assert_string_equal(spec->nics[0].portgroup, "pg-web");
        assert_null(spec->nics[1].bridge);
        assert_int_equal(spec->boot, DV_VM_BOOT_KERNEL);

        assert_int_equal(dv_qemu_build_argv(spec, &cfg, &argv, &err), 0);
        assert_argv(argv, typical_argv_tcg);
}

static void test_kvm_no_sandbox(void **state)
{
        _cleanup_(dv_vm_spec_freep) struct dv_vm_spec *spec = parse_ok(typical_spec);
        _cleanup_(dv_strv_freep) char **argv = NULL;
        struct dv_qemu_config cfg = {
                .qemu_bin = "qemu-system-x86_64", .run_dir = RUN, .accel = "kvm",
        };

        assert_int_equal(dv_qemu_build_argv(spec, &cfg, &argv, NULL), 0);
        assert_true(argv_has(argv, "-machine", "q35,accel=kvm"));
        assert_true(argv_has(argv, "-cpu", "host"));
        assert_false(argv_has(argv, "-cpu", "max"));
        assert_false(argv_has(argv, "-sandbox", NULL));
        assert_false(argv_has(argv, "-daemonize", NULL) || argv_has(argv, "-nographic", NULL));
}

static void test_disk_boot_minimal(void **state)
{
        _cleanup_(dv_vm_spec_freep) struct dv_vm_spec *spec = parse_ok(
                "{\"id\": \"" VM_ID "\", \"name\": \"a\", \"uid\": 200000, \"cpus\": 1,"
                " \"memory_mib\": 16, \"disks\": [{\"path\": \"/d/x.qcow2\"}],"
                " \"boot\": {\"kind\": \"disk\"}}");
        _cleanup_(dv_strv_freep) char **argv = NULL;
        struct dv_qemu_config cfg = { .qemu_bin = "q", .run_dir = "/r", .accel = "tcg" };

        assert_int_equal(spec->max_cpus, 1);
        assert_string_equal(spec->disks[0].format, "qcow2");
        assert_int_equal(dv_qemu_build_argv(spec, &cfg, &argv, NULL), 0);
        assert_true(argv_has(argv, "-smp", "1,maxcpus=1"));
        assert_true(argv_has(argv, "-device", "virtio-blk-pci,drive=disk0,id=virtio-disk0,bootindex=1"));
        assert_false(argv_has(argv, "-kernel", NULL));
        assert_false(argv_has(argv, "-netdev", NULL));
}

/* --no-image-locking (HA tests): the file node gets "locking":"off"; a
 * spec's "lease" is the agent's business, not QEMU's. */
static void test_no_locking(void **state)
{
        _cleanup_(dv_vm_spec_freep) struct dv_vm_spec *spec = parse_ok(
                "{\"id\": \"" VM_ID "\", \"name\": \"a\", \"uid\": 200000, \"cpus\": 1,"
                " \"memory_mib\": 16, \"disks\": [{\"path\": \"/d/x.qcow2\"}],"
                " \"boot\": {\"kind\": \"disk\"}, \"lease\": {\"datastore\": \"shared\"}}");
        _cleanup_(dv_strv_freep) char **argv = NULL;
        struct dv_qemu_config cfg = { .qemu_bin = "q", .run_dir = "/r", .accel = "tcg",
                                      .no_locking = true };

        (void)state;
        assert_int_equal(dv_qemu_build_argv(spec, &cfg, &argv, NULL), 0);
        assert_true(argv_has(argv, "-blockdev",
                             "{\"node-name\":\"disk0\",\"driver\":\"qcow2\",\"file\":{\"driver\":"
                             "\"file\",\"filename\":\"/d/x.qcow2\",\"locking\":\"off\"}}"));
}

/* The tap of NIC i is fd 3 + i; NICs without a bridge are left out. */
static void test_nic_fds(void **state)
{
        _cleanup_(dv_vm_spec_freep) struct dv_vm_spec *spec = parse_ok(
                "{\"id\": \"" VM_ID "\", \"name\": \"a\", \"uid\": 200000, \"cpus\": 1,"
                " \"memory_mib\": 64, \"boot\": {\"kind\": \"kernel\", \"kernel\": \"/k\"},"
                " \"nics\": [{\"mac\": \"52:54:00:00:00:01\"},"
                "            {\"mac\": \"52:54:00:00:00:02\", \"vlan\": null, \"bridge\": null},"
                "            {\"mac\": \"52:54:00:00:00:03\", \"bridge\": \"br-lab.1\"}]}");
        _cleanup_(dv_strv_freep) char **argv = NULL;
        struct dv_qemu_config cfg = { .qemu_bin = "q", .run_dir = "/r", .accel = "tcg" };
        int n = 0;

        assert_int_equal(spec->nics[0].vlan, -1);
        assert_int_equal(dv_qemu_build_argv(spec, &cfg, &argv, NULL), 0);
        for (size_t i = 0; argv[i]; i++)
                n += strcmp(argv[i], "-netdev") == 0;
        assert_int_equal(n, 1);
        assert_true(argv_has(argv, "-netdev", "tap,id=net2,fd=5,vhost=off"));
        assert_true(argv_has(argv, "-device", "virtio-net-pci,netdev=net2,id=nic2,mac=52:54:00:00:00:03"));
        assert_false(argv_has(argv, "-initrd", NULL));
        assert_false(argv_has(argv, "-append", NULL));
}

/* A spec with no boot object boots from disk, and needs one. */
static void test_boot_default(void **state)
{
        _cleanup_(dv_vm_spec_freep) struct dv_vm_spec *spec = parse_ok(
                "{\"id\": \"" VM_ID "\", \"name\": \"a\", \"uid\": 200000, \"cpus\": 1,"
                " \"memory_mib\": 64, \"disks\": [{\"path\": \"/d/x.qcow2\"}], \"nics\": []}");

        assert_int_equal(spec->boot, DV_VM_BOOT_DISK);
        assert_int_equal(spec->n_nics, 0);
}

struct bad_case {
        const char *json;   /* the spec */
        const char *code;   /* expected error code */
        const char *needle; /* expected in the message */
};

#define HEAD "\"id\": \"" VM_ID "\", \"name\": \"a\", \"uid\": 100000, \"cpus\": 1, \"memory_mib\": 64"
#define KBOOT "\"boot\": {\"kind\": \"kernel\", \"kernel\": \"/k\"}"

static const struct bad_case bad_cases[] = {
        { "[]", "invalid-json", "JSON object" },
        { "{" HEAD ", " KBOOT ", \"extra\": 1}", "unknown-field", "'extra'" },
        { "{\"name\": \"a\", \"uid\": 100000, \"cpus\": 1, \"memory_mib\": 64, " KBOOT "}",
          "missing-field", "'id'" },
        { "{\"id\": \"vm-1\", \"name\": \"a\", \"uid\": 100000, \"cpus\": 1, \"memory_mib\": 64, " KBOOT "}",
          "invalid-field", "not a UUID" },
        { "{\"id\": \"" VM_ID "\", \"name\": \"a b\", \"uid\": 100000, \"cpus\": 1, \"memory_mib\": 64, " KBOOT "}",
          "invalid-name", "'name'" },
        { "{\"id\": \"" VM_ID "\", \"name\": \"a,b\", \"uid\": 100000, \"cpus\": 1, \"memory_mib\": 64, " KBOOT "}",
          "invalid-name", "'name'" },
        { "{\"id\": \"" VM_ID "\", \"name\": \"a\", \"uid\": 0, \"cpus\": 1, \"memory_mib\": 64, " KBOOT "}",
          "out-of-range", "'uid'" },
        { "{\"id\": \"" VM_ID "\", \"name\": \"a\", \"uid\": 99999, \"cpus\": 1, \"memory_mib\": 64, " KBOOT "}",
          "out-of-range", "'uid'" },
        { "{\"id\": \"" VM_ID "\", \"name\": \"a\", \"uid\": \"100000\", \"cpus\": 1, \"memory_mib\": 64, " KBOOT "}",
          "invalid-field", "'uid'" },
        { "{\"id\": \"" VM_ID "\", \"name\": \"a\", \"uid\": 100000, \"cpus\": 0, \"memory_mib\": 64, " KBOOT "}",
          "out-of-range", "'cpus'" },
        { "{\"id\": \"" VM_ID "\", \"name\": \"a\", \"uid\": 100000, \"cpus\": 65, \"memory_mib\": 64, " KBOOT "}",
          "out-of-range", "'cpus'" },
        { "{" HEAD ", \"max_cpus\": 0, " KBOOT "}", "out-of-range", "'max_cpus'" },
        { "{" HEAD ", \"max_cpus\": 65, " KBOOT "}", "out-of-range", "'max_cpus'" },
        { "{\"id\": \"" VM_ID "\", \"name\": \"a\", \"uid\": 100000, \"cpus\": 1, \"memory_mib\": 15, " KBOOT "}",
          "out-of-range", "'memory_mib'" },
        { "{\"id\": \"" VM_ID "\", \"name\": \"a\", \"uid\": 100000, \"cpus\": 1, \"memory_mib\": 1048577, " KBOOT "}",
          "out-of-range", "'memory_mib'" },
        { "{" HEAD ", \"disks\": {}, " KBOOT "}", "invalid-field", "'disks' must be an array" },
        { "{" HEAD ", \"disks\": [1], " KBOOT "}", "invalid-field", "disks[0] must be an object" },
        { "{" HEAD ", \"disks\": [{}], " KBOOT "}", "missing-field", "disks[0]: field 'path'" },
        { "{" HEAD ", \"disks\": [{\"path\": \"rel/x\"}], " KBOOT "}", "invalid-field", "disks[0].path" },
        { "{" HEAD ", \"disks\": [{\"path\": \"/a,b\"}], " KBOOT "}", "invalid-field", "usable absolute path" },
        { "{" HEAD ", \"disks\": [{\"path\": \"/a/../etc/shadow\"}], " KBOOT "}", "invalid-field", "'..'" },
        { "{" HEAD ", \"disks\": [{\"path\": \"/a b\"}], " KBOOT "}", "invalid-field", "disks[0].path" },
        { "{" HEAD ", \"disks\": [{\"path\": \"/a/\"}], " KBOOT "}", "invalid-field", "disks[0].path" },
        { "{" HEAD ", \"disks\": [{\"path\": \"/a\", \"format\": \"vmdk\"}], " KBOOT "}",
          "invalid-field", "not qcow2 or raw" },
        { "{" HEAD ", \"disks\": [{\"path\": \"/a\", \"size\": 1}], " KBOOT "}", "unknown-field",
          "disks[0]: unknown field 'size'" },
        { "{" HEAD ", \"disks\": [{\"path\": \"/a\"}, {\"path\": \"/a\"}], " KBOOT "}",
          "invalid-field", "is also disks[0]" },
        { "{" HEAD ", \"disks\": [{\"path\":\"/1\"},{\"path\":\"/2\"},{\"path\":\"/3\"},{\"path\":\"/4\"},"
          "{\"path\":\"/5\"},{\"path\":\"/6\"},{\"path\":\"/7\"},{\"path\":\"/8\"},{\"path\":\"/9\"},"
          "{\"path\":\"/10\"},{\"path\":\"/11\"},{\"path\":\"/12\"},{\"path\":\"/13\"},{\"path\":\"/14\"},"
          "{\"path\":\"/15\"},{\"path\":\"/16\"},{\"path\":\"/17\"}], " KBOOT "}",
          "out-of-range", "at most 16" },
        { "{" HEAD ", \"nics\": [{}], " KBOOT "}", "missing-field", "nics[0]: field 'mac'" },
        { "{" HEAD ", \"nics\": [{\"mac\": \"52:54:00:12:34\"}], " KBOOT "}", "invalid-field", "not a unicast MAC" },
        { "{" HEAD ", \"nics\": [{\"mac\": \"52-54-00-12-34-56\"}], " KBOOT "}", "invalid-field", "not a unicast MAC" },
        { "{" HEAD ", \"nics\": [{\"mac\": \"52:54:00:12:34:5g\"}], " KBOOT "}", "invalid-field", "not a unicast MAC" },
        { "{" HEAD ", \"nics\": [{\"mac\": \"01:00:5e:00:00:01\"}], " KBOOT "}", "invalid-field", "not a unicast MAC" },
        { "{" HEAD ", \"nics\": [{\"mac\": \"52:54:00:12:34:56\"}, {\"mac\": \"52:54:00:12:34:56\"}], " KBOOT "}",
          "invalid-field", "is also nics[0]" },
        { "{" HEAD ", \"nics\": [{\"mac\": \"52:54:00:12:34:56\", \"vlan\": 4095}], " KBOOT "}",
          "out-of-range", "nics[0]: field 'vlan'" },
        { "{" HEAD ", \"nics\": [{\"mac\": \"52:54:00:12:34:56\", \"bridge\": \"a-very-long-bridge\"}], " KBOOT "}",
          "invalid-field", "nics[0].bridge" },
        { "{" HEAD ", \"nics\": [{\"mac\": \"52:54:00:12:34:56\", \"bridge\": \"br 0\"}], " KBOOT "}",
          "invalid-field", "nics[0].bridge" },
        { "{" HEAD ", \"nics\": [{\"mac\": \"52:54:00:12:34:56\", \"portgroup\": \"p/g\"}], " KBOOT "}",
          "invalid-name", "nics[0]: field 'portgroup'" },
        { "{" HEAD ", \"nics\": [{\"mac\":\"52:54:00:00:00:01\"},{\"mac\":\"52:54:00:00:00:02\"},"
          "{\"mac\":\"52:54:00:00:00:03\"},{\"mac\":\"52:54:00:00:00:04\"},{\"mac\":\"52:54:00:00:00:05\"},"
          "{\"mac\":\"52:54:00:00:00:06\"},{\"mac\":\"52:54:00:00:00:07\"},{\"mac\":\"52:54:00:00:00:08\"},"
          "{\"mac\":\"52:54:00:00:00:09\"}], " KBOOT "}",
          "out-of-range", "at most 8" },
        { "{" HEAD "}", "missing-field", "no disks" },
        { "{" HEAD ", \"boot\": {\"kind\": \"pxe\"}}", "invalid-field", "not kernel or disk" },
        { "{" HEAD ", \"boot\": {\"kind\": \"kernel\"}}", "missing-field", "boot: field 'kernel'" },
        { "{" HEAD ", \"boot\": {\"kind\": \"disk\", \"kernel\": \"/k\"}, \"disks\": [{\"path\": \"/a\"}]}",
          "unknown-field", "boot: unknown field 'kernel'" },
        { "{" HEAD ", \"boot\": {\"kind\": \"kernel\", \"kernel\": \"/k\", \"cmdline\": \"a\\nb\"}}",
          "invalid-field", "printable ASCII" },
        { "{" HEAD ", \"boot\": {\"kind\": \"kernel\", \"kernel\": \"/k\", \"initrd\": \"initrd\"}}",
          "invalid-field", "boot.initrd" },
};

static void test_invalid_specs(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                _cleanup_(json_decrefp) json_t *j = load_spec(bad_cases[i].json);
                struct dv_vm_spec *spec = NULL;
                struct dv_error err = { 0 };

                if (dv_vm_spec_parse(j, &spec, &err) >= 0)
                        fail_msg("case %zu accepted: %s", i, bad_cases[i].json);
                assert_null(spec);
                assert_int_equal(err.status, 400);
                if (strcmp(err.code, bad_cases[i].code) != 0 ||
                    !strstr(err.message, bad_cases[i].needle))
                        fail_msg("case %zu: got %s '%s', want %s '...%s...'", i, err.code,
                                 err.message, bad_cases[i].code, bad_cases[i].needle);
        }
}

static void test_cmdline_bound(void **state)
{
        char cmd[DV_VM_MAX_CMDLINE + 1];
        _cleanup_(json_decrefp) json_t *j = load_spec("{" HEAD ", " KBOOT "}");
        struct dv_vm_spec *spec = NULL;
        struct dv_error err = { 0 };

        memset(cmd, 'a', sizeof(cmd) - 1);
        cmd[sizeof(cmd) - 1] = 0;
        json_object_set_new(json_object_get(j, "boot"), "cmdline", json_string(cmd));
        assert_true(dv_vm_spec_parse(j, &spec, &err) < 0);
        assert_string_equal(err.code, "out-of-range");
        cmd[DV_VM_MAX_CMDLINE - 1] = 0;
        json_object_set_new(json_object_get(j, "boot"), "cmdline", json_string(cmd));
        assert_int_equal(dv_vm_spec_parse(j, &spec, &err), 0);
        dv_vm_spec_free(spec);
}

static void test_bad_config(void **state)
{
        _cleanup_(dv_vm_spec_freep) struct dv_vm_spec *spec = parse_ok(typical_spec);
        char **argv = NULL;
        struct dv_error err = { 0 };
        char longdir[128];
        struct dv_qemu_config cfg = { .qemu_bin = "q", .run_dir = "/r,un", .accel = "tcg" };

        assert_true(dv_qemu_build_argv(spec, &cfg, &argv, &err) < 0);
        assert_non_null(strstr(err.message, "run dir"));
        memset(longdir, 'x', sizeof(longdir) - 1);
        longdir[0] = '/';
        longdir[sizeof(longdir) - 1] = 0;
        cfg.run_dir = longdir;
        assert_true(dv_qemu_build_argv(spec, &cfg, &argv, &err) < 0);
        assert_non_null(strstr(err.message, "too long for UNIX socket paths"));
        cfg.run_dir = "/r";
        cfg.accel = "auto";
        assert_true(dv_qemu_build_argv(spec, &cfg, &argv, &err) < 0);
        assert_non_null(strstr(err.message, "not resolved"));
        assert_null(argv);
}

static void touch(const char *root, const char *rel, bool dir)
{
        _cleanup_(freep) char *p = dv_asprintf("%s%s", root, rel);

        if (dir) {
                assert_int_equal(dv_mkdir_p(p, 0755), 0);
        } else {
                int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
                assert_true(fd >= 0);
                close(fd);
        }
}

static void test_resolve_accel(void **state)
{
        char root[] = "/tmp/test-qemu-cmd.XXXXXX";
        const char *accel = NULL;

        assert_non_null(mkdtemp(root));
        touch(root, "/sys/module/kvm", true);
        touch(root, "/sys/module/kvm_pvm", true);
        touch(root, "/dev", true);
        touch(root, "/dev/kvm", false);

        /* A PVM-only /dev/kvm: TCG. */
        assert_int_equal(dv_qemu_resolve_accel("auto", root, &accel), 0);
        assert_string_equal(accel, "tcg");
        /* kvm_intel loaded: KVM. */
        touch(root, "/sys/module/kvm_intel", true);
        assert_int_equal(dv_qemu_resolve_accel("auto", root, &accel), 0);
        assert_string_equal(accel, "kvm");
        /* ... but not without /dev/kvm. */
        {
                _cleanup_(freep) char *p = dv_asprintf("%s/dev/kvm", root);
                unlink(p);
        }
        assert_int_equal(dv_qemu_resolve_accel("auto", root, &accel), 0);
        assert_string_equal(accel, "tcg");
        /* kvm_amd counts too. */
        {
                _cleanup_(freep) char *p = dv_asprintf("%s/sys/module/kvm_intel", root);
                rmdir(p);
        }
        touch(root, "/sys/module/kvm_amd", true);
        touch(root, "/dev/kvm", false);
        assert_int_equal(dv_qemu_resolve_accel("auto", root, &accel), 0);
        assert_string_equal(accel, "kvm");
        /* Explicit settings stay. */
        assert_int_equal(dv_qemu_resolve_accel("tcg", root, &accel), 0);
        assert_string_equal(accel, "tcg");
        assert_int_equal(dv_qemu_resolve_accel("kvm", "/nonexistent", &accel), 0);
        assert_string_equal(accel, "kvm");
        assert_int_equal(dv_qemu_resolve_accel("hvf", root, &accel), -EINVAL);
        assert_int_equal(dv_qemu_resolve_accel(NULL, root, &accel), -EINVAL);
        assert_int_equal(dv_rm_rf(root), 0);
}

static void test_tap_name(void **state)
{
        char tap[DV_TAP_NAME_MAX];

        dv_qemu_tap_name(VM_ID, 0, tap);
        assert_string_equal(tap, "dv6f1c2a3b11110");
        assert_true(strlen(tap) <= 15);
        dv_qemu_tap_name("6F1C2A3B-1111-4222-8333-444455556666", 7, tap);
        assert_string_equal(tap, "dv6f1c2a3b11117");
}

static void test_mac_valid(void **state)
{
        assert_true(dv_mac_valid("52:54:00:12:34:56"));
        assert_true(dv_mac_valid("FE:54:00:12:34:56"));
        assert_false(dv_mac_valid("53:54:00:12:34:56"));   /* multicast */
        assert_false(dv_mac_valid("ff:ff:ff:ff:ff:ff"));
        assert_false(dv_mac_valid("52:54:00:12:34:567"));
        assert_false(dv_mac_valid("52:54:00:12:34"));
        assert_false(dv_mac_valid("52:54:00:12:34:5 "));
        assert_false(dv_mac_valid(NULL));
}

static void test_vm_path(void **state)
{
        _cleanup_(freep) char *p = dv_qemu_vm_path("/run/x", VM_ID, DV_QEMU_QMP_SOCK);

        assert_string_equal(p, "/run/x/" VM_ID "/qmp.sock");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_typical_tcg),
                cmocka_unit_test(test_kvm_no_sandbox),
                cmocka_unit_test(test_disk_boot_minimal),
                cmocka_unit_test(test_no_locking),
                cmocka_unit_test(test_nic_fds),
                cmocka_unit_test(test_boot_default),
                cmocka_unit_test(test_invalid_specs),
                cmocka_unit_test(test_cmdline_bound),
                cmocka_unit_test(test_bad_config),
                cmocka_unit_test(test_resolve_accel),
                cmocka_unit_test(test_tap_name),
                cmocka_unit_test(test_mac_valid),
                cmocka_unit_test(test_vm_path),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
