# dedupd: one non-recursive Makefile.
#
#   make                 build ./dedupd
#   make D=asan          sanitizer build (ASan + UBSan) under build-asan/
#   make V=1             show the commands;  W=1  more warnings;  WERROR=1
#   make check           install what is missing, build, run every test (root)
#   make check-unit      cmocka unit tests only
#   make check-asan      unit tests under ASan + UBSan
#   make check-fuzz      20 seconds of each libFuzzer harness (tests/fuzz/)
#   make fuzz            FUZZ_SECONDS (600) of each harness, one at a time;
#                        D=fuzz builds them with clang under build-fuzz/
#   make check-integration  tests on loop-mounted btrfs/XFS/ext4 images (root)
#   make demo            scan a demo btrfs image full of duplicates (root)
#   make bench           benchmark against duperemove (root, slow)
#   make bench-watch     benchmark the daemon (root, slow)
#   make bench-containers  benchmark a podman image store (root, slow)
#   make install         PREFIX=/usr/local DESTDIR= (binary, libdedupd,
#                        header, dedupd.pc, systemd units, man page, bash
#                        and zsh completion); also BINDIR LIBDIR
#                        INCLUDEDIR MANDIR UNITDIR PKGCONFIGDIR BASHCOMPDIR
#                        ZSHCOMPDIR
#   make check-deb       build the Debian packages, lintian, install them and
#                        use them (root; tests/integration/check-deb.sh)
#   make uninstall       the same files, removed

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CC ?= gcc
PKG_CONFIG ?= pkg-config
OBJCOPY ?= objcopy

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 600

ifeq ($(D),asan)
B := build-asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT := -O1 -g
else ifeq ($(D),fuzz)
# Everything instrumented for libFuzzer; the harnesses add its main().
B := build-fuzz
CC := $(FUZZ_CC)
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined \
	-fno-omit-frame-pointer -fno-sanitize-recover=all
OPT := -O1 -g
else
B := build
SANFLAGS :=
OPT := -O2 -g
# As distributions build it (Debian's hardening flags define it too), so that
# warn_unused_result and the checked string functions fail here first.
ifeq ($(findstring _FORTIFY_SOURCE,$(CPPFLAGS) $(CFLAGS)),)
OPT += -D_FORTIFY_SOURCE=2
endif
endif

ifneq ($(V),1)
Q := @
say = @printf '  %-6s %s\n' $(1) $(2);
else
Q :=
say :=
endif

WARN := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
	-Wformat=2 -Wvla -Wundef
ifeq ($(W),1)
WARN += -Wconversion -Wcast-qual -Wpointer-arith -Wnull-dereference
endif
ifneq ($(WERROR)$(CI),)
WARN += -Werror
endif

# Recursive (=) so that pkg-config runs only when a rule needs it: `make check`
# installs the packages before anything is compiled.
PKGS := libxxhash libbtrfsutil jansson
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CMOCKA_CFLAGS = $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
CMOCKA_LIBS = $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

ALL_CFLAGS = -std=gnu11 $(OPT) $(WARN) $(SANFLAGS) -D_GNU_SOURCE \
	-D_FILE_OFFSET_BITS=64 -pthread -I. $(PKG_CFLAGS) -MMD -MP $(CPPFLAGS) \
	$(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) -pthread $(LDFLAGS)

IOCTL_SRCS := $(wildcard ioctl-compat/*.c)
HASHDB_SRCS := $(wildcard hashdb/*.c)
DAEMON_SRCS := $(wildcard daemon/*/*.c)
IOCTL_OBJS := $(IOCTL_SRCS:%.c=$(B)/%.o)
HASHDB_OBJS := $(HASHDB_SRCS:%.c=$(B)/%.o)
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(B)/%.o)

ifneq ($(filter asan fuzz,$(D)),)
PROG := $(B)/dedupd
else
PROG := dedupd
endif

