// node-resque 9.x processes for pyresque's fault-injection suite (tests/faults).
//
//   node interop/faults/fault_peer.js worker    '{"url", "namespace", "queues", "timeout", "name"}'
//   node interop/faults/fault_peer.js scheduler '{"url", "namespace", "timeout", "name",
//       "stuckWorkerTimeout", "retryStuckJobs", "leaderLockTimeout"}'
//
// A Worker or a Scheduler runs until SIGTERM/SIGINT (then end(), exit 0). The worker's job
// `work(id, ms)` is the same as tests/faults/jobs.py: sleep `ms`, then SADD
// `<ns>:fault:done` `<id>:<run uuid>` on its own connection, retried until Redis takes it
// (at most FAULT_RECORD_DEADLINE seconds), so every completed run counts exactly once.
// Events are written to stderr, one line each; an uncaught error exits with status 70.
"use strict";

const path = require("path");
const crypto = require("crypto");
const modules = path.join(__dirname, "..", "node", "node_modules");
const NR = require(path.join(modules, "node-resque"));
const Redis = require(path.join(modules, "ioredis"));

const ID_PREFIX = "fj-";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (...parts) => process.stderr.write(`${new Date().toISOString()} ${parts.join(" ")}\n`);
const text = (value) => {
  try {
    return JSON.stringify(value);
  } catch (error) {
    return String(value);
  }
};

function connection(config) {
  const url = new URL(config.url);
  return {
    host: url.hostname,
    port: parseInt(url.port || "6379", 10),
    database: parseInt(url.pathname.slice(1) || "0", 10),
    namespace: config.namespace,
  };
}

function jobs(config) {
  const conn = connection(config);
  const recorder = new Redis({ host: conn.host, port: conn.port, db: conn.database });
  recorder.on("error", () => {}); // it reconnects by itself; record() retries
  const key = `${config.namespace}:fault:done`;
  const deadlineMs = 1000 * parseFloat(process.env.FAULT_RECORD_DEADLINE || "120");

  async function record(id) {
    const member = `${id}:${crypto.randomUUID().replace(/-/g, "")}`;
    const deadline = Date.now() + deadlineMs;
    let delay = 10;
    for (;;) {
      try {
        await Promise.race([
          recorder.sadd(key, member),
          sleep(2000).then(() => {
            throw new Error("SADD timed out");
          }),
        ]);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`could not record ${id} done: ${error}`);
        await sleep(delay);
        delay = Math.min(delay * 2, 200);
      }
    }
  }

  return {
    work: {
      perform: async (id, ms) => {
        if (typeof id !== "string" || !id.startsWith(ID_PREFIX)) {
          throw new TypeError(`work(): not a fault-suite job id: ${text(id)}`.slice(0, 200));
        }
        ms = ms === undefined ? 0 : ms;
        if (typeof ms !== "number" || !(ms >= 0 && ms < 60000)) {
          throw new TypeError(`work(): bad ms ${text(ms)}`.slice(0, 200));
        }
        if (ms) await sleep(ms);
        await record(id);
        return id;
      },
    },
  };
}

async function runWorker(config) {
  const worker = new NR.Worker(
    {
      connection: connection(config),
      queues: config.queues,
      timeout: config.timeout || 5000,
      name: config.name,
    },
    jobs(config),
  );
  worker.on("failure", (queue, job, failure) => log("failure", queue, text(job), String(failure)));
  worker.on("error", (error, queue, job) => log("error", queue, text(job), String(error)));
  await worker.connect();
  await worker.start();
  log("worker started", worker.name);
  return () => worker.end();
}

async function runScheduler(config) {
  const scheduler = new NR.Scheduler({
    connection: connection(config),
    name: config.name,
    timeout: config.timeout || 5000,
    stuckWorkerTimeout: config.stuckWorkerTimeout || 3600000,
    retryStuckJobs: !!config.retryStuckJobs,
    leaderLockTimeout: config.leaderLockTimeout || 180,
  });
  scheduler.on("error", (error) => log("error", String(error)));
  scheduler.on("leader", () => log("leader"));
  scheduler.on("cleanStuckWorker", (name, payload, delta) =>
    log("cleanStuckWorker", name, text(payload), delta),
  );
  await scheduler.connect();
  await scheduler.start();
  log("scheduler started", scheduler.name);
  return () => scheduler.end();
}

async function main() {
  const [role, json] = process.argv.slice(2);
  const config = JSON.parse(json);
  const run = { worker: runWorker, scheduler: runScheduler }[role];
  if (!run) throw new Error(`unknown role ${role}`);
  const end = await run(config);
  let stopping = false;
  const stop = async (signal) => {
    if (stopping) process.exit(1);
    stopping = true;
    log(signal, "stopping");
    await end();
    process.exit(0);
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

process.on("unhandledRejection", (error) => {
  log("unhandledRejection", error && error.stack ? error.stack : String(error));
  process.exit(70);
});
process.on("uncaughtException", (error) => {
  log("uncaughtException", error && error.stack ? error.stack : String(error));
  process.exit(70);
});
main().catch((error) => {
  log("fatal", error && error.stack ? error.stack : String(error));
  process.exit(70);
});
