// pyresque conformance: an Actionhero peer driven over JSON lines (stdin -> stdout), like
// node_peer.js. Ships in pyresque's wheel with the small app in ./actionhero (its config and
// tasks confRecord, confFail, the periodic confPeriodic); Actionhero itself is loaded from
// the user's folder (PYRESQUE_NODE_DIR), so the user's version is the one checked. Redis
// from REDIS_URL.
//   {"id": 1, "op": "start", "namespace": "ns", "workers": false}   boot (Process.start);
//       also "scheduler" (default: as workers) and "queues" (default ["conformance"])
//   {"id": 2, "op": "methods"}   the names of Actionhero's task.* functions
//   {"op": "middleware", "name": "m", "priority": 50}   task.addMiddleware of a global
//       middleware recording its hooks (actionhero/middleware.js)
//   {"id": 3, "op": "task", "method": "enqueue", "args": ["confRecord", {"id": 1}]}
//   {"id": 4, "op": "stop"}
// Actionhero is one per process: `start` after `stop` reboots with the new namespace.
"use strict";

const fs = require("fs");
const path = require("path");
const readline = require("readline");
const util = require("util");

const DIR = path.resolve(process.env.PYRESQUE_NODE_DIR || ".");
const APP = path.join(__dirname, "actionhero");

// Only replies go to stdout.
const writeReply = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, encoding, callback) => process.stderr.write(chunk, encoding, callback);
for (const method of ["log", "info", "debug"]) {
  console[method] = (...args) => process.stderr.write(util.format(...args) + "\n");
}

delete process.env.project_root; // these two would win over PROJECT_ROOT
delete process.env.projectRoot;
process.env.PROJECT_ROOT = APP;
process.env.ACTIONHERO_CONFIG = path.join(APP, "config");
process.env.ACTIONHERO_TYPESCRIPT_MODE = "false";
process.env.ACTIONHERO_TITLE = `pyresque-conformance-${process.pid}`;

function versionOf(name) {
  try {
    const manifest = require.resolve(`${name}/package.json`, { paths: [DIR] });
    return JSON.parse(fs.readFileSync(manifest, "utf8")).version;
  } catch (e) {
    return null;
  }
}

let actionhero = null;
let node = null;

function running() {
  if (!node || !node.running) throw new Error("Actionhero is not started");
  return actionhero;
}

const handlers = {
  async version() {
    return {
      actionhero: versionOf("actionhero"),
      "node-resque": versionOf("node-resque"),
      node: process.version,
    };
  },

  async start({ namespace, workers, scheduler, queues }) {
    if (node && node.running) throw new Error("Actionhero is already running");
    process.env.PYRESQUE_AH_NAMESPACE = namespace;
    process.env.PYRESQUE_AH_WORKERS = workers ? "true" : "false";
    process.env.PYRESQUE_AH_SCHEDULER = (scheduler === undefined ? workers : scheduler) ? "true" : "false";
    process.env.PYRESQUE_AH_QUEUES = JSON.stringify(queues || ["conformance"]);
    if (actionhero === null) {
      actionhero = require(require.resolve("actionhero", { paths: [DIR] }));
    } else {
      actionhero.rebuildConfig();
    }
    node = new actionhero.Process();
    await node.start();
    return Object.keys(actionhero.api.tasks.tasks).sort();
  },

  async stop() {
    if (!node || !node.running) return false;
    await node.stop();
    return true;
  },

  // The names of this Actionhero's task.* functions (a check needing one it lacks skips).
  async methods() {
    const { task } = running();
    return Object.keys(task).filter((name) => typeof task[name] === "function").sort();
  },

  // Registers a global recording middleware (./actionhero/middleware.js) with
  // task.addMiddleware; answers the global middleware's names in running order.
  async middleware({ name, priority }) {
    const { api, task } = running();
    if (typeof task.addMiddleware !== "function") throw new Error("no task method addMiddleware");
    const { recordingMiddleware } = require(path.join(APP, "middleware.js"));
    await task.addMiddleware(recordingMiddleware(actionhero, { name, priority }));
    return api.tasks.globalMiddleware;
  },

  async task({ method, args }) {
    const { task } = running();
    if (typeof task[method] !== "function") throw new Error(`no task method ${method}`);
    return task[method](...(args || []));
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

const lines = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();
lines.on("line", (line) => {
  chain = chain.then(async () => {
    let request = {};
    try {
      request = JSON.parse(line);
      const handler = handlers[request.op];
      if (!handler) throw new Error(`unknown op ${request.op}`);
      const result = await handler(request);
      writeReply(JSON.stringify({ id: request.id, ok: true, result: result === undefined ? null : result }) + "\n");
    } catch (error) {
      writeReply(
        JSON.stringify({ id: request.id, ok: false, name: error && error.name, error: String(error && error.message) }) + "\n",
      );
    }
  });
});
lines.on("close", () => chain.then(shutdown));
