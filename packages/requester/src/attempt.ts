// What one attempt (one request, one stream id) receives: its inbox messages judged in order
// (no responders, NATS statuses, invalid frames, frame size, credit overrun, the resume's afterSeq)
// and its credit: the window, the bytes received and granted, and when to grant more.
import {
  type AcceptedFrame,
  COMPRESSED_EXPANSION_LIMIT,
  decodeFrameV2,
  type EndFrame,
  LIMITS,
  type LogEntry,
  MessageType,
  NodeUnreachableError,
  ProtocolError,
  type ProtocolVersion,
  SequenceGapError,
  subjects,
  subjectsV2,
  TailwireError,
  tryDecode,
} from "@tailwire/protocol";
import { AdaptiveCredit } from "./adaptive-credit.js";
import { monotonicNow } from "./clock.js";
import {
  acceptedCodec,
  type InboxFrame,
  keepsItsCode,
  receiveFrame,
} from "./frame-decompression.js";
import { FrameReader } from "./frame-reader.js";
import type { RemovedNotice } from "./notices.js";
import { frameFromV2 } from "./wire-v2.js";

/** What an attempt's request says of its link (all optional: a test's attempt needs none). */
export interface AttemptLink {
  /** The codecs the request offers for compressed frames. */
  compression?: readonly string[];
  /** The memory cap the adaptive window may grow to (default: the window stays as it is). */
  maxWindowBytes?: number;
}

/** NATS status code of the "no responders" message the server sends on a request's reply subject. */
const NO_RESPONDERS = 503;

/**
 * What one inbox message means for the stream. `at` (monotonic ms) is set when the message
 * came from the compute node: it was heard, whatever the message says.
 */
export type Received =
  /** Not news about this stream (a late 503, a rejection of another request): count it. */
  | { kind: "ignored"; reason: string }
  /** The compute node is not there (503 before acceptance): resume or end, nothing to cancel. */
  | { kind: "unreachable"; error: TailwireError }
  /** The frame broke the protocol: the stream breaks (PROTOCOL_ERROR or SEQUENCE_GAP). */
  | { kind: "rejected"; error: TailwireError; at?: number }
  /** A resume was accepted after entries it asked for were removed: resuming would leave a gap. */
  | { kind: "gap"; error: TailwireError; at: number }
  | { kind: "accepted"; frame: AcceptedFrame; at: number }
  /** Complete lines only (possibly none: the frame held a piece of a partial line). */
  | { kind: "data"; entries: LogEntry[]; bytes: number; at: number }
  | { kind: "notice"; notice: RemovedNotice; at: number }
  | { kind: "end"; frame: EndFrame; at: number }
  /** An Error frame: the compute node ended the attempt itself. */
  | { kind: "error"; error: TailwireError; at: number };

export const asTailwireError = (error: unknown): TailwireError =>
  error instanceof TailwireError
    ? error
    : new ProtocolError(error instanceof Error ? error.message : String(error), { cause: error });

/**
 * The wire side of one request: its stream id, frame order, partial line, credit and accept
 * timer. A stream owns one attempt at a time; resuming after a gap or a lost stream means a new
 * attempt (new stream id, fromSeq = the last seq received) under the same consumer-facing stream.
 */
export class Attempt {
  readonly streamId: string;
  readonly computeNodeId: string;
  /** The request's window: initial credit in data-frame bytes. */
  readonly window: number;
  /** For a resumed attempt: the fromSeq asked, which the Accepted frame's afterSeq must equal. */
  readonly resumeFrom: number | undefined;
  readonly #reader: FrameReader;
  readonly #credit: AdaptiveCredit;
  #acceptedAt: number | undefined;
  #acceptTimer: NodeJS.Timeout | undefined;
  /** Data-frame bytes received and credit granted so far: received may never pass window + granted. */
  #receivedBytes = 0;
  #grantedBytes = 0;
  /** The largest data frame the compute node said it sends (Accepted); 0 until accepted. */
  #maxFrameBytes = 0;
  #detached = false;
  /** The codecs the request offered, and the one Accepted named (undefined: plain frames). */
  readonly #offered: readonly string[];
  #codec: string | undefined;
  #version: ProtocolVersion;

