// Task middleware the interop tests add at run time (controller.js's `middleware` op): each
// hook records what it saw on <namespace>:interop:middleware, so the Python side can tell
// which hooks Actionhero ran, in which order, and with what.
"use strict";

const { push } = require("./record");

const HOOKS = ["preEnqueue", "postEnqueue", "preProcessor", "postProcessor"];

// One entry per hook call: {middleware, hook, task, queue, args, job}. `job` is the hooks'
// `this.worker.job` (a worker's payload; null for enqueue hooks, which get the Queue).
function entry(name, hook, plugin) {
  const job = plugin.worker ? plugin.worker.job : undefined;
  return {
    middleware: name,
    hook,
    task: plugin.func,
    queue: plugin.queue,
    args: plugin.args,
    job: job === undefined ? null : job,
  };
}

// A recording middleware for `task.addMiddleware`. `vetoEnqueues`: how many of its first
// preEnqueue calls answer false (vetoing the enqueue); the others, and every other hook,
// answer true.
function recordingMiddleware({ name, global = true, priority, vetoEnqueues = 0 }) {
  let vetoesLeft = Number(vetoEnqueues) || 0;
  const middleware = { name, global };
  if (priority !== undefined && priority !== null) middleware.priority = priority;
  for (const hook of HOOKS) {
    // `this` is the node-resque plugin Actionhero wraps the middleware in.
    middleware[hook] = async function () {
      await push("middleware", entry(name, hook, this));
      if (hook === "preEnqueue" && vetoesLeft > 0) {
        vetoesLeft -= 1;
        return false;
      }
      return true;
    };
  }
  return middleware;
}

module.exports = { HOOKS, recordingMiddleware };
