// No routes (no web server), but Actionhero's routes initializer needs `config.routes` to
// exist: a project must have a routes.js (Actionhero's own routes are skipped when it runs
// from node_modules).
"use strict";

exports.DEFAULT = {
  routes: () => ({ get: [] }),
};
