#!/usr/bin/env python3
"""extract-btf.py KERNEL OUT: write the raw BTF of a kernel image to OUT.

KERNEL is /sys/kernel/btf/vmlinux (raw BTF already), an uncompressed vmlinux (ELF) or raw
arm64 Image, or a compressed boot image as Debian ships it: on arm64 a gzip'ed raw Image, on
x86-64 a bzImage whose payload is a compressed ELF. Compressed payloads are found by their
magic bytes anywhere in the file (gzip, xz, bzip2, zstd through the zstd program) and each
candidate is decompressed; the BTF blob is then found by its header (linux
include/uapi/linux/btf.h: magic 0xeB9F, version 1, hdr_len, type_off/type_len,
str_off/str_len), checked, and written out; `bpftool btf dump file OUT format c` reads it.
"""
import bz2
import lzma
import os
import shutil
import struct
import subprocess
import sys
import zlib

BTF_MAGIC = 0xEB9F
HDR = struct.Struct("<HBBIIIII")  # magic, version, flags, hdr_len, type/str off+len


def btf_at(data, pos):
    """The length of a plausible BTF blob at pos, or 0."""
    if pos + HDR.size > len(data):
        return 0
    magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = \
        HDR.unpack_from(data, pos)
    if magic != BTF_MAGIC or version != 1 or hdr_len < HDR.size or hdr_len > 256:
        return 0
    # The kernel's blob: types first, then strings, which start with the empty name.
    if type_off != 0 or str_off < type_len or str_len == 0 or type_len == 0:
        return 0
    end = pos + hdr_len + str_off + str_len
    if end > len(data) or data[pos + hdr_len + str_off] != 0 or data[end - 1] != 0:
        return 0
    return end - pos


def find_btf(data):
    """The largest BTF blob in data (vmlinux's; modules' or test blobs are smaller)."""
    best = b""
    pos = data.find(b"\x9f\xeb\x01")
    while pos >= 0:
        n = btf_at(data, pos)
        if n > len(best):
            best = data[pos:pos + n]
        pos = data.find(b"\x9f\xeb\x01", pos + 1)
    return best


def zstd(blob):
    if not shutil.which("zstd"):
        return b""
    r = subprocess.run(["zstd", "-dcq"], input=blob, capture_output=True)
    return r.stdout


def gunzip(blob):
    return zlib.decompressobj(wbits=31).decompress(blob)


def unxz(blob):
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(blob)


def bunzip2(blob):
    return bz2.BZ2Decompressor().decompress(blob)


# Magic bytes of each compressed format the kernel's boot images use.
FORMATS = [
    (b"\x1f\x8b\x08", gunzip),
    (b"\xfd7zXZ\x00", unxz),
    (b"BZh", bunzip2),
    (b"\x28\xb5\x2f\xfd", zstd),
]


def payloads(data):
    """Every payload in data that decompresses to more than 1 MiB, in file order."""
    for magic, decompress in FORMATS:
        pos = data.find(magic)
        while pos >= 0:
            try:
                out = decompress(data[pos:])
            except (OSError, EOFError, lzma.LZMAError, ValueError, zlib.error):
                out = b""
            if len(out) > 1 << 20:
                yield out
            pos = data.find(magic, pos + 1)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: extract-btf.py KERNEL OUT (KERNEL: vmlinuz, vmlinux, Image or raw BTF)")
    src, dst = sys.argv[1], sys.argv[2]
    try:
        with open(src, "rb") as f:
            data = f.read()
    except OSError as e:
        sys.exit(f"extract-btf: cannot read {src}: {e.strerror}")
    btf = find_btf(data)
    if not btf:
        for out in payloads(data):
            btf = find_btf(out)
            if btf:
                break
    if not btf:
        sys.exit(f"extract-btf: no BTF found in {src} (kernel built without "
                 "CONFIG_DEBUG_INFO_BTF, or compressed with a format not handled here)")
    with open(dst + ".tmp", "wb") as f:
        f.write(btf)
    os.replace(dst + ".tmp", dst)
    print(f"extract-btf: {len(btf)} bytes of BTF from {src}", file=sys.stderr)


if __name__ == "__main__":
    main()
