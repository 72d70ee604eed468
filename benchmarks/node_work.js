// node-resque side of benchmarks/work.py: one phase per run, results as JSON on stdout.
// Usage: node benchmarks/node_work.js '<json config>'
//   {"mode": "drain", "url", "namespace", "workers", "jobs", "job": "noop"|"sleep", "timeout"}
//     works a queue benchmarks/work.py has already filled with `jobs` jobs; times from the
//     workers' start() until every job is done and settled and every worker is idle again.
//     The 10 workers are built the way MultiWorker.startWorker builds them (same options and
//     names, each its own connection) but started together, not one per 500 ms check.
//     With "record": true (benchmarks/anchors.py) the no-op job takes an index argument and
//     records it and its start time; the result adds ran, distinct, first and last (epoch s).
//   {"mode": "latency", "url", "namespace", "samples", "timeout", "gapMin", "gapMax"}
//     one idle worker; enqueue one job at a time and time enqueue call -> job start.
"use strict";
const os = require("os");
const path = require("path");
const { performance } = require("perf_hooks");
const modules = path.join(__dirname, "..", "interop", "node", "node_modules");
const { Queue, Worker } = require(path.join(modules, "node-resque"));
const Redis = require(path.join(modules, "ioredis"));

// Wall-clock epoch milliseconds like Date.now(), but with sub-millisecond resolution
// (Date.now() is whole milliseconds; Python's time.time() is microseconds).
const wallMs = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function connection(url, namespace) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: parseInt(u.port || "6379", 10),
    database: parseInt(u.pathname.slice(1) || "0", 10),
    namespace,
  };
}

async function commandStats(client) {
  const calls = {};
  for (const line of (await client.info("commandstats")).split("\n")) {
    const found = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (found) calls[found[1]] = parseInt(found[2], 10);
  }
  return calls;
}

const JOBS = {
  noop: { perform: async () => null },
  sleep: {
    perform: async () => {
      await sleep(10);
      return null;
    },
  },
};

// Jobs run by index, for anchors.py's exactly-once check.
function recorder() {
  const record = { seen: new Map(), ran: 0, first: 0, last: 0 };
  record.job = {
    perform: async (i) => {
      const now = wallMs() / 1000;
      if (!record.ran) record.first = now;
      record.last = now;
      record.ran++;
      record.seen.set(i, (record.seen.get(i) || 0) + 1);
      return null;
    },
  };
  return record;
}

async function drain(config) {
  const conn = connection(config.url, config.namespace);
  const record = config.record ? recorder() : null;
  const job = record ? record.job : JOBS[config.job];
  const stats = new Redis({ host: conn.host, port: conn.port, db: conn.database });
  const workers = [];
  for (let id = 1; id <= config.workers; id++) {
    const worker = new Worker(
      {
        connection: { ...conn },
        queues: ["bench"],
        timeout: config.timeout,
        name: os.hostname() + ":" + process.pid + "+" + id,
      },
      { [config.job]: job },
    );
    worker.id = id;
    workers.push(worker);
  }
  const idle = new Array(config.workers).fill(false);
  let succeeded = 0;
  let failed = 0;
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  let end = null;
  let cpu = null;
  const check = () => {
    if (end === null && succeeded + failed >= config.jobs && idle.every(Boolean)) {
      end = process.hrtime.bigint();
      cpu = process.cpuUsage(cpu);
      finish();
    }
  };
  workers.forEach((worker, i) => {
    worker.on("job", () => (idle[i] = false));
    worker.on("pause", () => {
      idle[i] = true;
      check();
    });
    worker.on("success", () => {
      succeeded++;
    });
    worker.on("failure", () => {
      failed++;
    });
    worker.on("error", (error) => console.error("worker error", error));
  });
  for (const worker of workers) await worker.connect();

  const before = await commandStats(stats);
  const start = process.hrtime.bigint();
  cpu = process.cpuUsage();
  await Promise.all(workers.map((worker) => worker.start()));
  await finished;
  const seconds = Number(end - start) / 1e9;
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const after = await commandStats(stats);

  await Promise.all(workers.map((worker) => worker.end()));
  await stats.quit();
  const result = { seconds, cpuSeconds, succeeded, failed, before, after };
  if (record) {
    Object.assign(result, {
      ran: record.ran,
      distinct: record.seen.size,
      first: record.first,
      last: record.last,
    });
  }
  return result;
}

async function latency(config) {
  const conn = connection(config.url, config.namespace);
  const queue = new Queue({ connection: { ...conn } });
  await queue.connect();
  let jobStarted = 0;
  let onDone = null;
  let onPause = null;
  const worker = new Worker(
    {
      connection: { ...conn },
      queues: ["bench"],
      timeout: config.timeout,
      name: os.hostname() + ":" + process.pid + "+1",
    },
    {
      lat: {
        perform: async () => {
          jobStarted = wallMs();
          return null;
        },
      },
    },
  );
  worker.on("success", () => onDone && onDone());
  worker.on("failure", (queueName, job, error) => console.error("job failed", error));
  worker.on("pause", () => onPause && onPause());
  worker.on("error", (error) => console.error("worker error", error));
  await worker.connect();
  await new Promise((resolve) => {
    onPause = resolve;
    worker.start();
  });
  onPause = null;

  const samples = [];
  // One warm-up job first (the pop script's first EVALSHA falls back to EVAL): not counted.
  for (let i = 0; i <= config.samples; i++) {
    await sleep(config.gapMin + Math.random() * (config.gapMax - config.gapMin));
    const done = new Promise((resolve) => (onDone = resolve));
    const enqueued = wallMs();
    await queue.enqueue("bench", "lat", []);
    await done;
    if (i > 0) samples.push(jobStarted - enqueued);
  }
  await worker.end();
  await queue.end();
  return { samples };
}

async function main() {
  const config = JSON.parse(process.argv[2]);
  const result = config.mode === "drain" ? await drain(config) : await latency(config);
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
