// The compute node the requester mode plays, over plain NATS and the protocol codec: it takes
// requests and control messages (checking the requester's side of each: R-REQUEST, R-CONTROL),
// accepts, sends data under credit, ends, and sends heartbeats. What each execution gets is up to
// the scenarios (`serve`); this file only speaks the protocol.
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import {
  decodeControl,
  decodeHeartbeatResponse,
  decodeRequest,
  encode,
  encodeDataFrame,
  type LogEntry,
  MessageType,
  subjects,
  tryDecode,
} from "@tailwire/protocol";
import type { Recorder } from "../report.js";
import { Changes } from "../waiter.js";
import { packFrames } from "./frame-packer.js";
import { Link, Served } from "./served-stream.js";

/** How long the runner waits for a grant before it calls a stream stalled. */
const CREDIT_WAIT_MS = 3000;
/** The byte bounds of a request and a control message (PROTOCOL.md, SECURITY.md). */
const MAX_REQUEST_BYTES = 16_384;
const MAX_CONTROL_BYTES = 256 * 1024;

export interface PlayedComputeNodeOptions {
  connection: NatsConnection;
  /** The compute node id played. */
  nodeId: string;
  recorder: Recorder;
  /** Serves an accepted-to-be request: `attempt` counts the requests for its execution. */
  serve: (served: Served, attempt: number) => Promise<void>;
  progress: (message: string) => void;
}

export class PlayedComputeNode {
  readonly nodeId: string;
  /** Notified on every change of a stream's state; scenarios wait on it. */
  readonly changes = new Changes();
  readonly #nc: NatsConnection;
  readonly #recorder: Recorder;
  readonly #serve: PlayedComputeNodeOptions["serve"];
  readonly #progress: (message: string) => void;
  readonly #links = new Map<string, Link>();
  /** Every stream by id, open or not (controls may name ended ones). */
  readonly #streams = new Map<string, Served>();
  /** Requests per execution, in order. */
  readonly #requests = new Map<string, Served[]>();
  readonly #tasks = new Set<Promise<void>>();
  #subs: Subscription[] = [];
  #closed = false;

