// The task pyresque conformance enqueues on both sides: records the params it ran with on
// <namespace>:conformance:ran (JSON), as Actionhero handed them to run().
"use strict";

const path = require("path");

const DIR = path.resolve(process.env.PYRESQUE_NODE_DIR || ".");
const actionhero = require(require.resolve("actionhero", { paths: [DIR] }));

class ConfRecord extends actionhero.Task {
  constructor() {
    super();
    this.name = "confRecord";
    this.description = "records the params it ran with (pyresque conformance)";
    this.queue = "conformance";
    this.frequency = 0;
    this.inputs = {
      id: { required: true },
      note: { default: "from-default" },
    };
  }

  async run(params) {
    const ns = actionhero.config.tasks.connectionOptions.tasks.namespace;
    await actionhero.api.redis.clients.tasks.rpush(`${ns}:conformance:ran`, JSON.stringify(params));
    return params.id;
  }
}

module.exports = { ConfRecord };
