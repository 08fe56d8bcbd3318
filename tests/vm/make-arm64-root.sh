#!/bin/sh
# make-arm64-root.sh PACKAGE...: a Debian 12 (bookworm) arm64 root directory with these
# packages (and the tools' own libraries), for the arm64 guest; prints its path. Made with
# debootstrap --foreign here and its second stage run in the root under qemu-user-static
# (binfmt_misc, registered for aarch64 when it is not), kept in the cache directory
# (CORESCOPE_CACHE, default /var/cache/corescope, outside build/: make clean keeps it) and made
# again only when the package list changes.
set -eu

die() { echo "$0: $*" >&2; exit 1; }
cache=${CORESCOPE_CACHE:-/var/cache/corescope}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, binfmt_misc)"
command -v debootstrap >/dev/null || die "needs debootstrap (make deps)"
[ -x /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] ||
	die "needs qemu-user-static (make deps-cross)"

root=$cache/arm64-root
# debootstrap resolves no virtual packages: perl-openssl-defaults provides perl-openssl-abi-3,
# which libnet-ssleay-perl (pulled in by the test packages) needs.
packages=$(printf '%s\n' libbpf1 libelf1 zlib1g perl-openssl-defaults "$@" | sort -u | tr '\n' ' ')
if [ -f "$root/.corescope-packages" ] && [ "$(cat "$root/.corescope-packages")" = "$packages" ]; then
	echo "$root"
	exit 0
fi

# aarch64 binaries run through qemu-user: what the second stage (dpkg, maintainer scripts)
# needs. The F flag loads the interpreter now, so it works inside the chroot too.
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/register" ]; then
	mount -t binfmt_misc binfmt_misc "$binfmt" || die "cannot mount binfmt_misc at $binfmt"
fi
if [ ! -e "$binfmt/qemu-aarch64" ]; then
	conf=/usr/lib/binfmt.d/qemu-aarch64.conf
	[ -r "$conf" ] || die "no $conf (qemu-user-static)"
	cat "$conf" > "$binfmt/register" || die "cannot register qemu-aarch64 with binfmt_misc"
fi

mkdir -p "$cache"
tmp=$root.tmp
rm -rf "$tmp"
start=$(date +%s)
debootstrap --arch=arm64 --foreign --variant=minbase \
	--include="$(echo $packages | tr ' ' ',')" bookworm "$tmp" "$mirror" >&2 ||
	die "debootstrap (first stage) failed; see $tmp/debootstrap/debootstrap.log"
first=$(date +%s)
chroot "$tmp" /debootstrap/debootstrap --second-stage >&2 ||
	die "debootstrap --second-stage under qemu-user failed; see $tmp/debootstrap/debootstrap.log"
end=$(date +%s)
rm -rf "$tmp/var/cache/apt/archives/"*.deb
echo "$packages" > "$tmp/.corescope-packages"
rm -rf "$root"
mv "$tmp" "$root"
echo "arm64 root: first stage $((first - start)) s, second stage (qemu-user) $((end - first)) s" >&2
echo "$root"
