# The front door: `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO      ?= go
PORT    ?= 3000
GOTEST_FLAGS ?= -count=1 -race -timeout 20m

# The Go every target builds, tests and vuln-checks with, taken from the Go
# module proxy by the go command itself. Go 1.26.8, the machines' own, has
# standard-library vulnerabilities that govulncheck finds reachable (fixed in
# 1.26.9 and 1.26.10, which are not served); 1.27.3 has none.
# `make GO_TOOLCHAIN=local ...` uses whatever go is on PATH.
GO_TOOLCHAIN ?= go1.27.3
export GOTOOLCHAIN := $(GO_TOOLCHAIN)

# govulncheck, and the snapshot of the Go vulnerability database it checks
# against. vuln.go.dev cannot be reached from every machine; the same data is
# published as the Go module golang.org/x/vulndb, which the module proxy
# serves and vulndb's own indexdb turns into a database govulncheck reads.
# `make vulncheck VULNDB_VERSION=latest` checks against the newest snapshot.
GOVULNCHECK_VERSION ?= v1.9.0
VULNDB_VERSION      ?= v0.0.0-20261105234957-e22db6528018

FUZZTIME ?= 2m

.PHONY: help
help: ## List every target with one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_.%-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: deps
deps: node_modules/.package-lock.json ## Install what the tests and `make run` need (dynalite from package-lock.json, Go modules)
	$(GO) mod download

.PHONY: run
run: deps ## Run the service locally on http://127.0.0.1:$(PORT) with an in-memory dynalite (Ctrl-C stops all)
	PORT=$(PORT) $(GO) run ./cmd/cis-local

.PHONY: test
test: deps ## Run every test (unit, storage and end-to-end against dynalite, and moto where installed)
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	  if [ -n "$$unformatted" ]; then echo "not gofmt-formatted:"; echo "$$unformatted"; exit 1; fi
	$(GO) test $(GOTEST_FLAGS) ./...

.PHONY: vulncheck
vulncheck: ## Check the code and the Go it is built with for known vulnerabilities (govulncheck; fails on any reachable one)
	@set -euo pipefail; \
	info=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION)) || { echo "vulncheck: cannot fetch golang.org/x/vulndb@$(VULNDB_VERSION) from the module proxy" >&2; exit 1; }; \
	src=$$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p' <<<"$$info"); \
	ver=$$(sed -n 's/^[[:space:]]*"Version": "\(.*\)",$$/\1/p' <<<"$$info"); \
	db="$(CURDIR)/build/vulndb/$$ver"; \
	if [ ! -f "$$db/index/db.json" ]; then \
	  echo "vulncheck: indexing the Go vulnerability database $$ver"; \
	  rm -rf "$$db.tmp"; \
	  $(GO) run golang.org/x/vulndb/cmd/indexdb@$$ver -vulns "$$src/data/osv" -out "$$db.tmp"; \
	  mv "$$db.tmp" "$$db"; \
	fi; \
	echo "vulncheck: $$($(GO) version), database $$ver"; \
	$(GO) run golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION) -db "file://$$db" ./...

.PHONY: fuzz
fuzz: deps ## Fuzz the Lambda entry point for FUZZTIME (default 2m) over dynalite; failing inputs land in internal/lambda/testdata
	CIS_TEST_ENGINES=dynalite $(GO) test -run '^$$' -fuzz '^FuzzInvoke$$' -fuzztime $(FUZZTIME) ./internal/lambda/

.PHONY: admin
admin: ## Run the admin tool: make admin ARGS="list-users"
	$(GO) run ./cmd/cis-admin $(ARGS)

.PHONY: clean
clean: ## Remove build output
	rm -rf build
