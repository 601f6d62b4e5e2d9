import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import {
  type CompressionCodec,
  type ControlMessage,
  compressDataFrame,
  decodeControl,
  decodeHeartbeatResponse,
  decodeRequest,
  encode,
  encodeDataFrame,
  type HeartbeatResponse,
  type LogRequest,
  type LogStreamName,
  MessageType,
  subjects,
} from "@tailwire/protocol";

/** An entry as a test writes it; stream and time get defaults. */
export interface TestEntry {
  seq: number;
  line: string;
  stream?: LogStreamName;
  time?: number;
}

/** One request received by the fake compute node, answered by hand, frame by frame. */
export class ScriptedStream {
  readonly request: LogRequest;
  readonly reply: string;
  /** Number of the next frame; tests bump it to fake a lost frame. */
  n = 0;
  readonly #nc: NatsConnection;
  readonly #nodeId: string;

  constructor(nc: NatsConnection, nodeId: string, request: LogRequest, reply: string) {
    this.#nc = nc;
    this.#nodeId = nodeId;
    this.request = request;
    this.reply = reply;
  }

  get streamId(): string {
    return this.request.streamId;
  }

  accept(
    options: {
      afterSeq?: number;
      lastSeq?: number;
      maxFrameBytes?: number;
      /** The codec Accepted names (compressed frames); absent like a node that knows none. */
      compression?: string;
    } = {},
  ): void {
    this.#frame({
      type: MessageType.Accepted,
      streamId: this.streamId,
      n: 0,
      computeNodeId: this.#nodeId,
      afterSeq: options.afterSeq ?? this.request.fromSeq ?? 0,
      lastSeq: options.lastSeq ?? 0,
      // What a compute node following PROTOCOL.md states: at most half the window.
      maxFrameBytes:
        options.maxFrameBytes ?? Math.min(64 * 1024, Math.floor(this.request.window / 2)),
      ...(options.compression === undefined ? {} : { compression: options.compression }),
    });
    this.n = 1;
  }

  /**
   * Sends one data frame; `partial` says its last line continues in the next frame. Returns the
   * frame's size in bytes (what the requester credits back once consumed).
   */
  data(entries: readonly TestEntry[], partial = false): number {
    const full = entries.map((e) => ({
      seq: e.seq,
      stream: e.stream ?? ("stdout" as const),
      time: e.time ?? 1_700_000_000_000 + e.seq,
      line: e.line,
    }));
    const bytes = encodeDataFrame(this.streamId, this.n++, full, partial);
    this.#nc.publish(this.reply, bytes);
    return bytes.byteLength;
  }

  /** Sends one data frame compressed with `codec` (as our compute node would); returns its wire bytes. */
  compressedData(entries: readonly TestEntry[], codec: CompressionCodec): number {
    const full = entries.map((e) => ({
      seq: e.seq,
      stream: e.stream ?? ("stdout" as const),
      time: e.time ?? 1_700_000_000_000 + e.seq,
      line: e.line,
    }));
    const n = this.n++;
    const bytes = compressDataFrame(
      codec,
      this.streamId,
      n,
      encodeDataFrame(this.streamId, n, full, false),
    );
    this.#nc.publish(this.reply, bytes);
    return bytes.byteLength;
  }

  end(lastSeq: number, exitCode?: number | null): void {
    this.#frame({
      type: MessageType.End,
      streamId: this.streamId,
      n: this.n++,
      lastSeq,
      ...(exitCode === undefined ? {} : { exitCode }),
    });
  }

  error(
    code: string,
    message: string,
    options: { retryable?: boolean; numbered?: boolean } = {},
  ): void {
    this.#frame({
      type: MessageType.Error,
      streamId: this.streamId,
      ...(options.numbered === false ? {} : { n: this.n++ }),
      code,
      message,
      retryable: options.retryable ?? false,
    });
  }

  /** A removal notice (ExecutionLogs.Notice/v1) for lines fromSeq..toSeq. */
  notice(fromSeq: number, toSeq: number, reason = "retention"): void {
    this.#frame({
      type: MessageType.Notice,
      streamId: this.streamId,
      n: this.n++,
      notice: "removed",
      reason,
      fromSeq,
      toSeq,
    });
  }

  /** Anything at all on the stream's inbox (corrupted frames). */
  raw(payload: string | Uint8Array): void {
    this.#nc.publish(
      this.reply,
      typeof payload === "string" ? new TextEncoder().encode(payload) : payload,
    );
  }

  #frame(frame: Parameters<typeof encode>[0]): void {
    this.#nc.publish(this.reply, encode(frame));
  }
}

