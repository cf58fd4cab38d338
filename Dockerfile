# Build stage: the whole toolchain; produces dist/bundle, a self-contained folder (one bundled
# JavaScript file with its source map, the telemetry preload, config/, the built dashboard, and only the native addons
# the bundle cannot contain: lmdb and its prebuilt binaries). CI runs the same script.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY gen ./gen
COPY src ./src
COPY config ./config
COPY scripts ./scripts
COPY dashboard ./dashboard
RUN node scripts/build-bundle.mjs && mkdir -p /data-empty

# Runtime stage: a minimal Node runtime (distroless, glibc like the build stage's lmdb binary),
# the bundle folder only, a non-root user.
FROM gcr.io/distroless/nodejs20-debian12:nonroot
WORKDIR /app
COPY --from=build /app/dist/bundle /app
# The embedded store's folder, owned by the non-root user (distroless has no shell to mkdir).
COPY --from=build --chown=65532:65532 /data-empty /data
ENV NODE_ENV=production
# Two malloc arenas instead of glibc's 8 per core: V8's GC helper threads otherwise each keep an
# arena whose freed memory is never given back (about 15 MiB of RSS with 10,000 idle streams).
ENV MALLOC_ARENA_MAX=2
EXPOSE 5002
VOLUME ["/data"]
# distroless has no shell or curl: the health check is a node one-liner against /readyz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/nodejs/bin/node", "-e", "fetch('http://127.0.0.1:5002/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/nodejs/bin/node", "--enable-source-maps", "--import", "/app/telemetry-preload.mjs", "/app/virtufin-api.mjs"]
CMD ["--data-dir", "/data"]
