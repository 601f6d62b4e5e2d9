import {
  type AcceptedFrame,
  type DataFrame,
  dataFrameSeq,
  type EndFrame,
  errorFromCode,
  isErrorCode,
  type LogEntry,
  type LogStreamName,
  ProtocolError,
  SequenceGapError,
  type StreamFrame,
  type TailwireError,
} from "@tailwire/protocol";
import type { RemovedNotice } from "./notices.js";

/** What one valid frame means for its stream. */
export type FrameOutcome =
  | { kind: "accepted"; frame: AcceptedFrame }
  /** Complete lines only: partial pieces are held back until their line is whole. */
  | { kind: "data"; entries: LogEntry[] }
  | { kind: "end"; frame: EndFrame }
  | { kind: "error"; error: TailwireError }
  /** Lines fromSeq..toSeq were removed by the compute node's retention (ExecutionLogs.Notice/v1). */
  | { kind: "notice"; notice: RemovedNotice }
  /** Not for this stream any more: an un-numbered Error (a rejection) after it was accepted. */
  | { kind: "ignored"; reason: string };

/**
 * A joined line may not grow past this: a compute node that never ends a partial line must not
 * make the requester buffer without bound (credit is granted for partial-only frames, see client).
 */
export const MAX_JOINED_LINE_CHARS = 64 * 1024 * 1024;

interface PartialLine {
  seq: number;
  stream: LogStreamName;
  time: number;
  parts: string[];
  chars: number;
}

/**
 * Checks the order of one stream's frames (numbers 0, 1, 2, ... and seq never going back) and
 * joins the parts of split lines back into whole lines. Throws SequenceGapError for a missing or repeated frame
 * number and ProtocolError for any other inconsistency; the stream is unusable afterwards.
 *
 * It holds all the in-flight state of one request, so a resume starts from a fresh reader.
 */
export class FrameReader {
  readonly streamId: string;
  readonly computeNodeId: string;
  #nextN = 0;
  /** Highest complete seq seen; starts at the Accepted frame's afterSeq. */
  #lastSeq: number | undefined;
  #partial: PartialLine | undefined;

  constructor(streamId: string, computeNodeId: string) {
    this.streamId = streamId;
    this.computeNodeId = computeNodeId;
  }

  get accepted(): boolean {
    return this.#nextN > 0;
  }

