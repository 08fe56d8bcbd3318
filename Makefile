# corescope: libbpf CO-RE observability tools.
# `make` builds every tool into build/bin; `make help` lists the targets.

# One line per tool: a new tool adds its line here and nothing else.
TOOLS += biolatency
TOOLS += execsnoop
TOOLS += filetop
TOOLS += opensnoop
TOOLS += profile
TOOLS += tcpconnlat
TOOLS += tcpretrans

NAME    := corescope
VERSION := $(shell cat VERSION)

PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=

CC      ?= gcc
CLANG   ?= clang
LLVM_STRIP ?= llvm-strip
STRIP   ?= strip
BPFTOOL ?= bpftool

# The kernel's names for architectures (x86, arm64), from uname's or Debian's (x86_64,
# aarch64, amd64). ARCH=arm64 on an x86-64 host cross-builds into build-arm64/ with Debian's
# cross toolchain and :arm64 libraries (make deps-cross installs them).
karch = $(shell echo $(1) | sed -e 's/x86_64/x86/' -e 's/amd64/x86/' -e 's/aarch64/arm64/' \
	-e 's/ppc64le/powerpc/' -e 's/s390x/s390/' -e 's/riscv64/riscv/')
HOST_ARCH := $(call karch,$(shell uname -m))
ARCH ?= $(HOST_ARCH)
override ARCH := $(call karch,$(ARCH))
VMLINUX_H := vmlinux/$(ARCH)/vmlinux.h

ifeq ($(ARCH),$(HOST_ARCH))
OUT     := build
else
OUT     := build-$(ARCH)
GNU_TRIPLET_arm64 := aarch64-linux-gnu
GNU_TRIPLET_x86   := x86_64-linux-gnu
GNU_TRIPLET := $(GNU_TRIPLET_$(ARCH))
CROSS_COMPILE ?= $(GNU_TRIPLET)-
# make's built-in defaults (cc, ar) become the cross tools; CC=... on the command line wins.
ifeq ($(origin CC),default)
CC := $(CROSS_COMPILE)gcc
endif
ifeq ($(origin AR),default)
AR := $(CROSS_COMPILE)ar
endif
ifeq ($(origin STRIP),file)
STRIP := $(CROSS_COMPILE)strip
endif
endif
OBJDIR  := $(OUT)/obj
BINDIR  := $(OUT)/bin
# BPF objects and skeletons do not depend on CFLAGS: builds of the same tree with other flags
# (the .deb's, STATIC=1's) share the plain build's through BPF_OUT.
BPF_OUT ?= $(OUT)

# Strict in CI; -Werror is opt-in elsewhere so a newer compiler does not break a user's build.
WERROR  ?= $(if $(CI),-Werror,)
# CPPFLAGS, CFLAGS and LDFLAGS are the user's (command line or environment): they come last on
# every command line, so what a user sets wins over the defaults below.
CPPFLAGS ?=
CFLAGS  ?= -O2 -g
LDFLAGS ?=

# Hardened by default, with the flags Debian builds its packages with (dpkg-buildflags'
# hardening=+all) plus stack-clash and control-flow protection, which bookworm's dpkg does not
# add yet: fortified libc calls, stack protector, RELRO and immediate binding, PIE (the
# compiler's default on Debian; -pie asks for it where it is not). HARDEN=0 turns it off.
HARDEN  ?= 1
# _FORTIFY_SOURCE needs an optimizing build (glibc warns at -O0, an error under -Werror), is
# left to a user whose own flags name it, and is off under ASan, whose interceptors the
# fortified entry points would bypass.
HARDEN_FORTIFY := $(if $(filter-out -O0,$(lastword $(filter -O%,$(CFLAGS)))),$(if \
	$(findstring _FORTIFY_SOURCE,$(CPPFLAGS) $(CFLAGS)),,$(if $(filter 1,$(SANITIZE)),,1)))
