// Compute mode's entry point: the options, the scenario catalogue and the runner that plays them
// one after another against a live compute node, each with requester ids of its own.
import type { ConformanceReport } from "../report.js";
import { ComputeRun, type ComputeRunOptions } from "./compute-run.js";
import { rateLimits, rejections, silentDrops, streamLimits } from "./limit-scenarios.js";
import { readOptions, reads } from "./read-scenarios.js";
import { cancels, heartbeats, requesterLost } from "./stop-scenarios.js";

export interface ComputeConformanceOptions extends ComputeRunOptions {
  /** Run only these scenarios (COMPUTE_SCENARIOS); rules of the others are reported N/A. */
  only?: readonly ComputeScenario[];
  /** Progress messages (a scenario started); default silent. */
  progress?: (message: string) => void;
}

export const COMPUTE_SCENARIOS = [
  "reads",
  "read-options",
  "cancel",
  "heartbeats",
  "requester-lost",
  "rejections",
  "silent-drops",
  "stream-limits",
  "rate-limits",
] as const;
export type ComputeScenario = (typeof COMPUTE_SCENARIOS)[number];

const SCENARIOS: Record<ComputeScenario, (run: ComputeRun) => Promise<void>> = {
  reads,
  "read-options": readOptions,
  cancel: cancels,
  heartbeats,
  "requester-lost": requesterLost,
  rejections,
  "silent-drops": silentDrops,
  "stream-limits": streamLimits,
  "rate-limits": rateLimits,
};

export async function runComputeConformance(
  options: ComputeConformanceOptions,
): Promise<ConformanceReport> {
  const run = new ComputeRun(options);
  const only = options.only ?? COMPUTE_SCENARIOS;
  const progress = options.progress ?? (() => {});
  try {
    for (const name of COMPUTE_SCENARIOS) {
      if (!only.includes(name)) continue;
      progress(`scenario: ${name}`);
      try {
        await SCENARIOS[name](run);
      } catch (error) {
        // A scenario that breaks off leaves its rules unchecked, which fails them.
        progress(
          `scenario ${name} failed: ${error instanceof Error ? error.stack : String(error)}`,
        );
      }
    }
  } finally {
    await run.close();
  }
  return run.recorder.report(options.nodeId, options.only === undefined ? "FAIL" : "N/A");
}