.PHONY: all clean check check-deb check-layers check-unit check-asan check-integration deps demo \
	bench bench-watch bench-containers install uninstall microbench lib \
	fuzz fuzz-build fuzz-seeds check-fuzz
all: $(PROG) lib

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libioctlcompat.a: $(IOCTL_OBJS)
	$(call say,AR,$@)rm -f $@ && $(AR) rcs $@ $^
$(B)/libhashdb.a: $(HASHDB_OBJS)
	$(call say,AR,$@)rm -f $@ && $(AR) rcs $@ $^

$(PROG): $(DAEMON_OBJS) $(B)/libhashdb.a $(B)/libioctlcompat.a
	$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

# The commit the program is built from, for `dedupd --version`: only when
# this tree is a git work tree of its own (a tarball unpacked inside another
# repository must not take that one's commit), "-dirty" with local changes;
# DEDUPD_COMMIT= on the command line wins, empty for none. The stamp is
# rewritten as the Makefile is read, only when the commit changed, so that
# main.o is rebuilt then and only then, and `make -q` stays true otherwise.
DEDUPD_COMMIT ?= $(shell test -e .git && \
	c=$$(git rev-parse --short=12 HEAD 2>/dev/null) && \
	{ git diff --quiet HEAD -- 2>/dev/null && echo "$$c" || echo "$$c-dirty"; })
COMMIT_STAMP := $(shell mkdir -p $(B) && \
	{ echo '$(DEDUPD_COMMIT)' | cmp -s - $(B)/commit.stamp || \
	  echo '$(DEDUPD_COMMIT)' >$(B)/commit.stamp; } && echo $(B)/commit.stamp)
$(B)/daemon/cli/main.o: $(COMMIT_STAMP)
$(B)/daemon/cli/main.o: ALL_CFLAGS += -DDEDUPD_COMMIT='"$(DEDUPD_COMMIT)"'

# ---- libdedupd: the public API (daemon/lib/dedupd.h) and the engine under it --
# Position-independent objects of their own, built with hidden visibility:
# only what dedupd.h marks DEDUPD_API is exported. The static library is one
# relocatable object whose other symbols are made local, so that they cannot
# clash with a program's either.
DEDUPD_VERSION := $(shell sed -n 's/^\#define DEDUPD_VERSION_STRING "\(.*\)"/\1/p' daemon/lib/dedupd.h)
# The relinker, the executor and the hasher are a few files each
# (relink-*.c, executor-*.c, hasher-*.c).
RELINK_SRCS := $(sort $(wildcard daemon/engine/relink*.c))
RELINK_OBJS = $(RELINK_SRCS:%.c=$(B)/%.o)
EXECUTOR_SRCS := $(sort $(wildcard daemon/engine/executor*.c))
EXECUTOR_OBJS = $(EXECUTOR_SRCS:%.c=$(B)/%.o)
HASHER_SRCS := $(sort $(wildcard daemon/engine/hasher*.c))
HASHER_OBJS = $(HASHER_SRCS:%.c=$(B)/%.o)
LIB_SRCS := daemon/lib/lib.c daemon/common/client.c daemon/common/protocol.c daemon/common/config.c daemon/engine/engine.c \
	$(HASHER_SRCS) $(EXECUTOR_SRCS) daemon/engine/plan.c daemon/engine/pass.c \
	daemon/engine/index.c daemon/engine/walk.c daemon/common/util.c daemon/common/log.c $(RELINK_SRCS) \
	daemon/engine/physmap.c daemon/common/djson.c daemon/engine/metabudget.c daemon/engine/csums.c \
	$(HASHDB_SRCS) ioctl-compat/btrfs.c ioctl-compat/btrfs-search.c ioctl-compat/btrfs-csum.c \
	ioctl-compat/dedupe.c \
	ioctl-compat/fiemap.c ioctl-compat/fsprobe.c ioctl-compat/handle.c
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/lib/%.o)
# No printing, no exit(): uthash's out-of-memory exit becomes an abort, as
# xmalloc's is.
LIB_CFLAGS := -fPIC -fvisibility=hidden -DDEDUPD_LIBRARY \
	'-Duthash_fatal(msg)=abort()'
