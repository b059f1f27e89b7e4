# sward — build, test, demo and benchmarks. Needs only Go (see README.md).
GO      ?= go
BIN     := bin/sward
PKGS    := ./...
TESTFLAGS ?= -race -count=1 -timeout 15m

.PHONY: build install staticcheck test demo bench bench-node bench-pipeline bench-storage bench-network bench-feed bench-frontier lint fmt vet clean

build:
	$(GO) build -o $(BIN) ./cmd/sward

# install puts sward in $(go env GOBIN) (default ~/go/bin), so the README's
# `sward ...` commands run as written once that directory is on PATH.
install:
	$(GO) install ./cmd/sward

# The coordinator's adversary suite (crawls of thousands of pages whose
# results are statistics, not concurrency) skips under -race and runs in a
# second pass without it.
test:
	$(GO) test $(TESTFLAGS) $(PKGS)
	$(GO) test -count=1 -timeout 15m -run '^(TestAdversary|TestHonestChangingPages)' ./coordinator/

demo: build
	./$(BIN) up

lint: vet staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# staticcheck is a Go tool dependency in go.mod (no separate install).
staticcheck:
	$(GO) tool staticcheck $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

# Benchmarks print medians over several runs; see BENCHMARKS.md for the
# figures and the machine they were measured on.
bench: bench-node bench-pipeline bench-storage bench-frontier bench-feed bench-network

bench-node:
	$(GO) test -run '^$$' -bench FetcherVsColly -benchtime 5x ./node
	$(GO) test -run '^$$' -bench AmplificationRSS -benchtime 5x ./node

bench-pipeline:
	$(GO) test ./pipeline -run '^$$' -bench 'Pipeline$$|Baseline|PipelineParallel' -benchtime 270x -count 5
	$(GO) test ./pipeline -run '^$$' -bench NearDedup100k -benchtime 1x -count 3
	SWARD_WCXB=1 $(GO) test ./pipeline -run '^$$' -bench 'WCXB/' -benchtime 1497x -count 3

bench-storage:
	$(GO) test -run '^$$' -bench 'BenchmarkWrite/web|BenchmarkPullLoopback|BenchmarkPublish' -benchtime 2x -count 5 ./storage/

bench-frontier:
	$(GO) test -run '^$$' -bench 'FrontierAdd1M' -benchtime=1x -count=3 ./frontier/
	$(GO) test -run '^$$' -bench 'FrontierLeaseComplete' -count=3 ./frontier/

bench-network:
	$(GO) test -run '^$$' -bench 'NetworkThroughput$$|GossipLatency' -benchtime=1x -count=3 -timeout 30m ./internal/cluster/

bench-feed:
	$(GO) test -run XXX -bench . -benchtime 2000x -count 3 -timeout 60m ./feed

clean:
	rm -rf bin
