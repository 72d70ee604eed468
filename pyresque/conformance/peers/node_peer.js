// pyresque conformance: a node-resque peer driven over JSON lines (stdin -> stdout).
//
// Self-contained (ships in pyresque's wheel). node-resque is loaded from the folder named by
// PYRESQUE_NODE_DIR (a folder whose node_modules holds node-resque), so the user's own
// version is the one checked. Redis from REDIS_URL.
//   {"id": 1, "op": "queue", "namespace": "ns", "method": "enqueue", "args": [...]}
//   -> {"id": 1, "ok": true, "result": ...} | {"id": 1, "ok": false, "error": "..."}
"use strict";

const fs = require("fs");
const path = require("path");
const readline = require("readline");

const DIR = path.resolve(process.env.PYRESQUE_NODE_DIR || ".");

function packageDir(name) {
  // The installed package's folder: walk up from its resolved main file.
  let dir = path.dirname(require.resolve(name, { paths: [DIR] }));
  while (dir !== path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, "utf8")).name === name) {
      return dir;
    }
    dir = path.dirname(dir);
  }
  throw new Error(`no package.json for ${name}`);
}

function versionOf(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(packageDir(name), "package.json"), "utf8")).version;
  } catch (e) {
    return null;
  }
}

const NR = require(require.resolve("node-resque", { paths: [DIR] }));

function connectionOptions(namespace) {
  const url = new URL(process.env.REDIS_URL || "redis://127.0.0.1:6379/0");
  const options = {
    host: url.hostname,
    port: parseInt(url.port || "6379", 10),
    database: parseInt((url.pathname || "/0").slice(1) || "0", 10),
    namespace,
  };
  if (url.password) options.password = decodeURIComponent(url.password);
  return options;
}

// Jobs: confOk succeeds, confFail throws Error(args[0]).
const jobs = {
  confOk: { perform: async () => null },
  confFail: {
    perform: async (message) => {
      throw new Error(String(message));
    },
  },
};

const queues = new Map();
const workers = new Map();

async function queueFor(namespace) {
  if (!queues.has(namespace)) {
    const queue = new NR.Queue({ connection: connectionOptions(namespace) });
    queue.on("error", () => {});
    await queue.connect();
    queues.set(namespace, queue);
  }
  return queues.get(namespace);
}

const handlers = {
  async version() {
    return {
      "node-resque": versionOf("node-resque"),
      actionhero: versionOf("actionhero"),
      node: process.version,
    };
  },

  async queue({ namespace, method, args }) {
    const queue = await queueFor(namespace);
    if (typeof queue[method] !== "function") throw new Error(`no Queue method ${method}`);
    return queue[method](...(args || []));
  },

  // Register a worker (as node-resque's Worker.init does) without working.
  async worker_register({ namespace, name, queues: qs }) {
    const worker = new NR.Worker(
      { connection: connectionOptions(namespace), queues: qs, name, timeout: 60000 },
      jobs,
    );
    worker.on("error", () => {});
    await worker.connect();
    await worker.init();
    workers.set(name, worker);
    return worker.name;
  },

  async worker_end({ name }) {
    const worker = workers.get(name);
    if (!worker) return false;
    workers.delete(name);
    await worker.end();
    return true;
  },

  // Work until `count` jobs succeeded or failed (or timeoutMs), then end the worker.
  async work({ namespace, name, queues: qs, count, timeoutMs }) {
    const worker = new NR.Worker(
      { connection: connectionOptions(namespace), queues: qs, name, timeout: 20 },
      jobs,
    );
    const outcomes = [];
    worker.on("success", (q, job) => outcomes.push({ event: "success", queue: q, class: job.class }));
    worker.on("failure", (q, job, failure) =>
      outcomes.push({ event: "failure", queue: q, class: job.class, error: String(failure) }),
    );
    worker.on("error", (error) => outcomes.push({ event: "error", error: String(error) }));
    await worker.connect();
    await worker.start();
    const deadline = Date.now() + (timeoutMs || 10000);
    while (outcomes.length < (count || 1) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await worker.end();
    return outcomes;
  },
};

async function shutdown() {
  for (const worker of workers.values()) await worker.end().catch(() => {});
  for (const queue of queues.values()) await queue.end().catch(() => {});
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
      process.stdout.write(JSON.stringify({ id: request.id, ok: true, result: result === undefined ? null : result }) + "\n");
    } catch (error) {
      process.stdout.write(
        JSON.stringify({ id: request.id, ok: false, name: error && error.name, error: String(error && error.message) }) + "\n",
      );
    }
  });
});
lines.on("close", () => chain.then(shutdown));
