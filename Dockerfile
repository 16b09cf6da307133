# The operator image: a static binary with the EMQX chart, its own CRDs and watches.yaml compiled in, on a
# distroless base, running as a non-root user. Nothing is copied beside the binary.
FROM golang:1.26 AS builder
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /workspace
COPY go.mod go.sum ./
RUN go mod download
COPY main.go embed.go watches.yaml ./
COPY api/ api/
COPY controllers/ controllers/
COPY helm-charts/ helm-charts/
COPY internal/ internal/
COPY config/crd/ config/crd/
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags="-s -w" -o manager .

FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532
ENTRYPOINT ["/manager"]
