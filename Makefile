# hookflow — run `make` for the menu.
GO        ?= go
BIN       ?= bin/hookflow
PKGS      := ./...
# Integration tests share one embedded Temporal server per package; keep packages
# from starving each other on small machines.
TEST_FLAGS ?= -race -count=1 -timeout 20m -p 2

.DEFAULT_GOAL := help

.PHONY: help
help: ## show this menu
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-17s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## start the whole platform locally (Temporal + Web UI, SQLite, API, worker, dev inbox)
	$(GO) run ./cmd/hookflow dev

.PHONY: build
build: ## build the production binary into bin/ (static, slim: no embedded Temporal, as in the image)
	CGO_ENABLED=0 $(GO) build -tags slim -trimpath -ldflags="-s -w" -o $(BIN) ./cmd/hookflow

.PHONY: build-full
build-full: ## build the binary with the embedded Temporal server and Web UI (for dev and temporal)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o $(BIN) ./cmd/hookflow

.PHONY: test
test: ## run every test (needs Postgres on 127.0.0.1:5432; see README)
	$(GO) test $(TEST_FLAGS) $(PKGS)

.PHONY: test-reliability
test-reliability: ## fault-injection battery on real processes; rewrites docs/RELIABILITY.md
	HOOKFLOW_RELIABILITY_REPORT=$(CURDIR)/docs/RELIABILITY.md $(GO) test -tags reliability -count=1 -timeout 10m -v ./internal/reliability

.PHONY: lint
lint: ## gofmt, go vet, staticcheck, workflowcheck and the import rules
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)
	$(GO) vet -tags slim ./cmd/hookflow
	$(GO) tool staticcheck -tags slim ./cmd/hookflow
	$(GO) tool workflowcheck ./workflows/...
	@if $(GO) list -deps ./models ./workflows | grep -E '^(gorm.io|github.com/gin-gonic)'; then echo "models/workflows must not import gorm or gin"; exit 1; fi
	@if $(GO) list -deps ./workflows | grep -E '^github.com/hookflow/hookflow/activities'; then echo "workflows must not import the activities (they implement its contract)"; exit 1; fi
	@if $(GO) list -deps ./activities/... | grep -E '^(github.com/hookflow/hookflow/(internal/store|api)|gorm.io|github.com/gin-gonic)'; then echo "activities reach storage and HTTP through their own interfaces"; exit 1; fi

.PHONY: bench
bench: ## measure hookflow vs bare Temporal on the local Postgres (~8 min); writes docs/BENCHMARKS.md
	$(GO) run ./cmd/hookflow-bench $(BENCH_FLAGS)
	$(GO) test ./internal/store -run '^$$' -bench BenchmarkWaitLookup -benchtime 2000x

.PHONY: bench-waits
bench-waits: ## what one more waiting run costs an incoming event (docs/BENCHMARKS.md, "What a waiting run costs")
	$(GO) test ./internal/store -run '^$$' -bench BenchmarkWaitLookup -benchtime 2000x

.PHONY: bench-charts
bench-charts: ## redraw docs/bench-*.svg and the generated BENCHMARKS.md section from docs/benchmarks.json (no run)
	$(GO) run ./cmd/hookflow-bench --charts-from docs/benchmarks.json

.PHONY: clean
clean: ## remove build output and the dev data dir
	rm -rf bin .hookflow
