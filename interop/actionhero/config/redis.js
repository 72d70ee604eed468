// Redis from REDIS_URL (redis[s]://[:password@]host:port/db), for all three of Actionhero's
// clients (`client`, `subscriber`, and `tasks`, the one node-resque uses).
"use strict";

const { URL } = require("url");
const { fromActionhero } = require("../lib/deps");

const Redis = fromActionhero("ioredis");

function redisOptions() {
  const url = new URL(process.env.REDIS_URL || "redis://127.0.0.1:6379/0");
  const db = parseInt((url.pathname || "/0").slice(1) || "0", 10);
  return {
    host: url.hostname || "127.0.0.1",
    port: parseInt(url.port || "6379", 10),
    db,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    tls: url.protocol === "rediss:" ? { rejectUnauthorized: false } : undefined,
    retryStrategy: (times) => Math.min(times * 50, 1000),
  };
}

exports.DEFAULT = {
  redis: () => {
    const args = [redisOptions()];
    return {
      // `_toExpand: false` makes this object replace Actionhero's default wholesale
      // (the constructors below must not be called by the config merge).
      _toExpand: false,
      scanCount: 1000,
      stopTimeout: 100,
      client: { konstructor: Redis, args, buildNew: true },
      subscriber: { konstructor: Redis, args, buildNew: true },
      tasks: { konstructor: Redis, args, buildNew: true },
    };
  },
};
