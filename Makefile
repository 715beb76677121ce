# tether: the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
FUZZ_SECONDS ?= 60

.PHONY: all deps build test demo bench fmt lint fuzz clean

all: build

deps:
	@bash scripts/ensure-deps.sh

build: deps
	$(CARGO) build --workspace --release

## Every test: Rust unit and integration tests (against a real mosquitto the fixtures start).
test: deps
	$(CARGO) test --workspace
	$(MAKE) test-c

## The persistent-session demonstration against a broker it starts itself.
demo: deps
	$(CARGO) run --release -p tether-core --example persistent_session

## The C suite: include/tether.h up to date and compiling as C99 and C++17, the C tests and
## examples against mosquitto, then the tests again under valgrind (see tests/c/run.sh).
.PHONY: test-c
test-c: deps
	bash tests/c/run.sh

## Benchmarks against rumqttc, Paho C, libmosquitto and paho-mqtt on a mosquitto of their own
## (installs what they need; QUICK=1 for the one-minute set). Report: bench/results/latest.md.
bench: deps
	@bash bench/ensure-bench-deps.sh
	QUICK="$(QUICK)" python3 bench/run.py

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Fuzz the decoder and the session engine, FUZZ_SECONDS each (needs cargo-fuzz; not in CI).
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz
	cd fuzz && for t in $$(RUSTC_BOOTSTRAP=1 cargo fuzz list); do \
		RUSTC_BOOTSTRAP=1 cargo fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

clean:
	$(CARGO) clean
