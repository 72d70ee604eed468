// No routes (no web server); Actionhero's routes initializer needs `config.routes`.
"use strict";

exports.DEFAULT = {
  routes: () => ({ get: [] }),
};