  read(frame: StreamFrame): FrameOutcome {
    if (frame.streamId !== this.streamId) {
      throw new ProtocolError(
        `frame for stream ${frame.streamId} arrived on the inbox of ${this.streamId}`,
      );
    }
    switch (frame.type) {
      case "ExecutionLogs.Accepted/v1":
        this.#checkNumber(frame.n);
        if (frame.computeNodeId !== this.computeNodeId) {
          throw new ProtocolError(
            `stream accepted by ${frame.computeNodeId}, but the request went to ${this.computeNodeId}`,
          );
        }
        this.#lastSeq = frame.afterSeq;
        return { kind: "accepted", frame };
      case "ExecutionLogs.Data/v1":
        this.#checkNumber(frame.n);
        return { kind: "data", entries: this.#join(frame) };
      case "ExecutionLogs.End/v1":
        this.#checkNumber(frame.n);
        if (this.#partial)
          throw new ProtocolError(`stream ended inside the partial line ${this.#partial.seq}`);
        if (this.#lastSeq !== undefined && frame.lastSeq < this.#lastSeq) {
          throw new ProtocolError(
            `End says lastSeq ${frame.lastSeq}, but seq ${this.#lastSeq} was already sent`,
          );
        }
        return { kind: "end", frame };
      case "ExecutionLogs.Notice/v1": {
        this.#checkNumber(frame.n);
        if (this.#partial) {
          throw new ProtocolError(`a notice arrived inside the partial line ${this.#partial.seq}`);
        }
        if (this.#lastSeq !== undefined && frame.fromSeq <= this.#lastSeq) {
          throw new ProtocolError(
            `notice of removed lines ${frame.fromSeq}..${frame.toSeq}, but seq ${this.#lastSeq} was already sent`,
          );
        }
        this.#lastSeq = frame.toSeq;
        return {
          kind: "notice",
          notice: {
            kind: "removed",
            reason: frame.reason,
            fromSeq: frame.fromSeq,
            toSeq: frame.toSeq,
          },
        };
      }
      case "ExecutionLogs.Error/v1": {
        // Error frames sent before acceptance carry no number; numbered ones must not skip any.
        // An un-numbered one after acceptance is a compute node rejecting some other request
        // that named this inbox (a duplicate stream id, a malformed request): it must not end
        // the stream this inbox belongs to.
        if (frame.n === undefined && this.accepted) {
          return { kind: "ignored", reason: `rejection ${frame.code} of another request` };
        }
        if (frame.n !== undefined) this.#checkNumber(frame.n);
        // Codes from a newer peer map to INTERNAL; the original code stays in the message.
        const code = isErrorCode(frame.code) ? frame.code : "INTERNAL";
        const message = code === frame.code ? frame.message : `${frame.code}: ${frame.message}`;
        return {
          kind: "error",
          error: errorFromCode(code, message, { retryable: frame.retryable }),
        };
      }
    }
  }

  #checkNumber(n: number): void {
    if (n !== this.#nextN) {
      const what = n > this.#nextN ? "gap" : "duplicate";
      throw new SequenceGapError(`frame ${what}: expected frame ${this.#nextN}, got ${n}`);
    }
    this.#nextN = n + 1;
  }

  /**
   * The frame's complete lines as entries. A frame marked `partial` ends with the first part of
   * a line whose rest opens the next frame under the same seq; the parts are held here until the
   * line is whole. Within a frame the decoder has already checked that seq increases.
   */
  #join(frame: DataFrame): LogEntry[] {
    const count = frame.stream.length;
    const endsPartial = frame.partial === true;
    const whole = endsPartial ? count - 1 : count;
    // Sized up front: a frame's whole lines, a joined line first if it completes one.
    const out = new Array<LogEntry>(whole);
    let i = 0;
    const partial = this.#partial;
    if (partial) {
      const seq = dataFrameSeq(frame, 0);
      const stream = streamName(frame.stream, 0);
      if (seq !== partial.seq || stream !== partial.stream) {
        throw new ProtocolError(`partial line ${partial.seq} continued by seq ${seq} (${stream})`);
      }
      const line = frame.line[0] as string;
      partial.parts.push(line);
      partial.chars += line.length;
      if (partial.chars > MAX_JOINED_LINE_CHARS) {
        throw new ProtocolError(
          `partial line ${partial.seq} exceeds ${MAX_JOINED_LINE_CHARS} characters`,
        );
      }
      if (count === 1 && endsPartial) return out; // the line goes on in the next frame
      this.#partial = undefined;
      out[0] = { seq, stream, time: partial.time, line: partial.parts.join("") };
      i = 1;
    } else if (this.#lastSeq !== undefined && dataFrameSeq(frame, 0) <= this.#lastSeq) {
      throw new ProtocolError(`seq went back: ${dataFrameSeq(frame, 0)} after ${this.#lastSeq}`);
    }
    const { stream, time, line } = frame;
    for (; i < whole; i++) {
      out[i] = {
        seq: dataFrameSeq(frame, i),
        stream: streamName(stream, i),
        time: time[i] as number,
        line: line[i] as string,
      };
    }
    if (endsPartial) {
      const last = line[whole] as string;
      this.#partial = {
        seq: dataFrameSeq(frame, whole),
        stream: streamName(stream, whole),
        time: time[whole] as number,
        parts: [last],
        chars: last.length,
      };
    }
    if (whole > 0) this.#lastSeq = (out[whole - 1] as LogEntry).seq;
    return out;
  }
}

/** The stream column holds one character per entry: "o" = stdout, "e" = stderr. */
const streamName = (column: string, i: number): LogStreamName =>
  column.charCodeAt(i) === 111 ? "stdout" : "stderr";
