// The requester the compute mode plays: plain NATS and the protocol codec, so that every byte
// the node under test sends is seen as it arrived, and every request can be shaped at will.
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import {
  type ControlMessage,
  decodeFrame,
  decodeHeartbeat,
  encode,
  type HeartbeatRequest,
  type LogRequest,
  MessageType,
  newStreamId,
  type StreamFrame,
  streamIdOfInbox,
  subjects,
  tryDecode,
} from "@tailwire/protocol";
import { Changes } from "../waiter.js";

/** One message received on a stream inbox. */
export interface ReceivedFrame {
  /** The decoded frame, or undefined when it did not decode (then `error` says why). */
  frame: StreamFrame | undefined;
  error: string | undefined;
  /** The payload as it arrived. */
  raw: Uint8Array;
  /** Credit granted by the runner when this frame arrived (before any grant it triggered). */
  grantedBefore: number;
  at: number;
}

export interface ReceivedHeartbeat {
  heartbeat: HeartbeatRequest | undefined;
  error: string | undefined;
  raw: Uint8Array;
  subject: string;
  at: number;
}

/** When to grant: each time released-but-ungranted bytes reach `thresholdBytes` (rule 1). */
export interface GrantPolicy {
  thresholdBytes: number;
}

/** A stream opened by the played requester, with everything it received. */
export class PlayedStream {
  readonly streamId: string;
  readonly request: LogRequest;
  readonly sentAt = Date.now();
  readonly frames: ReceivedFrame[] = [];
  #granted = 0;
  #dataBytes = 0;
  #ungranted = 0;
  #policy: GrantPolicy | undefined;
  readonly #owner: PlayedRequester;

  constructor(owner: PlayedRequester, request: LogRequest, policy?: GrantPolicy) {
    this.#owner = owner;
    this.request = request;
    this.streamId = request.streamId;
    this.#policy = policy;
  }

  /** Credit granted so far, beyond the window. */
  get granted(): number {
    return this.#granted;
  }

  /** Data-frame bytes received so far. */
  get dataBytes(): number {
    return this.#dataBytes;
  }

  get policy(): GrantPolicy | undefined {
    return this.#policy;
  }

  /** From now on, grant as `policy` says (a stream opened without one starts granting). */
  grantAs(policy: GrantPolicy): void {
    this.#policy = policy;
  }

  /** The requester that opened the stream. */
  get requester(): PlayedRequester {
    return this.#owner;
  }

  get window(): number {
    return this.request.window;
  }

  /** The stream's last frame was End or Error (or a rejection). */
  get ended(): boolean {
    const last = this.frames.at(-1)?.frame;
    return last?.type === MessageType.End || last?.type === MessageType.Error;
  }

  get dataFrameCount(): number {
    return this.frames.filter((f) => f.frame?.type === MessageType.Data).length;
  }

