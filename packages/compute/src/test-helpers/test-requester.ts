import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import {
  type AcceptedFrame,
  type DecodedDataFrame,
  decodeFrame,
  decodeHeartbeat,
  type EndFrame,
  type ErrorFrame,
  encode,
  type HeartbeatRequest,
  joinDataFrames,
  type LogEntry,
  type LogRequest,
  MessageType,
  newStreamId,
  type StreamFrame,
  streamIdOfInbox,
  subjects,
} from "@tailwire/protocol";

/** A frame as received, with its size on the wire. */
export interface Received {
  frame: StreamFrame;
  bytes: number;
  at: number;
}

type Waiter = { check: () => boolean; resolve: () => void };

/** The frames of one stream as a plain requester sees them. */
export class TestStream {
  readonly streamId: string;
  readonly received: Received[] = [];
  /** NATS answered the request with 503 "no responders" (no compute node subscribed). */
  noResponders = false;
  #waiters: Waiter[] = [];

  constructor(streamId: string) {
    this.streamId = streamId;
  }

  markNoResponders(): void {
    this.noResponders = true;
    this.#wake();
  }

  push(frame: StreamFrame, bytes: number): void {
    this.received.push({ frame, bytes, at: performance.now() });
    this.#wake();
  }

  #wake(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.check()) return true;
      w.resolve();
      return false;
    });
  }

  get frames(): StreamFrame[] {
    return this.received.map((r) => r.frame);
  }

  get dataFrames(): DecodedDataFrame[] {
    return this.frames.filter((f): f is DecodedDataFrame => f.type === MessageType.Data);
  }

  get dataBytes(): number {
    return this.received
      .filter((r) => r.frame.type === MessageType.Data)
      .reduce((sum, r) => sum + r.bytes, 0);
  }

  get accepted(): AcceptedFrame | undefined {
    return this.frames.find((f): f is AcceptedFrame => f.type === MessageType.Accepted);
  }

  get last(): StreamFrame | undefined {
    return this.received.at(-1)?.frame;
  }

  /** Entries with the parts of split lines joined back, as a requester hands them over. */
  get entries(): LogEntry[] {
    return joinDataFrames(this.dataFrames);
  }

  get seqs(): number[] {
    return this.entries.map((e) => e.seq);
  }

  /** Resolves once `check` holds (checked now and after every frame); rejects at the deadline. */
  until(check: () => boolean, timeoutMs = 5000, what = "a condition"): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(
          new Error(`stream ${this.streamId}: timed out after ${timeoutMs}ms waiting for ${what}`),
        );
      }, timeoutMs);
      const waiter: Waiter = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** The End or Error frame that closes the stream. */
  async final(timeoutMs = 5000): Promise<EndFrame | ErrorFrame> {
    await this.until(() => isFinal(this.last), timeoutMs, "End or Error");
    return this.last as EndFrame | ErrorFrame;
  }

  /** Frame numbers 0, 1, 2, ... with nothing missing or repeated. */
  frameNumbersAreConsecutive(): boolean {
    return this.frames.every((f, i) => (f as { n?: number }).n === i);
  }
}

function isFinal(frame: StreamFrame | undefined): boolean {
  return frame?.type === MessageType.End || frame?.type === MessageType.Error;
}

export interface TestRequesterOptions {
  /** Answer heartbeats (default true); when false nobody subscribes to the heartbeat subject. */
  answerHeartbeats?: boolean;
  /** Subscribe to the heartbeat subject but never answer (a frozen requester). */
  silentHeartbeats?: boolean;
}

/**
 * A requester made of a plain NATS connection: publishes requests and control messages,
 * collects frames on one wildcard subscription, answers heartbeats from its own list of streams.
 */
