// The `tailwire-conformance` command: parses arguments, connects to NATS, runs one mode, prints
// one line per rule (or JSON) and exits 0 only if every rule passed.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import {
  COMPUTE_SCENARIOS,
  type ComputeScenario,
  runComputeConformance,
} from "./compute/run-compute.js";
import { CONFORMANCE_LIMITS, type ConformanceLimits } from "./profile.js";
import { type ConformanceReport, formatReport } from "./report.js";
import { runRequesterConformance } from "./requester/run-requester.js";
import { readSeeds, SEED_NAMES, type SeedName, seedUrl } from "./seeds.js";

export const USAGE = `usage:
  tailwire-conformance compute   --node-id ID [--nats URL] [--only SCENARIO,...] [--execution SEED=ID ...]
                                 [--windows 1024,4096,32768] [--limit NAME=VALUE ...] [--json FILE|-] [--verbose]
  tailwire-conformance requester --node-id ID [--nats URL] [--executions ID,...] [--timeout-ms 120000]
                                 [--reconcile-grace-ms 1000] [--json FILE|-] [--verbose]
  tailwire-conformance seeds     (lists the seed files a compute node under test must hold)

compute:   plays a requester against the compute node ID (which must hold the seeds and run with
           the kit's limits: ${Object.entries(CONFORMANCE_LIMITS)
             .map(([k, v]) => `${k}=${v}`)
             .join(", ")}).
           Scenarios: ${COMPUTE_SCENARIOS.join(", ")}.
requester: plays the compute node ID; point the requester under test at it and read every kit
           execution (see the README). Ends when all were served, or at the timeout.
Exit code 0 only if every rule passed; 2 for a usage error.`;

/** Runs the command; returns the exit code (the bin exits with it). */
export async function main(
  argv: string[],
  out: (line: string) => void = console.log,
): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    out(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }
  const { mode, values } = parsed;
  if (mode === "seeds") {
    for (const [i, seed] of readSeeds().entries()) {
      out(
        `${SEED_NAMES[i]}: ${seed.executionId} (${seed.entries.length} lines, exit code ${seed.exitCode}) ${seedUrl(SEED_NAMES[i]!).pathname}`,
      );
    }
    return 0;
  }
  const nodeId = values["node-id"];
  if (!nodeId) {
    out(`--node-id is required\n${USAGE}`);
    return 2;
  }
  const progress = values.verbose ? (message: string) => out(`# ${message}`) : undefined;
  const connection = await connect({
    servers: values.nats ?? "nats://127.0.0.1:4222",
    name: `tailwire-conformance-${mode}`,
  });
  let report: ConformanceReport;
  try {
    if (mode === "compute") {
      report = await runComputeConformance({
        connection,
        nodeId,
        limits: limitsOf(values.limit ?? []),
        executionIds: executionIdsOf(values.execution ?? []),
        ...(values.only ? { only: listOf(values.only) as ComputeScenario[] } : {}),
        ...(values.windows ? { windows: listOf(values.windows).map(Number) } : {}),
        ...(progress ? { progress } : {}),
      });
    } else {
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once("SIGINT", stop);
      try {
        report = await runRequesterConformance({
          connection,
          nodeId,
          signal: controller.signal,
          ...(values.executions ? { executions: listOf(values.executions) } : {}),
          ...(values["timeout-ms"] ? { timeoutMs: Number(values["timeout-ms"]) } : {}),
          ...(values["reconcile-grace-ms"]
            ? { reconcileGraceMs: Number(values["reconcile-grace-ms"]) }
            : {}),
          progress: progress ?? ((message) => message.startsWith("serving") && out(`# ${message}`)),
        });
      } finally {
        process.off("SIGINT", stop);
      }
    }
  } finally {
    await connection.close();
  }
  const json = values.json;
  if (json === "-") out(JSON.stringify(report, null, 2));
  else {
    out(formatReport(report));
    if (json) writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  }
  return report.ok ? 0 : 1;
}

function parse(argv: string[]) {
  const [mode, ...rest] = argv;
  if (mode !== "compute" && mode !== "requester" && mode !== "seeds")
    throw new Error(`unknown mode ${mode ?? "(none)"}`);
  const { values } = parseArgs({
    args: rest,
    strict: true,
    options: {
      "node-id": { type: "string" },
      nats: { type: "string" },
      only: { type: "string" },
      execution: { type: "string", multiple: true },
      executions: { type: "string" },
      windows: { type: "string" },
      limit: { type: "string", multiple: true },
      "timeout-ms": { type: "string" },
      "reconcile-grace-ms": { type: "string" },
      json: { type: "string" },
      verbose: { type: "boolean" },
    },
  });
  if (values.only) {
    for (const name of listOf(values.only)) {
      if (!(COMPUTE_SCENARIOS as readonly string[]).includes(name))
        throw new Error(`unknown scenario ${name}`);
    }
  }
  return { mode, values };
}

const listOf = (text: string): string[] =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

function pairs(items: string[], what: string): [string, string][] {
  return items.map((item) => {
    const at = item.indexOf("=");
    if (at <= 0) throw new Error(`${what} takes NAME=VALUE, got ${item}`);
    return [item.slice(0, at), item.slice(at + 1)];
  });
}

function limitsOf(items: string[]): ConformanceLimits {
  const limits = { ...CONFORMANCE_LIMITS };
  for (const [name, value] of pairs(items, "--limit")) {
    if (!(name in limits)) throw new Error(`unknown limit ${name}`);
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 1)
      throw new Error(`--limit ${name} must be a positive integer`);
    limits[name as keyof ConformanceLimits] = n;
  }
  return limits;
}

function executionIdsOf(items: string[]): Partial<Record<SeedName, string>> {
  const ids: Partial<Record<SeedName, string>> = {};
  for (const [name, id] of pairs(items, "--execution")) {
    if (!(SEED_NAMES as readonly string[]).includes(name)) throw new Error(`unknown seed ${name}`);
    ids[name as SeedName] = id;
  }
  return ids;
}
