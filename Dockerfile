# syntax=docker/dockerfile:1
#
# One image for every app of inno-train (api, provisioner, transfer, monitor). The default command
# runs the API; docker-compose.yml picks the app of each service with `command:`:
#
#   docker build -t inno-train .
#   docker run --rm --env-file .env -p 3000:3000 inno-train
#   docker run --rm --env-file .env inno-train node apps/transfer/dist/main.js
#
# The build runs exactly what CI runs (npm ci, npm run build), then drops the dev dependencies.
# Workspace packages stay in place at /app/packages/* and /app/apps/*: node_modules/@inno-train/*
# are symlinks into them, and their package.json "main" points at dist/, so the runtime stage copies
# the whole pruned tree (symlinks included) instead of picking files out of it.

############################ build ############################
FROM node:24-bookworm-slim AS build
WORKDIR /app
# turbo's local cache would duplicate every dist/ into the image: keep it out of /app.
ENV TURBO_TELEMETRY_DISABLED=1 \
    DO_NOT_TRACK=1 \
    TURBO_CACHE_DIR=/tmp/turbo-cache \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

COPY . .
# ssh2's crypto binding (and cpu-features) are native add-ons: without a compiler npm skips them
# and ssh2 falls back to JavaScript crypto, which makes every SSH call about twice as slow and an
# SFTP upload ~400 ms (scripts/native-addons.mjs). The build stage has one; the runtime does not need it.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 make g++ >/dev/null && rm -rf /var/lib/apt/lists/*
RUN --mount=type=cache,target=/root/.npm npm ci
RUN npm run build
RUN --mount=type=cache,target=/root/.npm npm prune --omit=dev

############################ runtime ############################
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# Owned by root, run as `node` (uid 1000): the code is not writable by the process that runs it.
COPY --from=build /app /app
USER node
CMD ["node", "apps/api/dist/main.js"]
