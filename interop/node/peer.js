// A long-lived node-resque peer for pyresque's interop tests.
//
// Reads one JSON request per line on stdin and writes one JSON reply per line on stdout:
//   {"id": 1, "op": "queue", "namespace": "ns", "method": "enqueue", "args": ["q", "add", [1, 2]]}
//   -> {"id": 1, "ok": true, "result": true}
// Errors come back as {"id": 1, "ok": false, "error": "message", "name": "Error"}.
//
// Redis comes from REDIS_URL (redis://host:port/db). node-resque objects are cached per
// namespace so a test session pays for one process and a handful of connections.
"use strict";

const { serve } = require("../jsonlines");
const os = require("os");
const NR = require("node-resque");

function connectionOptions(namespace) {
  const url = new URL(process.env.REDIS_URL || "redis://127.0.0.1:6379/0");
  const db = parseInt((url.pathname || "/0").slice(1) || "0", 10);
  return {
    host: url.hostname,
    port: parseInt(url.port || "6379", 10),
    database: db,
    namespace: namespace === undefined ? "resque" : namespace,
  };
}

const queues = new Map();
const workers = new Map();
const schedulers = new Map();

async function queueFor(namespace) {
  const key = JSON.stringify(namespace);
  if (!queues.has(key)) {
    const queue = new NR.Queue({ connection: connectionOptions(namespace) });
    queue.on("error", () => {}); // forceCleanWorker reports unknown workers this way
    await queue.connect();
    queues.set(key, queue);
  }
  return queues.get(key);
}

// Job definitions a node worker can run: their effects are visible in Redis.
function jobsFor(namespace) {
  return {
    add: { perform: async (a, b) => a + b },
    noop: { perform: async () => null },
    fail: {
      perform: async (message) => {
        throw new Error(message === undefined ? "BUSTED" : String(message));
      },
    },
    hold: { perform: async (ms) => new Promise((r) => setTimeout(r, ms || 1000)) },
    // Records that it ran (and where), so tests can check every job ran exactly once.
    mark: {
      perform: async function (id) {
        await this.connection.redis.rpush(this.connection.key("done"), `${id}:node`);
        return id;
      },
    },
  };
}

function makeWorker(namespace, name, qs, timeout) {
  return new NR.Worker(
    { connection: connectionOptions(namespace), queues: qs, name, timeout },
    jobsFor(namespace),
  );
}

// Keep a worker under its name for worker_end / work_stop; report how it registered.
async function keep(name, worker, begin) {
  worker.on("error", () => {});
  await worker.connect();
  await begin(worker);
  workers.set(name, worker);
  return { name: worker.name, queues: worker.stringQueues() };
}

