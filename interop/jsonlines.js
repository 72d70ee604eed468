// The JSON-lines loop both JavaScript peers (node/peer.js, actionhero/controller.js) run:
// one request per stdin line, {id, op, ...}; one reply per line, in order,
// {id, ok: true, result} or {id, ok: false, name, error}. On stdin's end, `shutdown`.
const readline = require("readline");

async function handle(handlers, line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (error) {
    return { id: null, ok: false, error: `bad request: ${error.message}` };
  }
  try {
    const handler = handlers[request.op];
    if (!handler) throw new Error(`unknown op ${request.op}`);
    const result = await handler(request);
    return { id: request.id, ok: true, result: result === undefined ? null : result };
  } catch (error) {
    return {
      id: request.id,
      ok: false,
      name: error && error.name,
      error: error && error.message !== undefined ? error.message : String(error),
    };
  }
}

function serve(handlers, { write, shutdown }) {
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  let chain = Promise.resolve();
  rl.on("line", (line) => {
    // One request at a time, in order: replies match requests.
    chain = chain.then(async () => {
      const reply = await handle(handlers, line);
      write(JSON.stringify(reply) + "\n");
    });
  });
  rl.on("close", () => {
    chain.then(shutdown);
  });
}

module.exports = { serve };
