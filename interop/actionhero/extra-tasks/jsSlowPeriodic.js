"use strict";

const actionhero = require("actionhero");
const { key, push, sleep } = require("../lib/record");

// A periodic task whose run lasts until the test says so: it records its start on
// <namespace>:interop:slowPeriodic, waits for the key <namespace>:interop:release to exist,
// then works SLOW_PERIODIC_MS more (default 1100) and records its end. A test can thus act
// (boot another scheduler node) while a run is in progress.
// Loaded only where INTEROP_EXTRA_TASKS is set (config/api.js), so the default app's task
// list stays jsFail, jsRecord, jsSlow, sharedPeriodic.
class JsSlowPeriodic extends actionhero.Task {
  constructor() {
    super();
    this.name = "jsSlowPeriodic";
    this.description = "periodic, runs until released (JavaScript side)";
    this.queue = "slowPeriodic";
    this.frequency = parseInt(process.env.SLOW_PERIODIC_FREQUENCY || "60000", 10);
  }

  async run() {
    const redis = actionhero.api.redis.clients.tasks;
    await push("slowPeriodic", { event: "start", side: "js", pid: process.pid });
    const deadline = Date.now() + 10000;
    while (!(await redis.exists(key("release")))) {
      if (Date.now() > deadline) throw new Error("jsSlowPeriodic was never released");
      await sleep(20);
    }
    await sleep(parseInt(process.env.SLOW_PERIODIC_MS || "1100", 10));
    await push("slowPeriodic", { event: "end", side: "js", pid: process.pid });
  }
}

module.exports = { JsSlowPeriodic };
