// pyresque's node-resque peer, driven over JSON lines (stdin -> stdout): the one script behind
// `pyresque conformance` (pyresque.conformance.drivers.start_node) and the contract-test peer
// (pyresque.testing.peers.NodePeer, the node_peer / make_node_peer fixtures).
//
// Self-contained (ships in pyresque's wheel). node-resque is resolved from the user's project
// folder PYRESQUE_NODE_PROJECT (require.resolve from there, so the user's own version runs).
// Jobs: the module PYRESQUE_NODE_JOBS names (its exports, or its `jobs` export: node-resque's
// {name: {perform}} map) when given, else the conformance jobs below. Redis from REDIS_URL;
// a request's `namespace` (default PYRESQUE_NAMESPACE, else "resque").
//   {"id": 1, "op": "queue", "namespace": "ns", "method": "enqueue", "args": [...]}
//   -> {"id": 1, "ok": true, "result": ...} | {"id": 1, "ok": false, "name": "Error", "error": "..."}
"use strict";

const fs = require("fs");
const path = require("path");
const readline = require("readline");

const PROJECT = path.resolve(process.env.PYRESQUE_NODE_PROJECT || process.cwd());
const NR = require(require.resolve("node-resque", { paths: [PROJECT] }));

function packageDir(name) {
  // The installed package's folder: walk up from its resolved main file.
  let dir = path.dirname(require.resolve(name, { paths: [PROJECT] }));
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

function connection(namespace) {
  const url = new URL(process.env.REDIS_URL || "redis://127.0.0.1:6379/0");
  const options = {
    host: url.hostname,
    port: parseInt(url.port || "6379", 10),
    database: parseInt((url.pathname || "/0").slice(1) || "0", 10),
    namespace: namespace || process.env.PYRESQUE_NAMESPACE || "resque",
  };
  if (url.password) options.password = decodeURIComponent(url.password);
  if (url.username) options.username = decodeURIComponent(url.username);
  return options;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The conformance jobs: confOk succeeds, confFail throws Error(args[0]); the plugin jobs use
// node-resque's built-in plugins. confJobLock holds its JobLock, and confHeld (no plugins)
// its worker, until the list <namespace>:conformance-release:<args[0]> gets an item (pushed by
// the check: no sleeps). confRetry throws Error(args[0]) under the Retry plugin, its delays
// long enough (5 and 10 minutes) that nothing promotes a retry while a check reads it.
function conformanceJobs() {
  const held = async function (id) {
    const release = this.connection.key("conformance-release", String(id));
    const deadline = Date.now() + 20000;
    while (!(await this.connection.redis.lpop(release)) && Date.now() < deadline) await sleep(5);
    return id;
  };
  return {
    confOk: { perform: async () => null },
    confFail: {
      perform: async (message) => {
        throw new Error(String(message));
      },
    },
    confQueueLock: {
      plugins: ["QueueLock"],
      pluginOptions: { QueueLock: { lockTimeout: 30 } },
      perform: async (id) => id,
    },
    confDelayLock: { plugins: ["DelayQueueLock"], perform: async (id) => id },
    confHeld: { perform: held },
    confRetry: {
      plugins: ["Retry"],
      pluginOptions: { Retry: { retryLimit: 3, backoffStrategy: [300000, 600000] } },
      perform: async (message) => {
        throw new Error(String(message));
      },
    },
    confJobLock: {
      plugins: ["JobLock"],
      pluginOptions: { JobLock: { lockTimeout: 30, enqueueTimeout: 1001 } },
      perform: held,
    },
  };
}

let jobsCache = null;
function jobs() {
  if (jobsCache === null) {
    const file = process.env.PYRESQUE_NODE_JOBS;
    if (file) {
      const loaded = require(path.resolve(file));
      jobsCache = loaded && loaded.jobs && typeof loaded.jobs === "object" ? loaded.jobs : loaded;
    } else {
      jobsCache = conformanceJobs();
    }
  }
  return jobsCache;
}

const queues = new Map();
const workers = new Map();
const schedulers = new Map();

async function queueFor(namespace) {
  const options = connection(namespace);
  if (!queues.has(options.namespace)) {
    const queue = new NR.Queue({ connection: options }, jobs());
    queue.on("error", () => {});
    queues.set(options.namespace, queue.connect().then(() => queue));
  }
  return queues.get(options.namespace);
}

function describe(error) {
  if (error && error.stack) return String(error.stack).split("\n")[0];
  return String(error);
}

function newWorker(namespace, name, qs, timeout) {
  return new NR.Worker(
    { connection: connection(namespace), queues: qs, name: name || `pyresque-peer:${process.pid}`, timeout },
    jobs(),
  );
}

const handlers = {
  async version() {
    return {
      "node-resque": versionOf("node-resque"),
      actionhero: versionOf("actionhero"),
      node: process.version,
    };
  },

  // Any node-resque Queue method (enqueue, enqueueAt, length, queued, forceCleanWorker ...)
  // on a Queue that has the jobs (so enqueue runs their plugins).
  async queue({ namespace, method, args }) {
    const queue = await queueFor(namespace);
    if (typeof queue[method] !== "function") throw new Error(`node-resque Queue has no ${method}`);
    return queue[method](...(args || []));
  },

  // A Worker kept until worker_end: registered only (as Worker.init does), or working too.
  async worker_start({ namespace, name, queues: qs, work }) {
    const worker = newWorker(namespace, name, qs, work ? 20 : 60000);
    worker.on("error", () => {});
    await worker.connect();
    if (work) await worker.start();
    else await worker.init();
    workers.set(worker.name, worker);
    return worker.name;
  },

  // End a kept worker (node-resque waits for the job in hand).
  async worker_end({ name }) {
    const worker = workers.get(name);
    if (!worker) return false;
    workers.delete(name);
    await worker.end();
    return true;
  },

  // Work until `count` events named in `until` (default success, failure and errors of a
  // job; job too) happened, or `timeout` seconds; then end the worker. The events, in order,
  // with those named in `also` (not counted; e.g. reEnqueue, the Retry plugin's).
  async work({ namespace, name, queues: qs, count, until, also, timeout }) {
    const worker = newWorker(namespace, name, qs, 20);
    const wanted = until || ["success", "failure", "error"];
    const outcomes = [];
    let counted = 0;
    const record = (event, q, job, extra) => {
      if (wanted.includes(event) || (also || []).includes(event)) {
        outcomes.push({ event, ok: event === "success", queue: q, class: job.class, args: job.args, ...extra });
        if (wanted.includes(event)) counted += 1;
      }
    };
    worker.on("job", (q, job) => record("job", q, job, {}));
    worker.on("success", (q, job, result) => record("success", q, job, { result: result === undefined ? null : result }));
    worker.on("failure", (q, job, failure) => record("failure", q, job, { error: describe(failure) }));
    worker.on("reEnqueue", (q, job, detail) =>
      record("reEnqueue", q, job, {
        delay: detail.delay,
        remainingAttempts: detail.remainingAttempts,
        error: describe(detail.err),
      }),
    );
    worker.on("error", (error, q, job) => {
      if (job) record("error", q, job, { error: describe(error) });
    });
    await worker.connect();
    await worker.start();
    const deadline = Date.now() + (timeout || 10) * 1000;
    while (counted < (count || 1) && Date.now() < deadline) await sleep(5);
    await worker.end();
    return outcomes;
  },

  // A Scheduler (its default name unless one is given) polls once, as its timer would:
  // takes or keeps the leader lock, moves due jobs. Kept until scheduler_end.
  async scheduler_poll({ namespace, name }) {
    const key = `${namespace}\n${name || ""}`;
    if (!schedulers.has(key)) {
      const options = { connection: connection(namespace), stuckWorkerTimeout: 0 };
      if (name) options.name = name;
      const scheduler = new NR.Scheduler(options, jobs());
      scheduler.on("error", () => {});
      await scheduler.connect();
      schedulers.set(key, scheduler);
    }
    const scheduler = schedulers.get(key);
    await scheduler.poll();
    return { name: scheduler.name, leader: scheduler.leader };
  },

  // End the scheduler (it releases the leader lock it holds).
  async scheduler_end({ namespace, name }) {
    const key = `${namespace}\n${name || ""}`;
    const scheduler = schedulers.get(key);
    if (!scheduler) return false;
    schedulers.delete(key);
    await scheduler.end();
    return true;
  },
};

function safe(value) {
  // Replies are JSON: results that are not (functions, cycles) become their text.
  try {
    JSON.stringify(value);
    return value;
  } catch (error) {
    return String(value);
  }
}

async function handle(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (error) {
    return { id: null, ok: false, name: "SyntaxError", error: `bad request: ${error.message}` };
  }
  try {
    const handler = handlers[request.op];
    if (!handler) throw new Error(`unknown op ${request.op}`);
    const result = await handler(request);
    return { id: request.id, ok: true, result: result === undefined ? null : safe(result) };
  } catch (error) {
    const message = error && error.message !== undefined ? error.message : String(error);
    return { id: request.id, ok: false, name: error && error.name, error: message };
  }
}

async function shutdown() {
  for (const worker of workers.values()) await worker.end().catch(() => {});
  for (const scheduler of schedulers.values()) await scheduler.end().catch(() => {});
  for (const queue of queues.values()) await queue.then((q) => q.end()).catch(() => {});
  process.exit(0);
}

const lines = readline.createInterface({ input: process.stdin, terminal: false });
let chain = Promise.resolve();
lines.on("line", (line) => {
  chain = chain.then(async () => process.stdout.write(JSON.stringify(await handle(line)) + "\n"));
});
lines.on("close", () => chain.then(shutdown));
