// One execution's live stream from the gateway: fetch-based SSE (so the token travels in the
// Authorization header, never in a URL), parsed by eventsource-parser, resumed after a dropped
// connection or a gateway restart with Last-Event-ID = the last seq the page holds.
import { createParser } from "eventsource-parser";
import type { Entry } from "./log-model.js";

export type ConnectionState = "connecting" | "live" | "reconnecting" | "ended" | "error";

export interface StreamTarget {
  executionId: string;
  node: string;
  tail: number | undefined;
  follow: boolean;
  token: string | undefined;
}

export interface ErrorInfo {
  code: string;
  message: string;
  retryable: boolean;
  status?: number;
}

export interface ConnectionEvents {
  entries(batch: Entry[]): void;
  /** The last seq the page holds: where a reconnect resumes. */
  lastSeq(): number | undefined;
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
    const query = new URLSearchParams({ node: this.#target.node });
    if (this.#target.follow) query.set("follow", "true");
    if (this.#target.tail !== undefined) query.set("tail", String(this.#target.tail));
    // Relative: the page works under whatever prefix the gateway is mounted at.
    return `v1/executions/${encodeURIComponent(this.#target.executionId)}/logs?${query}`;
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
    const lastSeq = this.#events.lastSeq();
    if (lastSeq !== undefined) headers["last-event-id"] = String(lastSeq);
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
    const parser = createParser({
      onEvent: (message) => {
        if (message.event === undefined || message.event === "message") {
          batch.push(JSON.parse(message.data) as Entry);
        } else if (message.event === "end") {
          outcome.result = "done";
          this.#flush(batch);
          batch = [];
          this.#events.end((JSON.parse(message.data) as { exitCode: number | null }).exitCode);
        } else if (message.event === "error") {
          const info = JSON.parse(message.data) as ErrorInfo;
          this.#flush(batch);
          batch = [];
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
        this.#flush(batch);
        batch = [];
        if (outcome.result === "done") break;
      }
    } catch {
      // The connection broke mid-stream: whatever was parsed is kept, the rest is resumed.
      this.#flush(batch);
    }
    if (outcome.result === "done") this.#finished = true;
    return outcome.result;
  }

  #flush(batch: Entry[]): void {
    if (batch.length > 0) this.#events.entries(batch);
  }
}
