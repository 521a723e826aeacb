# syntax=docker/dockerfile:1
# pod-identity: one image for every role (`--role mic|nmi|managed`).
#   docker build -t ghcr.io/pod-identity/pod-identity:$(node -p 'require("./package.json").version') .

# --- build: npm installs the locked dependencies (Bun comes from the `bun` devDependency), then
# scripts/build.ts compiles dist/pod-identity, a self-contained executable for this platform.
FROM node:22-bookworm-slim AS build
# scripts/build.ts asks git for the commit (it prints "unknown" without a .git directory).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
# npm install, not npm ci: the lock omits other platforms' optional packages (as in .ci/run).
RUN npm install --no-audit --no-fund
COPY tsconfig.json bunfig.toml ./
COPY scripts ./scripts
COPY src ./src
RUN node_modules/.bin/bun scripts/build.ts dist/pod-identity \
 && ./dist/pod-identity --version

# --- runtime: glibc (the Bun executable needs it), iptables (both nft and legacy backends) and
# conntrack for NMI's interception, CA certificates for AAD and ARM.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iptables conntrack ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 pod-identity \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pod-identity
COPY --from=build /src/dist/pod-identity /usr/local/bin/pod-identity
# Non-root by default (MIC). The chart runs NMI as root with NET_ADMIN/NET_RAW for iptables, and
# MIC as root only when it must read the node's root-owned /etc/kubernetes/azure.json.
USER 10001:10001
EXPOSE 2579 8085 9090 8080 8888
ENTRYPOINT ["pod-identity"]
CMD ["--help"]
