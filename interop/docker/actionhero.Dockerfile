# One Actionhero 29.3.5 node's controller (interop/actionhero/controller.js), driven over
# stdin/stdout like the node-resque peer:
#   docker build -f interop/docker/actionhero.Dockerfile -t pyresque-interop-actionhero interop
#   docker run -i --rm -e REDIS_URL=redis://redis:6379/0 -e RESQUE_NAMESPACE=ns pyresque-interop-actionhero
ARG NODE_VERSION=24.11.0
FROM node:${NODE_VERSION}-bookworm-slim

ENV NODE_ENV=production TZ=UTC
WORKDIR /interop/actionhero
COPY actionhero/package.json actionhero/package-lock.json ./
RUN npm ci --no-audit --no-fund && npm cache clean --force
COPY jsonlines.js /interop/
COPY actionhero/ ./

USER 1000:1000
CMD ["node", "controller.js"]
