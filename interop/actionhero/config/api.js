// Project paths and process settings of the interop Actionhero app (plain JavaScript).
//
// Actionhero looks for a project's config in `src/config` (TypeScript) or `dist/config`
// (compiled JavaScript) under the project root, unless ACTIONHERO_CONFIG names the folders:
// controller.js sets ACTIONHERO_CONFIG to this folder, so the app needs no build step
// (and no `dist/`, which the repository ignores).
"use strict";

const os = require("os");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");

exports.DEFAULT = {
  general: () => ({
    serverName: "pyresque-interop-actionhero",
    // RPC between Actionhero nodes goes over this pub/sub channel: one per namespace, so
    // apps of parallel tests never talk to each other.
    channel: `actionhero:${process.env.RESQUE_NAMESPACE || "resque"}`,
    paths: {
      // Our JavaScript tasks only (replaces Actionhero's own task folder, like a generated
      // project's config does). INTEROP_EXTRA_TASKS adds `extra-tasks/` (tasks only some
      // tests need, e.g. jsSlowPeriodic), keeping the default task list as it is.
      task: [
        path.join(ROOT, "tasks"),
        ...(process.env.INTEROP_EXTRA_TASKS ? [path.join(ROOT, "extra-tasks")] : []),
      ],
      // No actions: this app serves nothing.
      action: [],
      // Pid files go to the temporary folder, never into the repository; no log files.
      pid: [path.join(os.tmpdir(), "pyresque-interop-actionhero-pids")],
      log: [],
      public: [path.join(ROOT, "public")],
      plugin: [path.join(ROOT, "node_modules")],
      test: [path.join(ROOT, "__tests__")],
      src: path.join(ROOT, "src"),
      dist: path.join(ROOT, "dist"),
    },
  }),
};