LIB_PKGS := libxxhash jansson
LIB_LIBS = $(shell $(PKG_CONFIG) --libs $(LIB_PKGS) 2>/dev/null) -pthread -lm
LIBA := $(B)/libdedupd.a
LIBSO := $(B)/libdedupd.so.0
ifneq ($(D),asan)
LIB_NODEFS := -Wl,-z,defs
endif

lib: $(LIBA) $(LIBSO) $(B)/libdedupd.so

$(B)/lib/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(ALL_CFLAGS) $(LIB_CFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJS)
	$(call say,AR,$@)$(CC) $(SANFLAGS) -r -nostdlib -o $(B)/lib/libdedupd.o \
		$(LIB_OBJS) && \
	$(OBJCOPY) --localize-hidden $(B)/lib/libdedupd.o && \
	rm -f $@ && $(AR) rcs $@ $(B)/lib/libdedupd.o

$(LIBSO): $(LIB_OBJS) daemon/lib/libdedupd.map
	$(call say,LD,$@)$(CC) -shared $(ALL_LDFLAGS) $(LIB_NODEFS) \
		-Wl,-soname,libdedupd.so.0 \
		-Wl,--version-script=daemon/lib/libdedupd.map \
		-o $@ $(LIB_OBJS) $(LIB_LIBS)

$(B)/libdedupd.so: $(LIBSO)
	$(Q)ln -sf libdedupd.so.0 $@

# dedupd.pc for the directories given to `make install`.
$(B)/dedupd.pc: daemon/lib/dedupd.pc.in daemon/lib/dedupd.h FORCE
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(DEDUPD_VERSION)|' \
		-e 's|@REQUIRES_PRIVATE@|$(LIB_PKGS)|' $< >$@.tmp && \
	mv $@.tmp $@
FORCE:

# ---- unit tests: one cmocka binary per module, tests/unit/test-NAME.c ----
# test-NAME_OBJS: the objects under test; test-NAME_WRAPS: symbols replaced
# with -Wl,--wrap= (the test defines __wrap_SYMBOL).
test-btrfs_OBJS := $(B)/ioctl-compat/btrfs.o $(B)/ioctl-compat/btrfs-search.o
test-btrfs_WRAPS := ioctl open_by_handle_at fstat64
test-ext4_OBJS := $(B)/ioctl-compat/ext4.o
test-ext4_WRAPS := ioctl
test-dedupe_OBJS := $(B)/ioctl-compat/dedupe.o
test-dedupe_WRAPS := ioctl fstat64
test-fanotify_OBJS := $(B)/ioctl-compat/fanotify.o
test-fanotify_WRAPS := fanotify_init fanotify_mark
test-fiemap_OBJS := $(B)/ioctl-compat/fiemap.o
test-fiemap_WRAPS := ioctl
test-fsprobe_OBJS := $(B)/ioctl-compat/fsprobe.o
test-fsprobe_WRAPS := fstatfs64 ioctl fstat64
test-handle_OBJS := $(B)/ioctl-compat/handle.o
test-handle_WRAPS := name_to_handle_at
test-hashdb_OBJS := $(B)/libhashdb.a
test-hashdb_WRAPS :=
test-executor_OBJS := $(EXECUTOR_OBJS) $(B)/daemon/engine/engine.o $(B)/daemon/engine/csums.o $(RELINK_OBJS) $(B)/daemon/engine/metabudget.o \
	$(B)/daemon/engine/physmap.o $(B)/daemon/engine/walk.o \
	$(B)/daemon/engine/plan.o $(B)/daemon/common/util.o $(B)/daemon/common/log.o \
	$(B)/libhashdb.a $(B)/libioctlcompat.a
