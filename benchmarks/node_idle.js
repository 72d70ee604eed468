// node-resque side of benchmarks/memory.py: an idle Worker, or a MultiWorker, that runs until
// SIGTERM (then ends its workers and exits). Prints "started" once it has started.
// Usage: node benchmarks/node_idle.js '{"url", "namespace", "multi": false | true, "workers": 10}'
//   multi: a MultiWorker with minTaskProcessors = maxTaskProcessors = workers (it adds one
//   worker per check; checkTimeout 100 ms so the pool fills in about a second).
"use strict";
const path = require("path");
const modules = path.join(__dirname, "..", "interop", "node", "node_modules");
const { MultiWorker, Worker } = require(path.join(modules, "node-resque"));

async function main() {
  const config = JSON.parse(process.argv[2]);
  const u = new URL(config.url);
  const connection = {
    host: u.hostname,
    port: parseInt(u.port || "6379", 10),
    database: parseInt(u.pathname.slice(1) || "0", 10),
    namespace: config.namespace,
  };
  const jobs = { noop: { perform: async () => null } };
  let runner;
  if (config.multi) {
    runner = new MultiWorker(
      {
        connection,
        queues: ["bench"],
        minTaskProcessors: config.workers,
        maxTaskProcessors: config.workers,
        checkTimeout: 100,
      },
      jobs,
    );
    runner.on("error", (error) => console.error("worker error", error));
    runner.start();
  } else {
    runner = new Worker({ connection, queues: ["bench"] }, jobs);
    runner.on("error", (error) => console.error("worker error", error));
    await runner.connect();
    await runner.start();
  }
  process.stdout.write("started\n");
  process.on("SIGTERM", async () => {
    await runner.end();
    process.exit(0);
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
