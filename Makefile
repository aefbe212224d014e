# The front door: `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO      ?= go
PORT    ?= 3000
GOTEST_FLAGS ?= -count=1 -race -timeout 20m

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

.PHONY: timing
timing: deps ## Measure refused log-ins per cause (unknown user, wrong password, locked): 200 each, min/p50/p90/p99/max
	$(GO) test -run '^$$' -bench RefusedLogInTiming -benchtime 200x -v -timeout 30m ./internal/lambda/
	$(GO) test -run '^$$' -bench KnownVersusUnknownUserRequests -benchtime 1000x -v ./internal/dynamo/

.PHONY: admin
admin: ## Run the admin tool: make admin ARGS="list-users"
	$(GO) run ./cmd/cis-admin $(ARGS)

.PHONY: clean
clean: ## Remove build output
	rm -rf build