export class TestRequester {
  readonly nc: NatsConnection;
  readonly id: string;
  readonly streams = new Map<string, TestStream>();
  readonly heartbeats: HeartbeatRequest[] = [];
  /** performance.now() at each heartbeat's arrival. */
  readonly heartbeatTimes: number[] = [];
  /** Streams the heartbeat answer reports as unknown, whether we opened them or not. */
  readonly forget = new Set<string>();
  /** While true, heartbeats are received but not answered (a frozen requester). */
  silent = false;
  readonly #subs: Subscription[] = [];

  private constructor(nc: NatsConnection, id: string) {
    this.nc = nc;
    this.id = id;
  }

  static async connect(
    url: string,
    id: string,
    options: TestRequesterOptions = {},
  ): Promise<TestRequester> {
    const nc = await connect({ servers: url });
    const requester = new TestRequester(nc, id);
    requester.silent = options.silentHeartbeats === true;
    requester.#subs.push(
      nc.subscribe(subjects.streamInboxWildcard(id), {
        callback: (_err, msg) => {
          const stream = requester.streams.get(streamIdOfInbox(msg.subject));
          if (msg.data.byteLength === 0 && msg.headers?.code === 503) stream?.markNoResponders();
          else stream?.push(decodeFrame(msg.data), msg.data.byteLength);
        },
      }),
    );
    if (options.answerHeartbeats !== false) {
      requester.#subs.push(
        nc.subscribe(subjects.heartbeat(id), {
          callback: (_err, msg) => {
            const hb = decodeHeartbeat(msg.data);
            requester.heartbeats.push(hb);
            requester.heartbeatTimes.push(performance.now());
            if (requester.silent) return;
            const unknown = hb.streamIds.filter(
              (s) => requester.forget.has(s) || !requester.streams.has(s),
            );
            msg.respond(
              encode({
                type: MessageType.HeartbeatResponse,
                requesterNodeId: id,
                unknownStreamIds: unknown,
              }),
            );
          },
        }),
      );
    }
    await nc.flush();
    return requester;
  }

  /** The request a well-behaved requester would send, with `overrides` applied. */
  request(
    computeNodeId: string,
    executionId: string,
    overrides: Partial<LogRequest> = {},
  ): LogRequest {
    return {
      type: MessageType.Request,
      sourcePeerId: this.id,
      targetPeerId: computeNodeId,
      executionId,
      streamId: newStreamId(),
      follow: false,
      heartbeatSubject: subjects.heartbeat(this.id),
      heartbeatIntervalMs: 5000,
      window: 8 * 1024 * 1024,
      ...overrides,
    };
  }

  /** Publishes a request; frames are collected into the returned stream. */
  open(
    computeNodeId: string,
    executionId: string,
    overrides: Partial<LogRequest> = {},
  ): TestStream {
    const request = this.request(computeNodeId, executionId, overrides);
    return this.openRaw(computeNodeId, request.streamId, encode(request));
  }

  /** Publishes any bytes as a request with this requester's inbox for `streamId` as reply. */
  openRaw(computeNodeId: string, streamId: string, data: Uint8Array): TestStream {
    // A repeated stream id (duplicate tests) shares the first one's frames.
    const stream = this.streams.get(streamId) ?? new TestStream(streamId);
    this.streams.set(streamId, stream);
    this.nc.publish(subjects.request(computeNodeId), data, {
      reply: subjects.streamInbox(this.id, streamId),
    });
    return stream;
  }

  cancel(computeNodeId: string, streamIds: string[], sourcePeerId = this.id): void {
    this.nc.publish(
      subjects.control(computeNodeId),
      encode({ type: MessageType.Control, sourcePeerId, cancel: streamIds }),
    );
  }

  credit(computeNodeId: string, streamId: string, bytes: number, sourcePeerId = this.id): void {
    this.nc.publish(
      subjects.control(computeNodeId),
      encode({ type: MessageType.Control, sourcePeerId, credit: [{ streamId, bytes }] }),
    );
  }

  async close(): Promise<void> {
    for (const sub of this.#subs) sub.unsubscribe();
    await this.nc.close();
  }
}

/** Resolves after `ms` of nothing: only to assert that something does NOT happen. */
export function quietPeriod(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
