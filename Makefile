# sward — build, test, demo and benchmarks. Needs only Go (see README.md).
GO      ?= go
BIN     := bin/sward
PKGS    := ./...
TESTFLAGS ?= -race -count=1 -timeout 15m

.PHONY: build test demo bench lint fmt vet clean

build:
	$(GO) build -o $(BIN) ./cmd/sward

test:
	$(GO) test $(TESTFLAGS) $(PKGS)

demo: build
	./$(BIN) up

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin
