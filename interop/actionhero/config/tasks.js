// Task options from the environment (controller.js's `start` op sets these variables).
// An unset variable keeps Actionhero's default (src/config/tasks.ts of Actionhero 29).
//
//   RESQUE_NAMESPACE             connectionOptions.tasks.namespace (default "resque")
//   TASKS_SCHEDULER              "true" / "false"
//   TASKS_MIN_PROCESSORS         minTaskProcessors
//   TASKS_MAX_PROCESSORS         maxTaskProcessors
//   TASKS_QUEUES                 JSON array (e.g. ["default","periodic"]) or a comma list
//   TASKS_TIMEOUT                timeout (ms)
//   TASKS_CHECK_TIMEOUT          checkTimeout (ms)
//   TASKS_STUCK_WORKER_TIMEOUT   stuckWorkerTimeout (ms)
//   TASKS_RETRY_STUCK_JOBS       "true" / "false"
//   TASKS_MAX_EVENT_LOOP_DELAY   maxEventLoopDelay (ms)
"use strict";

function env(name) {
  const value = process.env[name];
  return value === undefined || value === "" ? undefined : value;
}

function int(name) {
  const value = env(name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, not ${JSON.stringify(value)}`);
  return n;
}

function bool(name) {
  const value = env(name);
  if (value === undefined) return undefined;
  return ["1", "true", "yes"].includes(value.toLowerCase());
}

function list(name) {
  const value = env(name);
  if (value === undefined) return undefined;
  if (value.trim().startsWith("[")) return JSON.parse(value);
  return value.split(",").map((q) => q.trim()).filter(Boolean);
}

exports.DEFAULT = {
  // No `_toExpand: false` here: this object is merged into Actionhero's defaults (undefined
  // values are skipped), rather than replacing them.
  tasks: () => ({
    scheduler: bool("TASKS_SCHEDULER"),
    queues: list("TASKS_QUEUES"),
    timeout: int("TASKS_TIMEOUT"),
    checkTimeout: int("TASKS_CHECK_TIMEOUT"),
    minTaskProcessors: int("TASKS_MIN_PROCESSORS"),
    maxTaskProcessors: int("TASKS_MAX_PROCESSORS"),
    stuckWorkerTimeout: int("TASKS_STUCK_WORKER_TIMEOUT"),
    retryStuckJobs: bool("TASKS_RETRY_STUCK_JOBS"),
    maxEventLoopDelay: int("TASKS_MAX_EVENT_LOOP_DELAY"),
    connectionOptions: {
      tasks: { namespace: env("RESQUE_NAMESPACE") || "resque" },
    },
  }),
};
