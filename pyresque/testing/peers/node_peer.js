// pyresque's node-resque peer driver (pyresque.testing.peers.NodePeer starts it).
//
// Self-contained: node-resque is resolved from the user's project folder (PYRESQUE_NODE_PROJECT,
// through require.resolve paths), the job definitions from the module PYRESQUE_NODE_JOBS names
// (its exports, or its `jobs` export: node-resque's {name: {perform}} map).
// Env: REDIS_URL, PYRESQUE_NAMESPACE.
//
// One JSON request per stdin line, one JSON reply per stdout line, in order:
//   {"id": 1, "op": "enqueue", "queue": "q", "class": "add", "args": [1, 2]}
//   -> {"id": 1, "ok": true, "result": true}
//   errors: {"id": 1, "ok": false, "name": "Error", "error": "message"}
"use strict";

const path = require("path");
const readline = require("readline");

const project = path.resolve(process.env.PYRESQUE_NODE_PROJECT || process.cwd());
const NR = require(require.resolve("node-resque", { paths: [project] }));

function connection() {
  const url = new URL(process.env.REDIS_URL || "redis://127.0.0.1:6379/0");
  const options = {
    host: url.hostname,
    port: parseInt(url.port || "6379", 10),
    database: parseInt((url.pathname || "/0").slice(1) || "0", 10),
    namespace: process.env.PYRESQUE_NAMESPACE || "resque",
  };
  if (url.password) options.password = decodeURIComponent(url.password);
  if (url.username) options.username = decodeURIComponent(url.username);
  return options;
}

let jobsCache = null;
function jobs() {
  if (jobsCache === null) {
    const file = process.env.PYRESQUE_NODE_JOBS;
    if (!file) throw new Error("no job definitions: give jobs=PATH to the peer");
    const loaded = require(path.resolve(file));
    jobsCache = loaded && loaded.jobs && typeof loaded.jobs === "object" ? loaded.jobs : loaded;
  }
  return jobsCache;
}

let queuePromise = null;
function queue() {
  if (queuePromise === null) {
    queuePromise = (async () => {
      const q = new NR.Queue({ connection: connection() }, jobsOrEmpty());
      q.on("error", () => {});
      await q.connect();
      return q;
    })();
  }
  return queuePromise;
}

function jobsOrEmpty() {
  return process.env.PYRESQUE_NODE_JOBS ? jobs() : {};
}

function describe(error) {
  if (error && error.stack) return String(error.stack).split("\n")[0];
  return String(error);
}

const handlers = {
  async enqueue({ queue: q, class: name, args }) {
    return (await queue()).enqueue(q, name, args || []);
  },
  async enqueue_at({ timestamp, queue: q, class: name, args }) {
    await (await queue()).enqueueAt(timestamp, q, name, args || []);
    return true;
  },
  async enqueue_in({ delay, queue: q, class: name, args }) {
    await (await queue()).enqueueIn(delay, q, name, args || []);
    return true;
  },
  // Any other node-resque Queue method: length, queued, timestamps, failed ...
  async call({ method, args }) {
    const q = await queue();
    if (typeof q[method] !== "function") throw new Error(`node-resque Queue has no ${method}`);
    return q[method](...(args || []));
  },
  // A node-resque Worker with the user's jobs until `count` jobs ran (or the timeout).
  async work({ queues, count, timeout }) {
    const worker = new NR.Worker(
      { connection: connection(), queues, timeout: 20, name: `pyresque-peer:${process.pid}` },
      jobs(),
    );
    const outcomes = [];
    worker.on("success", (q, job, result) =>
      outcomes.push({ ok: true, queue: q, class: job.class, args: job.args, result: result === undefined ? null : result }),
    );
    worker.on("failure", (q, job, failure) =>
      outcomes.push({ ok: false, queue: q, class: job.class, args: job.args, error: describe(failure) }),
    );
    worker.on("error", (error, q, job) => {
      if (job) outcomes.push({ ok: false, queue: q, class: job.class, args: job.args, error: describe(error) });
    });
    await worker.connect();
    await worker.start();
    const deadline = Date.now() + timeout * 1000;
    while (outcomes.length < count && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await worker.end();
    return outcomes;
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
    return { id: request.id, ok: false, name: error && error.name, error: error && error.message !== undefined ? error.message : String(error) };
  }
}

const rl = readline.createInterface({ input: process.stdin, terminal: false });
let chain = Promise.resolve();
rl.on("line", (line) => {
  chain = chain.then(async () => process.stdout.write(JSON.stringify(await handle(line)) + "\n"));
});
rl.on("close", () => {
  chain.then(async () => {
    if (queuePromise !== null) await (await queuePromise).end();
    process.exit(0);
  });
});
