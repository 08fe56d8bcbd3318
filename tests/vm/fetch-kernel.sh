#!/usr/bin/env bash
# Fetches Debian's stock kernel package for KERNEL (5.10, 6.1, 6.12 or a full linux-image-*
# package name) and ARCH (x86_64 or arm64), plus busybox-static for the guest's initramfs,
# through a private apt configuration: the system's apt sources are never touched. Unpacks the
# kernel, runs depmod on its modules and prints the directory that holds
#   vmlinuz  modules/<release>/  release  busybox
# Everything is cached under CORESCOPE_CACHE (default /var/cache/corescope), outside build/,
# so `make clean` keeps it.
set -euo pipefail

usage() { echo "usage: $0 KERNEL(5.10|6.1|6.12|linux-image-NAME) ARCH(x86_64|arm64)" >&2; exit 2; }
[ $# -eq 2 ] || usage
kernel=$1
case $2 in
x86_64|amd64) debarch=amd64 ;;
arm64|aarch64) debarch=arm64 ;;
*) usage ;;
esac
case $kernel in
5.10) suite=bullseye ;;
6.1) suite=bookworm ;;
6.12) suite=trixie ;;
linux-image-*) suite=${SUITE:-bookworm} ;;
*) usage ;;
esac

cache=${CORESCOPE_CACHE:-/var/cache/corescope}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
aptdir=$cache/apt/$suite-$debarch
mkdir -p "$aptdir/lists/partial" "$aptdir/archives/partial" "$cache/kernels"
echo "deb [arch=$debarch signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
	> "$aptdir/sources.list"
apt_opts=(-o Dir::Etc::sourcelist="$aptdir/sources.list" -o Dir::Etc::sourceparts=-
	-o Dir::State::Lists="$aptdir/lists" -o Dir::Cache="$aptdir"
	-o Dir::Cache::archives="$aptdir/archives" -o Dir::State::status=/dev/null
	-o APT::Architecture="$debarch" -o APT::Architectures="$debarch"
	-o APT::Sandbox::User=root -qq)

# The package lists are refreshed once a day at most: a kernel's name changes with its ABI.
lists_age=$(( $(date +%s) - $(stat -c %Y "$aptdir/lists" 2>/dev/null || echo 0) ))
if [ ! -e "$aptdir/lists/lock" ] || [ $lists_age -gt 86400 ] || ! ls "$aptdir"/lists/*Packages* >/dev/null 2>&1; then
	apt-get "${apt_opts[@]}" update >&2
	touch "$aptdir/lists"
fi

pkg=$kernel
if [[ $kernel != linux-image-* ]]; then
	pkg=$(apt-cache "${apt_opts[@]}" show "linux-image-$debarch" \
		| sed -n 's/^Depends: \(linux-image-[^ ,]*\).*/\1/p' | head -1)
	[ -n "$pkg" ] || { echo "$0: no linux-image-$debarch in $suite" >&2; exit 1; }
fi
release=${pkg#linux-image-}
dest=$cache/kernels/$release-$debarch
if [ ! -f "$dest/.done" ]; then
	rm -rf "$dest" && mkdir -p "$dest/x"
	(cd "$aptdir/archives" && apt-get "${apt_opts[@]}" download "$pkg" busybox-static >&2)
	dpkg-deb -x "$(ls "$aptdir"/archives/"${pkg}"_*.deb | head -1)" "$dest/x"
	dpkg-deb -x "$(ls "$aptdir"/archives/busybox-static_*.deb | head -1)" "$dest/x"
	mv "$dest/x/boot/vmlinuz-$release" "$dest/vmlinuz"
	cp "$dest/x/boot/config-$release" "$dest/config"
	mkdir -p "$dest/modules"
	# Debian 13 ships merged-/usr packages (usr/lib/modules, usr/bin).
	for d in lib usr/lib; do
		[ -d "$dest/x/$d/modules/$release" ] && mv "$dest/x/$d/modules/$release" "$dest/modules/$release"
	done
	for d in bin usr/bin; do
		[ -f "$dest/x/$d/busybox" ] && mv "$dest/x/$d/busybox" "$dest/busybox"
	done
	[ -d "$dest/modules/$release" ] && [ -f "$dest/busybox" ] \
		|| { echo "$0: $pkg: no modules or busybox where expected" >&2; exit 1; }
	rm -rf "$dest/x"
	mkdir -p "$dest/depmod/lib/modules" && ln -s "$dest/modules/$release" "$dest/depmod/lib/modules/$release"
	depmod -b "$dest/depmod" "$release"
	echo "$release" > "$dest/release"
	touch "$dest/.done"
fi
echo "$dest"
