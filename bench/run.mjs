// Runs the benchmarks against the built packages (`pnpm build` first), prints a table and writes
// bench/results/latest.json. Usage: node bench/run.mjs [--quick] [name ...]
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { findNatsServerBinary } from "@tailwire/testkit";

const BENCHES = {
  stream: () => import("./stream.mjs"),
  failover: () => import("./failover.mjs"),
  "fan-in": () => import("./fan-in.mjs"),
  "heartbeat-scale": () => import("./heartbeat-scale.mjs"),
  startup: () => import("./startup.mjs"),
  "slow-consumer": () => import("./slow-consumer.mjs"),
  retention: () => import("./retention.mjs"),
  gateway: () => import("./gateway.mjs"),
  locate: () => import("./locate.mjs"),
  codecs: () => import("./codecs.mjs"),
  wan: () => import("./wan.mjs"),
};

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const names = args.filter((a) => !a.startsWith("--"));
const selected = names.length > 0 ? names : Object.keys(BENCHES);
for (const name of selected) {
  if (!(name in BENCHES)) {
    console.error(`unknown benchmark ${name}; known: ${Object.keys(BENCHES).join(", ")}`);
    process.exit(2);
  }
}

const natsServerVersion = execFileSync(findNatsServerBinary(), ["--version"], {
  encoding: "utf8",
}).trim();
const machine = {
  cores: cpus().length,
  cpu: cpus()[0]?.model ?? "unknown",
  node: process.version,
  natsServer: natsServerVersion,
  date: new Date().toISOString(),
  mode: quick ? "quick" : "full",
};
console.log(
  `machine: ${machine.cores} cores, ${machine.cpu}, node ${machine.node}, ${machine.natsServer}, ${machine.mode} mode\n`,
);

const results = {};
for (const name of selected) {
  const bench = await BENCHES[name]();
  console.log(`== ${name}: ${bench.description}`);
  const result = await bench.run({ quick });
  results[name] = result;
  console.table(result.table);
}

mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
const out = new URL("./results/latest.json", import.meta.url);
writeFileSync(out, `${JSON.stringify({ machine, results }, null, 2)}\n`);
console.log(`\nwrote ${out.pathname}`);
process.exit(0);
