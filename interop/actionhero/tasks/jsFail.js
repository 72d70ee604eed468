"use strict";

const { Task } = require("actionhero");

// Always fails: a failed-list entry written by a real Actionhero worker.
class JsFail extends Task {
  constructor() {
    super();
    this.name = "jsFail";
    this.description = "throws (JavaScript side)";
    this.queue = "default";
    this.frequency = 0;
    this.inputs = {};
  }

  async run(params) {
    throw new Error("js failure " + params.id);
  }
}

module.exports = { JsFail };
