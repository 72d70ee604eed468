// Long-lived JSON.stringify peer for pyresque's interop tests and vector recording.
//
// First output line: {"node": ..., "v8": ...}. Then, for each input line (JSON text),
// one output line: JSON.stringify(JSON.parse(line)) written as a JSON string literal,
// or {"error": "..."} if that throws. A single-key object {"$nonfinite": "NaN" |
// "Infinity" | "-Infinity"} in the input stands for that number, which JSON cannot
// carry, so that JSON.stringify's handling of it can be recorded too.
"use strict";

const readline = require("node:readline");

function revive(_key, value) {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$nonfinite" && typeof value.$nonfinite === "string") {
      return Number(value.$nonfinite);
    }
  }
  return value;
}

process.stdout.write(JSON.stringify({ node: process.version, v8: process.versions.v8 }) + "\n");

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  let reply;
  try {
    reply = JSON.stringify(JSON.stringify(JSON.parse(line, revive)));
  } catch (err) {
    reply = JSON.stringify({ error: `${err.name}: ${err.message}` });
  }
  process.stdout.write(reply + "\n");
});
