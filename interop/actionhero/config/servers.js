// No servers: the app only runs tasks, and opens no ports.
"use strict";

exports.DEFAULT = {
  web: () => ({ enabled: false }),
  websocket: () => ({ enabled: false }),
};
