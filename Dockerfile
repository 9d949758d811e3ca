# syntax=docker/dockerfile:1
# trustsync: one static binary on a distroless, non-root base.

FROM golang:1.26 AS build
WORKDIR /src
ENV GOTOOLCHAIN=local CGO_ENABLED=0
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN go build -trimpath \
      -ldflags "-s -w -X github.com/trustsync/trustsync/internal/version.Version=${VERSION}" \
      -o /out/trustsync ./cmd/trustsync

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/trustsync /usr/local/bin/trustsync
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/trustsync"]
