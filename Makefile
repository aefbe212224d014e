# The front door: `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO      ?= go
# `make run` serves on 127.0.0.1:$(PORT) and seeds its local-only user with
# LOCAL_ADMIN_PASSWORD; both may come from the environment.
PORT    ?= 3000
LOCAL_ADMIN_PASSWORD ?= Admin!23
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

# Lambda builds: the architecture of template.yaml's functions (arm64), or
# `make build ARCH=amd64` for this machine. Only the command line sets it:
# an ARCH in the deployer's shell (some set one) must not build a function
# the template runs on arm64.
ifneq ($(origin ARCH),command line)
ARCH := arm64
endif
# Static, reproducible, stripped: what provided.al2023 runs as `bootstrap`.
# lambda.norpc drops the Go 1.x runtime's RPC server, which provided.* never uses.
LAMBDA_GOFLAGS := -tags lambda.norpc -trimpath -buildvcs=false -ldflags='-s -w -buildid='
FUNCTIONS := $(patsubst functions/%/main.go,%,$(wildcard functions/*/main.go))

# The AWS Lambda Runtime Interface Emulator, from its Go module, for
# `make invoke` and the tests that run the real bootstrap under it.
TOOLS       := $(CURDIR)/.tools
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
RIE_BIN     := $(TOOLS)/rie-$(RIE_VERSION)/aws-lambda-rie
RIE         := $(TOOLS)/bin/aws-lambda-rie

BENCHSTAT   := $(TOOLS)/bin/benchstat

# staticcheck, from its Go module: the linter beyond vet that `make test` runs.
STATICCHECK_VERSION := v0.8.2
STATICCHECK_BIN     := $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
STATICCHECK         := $(TOOLS)/bin/staticcheck

# gotestsum, from its Go module: `make test` prints each test as it ends.
GOTESTSUM_VERSION := v1.13.0
GOTESTSUM_BIN     := $(TOOLS)/gotestsum-$(GOTESTSUM_VERSION)/gotestsum
GOTESTSUM         := $(TOOLS)/bin/gotestsum

# Deploying: the SAM CLI reads samconfig.toml (stack name, region, parameters).
SAM        ?= sam
SAM_CONFIG_ENV ?= default
# `make deploy PARAMS="K=V ..."`, `make deploy-digest PARAMS=...`: parameter
# values over samconfig.toml's parameter_overrides and the template's defaults.
PARAMS ?=
DEPLOYDIGEST = $(GO) run ./dev/cmd/cis-deploydigest -env $(SAM_CONFIG_ENV)
# `make smoke URL=...`: the base URL to walk through (a stack's ApiUrl, or `make run`'s).
URL ?=
BENCH_FLAGS ?=

EVENT ?=

.PHONY: help
help: ## List every target with one line each
	@awk -v vars='PORT=$(PORT) REPLICATION_LAG=$(REPLICATION_LAG) ARCH=$(ARCH) STATICCHECK_VERSION=$(STATICCHECK_VERSION) FUZZTIME=$(FUZZTIME) FUZZ=$(FUZZ)' \
	  'BEGIN {FS = ":.*## "; n = split(vars, kv, " ")} \
	   /^[a-zA-Z0-9_.%-]+:.*## / {d = $$2; for (i = 1; i <= n; i++) {split(kv[i], p, "="); gsub("[$$][(]" p[1] "[)]", p[2], d)}; printf "  %-18s %s\n", $$1, d}' $(MAKEFILE_LIST)

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: deps
deps: node_modules/.package-lock.json ## Install what the tests and `make run` need (dynalite from package-lock.json, Go modules, PyJWT for the upstream's verification test)
	$(GO) mod download
	@# Where CI is set every engine is required (dev/dynamotest): say so now.
	@if [ -n "$$CI" ] && ! command -v moto_server >/dev/null; then \
	  echo "deps: moto_server is not on PATH, and where CI is set the tests require it (pip install 'moto[server]')" >&2; exit 1; \
	fi
	@# The assertion's Python verification test runs Debian's PyJWT.
	@if ! /usr/bin/python3 -c 'import jwt' 2>/dev/null; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then apt-get install -y python3-jwt || { apt-get update && apt-get install -y python3-jwt; }; \
	  else echo "deps: /usr/bin/python3 has no PyJWT (apt-get install python3-jwt); its test will be skipped" >&2; fi; \
	fi

$(RIE_BIN):
	GOBIN=$(@D) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

$(GOTESTSUM_BIN):
	GOBIN=$(@D) $(GO) install gotest.tools/gotestsum@$(GOTESTSUM_VERSION)

$(STATICCHECK_BIN):
	GOBIN=$(@D) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(STATICCHECK): $(STATICCHECK_BIN)
	@mkdir -p $(@D)
	ln -sfn $(STATICCHECK_BIN) $@

$(GOTESTSUM): $(GOTESTSUM_BIN)
	@mkdir -p $(@D)
	ln -sfn $(GOTESTSUM_BIN) $@

$(RIE): $(RIE_BIN)
	@mkdir -p $(@D)
	ln -sfn $(RIE_BIN) $@

.PHONY: rie
rie: $(RIE) ## Install the Lambda Runtime Interface Emulator into .tools/bin (from its Go module)

.PHONY: run
run: deps ## Run the service locally on http://127.0.0.1:$(PORT) with an in-memory dynalite (Ctrl-C stops all); PORT, LOCAL_ADMIN_PASSWORD
	PORT=$(PORT) LOCAL_ADMIN_PASSWORD='$(LOCAL_ADMIN_PASSWORD)' $(GO) run ./dev/cmd/cis-local

# Where a running `make run` on PORT says what it serves (its engine, its
# URL, its LOCAL_OIDC issuer's URL): `make token` reads it.
CIS_LOCAL_ENV_FILE ?= build/cis-local-$(PORT).env

# `make run-regions`: the delay before a change made in one region reaches
# the other (the replicator's; DynamoDB's is typically under a second).
REPLICATION_LAG ?= 1s

.PHONY: run-regions
run-regions: deps ## Run two regions, a on 127.0.0.1:$(PORT) and b on PORT+1, each its own dynalite, replicated as a DynamoDB global table (REPLICATION_LAG=$(REPLICATION_LAG)); writes build/regions.env
	PORT=$(PORT) LOCAL_ADMIN_PASSWORD='$(LOCAL_ADMIN_PASSWORD)' REPLICATION_LAG=$(REPLICATION_LAG) $(GO) run ./dev/cmd/cis-regions

.PHONY: token
token: ## Mint an access token from `LOCAL_OIDC=1 make run`'s issuer (found by itself): make token [FED_USER=alice@corp.example] [GROUP=g] [ALG=ES256] [SID=s]
	@url='$(if $(LOCAL_OIDC_PORT),http://127.0.0.1:$(LOCAL_OIDC_PORT))'; \
	if [ -z "$$url" ] && [ -f '$(CIS_LOCAL_ENV_FILE)' ]; then url=$$(sed -n 's/^LOCAL_OIDC_URL=//p' '$(CIS_LOCAL_ENV_FILE)'); fi; \
	if [ -z "$$url" ]; then echo "make token: no local issuer is running: start one with LOCAL_OIDC=1 make run (it says where in $(CIS_LOCAL_ENV_FILE)), or name its port with LOCAL_OIDC_PORT" >&2; exit 1; fi; \
	curl -fsS "$$url/token?user=$(or $(FED_USER),alice@corp.example)&group=$(GROUP)&alg=$(or $(ALG),RS256)&sid=$(SID)" || \
	  { echo "make token: the issuer at $$url did not answer: is LOCAL_OIDC=1 make run still running?" >&2; exit 1; }

.PHONY: test
test: deps rie $(GOTESTSUM) lint-template lint-openapi check-tree lint ## Run every test (unit, storage, events in-process and under the emulator, template vs code), each named as it ends
	@echo "darwin: the local loop compiles for macOS"; GOOS=darwin $(GO) build ./... && GOOS=darwin $(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	  if [ -n "$$unformatted" ]; then echo "not gofmt-formatted:"; echo "$$unformatted"; exit 1; fi
	@echo "benchmarks: each runs once, so that none rots (make bench measures them)"
	@out=$$($(GO) test -run '^$$' -bench . -benchtime 1x ./internal/... 2>&1) || { echo "$$out"; exit 1; }
	CIS_RIE=$(RIE) $(GOTESTSUM) --format testname --format-hide-empty-pkg -- $(GOTEST_FLAGS) ./...

# go vet, then staticcheck (its default checks; a finding that is wrong is
# silenced where it stands with a commented //lint:ignore).
.PHONY: lint
lint: $(STATICCHECK) ## Lint the Go code: go vet and staticcheck $(STATICCHECK_VERSION) over ./...
	$(GO) vet ./...
	$(STATICCHECK) ./...

# Nothing built is committed: no tracked file of 1 MB or more, none an
# executable binary (ELF, Mach-O, PE).
.PHONY: check-tree
check-tree: ## Fail if a tracked file is 1 MB or more or an executable binary (ELF, Mach-O, PE)
	@dev/checktree/check-tree.sh

# cfn-lint is a Python tool on this project's machine image. It runs SAM's
# own transform (aws-sam-translator, which it depends on) on a template with
# `Transform: AWS::Serverless-2016-10-31`, fails on what the transform
# refuses, and lints the CloudFormation that comes out. Where it is missing,
# `make test` says so and goes on, unless REQUIRE_TEMPLATE_TOOLS=1 (as
# .ci/run sets): then it fails.
.PHONY: lint-template
lint-template: ## Lint template.yaml with cfn-lint, through SAM's transform
	@if ! command -v cfn-lint >/dev/null; then \
	  msg="cfn-lint is not installed"; \
	  if [ -n "$(REQUIRE_TEMPLATE_TOOLS)" ]; then echo "lint-template: $$msg" >&2; exit 1; fi; \
	  echo "lint-template: SKIPPED: $$msg" >&2; exit 0; \
	fi; \
	cfn-lint --include-checks I -- template.yaml && echo "template.yaml: cfn-lint clean (SAM transform included)"

# Redocly's CLI, pinned in package.json, with its recommended rules (no
# configuration file): errors fail, warnings are printed. The warnings that
# stand are deliberate: JSON-RPC answers every call 200, the front door
# passes the upstream's answers through undescribed, and a JWK's private
# members are forbidden with not/required.
.PHONY: lint-openapi
lint-openapi: node_modules/.package-lock.json ## Lint docs/openapi.yaml with Redocly's CLI (pinned in package.json), recommended rules
	@REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true npx --no-install redocly lint --format=summary docs/openapi.yaml

# One Lambda build: $(call lambda-build,<function dir>,<output file>,<GOARCH>)
define lambda-build
CGO_ENABLED=0 GOOS=linux GOARCH=$(3) $(GO) build $(LAMBDA_GOFLAGS) -o $(2) ./functions/$(1)
endef

.PHONY: build
build: ## Build every function's bootstrap into build/<function>/bootstrap for ARCH=$(ARCH) (the template's is arm64)
	@$(foreach f,$(FUNCTIONS),echo "build/$(f)/bootstrap ($(ARCH))" && $(call lambda-build,$(f),build/$(f)/bootstrap,$(ARCH)) &&) true

# What `sam build` runs for each function with BuildMethod: makefile: the
# target build-<LogicalId>, with ARTIFACTS_DIR set. The logical id is the
# function's directory, capitalised, plus "Function" (deploy.Function.LogicalID).
build-%Function:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 1; }
	$(call lambda-build,$(shell echo '$*' | tr '[:upper:]' '[:lower:]'),$(ARTIFACTS_DIR)/bootstrap,$(ARCH))

.PHONY: invoke
invoke: deps rie ## Invoke a function with an event, as `sam local invoke` does, without Docker: make invoke EVENT=events/get-ok.json
	@test -n "$(EVENT)" || { echo 'usage: make invoke EVENT=events/<name>.json   (ls events/)' >&2; exit 2; }
	$(GO) run ./dev/cmd/cis-invoke -rie $(RIE) $(EVENT)

.PHONY: timing
timing: deps ## Measure refused log-ins per cause (unknown user, wrong password, repeated password, locked): 200 each, min/p50/p90/p99/max
	$(GO) test -run '^$$' -bench RefusedLogInTiming -benchtime 200x -v -timeout 30m ./internal/lambda/
	$(GO) test -run '^$$' -bench KnownVersusUnknownUserRequests -benchtime 1000x -v ./internal/dynamo/

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

# The fuzz targets: the Lambda entry point, the authorizer, the JSON-RPC
# body cut, and PHC hash parsing. FUZZ picks one; FUZZ_PKG is its package.
FUZZ     ?= FuzzInvoke
FUZZ_PKG ?= $(if $(filter FuzzInvoke FuzzAuthorize,$(FUZZ)),./internal/lambda/,$(if $(filter FuzzWithoutSecurityContext,$(FUZZ)),./internal/httpapi/,./internal/argon2id/))

.PHONY: fuzz
fuzz: deps ## Fuzz $(FUZZ) (FUZZ: FuzzInvoke, FuzzAuthorize, FuzzWithoutSecurityContext, FuzzVerify) for $(FUZZTIME) (FUZZTIME) over dynalite; failing inputs land in the package's testdata
	CIS_TEST_ENGINES=dynalite $(GO) test -run '^$$' -fuzz '^$(FUZZ)$$' -fuzztime $(FUZZTIME) $(FUZZ_PKG)

# Built, then run (not `go run`, which adds its own "exit status" line to
# the tool's one-line answer). Without a running `make run` and without any
# AWS setting, the tool says so before any request.
.PHONY: admin
admin: ## Run the admin tool: make admin ARGS="list-users" (reaches the engine of a running `make run` on PORT by itself; REGION=a|b: of `make run-regions`)
	@set -a; port=$(PORT); \
	  case "$(REGION)" in ""|a) ;; b) port=$$(( $(PORT) + 1 ));; *) echo "make admin: REGION=$(REGION): want a or b" >&2; exit 2;; esac; \
	  env=build/cis-local-$$port.env; \
	  if [ -n "$(REGION)" ] && [ ! -f $$env ]; then echo "make admin: no region $(REGION) running on port $$port ($$env): start make run-regions" >&2; exit 1; fi; \
	  if [ -f $$env ] && [ -z "$$AWS_ENDPOINT_URL_DYNAMODB" ]; then \
	  echo "make admin: using the engine of the running \`make run\` on port $$port ($$env)" >&2; . ./$$env; fi; \
	  set +a; $(GO) build -o build/cis-admin ./cmd/cis-admin && exec build/cis-admin $(ARGS)

.PHONY: deploy
deploy: ## Build and deploy the stack with the SAM CLI, as samconfig.toml says (SAM_CONFIG_ENV=default), with every parameter and its DeployDigest: make deploy [PARAMS="K=V ..."]
	@command -v $(SAM) >/dev/null || { echo "make deploy: the AWS SAM CLI ($(SAM)) is not installed: see https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html" >&2; exit 1; }
	$(SAM) build --config-env $(SAM_CONFIG_ENV)
	@# Every parameter, explicitly, and the digest of them, the template and
	@# the build: a changed setting, key epoch or code publishes new versions.
	overrides=$$($(DEPLOYDIGEST) -overrides $(PARAMS)) && \
	  $(SAM) deploy --config-env $(SAM_CONFIG_ENV) --parameter-overrides "$$overrides"

.PHONY: deploy-digest
deploy-digest: ## Print the DeployDigest `make deploy` would pass (no AWS call): make deploy-digest [PARAMS="K=V ..."]
	@$(DEPLOYDIGEST) $(PARAMS)

.PHONY: smoke
smoke: ## Walk through log in, get, a protected call, log out, refused after, against URL: make smoke URL=http://127.0.0.1:$(PORT) (CIS_SMOKE_PASSWORD for a stack)
	@test -n "$(URL)" || { echo 'usage: make smoke URL=<base URL>   (a stack'"'"'s ApiUrl, or http://127.0.0.1:$(PORT) for make run)' >&2; exit 2; }
	LOCAL_ADMIN_PASSWORD='$(LOCAL_ADMIN_PASSWORD)' $(GO) run ./dev/cmd/cis-smoke $(URL)

.PHONY: bench
bench: deps $(RIE) ## Measure round trips, the warm path, argon2id, cold starts (under the emulator) and a load run; print the report
	$(GO) run ./dev/cmd/cis-bench -rie $(RIE) $(BENCH_FLAGS)

.PHONY: bench-docs
bench-docs: ## make bench, and rewrite the numbers in docs/BENCHMARKS.md with the results
	$(MAKE) bench BENCH_FLAGS="$(BENCH_FLAGS) -docs docs/BENCHMARKS.md"

$(BENCHSTAT):
	GOBIN=$(@D) $(GO) install golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

.PHONY: bench-compare
bench-compare: deps $(RIE) $(BENCHSTAT) ## Before and after of two commits' warm path and cold start: make bench-compare BASE=<commit> [HEAD=<commit>]
	@test -n "$(BASE)" || { echo "usage: make bench-compare BASE=<commit> [HEAD=<commit>]"; exit 1; }
	TOOLS=$(TOOLS)/bin dev/bench/compare.sh $(BASE) $(or $(HEAD),HEAD)

.PHONY: load
load: ## Load a running `make run` with gets and print latency percentiles: make load ARGS="-n 20000 -c 8"
	$(GO) run ./dev/cmd/cis-load $(ARGS)

.PHONY: load-open
load-open: ## Open-loop load of a running `make run` at fixed rates (vegeta): make load-open ARGS="-rates 100,200,400 -sessions 500"
	$(GO) run ./dev/cmd/cis-openload $(ARGS)

.PHONY: clean
clean: ## Remove build output and installed tools
	rm -rf build .tools