/**
 * A compute node reduced to what the requester's tests need: it records requests and control
 * messages and lets the test script every frame and heartbeat. Plain NATS, no @tailwire/compute.
 */
export class FakeCompute {
  readonly nodeId: string;
  readonly nc: NatsConnection;
  readonly controls: ControlMessage[] = [];
  readonly requests: ScriptedStream[] = [];
  #requestWaiters: Array<() => void> = [];
  #controlWaiters: Array<() => void> = [];
  #autoRespond: ((stream: ScriptedStream) => void) | undefined;

  private constructor(nodeId: string, nc: NatsConnection) {
    this.nodeId = nodeId;
    this.nc = nc;
  }

  static async start(url: string, nodeId: string): Promise<FakeCompute> {
    const nc = await connect({ servers: url, name: `fake-compute-${nodeId}` });
    const fake = new FakeCompute(nodeId, nc);
    nc.subscribe(subjects.request(nodeId), { callback: (_err, msg) => fake.#onRequest(msg) });
    nc.subscribe(subjects.control(nodeId), { callback: (_err, msg) => fake.#onControl(msg) });
    await nc.flush(); // subscriptions are live on the server before any test publishes
    return fake;
  }

  /** Answer every request at once instead of scripting it (load tests). */
  autoRespond(respond: (stream: ScriptedStream) => void): void {
    this.#autoRespond = respond;
  }

  /** The next request not yet taken, waiting up to `timeoutMs`. */
  async nextRequest(timeoutMs = 5_000): Promise<ScriptedStream> {
    await this.#until(
      () => this.#taken < this.requests.length,
      this.#requestWaiters,
      timeoutMs,
      "a request",
    );
    return this.requests[this.#taken++]!;
  }
  #taken = 0;

  /** Stream ids cancelled so far, over all control messages. */
  cancelled(): Set<string> {
    return new Set(this.controls.flatMap((c) => c.cancel ?? []));
  }

  /** Credit granted per stream id so far. */
  credit(streamId: string): number {
    let total = 0;
    for (const c of this.controls)
      for (const g of c.credit ?? []) if (g.streamId === streamId) total += g.bytes;
    return total;
  }

  async waitForCancel(streamId: string, timeoutMs = 5_000): Promise<void> {
    await this.#until(
      () => this.cancelled().has(streamId),
      this.#controlWaiters,
      timeoutMs,
      `cancel of ${streamId}`,
    );
  }

  async waitForControl(
    check: () => boolean,
    timeoutMs = 5_000,
    what = "a control message",
  ): Promise<void> {
    await this.#until(check, this.#controlWaiters, timeoutMs, what);
  }

  /** One heartbeat request to a requester, as the compute side sends it. */
  async heartbeat(
    requesterNodeId: string,
    streamIds: readonly string[],
    timeoutMs = 2_000,
  ): Promise<HeartbeatResponse> {
    const msg = await this.nc.request(
      subjects.heartbeat(requesterNodeId),
      encode({
        type: MessageType.Heartbeat,
        computeNodeId: this.nodeId,
        streamIds: [...streamIds],
      }),
      { timeout: timeoutMs },
    );
    return decodeHeartbeatResponse(msg.data);
  }

  /** Heartbeats every `intervalMs` listing `streamIds()`, until the returned stop is called. */
  heartbeatEvery(
    requesterNodeId: string,
    intervalMs: number,
    streamIds: () => readonly string[],
  ): () => void {
    const timer = setInterval(() => {
      this.heartbeat(requesterNodeId, streamIds(), intervalMs).catch(() => {});
    }, intervalMs);
    return () => clearInterval(timer);
  }

  async close(): Promise<void> {
    await this.nc.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #onRequest(msg: Msg): void {
    const request = decodeRequest(msg.data);
    const stream = new ScriptedStream(this.nc, this.nodeId, request, msg.reply!);
    if (this.#autoRespond) {
      this.#autoRespond(stream);
      return;
    }
    this.requests.push(stream);
    this.#wake(this.#requestWaiters);
  }

  #onControl(msg: Msg): void {
    this.controls.push(decodeControl(msg.data));
    this.#wake(this.#controlWaiters);
  }

  #wake(waiters: Array<() => void>): void {
    for (const wake of waiters.splice(0)) wake();
  }

  /** Event-driven wait with a deadline: re-checks on each matching event, never polls. */
  async #until(
    check: () => boolean,
    waiters: Array<() => void>,
    timeoutMs: number,
    what: string,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `fake compute ${this.nodeId}: timed out after ${timeoutMs} ms waiting for ${what}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
