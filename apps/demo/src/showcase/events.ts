import type { NodeProcess } from "@tailwire/testkit";

/** What the showcase's requester node reports (see requester-node.ts). */
export type RequesterEvent =
  | {
      type: "accepted";
      tag: string;
      at: number;
      streamId: string;
      afterSeq: number;
      lastSeq: number;
    }
  | {
      type: "entry";
      tag: string;
      at: number;
      seq: number;
      stream: "stdout" | "stderr";
      time: number;
      line: string;
    }
  | { type: "end"; tag: string; at: number; streamId: string; exitCode: number | null }
  | { type: "error"; tag: string; at: number; streamId: string; code: string; message: string }
  | { type: "cancelled"; tag: string; at: number; streamId: string | null }
  | { type: "stats"; tag: string; at: number; stats: Record<string, unknown> };

/** Reads the requester node's numbered events in order, each as soon as it is printed. */
export class RequesterEvents {
  readonly #proc: NodeProcess;
  #next = 1;

  constructor(proc: NodeProcess) {
    this.#proc = proc;
  }

  async next(timeoutMs = 10_000): Promise<RequesterEvent> {
    const line = await this.#proc.waitForLine(new RegExp(`^ev ${this.#next} `), timeoutMs);
    this.#next++;
    return JSON.parse(line.slice(line.indexOf("{"))) as RequesterEvent;
  }
}

/** One line of a compute node's JSON log (pino, on its stderr). */
export interface ComputeLogLine {
  time: number;
  msg: string;
  streamId?: string;
  cause?: string;
  requesterNodeId?: string;
  [key: string]: unknown;
}

/** Waits for the compute node's "log stream ended" line of one stream. */
export async function streamEndedLog(
  proc: NodeProcess,
  streamId: string,
  timeoutMs = 10_000,
): Promise<ComputeLogLine> {
  const line = await proc.waitForLine(
    new RegExp(`^\\{(?=.*"msg":"log stream ended")(?=.*"streamId":"${streamId}")`),
    timeoutMs,
  );
  return JSON.parse(line) as ComputeLogLine;
}

let statsTag = 0;

/** Asks a `tailwire compute` process for its LogStreamServer stats (stdin "stats <tag>"). */
export async function computeStats(proc: NodeProcess, timeoutMs = 5_000): Promise<ComputeStats> {
  const tag = `q${++statsTag}`;
  proc.stdin.write(`stats ${tag}\n`);
  const line = await proc.waitForLine(new RegExp(`^stats ${tag} `), timeoutMs);
  return JSON.parse(line.slice(line.indexOf("{"))) as ComputeStats;
}

export interface ComputeStats {
  openStreams: number;
  framesSent: number;
  bytesSent: number;
  heartbeatsSent: number;
  heartbeatsFailed: number;
  streamsEnded: Record<string, number>;
  requesters: { requesterNodeId: string; openStreams: number; consecutiveFailures: number }[];
}
