// One execution's or one job's live stream from the gateway: fetch-based SSE (so the token
// travels in the Authorization header, never in a URL), parsed by eventsource-parser, resumed
// after a dropped connection or a gateway restart with Last-Event-ID = the id of the last event
// the page holds (a seq for an execution, the job's cursor for a job).
import { createParser } from "eventsource-parser";
import type { Entry } from "./log-model.js";

export type ConnectionState = "connecting" | "live" | "reconnecting" | "ended" | "error";

export type StreamTarget = (
  | { kind: "execution"; executionId: string /** "" = located by the gateway */; node: string }
  | { kind: "job"; jobId: string }
) & {
  tail: number | undefined;
  follow: boolean;
  token: string | undefined;
};

export interface ErrorInfo {
  code: string;
  message: string;
  retryable: boolean;
  status?: number;
}

export interface ConnectionEvents {
  entries(batch: Entry[]): void;
  state(state: ConnectionState, detail: string): void;
  end(exitCode: number | null): void;
  error(error: ErrorInfo): void;
}

const BACKOFF_MS = [250, 500, 1000, 2000, 4000];

export class LogConnection {
  readonly #target: StreamTarget;
  readonly #events: ConnectionEvents;
  readonly #abort = new AbortController();
  #attempt = 0;
  #finished = false;
  /** The id of the last event handed to the page: where a reconnect resumes. */
  #lastId: string | undefined;

  constructor(target: StreamTarget, events: ConnectionEvents) {
    this.#target = target;
    this.#events = events;
  }

  start(): void {
    void this.#run();
  }

  stop(): void {
    this.#finished = true;
    this.#abort.abort();
  }

  #url(): string {
    const target = this.#target;
    const query = new URLSearchParams();
    if (target.kind === "execution" && target.node !== "") query.set("node", target.node);
    if (target.follow) query.set("follow", "true");
    if (target.tail !== undefined) query.set("tail", String(target.tail));
    // Relative: the page works under whatever prefix the gateway is mounted at.
    return target.kind === "job"
      ? `v1/jobs/${encodeURIComponent(target.jobId)}/logs?${query}`
      : `v1/executions/${encodeURIComponent(target.executionId)}/logs?${query}`;
  }

  async #run(): Promise<void> {
    while (!this.#finished) {
      this.#events.state(
        this.#attempt === 0 ? "connecting" : "reconnecting",
        this.#attempt === 0 ? "" : `attempt ${this.#attempt}`,
      );
      const outcome = await this.#once();
      if (outcome === "done" || this.#finished) return;
      // The connection dropped without an end or error event: resume after a pause.
      const delay = BACKOFF_MS[Math.min(this.#attempt, BACKOFF_MS.length - 1)]!;
      this.#attempt++;
      this.#events.state("reconnecting", `in ${delay} ms (attempt ${this.#attempt})`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** One request; "done" once the stream ended or failed for good, "dropped" to reconnect. */
  async #once(): Promise<"done" | "dropped"> {
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (this.#target.token) headers.authorization = `Bearer ${this.#target.token}`;
    if (this.#lastId !== undefined) headers["last-event-id"] = this.#lastId;
    let response: Response;
    try {
      response = await fetch(this.#url(), {
        headers,
        signal: this.#abort.signal,
        cache: "no-store",
      });
    } catch {
      return "dropped"; // gateway down or restarting
    }
    if (!response.ok) {
      const body = (await response.json().catch(() => undefined)) as Partial<ErrorInfo> | undefined;
      // A gateway still starting (or shutting down) answers 503 without our JSON: retry it.
      if (response.status >= 500 && body?.code === undefined) return "dropped";
      this.#finished = true;
      this.#events.error({
        code: body?.code ?? `HTTP_${response.status}`,
        message: body?.message ?? response.statusText,
        retryable: body?.retryable ?? false,
        status: response.status,
      });
      return "done";
    }
    this.#events.state("live", "");
    this.#attempt = 0;
    // An object, not a let: the parser callbacks set it (TypeScript does not track closures).
    const outcome: { result: "done" | "dropped" } = { result: "dropped" };
    let batch: Entry[] = [];
    /** The id of the newest event in `batch`, taken as the resume point once it is flushed. */
    let batchId: string | undefined;
    const flush = () => {
      if (batch.length > 0) this.#events.entries(batch);
      if (batchId !== undefined) this.#lastId = batchId;
      batch = [];
      batchId = undefined;
    };
    const parser = createParser({
      onEvent: (message) => {
        if (message.event === undefined || message.event === "message") {
          batch.push(JSON.parse(message.data) as Entry);
          if (message.id !== undefined) batchId = message.id;
        } else if (message.event === "removed") {
          batch.push(removedRow(JSON.parse(message.data) as Removed));
          if (message.id !== undefined) batchId = message.id;
        } else if (message.event === "end") {
          outcome.result = "done";
          flush();
          this.#events.end((JSON.parse(message.data) as { exitCode: number | null }).exitCode);
        } else if (message.event === "error") {
          const info = JSON.parse(message.data) as ErrorInfo;
          flush();
          // The gateway itself going away is resumable: reconnect with Last-Event-ID.
          if (info.code === "GOING_AWAY") return;
          outcome.result = "done";
          this.#events.error(info);
        }
      },
    });
    try {
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
        flush();
        if (outcome.result === "done") break;
      }
    } catch {
      // The connection broke mid-stream: whatever was parsed is kept, the rest is resumed.
      flush();
    }
    if (outcome.result === "done") this.#finished = true;
    return outcome.result;
  }
}

interface Removed {
  executionId?: string;
  computeNodeId?: string;
  fromSeq: number;
  toSeq: number;
  reason: string;
}

/** Lines retention removed, as a row of their own where they would have been: never a silent gap. */
function removedRow(r: Removed): Entry {
  const count = r.toSeq - r.fromSeq + 1;
  const what =
    count === 1 ? `line ${r.fromSeq} was` : `lines ${r.fromSeq}..${r.toSeq} (${count}) were`;
  return {
    seq: r.toSeq,
    stream: "stderr",
    time: 0,
    line: `[tailwire: ${what} removed by the compute node's log ${r.reason}]`,
    removed: true,
    ...(r.executionId === undefined
      ? {}
      : { executionId: r.executionId, computeNodeId: r.computeNodeId! }),
  };
}
