# Helios. `make demo` runs the main job end to end on a store in a local
# folder; `make test` runs every test. Both install what is missing first:
# Debian's librocksdb-dev, liburing-dev and git (apt-get), and Go modules.

GO        ?= go
# The patched Go release (go1.26.8, the machines' own, has 11 reachable
# standard-library vulnerabilities; scripts/vulncheck.sh). The go command
# fetches it from the module proxy on first use (about 10 s).
export GOTOOLCHAIN ?= go1.26.11
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEB_PKGS  := librocksdb-dev liburing-dev git strace
BIN       := bin
GOFLAGS_TEST ?= -race -timeout 45m

.PHONY: all deps build test vet cover demo bench phase0 clean licences vulncheck fuzz deps-check security-audit

all: build

# Install the Debian packages that are not there yet (nothing else).
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@$(GO) mod download

build: deps
	# helios is two builds: helios-store (everything, linked with RocksDB)
	# and, installed as helios, the thin build (no cgo) that runs the hot
	# commands through the store's server and execs helios-store for the rest.
	$(GO) build -o $(BIN)/helios-store ./cmd/helios
	CGO_ENABLED=0 $(GO) build -tags thin -o $(BIN)/helios ./cmd/helios
	# The helper's thin build: no cgo, no RocksDB, a third of the start-up
	# time; it reaches stores through helios serve and hands the rest to
	# `helios git-remote-helios`.
	CGO_ENABLED=0 $(GO) build -tags thin -o $(BIN)/git-remote-helios ./cmd/git-remote-helios

vet: deps
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test: vet build
	PATH="$(CURDIR)/$(BIN):$$PATH" $(GO) test $(GOFLAGS_TEST) ./...

# Coverage over the whole module (the release criterion is > 85%).
cover: deps build
	PATH="$(CURDIR)/$(BIN):$$PATH" $(GO) test -timeout 45m -coverpkg=./... -coverprofile=cover.out ./... >cover.log 2>&1 || \
		{ grep -v -e '^ok' -e 'coverage: ' cover.log; exit 1; }
	@$(GO) tool cover -func=cover.out | tail -1

demo: build
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

bench: build
	$(BIN)/helios bench all

# The Phase-0 go/no-go table (cmd/helios/phase0.go): every decision
# criterion measured on this machine, including io-report and coverage.
phase0: build
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/helios phase0

# Every fuzz target for FUZZTIME each, a count of inputs rather than a duration
# (a duration can end the run mid-input and fail it with "context deadline
# exceeded"); CI runs them briefly (.ci/run: FUZZTIME=50000x). Targets whose
# inputs are slow run FUZZTIME_SLOW instead (default: FUZZTIME). Found inputs
# land in testdata/fuzz and become regression tests.
FUZZTIME ?= 100000x
FUZZTIME_SLOW ?= $(FUZZTIME)
FUZZ_TARGETS := \
	./objstore:FuzzDecodeTree ./objstore:FuzzDecodeState ./objstore:FuzzDecodeChunkList \
	./objstore:FuzzCleanPath ./objstore:FuzzApplyTreeDelta \
	./objstore/server:FuzzReadFrame ./objstore/server:FuzzRequest \
	./helper/gitobj:FuzzTree ./helper/gitobj:FuzzCommit ./helper/gitobj:FuzzTag \
	./helper:FuzzServe
FUZZ_SLOW :=
fuzz: deps
	@for pt in $(FUZZ_TARGETS); do pkg=$${pt%%:*}; t=$${pt#*:}; n=$(FUZZTIME); \
		case " $(FUZZ_SLOW) " in *" $$pt "*) n=$(FUZZTIME_SLOW);; esac; \
		echo "fuzz $$pkg $$t $$n"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$t\$$" -fuzztime $$n || exit 1; done

# Release gates (README, "Release gates"):
# deps-check: every Go module's licence known and allowed (no AGPL, GPL,
# LGPL, SSPL, BUSL) and every C library the full build links on the
# written allowlist scripts/c-libraries.allow; no network beyond the
# module downloads of make deps.
deps-check: deps
	bash scripts/licence-check.sh

# security-audit: no known vulnerability reachable from our code
# (govulncheck against a pinned, offline-indexed database).
security-audit: deps
	bash scripts/vulncheck.sh

# The targets' old names.
licences: deps-check
vulncheck: security-audit

clean:
	rm -rf $(BIN) cover.out cover.log
