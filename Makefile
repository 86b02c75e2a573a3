# normbench — build, test, run and benchmark.
#
#   make run     installs missing Debian packages, builds, trains experiments/quickstart.yaml
#   make test    installs missing Debian packages, builds, runs every test
#   make bench   throughput benchmarks (not part of make test)
#
# The library is built twice from the same sources: float (build/f32, used by bin/normbench) and
# double (build/f64, -DNB_DOUBLE, used by the unit tests for exact finite-difference checks).

CC      ?= gcc
THREADS ?= 2
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -D_GNU_SOURCE -fopenmp -Ilib
# OpenBLAS built on OpenMP (Debian's libopenblas-openmp-dev), linked by path: normbench's own
# parallel loops use OpenMP too, and one shared thread pool avoids two pools spinning against
# each other on the same cores (measured: the pthread build lost ~40% to sched_yield here).
BLAS_DIR := /usr/lib/$(shell gcc -print-multiarch)/openblas-openmp
BLAS_INC := /usr/include/$(shell gcc -print-multiarch)/openblas-openmp
CFLAGS  += -I$(BLAS_INC)
LDLIBS  := -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas -lyaml -lcsv -lz -ljpeg -lm -fopenmp

# Debian packages the build, the tests and the default experiment need.
DEB_PACKAGES := build-essential pkg-config libopenblas-dev libopenblas-openmp-dev libyaml-dev libcsv-dev zlib1g-dev \
                libjpeg-dev gnuplot-nox fonts-dejavu-core libcmocka-dev dataset-fashion-mnist parallel

LIB_SRC  := $(wildcard lib/*.c)
LIB32_OBJ := $(patsubst lib/%.c,build/f32/%.o,$(LIB_SRC))
LIB64_OBJ := $(patsubst lib/%.c,build/f64/%.o,$(LIB_SRC))
RUN_SRC  := $(wildcard runners/*.c)
RUN_OBJ  := $(patsubst runners/%.c,build/runners/%.o,$(RUN_SRC))
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(patsubst tests/%.c,build/tests/%,$(TEST_SRC))
HEADERS  := $(wildcard lib/*.h runners/*.h tests/*.h)

.PHONY: all deps build run test bench clean regress reproduce
all: build
build: bin/normbench $(TEST_BIN)

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
build/f32/buildinfo.o build/f64/buildinfo.o: build/buildinfo.inc
CFLAGS += -Ibuild
.PHONY: FORCE
FORCE:

build/f32/%.o: lib/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@
build/f64/%.o: lib/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DNB_DOUBLE -c $< -o $@
build/libnormbench.a: $(LIB32_OBJ)
	ar rcs $@ $^
build/libnormbench64.a: $(LIB64_OBJ)
	ar rcs $@ $^
build/runners/%.o: runners/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Irunners -c $< -o $@
bin/normbench: $(RUN_OBJ) build/libnormbench.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(RUN_OBJ) build/libnormbench.a $(LDLIBS) -o $@
build/tests/%: tests/%.c build/libnormbench64.a $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DNB_DOUBLE -Itests $< build/libnormbench64.a $(LDLIBS) -lcmocka -o $@

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

# The six claims of SPEC 5: hours on 2 cores, resumable; then every plot, report and the README table.
CLAIMS := $(sort $(wildcard experiments/claim*.yaml))
reproduce: deps
	@$(MAKE) --no-print-directory build
	@for e in $(CLAIMS); do ./bin/normbench run $$e -j $(THREADS) --threads 1 || exit 1; done
	@for e in $(CLAIMS); do ./bin/normbench plot results/$$(basename $$e .yaml) --quiet; done; true
	./bin/normbench claims --readme README.md

test: deps
	@$(MAKE) --no-print-directory build
	@tests/run_all.sh $(TEST_BIN)

bench: deps
	@$(MAKE) --no-print-directory build
	./bin/normbench bench

clean:
	rm -rf build bin