  receive(received: ReceivedFrame): void {
    this.frames.push(received);
    if (received.frame?.type !== MessageType.Data) return;
    this.#dataBytes += received.raw.byteLength;
    if (!this.#policy) return;
    // The runner's consumer takes every entry at once: each frame is released on receipt.
    this.#ungranted += received.raw.byteLength;
    if (this.#ungranted >= this.#policy.thresholdBytes) {
      const bytes = this.#ungranted;
      this.#ungranted = 0;
      this.grant(bytes);
    }
  }

  grant(bytes: number): void {
    this.#granted += bytes;
    this.#owner.control({ credit: [{ streamId: this.streamId, bytes }] });
  }

  cancel(): void {
    this.#owner.control({ cancel: [this.streamId] });
  }

  until(check: (stream: PlayedStream) => boolean, timeoutMs: number): Promise<boolean> {
    return this.#owner.changes.until(() => check(this), timeoutMs);
  }

  /** True once no frame arrived for `quietMs` (within `timeoutMs`). */
  quiet(quietMs: number, timeoutMs: number): Promise<boolean> {
    return this.#owner.changes.quiet(() => this.frames.length, quietMs, timeoutMs);
  }
}

/** The stream ids to answer unknown to a heartbeat, or undefined to leave it unanswered. */
export type HeartbeatAnswer = (heartbeat: HeartbeatRequest) => string[] | undefined;

export interface RequestShape {
  executionId: string;
  fields?: Record<string, unknown>;
  /** Reuse a stream id (duplicate test). */
  streamId?: string;
  /** Another reply subject than the stream inbox (foreign-inbox tests). */
  reply?: string;
  /** Fields to delete from the request (schema tests). */
  omit?: string[];
}

/**
 * A requester node played over raw NATS: one subscription for every stream inbox and one for
 * heartbeats, like a real requester. Heartbeats are answered unknown for the listed ids it does
 * not hold open, unless a scenario answers them its own way (`answerWith`).
 */
export class PlayedRequester {
  readonly id: string;
  readonly computeNodeId: string;
  readonly changes = new Changes();
  readonly streams = new Map<string, PlayedStream>();
  readonly heartbeats: ReceivedHeartbeat[] = [];
  /** Frames that arrived on an inbox of a stream this requester never opened. */
  readonly strays: { subject: string; raw: Uint8Array }[] = [];
  readonly #dropped = new Set<string>();
  #answer: HeartbeatAnswer = (heartbeat) =>
    heartbeat.streamIds.filter((id) => !this.streams.has(id) || this.#dropped.has(id));
  readonly #nc: NatsConnection;
  readonly #subs: Subscription[];

  constructor(nc: NatsConnection, id: string, computeNodeId: string) {
    this.#nc = nc;
    this.id = id;
    this.computeNodeId = computeNodeId;
    this.#subs = [
      nc.subscribe(subjects.streamInboxWildcard(id), { callback: (_e, msg) => this.#onFrame(msg) }),
      nc.subscribe(subjects.heartbeat(id), { callback: (_e, msg) => this.#onHeartbeat(msg) }),
    ];
  }

  /** Stream ids this requester no longer holds (cancelled or answered unknown). */
  get dropped(): ReadonlySet<string> {
    return this.#dropped;
  }

  /** The node gave this stream up on its own (the requester was declared lost). */
  drop(streamId: string): void {
    this.#dropped.add(streamId);
  }

  /** The stream is still held after all: a cancel for it was one the node must ignore. */
  keep(streamId: string): void {
    this.#dropped.delete(streamId);
  }

  /** From now on, heartbeats are answered by `answer` (undefined: left unanswered). */
  answerWith(answer: HeartbeatAnswer): void {
    this.#answer = answer;
  }

  /** Resolves once the subscriptions are live on the server. */
  async ready(): Promise<this> {
    await this.#nc.flush();
    return this;
  }

  /** The request a careful requester sends, with `shape` applied. */
  requestFor(shape: RequestShape): LogRequest {
    const request: Record<string, unknown> = {
      type: MessageType.Request,
      sourcePeerId: this.id,
      targetPeerId: this.computeNodeId,
      executionId: shape.executionId,
      streamId: shape.streamId ?? newStreamId(),
      follow: false,
      heartbeatSubject: subjects.heartbeat(this.id),
      heartbeatIntervalMs: 5000,
      window: 64 * 1024,
      ...shape.fields,
    };
    for (const field of shape.omit ?? []) delete request[field];
    return request as unknown as LogRequest;
  }

  /** Sends a request (encoded as it is, unvalidated) and tracks its stream. */
  open(shape: RequestShape, policy?: GrantPolicy): PlayedStream {
    const request = this.requestFor(shape);
    const stream = new PlayedStream(this, request, policy);
    this.streams.set(request.streamId, stream);
    this.publishRequest(
      new TextEncoder().encode(JSON.stringify(request)),
      shape.reply ?? subjects.streamInbox(this.id, request.streamId),
    );
    return stream;
  }

  /** Any payload at all on the node's request subject. */
  publishRequest(payload: Uint8Array, reply: string | undefined): void {
    this.#nc.publish(
      subjects.request(this.computeNodeId),
      payload,
      reply === undefined ? undefined : { reply },
    );
  }

  /** A control message from this requester (or, with `sourcePeerId`, from another). */
  control(fields: Partial<ControlMessage> & Record<string, unknown>): void {
    const message = { type: MessageType.Control, sourcePeerId: this.id, ...fields };
    this.#nc.publish(
      subjects.control(this.computeNodeId),
      new TextEncoder().encode(JSON.stringify(message)),
    );
    for (const id of fields.cancel ?? [])
      if (message.sourcePeerId === this.id) this.#dropped.add(id);
  }

  async close(): Promise<void> {
    const open = [...this.streams.values()].filter(
      (s) => !s.ended && !this.#dropped.has(s.streamId),
    );
    if (open.length > 0) this.control({ cancel: open.map((s) => s.streamId) });
    for (const sub of this.#subs) sub.unsubscribe();
    await this.#nc.flush().catch(() => undefined);
  }

  #onFrame(msg: Msg): void {
    const streamId = streamIdOfInbox(msg.subject);
    const stream = this.streams.get(streamId);
    if (!stream) {
      this.strays.push({ subject: msg.subject, raw: msg.data });
      this.changes.notify();
      return;
    }
    const decoded = tryDecode(decodeFrame, msg.data);
    stream.receive({
      frame: decoded.ok ? decoded.value : undefined,
      error: decoded.ok ? undefined : `${decoded.error.code}: ${decoded.error.message}`,
      raw: msg.data,
      grantedBefore: stream.granted,
      at: Date.now(),
    });
    this.changes.notify();
  }

  #onHeartbeat(msg: Msg): void {
    const decoded = tryDecode(decodeHeartbeat, msg.data);
    this.heartbeats.push({
      heartbeat: decoded.ok ? decoded.value : undefined,
      error: decoded.ok ? undefined : decoded.error.message,
      raw: msg.data,
      subject: msg.subject,
      at: Date.now(),
    });
    if (decoded.ok && msg.reply) {
      const unknown = this.#answer(decoded.value);
      if (unknown !== undefined) {
        for (const id of unknown) this.#dropped.add(id);
        msg.respond(
          encode({
            type: MessageType.HeartbeatResponse,
            requesterNodeId: this.id,
            unknownStreamIds: unknown,
          }),
        );
      }
    }
    this.changes.notify();
  }
}
