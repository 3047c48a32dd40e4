# Gatehouse: a static binary on a small non-root image.
#
#   docker build -t gatehouse --build-arg VERSION=$(git describe --tags --always) .
#   docker run -p 8080:8080 -v gatehouse-data:/var/lib/gatehouse gatehouse
#   docker run -p 7766:7766 -e GATEHOUSE_API_KEY -v gatehouse-pdp:/var/lib/gatehouse-pdp \
#     --entrypoint /usr/local/bin/gatehouse-pdp gatehouse --api-url http://gatehouse:8080 \
#     --addr 0.0.0.0:7766 --snapshot-dir /var/lib/gatehouse-pdp
#
# The build command is the Makefile's `release` one (CGO_ENABLED=0,
# -trimpath, the same -ldflags); internal/cli's TestDeployFiles checks that
# they stay the same. See docs/operations.md and deploy/compose.yaml.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
# go.mod replaces the client module with ./client: its go.mod must be there
# before the download.
COPY client/go.mod ./client/
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
ARG DATE=
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.version=${VERSION} -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.commit=${COMMIT} -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.date=${DATE}" -o /out/gatehouse ./cmd/gatehouse
# The PDP alone (the compose file's pdp service runs it): `gatehouse pdp`
# without the server's packages, a smaller binary keeping less in memory.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.version=${VERSION} -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.commit=${COMMIT} -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.date=${DATE}" -o /out/gatehouse-pdp ./cmd/gatehouse-pdp

FROM alpine:3.22
# wget (busybox) answers the health check; nothing else is added.
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
COPY --from=build /out/gatehouse-pdp /usr/local/bin/gatehouse-pdp
# The data folders belong to the user that runs gatehouse, mode 0700; a new
# named volume mounted on one starts as a copy of it. (A RUN, not
# COPY --chmod: that needs BuildKit, and the classic builder still builds
# this file.)
RUN mkdir -p /var/lib/gatehouse /var/lib/gatehouse-pdp \
 && chown 65532:65532 /var/lib/gatehouse /var/lib/gatehouse-pdp \
 && chmod 0700 /var/lib/gatehouse /var/lib/gatehouse-pdp
USER 65532:65532
ENV GATEHOUSE_ADDR=0.0.0.0:8080 \
    GATEHOUSE_DATA_DIR=/var/lib/gatehouse \
    GATEHOUSE_LOG_FORMAT=json
EXPOSE 8080
# Ready: the database answers and every live environment's engine is built.
# Behind --tls-cert, override it (https:// and --no-check-certificate).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve"]
