# normbench — build, test, run and benchmark.
#
#   make run     installs missing Debian packages, builds, trains experiments/quickstart.yaml
#   make test    installs missing Debian packages, builds, runs every test
#   make bench   throughput benchmarks (not part of make test)
#   make test-slurm  a sweep through a real single-node Slurm (CI runs it after make test)
#
# The library is built twice from the same sources: float (build/f32, used by bin/normbench) and
# double (build/f64, -DNB_DOUBLE, used by the unit tests for exact finite-difference checks).

CC      ?= gcc
THREADS ?= 2
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -D_GNU_SOURCE -fopenmp -Ilib
# Header dependencies: each object's .d file lists the headers it read (-MMD), with an empty rule
# per header (-MP) so that a deleted header does not stop the build.
DEPFLAGS := -MMD -MP
# OpenBLAS built on OpenMP (Debian's libopenblas-openmp-dev), linked by path: normbench's own
# parallel loops use OpenMP too, and one shared thread pool avoids two pools spinning against
# each other on the same cores (measured: the pthread build lost ~40% to sched_yield here).
BLAS_DIR := /usr/lib/$(shell gcc -print-multiarch)/openblas-openmp
BLAS_INC := /usr/include/$(shell gcc -print-multiarch)/openblas-openmp
CFLAGS  += -I$(BLAS_INC)
LDLIBS  := -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lgsl -lopenblas -ldnnl -lyaml -lcsv -lz -ljpeg -lpng16 -lm -fopenmp

# Debian packages the build, the tests and the default experiment need.
DEB_PACKAGES := build-essential pkg-config libopenblas-dev libopenblas-openmp-dev libyaml-dev libcsv-dev zlib1g-dev \
                libjpeg-dev libpng-dev libdnnl-dev gnuplot-nox fonts-dejavu-core libcmocka-dev dataset-fashion-mnist parallel libgsl-dev

