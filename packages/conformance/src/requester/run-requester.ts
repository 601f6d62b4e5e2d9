// Requester mode's entry point: the runner plays a compute node serving the kit's executions, and
// checks what the requester under test does: its requests, credit grants, heartbeat answers,
// cancels, and how it reacts to a gap, a duplicate and a stream a heartbeat no longer lists. The
// run ends when every execution's scenario finished, or at the timeout.
import { createHash } from "node:crypto";
import type { NatsConnection } from "@nats-io/nats-core";
import { REQUESTER_EXECUTIONS as X } from "../profile.js";
import { type ConformanceReport, Recorder } from "../report.js";
import { readSeeds } from "../seeds.js";
import { PlayedComputeNode } from "./played-compute-node.js";
import { RequesterScenarios } from "./scenarios.js";

export interface RequesterConformanceOptions {
  connection: NatsConnection;
  /** The compute node id the runner plays: point the requester under test at it. */
  nodeId: string;
  /** Executions the requester under test will read (default: every one of REQUESTER_EXECUTIONS). */
  executions?: string[];
  /** The run ends when every execution was served to its end, or after this (default 120 s). */
  timeoutMs?: number;
  /** How long after acceptance a stream the heartbeat omits is held against it (default 1000). */
  reconcileGraceMs?: number;
  signal?: AbortSignal;
  progress?: (message: string) => void;
}

export async function runRequesterConformance(
  options: RequesterConformanceOptions,
): Promise<ConformanceReport> {
  const recorder = new Recorder("requester");
  const progress = (message: string): void => options.progress?.(message);
  const node: PlayedComputeNode = new PlayedComputeNode({
    connection: options.connection,
    nodeId: options.nodeId,
    recorder,
    progress,
    serve: (served, attempt) => scenarios.serve(served, attempt),
  });
  const scenarios = new RequesterScenarios(
    node,
    recorder,
    options.reconcileGraceMs ?? 1000,
    progress,
  );
  try {
    await node.start();
    for (const seed of readSeeds()) {
      const digest = seed.entries.map((e) =>
        createHash("sha256").update(e.line).digest("hex").slice(0, 16),
      );
      const longest = seed.entries.reduce(
        (i, e, k, all) => (e.line.length > all[i]!.line.length ? k : i),
        0,
      );
      progress(
        `serving ${seed.executionId}: ${seed.entries.length} lines; line ${longest + 1} sha256 ${digest[longest]}`,
      );
    }
    const expected = options.executions ?? Object.values(X);
    const signal = options.signal;
    const aborted = () => signal?.aborted === true;
    signal?.addEventListener("abort", () => node.changes.notify(), { once: true });
    await node.changes.until(
      () => aborted() || expected.every((id) => scenarios.isDone(id)),
      options.timeoutMs ?? 120_000,
    );
    await node.settled();
    for (const id of expected) {
      if (scenarios.isDone(id)) continue;
      const why =
        node.requestsOf(id).length > 0
          ? `execution ${id} was requested but its scenario did not finish`
          : `execution ${id} was never requested`;
      recorder.fail(ruleOf(id), why);
    }
  } finally {
    node.close();
  }
  // With a chosen subset of executions, the rules of the others were not run (N/A).
  return recorder.report(options.nodeId, options.executions ? "N/A" : "FAIL");
}

/** The rule an execution's scenario checks, failed when the scenario never finished. */
function ruleOf(executionId: string): string {
  switch (executionId) {
    case X.gap:
      return "R-GAP";
    case X.duplicate:
      return "R-DUPLICATE";
    case X.heartbeat:
      return "R-HEARTBEAT-ANSWER";
    case X.reconcile:
      return "R-RECONCILE";
    case X.cancel:
      return "R-CANCEL";
    case X.resumeStorm:
      return "R-RESUME-BOUNDED";
    default:
      return "R-STREAM-COMPLETES";
  }
}
