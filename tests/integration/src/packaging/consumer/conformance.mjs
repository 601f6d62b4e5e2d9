// The conformance kit as an implementer installs it, in plain JavaScript, from an empty project
// that has only the packed @tailwire/conformance (+ @tailwire/protocol) tarballs and
// @nats-io/transport-node installed with npm (install.slow.test.ts copies it there). Loads the
// seeds into a plain store, then runs requester mode briefly: nothing reads from the node it
// plays, so every rule fails "never requested" and the exit code is 1.
import { connect } from "@nats-io/transport-node";
import {
  formatReport,
  loadSeeds,
  RULES,
  readSeeds,
  runRequesterConformance,
} from "@tailwire/conformance";

/** @param {string} name */
function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** A store with the three methods loadSeeds needs. @type {Map<string, { lines: string[], exitCode: number | null }>} */
const logs = new Map();
await loadSeeds({
  create: async (id) => {
    logs.set(id, { lines: [], exitCode: null });
  },
  append: async (id, _stream, line) => {
    logs.get(id)?.lines.push(line);
  },
  complete: async (id, exitCode) => {
    const log = logs.get(id);
    if (log) log.exitCode = exitCode;
  },
});
for (const seed of readSeeds()) {
  console.log(
    `${seed.executionId}: ${logs.get(seed.executionId)?.lines.length} lines, exit ${logs.get(seed.executionId)?.exitCode}`,
  );
}
console.log(`${RULES.length} rules`);

const nc = await connect({ servers: env("NATS_URL"), name: "packed-conformance" });
try {
  const report = await runRequesterConformance({
    connection: nc,
    nodeId: "packed-kit-node",
    executions: ["conformance-basic"],
    timeoutMs: 300,
  });
  console.log(formatReport(report).split("\n").at(-1));
  process.exitCode = report.ok ? 0 : 1;
} finally {
  await nc.close();
}
