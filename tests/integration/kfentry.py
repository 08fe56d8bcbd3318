"""Can this kernel attach an fentry program to a function? Asked of the kernel itself, with
no code of the tools and no bpftrace (whose 0.17 finds no BTF on 5.10 and says no there):
the function's id from the kernel's BTF, then bpf(2) loads an empty fentry program for it
and attaches it with BPF_RAW_TRACEPOINT_OPEN, as every kernel since 5.5 attaches tracing
programs. Some kernels load such a program and refuse to attach it (arm64 before 6.0)."""
import ctypes
import os
import platform
import struct

BTF_KIND_FUNC = 12
# Bytes that follow the 12-byte btf_type of each kind (vlen = the low 16 bits of info).
_EXTRA = {1: lambda v: 4, 3: lambda v: 12, 4: lambda v: 12 * v, 5: lambda v: 12 * v,
          6: lambda v: 8 * v, 13: lambda v: 8 * v, 14: lambda v: 4, 15: lambda v: 12 * v,
          17: lambda v: 4, 19: lambda v: 12 * v}
BPF_PROG_LOAD, BPF_RAW_TRACEPOINT_OPEN = 5, 17
BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY = 26, 24
SYS_BPF = {"x86_64": 321, "aarch64": 280}


def btf_func_id(name, path="/sys/kernel/btf/vmlinux"):
    """The BTF id of the FUNC called name in the kernel's own BTF, or None."""
    with open(path, "rb") as f:
        data = f.read()
    magic, _, _, hdr_len, type_off, type_len, str_off, _ = struct.unpack_from("<HBBIIIII",
                                                                              data)
    if magic != 0xEB9F:
        raise ValueError(f"{path}: not little-endian BTF")
    types = hdr_len + type_off
    strings = hdr_len + str_off
    want = name.encode()
    pos, end, tid = types, types + type_len, 1
    while pos < end:
        name_off, info, _ = struct.unpack_from("<III", data, pos)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        if kind == BTF_KIND_FUNC:
            s = strings + name_off
            if data[s:s + len(want) + 1] == want + b"\0":
                return tid
        pos += 12 + _EXTRA.get(kind, lambda v: 0)(vlen)
        tid += 1
    return None


def _bpf(cmd, attr):
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(bytes(attr), len(attr))
    fd = libc.syscall(SYS_BPF[platform.machine()], cmd, buf, len(attr))
    return fd, ctypes.get_errno()


def fentry_attaches(func):
    """(True, "") when an fentry program on func attaches, else (False, why)."""
    btf_id = btf_func_id(func)
    if btf_id is None:
        return False, f"no BTF function {func}"
    insns = ctypes.create_string_buffer(struct.pack("<BBhi", 0xB7, 0, 0, 0) +  # r0 = 0
                                        struct.pack("<BBhi", 0x95, 0, 0, 0), 16)  # exit
    license = ctypes.create_string_buffer(b"GPL")
    attr = bytearray(128)
    struct.pack_into("<IIQQ", attr, 0, BPF_PROG_TYPE_TRACING, 2, ctypes.addressof(insns),
                     ctypes.addressof(license))
    # expected_attach_type at 68, attach_btf_id at 108 (union bpf_attr, BPF_PROG_LOAD).
    struct.pack_into("<I", attr, 68, BPF_TRACE_FENTRY)
    struct.pack_into("<I", attr, 108, btf_id)
    prog, err = _bpf(BPF_PROG_LOAD, attr)
    if prog < 0:
        return False, f"load: {os.strerror(err)}"
    try:
        attr = bytearray(16)
        struct.pack_into("<QI", attr, 0, 0, prog)
        link, err = _bpf(BPF_RAW_TRACEPOINT_OPEN, attr)
        if link < 0:
            return False, f"attach: {os.strerror(err)} ({err})"
        os.close(link)
        return True, ""
    finally:
        os.close(prog)


if __name__ == "__main__":
    import sys
    print(fentry_attaches(sys.argv[1] if len(sys.argv) > 1 else "vfs_read"))
