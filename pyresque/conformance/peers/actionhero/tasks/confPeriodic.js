// The periodic task pyresque conformance compares (frequency an hour, so its re-enqueued
// copy stays delayed): records the time (ms) each run started on
// <namespace>:conformance:periodic.
"use strict";

const path = require("path");

const DIR = path.resolve(process.env.PYRESQUE_NODE_DIR || ".");
const actionhero = require(require.resolve("actionhero", { paths: [DIR] }));

class ConfPeriodic extends actionhero.Task {
  constructor() {
    super();
    this.name = "confPeriodic";
    this.description = "periodic, records when it ran (pyresque conformance)";
    this.queue = "conformancePeriodic";
    this.frequency = 3600000;
  }

  async run() {
    const ns = actionhero.config.tasks.connectionOptions.tasks.namespace;
    await actionhero.api.redis.clients.tasks.rpush(`${ns}:conformance:periodic`, String(Date.now()));
  }
}

module.exports = { ConfPeriodic };
