# Koinon: `make demo` runs a real distributed training run, `make test` runs every test.
SWIFT ?= swift
WORKER := .build/release/koinon-worker

.PHONY: all deps build release test demo bench bench-reference fixtures clean

all: build

# System packages the build and tests need (OpenBLAS, zstd, PostgreSQL); installs only what is missing.
deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Tests run one at a time: several start PostgreSQL clusters, servers and
# worker processes, which contend badly for 2 cores when run together (the
# whole suite takes about a minute serially). The time limit turns a hang
# into a clear failure instead of a stalled CI run. Then schemathesis fuzzes
# the HTTP API of a live coordinator against openapi.yaml (scripts/api-fuzz.sh).
test: deps
	$(SWIFT) build --build-tests
	timeout 2400 $(SWIFT) test --skip-build --no-parallel
	timeout 900 scripts/api-fuzz.sh

# A real distributed run: coordinator + embedded PostgreSQL + 2 workers on
# tiny Shakespeare, then export and a sample (scripts/demo.sh).
demo: deps
	scripts/demo.sh

# Koinon against PyTorch on every preset, same machine, same run (needs pip torch + transformers).
bench-reference: deps
	$(SWIFT) build -c release --product koinon-worker
	python3 benchmarks/torch_reference.py --koinon $(WORKER)

# Regenerates the reference fixtures (needs pip torch + transformers).
fixtures:
	python3 scripts/make_fixtures.py

clean:
	rm -rf .build
