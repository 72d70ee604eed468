// A long-lived controller of ONE in-process Actionhero 29.3.5 node, for pyresque's interop
// tests. JSON lines like interop/node/peer.js: one request per line on stdin, one reply per
// line on stdout:
//   {"id": 1, "op": "start", "scheduler": false, "minTaskProcessors": 1, "namespace": "ns"}
//   {"id": 2, "op": "task", "method": "enqueue", "args": ["jsRecord", {"id": 1}]}
//   -> {"id": 2, "ok": true, "result": true}
// Errors come back as {"id": 2, "ok": false, "name": "Error", "error": "message"}.
//
// Ops:
//   start {scheduler, minTaskProcessors, maxTaskProcessors, queues, timeout, checkTimeout,
//          stuckWorkerTimeout, retryStuckJobs, maxEventLoopDelay, namespace, env}
//       boots Actionhero (`new Process().start()`); `env` is extra environment (e.g.
//       SHARED_PERIODIC_FREQUENCY) set before the boot. Answers what `info` answers.
//   stop      stops it: scheduler ends (releasing the leader lock), workers finish their
//             job and unregister, queue and Redis clients close. A later `start` reboots.
//   task {method, args}   any `task.*` function of Actionhero (enqueue, details, failed ...)
//   taskArgs {method, args}   like `task`, answering {result, args}: the args as they are
//             after the call (Actionhero's enqueue writes input defaults into them)
//   specHelper {method, args}   any `specHelper` function of Actionhero (runFullTask,
//             findEnqueuedTasks, deleteEnqueuedTasks ...)
//   middleware {name, global, priority, vetoEnqueues}   `task.addMiddleware` of a
//             middleware recording every hook on <namespace>:interop:middleware
//             (lib/middleware.js); answers {name, priority, globalMiddleware}: the priority
//             as Actionhero stored it and the global middleware in running order
//   tasks     names of the loaded tasks
//   info      {running, pid, hostname, id, namespace, schedulerName, leader, workers, config}
//   resources process.getActiveResourcesInfo(): what keeps the process alive
//
// Actionhero's `api` is a process-wide singleton: one Actionhero per controller process.
// Closing stdin stops Actionhero (if running) and exits.
//
// Redis: REDIS_URL. Namespace: RESQUE_NAMESPACE, or `namespace` in `start`.
// Logs go to stderr (ACTIONHERO_LOG_LEVEL, default "warning"); stdout carries replies only.
"use strict";

const os = require("os");
const path = require("path");
const { serve } = require("../jsonlines");
const util = require("util");

// Only replies go to stdout: anything else that writes there (console.log of a library,
// a logger) is sent to stderr instead.
const writeReply = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, encoding, callback) =>
  process.stderr.write(chunk, encoding, callback);
for (const method of ["log", "info", "debug"]) {
  console[method] = (...args) => process.stderr.write(util.format(...args) + "\n");
}

// Where Actionhero finds this app: the project root is this folder, and its config is the
// plain-JavaScript `config/` folder (Actionhero would otherwise want `dist/config` or, with
// TypeScript, `src/config`). Both are read when `actionhero` is first required.
delete process.env.project_root; // these two would win over PROJECT_ROOT
delete process.env.projectRoot;
process.env.PROJECT_ROOT = __dirname;
process.env.ACTIONHERO_CONFIG = path.join(__dirname, "config");
process.env.ACTIONHERO_TYPESCRIPT_MODE = "false";
// The node id (pid file name, logs): unique per controller process.
process.env.ACTIONHERO_TITLE = process.env.ACTIONHERO_TITLE || `pyresque-interop-${process.pid}`;

// `start` options -> the environment variables config/tasks.js reads.
const OPTION_ENV = {
  scheduler: "TASKS_SCHEDULER",
  minTaskProcessors: "TASKS_MIN_PROCESSORS",
  maxTaskProcessors: "TASKS_MAX_PROCESSORS",
  queues: "TASKS_QUEUES",
  timeout: "TASKS_TIMEOUT",
  checkTimeout: "TASKS_CHECK_TIMEOUT",
  stuckWorkerTimeout: "TASKS_STUCK_WORKER_TIMEOUT",
  retryStuckJobs: "TASKS_RETRY_STUCK_JOBS",
  maxEventLoopDelay: "TASKS_MAX_EVENT_LOOP_DELAY",
  namespace: "RESQUE_NAMESPACE",
};

