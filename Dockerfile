# syntax=docker/dockerfile:1
# Gatehouse container image: a static binary on a distroless base, running as a non-root user
# (SPEC §8.7). Build:  docker build -t gatehouse .
# Run (the embedded default listens on loopback inside the container, so give it a configuration that
# listens on 0.0.0.0 with authentication; see docs/operations.md):
#   docker run --rm -p 8080:8080 -p 9090:9090 -v "$PWD/gatehouse.yaml:/etc/gatehouse/gatehouse.yaml:ro" \
#     gatehouse serve --config /etc/gatehouse/gatehouse.yaml

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/gatehouse-mcp/gatehouse/internal/cli.version=${VERSION}" \
      -o /out/gatehouse ./cmd/gatehouse
# The state directory, owned by the runtime user: audit log, engagement data, allowlists.
RUN mkdir -p /out/var/lib/gatehouse/data && chown -R 65532:65532 /out/var/lib/gatehouse && chmod -R 0750 /out/var/lib/gatehouse

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
COPY --from=build --chown=65532:65532 /out/var/lib/gatehouse /var/lib/gatehouse
COPY --from=build /src/examples /usr/share/gatehouse/examples
COPY --from=build /src/policies /usr/share/gatehouse/policies
WORKDIR /var/lib/gatehouse
ENV MCP_DATA_ROOT=/var/lib/gatehouse/data
# nonroot: uid and gid 65532. Never root: a compromised gateway must not own the host's files.
USER 65532:65532
EXPOSE 8080 9090
# Alive while the admin listener answers /healthz (no token needed) at http://127.0.0.1:9090; for
# another address or https, set GATEHOUSE_ADMIN_URL (and override this for a private CA). On
# Kubernetes the Helm chart's own probes apply instead (deploy/helm/gatehouse).
HEALTHCHECK --interval=30s --timeout=5s CMD ["/usr/local/bin/gatehouse", "probe", "live"]
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve"]
