# The node-resque 9.7.1 peer (interop/node/peer.js), driven over stdin/stdout:
#   docker build -f interop/docker/node.Dockerfile -t pyresque-interop-node interop
#   docker run -i --rm -e REDIS_URL=redis://redis:6379/0 pyresque-interop-node
# NODE_VERSION: an exact Node LTS release (the harness passes PYRESQUE_NODE_VERSION).
ARG NODE_VERSION=24.11.0
FROM node:${NODE_VERSION}-bookworm-slim

ENV NODE_ENV=production TZ=UTC
WORKDIR /interop/node
# The committed lockfile, exactly (npm ci fails if it and package.json disagree).
COPY node/package.json node/package-lock.json ./
RUN npm ci --no-audit --no-fund && npm cache clean --force
COPY jsonlines.js /interop/
COPY node/ ./

USER 1000:1000
# CMD, not ENTRYPOINT: the harness also runs node stringify.js ... in this image.
CMD ["node", "peer.js"]
