"use strict";

const { Task } = require("actionhero");
const { push, sleep } = require("../lib/record");

// A periodic task (the Python side defines its twin). Every run records its start and end
// (ms) on <namespace>:interop:periodic, ~100 ms apart, so overlapping runs would show.
// The frequency comes from SHARED_PERIODIC_FREQUENCY (ms, default 1000), read at boot.
class SharedPeriodic extends Task {
  constructor() {
    super();
    this.name = "sharedPeriodic";
    this.description = "periodic, records start and end (JavaScript side)";
    this.queue = "periodic";
    this.frequency = parseInt(process.env.SHARED_PERIODIC_FREQUENCY || "1000", 10);
  }

  async run() {
    const start = Date.now();
    await sleep(100);
    const end = Date.now();
    await push("periodic", { side: "js", start, end });
  }
}

module.exports = { SharedPeriodic };
