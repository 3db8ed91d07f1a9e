# syntax=docker/dockerfile:1
# Switchyard image: one image for the proxy (`start`) and the demo upstreams (`demo-app`).
#   docker build -t switchyard-proxy:local .
#   docker run --rm switchyard-proxy:local node dist/cli/main.js check-config config/switchyard.yaml
# Used by docker-compose.yml; see README "Local stack (docker compose)".
# Node 24, the newest LTS: .ci/run runs the whole suite on it (and on 22 and 20).

# --- build: compile TypeScript, then keep only the production dependencies ----------------
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here; we build below.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime: the compiled code, production node_modules and the configs, as a non-root user
FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY config ./config
# The .proto files `demo --grpc` serves (found beside dist/ at run time).
COPY proto ./proto
# The `node` user (uid 1000) ships with the official image; nothing here needs root.
USER node
EXPOSE 8080 8081 9901 9902
# No curl in the slim image: docker-compose.yml gives each service a node one-liner healthcheck (fetch).
STOPSIGNAL SIGTERM
CMD ["node", "dist/cli/main.js", "start", "--config", "config/compose-switchyard.yaml"]
