// What the interop tasks leave in Redis, so the Python side can see which side ran what.
// Keys are built explicitly as `<namespace>:interop:<what>`, with the app's tasks client.
"use strict";

const actionhero = require("actionhero");

function namespace() {
  // Read at call time: a restarted process rebuilds `config`.
  return actionhero.config.tasks.connectionOptions.tasks.namespace || "resque";
}

function key(what) {
  return `${namespace()}:interop:${what}`;
}

async function push(what, entry) {
  await actionhero.api.redis.clients.tasks.rpush(key(what), JSON.stringify(entry));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

module.exports = { key, push, sleep };
