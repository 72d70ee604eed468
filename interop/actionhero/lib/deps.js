// Modules Actionhero itself depends on, resolved from Actionhero's own folder (so this app
// uses exactly Actionhero's copies, wherever npm placed them).
"use strict";

const path = require("path");

const ACTIONHERO_DIR = path.dirname(require.resolve("actionhero/package.json"));

function fromActionhero(name) {
  return require(require.resolve(name, { paths: [ACTIONHERO_DIR] }));
}

module.exports = { fromActionhero };
