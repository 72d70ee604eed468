"use strict";

const { Task } = require("actionhero");
const { push } = require("../lib/record");

// Records its params on <namespace>:interop:ran.
class JsRecord extends Task {
  constructor() {
    super();
    this.name = "jsRecord";
    this.description = "records that it ran (JavaScript side)";
    this.queue = "default";
    this.frequency = 0;
    this.inputs = {
      id: { required: true },
      note: { default: "from-default" },
    };
  }

  async run(params) {
    await push("ran", { task: "jsRecord", side: "js", params });
    return params.id;
  }
}

module.exports = { JsRecord };
