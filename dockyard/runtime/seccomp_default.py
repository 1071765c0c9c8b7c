"""Docker's default seccomp profile, as data in Docker's profile format.

The semantics of moby's ``profiles/seccomp`` default: everything not listed
fails with EPERM; a long list of ordinary syscalls is allowed outright; a
few are allowed only with given arguments (``socket`` but for AF_ALG and
AF_VSOCK, ``personality`` with the personas programs really ask for,
``clone`` without namespace flags); the syscalls behind a capability
(``mount``, ``unshare``, ``setns``, ``bpf``, ``ptrace``...) are allowed only to
a container whose bounding set holds it (``includes.caps``), and clone3,
whose flags BPF cannot see, answers ENOSYS without CAP_SYS_ADMIN so that libc
falls back to clone. Not in any list, hence refused: ``keyctl``, ``add_key``,
``request_key`` (the kernel keyrings are not namespaced), ``userfaultfd``,
``kexec_*``, ``swapon``, ``pivot_root``, ``open_by_handle_at`` without
CAP_DAC_READ_SEARCH...

``seccomp_profile.to_oci`` resolves the conditional rules for one container.
"""

from __future__ import annotations

import errno
from typing import Any

# socket(2) address families the profile keeps from containers (linux/socket.h).
AF_ALG = 38
AF_VSOCK = 40
# personality(2) values the profile allows (linux/personality.h): PER_LINUX,
# PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and 0xffffffff (query the current one).
_PERSONAS = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
# Any of CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
_CLONE_NAMESPACE_FLAGS = 0x7E020000

_ALLOWED = """
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2
dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat
fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64
fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64
futex_wait futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32
geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp
getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit
get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday
getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init inotify_init1
inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64
ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule landlock_create_ruleset
landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listmount listxattr
listxattrat llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock
mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget
msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect
open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free
pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease
pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv
recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat rename
renameat renameat2 restart_syscall riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending
rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64
rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max
sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64
sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select
semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg
sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer
setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid
setuid32 setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4
sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statmount statx
symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete
timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create
timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate
truncate64 ugetrlimit umask uname unlink unlinkat uretprobe utime utimensat utimensat_time64
utimes vfork vmsplice wait4 waitid waitpid write writev
""".split()

# Allowed only to a container holding the capability in its bounding set.
_BY_CAPABILITY = {
    "CAP_DAC_READ_SEARCH": ["open_by_handle_at"],
    "CAP_SYS_ADMIN": """
        bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie
        lsm_get_self_attr lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount
        open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog
        umount umount2 unshare
    """.split(),
    "CAP_SYS_BOOT": ["reboot"],
    "CAP_SYS_CHROOT": ["chroot"],
    "CAP_SYS_MODULE": ["delete_module", "init_module", "finit_module"],
    "CAP_SYS_PACCT": ["acct"],
    "CAP_SYS_PTRACE": [
        "kcmp",
        "pidfd_getfd",
        "process_madvise",
        "process_vm_readv",
        "process_vm_writev",
        "ptrace",
    ],
    "CAP_SYS_RAWIO": ["iopl", "ioperm"],
    "CAP_SYS_TIME": ["settimeofday", "stime", "clock_settime", "clock_settime64"],
    "CAP_SYS_TTY_CONFIG": ["vhangup"],
    "CAP_SYS_NICE": ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"],
    "CAP_SYSLOG": ["syslog"],
    "CAP_BPF": ["bpf"],
    "CAP_PERFMON": ["perf_event_open"],
}

# Allowed only on these architectures (Go's names, as moby matches them).
_BY_ARCHITECTURE = (
    (["ppc64le"], ["sync_file_range2", "swapcontext"]),
    (
        ["arm", "arm64"],
        [
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
    ),
    (["amd64", "x32"], ["arch_prctl"]),
    (["amd64", "x32", "x86"], ["modify_ldt"]),
    (["s390", "s390x"], ["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"]),
    (["riscv64"], ["riscv_flush_icache"]),
)

# Each native architecture with the ones its processes can also run as.
_ARCHITECTURES: tuple[tuple[str, list[str]], ...] = (
    ("SCMP_ARCH_X86_64", ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
    ("SCMP_ARCH_AARCH64", ["SCMP_ARCH_ARM"]),
    ("SCMP_ARCH_MIPS64", ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"]),
    ("SCMP_ARCH_MIPS64N32", ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"]),
    ("SCMP_ARCH_MIPSEL64", ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"]),
    ("SCMP_ARCH_MIPSEL64N32", ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"]),
    ("SCMP_ARCH_S390X", ["SCMP_ARCH_S390"]),
    ("SCMP_ARCH_RISCV64", []),
    ("SCMP_ARCH_LOONGARCH64", []),
)

_ALLOW = "SCMP_ACT_ALLOW"


def _arg(index: int, value: int, op: str) -> dict[str, Any]:
    return {"index": index, "value": value, "op": op}


def default_profile() -> dict[str, Any]:
    """A fresh copy of the profile (Docker's JSON format, includes/excludes unresolved)."""
    syscalls: list[dict[str, Any]] = [
        {"names": list(_ALLOWED), "action": _ALLOW},
        {
            "names": ["process_vm_readv", "process_vm_writev", "ptrace"],
            "action": _ALLOW,
            "includes": {"minKernel": "4.8"},
        },
        {"names": ["socket"], "action": _ALLOW, "args": [_arg(0, AF_ALG, "SCMP_CMP_LT")]},
        {"names": ["socket"], "action": _ALLOW, "args": [_arg(0, AF_ALG + 1, "SCMP_CMP_EQ")]},
        {"names": ["socket"], "action": _ALLOW, "args": [_arg(0, AF_VSOCK, "SCMP_CMP_GT")]},
    ]
    syscalls += [
        {"names": ["personality"], "action": _ALLOW, "args": [_arg(0, persona, "SCMP_CMP_EQ")]}
        for persona in _PERSONAS
    ]
    syscalls += [
        {"names": list(names), "action": _ALLOW, "includes": {"arches": list(arches)}}
        for arches, names in _BY_ARCHITECTURE
    ]
    syscalls += [
        {"names": list(names), "action": _ALLOW, "includes": {"caps": [cap]}}
        for cap, names in _BY_CAPABILITY.items()
    ]
    syscalls += [
        {
            "names": ["clone"],
            "action": _ALLOW,
            "args": [_arg(0, _CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ")],
            "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]},
        },
        {
            # s390 passes clone's flags second.
            "names": ["clone"],
            "action": _ALLOW,
            "args": [_arg(1, _CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ")],
            "includes": {"arches": ["s390", "s390x"]},
            "excludes": {"caps": ["CAP_SYS_ADMIN"]},
        },
        {
            "names": ["clone3"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": errno.ENOSYS,
            "excludes": {"caps": ["CAP_SYS_ADMIN"]},
        },
    ]
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.EPERM,
        "archMap": [
            {"architecture": arch, "subArchitectures": list(subs)} for arch, subs in _ARCHITECTURES
        ],
        "syscalls": syscalls,
    }