  constructor(
    streamId: string,
    computeNodeId: string,
    window: number,
    creditBatchWindow: number,
    resumeFrom?: number,
    /** What the request says of its link: the codecs it offers (PROTOCOL.md "Compressed frames"). */
    link: AttemptLink = {},
    version: ProtocolVersion = "v1",
  ) {
    this.#version = version;
    this.#offered = link.compression ?? [];
    this.streamId = streamId;
    this.computeNodeId = computeNodeId;
    this.window = window;
    this.resumeFrom = resumeFrom;
    this.#reader = new FrameReader(streamId, computeNodeId);
    this.#credit = new AdaptiveCredit(
      window,
      creditBatchWindow,
      link.maxWindowBytes ?? creditBatchWindow,
    );
  }

  /** The link options of a client's attempts. */
  static linkOf(options: { compression: readonly string[]; maxWindowBytes: number }): AttemptLink {
    return { compression: options.compression, maxWindowBytes: options.maxWindowBytes };
  }

  /**
   * The window of a resumed attempt: buffered entries of earlier attempts still count against
   * it, so memory stays bounded by windowBytes across attempts (their bytes are credited to the
   * new attempt once consumed).
   */
  static resumeWindow(windowBytes: number, bufferedBytes: number): number {
    return Math.max(LIMITS.minWindowBytes, windowBytes - bufferedBytes);
  }

  /** Monotonic time of acceptance; undefined while the request is pending. */
  get acceptedAt(): number | undefined {
    return this.#acceptedAt;
  }

  /** No longer routed (the stream ended or moved on to another attempt): grants nothing more. */
  get detached(): boolean {
    return this.#detached;
  }

  /** The wire version this attempt is asked in (its frames, credit and cancel are of it). */
  get version(): ProtocolVersion {
    return this.#version;
  }

  /**
   * A v2 request met no answer that proves the node serves v2 (wire-choice.ts): the attempt is
   * asked again in v1, under the same stream id. Only before anything was accepted.
   */
  fallBackToV1(): boolean {
    if (this.#version !== "v2" || this.#reader.accepted || this.#detached) return false;
    this.#clearAcceptTimer();
    this.#version = "v1";
    return true;
  }

  /** Starts the accept timeout: `onTimeout` runs unless the stream is accepted or detached first. */
  startAcceptTimer(timeoutMs: number, onTimeout: () => void): void {
    this.#acceptTimer = setTimeout(() => {
      this.#acceptTimer = undefined;
      onTimeout();
    }, timeoutMs);
  }

  /** Stops routing this attempt: it receives and grants nothing more. False if it already was. */
  detach(): boolean {
    if (this.#detached) return false;
    this.#detached = true;
    this.#clearAcceptTimer();
    return true;
  }

  /** Judges one message on this attempt's inbox: `status` is the NATS status code (0 = none). */
  receive(status: number, statusText: string | undefined, data: Uint8Array): Received {
    // "No responders" answers a request: once the stream is accepted, a 503 on its inbox is
    // someone else's request that named this inbox, not news about this stream.
    if (status === NO_RESPONDERS) {
      if (this.#reader.accepted) return { kind: "ignored", reason: "no responders after accept" };
      return {
        kind: "unreachable",
        error: new NodeUnreachableError(
          `no compute node is subscribed to ${this.#requestSubject()}`,
        ),
      };
    }
    if (status !== 0) {
      return {
        kind: "rejected",
        error: new ProtocolError(`unexpected NATS status ${statusText} on the stream inbox`),
      };
    }
    const decoded = this.#decode(data);
    if (!decoded.ok) {
      const error = decoded.error;
      return {
        kind: "rejected",
        // A decompression bomb keeps its PAYLOAD_TOO_LARGE: a retry would get the same frame.
        error: keepsItsCode(error)
          ? error
          : new ProtocolError(`invalid frame: ${error.message}`, { cause: error }),
      };
    }
    const frame = decoded.value.frame;
    // Credit bytes: the wire bytes (for a compressed frame at least its size / 16).
    const bytes = decoded.value.creditBytes;
    if (frame.type === MessageType.Data) {
      // Before Accepted the frame reader reports the gap; after it, the stated size is a bound.
      if (this.#maxFrameBytes > 0 && data.byteLength > this.#maxFrameBytes) {
        return {
          kind: "rejected",
          error: new ProtocolError(
            `a data frame of ${data.byteLength} bytes exceeds the stream's maxFrameBytes ${this.#maxFrameBytes}`,
          ),
        };
      }
      // Enforced, not just trusted: the window is what bounds this stream's memory.
      this.#receivedBytes += bytes;
      this.#credit.received(bytes);
      if (this.#receivedBytes > this.window + this.#grantedBytes) {
        return {
          kind: "rejected",
          error: new ProtocolError("the compute node sent more data than its credit allows"),
        };
      }
    }
    let outcome: ReturnType<FrameReader["read"]>;
    try {
      outcome = this.#reader.read(frame);
    } catch (error) {
      return { kind: "rejected", error: asTailwireError(error) };
    }
    if (outcome.kind === "ignored") return outcome;
    const at = monotonicNow();
    switch (outcome.kind) {
      case "accepted":
        return this.#accepted(outcome.frame, at);
      case "data":
        return { kind: "data", entries: outcome.entries, bytes, at };
      case "notice":
        return { kind: "notice", notice: outcome.notice, at };
      case "end":
        return { kind: "end", frame: outcome.frame, at };
      case "error":
        return { kind: "error", error: outcome.error, at };
    }
  }

  /**
   * Credit for `bytes` of this attempt's frames the consumer took (or a partial line's piece
   * the reader holds): the bytes to grant now, or 0 to keep batching (or once detached).
   */
  release(bytes: number): number {
    if (this.#detached) return 0;
    const grant = this.#credit.consumed(bytes);
    this.#grantedBytes += grant;
    return grant;
  }

  #accepted(frame: AcceptedFrame, at: number): Received {
    this.#clearAcceptTimer();
    const from = this.resumeFrom;
    const after = frame.afterSeq;
    if (from !== undefined && after !== from) {
      if (after > from) {
        // The store no longer holds what we missed: resuming would hand the consumer a gap.
        return {
          kind: "gap",
          at,
          error: new SequenceGapError(
            `resumed after seq ${from}, but compute node ${this.computeNodeId} serves only entries after ${after}: ${after - from} entries are no longer in its log store`,
            { retryable: false },
          ),
        };
      }
      return {
        kind: "rejected",
        at,
        error: new ProtocolError(`asked for entries after seq ${from}, accepted after ${after}`),
      };
    }
    try {
      this.#codec = acceptedCodec(frame.compression, this.#offered);
    } catch (error) {
      return { kind: "rejected", at, error: asTailwireError(error) };
    }
    // Accepted only as asked: a stream broken here was never accepted for liveness either.
    this.#acceptedAt = at;
    this.#maxFrameBytes = frame.maxFrameBytes;
    this.#credit.fitFrames(frame.maxFrameBytes);
    if (this.#codec !== undefined) this.#credit.setExpansion(COMPRESSED_EXPANSION_LIMIT);
    return { kind: "accepted", frame, at };
  }

  #requestSubject(): string {
    return this.#version === "v2"
      ? `${subjectsV2.requestWildcard(this.computeNodeId).slice(0, -1)}<requester>`
      : subjects.request(this.computeNodeId);
  }

  /**
   * A frame of this attempt's version, as the v1 frame it stands for (wire-v2.ts), with the
   * credit it takes. v2 has no compressed frames yet: its credit is its wire bytes.
   */
  #decode(data: Uint8Array): ReturnType<typeof tryDecode<InboxFrame>> {
    if (this.#version === "v1") {
      const link = { codec: this.#codec, maxFrameBytes: this.#maxFrameBytes };
      return tryDecode((bytes) => receiveFrame(bytes, link), data);
    }
    const decoded = tryDecode(decodeFrameV2, data);
    return decoded.ok
      ? {
          ok: true,
          value: {
            frame: frameFromV2(decoded.value, this.computeNodeId),
            creditBytes: data.byteLength,
          },
        }
      : decoded;
  }

  #clearAcceptTimer(): void {
    if (this.#acceptTimer !== undefined) {
      clearTimeout(this.#acceptTimer);
      this.#acceptTimer = undefined;
    }
  }
}