HARDEN_CPPFLAGS := $(if $(HARDEN_FORTIFY),-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)
HARDEN_CFLAGS   := -fstack-protector-strong -fstack-clash-protection \
	$(if $(filter x86,$(ARCH)),-fcf-protection,) \
	$(if $(filter arm64,$(ARCH)),-mbranch-protection=standard,) \
	$(if $(filter 1,$(STATIC)),,-fPIE)
HARDEN_LDFLAGS  := -Wl,-z,relro -Wl,-z,now $(if $(filter 1,$(STATIC)),,-pie)
ifneq ($(HARDEN),1)
HARDEN_CPPFLAGS :=
HARDEN_CFLAGS   :=
HARDEN_LDFLAGS  :=
endif

BUILD_CPPFLAGS := -D_GNU_SOURCE -DCORESCOPE_VERSION='"$(VERSION)"' -I$(BPF_OUT) -Icommon -Ibpf
BUILD_CFLAGS   := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wformat=2 $(WERROR)
BUILD_LDFLAGS  :=
LDLIBS  := -lbpf -ldw -lelf -lz -liberty

ifeq ($(STATIC),1)
BUILD_LDFLAGS += -static
# libdw's own dependencies (pkg-config --static --libs libdw), which a static link names.
LDLIBS  += -llzma -lbz2 -lpthread
endif
ifeq ($(SANITIZE),1)
BUILD_CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
BUILD_LDFLAGS += -fsanitize=address,undefined
endif

ALL_CFLAGS  := $(BUILD_CPPFLAGS) $(HARDEN_CPPFLAGS) $(CPPFLAGS) $(HARDEN_CFLAGS) $(BUILD_CFLAGS) \
	$(CFLAGS)
ALL_LDFLAGS := $(HARDEN_LDFLAGS) $(BUILD_LDFLAGS) $(LDFLAGS)

# Objects depend on the flags they were built with: a changed flag rebuilds everything.
FLAGS_STAMP := $(OUT)/flags
FLAGS_LINE  := $(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $(LDLIBS)
ifneq ($(FLAGS_LINE),$(file <$(FLAGS_STAMP)))
$(shell mkdir -p $(OUT))
$(file >$(FLAGS_STAMP),$(FLAGS_LINE))
endif

# clang -target bpf does not search the host's multiarch include dir; pass it explicitly.
# Cross: the target's multiarch directory (asm/ headers) instead of the host's.
CLANG_BPF_SYS_INCLUDES ?= $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }' \
	$(if $(GNU_TRIPLET),| sed 's|/$(shell $(CLANG) -dumpmachine | sed 's/-pc-/-/')$$|/$(GNU_TRIPLET)|'))
BPF_CFLAGS := -g -O2 -Wall -target bpf -D__TARGET_ARCH_$(ARCH) \
	-I$(dir $(VMLINUX_H)) -Ibpf $(CLANG_BPF_SYS_INCLUDES)

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

