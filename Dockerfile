# syntax=docker/dockerfile:1
# Portcullis container image: multi-stage build, non-root runtime.
#
#   docker build -t portcullis:0.1.0 .
#   docker run --rm -p 8080:8080 \
#     -e PORTCULLIS_CONFIG=/etc/portcullis/portcullis.yaml \
#     -v "$PWD/portcullis.yaml:/etc/portcullis/portcullis.yaml:ro" portcullis:0.1.0
#
# See docs/deployment.md.

ARG NODE_VERSION=20

# ---- build: full toolchain (python3, make, g++) for better-sqlite3's native addon
FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# Install without lifecycle scripts (the package's `prepare` would build before
# the sources are here), then build the native addon explicitly.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: slim Node, production dependencies and dist/ only
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# tini reaps the processes stdio MCP servers leave behind and forwards signals.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    PORTCULLIS_HOST=0.0.0.0 \
    PORTCULLIS_PORT=8080
WORKDIR /app
COPY --from=build /build/package.json ./package.json
COPY --from=build /build/node_modules ./node_modules
COPY --from=build /build/dist ./dist
COPY bin ./bin
# The default SQLite store lives under /app/data (mount a volume there for
# single-replica use); multi-replica deployments use PostgreSQL instead.
RUN mkdir -p /app/data && chown node:node /app/data
# The base image's unprivileged user (uid/gid 1000).
USER node
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORTCULLIS_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
# --single-threaded-gc: V8 collects on the main thread instead of spreading the
# work over helper threads. With the one or two CPUs a gateway replica gets, the
# helpers compete with the event loop and with each other; measured on 2 cores
# it saves ~10 % CPU per request with no worse p99 (docs/performance.md).
# The benchmark starts its gateways with these same flags (bench/lib.mjs).
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--single-threaded-gc", "/app/bin/portcullis.js"]
CMD ["serve"]