test-executor_WRAPS := dedupe_submit engine_open_file close
test-hasher_OBJS := $(HASHER_OBJS) $(B)/daemon/engine/pass.o \
	$(EXECUTOR_OBJS) $(B)/daemon/engine/engine.o $(B)/daemon/engine/csums.o $(RELINK_OBJS) $(B)/daemon/engine/metabudget.o \
	$(B)/daemon/engine/physmap.o $(B)/daemon/engine/walk.o $(B)/daemon/engine/plan.o \
	$(B)/daemon/common/util.o $(B)/daemon/common/log.o $(B)/libhashdb.a \
	$(B)/libioctlcompat.a
test-hasher_WRAPS := openat64 pread64
test-csum_OBJS := $(B)/ioctl-compat/btrfs-csum.o $(B)/ioctl-compat/btrfs-search.o
test-csum_WRAPS :=
test-metabudget_OBJS := $(B)/daemon/engine/metabudget.o $(B)/daemon/common/util.o \
	$(B)/daemon/common/log.o
test-metabudget_WRAPS :=
test-log_OBJS := $(B)/daemon/common/log.o
test-log_WRAPS :=
test-queue_OBJS := $(B)/daemon/service/queue.o $(B)/daemon/common/util.o
test-queue_WRAPS :=
test-plan_OBJS := $(B)/daemon/engine/plan.o $(B)/daemon/common/util.o
test-plan_WRAPS :=
test-phys_OBJS := $(B)/daemon/engine/engine.o $(B)/daemon/engine/csums.o $(RELINK_OBJS) $(B)/daemon/engine/metabudget.o \
	$(B)/daemon/engine/physmap.o $(B)/daemon/engine/walk.o $(B)/daemon/common/log.o $(B)/daemon/common/util.o $(B)/libhashdb.a \
	$(B)/libioctlcompat.a
test-phys_WRAPS :=
test-physmap_OBJS := $(B)/daemon/engine/physmap.o $(B)/daemon/engine/walk.o \
	$(B)/daemon/common/util.o $(B)/daemon/common/log.o $(B)/ioctl-compat/fiemap.o \
	$(B)/ioctl-compat/handle.o
test-physmap_WRAPS := fiemap_iter_open fiemap_iter_next fiemap_iter_free \
	walk_tree
test-util_OBJS := $(B)/daemon/common/util.o
test-util_WRAPS :=
test-walk_OBJS := $(B)/daemon/engine/walk.o $(B)/daemon/common/util.o $(B)/daemon/common/log.o \
	$(B)/ioctl-compat/handle.o
test-walk_WRAPS := statx fstat64 open_by_handle_at
test-config_OBJS := $(B)/daemon/common/config.o $(B)/daemon/common/util.o
test-config_WRAPS :=
test-client_OBJS := $(B)/daemon/common/client.o $(B)/daemon/common/protocol.o \
	$(B)/daemon/common/util.o
test-client_WRAPS :=
test-protocol_OBJS := $(B)/daemon/common/protocol.o $(B)/daemon/common/util.o
test-protocol_WRAPS :=
test-djson_OBJS := $(B)/daemon/common/djson.o
test-djson_WRAPS :=
test-sdnotify_OBJS := $(B)/daemon/service/sdnotify.o
test-sdnotify_WRAPS :=
test-subvols_OBJS := $(B)/daemon/engine/subvols.o $(B)/ioctl-compat/btrfs-subvol.o \
	$(B)/ioctl-compat/btrfs.o $(B)/ioctl-compat/btrfs-search.o $(B)/daemon/common/util.o
test-subvols_WRAPS := ioctl

UNIT_SRCS := $(wildcard tests/unit/test-*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)

.SECONDEXPANSION:
$(B)/tests/test-%: tests/unit/test-%.c $$(test-$$*_OBJS)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -o $@ $< \
		$(test-$*_OBJS) $(foreach w,$(test-$*_WRAPS),-Wl,--wrap=$(w)) \
		$(ALL_LDFLAGS) $(CMOCKA_LIBS) $(PKG_LIBS) -lm