const handlers = {
  // Any node-resque Queue method, e.g. enqueue, enqueueAt, timestamps, failed, workers ...
  async queue({ namespace, method, args }) {
    const queue = await queueFor(namespace);
    if (typeof queue[method] !== "function") throw new Error(`no Queue method ${method}`);
    return queue[method](...(args || []));
  },

  // Register a worker (track + started + ping) without taking jobs.
  async worker_register({ namespace, name, queues: qs }) {
    return keep(name, makeWorker(namespace, name, qs, 60000), (w) => w.init());
  },

  async worker_end({ name }) {
    const worker = workers.get(name);
    if (!worker) return false;
    workers.delete(name);
    await worker.end();
    return true;
  },

  // Start a worker, let it work until `count` jobs succeeded or failed, then end it.
  async work({ namespace, name, queues: qs, count, timeoutMs }) {
    const worker = makeWorker(namespace, name, qs, 50);
    const outcomes = [];
    worker.on("success", (q, job, result) => outcomes.push({ event: "success", queue: q, job, result }));
    worker.on("failure", (q, job, failure) =>
      outcomes.push({ event: "failure", queue: q, job, error: String(failure) }),
    );
    worker.on("error", (error, q, job) => outcomes.push({ event: "error", queue: q, job, error: String(error) }));
    await worker.connect();
    await worker.start();
    const deadline = Date.now() + (timeoutMs || 10000);
    while (outcomes.length < (count || 1) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await worker.end();
    return outcomes;
  },

  // Start a worker in the background (returns at once); stop it with work_stop.
  async work_start({ namespace, name, queues: qs, timeout }) {
    return keep(name, makeWorker(namespace, name, qs, timeout || 50), (w) => w.start());
  },

  async work_stop({ name }) {
    return handlers.worker_end({ name });
  },

  async enqueue_many({ namespace, queue, jobClass, argsList }) {
    const q = await queueFor(namespace);
    for (const args of argsList) await q.enqueue(queue, jobClass, args);
    return argsList.length;
  },

  // A node-resque Scheduler (leader lock, delayed jobs, stuck-worker cleanup).
  async scheduler_start({ namespace, name, timeout, stuckWorkerTimeout, retryStuckJobs }) {
    const scheduler = new NR.Scheduler({
      connection: connectionOptions(namespace),
      name,
      timeout: timeout || 200,
      stuckWorkerTimeout: stuckWorkerTimeout || 3600000,
      retryStuckJobs: !!retryStuckJobs,
    });
    const cleaned = [];
    scheduler.on("error", () => {});
    scheduler.on("cleanStuckWorker", (workerName, payload, delta) =>
      cleaned.push({ workerName, payload, delta }),
    );
    await scheduler.connect();
    await scheduler.start();
    schedulers.set(name, { scheduler, cleaned });
    return true;
  },

  async scheduler_cleaned({ name }) {
    return schedulers.get(name).cleaned;
  },

  async scheduler_stop({ name }) {
    const entry = schedulers.get(name);
    if (!entry) return false;
    schedulers.delete(name);
    await entry.scheduler.end();
    return true;
  },

  async date({ ms }) {
    return new Date(ms).toString();
  },

  async hostname() {
    return os.hostname();
  },
};

// -- Plugins (interop/test_node_plugins.py) ------------------------------------------------
// Jobs using node-resque's built-in plugins. The pyresque side defines the same classes with
// the same pluginOptions, so both peers work on the same lock and retry keys. Kept apart
// from the ops above: a Queue built WITH these jobs runs the enqueue plugins.

const pluginQueues = new Map();
const noopLogged = [];

function pluginJobsFor() {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  async function mark(worker, id) {
    await worker.connection.redis.rpush(worker.connection.key("done"), `${id}:node`);
  }
  return {
    lockedSlow: {
      plugins: ["JobLock"],
      pluginOptions: { JobLock: { lockTimeout: 30, enqueueTimeout: 1001 } },
      perform: async function (id, ms) {
        await mark(this, id);
        await sleep(ms);
        return id;
      },
    },
    queueLocked: {
      plugins: ["QueueLock"],
      pluginOptions: { QueueLock: { lockTimeout: 30 } },
      perform: async function (id) {
        await mark(this, id);
        return id;
      },
    },
    delayLocked: {
      plugins: ["DelayQueueLock"],
      perform: async function (id) {
        await mark(this, id);
        return id;
      },
    },
    retried: {
      plugins: ["Retry"],
      pluginOptions: { Retry: { retryLimit: 3, retryDelay: 100, backoffStrategy: [100, 200] } },
      perform: async function (id) {
        await mark(this, id);
        throw new Error("BUSTED");
      },
    },
    // Fails its first attempt (counted in <ns>:flaky:<id>, whichever peer ran it).
    flaky: {
      plugins: ["Retry"],
      pluginOptions: { Retry: { retryLimit: 3, retryDelay: 100 } },
      perform: async function (id) {
        const attempt = await this.connection.redis.incr(this.connection.key("flaky", String(id)));
        await mark(this, id);
        if (attempt === 1) throw new Error("first attempt");
        return attempt;
      },
    },
    noopFail: {
      plugins: ["Noop"],
      // console.log (Noop's default) would write into this peer's stdout replies.
      pluginOptions: { Noop: { logger: (error) => noopLogged.push(String(error)) } },
      perform: async () => {
        throw new Error("BUSTED");
      },
    },
  };
}

function makePluginWorker(namespace, name, qs, timeout) {
  return new NR.Worker(
    { connection: connectionOptions(namespace), queues: qs, name, timeout },
    pluginJobsFor(),
  );
}

function recordEvents(worker, events) {
  worker.on("job", (q, job) => events.push({ event: "job", queue: q, args: job.args }));
  worker.on("success", (q, job, result) => events.push({ event: "success", queue: q, args: job.args, result }));
  worker.on("failure", (q, job, failure) =>
    events.push({ event: "failure", queue: q, args: job.args, error: String(failure) }),
  );
  worker.on("reEnqueue", (q, job, detail) =>
    events.push({
      event: "reEnqueue",
      queue: q,
      args: job.args,
      delay: detail.delay,
      remainingAttempts: detail.remainingAttempts,
      error: String(detail.err),
    }),
  );
}

const pluginHandlers = {
  // A Queue method on a Queue built with the plugin jobs (enqueue runs their plugins).
  async plugin_queue({ namespace, method, args }) {
    const key = JSON.stringify(namespace);
    if (!pluginQueues.has(key)) {
      const queue = new NR.Queue({ connection: connectionOptions(namespace) }, pluginJobsFor());
      queue.on("error", () => {});
      await queue.connect();
      pluginQueues.set(key, queue);
    }
    const queue = pluginQueues.get(key);
    if (typeof queue[method] !== "function") throw new Error(`no Queue method ${method}`);
    return queue[method](...(args || []));
  },

  // Work the plugin jobs until `count` events named in `until` (default success, failure)
  // happened, then end the worker (which waits for the job in hand); all events recorded.
  async plugin_work({ namespace, name, queues: qs, count, until, timeoutMs }) {
    const worker = makePluginWorker(namespace, name, qs, 50);
    const events = [];
    const wanted = until || ["success", "failure"];
    recordEvents(worker, events);
    worker.on("error", (error) => events.push({ event: "error", error: String(error) }));
    await worker.connect();
    await worker.start();
    const deadline = Date.now() + (timeoutMs || 10000);
    const done = () => events.filter((e) => wanted.includes(e.event)).length >= (count || 1);
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await worker.end();
    return events;
  },

  // A plugin-job worker in the background; end it with work_stop.
  async plugin_work_start({ namespace, name, queues: qs }) {
    return keep(name, makePluginWorker(namespace, name, qs, 50), (w) => w.start());
  },

  // What the Noop plugin logged since the last call.
  async noop_logged() {
    return noopLogged.splice(0, noopLogged.length);
  },
};
Object.assign(handlers, pluginHandlers);

async function shutdown() {
  for (const { scheduler } of schedulers.values()) await scheduler.end().catch(() => {});
  for (const worker of workers.values()) await worker.end().catch(() => {});
  for (const queue of queues.values()) await queue.end().catch(() => {});
  process.exit(0);
}

serve(handlers, { write: (chunk) => process.stdout.write(chunk), shutdown });