  constructor(options: PlayedComputeNodeOptions) {
    this.#nc = options.connection;
    this.nodeId = options.nodeId;
    this.#recorder = options.recorder;
    this.#serve = options.serve;
    this.#progress = options.progress;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves once the node's subjects are subscribed on the server. */
  async start(): Promise<void> {
    this.#subs = [
      this.#nc.subscribe(subjects.request(this.nodeId), {
        callback: (_e, msg) => this.#onRequest(msg),
      }),
      this.#nc.subscribe(subjects.control(this.nodeId), {
        callback: (_e, msg) => this.#onControl(msg),
      }),
    ];
    await this.#nc.flush();
  }

  close(): void {
    this.#closed = true;
    for (const sub of this.#subs) sub.unsubscribe();
    for (const link of this.#links.values()) link.stop();
    this.changes.notify();
  }

  /** The requests for an execution so far, in order. */
  requestsOf(executionId: string): readonly Served[] {
    return this.#requests.get(executionId) ?? [];
  }

  /** Runs `task` alongside the node; a failure is reported as progress, `label` first. */
  track(task: Promise<void>, label: string): void {
    const tracked = task.catch((error: unknown) => {
      this.#progress(`${label} failed: ${error instanceof Error ? error.stack : String(error)}`);
    });
    this.#tasks.add(tracked);
    void tracked.finally(() => this.#tasks.delete(tracked));
  }

  /** Resolves once every task under way has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#tasks]);
  }

  // ---- requests --------------------------------------------------------------------------

  #onRequest(msg: Msg): void {
    const decoded = tryDecode(decodeRequest, msg.data);
    if (!decoded.ok) {
      this.#recorder.fail(
        "R-REQUEST",
        `a request did not decode: ${decoded.error.code}: ${decoded.error.message}`,
      );
      return;
    }
    const request = decoded.value;
    const problems: string[] = [];
    if (msg.data.byteLength > MAX_REQUEST_BYTES)
      problems.push(`${msg.data.byteLength} bytes, over the bound of ${MAX_REQUEST_BYTES}`);
    const inbox = subjects.streamInbox(request.sourcePeerId, request.streamId);
    if (request.targetPeerId !== this.nodeId) problems.push(`targetPeerId ${request.targetPeerId}`);
    if (msg.reply !== inbox)
      problems.push(`reply subject ${msg.reply ?? "none"}, expected ${inbox}`);
    if (request.heartbeatSubject !== subjects.heartbeat(request.sourcePeerId))
      problems.push(`heartbeatSubject ${request.heartbeatSubject}`);
    if (this.#streams.has(request.streamId))
      problems.push(`stream id ${request.streamId} used again`);
    const what = `request for ${request.executionId}`;
    this.#recorder.check(
      "R-REQUEST",
      problems.length === 0,
      problems.length
        ? `${what}: ${problems.join("; ")}`
        : `${what}: fields and subjects as specified`,
    );
    if (request.heartbeatTimeoutMs !== undefined) {
      this.#recorder.check(
        "R-REQUEST-HEARTBEAT-TIMEOUT",
        request.heartbeatTimeoutMs < request.heartbeatIntervalMs,
        `${what}: heartbeatTimeoutMs ${request.heartbeatTimeoutMs}, heartbeatIntervalMs ${request.heartbeatIntervalMs}`,
      );
    }
    if (problems.length > 0 || !msg.reply) return;
    const served = new Served(request, inbox);
    this.#streams.set(served.streamId, served);
    const list = this.#requests.get(request.executionId) ?? [];
    list.push(served);
    this.#requests.set(request.executionId, list);
    this.changes.notify();
    this.track(this.#serve(served, list.length), `serving ${request.executionId}`);
  }

  #publish(served: Served, frame: Parameters<typeof encode>[0]): void {
    this.#nc.publish(served.reply, encode(frame));
  }

  accept(served: Served, afterSeq: number, lastSeq: number): void {
    this.#publish(served, {
      type: MessageType.Accepted,
      streamId: served.streamId,
      n: 0,
      computeNodeId: this.nodeId,
      afterSeq,
      lastSeq,
      maxFrameBytes: served.maxFrameBytes,
    });
    served.accepted();
    const link = this.linkOf(served);
    link.add(served);
    this.#schedule(link);
  }

  /** Refuses the request: Error EXECUTION_NOT_FOUND (not retryable), saying why. */
  refuse(served: Served, message: string): void {
    this.#publish(served, {
      type: MessageType.Error,
      streamId: served.streamId,
      code: "EXECUTION_NOT_FOUND",
      message,
      retryable: false,
    });
  }

  end(served: Served, lastSeq: number, exitCode: number | null): void {
    if (served.cancelled || served.ended) return;
    this.#publish(served, {
      type: MessageType.End,
      streamId: served.streamId,
      n: served.takeN(),
      lastSeq,
      exitCode,
    });
    this.release(served);
  }

  /** The stream is no longer open (ended, stopped, or given up): heartbeats stop listing it. */
  release(served: Served): void {
    served.markEnded();
    this.#links.get(served.request.sourcePeerId)?.remove(served.streamId);
    this.changes.notify();
  }

  /** Sends data frames under credit; false if the stream was stopped or stalled on credit. */
  async send(served: Served, entries: LogEntry[], maxEntries?: number): Promise<boolean> {
    const frames = packFrames(served.streamId, entries, served.maxFrameBytes, maxEntries);
    for (const frame of frames) {
      const bytes = encodeDataFrame(served.streamId, served.n, frame.entries, frame.partial);
      if (served.credit < bytes.byteLength) {
        served.waitForCredit(true);
        const got = await this.changes.until(
          () =>
            served.cancelled || served.ended || this.#closed || served.credit >= bytes.byteLength,
          CREDIT_WAIT_MS,
        );
        served.waitForCredit(false);
        if (served.cancelled || served.ended || this.#closed) return false;
        if (!got) {
          this.#recorder.fail(
            "R-CREDIT",
            `${served.request.executionId}: stalled for ${CREDIT_WAIT_MS} ms: ${served.sent} bytes sent, window ${served.request.window} + ${served.granted} granted, next frame ${bytes.byteLength} bytes`,
          );
          return false;
        }
      }
      if (served.cancelled || served.ended) return false;
      this.#nc.publish(served.reply, bytes);
      served.sentData(bytes.byteLength, frame.entries.at(-1)!.seq);
    }
    return true;
  }

  // ---- heartbeats -------------------------------------------------------------------------

  /** The link of the stream's requester (made on first use). */
  linkOf(served: Served): Link {
    const key = served.request.sourcePeerId;
    let link = this.#links.get(key);
    if (!link) {
      link = new Link(key, served.request.heartbeatSubject);
      this.#links.set(key, link);
    }
    return link;
  }

  #schedule(link: Link): void {
    link.schedule(
      () => void this.heartbeat(link, link.listed()),
      () => this.#closed,
    );
  }

  /** One heartbeat; streams the answer names are stopped, as a compute node must. */
  async heartbeat(
    link: Link,
    streamIds: string[],
  ): Promise<{ requesterNodeId: string; unknownStreamIds: string[] } | undefined> {
    const timeout = Math.max(50, Math.floor(link.intervalMs * 0.9));
    try {
      const reply = await this.#nc.request(
        link.heartbeatSubject,
        // creditWait is an optional field (a reader must ignore fields it does not know).
        // (Written directly: the schema on this branch does not define creditWait yet.)
        new TextEncoder().encode(
          JSON.stringify({
            type: MessageType.Heartbeat,
            computeNodeId: this.nodeId,
            streamIds,
            creditWait: streamIds.filter((id) => link.get(id)?.waitingForCredit === true),
          }),
        ),
        { timeout },
      );
      const decoded = tryDecode(decodeHeartbeatResponse, reply.data);
      if (!decoded.ok) {
        this.#recorder.fail(
          "R-HEARTBEAT-ANSWER",
          `a heartbeat answer did not decode: ${decoded.error.message}`,
        );
        return undefined;
      }
      for (const id of decoded.value.unknownStreamIds) {
        const served = link.get(id);
        if (served) {
          served.cancel();
          this.release(served);
        }
      }
      return decoded.value;
    } catch {
      return undefined;
    }
  }

  // ---- control ----------------------------------------------------------------------------

  #onControl(msg: Msg): void {
    const decoded = tryDecode(decodeControl, msg.data);
    if (!decoded.ok) {
      this.#recorder.fail(
        "R-CONTROL",
        `a control message did not decode: ${decoded.error.message}`,
      );
      return;
    }
    const control = decoded.value;
    this.#recorder.check(
      "R-CONTROL",
      msg.data.byteLength <= MAX_CONTROL_BYTES,
      `a control message of ${msg.data.byteLength} bytes (bound ${MAX_CONTROL_BYTES})`,
    );
    const named = [...(control.cancel ?? []), ...(control.credit ?? []).map((g) => g.streamId)];
    const foreign = named.filter((id) => {
      const s = this.#streams.get(id);
      return s !== undefined && s.request.sourcePeerId !== control.sourcePeerId;
    });
    const unknown = named.filter((id) => !this.#streams.has(id));
    this.#recorder.check(
      "R-CONTROL",
      foreign.length === 0 && unknown.length === 0,
      foreign.length
        ? `names streams of another requester: ${foreign.join(", ")}`
        : unknown.length
          ? `names streams never requested: ${unknown.join(", ")}`
          : `${named.length} stream ids of ${control.sourcePeerId}`,
    );
    for (const id of control.cancel ?? []) {
      const s = this.#streams.get(id);
      if (s && s.request.sourcePeerId === control.sourcePeerId) {
        s.cancel();
        if (!s.ended) this.release(s);
      }
    }
    for (const grant of control.credit ?? []) {
      const s = this.#streams.get(grant.streamId);
      if (s && s.request.sourcePeerId === control.sourcePeerId) s.grant(grant.bytes);
    }
    this.changes.notify();
  }
}
