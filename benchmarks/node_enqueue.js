// node-resque side of benchmarks/enqueue.py: enqueue N jobs serially, then concurrently
// (<concurrency> in flight), then with <flood> in flight (node-resque at its best: no bulk
// API, so many enqueue promises at once), then enqueueAt serially.
// Usage: node benchmarks/node_enqueue.js <redis-url> <namespace> <jobs> <concurrency> [flood]
"use strict";
const path = require("path");
const { Queue } = require(path.join(__dirname, "..", "interop", "node", "node_modules", "node-resque"));

async function main() {
  const [url, namespace, jobsText, concurrencyText, floodText] = process.argv.slice(2);
  const u = new URL(url);
  const jobs = parseInt(jobsText, 10);
  const concurrency = parseInt(concurrencyText, 10);
  const flood = parseInt(floodText || "5000", 10);
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

  let start = process.hrtime.bigint();
  for (let i = 0; i < jobs; i++) await queue.enqueue("bench", "add", [i, { n: "x" }]);
  results.serial = Number(process.hrtime.bigint() - start) / 1e9;

  start = process.hrtime.bigint();
  for (let done = 0; done < jobs; done += concurrency) {
    const batch = [];
    for (let i = done; i < Math.min(jobs, done + concurrency); i++) {
      batch.push(queue.enqueue("bench", "add", [i, { n: "x" }]));
    }
    await Promise.all(batch);
  }
  results.concurrent = Number(process.hrtime.bigint() - start) / 1e9;

  start = process.hrtime.bigint();
  for (let done = 0; done < jobs; done += flood) {
    const batch = [];
    for (let i = done; i < Math.min(jobs, done + flood); i++) {
      batch.push(queue.enqueue("bench", "add", [i, { n: "x" }]));
    }
    await Promise.all(batch);
  }
  results.flood = Number(process.hrtime.bigint() - start) / 1e9;

  start = process.hrtime.bigint();
  for (let i = 0; i < jobs; i++) await queue.enqueueAt(1900000000000 + i * 1000, "bench", "add", [i]);
  results.delayed = Number(process.hrtime.bigint() - start) / 1e9;

  await queue.end();
  process.stdout.write(JSON.stringify(results) + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
