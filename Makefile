# Build, test and release Gatehouse with Go and git only (no goreleaser: it
# runs offline).
#
#   make build                    ./gatehouse and ./gatehouse-pdp for this machine, version-stamped
#   make test                     the Go stage of .ci/test (every package, -race)
#   make bench-vet                go vet of bench/ (its own module, with the peers it
#                                 compares: minutes on a cold build cache; not in CI)
#   make release VERSION=v0.1.0   static binaries for linux, darwin and windows on
#                                 amd64 and arm64 in dist/, with dist/SHA256SUMS
#
# VERSION defaults to `git describe --tags --always --dirty`, COMMIT to HEAD,
# DATE to now (UTC); set them to stamp something else. `gatehouse version`
# prints all three; /healthz reports the version.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE      ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64

BUILDINFO := github.com/gatehouse-dev/gatehouse/internal/buildinfo
LDFLAGS   := -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).commit=$(COMMIT) -X $(BUILDINFO).date=$(DATE)

.PHONY: build test bench-vet release clean

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o gatehouse ./cmd/gatehouse
	$(GO) build -ldflags '$(LDFLAGS)' -o gatehouse-pdp ./cmd/gatehouse-pdp

test:
	$(GO) test -race -timeout 25m ./...
	cd client && $(GO) test -race -timeout 25m ./...

bench-vet:
	cd bench && $(GO) vet ./...

release:
	rm -rf dist
	mkdir -p dist
	set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; \
		if [ "$$os" = windows ]; then ext=.exe; fi; \
		out=dist/gatehouse_$(VERSION)_$${os}_$${arch}$$ext; \
		echo "$$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o $$out ./cmd/gatehouse; \
		out=dist/gatehouse-pdp_$(VERSION)_$${os}_$${arch}$$ext; \
		echo "$$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o $$out ./cmd/gatehouse-pdp; \
	done
	cd dist && if command -v sha256sum >/dev/null; then sha256sum gatehouse_* gatehouse-pdp_*; else shasum -a 256 gatehouse_* gatehouse-pdp_*; fi > SHA256SUMS
	cat dist/SHA256SUMS

clean:
	rm -rf dist gatehouse gatehouse-pdp