COMMON_SRCS := $(wildcard common/*.c common/*/*.c)
COMMON_HDRS := $(wildcard common/*.h common/*/*.h)
COMMON_OBJS := $(patsubst common/%.c,$(OBJDIR)/common/%.o,$(COMMON_SRCS))
LIBCOMMON   := $(OUT)/libcommon.a
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRCS))
TOOL_BINS   := $(addprefix $(BINDIR)/,$(TOOLS))
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS   := $(patsubst tests/fuzz/%.c,$(OUT)/fuzz/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-D_GNU_SOURCE -DCORESCOPE_VERSION='"$(VERSION)"' -Icommon -Ibpf

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: soak deb all clean deps deps-cross test-cross arm64-root vmlinux install uninstall test test-sanitize unit check help fuzz fuzz-build

all: $(TOOL_BINS)

help:
	@echo 'make            build every tool into $(BINDIR)/'
	@echo 'make deps       install build and test dependencies (Debian 12, as root)'
	@echo 'make test       unit tests, fuzzers briefly, integration tests against this kernel (root)'
	@echo 'make test-sanitize  the same tests against ASan+UBSan builds'
	@echo 'make soak       every tool for SOAK_SECONDS (600) under load: memory, losses, crashes'
	@echo 'make fuzz       each fuzz target for FUZZ_SECONDS (default 60)'
	@echo 'make install    PREFIX=$(PREFIX) DESTDIR=... (binaries to sbin, man pages to man8)'
	@echo 'make deb        a Debian package in $(OUT)/ (commands named TOOL$(DEB_SUFFIX))'
	@echo 'make dist-static  a tarball of static binaries, man pages and SHA256SUMS in $(OUT)/dist/'
	@echo 'make vmlinux    regenerate $(VMLINUX_H) from /sys/kernel/btf/vmlinux,'
	@echo '                VMLINUX_BTF=FILE (BTF, vmlinux or vmlinuz) or KERNEL=6.1 (Debian'"'"'s)'
	@echo 'make ARCH=arm64 cross-build into build-arm64/ (make deps-cross first, as root)'
	@echo 'make test-cross cross-build for arm64 and run each tool'"'"'s --help under qemu-user'
	@echo 'make arm64-root a Debian 12 arm64 root for the arm64 guest, in the cache dir'
	@echo 'options: V=1 (show commands) STATIC=1 (static binaries) SANITIZE=1 (ASan+UBSan)'

# Packages, not downloads: everything comes from Debian 12's archive.
DEPS_BUILD := clang llvm libbpf-dev bpftool libelf-dev libdw-dev zlib1g-dev libiberty-dev make gcc \
	libc6-dev pkg-config dpkg-dev
# The integration tests' workloads and checkers (netns, firewall, loop devices, promtool and a
# Prometheus scraping node_exporter, lintian and hardening-check for the package).
DEPS_TEST  := python3 iproute2 nftables iptables util-linux mount procps kmod jq man-db \
	binutils prometheus prometheus-node-exporter libclang-rt-14-dev debootstrap linux-perf bpftrace \
	systemd-container python3-jsonschema lintian devscripts xz-utils gzip g++ rustc golang-go chromium
# libc's own functions (__libc_start_call_main) have names only in its debug file.
DEPS_TEST  += libc6-dbg
# The oracles the differential tests compare with, and the programs they run (test_oracles.py).
DEPS_TEST  += strace fio curl wget
# make test-vm / test-matrix: Debian's kernels under qemu (TCG), an initramfs made with cpio.
DEPS_TEST  += qemu-system-x86 qemu-system-arm cpio
# make bench's third configuration beside bpftrace (its opensnoop, execsnoop, biolatency run
# here). It installs /usr/sbin/opensnoop etc.: no Debian 12 package declares a conflict with
# it (apt-get -s shows it alone), and the tools here install as TOOL-cs from the .deb or
# under /usr/local/sbin, so nothing clashes; the bench uses it only when it is installed.
DEPS_BENCH := libbpf-tools
DEPS_PKGS  := $(DEPS_BUILD) $(DEPS_TEST) $(DEPS_BENCH)

# $(call apt_install,PACKAGES): installs those not installed yet (as root).
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "dependencies already installed"; fi
endef

deps:
	$(call apt_install,$(DEPS_PKGS))

# make ARCH=arm64 on an x86-64 host: Debian's cross compiler, the :arm64 libraries the tools
# link, and qemu-user-static to run the results (make test-cross). Not part of `make deps`:
# it adds arm64 as a foreign architecture to dpkg (no new apt sources).
DEPS_CROSS := gcc-aarch64-linux-gnu libc6-dev:arm64 libbpf-dev:arm64 libelf-dev:arm64 \
	zlib1g-dev:arm64 libdw-dev:arm64 libiberty-dev:arm64 qemu-user-static \
	liblzma-dev:arm64 libbz2-dev:arm64

deps-cross:
	$(Q)dpkg --print-foreign-architectures | grep -qx arm64 || \
		{ dpkg --add-architecture arm64 && apt-get update -qq; }
	$(call apt_install,$(DEPS_CROSS))

# Every tool cross-built for arm64 is an aarch64 ELF whose --help runs under qemu-user
# (the :arm64 libraries of deps-cross are where its dynamic loader looks).
test-cross:
	$(Q)$(MAKE) --no-print-directory ARCH=arm64 all
	$(Q)for t in $(TOOLS); do \
		b=build-arm64/bin/$$t; \
		od -An -tx1 -j18 -N2 $$b | grep -qx ' b7 00' || { echo "$$b: not an aarch64 ELF"; exit 1; }; \
		qemu-aarch64-static $$b --help | grep -q "^Usage: $$t " || { echo "$$b --help failed under qemu-aarch64-static"; exit 1; }; \
	done; echo "arm64: $(words $(TOOLS)) tools built, aarch64 ELF, --help runs under qemu-user"

# A Debian 12 arm64 root for the arm64 guest, cached outside build/; prints its directory:
# what the kernel-dependent tests run (their oracles, workloads and the compilers of profile's
# test programs), unpacked, not configured (tests/vm/make-arm64-root.sh says why).
ARM64_ROOT_PACKAGES := python3 python3-jsonschema iproute2 nftables util-linux mount procps \
	kmod binutils gcc g++ libc6-dev strace fio curl wget tar linux-perf bpftrace bpftool \
	systemd-container jq xz-utils gzip golang-go rustc prometheus prometheus-node-exporter \
	libc6-dbg chromium
arm64-root:
	$(Q)tests/vm/make-arm64-root.sh $(ARM64_ROOT_PACKAGES)

# VMLINUX_BTF: raw BTF (/sys/kernel/btf/vmlinux), a vmlinux, or a boot image (vmlinuz) whose
# BTF vmlinux/extract-btf.py finds; KERNEL=6.1 (on the command line) instead takes Debian's
# stock kernel of that series for ARCH (tests/vm/fetch-kernel.sh downloads it into the cache).
VMLINUX_BTF ?= $(if $(GNU_TRIPLET),,/sys/kernel/btf/vmlinux)

vmlinux:
	$(Q)mkdir -p $(dir $(VMLINUX_H)) $(OUT)
	$(Q)src='$(VMLINUX_BTF)'; from=$$src; \
	if [ -n '$(if $(filter command line,$(origin KERNEL)),$(KERNEL))' ]; then \
		dir=$$(tests/vm/fetch-kernel.sh '$(KERNEL)' $(subst x86,x86_64,$(ARCH))) || exit 1; \
		src=$$dir/vmlinuz; from="Debian's linux-image-$$(cat "$$dir/release")"; \
	elif [ -z "$$src" ]; then \
		echo "make vmlinux ARCH=$(ARCH): give VMLINUX_BTF=FILE or KERNEL=VERSION" >&2; exit 1; \
	fi; \
	python3 vmlinux/extract-btf.py "$$src" $(OUT)/vmlinux.btf && \
	{ echo "/* make vmlinux ARCH=$(ARCH) from $$from */"; \
	  $(BPFTOOL) btf dump file $(OUT)/vmlinux.btf format c; } > $(VMLINUX_H).tmp
	$(Q)mv $(VMLINUX_H).tmp $(VMLINUX_H)

$(BPF_OUT)/%.bpf.o: bpf/%.bpf.c $(VMLINUX_H)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(BPF_OUT)/%.skel.h: $(BPF_OUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

$(OBJDIR)/common/%.o: common/%.c $(FLAGS_STAMP) | $(OBJDIR)/common
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIBCOMMON): $(COMMON_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# A tool's object depends on its skeleton; -MMD picks up every header it includes.
$(OBJDIR)/tools/%.o: tools/%.c $(BPF_OUT)/%.skel.h $(FLAGS_STAMP) | $(OBJDIR)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BINDIR)/%: $(OBJDIR)/tools/%.o $(LIBCOMMON) | $(BINDIR)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $(filter %.o %.a,$^) $(LDLIBS) -o $@

$(OUT)/tests/%: tests/unit/%.c $(LIBCOMMON) $(FLAGS_STAMP) | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit -MMD -MP $(ALL_LDFLAGS) $< $(LIBCOMMON) $(LDLIBS) -o $@

$(OUT) $(OBJDIR)/common $(OBJDIR)/tools $(BINDIR) $(OUT)/tests $(OUT)/fuzz:
	$(Q)mkdir -p $@

unit: $(UNIT_BINS)

# libFuzzer targets over the parsers and escapers, each linked with all of common/.
$(OUT)/fuzz/%: tests/fuzz/%.c $(COMMON_SRCS) $(COMMON_HDRS) | $(OUT)/fuzz
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $< $(COMMON_SRCS) $(LDLIBS) -o $@

fuzz-build: $(FUZZ_BINS)

# Each target for FUZZ_SECONDS from its seed corpus (tests/fuzz/corpus/NAME, which also
# keeps every input that once crashed); new crashes are written to $(OUT)/fuzz/.
fuzz: fuzz-build
	$(Q)python3 tests/run.py --fuzz-seconds $(FUZZ_SECONDS) fuzz/

# The README's test command. Integration tests need root; with CI=true they never skip.
test: all unit fuzz-build
	$(Q)CORESCOPE_BUILD=$(OUT) python3 tests/run.py

# Debian's stock kernels under qemu (TCG, no KVM needed): tests/vm/vm.py boots KERNEL (5.10,
# 6.1, 6.12) for GUEST_ARCH with this machine's root shared read-only, runs the kernel-dependent
# tests inside, and fails on any kernel warning or taint. Kernels are cached in
# /var/cache/corescope (CORESCOPE_CACHE), which `make clean` keeps. A guest takes both CPUs:
# run nothing else beside it.
KERNEL     ?= 6.1
GUEST_ARCH ?= $(if $(filter arm64 aarch64,$(ARCH)),arm64,x86_64)
VM_TESTS   ?=
.PHONY: test-vm test-matrix
# An arm64 guest on an x86-64 host runs the cross build (ARCH=arm64) on an arm64 Debian root
# (make arm64-root); an x86-64 guest runs on this machine's own root.
test-vm: all
	$(Q)root=/; if [ $(GUEST_ARCH) = arm64 ] && [ $(HOST_ARCH) != arm64 ]; then \
		root=$$($(MAKE) --no-print-directory -s arm64-root) || exit 1; fi; \
	python3 tests/vm/vm.py --kernel $(KERNEL) --arch $(GUEST_ARCH) --root "$$root" \
		--env CORESCOPE_BUILD=$(OUT) --env TEST_TIMEOUT=900 \
		$(if $(ATTACH_LOG),--attach-log $(ATTACH_LOG)) -- \
		python3 tests/run.py --kernel-only $(VM_TESTS)

# CI's runs on the oldest kernel of the matrix and on arm64 (.ci/run: make test-vm-smoke
# KERNEL=5.10, and KERNEL=6.1 ARCH=arm64): the exact, oracle-checked tests of every tool, in
# every attach variant, and --check; a few minutes under TCG. The whole suite on every kernel
# is make test-matrix.
VM_SMOKE := execsnoop/argv_exact_json execsnoop/failed_exec_with_x execsnoop/empty_arguments \
	opensnoop/open_fields_json \
	opensnoop/full_path_cwd_and_dirfd filetop/every_syscall_counted_exactly_json \
	biolatency/disk_filter_counts_exactly biolatency/cgroup_filter \
	tcpconnlat/ipv4_ipv6_fields_json tcpretrans/retransmits_of_exactly_that_flow_and_counts \
	tcpretrans/tail_loss_probe_exactly profile/folded_chain_pie_and_shared_library \
	profile/stripped_binary check/every_tool_reports_this_kernel \
	check/loss_probes_need_fentry_or_kprobes
.PHONY: test-vm-smoke
test-vm-smoke:
	$(Q)$(MAKE) --no-print-directory test-vm VM_TESTS="$(VM_SMOKE)"

# The host and every kernel of the matrix, one summary line each, and docs/portability.md
# (kernel x tool x attach kind, from what the passing tests attached).
MATRIX ?= host 5.10/x86_64 6.1/x86_64 6.12/x86_64 6.1/arm64
test-matrix: all
	$(Q)$(if $(filter %/arm64,$(MATRIX)),$(MAKE) --no-print-directory ARCH=arm64 all && \
		ARM64_ROOT=$$($(MAKE) --no-print-directory -s arm64-root) && export ARM64_ROOT &&) \
	python3 tests/vm/matrix.py $(MATRIX)

# Per-event cost, lost events, start-up time and memory of every built tool against no tracer,
# empty programs on the same hooks and bpftrace; a table, and $(OUT)/bench.json (root, ~10
# minutes; BENCH_QUICK=1 for a ~1-minute smoke run). Tools that do not build are reported.
.PHONY: bench
bench:
	-$(Q)$(MAKE) --no-print-directory -k all
	$(Q)CORESCOPE_BUILD=$(OUT) CC="$(CC)" CLANG="$(CLANG)" BPF_CFLAGS="$(BPF_CFLAGS)" \
		python3 tests/bench/bench.py

# Each tool for SOAK_SECONDS (default 600) under a high event rate: memory bounded, every
# event delivered or counted lost, no crash. Not part of CI; figures in docs/reliability.md.
soak: all
	$(Q)python3 tests/soak/soak.py

# The same suite against ASan+UBSan builds (leaks and undefined behaviour fail the tools).
test-sanitize:
	$(Q)$(MAKE) --no-print-directory SANITIZE=1 OUT=$(OUT)-san all unit
	$(Q)CORESCOPE_BUILD=$(OUT)-san python3 tests/run.py

# A Debian binary package. Debian's libbpf-tools package (built from BCC's libbpf-tools)
# installs /usr/sbin/execsnoop, opensnoop, biolatency, tcpconnlat, ... under the plain names,
# so the package's commands carry the suffix -cs (execsnoop-cs) and never clash with it.
# The .deb is always built afresh in $(OUT)/deb-build with Debian's own flags
# (dpkg-buildflags, hardening=+all, plus this Makefile's hardening), dynamically linked so that
# Depends names the libraries: static binaries are for `make dist-static`, never the .deb.
DEB_SUFFIX ?= -cs
DEB_ARCH   := $(if $(GNU_TRIPLET),$(subst x86,amd64,$(ARCH)),$(shell dpkg --print-architecture 2>/dev/null))
DEB        ?= $(OUT)/$(NAME)_$(VERSION)_$(DEB_ARCH).deb
DEB_ROOT   := $(OUT)/deb/root
DEB_DOC    := $(DEB_ROOT)/usr/share/doc/$(NAME)
MAINTAINER := corescope maintainers <maintainers@corescope.dev>

.PHONY: deb deb-package
deb:
ifeq ($(STATIC),1)
	$(error make deb: static binaries are not packaged (Depends would miss their libraries); run make deb without STATIC=1, or make dist-static)
endif
	$(Q)export DEB_BUILD_MAINT_OPTIONS=hardening=+all; \
	$(MAKE) --no-print-directory OUT=$(OUT)/deb-build BPF_OUT=$(BPF_OUT) SANITIZE= STATIC= \
		CPPFLAGS="$$(dpkg-buildflags --get CPPFLAGS)" CFLAGS="$$(dpkg-buildflags --get CFLAGS)" \
		LDFLAGS="$$(dpkg-buildflags --get LDFLAGS)" DEB=$(abspath $(DEB)) deb-package

deb-package: $(DEB)

$(DEB): $(TOOL_BINS) $(addprefix docs/,$(addsuffix .8,$(TOOLS))) docs/copyright docs/changelog \
		VERSION Makefile
	$(call msg,DEB,$@)
	$(Q)head -1 docs/changelog | grep -q '^$(NAME) ($(VERSION)) ' || \
		{ echo "docs/changelog: its first entry must be $(NAME) ($(VERSION))" >&2; exit 1; }
	$(Q)rm -rf $(OUT)/deb && mkdir -p $(DEB_ROOT)/DEBIAN $(DEB_ROOT)/usr/sbin \
		$(DEB_ROOT)/usr/share/man/man8 $(DEB_DOC) $(OUT)/deb/debian
	$(Q)for t in $(TOOLS); do \
		install -m 0755 $(BINDIR)/$$t $(DEB_ROOT)/usr/sbin/$$t$(DEB_SUFFIX); \
		$(STRIP) --remove-section=.comment --remove-section=.note \
			$(DEB_ROOT)/usr/sbin/$$t$(DEB_SUFFIX); \
		sed -e "s/^\.TH \([A-Z0-9]*\) /.TH \1$(shell echo $(DEB_SUFFIX) | tr a-z A-Z) /" \
			docs/$$t.8 | gzip -9n > $(DEB_ROOT)/usr/share/man/man8/$$t$(DEB_SUFFIX).8.gz; \
	done
	$(Q)install -m 0644 docs/copyright $(DEB_DOC)/copyright
	$(Q)gzip -9n < docs/changelog > $(DEB_DOC)/changelog.gz && chmod 0644 $(DEB_DOC)/changelog.gz
	$(Q)printf 'Source: $(NAME)\n\nPackage: $(NAME)\nArchitecture: any\n' \
		> $(OUT)/deb/debian/control
	$(Q)cd $(OUT)/deb && dpkg-shlibdeps -O $(addprefix root/usr/sbin/,$(addsuffix $(DEB_SUFFIX),$(TOOLS))) \
		2>/dev/null | sed -n 's/^shlibs:Depends=//p' > depends
	$(Q)grep -q libbpf $(OUT)/deb/depends || { echo "$@: Depends lacks libbpf" >&2; exit 1; }
	$(Q)cd $(DEB_ROOT) && find usr -type f | LC_ALL=C sort | xargs md5sum > DEBIAN/md5sums
	$(Q){ echo 'Package: $(NAME)'; \
	  echo 'Version: $(VERSION)'; \
	  echo 'Architecture: $(DEB_ARCH)'; \
	  echo 'Maintainer: $(MAINTAINER)'; \
	  echo "Installed-Size: $$(du -sk --exclude=DEBIAN $(DEB_ROOT) | cut -f1)"; \
	  echo "Depends: $$(cat $(OUT)/deb/depends)"; \
	  echo 'Section: admin'; \
	  echo 'Priority: optional'; \
	  echo 'Description: eBPF observability tools built on libbpf CO-RE'; \
	  echo ' Standalone tracing tools in the tradition of BCC, built on libbpf CO-RE.'; \
	  echo ' The commands carry the suffix -cs so they never clash with libbpf-tools:'; \
	  echo ' $(addsuffix $(DEB_SUFFIX),$(TOOLS))' | fold -s -w 72 | sed -e 's/ *$$//' -e '2,$$s/^/ /'; \
	  echo ' .'; \
	  echo ' They need kernel BTF but no headers, compiler or Python on the target,'; \
	  echo ' attach to stable tracepoints first, print columns or JSON lines, and'; \
	  echo ' write OpenMetrics files for the node_exporter textfile collector.'; \
	} > $(DEB_ROOT)/DEBIAN/control
	$(Q)dpkg-deb --root-owner-group -Zxz --build $(DEB_ROOT) $@ >/dev/null

# Static binaries for download: $(OUT)/dist/$(NAME)-$(VERSION)-<machine>-static.tar.gz with the
# binaries (stripped, plain names), their man pages, copyright and SHA256SUMS inside, and
# $(OUT)/dist/SHA256SUMS beside it. Built with STATIC=1 in $(OUT)/static; `make dist-static
# ARCH=arm64` cross-builds the aarch64 one (into build-arm64/dist/, make deps-cross first).
DIST_MACHINE := $(if $(filter x86,$(ARCH)),x86_64,$(if $(filter arm64,$(ARCH)),aarch64,$(ARCH)))
DIST_NAME    := $(NAME)-$(VERSION)-$(DIST_MACHINE)-static
# What readelf -h says a binary of that architecture is: a dist of another one is refused.
DIST_ELF_MACHINE := $(if $(filter x86,$(ARCH)),Advanced Micro Devices X86-64,$(if \
	$(filter arm64,$(ARCH)),AArch64,$(ARCH)))
DIST_DIR     := $(OUT)/dist
STATIC_OUT   := $(OUT)/static
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)