check-unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do \
		echo "== $$t"; $$t || fail=1; done; \
	if [ $$fail = 0 ]; then echo "unit tests: all passed"; \
	else echo "unit tests: FAILED"; exit 1; fi

check-asan:
	$(Q)$(MAKE) --no-print-directory D=asan check-unit

# ---- fuzzing: one libFuzzer harness per decoder, tests/fuzz/fuzz-NAME.c ----
# fuzz-NAME_OBJS: the code under test; fuzz-NAME_WRAPS as for unit tests.
# Seeds in tests/fuzz/NAME/; tests/fuzz/run.sh runs them one at a time.
FUZZERS := hashdb config protocol fanotify btrfs fiemap
fuzz-hashdb_OBJS := $(B)/libhashdb.a
fuzz-config_OBJS := $(B)/daemon/common/config.o $(B)/daemon/common/util.o
fuzz-protocol_OBJS := $(B)/daemon/common/protocol.o $(B)/daemon/common/util.o
fuzz-fanotify_OBJS := $(B)/ioctl-compat/fanotify.o
fuzz-fanotify_WRAPS := close
fuzz-btrfs_OBJS := $(B)/ioctl-compat/btrfs.o $(B)/ioctl-compat/btrfs-search.o \
	$(B)/ioctl-compat/btrfs-subvol.o $(B)/ioctl-compat/btrfs-csum.o
fuzz-btrfs_WRAPS := ioctl
fuzz-fiemap_OBJS := $(B)/ioctl-compat/fiemap.o
FUZZ_BINS := $(FUZZERS:%=$(B)/fuzz/fuzz-%)

$(B)/fuzz/fuzz-%: tests/fuzz/fuzz-%.c $$(fuzz-$$*_OBJS)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< \
		$(fuzz-$*_OBJS) $(foreach w,$(fuzz-$*_WRAPS),-Wl,--wrap=$(w)) \
		$(ALL_LDFLAGS) -fsanitize=fuzzer $(PKG_LIBS) -lm

# The seed of the index loader is made by the real code: see mkseed-hashdb.c.
$(B)/fuzz/mkseed-hashdb: tests/fuzz/mkseed-hashdb.c $(B)/libhashdb.a
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) \
		$(PKG_LIBS)

fuzz-build: $(FUZZ_BINS)

# Rewrites the checked-in binary seeds (tests/fuzz/NAME/).
fuzz-seeds: $(B)/fuzz/mkseed-hashdb
	$(B)/fuzz/mkseed-hashdb tests/fuzz/hashdb/small-index
	tests/fuzz/mkseeds.py

ifeq ($(D),fuzz)
fuzz: fuzz-build
	$(Q)tests/fuzz/run.sh $(B)/fuzz $(FUZZ_SECONDS) $(FUZZERS)
else
fuzz:
	$(Q)$(MAKE) --no-print-directory D=fuzz fuzz
endif

check-fuzz:
	$(Q)$(MAKE) --no-print-directory D=fuzz fuzz FUZZ_SECONDS=20

check-integration: $(PROG) lib
	$(Q)DEDUPD=$(abspath $(PROG)) tests/integration/run.sh

# Everything a fresh Debian machine needs, installed only if missing.
DEB_PKGS := build-essential pkg-config libxxhash-dev uthash-dev \
	libbtrfsutil-dev libjansson-dev libcmocka-dev btrfs-progs xfsprogs \
	e2fsprogs util-linux time podman runc clang libclang-rt-dev \
	git debhelper dpkg-dev fakeroot lintian prometheus strace \
	bash-completion zsh python3-yaml systemd
