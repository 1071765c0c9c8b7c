/* sysprobe: try one syscall inside a container and say how it went.
 *
 *   sysprobe keyctl | add_key | personality | perf_event_open
 *       prints "ok" (exit 0) or the errno's text (exit 1): what seccomp lets through.
 *   sysprobe session-keyring
 *       prints the description of the session keyring ("_ses.<id>" under dockyard).
 *   sysprobe read-key DESCRIPTION
 *       prints the payload of the "user" key DESCRIPTION found from the session keyring.
 *   sysprobe in-cgroupns PROGRAM [ARG...]
 *       runs PROGRAM in a new cgroup namespace (busybox's unshare has no -C).
 *
 * Static, so it runs in a busybox image; built by `make tests/helpers/bin/sysprobe`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>

static int report(long result)
{
    if (result < 0) {
        printf("%s\n", strerror(errno));
        return 1;
    }
    printf("ok\n");
    return 0;
}

static long try_perf_event_open(void)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_TASK_CLOCK;
    attr.exclude_kernel = 1;
    return syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
}

static int session_keyring(void)
{
    char description[256];
    long n = syscall(SYS_keyctl, KEYCTL_DESCRIBE, KEY_SPEC_SESSION_KEYRING, description,
                     sizeof description - 1);
    if (n < 0)
        return report(n);
    description[n < (long)sizeof description ? n : (long)sizeof description - 1] = 0;
    /* "type;uid;gid;perm;description": the description is what follows the fourth ';'. */
    char *name = description;
    for (int i = 0; i < 4 && name; i++) {
        name = strchr(name, ';');
        if (name)
            name++;
    }
    printf("%s\n", name ? name : description);
    return 0;
}

static int read_key(const char *description)
{
    char payload[256];
    long key = syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, "user", description, 0);
    if (key < 0)
        return report(key);
    long n = syscall(SYS_keyctl, KEYCTL_READ, key, payload, sizeof payload - 1);
    if (n < 0)
        return report(n);
    payload[n < (long)sizeof payload ? n : (long)sizeof payload - 1] = 0;
    printf("%s\n", payload);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: sysprobe keyctl|add_key|personality|perf_event_open|"
                        "session-keyring|read-key DESCRIPTION|in-cgroupns PROGRAM...\n");
        return 2;
    }
    const char *what = argv[1];
    if (!strcmp(what, "keyctl"))
        return report(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    if (!strcmp(what, "add_key"))
        return report(syscall(SYS_add_key, "user", "sysprobe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
    if (!strcmp(what, "personality"))
        return report(personality(PER_BSD)); /* not one of the personas Docker's profile allows */
    if (!strcmp(what, "perf_event_open"))
        return report(try_perf_event_open());
    if (!strcmp(what, "session-keyring"))
        return session_keyring();
    if (!strcmp(what, "read-key") && argc == 3)
        return read_key(argv[2]);
    if (!strcmp(what, "in-cgroupns") && argc > 2) {
        if (unshare(CLONE_NEWCGROUP) < 0)
            return report(-1);
        execvp(argv[2], argv + 2);
        return report(-1);
    }
    fprintf(stderr, "sysprobe: unknown probe %s\n", what);
    return 2;
}
