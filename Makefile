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
BPFTOOL ?= bpftool

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' \
	-e 's/ppc64le/powerpc/' -e 's/s390x/s390/' -e 's/riscv64/riscv/')
VMLINUX_H := vmlinux/$(ARCH)/vmlinux.h

OUT     := build
OBJDIR  := $(OUT)/obj
BINDIR  := $(OUT)/bin

# Strict in CI; -Werror is opt-in elsewhere so a newer compiler does not break a user's build.
WERROR  ?= $(if $(CI),-Werror,)
CFLAGS  ?= -O2 -g
CFLAGS  += -Wall -Wextra -Wno-unused-parameter -Wshadow -Wformat=2 $(WERROR) \
	   -D_GNU_SOURCE -DCORESCOPE_VERSION='"$(VERSION)"' -I$(OUT) -Icommon -Ibpf
LDLIBS  := -lbpf -lelf -lz
LDFLAGS ?=

ifeq ($(STATIC),1)
LDFLAGS += -static
endif
ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

# clang -target bpf does not search the host's multiarch include dir; pass it explicitly.
CLANG_BPF_SYS_INCLUDES ?= $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')
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
.PHONY: soak deb all clean deps vmlinux install uninstall test test-sanitize unit check help fuzz fuzz-build

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
	@echo 'make vmlinux    regenerate $(VMLINUX_H) from /sys/kernel/btf/vmlinux'
	@echo 'options: V=1 (show commands) STATIC=1 (static binaries) SANITIZE=1 (ASan+UBSan)'

# Packages, not downloads: everything comes from Debian 12's archive.
DEPS_BUILD := clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev make gcc libc6-dev pkg-config \
	dpkg-dev
# The integration tests' workloads and checkers (netns, firewall, loop devices, promtool).
DEPS_TEST  := python3 iproute2 nftables iptables util-linux mount procps kmod jq man-db \
	binutils prometheus libclang-rt-14-dev debootstrap linux-perf bpftrace systemd-container \
	python3-jsonschema
# make test-vm / test-matrix: Debian's kernels under qemu (TCG), an initramfs made with cpio.
DEPS_TEST  += qemu-system-x86 qemu-system-arm cpio
DEPS_PKGS  := $(DEPS_BUILD) $(DEPS_TEST)

