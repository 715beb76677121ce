# tether: the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
FUZZ_SECONDS ?= 60

.PHONY: all deps build test test-python python-wheel demo bench fmt lint fuzz clean

all: build

deps:
	@bash scripts/ensure-deps.sh

build: deps
	$(CARGO) build --workspace --release

## Every test: Rust unit and integration tests (against a real mosquitto the fixtures start).
test: deps
	$(CARGO) test --workspace
	$(MAKE) test-c
	$(MAKE) test-python

## The persistent-session demonstration (Python) against a mosquitto it starts on a free port.
demo: python-wheel
	$(CARGO) build -p tether-testkit
	bash examples/python/run_demo.sh $(VENV)/bin/python

## The Python wheel (release, abi3), built with maturin and installed into $(VENV).
VENV := build/venv
WHEELS := build/wheels
python-wheel: deps
	@bash scripts/ensure-deps.sh python
	rm -f $(WHEELS)/tether-*.whl
	cd python && ../$(VENV)/bin/maturin build --release --quiet -o ../$(WHEELS)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check --force-reinstall --no-deps $(WHEELS)/tether-*.whl

## The Python suite against the installed wheel (a real mosquitto and the fault proxy),
## plus a fresh-venv import of the wheel, mypy --strict, stubtest and ruff.
test-python: python-wheel
	$(CARGO) build -p tether-testkit
	rm -rf build/venv-smoke && python3 -m venv build/venv-smoke
	build/venv-smoke/bin/python -m pip install -q --disable-pip-version-check --no-index --no-deps $(WHEELS)/tether-*.whl
	cd /tmp && $(CURDIR)/build/venv-smoke/bin/python -c 'import tether; c = tether.Client("smoke"); print("fresh venv imports tether", tether.__version__)'
	cd tests/python && ../../$(VENV)/bin/python -m pytest
	cd tests/python && ../../$(VENV)/bin/python -m mypy --strict . ../../examples/python
	cd tests/python && ../../$(VENV)/bin/python -m mypy.stubtest tether._tether
	$(VENV)/bin/ruff check --config python/pyproject.toml python/tether tests/python examples/python
	$(VENV)/bin/ruff format --check --config python/pyproject.toml python/tether tests/python examples/python

## The C suite: include/tether.h up to date and compiling as C99 and C++17, the C tests and
## examples against mosquitto, then the tests again under valgrind (see tests/c/run.sh).
.PHONY: test-c
test-c: deps
	bash tests/c/run.sh

## Interop: the suite against a second MQTT 5 server, rmqtt (installed when missing, pinned,
## cached under build/rmqtt or $$TETHER_RMQTT_HOME), and failover on a three-node rmqtt cluster.
.PHONY: test-interop
test-interop: deps
	bash tests/interop/run.sh

## Benchmarks against rumqttc, Paho C, libmosquitto and paho-mqtt on a mosquitto of their own
## (installs what they need; QUICK=1 for the one-minute set). Report: bench/results/latest.md.
## The Python face is measured from the wheel built here (python-wheel), never a stale one.
bench: deps python-wheel
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
