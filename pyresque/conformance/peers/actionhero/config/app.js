// The Actionhero app pyresque conformance boots (actionhero_peer.js): tasks only, no servers,
// quiet logs to stderr, Redis from REDIS_URL, the resque namespace from
// PYRESQUE_AH_NAMESPACE. Actionhero and its modules come from the user's folder
// (PYRESQUE_NODE_DIR), never from here.
"use strict";

const os = require("os");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");
const DIR = path.resolve(process.env.PYRESQUE_NODE_DIR || ".");
const ACTIONHERO_DIR = path.dirname(require.resolve("actionhero/package.json", { paths: [DIR] }));

function fromActionhero(name) {
  return require(require.resolve(name, { paths: [ACTIONHERO_DIR, DIR] }));
}

function redisOptions() {
  const url = new URL(process.env.REDIS_URL || "redis://127.0.0.1:6379/0");
  return {
    host: url.hostname || "127.0.0.1",
    port: parseInt(url.port || "6379", 10),
    db: parseInt((url.pathname || "/0").slice(1) || "0", 10),
    password: url.password ? decodeURIComponent(url.password) : undefined,
    tls: url.protocol === "rediss:" ? { rejectUnauthorized: false } : undefined,
    retryStrategy: (times) => Math.min(times * 50, 1000),
  };
}

function namespace() {
  return process.env.PYRESQUE_AH_NAMESPACE || "resque";
}

exports.DEFAULT = {
  general: () => ({
    serverName: "pyresque-conformance-actionhero",
    channel: `actionhero:${namespace()}`,
    paths: {
      task: [path.join(ROOT, "tasks")],
      action: [],
      pid: [path.join(os.tmpdir(), "pyresque-conformance-actionhero-pids")],
      log: [],
      public: [],
      plugin: [],
      test: [],
      src: path.join(ROOT, "src"),
      dist: path.join(ROOT, "dist"),
    },
  }),
  logger: () => {
    const winston = fromActionhero("winston");
    return {
      loggers: [
        () =>
          winston.createLogger({
            level: process.env.ACTIONHERO_LOG_LEVEL || "warning",
            levels: winston.config.syslog.levels,
            format: winston.format.simple(),
            transports: [
              new winston.transports.Console({
                stderrLevels: Object.keys(winston.config.syslog.levels),
              }),
            ],
          }),
      ],
    };
  },
  redis: () => {
    const Redis = fromActionhero("ioredis");
    const args = [redisOptions()];
    return {
      _toExpand: false,
      scanCount: 1000,
      stopTimeout: 100,
      client: { konstructor: Redis, args, buildNew: true },
      subscriber: { konstructor: Redis, args, buildNew: true },
      tasks: { konstructor: Redis, args, buildNew: true },
    };
  },
  web: () => ({ enabled: false }),
  websocket: () => ({ enabled: false }),
  tasks: () => {
    const workers = process.env.PYRESQUE_AH_WORKERS === "true";
    return {
      scheduler: process.env.PYRESQUE_AH_SCHEDULER === "true",
      queues: JSON.parse(process.env.PYRESQUE_AH_QUEUES || '["conformance"]'),
      timeout: 50,
      checkTimeout: 50,
      minTaskProcessors: workers ? 1 : 0,
      maxTaskProcessors: workers ? 1 : 0,
      connectionOptions: { tasks: { namespace: namespace() } },
    };
  },
};
