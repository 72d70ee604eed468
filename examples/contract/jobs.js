// The Node service's job definitions (node-resque's {name: {perform}} map), as the service
// itself loads them: the contract test runs them in a real node-resque worker.
"use strict";

module.exports = {
  // A Python service enqueues "sendWelcome" for the Node service to run.
  sendWelcome: {
    perform: async (userId, options) => `welcome mail to user ${userId} in ${options.locale}`,
  },
};
