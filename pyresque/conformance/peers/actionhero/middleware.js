// Task middleware pyresque conformance registers (actionhero_peer.js's `middleware` op, with
// Actionhero's task.addMiddleware): every hook records what it saw on
// <namespace>:conformance:middleware as {middleware, hook, task, queue, args}, and lets the
// task go on.
"use strict";

const HOOKS = ["preEnqueue", "postEnqueue", "preProcessor", "postProcessor"];

function recordingMiddleware(actionhero, { name, priority }) {
  const middleware = { name, global: true, priority };
  for (const hook of HOOKS) {
    // `this` is the node-resque plugin Actionhero wraps the middleware in.
    middleware[hook] = async function () {
      const ns = actionhero.config.tasks.connectionOptions.tasks.namespace;
      const entry = { middleware: name, hook, task: this.func, queue: this.queue, args: this.args };
      await actionhero.api.redis.clients.tasks.rpush(`${ns}:conformance:middleware`, JSON.stringify(entry));
      return true;
    };
  }
  return middleware;
}

module.exports = { recordingMiddleware };