.PHONY: dist-static
dist-static:
	$(Q)$(MAKE) --no-print-directory ARCH=$(ARCH) STATIC=1 SANITIZE= OUT=$(STATIC_OUT) \
		BPF_OUT=$(BPF_OUT) all
	$(call msg,DIST,$(DIST_DIR)/$(DIST_NAME).tar.gz)
	$(Q)rm -rf $(DIST_DIR)/$(DIST_NAME) && mkdir -p $(DIST_DIR)/$(DIST_NAME)/sbin \
		$(DIST_DIR)/$(DIST_NAME)/man/man8
	$(Q)for t in $(TOOLS); do \
		readelf -d $(STATIC_OUT)/bin/$$t | grep -q NEEDED && \
			{ echo "$(STATIC_OUT)/bin/$$t is not static" >&2; exit 1; }; \
		readelf -h $(STATIC_OUT)/bin/$$t | grep -q 'Machine: *$(DIST_ELF_MACHINE)' || \
			{ echo "$(STATIC_OUT)/bin/$$t is not built for $(DIST_MACHINE) (CC=$(CC) does not" \
				"cross-compile for ARCH=$(ARCH))" >&2; exit 1; }; \
		install -m 0755 $(STATIC_OUT)/bin/$$t $(DIST_DIR)/$(DIST_NAME)/sbin/$$t; \
		$(STRIP) --remove-section=.comment --remove-section=.note \
			$(DIST_DIR)/$(DIST_NAME)/sbin/$$t; \
		install -m 0644 docs/$$t.8 $(DIST_DIR)/$(DIST_NAME)/man/man8/$$t.8; \
	done
	$(Q)install -m 0644 docs/copyright $(DIST_DIR)/$(DIST_NAME)/copyright
	$(Q)cd $(DIST_DIR)/$(DIST_NAME) && find sbin man copyright -type f | LC_ALL=C sort | \
		xargs sha256sum > SHA256SUMS
	$(Q)tar -C $(DIST_DIR) --sort=name --owner=0 --group=0 --numeric-owner \
		--mtime=@$(SOURCE_DATE_EPOCH) -cf - $(DIST_NAME) | gzip -9n > $(DIST_DIR)/$(DIST_NAME).tar.gz
	$(Q)cd $(DIST_DIR) && sha256sum $(NAME)-*-static.tar.gz > SHA256SUMS

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(TOOL_BINS) $(DESTDIR)$(SBINDIR)/
	install -m 0644 $(addprefix docs/,$(addsuffix .8,$(TOOLS))) $(DESTDIR)$(MANDIR)/man8/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(SBINDIR)/,$(TOOLS)) \
	      $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(addsuffix .8,$(TOOLS)))

# The cross build too (ARCH=arm64 builds into build-arm64/).
clean:
	rm -rf $(OUT) $(OUT)-san $(if $(filter build,$(OUT)),build-arm64)

-include $(wildcard $(OUT)/*.d $(BPF_OUT)/*.d $(OBJDIR)/*/*.d $(OBJDIR)/*/*/*.d $(OUT)/tests/*.d)
