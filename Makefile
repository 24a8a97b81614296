# w2v: two commands set up everything on a fresh machine.
#   make demo   set up libtorch, build, run synth -> prep -> pairs -> train -> neighbors
#   make test   set up, then fmt + clippy + tests (w2v and the w2v-torch member crate) + 30 s per fuzz target
#               + Python cross-checks + the `w2v serve` page in headless chromium
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python
BIN := target/release/w2v

# tch finds libtorch in the venv's torch (pinned in scripts/setup-venv.sh).
export LIBTORCH_USE_PYTORCH := 1
export PYTHON_SYS_EXECUTABLE := $(PY)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup build demo test bench clean

setup:
	@bash scripts/setup-venv.sh
	@bash scripts/setup-browser.sh

# Both binaries: w2v (no libtorch) and w2v-torch (the torch engine, torch/).
build: setup
	cargo build --release --workspace

demo: build
	$(BIN) synth --out data/sample.txt --seed 1
	$(BIN) prep data/sample.txt -o data/corpus.txt
	$(BIN) pairs --corpus data/corpus.txt --vocab-dir vocab --shards-dir shards --force
	$(BIN) train --shards shards -o model
	@words=$$($(PY) -c 'import json; g=json.load(open("data/sample.groups.json"))["groups"]; print(" ".join(x["members"][0] for x in g[:3]))'); \
	  echo "neighbours of $$words (each word's planted topic is in data/sample.groups.json):"; \
	  $(BIN) neighbors $$words -k 8

test: setup
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	@# The w2v package alone must not pull in tch.
	! cargo tree -p w2v -e normal,build | grep -q ' tch v'
	@# The integration tests run w2v, which hands torch runs to the w2v-torch
	@# next to it; torch/tests makes this same build put it there.
	W2V_REQUIRE_TORCH=1 cargo test --workspace
	@# Every fuzz target for 30 s: libFuzzer, coverage-guided, on stable (TESTING.md).
	bash scripts/fuzz.sh 30
	cargo build --release --workspace
	$(PY) tests/python/run_tests.py
	@# The w2v serve page in headless chromium; required once setup installed it.
	W2V_REQUIRE_BROWSER=$$(test -f $(VENV)/.browser-ok && echo 1 || echo 0) $(PY) tests/python/browser_test.py

bench: build
	cargo bench --bench normalize --bench kernels
	bash benches/compare.sh

clean:
	cargo clean
	rm -rf tests/fuzz/target tests/fuzz/corpus tests/fuzz/artifacts tests/fuzz/logs
	rm -rf data/corpus.txt data/sample.* data/*manifest.json shards/epoch-* shards/*manifest.json shards/.w2v-staging-* vocab/*.json vocab/*.txt vocab/*.u64 vocab/*.alias model
