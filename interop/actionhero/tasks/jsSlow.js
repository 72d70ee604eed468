"use strict";

const { Task } = require("actionhero");
const { push, sleep } = require("../lib/record");

// Waits params.ms, then records like jsRecord: a job a worker is busy with for a while.
class JsSlow extends Task {
  constructor() {
    super();
    this.name = "jsSlow";
    this.description = "waits, then records that it ran (JavaScript side)";
    this.queue = "default";
    this.frequency = 0;
    this.inputs = {
      id: { required: true },
      ms: { default: 1000 },
    };
  }

  async run(params) {
    await sleep(Number(params.ms));
    await push("ran", { task: "jsSlow", side: "js", params });
    return params.id;
  }
}

module.exports = { JsSlow };
