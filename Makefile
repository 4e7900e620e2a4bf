# sung: SUNG image deblurring in C.  `make` builds build/libsung.a, build/libsung.so and
# build/sung; `make test` runs the tests; `make golden` regenerates the PyTorch goldens.
CC      ?= cc
CFLAGS  ?= -O3 -g
RUNS    ?= 3
ROUNDS  ?= 1
PYTHON  ?= /usr/bin/python3
BUILD   := build

ALL_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -fPIC -Iinclude -Isrc -Isrc/ops $(CFLAGS)
LDLIBS  := -lm

# ---- optional features, each detected and reported --------------------------------
HAVE_OPENMP := $(shell printf 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo yes)
ifeq ($(HAVE_OPENMP),yes)
  ALL_CFLAGS += -fopenmp
  LDLIBS += -fopenmp
endif
PNG_CFLAGS := $(shell pkg-config --cflags libpng 2>/dev/null)
PNG_LIBS   := $(shell pkg-config --libs libpng 2>/dev/null)
ifeq ($(PNG_LIBS),)
  $(error libpng not found: install libpng-dev (apt-get install libpng-dev pkg-config))
endif
ALL_CFLAGS += $(PNG_CFLAGS)
LDLIBS += $(PNG_LIBS)
JPEG_LIBS := $(shell pkg-config --libs libjpeg 2>/dev/null)
ifeq ($(JPEG_LIBS),)
  $(error libjpeg not found: install libjpeg62-turbo-dev (apt-get install libjpeg62-turbo-dev))
endif
LDLIBS += $(JPEG_LIBS)

# Runtime CPU dispatch: only the kernel files get ISA flags; src/ops/conv.c picks one.
ARCH := $(shell $(CC) -dumpmachine)
ifneq ($(filter x86_64%,$(ARCH)),)
  KERN_AVX512 := -mavx512f -mavx2 -mfma
  KERN_AVX2   := -mavx2 -mfma
  KERNELS := avx512 avx2 generic
  # bf16 dot products (vdpbf16ps) where the compiler knows them
  ifeq ($(shell $(CC) -mavx512bf16 -E -x c /dev/null >/dev/null 2>&1 && echo yes),yes)
    KERNELS += avx512bf16
    ALL_CFLAGS += -DSUNG_BF16_KERNELS
  endif
else
  KERNELS := generic
endif
KERN_FLAGS := -ffp-contract=fast --param sra-max-scalarization-size-Ospeed=8192

$(info sung: CC=$(CC) OpenMP=$(if $(HAVE_OPENMP),yes,no) libpng=$(if $(PNG_LIBS),yes,no) libjpeg=yes kernels=$(KERNELS))
# MPI (Open MPI: libopenmpi-dev, openmpi-bin): data-parallel `sung train` under mpirun.
# Only tools/dist.c (and its test) see SUNG_MPI; the library needs no MPI. MPI=0 turns it off.
ifneq ($(MPI),0)
  MPI_LIBS := $(shell pkg-config --libs ompi-c 2>/dev/null || mpicc --showme:link 2>/dev/null)
  MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null || mpicc --showme:compile 2>/dev/null)
endif
HAVE_MPI := $(if $(strip $(MPI_LIBS)),yes)
$(info sung: MPI=$(if $(HAVE_MPI),yes (mpirun -np N build/sung train),no (install libopenmpi-dev openmpi-bin for a data-parallel train)))

