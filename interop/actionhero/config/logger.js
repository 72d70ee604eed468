// Quiet logging, to stderr only (stdout carries controller.js's JSON replies).
// The level comes from ACTIONHERO_LOG_LEVEL (syslog levels; default "warning").
"use strict";

const { fromActionhero } = require("../lib/deps");

const winston = fromActionhero("winston");

function stderrLogger(level) {
  return () =>
    winston.createLogger({
      level,
      levels: winston.config.syslog.levels,
      format: winston.format.combine(
        winston.format.timestamp(),
        winston.format.printf(({ timestamp, level: lvl, message, ...data }) => {
          const extra = Object.keys(data).length ? ` ${safeJson(data)}` : "";
          return `${timestamp} [actionhero ${process.pid}] ${lvl}: ${message}${extra}`;
        }),
      ),
      transports: [
        new winston.transports.Console({
          stderrLevels: Object.keys(winston.config.syslog.levels),
        }),
      ],
    });
}

function safeJson(value) {
  try {
    return JSON.stringify(value, (key, v) => (v instanceof Error ? v.stack || String(v) : v));
  } catch (error) {
    return String(value);
  }
}

exports.DEFAULT = {
  logger: () => ({
    loggers: [stderrLogger(process.env.ACTIONHERO_LOG_LEVEL || "warning")],
  }),
};
