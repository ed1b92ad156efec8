# The specification's build commands, on top of cargo.
#
#   make            = make lib bin
#   make lib        build/lib/liblsmvec.a and build/lib/liblsmvec.so (C ABI, crates/lsm-vec-capi)
#   make bin        build/bin/lsm_vec (the CLI, crates/lsm-vec-cli, binary lsm-vec)
#   make clean      removes build/ (cargo's target/ is left alone; `cargo clean` for that)
#   make install    PREFIX=/usr/local: lib/, include/, lib/pkgconfig/lsmvec.pc
#   make uninstall  PREFIX=...
#   make test-c     scripts/test-c.sh (C and C++ tests, valgrind)
#   make test       scripts/test-all.sh: every test suite (Rust, C/C++, Python); what CI runs
#   make bench      the main job: lsm-vec bench on the built-in 100k x 128 dataset
#
# cargo's target directory: $(CARGO_TARGET_DIR) if set (environment or command line), else target/.

CARGO            ?= cargo
CARGO_TARGET_DIR ?= target
PREFIX           ?= /usr/local
DESTDIR          ?=
LIBDIR           ?= $(PREFIX)/lib
INCLUDEDIR       ?= $(PREFIX)/include
BUILD            := build
RELEASE_DIR      := $(CARGO_TARGET_DIR)/release
VERSION          := $(shell sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)

ifeq ($(shell uname -s),Darwin)
SHLIB_EXT := dylib
else
SHLIB_EXT := so
endif

# Native libraries the Rust static library needs, from
#   cargo rustc -p lsm-vec-capi --release --crate-type staticlib -- --print native-static-libs
STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

export CARGO_TARGET_DIR

.PHONY: all lib bin clean install uninstall test test-c bench print-static-libs

all: lib bin

lib:
	$(CARGO) build --release -p lsm-vec-capi
	mkdir -p $(BUILD)/lib
	cp -f $(RELEASE_DIR)/liblsmvec.a $(BUILD)/lib/liblsmvec.a
	cp -f $(RELEASE_DIR)/liblsmvec.$(SHLIB_EXT) $(BUILD)/lib/liblsmvec.$(SHLIB_EXT)

bin:
	$(CARGO) build --release -p lsm-vec-cli
	mkdir -p $(BUILD)/bin
	cp -f $(RELEASE_DIR)/lsm-vec $(BUILD)/bin/lsm_vec

clean:
	rm -rf $(BUILD)

# lsmvec.pc is written at install time, so that it names the PREFIX being installed to.
install: lib
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 644 $(BUILD)/lib/liblsmvec.a $(DESTDIR)$(LIBDIR)/liblsmvec.a
	install -m 755 $(BUILD)/lib/liblsmvec.$(SHLIB_EXT) $(DESTDIR)$(LIBDIR)/liblsmvec.$(SHLIB_EXT)
	install -m 644 include/lsm_vec.h include/lsm_vec_db.h $(DESTDIR)$(INCLUDEDIR)/
	printf '%s\n' \
	  'prefix=$(PREFIX)' \
	  'libdir=$(LIBDIR)' \
	  'includedir=$(INCLUDEDIR)' \
	  '' \
	  'Name: lsmvec' \
	  'Description: lsm-vec, a disk-resident vector database (HNSW over an LSM tree): C and C++ API' \
	  'Version: $(VERSION)' \
	  'Libs: -L$${libdir} -llsmvec' \
	  'Libs.private: $(STATIC_LIBS)' \
	  'Cflags: -I$${includedir}' > $(DESTDIR)$(LIBDIR)/pkgconfig/lsmvec.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/lsmvec.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/liblsmvec.a $(DESTDIR)$(LIBDIR)/liblsmvec.$(SHLIB_EXT) \
	      $(DESTDIR)$(INCLUDEDIR)/lsm_vec.h $(DESTDIR)$(INCLUDEDIR)/lsm_vec_db.h \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/lsmvec.pc

test-c:
	scripts/test-c.sh

# The extra libraries a program linking liblsmvec.a statically needs (used by scripts/test-c.sh).
print-static-libs:
	@echo $(STATIC_LIBS)

test:
	scripts/test-all.sh

bench:
	$(CARGO) run --release -p lsm-vec-cli -- bench
