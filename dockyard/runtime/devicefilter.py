"""Device rules on cgroup v2: an eBPF program attached to the cgroup (runc's devicefilter).

cgroup v2 has no devices.allow: the kernel asks a BPF_PROG_TYPE_CGROUP_DEVICE
program attached to the cgroup whether an access (mknod, read, write of a
block or character device) is allowed. The OCI rules are first reduced the
way cgroup v1 applies them in order, to a default (allow or deny, set by an
``a`` rule; deny until one comes, as runc does) and its exceptions; the
program then checks the exceptions one by one and returns the default when
none matches. With cgroup v1 semantics: under a deny default an exception
allows an access it fully covers, under an allow default it denies any
access it overlaps.
"""

from __future__ import annotations

import os
import struct
import sys

from dockyard.runtime import linux

_LICENSE = "Apache"
# struct bpf_cgroup_dev_ctx: access_type (type in the low 16 bits, access in the high), major, minor
_BPF_TYPES = {"b": 1, "c": 2, "u": 2}
_BPF_ACCESS = {"m": 1, "r": 2, "w": 4}
_ALL_ACCESS = 7
# eBPF opcodes
_LDX_MEM_W = 0x61
_AND32_IMM = 0x54
_RSH32_IMM = 0x74
_MOV32_IMM = 0xB4
_MOV32_REG = 0xBC
_JEQ_IMM = 0x15
_JNE_IMM = 0x55
_JNE_REG = 0x5D
_EXIT = 0x95
# registers: R1 the context (then scratch), R2 type, R3 access, R4 major, R5 minor
_R0, _R1, _R2, _R3, _R4, _R5 = range(6)

Exemption = tuple[str, int, int, int]  # (type, major or -1, minor or -1, access bits)


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    registers = dst | src << 4 if sys.byteorder == "little" else dst << 4 | src
    return struct.pack("=BBhi", code, registers, off, imm)


def _access_bits(access: str) -> int:
    return sum(_BPF_ACCESS[c] for c in set(access or "rwm"))


def reduce(rules: list[dict]) -> tuple[bool, list[Exemption]]:
    """(default allow?, exceptions) after applying ``rules`` in order as cgroup v1 does."""
    default_allow = False
    exceptions: dict[tuple[str, int, int], int] = {}
    for rule in rules:
        kind = rule.get("type") or "a"
        if kind == "a":
            default_allow, exceptions = bool(rule.get("allow")), {}
            continue
        key = (kind, _number(rule.get("major")), _number(rule.get("minor")))
        bits = _access_bits(rule.get("access") or "")
        if bool(rule.get("allow")) == default_allow:
            # The same action as the default: take these accesses out of an exception.
            left = exceptions.get(key, 0) & ~bits
            if left:
                exceptions[key] = left
            else:
                exceptions.pop(key, None)
        else:
            exceptions[key] = exceptions.get(key, 0) | bits
    return default_allow, [(*key, bits) for key, bits in exceptions.items()]


def _number(value: int | None) -> int:
    return -1 if value is None or value < 0 else value


def _block(exception: Exemption, default_allow: bool) -> list[tuple[int, int, int, int, int]]:
    """The checks of one exception, as (code, dst, src, imm, jumps to the next block?)."""
    kind, major, minor, bits = exception
    checks = [(_JNE_IMM, _R2, 0, _BPF_TYPES[kind], 1)]
    if bits != _ALL_ACCESS:
        checks += [(_MOV32_REG, _R1, _R3, 0, 0), (_AND32_IMM, _R1, 0, bits, 0)]
        if default_allow:
            checks.append((_JEQ_IMM, _R1, 0, 0, 1))  # no overlap: not this one
        else:
            checks.append((_JNE_REG, _R1, _R3, 0, 1))  # not all covered: not this one
    if major >= 0:
        checks.append((_JNE_IMM, _R4, 0, major, 1))
    if minor >= 0:
        checks.append((_JNE_IMM, _R5, 0, minor, 1))
    checks += [(_MOV32_IMM, _R0, 0, int(not default_allow), 0), (_EXIT, 0, 0, 0, 0)]
    return checks


def program(rules: list[dict]) -> bytes:
    """The eBPF instructions that answer for ``rules`` (block-only rules of type b or c)."""
    default_allow, exceptions = reduce(rules)
    code = [
        _insn(_LDX_MEM_W, _R2, _R1, 0),
        _insn(_AND32_IMM, _R2, imm=0xFFFF),
        _insn(_LDX_MEM_W, _R3, _R1, 0),
        _insn(_RSH32_IMM, _R3, imm=16),
        _insn(_LDX_MEM_W, _R4, _R1, 4),
        _insn(_LDX_MEM_W, _R5, _R1, 8),
    ]
    for exception in exceptions:
        block = _block(exception, default_allow)
        for index, (op, dst, src, imm, jumps) in enumerate(block):
            code.append(_insn(op, dst, src, len(block) - index - 1 if jumps else 0, imm))
    code += [_insn(_MOV32_IMM, _R0, imm=int(default_allow)), _insn(_EXIT)]
    return b"".join(code)


def attach(cgroup_dir: str, rules: list[dict]) -> None:
    """Load the program for ``rules`` and attach it to the cgroup at ``cgroup_dir``."""
    program_fd = linux.bpf_prog_load(linux.BPF_PROG_TYPE_CGROUP_DEVICE, program(rules), _LICENSE)
    try:
        directory = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            linux.bpf_prog_attach(
                directory, program_fd, linux.BPF_CGROUP_DEVICE, linux.BPF_F_ALLOW_MULTI
            )
        finally:
            os.close(directory)
    finally:
        os.close(program_fd)