let actionhero = null; // the module, required on the first `start`
let node = null; // the running Process

function applyOptions(options) {
  for (const [option, name] of Object.entries(OPTION_ENV)) {
    const value = options[option];
    if (value === undefined || value === null) continue;
    process.env[name] = Array.isArray(value) ? JSON.stringify(value) : String(value);
  }
  for (const [name, value] of Object.entries(options.env || {})) {
    if (value === null) delete process.env[name];
    else process.env[name] = String(value);
  }
}

function running() {
  if (!node || !actionhero) throw new Error("Actionhero is not started (send a start op)");
  return actionhero;
}

function info() {
  const ah = actionhero;
  const resque = ah && ah.api.resque;
  const tasksConfig = ah ? ah.config.tasks : null;
  return {
    running: !!(node && node.running),
    pid: process.pid,
    hostname: os.hostname(),
    id: ah ? ah.id : null,
    actionheroVersion: ah ? ah.actionheroVersion : null,
    namespace: tasksConfig ? tasksConfig.connectionOptions.tasks.namespace : null,
    schedulerName: resque && resque.scheduler ? resque.scheduler.name : null,
    leader: !!(resque && resque.scheduler && resque.scheduler.leader),
    workers:
      resque && resque.multiWorker
        ? resque.multiWorker.workers.map((w) => ({ id: w.id, name: w.name, working: w.working }))
        : [],
    config: tasksConfig
      ? {
          scheduler: tasksConfig.scheduler,
          queues: tasksConfig.queues,
          timeout: tasksConfig.timeout,
          checkTimeout: tasksConfig.checkTimeout,
          minTaskProcessors: tasksConfig.minTaskProcessors,
          maxTaskProcessors: tasksConfig.maxTaskProcessors,
          stuckWorkerTimeout: tasksConfig.stuckWorkerTimeout,
          retryStuckJobs: tasksConfig.retryStuckJobs,
          maxEventLoopDelay: tasksConfig.maxEventLoopDelay,
        }
      : null,
  };
}

const handlers = {
  async start(options) {
    if (node && node.running) throw new Error("Actionhero is already running");
    applyOptions(options);
    if (actionhero === null) {
      actionhero = require("actionhero"); // builds the config from the environment
    } else {
      actionhero.rebuildConfig(); // a restart: read the environment again
    }
    node = new actionhero.Process();
    await node.start();
    return info();
  },

  async stop() {
    if (!node || !node.running) return false;
    await node.stop();
    return true;
  },

  async task({ method, args }) {
    const { task } = running();
    if (typeof task[method] !== "function") throw new Error(`no task method ${method}`);
    return task[method](...(args || []));
  },

  async taskArgs({ method, args }) {
    const { task } = running();
    if (typeof task[method] !== "function") throw new Error(`no task method ${method}`);
    const given = args || [];
    const result = await task[method](...given);
    return { result: result === undefined ? null : result, args: given };
  },

  async specHelper({ method, args }) {
    const { specHelper } = running();
    if (typeof specHelper[method] !== "function") throw new Error(`no specHelper ${method}`);
    return specHelper[method](...(args || []));
  },

  async middleware(options) {
    const { api, task } = running();
    // Required here, not at the top: lib/ requires `actionhero`, which must not load before
    // the environment above is set.
    const { recordingMiddleware } = require("./lib/middleware");
    const middleware = recordingMiddleware(options);
    await task.addMiddleware(middleware);
    return {
      name: middleware.name,
      priority: middleware.priority,
      globalMiddleware: api.tasks.globalMiddleware,
    };
  },

  async tasks() {
    const { api } = running();
    return Object.keys(api.tasks.tasks).sort();
  },

  async info() {
    return info();
  },

  // What keeps this process alive besides stdin (after `stop`: nothing of Actionhero's).
  async resources() {
    return process.getActiveResourcesInfo();
  },
};

async function shutdown() {
  try {
    if (node && node.running) await node.stop();
  } catch (error) {
    process.stderr.write(`stop failed: ${error && error.stack}\n`);
  }
  process.exit(0);
}

serve(handlers, { write: writeReply, shutdown });
