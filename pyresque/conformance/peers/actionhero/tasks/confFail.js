// The task pyresque conformance lets fail, for a failed entry: throws an Error naming its id.
"use strict";

const path = require("path");

const DIR = path.resolve(process.env.PYRESQUE_NODE_DIR || ".");
const actionhero = require(require.resolve("actionhero", { paths: [DIR] }));

class ConfFail extends actionhero.Task {
  constructor() {
    super();
    this.name = "confFail";
    this.description = "throws (pyresque conformance)";
    this.queue = "conformance";
    this.frequency = 0;
  }

  async run(params) {
    throw new Error(`failure ${params.id}`);
  }
}

module.exports = { ConfFail };
