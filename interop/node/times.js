// Prints, as JSON, the time strings node-resque 9.7.1 writes, for the zone in process.env.TZ.
// Input (stdin, JSON): {"instants": [ms...], "rounds": [x...], "buckets": [ms...]}.
// Driven by interop/record/record_time_vectors.py; one process per zone, as a peer would run.
"use strict";

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const intl = new Intl.DateTimeFormat("en-US", { timeZoneName: "long" });

// node-resque/dist/plugins/Retry.js saveLastError(): local YYYY/MM/DD HH:MM:SS, year unpadded.
function retryFailedAt(now) {
  return "" + now.getFullYear() + "/" + ("0" + (now.getMonth() + 1)).slice(-2) + "/" +
    ("0" + now.getDate()).slice(-2) + " " + ("0" + now.getHours()).slice(-2) + ":" +
    ("0" + now.getMinutes()).slice(-2) + ":" + ("0" + now.getSeconds()).slice(-2);
}

const out = {
  zone: process.env.TZ,
  resolved_zone: Intl.DateTimeFormat().resolvedOptions().timeZone || null,
  instants: input.instants.map((ms) => {
    const d = new Date(ms);
    const text = d.toString();
    const retry = retryFailedAt(d);
    const name = intl.formatToParts(d).find((p) => p.type === "timeZoneName").value;
    return {
      ms,
      to_string: text,
      intl_name: name,
      date_parse: Date.parse(text),
      retry_failed_at: retry,
      retry_date_parse: Date.parse(retry),
    };
  }),
  rounds: input.rounds.map((x) => [x, Math.round(x)]),
  buckets: input.buckets.map((ms) => [ms, Math.round(ms / 1000)]),
};
process.stdout.write(JSON.stringify(out));