LIB_SRC := $(wildcard src/*.c) $(filter-out $(wildcard src/ops/kern_*.c),$(wildcard src/ops/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(KERNELS:%=$(BUILD)/src/ops/kern_%.o)
TOOL_SRC := $(wildcard tools/*.c)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
TESTS   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))

.PHONY: all test golden demo install bench clean
PREFIX  ?= /usr/local
VERSION := 0.1.0
all: $(BUILD)/libsung.a $(BUILD)/libsung.so $(BUILD)/sung

$(BUILD)/%.o: %.c $(wildcard include/*.h src/*.h src/ops/*.h tools/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/src/ops/kern_avx512.o: src/ops/kern_avx512.c src/ops/kernels.inc src/ops/kernels.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(KERN_FLAGS) $(KERN_AVX512) -c $< -o $@
$(BUILD)/src/ops/kern_avx512bf16.o: src/ops/kern_avx512bf16.c src/ops/kernels.inc src/ops/kernels.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(KERN_FLAGS) $(KERN_AVX512) -mavx512bf16 -c $< -o $@
$(BUILD)/src/ops/kern_avx2.o: src/ops/kern_avx2.c src/ops/kernels.inc src/ops/kernels.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(KERN_FLAGS) $(KERN_AVX2) -c $< -o $@
$(BUILD)/src/ops/kern_generic.o: src/ops/kern_generic.c src/ops/kernels.inc src/ops/kernels.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(KERN_FLAGS) -c $< -o $@

$(BUILD)/libsung.a: $(LIB_OBJ)
	ar rcs $@ $^
$(BUILD)/libsung.so: $(LIB_OBJ)
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(LDLIBS)
$(BUILD)/sung: $(TOOL_OBJ) $(BUILD)/libsung.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/testutil.h tools/env.h $(BUILD)/libsung.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Itests -DSUNG_BIN='"$(BUILD)/sung"' -o $@ $< $(BUILD)/libsung.a $(LDLIBS)

# test_photos tests the command's photo pairs (tools/photos.c and what it calls)
$(BUILD)/tests/test_photos: tests/test_photos.c tests/testutil.h tools/env.h tools/photos.h $(BUILD)/tools/photos.o $(BUILD)/tools/data.o $(BUILD)/tools/cli.o $(BUILD)/libsung.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Itests -o $@ $< $(BUILD)/tools/photos.o $(BUILD)/tools/data.o $(BUILD)/tools/cli.o $(BUILD)/libsung.a $(LDLIBS)

# test_fairshare tests a piece of the command (tools/fairshare.c), so it links it too
$(BUILD)/tests/test_fairshare: tests/test_fairshare.c tests/testutil.h tools/env.h tools/fairshare.h $(BUILD)/tools/fairshare.o $(BUILD)/libsung.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Itests -o $@ $< $(BUILD)/tools/fairshare.o $(BUILD)/libsung.a $(LDLIBS)

ifeq ($(HAVE_MPI),yes)
$(BUILD)/tools/dist.o: ALL_CFLAGS += -DSUNG_MPI $(MPI_CFLAGS)
$(BUILD)/tests/test_mpi: ALL_CFLAGS += -DSUNG_MPI
$(BUILD)/sung: LDLIBS += $(MPI_LIBS)
endif

# Every test also runs on the other kernel paths that the CPU has (avx512 without bf16,
# avx2, generic), so that one binary
# is known to be right on any x86-64.
test: all $(TESTS)
	@set -e; for t in $(TESTS); do echo "== $$t"; $$t; done
	@set -e; for isa in avx512 avx2 generic; do for t in $(BUILD)/tests/test_ops $(BUILD)/tests/test_model; do \
	  echo "== SUNG_ISA=$$isa $$t"; SUNG_ISA=$$isa $$t; done; done
	@echo "== tests/test_scripts.sh"; tests/test_scripts.sh
	@echo "== tests/test_install.sh"; tests/test_install.sh
	@echo "all tests passed"

# make asan: the library, the command and the tests again in build-asan/ with
# AddressSanitizer and UBSan, and every test run once (not the ISA loop of `make test`: the
# same code again, only slower). A report stops the program: status 86 (ASan) or 87 (UBSan)
# with halt_on_error; test_cli also fails on a report in a child's stderr.
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# Leak checking is off for test_mpi alone: Open MPI (4.1) leaks in its own libraries and in
# the plugins it unloads at MPI_Finalize (stacks that end in "<unknown module>", which no
# suppression can name); ASan's memory-error checks and UBSan still run there.
SAN_ENV   = ASAN_OPTIONS=halt_on_error=1:exitcode=86:detect_leaks=$(if $(findstring test_mpi,$(1)),0,1):abort_on_error=0 \
             UBSAN_OPTIONS=halt_on_error=1:exitcode=87:print_stacktrace=1
ASAN_TESTS := $(patsubst tests/%.c,build-asan/tests/%,$(wildcard tests/test_*.c))
.PHONY: asan
asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" build-asan/sung $(ASAN_TESTS)
	@set -e; $(foreach t,$(ASAN_TESTS),echo "== asan $(t)"; $(call SAN_ENV,$(t)) $(t);)
	@echo "all tests passed under ASan and UBSan"

# make fuzz: libFuzzer harnesses (fuzz/fuzz_*.c, built with clang, ASan and UBSan in
# build-fuzz/) for the PNG/JPEG readers, the EXIF parser, weights and training state, each
# run FUZZ_SECONDS from the seeds in fuzz/seeds and those fuzz/make_seeds.c makes (a
# width-1 model and its state, too big to commit). Findings: build-fuzz/NAME-crash-*.
# A single huge allocation that fails is returned as NULL, as glibc does, not a finding
# (a tiny weights file declaring width 1024 asks for 153 GB: docs/ROBUSTNESS.md); memory
# actually used is still limited to 4 GB.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZERS      := image exif weights state
FUZZ_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
.PHONY: fuzz fuzz-build
$(BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_file.h $(BUILD)/libsung.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libsung.a $(LDLIBS)
$(BUILD)/make_seeds: fuzz/make_seeds.c $(BUILD)/libsung.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsung.a $(LDLIBS)
# (the convolution kernels use GCC's vector builtins: they are built with $(CC), without
# sanitizers, and linked in; the code under test is clang's)
fuzz-build:
	$(MAKE) BUILD=build-fuzz CFLAGS="-O2 -g" $(KERNELS:%=build-fuzz/src/ops/kern_%.o)
	$(MAKE) CC=$(FUZZ_CC) BUILD=build-fuzz CFLAGS="-O1 -g $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" \
	  LDFLAGS="$(FUZZ_FLAGS)" $(FUZZERS:%=build-fuzz/fuzz_%) build-fuzz/make_seeds
fuzz: fuzz-build
	build-fuzz/make_seeds all build-fuzz/seeds
	@set -e; for f in $(FUZZERS); do mkdir -p build-fuzz/corpus/$$f; echo "== fuzz_$$f, $(FUZZ_SECONDS) s"; \
	  OMP_NUM_THREADS=1 ASAN_OPTIONS=allocator_may_return_null=1 build-fuzz/fuzz_$$f \
	    -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -malloc_limit_mb=100000000 \
	    -artifact_prefix=build-fuzz/$$f- build-fuzz/corpus/$$f fuzz/seeds/$$f build-fuzz/seeds/$$f; done

golden: all
	$(PYTHON) tests/ref/make_golden.py
	$(PYTHON) tests/ref/make_metrics_golden.py   # needs python3-skimage and python3-scipy
	$(PYTHON) tests/ref/check_c.py $(BUILD)/sung

demo:
	scripts/demo.sh

# The C engine (sung bench) next to the PyTorch reference, same shapes, same run, medians
# of RUNS (bench/compare.py; docs/BENCHMARKS.md). build/bench is `sung bench` on its own.
$(BUILD)/bench: bench/bench.c $(BUILD)/tools/cmd_bench.o $(BUILD)/tools/cli.o $(BUILD)/libsung.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Itools -o $@ $< $(BUILD)/tools/cmd_bench.o $(BUILD)/tools/cli.o $(BUILD)/libsung.a $(LDLIBS)
$(BUILD)/conv_layers: bench/conv_layers.c $(BUILD)/libsung.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsung.a $(LDLIBS)
bench: all $(BUILD)/bench $(BUILD)/conv_layers
	ROUNDS=$(ROUNDS) $(PYTHON) bench/compare.py $(BUILD)/sung $(RUNS)

# Installs the binary, the library and its header, sung.pc, the man page and, when
# they exist, the default weights (PREFIX/share/sung/sung.safetensors).
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include \
	  $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/sung
	install -m 755 $(BUILD)/sung $(DESTDIR)$(PREFIX)/bin/sung
	install -m 644 $(BUILD)/libsung.a $(DESTDIR)$(PREFIX)/lib/libsung.a
	install -m 755 $(BUILD)/libsung.so $(DESTDIR)$(PREFIX)/lib/libsung.so
	install -m 644 include/sung.h $(DESTDIR)$(PREFIX)/include/sung.h
	install -m 644 docs/sung.1 $(DESTDIR)$(PREFIX)/share/man/man1/sung.1
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@LIBS@|$(LDLIBS)|' docs/sung.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/sung.pc
	if [ -f models/sung.safetensors ]; then \
	  install -m 644 models/sung.safetensors $(DESTDIR)$(PREFIX)/share/sung/sung.safetensors; fi

clean:
	rm -rf $(BUILD) build-asan build-fuzz