deps:
	@missing=$$(for p in $(DEPS_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "dependencies already installed"; fi

vmlinux:
	$(Q)mkdir -p $(dir $(VMLINUX_H))
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $(VMLINUX_H).tmp
	$(Q)mv $(VMLINUX_H).tmp $(VMLINUX_H)

$(OUT)/%.bpf.o: bpf/%.bpf.c $(VMLINUX_H) | $(OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

$(OBJDIR)/common/%.o: common/%.c | $(OBJDIR)/common
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBCOMMON): $(COMMON_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# A tool's object depends on its skeleton; -MMD picks up every header it includes.
$(OBJDIR)/tools/%.o: tools/%.c $(OUT)/%.skel.h | $(OBJDIR)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BINDIR)/%: $(OBJDIR)/tools/%.o $(LIBCOMMON) | $(BINDIR)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(OUT)/tests/%: tests/unit/%.c $(LIBCOMMON) | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -MMD -MP $(LDFLAGS) $< $(LIBCOMMON) $(LDLIBS) -o $@

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
test-vm: all
	$(Q)python3 tests/vm/vm.py --kernel $(KERNEL) --arch $(GUEST_ARCH) --env CORESCOPE_BUILD=$(OUT) \
		$(if $(ATTACH_LOG),--attach-log $(ATTACH_LOG)) -- \
		python3 tests/run.py --kernel-only $(VM_TESTS)

# The host and every kernel of the matrix, one summary line each, and docs/portability.md
# (kernel x tool x attach kind, from what the passing tests attached).
MATRIX ?= host 5.10/x86_64 6.1/x86_64 6.12/x86_64
test-matrix: all
	$(Q)python3 tests/vm/matrix.py $(MATRIX)

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

# A Debian binary package. Debian already ships execsnoop, opensnoop and tcpretrans
# (perf-tools-unstable, ftrace-based) and *-bpfcc and *.bt variants, so the package's
# commands carry the suffix -cs (execsnoop-cs) and never clash with them.
DEB_SUFFIX ?= -cs
DEB_ARCH   := $(shell dpkg --print-architecture 2>/dev/null)
DEB        := $(OUT)/$(NAME)_$(VERSION)_$(DEB_ARCH).deb
DEB_ROOT   := $(OUT)/deb/root

deb: $(DEB)

$(DEB): $(TOOL_BINS) $(addprefix docs/,$(addsuffix .8,$(TOOLS))) docs/copyright VERSION
	$(call msg,DEB,$@)
	$(Q)rm -rf $(OUT)/deb && mkdir -p $(DEB_ROOT)/DEBIAN $(DEB_ROOT)/usr/sbin \
		$(DEB_ROOT)/usr/share/man/man8 $(DEB_ROOT)/usr/share/doc/$(NAME) $(OUT)/deb/debian
	$(Q)for t in $(TOOLS); do \
		install -m 0755 -s $(BINDIR)/$$t $(DEB_ROOT)/usr/sbin/$$t$(DEB_SUFFIX); \
		sed -e "s/^\.TH \([A-Z0-9]*\) /.TH \1$(shell echo $(DEB_SUFFIX) | tr a-z A-Z) /" \
			docs/$$t.8 | gzip -9n > $(DEB_ROOT)/usr/share/man/man8/$$t$(DEB_SUFFIX).8.gz; \
	done
	$(Q)install -m 0644 docs/copyright $(DEB_ROOT)/usr/share/doc/$(NAME)/copyright
	$(Q)printf 'Source: $(NAME)\n\nPackage: $(NAME)\nArchitecture: any\n' \
		> $(OUT)/deb/debian/control
	$(Q)cd $(OUT)/deb && dpkg-shlibdeps -O $(addprefix root/usr/sbin/,$(addsuffix $(DEB_SUFFIX),$(TOOLS))) \
		2>/dev/null | sed -n 's/^shlibs:Depends=//p' > depends
	$(Q){ echo 'Package: $(NAME)'; \
	  echo 'Version: $(VERSION)'; \
	  echo 'Architecture: $(DEB_ARCH)'; \
	  echo 'Maintainer: corescope maintainers <corescope@localhost>'; \
	  echo "Installed-Size: $$(du -sk --exclude=DEBIAN $(DEB_ROOT) | cut -f1)"; \
	  echo "Depends: $$(cat $(OUT)/deb/depends)"; \
	  echo 'Section: admin'; \
	  echo 'Priority: optional'; \
	  echo 'Description: eBPF observability tools (libbpf CO-RE, no kprobes needed)'; \
	  echo ' Standalone tracing tools in the tradition of BCC, built on libbpf CO-RE:'; \
	  echo ' $(addsuffix $(DEB_SUFFIX),$(TOOLS)).'; \
	  echo ' They need kernel BTF but no headers, compiler or Python on the target,'; \
	  echo ' attach to stable tracepoints first and print columns or JSON lines.'; 	} > $(DEB_ROOT)/DEBIAN/control
	$(Q)dpkg-deb --root-owner-group -Zxz --build $(DEB_ROOT) $@ >/dev/null

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(TOOL_BINS) $(DESTDIR)$(SBINDIR)/
	install -m 0644 $(addprefix docs/,$(addsuffix .8,$(TOOLS))) $(DESTDIR)$(MANDIR)/man8/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(SBINDIR)/,$(TOOLS)) \
	      $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(addsuffix .8,$(TOOLS)))

clean:
	rm -rf $(OUT) $(OUT)-san

-include $(wildcard $(OUT)/*.d $(OBJDIR)/*/*.d $(OBJDIR)/*/*/*.d $(OUT)/tests/*.d)
