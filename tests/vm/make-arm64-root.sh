#!/bin/sh
# make-arm64-root.sh PACKAGE...: a Debian 12 (bookworm) arm64 root directory with these
# packages (and the tools' own libraries), for the arm64 guest; prints its path. Kept in the
# cache directory (CORESCOPE_CACHE, default /var/cache/corescope, outside build/: make clean
# keeps it) and made again only when the package list changes.
#
# debootstrap --foreign resolves and downloads the packages and unpacks the base system; the
# rest are unpacked here, on this machine. Nothing is configured: the guest only runs
# programs, and running every maintainer script under qemu-user took 50 minutes and failed
# on a Perl module. What configuration would have made and the guest needs (accounts, the
# alternatives the tests call) is made by hand below.
set -eu

die() { echo "$0: $*" >&2; exit 1; }
cache=${CORESCOPE_CACHE:-/var/cache/corescope}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

[ "$(id -u)" = 0 ] || die "needs root (debootstrap)"
command -v debootstrap >/dev/null || die "needs debootstrap (make deps)"

root=$cache/arm64-root
packages=$(printf '%s\n' libbpf1 libelf1 zlib1g libdw1 "$@" | sort -u | tr '\n' ' ')
# The recipe's version too: a root made by an older script is made again.
stamp="unpacked (recipe 2): $packages"
if [ -f "$root/.corescope-packages" ] && [ "$(cat "$root/.corescope-packages")" = "$stamp" ]; then
	echo "$root"
	exit 0
fi

mkdir -p "$cache"
tmp=$root.tmp
rm -rf "$tmp"
start=$(date +%s)
debootstrap --arch=arm64 --foreign --variant=minbase \
	--include="$(echo $packages | tr ' ' ',')" bookworm "$tmp" "$mirror" >&2 ||
	die "debootstrap (first stage) failed; see $tmp/debootstrap/debootstrap.log"
# Merged /usr: keep bin, lib and sbin the symlinks debootstrap made.
n=0
for deb in "$tmp"/var/cache/apt/archives/*.deb; do
	dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$tmp" -f - ||
		die "cannot unpack $deb"
	n=$((n + 1))
done
# debootstrap links proc to the running system's /proc for its own use; the guest mounts
# its own there.
if [ -L "$tmp/proc" ]; then
	rm "$tmp/proc" && mkdir "$tmp/proc"
fi
# What base-passwd's and the alternatives' maintainer scripts would have made.
for f in passwd group; do
	[ -s "$tmp/etc/$f" ] || cp "$tmp/usr/share/base-passwd/$f.master" "$tmp/etc/$f"
done
[ -s "$tmp/etc/shadow" ] || sed 's/^\([^:]*\):.*/\1:*:19000:0:99999:7:::/' "$tmp/etc/passwd" \
	> "$tmp/etc/shadow"
# What systemd's postinst makes: systemd-nspawn (the containers tests) needs a machine id.
[ -s "$tmp/etc/machine-id" ] || od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$tmp/etc/machine-id"
alt() { [ -e "$tmp$2" ] && [ ! -e "$tmp$1" ] && ln -sf "$2" "$tmp$1"; return 0; }
alt /usr/bin/cc /usr/bin/gcc
alt /usr/bin/c++ /usr/bin/g++
alt /usr/bin/awk /usr/bin/mawk
alt /usr/sbin/iptables /usr/sbin/iptables-nft
alt /usr/sbin/ip6tables /usr/sbin/ip6tables-nft
rm -rf "$tmp/var/cache/apt/archives/"*.deb "$tmp/debootstrap"
echo "$stamp" > "$tmp/.corescope-packages"
rm -rf "$root"
mv "$tmp" "$root"
echo "arm64 root: $n packages unpacked in $(( $(date +%s) - start )) s" >&2
echo "$root"
