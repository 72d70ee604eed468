// node-resque side of benchmarks/enqueue.py: enqueue N jobs serially, then concurrently.
// Usage: node benchmarks/node_enqueue.js <redis-url> <namespace> <jobs> <concurrency> [options]
// options (JSON, for benchmarks/anchors.py): {"job": "noop", "modes": ["serial"]} enqueues
// that job class with the argument [i] instead of "add" [i, {n: "x"}], and runs only the
// named modes (serial, concurrent, delayed; default all three).
"use strict";
const path = require("path");
const { Queue } = require(path.join(__dirname, "..", "interop", "node", "node_modules", "node-resque"));

async function main() {
  const [url, namespace, jobsText, concurrencyText, optionsText] = process.argv.slice(2);
  const options = JSON.parse(optionsText || "{}");
  const modes = new Set(options.modes || ["serial", "concurrent", "delayed"]);
  const job = options.job || "add";
  const args = options.job ? (i) => [i] : (i) => [i, { n: "x" }];
  const u = new URL(url);
  const jobs = parseInt(jobsText, 10);
  const concurrency = parseInt(concurrencyText, 10);
  const queue = new Queue({
    connection: {
      host: u.hostname,
      port: parseInt(u.port || "6379", 10),
      database: parseInt(u.pathname.slice(1) || "0", 10),
      namespace,
    },
  });
  await queue.connect();
  const results = {};

  let start;
  if (modes.has("serial")) {
    start = process.hrtime.bigint();
    for (let i = 0; i < jobs; i++) await queue.enqueue("bench", job, args(i));
    results.serial = Number(process.hrtime.bigint() - start) / 1e9;
  }

  if (modes.has("concurrent")) {
    start = process.hrtime.bigint();
    for (let done = 0; done < jobs; done += concurrency) {
      const batch = [];
      for (let i = done; i < Math.min(jobs, done + concurrency); i++) {
        batch.push(queue.enqueue("bench", job, args(i)));
      }
      await Promise.all(batch);
    }
    results.concurrent = Number(process.hrtime.bigint() - start) / 1e9;
  }

  if (modes.has("delayed")) {
    start = process.hrtime.bigint();
    for (let i = 0; i < jobs; i++) await queue.enqueueAt(1900000000000 + i * 1000, "bench", job, [i]);
    results.delayed = Number(process.hrtime.bigint() - start) / 1e9;
  }

  await queue.end();
  process.stdout.write(JSON.stringify(results) + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
