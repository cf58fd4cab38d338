# A first version: build with the full toolchain, run with the runtime and the built code only.
# (Packaging is finished later: a single bundle, distroless runtime, health check.)
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json buf.yaml buf.gen.yaml ./
COPY proto ./proto
COPY gen ./gen
COPY src ./src
COPY config ./config
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/config ./config
COPY package.json ./
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 5002
VOLUME ["/data"]
CMD ["node", "--enable-source-maps", "dist/src/main.js", "--data-dir", "/data"]