deps:
	$(Q)missing=$$(for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq $$missing >/dev/null; fi

# The Debian packages from a clean clone: built, linted, installed, used,
# purged (root; installs packages, so not part of `make check`).
check-deb: deps
	$(Q)rc=0; bash tests/integration/check-deb.sh || rc=$$?; \
	case $$rc in \
	0) echo "check-deb: 1 passed, 0 failed" ;; \
	77) echo "check-deb: skipped" ;; \
	*) echo "check-deb: 0 passed, 1 failed"; exit 1 ;; esac

# Includes point down the layers only (README, "Architecture").
check-layers:
	$(Q)tests/lint/layers.sh

check: deps
	$(Q)$(MAKE) --no-print-directory check-layers
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory check-unit
	$(Q)$(MAKE) --no-print-directory check-asan
	$(Q)$(MAKE) --no-print-directory check-fuzz
	$(Q)$(MAKE) --no-print-directory check-integration

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)DEDUPD=$(abspath dedupd) contrib/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)DEDUPD=$(abspath dedupd) contrib/bench/run.sh

bench-watch: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)DEDUPD=$(abspath dedupd) contrib/bench/watch.sh

bench-containers: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)DEDUPD=$(abspath dedupd) contrib/bench/containers.sh

microbench: $(B)/tests/bench-hashdb
	$(B)/tests/bench-hashdb

$(B)/tests/bench-hashdb: tests/unit/bench-hashdb.c $(B)/libhashdb.a
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS)

$(B)/tests/bench-subvols: tests/unit/bench-subvols.c $(B)/daemon/engine/subvols.o \
		$(B)/daemon/common/util.o $(B)/ioctl-compat/btrfs-subvol.o \
		$(B)/ioctl-compat/btrfs.o $(B)/ioctl-compat/btrfs-search.o
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS)

# The systemd units, with ExecStart= pointing at BINDIR.
UNITS := dedupd.service dedupd@.service dedupd-metrics.service \
	dedupd-metrics.timer

install: $(PROG) lib $(B)/dedupd.pc
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	install -m 0755 $(PROG) $(DESTDIR)$(BINDIR)/dedupd
	install -m 0644 $(LIBA) $(DESTDIR)$(LIBDIR)/libdedupd.a
	install -m 0755 $(LIBSO) $(DESTDIR)$(LIBDIR)/libdedupd.so.0
	ln -sf libdedupd.so.0 $(DESTDIR)$(LIBDIR)/libdedupd.so
	install -m 0644 daemon/lib/dedupd.h $(DESTDIR)$(INCLUDEDIR)/dedupd.h
	install -m 0644 $(B)/dedupd.pc $(DESTDIR)$(PKGCONFIGDIR)/dedupd.pc
	install -m 0644 contrib/dedupd.8 $(DESTDIR)$(MANDIR)/man8/dedupd.8
	for u in $(UNITS); do \
		sed 's|/usr/local/sbin/dedupd|$(BINDIR)/dedupd|' \
			contrib/systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; done
	install -m 0644 contrib/completion/dedupd.bash \
		$(DESTDIR)$(BASHCOMPDIR)/dedupd
	install -m 0644 contrib/completion/_dedupd $(DESTDIR)$(ZSHCOMPDIR)/_dedupd
	$(Q)if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
		ldconfig 2>/dev/null || true; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/dedupd $(DESTDIR)$(LIBDIR)/libdedupd.a \
		$(DESTDIR)$(LIBDIR)/libdedupd.so.0 \
		$(DESTDIR)$(LIBDIR)/libdedupd.so \
		$(DESTDIR)$(INCLUDEDIR)/dedupd.h \
		$(DESTDIR)$(PKGCONFIGDIR)/dedupd.pc \
		$(DESTDIR)$(MANDIR)/man8/dedupd.8 \
		$(UNITS:%=$(DESTDIR)$(UNITDIR)/%) \
		$(DESTDIR)$(BASHCOMPDIR)/dedupd $(DESTDIR)$(ZSHCOMPDIR)/_dedupd

clean:
	rm -rf build build-asan build-fuzz dedupd

-include $(shell find $(B) -name '*.d' 2>/dev/null)