LIB_SRC  := $(wildcard lib/*/*.c)
LIB32_OBJ := $(patsubst lib/%.c,build/f32/%.o,$(LIB_SRC))
LIB64_OBJ := $(patsubst lib/%.c,build/f64/%.o,$(LIB_SRC))
RUN_SRC  := $(wildcard runners/*.c)
RUN_OBJ  := $(patsubst runners/%.c,build/runners/%.o,$(RUN_SRC))
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(patsubst tests/%.c,build/tests/%,$(TEST_SRC))
# Tests of what only the float build has (the oneDNN backend), linked against build/libnormbench.a.
F32_TEST_SRC := $(wildcard tests/f32/test_*.c)
F32_TEST_BIN := $(patsubst tests/%.c,build/tests/%,$(F32_TEST_SRC))

.PHONY: all deps build run test bench clean regress mutate-regress reproduce reproduce-partial-fc layers
all: build
build: bin/normbench $(TEST_BIN) $(F32_TEST_BIN)

deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make deps: installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "make deps: missing packages; run as root:"; \
	    echo "  apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

# Build facts recorded by every run; rewritten only when they change.
BUILDINFO_TEXT := \#define NB_GIT_COMMIT "$(shell git rev-parse HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- lib runners 2>/dev/null || echo +dirty)"\n\#define NB_CFLAGS "$(CFLAGS)"
build/buildinfo.inc: FORCE
	@mkdir -p $(@D)
	@printf '%b\n' '$(BUILDINFO_TEXT)' > $@.new
	@cmp -s $@.new $@ && rm -f $@.new || mv $@.new $@
build/f32/io/buildinfo.o build/f64/io/buildinfo.o: build/buildinfo.inc
CFLAGS += -Ibuild
.PHONY: FORCE
FORCE:

build/f32/%.o: lib/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@
build/f64/%.o: lib/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPFLAGS) -DNB_DOUBLE -c $< -o $@
build/libnormbench.a: $(LIB32_OBJ)
	rm -f $@ && ar rcs $@ $^
build/libnormbench64.a: $(LIB64_OBJ)
	rm -f $@ && ar rcs $@ $^
build/runners/%.o: runners/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPFLAGS) -Irunners -c $< -o $@
bin/normbench: $(RUN_OBJ) build/libnormbench.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(RUN_OBJ) build/libnormbench.a $(LDLIBS) -o $@
# The OpenBLAS and oneDNN backends of the backbones against each other (make bench runs it).
build/bench_dnnl: bench/bench_dnnl.c build/libnormbench.a
	$(CC) $(CFLAGS) $< build/libnormbench.a $(LDLIBS) -o $@
build/tests/f32/%: tests/f32/%.c build/libnormbench.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPFLAGS) -Itests $< build/libnormbench.a $(LDLIBS) -lcmocka -o $@
build/tests/%: tests/%.c build/libnormbench64.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPFLAGS) -DNB_DOUBLE -Itests $< build/libnormbench64.a $(LDLIBS) -lcmocka -o $@

# The default experiment: four losses on Fashion-MNIST with verification, then plots and report.
run: deps
	@$(MAKE) --no-print-directory build
	./bin/normbench run experiments/quickstart.yaml --threads $(THREADS)
	@./bin/normbench plot results/quickstart --quiet || true
	@echo "report: results/quickstart/report.html (and report.md)"

# Accuracy numbers against results/reference/ (also run by make test, through tests/test_regress.c).
regress: deps
	@$(MAKE) --no-print-directory build
	./bin/normbench regress -j $(THREADS)

# Measures the check above: 13 deliberate breakages of lib/, each built in one scratch copy and run
# through `normbench regress`; the table caught / missed goes to results/regress/mutations.csv
# (docs/regress.md). Not part of make test (13 x 18 quick runs).
mutate-regress: deps
	@$(MAKE) --no-print-directory bin/normbench
	tools/mutate_regress.sh

# Copies results/<exp>/ to results/reference/<sub>/<exp>/, the committed copy the README links to:
# the summaries, the report and the PNG figures (the SVG copies are left out: a scatter of 10,000
# points is 3 MB as SVG). $(call copy_reference,SUBFOLDER,EXPERIMENT FILES)
define copy_reference
	@for e in $(2); do n=$$(basename $$e .yaml); r=results/reference/$(1)$$n; \
	  rm -rf $$r && mkdir -p $$r/figures && \
	  cp results/$$n/summary.csv results/$$n/summary_agg.csv $$r/ && \
	  if [ -f results/$$n/report.md ]; then sed 's/ (\[SVG\](figures\/[^)]*))//' results/$$n/report.md > $$r/report.md; fi; \
	  if [ -d results/$$n/figures ]; then cp results/$$n/figures/*.png $$r/figures/ 2>/dev/null; fi; true; done
endef

# The claims of docs/claims.md (about 2¼ hours on 2 cores, resumable); then every plot, report and the README table.
CLAIMS := $(sort $(wildcard experiments/claim*.yaml))
reproduce: deps
	@$(MAKE) --no-print-directory build
	@for e in $(CLAIMS); do ./bin/normbench run $$e -j $(THREADS) --threads 1 || exit 1; done
	@for e in $(CLAIMS); do ./bin/normbench plot results/$$(basename $$e .yaml) --quiet; done; true
	$(call copy_reference,claims/,$(CLAIMS))
	./bin/normbench claims --readme README.md

# what sampled softmax costs at 10,000 and 100,000 identities (~1.5 hours on 2 cores,
# resumable); the README's Partial FC table quotes the copies in results/reference/partial_fc_*/.
PARTIAL_FC := experiments/partial_fc_10k.yaml experiments/partial_fc_100k.yaml
reproduce-partial-fc: deps
	@$(MAKE) --no-print-directory build
	@for e in $(PARTIAL_FC); do ./bin/normbench run $$e -j $(THREADS) --threads 1 || exit 1; done
	@for e in $(PARTIAL_FC); do ./bin/normbench plot results/$$(basename $$e .yaml) --quiet; done; true
	$(call copy_reference,,$(PARTIAL_FC))

test: deps
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory layers
	@out=$$(tools/test_check_layers.sh) || { echo "$$out"; exit 1; }; echo "$$out" | tail -n 1
	@tests/run_all.sh $(TEST_BIN) $(F32_TEST_BIN)
	@$(MAKE) --no-print-directory fuzz-smoke asan-test

# Beyond one machine, for real: a single-node Slurm (slurmctld, slurmd, munge, installed by the
# script where missing; skipped with a message where they cannot be) runs a sweep's array, one
# task killed and the pending runs resubmitted; collect must equal a local run. ~1 minute.
# And the concurrency test of tests/test_ledger.c with more trials than make test gives it.
.PHONY: test-slurm test-concurrency
test-slurm: build
	@tests/slurm/test_slurm.sh
test-concurrency: build
	NB_LEDGER_TRIALS=$${NB_LEDGER_TRIALS:-100} build/tests/test_ledger

# The dependency rules between the parts of lib/ (docs/architecture.md), from the sources alone.
layers:
	@tools/check_layers.sh

# Backbones: for the native instruction set and with both programs capped at AVX2, BENCH_ROUNDS
# rounds, each normbench (both backends) then PyTorch (bench/torch_train.py, skipped without
# python3-torch) into results/bench/CAP/roundN/, joined by bench/ratio.py into results/bench/ratio.csv.
# Then the classification head, the backends' layers alone, and the head in PyTorch.
BENCH_ROUNDS ?= 2
TORCH_OK = /usr/bin/python3 -c 'import torch' 2>/dev/null
# As root, make bench installs Debian's PyTorch and numpy for its references (like every other
# package); as another user they are not asked for and the PyTorch comparison is skipped.
bench: DEB_PACKAGES += $(if $(filter 0,$(shell id -u)),python3-torch python3-numpy)
bench: deps
	@$(MAKE) --no-print-directory build
	@for cap in native AVX2; do for r in $$(seq 1 $(BENCH_ROUNDS)); do \
	  d=results/bench/$$cap/round$$r; isa=""; \
	  if [ $$cap = AVX2 ]; then isa="ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2"; fi; \
	  echo "== bench: $$cap, round $$r"; \
	  env $$isa ./bin/normbench bench --out $$d || exit 1; \
	  if $(TORCH_OK); then env $$isa /usr/bin/python3 bench/torch_train.py --rounds 3 --out $$d/train_torch.csv || exit 1; \
	  else echo "make bench: no python3-torch: PyTorch comparison skipped"; fi; \
	done; done
	@if [ -x /usr/bin/python3 ]; then /usr/bin/python3 bench/ratio.py results/bench; fi
	./bin/normbench bench head
	@$(MAKE) --no-print-directory build/bench_dnnl && build/bench_dnnl
	@if $(TORCH_OK); then /usr/bin/python3 bench/torch_head.py; else echo "make bench: no python3-torch: PyTorch comparison skipped"; fi
	gnuplot -c plots/bench_head.gp results/bench/head.png results/bench/head.csv results/bench/head_torch.csv

clean:
	rm -rf build bin

# ---- Hostile input: sanitizers, fuzzing, valgrind ------------------------------------
# `make test` goes on with (1) a short smoke run of every libFuzzer target and (2) the whole unit
# suite again, built with AddressSanitizer + UndefinedBehaviorSanitizer in build/asan (its own
# library, runners and build/asan/bin/normbench, which the tests run through NB_BIN). Reports go
# to files in build/asan/reports/ (children of the tests included) and any report fails the pass.
# `make fuzz FUZZ_SECONDS=N` runs each target for N seconds; `make valgrind` runs memcheck on a
# short training run.
DEB_PACKAGES += clang libclang-rt-14-dev libomp-14-dev valgrind

# Built with clang (from Debian, like gcc): with gcc's split libasan/libubsan, UBSan ignores
# log_path and its reports could hide in the stderr of a test that expects a failure.
SAN_FLAGS     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ASAN_CC       := clang
ASAN_CFLAGS   := $(subst -fopenmp,-fopenmp=libgomp,$(CFLAGS)) $(SAN_FLAGS)
ASAN_LDLIBS   := $(subst -fopenmp,-fopenmp=libgomp,$(LDLIBS))
ASAN32_OBJ    := $(patsubst lib/%.c,build/asan/f32/%.o,$(LIB_SRC))
ASAN64_OBJ    := $(patsubst lib/%.c,build/asan/f64/%.o,$(LIB_SRC))
ASAN_RUN_OBJ  := $(patsubst runners/%.c,build/asan/runners/%.o,$(RUN_SRC))
ASAN_TEST_BIN := $(patsubst tests/%.c,build/asan/tests/%,$(TEST_SRC) $(F32_TEST_SRC))
# Sanitizer settings, each for a reason:
#  detect_leaks=1        leaks are reports too (LSan);
#  suppressions          tests/asan/lsan.supp: empty — libgomp/OpenBLAS thread pools stay
#                        reachable, so nothing needs suppressing (see that file);
#  log_path              reports from every process, bin/normbench children included, land in
#                        build/asan/reports/ where the recipe finds them even when a test expected
#                        a non-zero exit status;
#  halt_on_error/abort   the first report ends the process (-fno-sanitize-recover=all does it for
#                        UBSan at compile time; print_stacktrace=1 gives UBSan a stack).
ASAN_REPORTS  := $(CURDIR)/build/asan/reports
ASAN_ENV      := ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:log_path=$(ASAN_REPORTS)/asan \
                 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/asan/lsan.supp:print_suppressions=0 \
                 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(ASAN_REPORTS)/ubsan \
                 NB_BIN=build/asan/bin/normbench

.PHONY: asan-build asan-test fuzz fuzz-build fuzz-smoke valgrind
asan-build: build/asan/bin/normbench $(ASAN_TEST_BIN)
build/asan/f32/io/buildinfo.o build/asan/f64/io/buildinfo.o: build/buildinfo.inc
build/asan/f32/%.o: lib/%.c
	@mkdir -p $(@D)
	$(ASAN_CC) $(ASAN_CFLAGS) $(DEPFLAGS) -c $< -o $@
build/asan/f64/%.o: lib/%.c
	@mkdir -p $(@D)
	$(ASAN_CC) $(ASAN_CFLAGS) $(DEPFLAGS) -DNB_DOUBLE -c $< -o $@
build/asan/libnormbench.a: $(ASAN32_OBJ)
	rm -f $@ && ar rcs $@ $^
build/asan/libnormbench64.a: $(ASAN64_OBJ)
	rm -f $@ && ar rcs $@ $^
build/asan/runners/%.o: runners/%.c
	@mkdir -p $(@D)
	$(ASAN_CC) $(ASAN_CFLAGS) $(DEPFLAGS) -Irunners -c $< -o $@
build/asan/bin/normbench: $(ASAN_RUN_OBJ) build/asan/libnormbench.a
	@mkdir -p $(@D)
	$(ASAN_CC) $(ASAN_CFLAGS) $(ASAN_RUN_OBJ) build/asan/libnormbench.a $(ASAN_LDLIBS) -o $@
build/asan/tests/f32/%: tests/f32/%.c build/asan/libnormbench.a
	@mkdir -p $(@D)
	$(ASAN_CC) $(ASAN_CFLAGS) $(DEPFLAGS) -Itests $< build/asan/libnormbench.a $(ASAN_LDLIBS) -lcmocka -o $@
build/asan/tests/%: tests/%.c build/asan/libnormbench64.a
	@mkdir -p $(@D)
	$(ASAN_CC) $(ASAN_CFLAGS) $(DEPFLAGS) -DNB_DOUBLE -Itests $< build/asan/libnormbench64.a $(ASAN_LDLIBS) -lcmocka -o $@

asan-test: asan-build
	@rm -rf $(ASAN_REPORTS) && mkdir -p $(ASAN_REPORTS)
	@echo "== sanitizer pass (AddressSanitizer + UndefinedBehaviorSanitizer): build/asan"
	@$(ASAN_ENV) tests/run_all.sh $(ASAN_TEST_BIN); rc=$$?; \
	n=$$(ls $(ASAN_REPORTS) | wc -l); \
	if [ "$$n" -gt 0 ]; then cat $(ASAN_REPORTS)/*; echo "sanitizers: $$n report(s), see $(ASAN_REPORTS)"; exit 1; fi; \
	echo "sanitizers: 0 reports"; exit $$rc

# libFuzzer targets (clang): one per parser, seed corpora in tests/fuzz/<target>/.
FUZZ_TARGETS       := config idx pairs image csv npy bin
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 4
FUZZ_CC            := clang
FUZZ_CFLAGS        := $(ASAN_CFLAGS)
FUZZ_LDLIBS        := $(ASAN_LDLIBS)
FUZZ_OBJ           := $(patsubst lib/%.c,build/fuzz/obj/%.o,$(LIB_SRC))
FUZZ_BIN           := $(patsubst %,build/fuzz/fuzz_%,$(FUZZ_TARGETS))
build/fuzz/obj/io/buildinfo.o: build/buildinfo.inc
build/fuzz/obj/%.o: lib/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
build/fuzz/libnormbench.a: $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h build/fuzz/libnormbench.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) -fsanitize=fuzzer -Itests $< build/fuzz/libnormbench.a $(FUZZ_LDLIBS) -o $@
fuzz-build: $(FUZZ_BIN)
fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)
fuzz-smoke: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

# valgrind memcheck on a short training run (1 thread): 0 errors and 0 definite/indirect/possible
# leaks, no suppressions (see tests/valgrind.sh). Not part of make test: minutes under valgrind.
valgrind: deps
	@$(MAKE) --no-print-directory build
	tests/valgrind.sh

# Header dependencies written by -MMD (absent before the first build).
-include $(shell find build -name '*.d' 2>/dev/null)
