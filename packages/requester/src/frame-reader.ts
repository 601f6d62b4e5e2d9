// Frame order for one attempt: frame numbers, what each kind of frame means for the stream,
// and (through protocol's EntryJoiner) data frames as whole lines.
import {
  type AcceptedFrame,
  type EndFrame,
  EntryJoiner,
  errorFromCode,
  isErrorCode,
  type LogEntry,
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
 * Checks the order of one stream's frames (numbers 0, 1, 2, ... and seq never going back) and
 * joins the parts of split lines back into whole lines (EntryJoiner). Throws SequenceGapError for
 * a missing or repeated frame number and ProtocolError for any other inconsistency; the stream is
 * unusable afterwards.
 *
 * It holds all the in-flight state of one request, so a resume starts from a fresh reader.
 */
export class FrameReader {
  readonly streamId: string;
  readonly computeNodeId: string;
  #nextN = 0;
  /** Seq order and split lines; starts after the Accepted frame's afterSeq. */
  readonly #entries = new EntryJoiner();

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
        this.#entries.skipTo(frame.afterSeq);
        return { kind: "accepted", frame };
      case "ExecutionLogs.Data/v1":
        this.#checkNumber(frame.n);
        return { kind: "data", entries: this.#entries.entries(frame) };
      case "ExecutionLogs.End/v1": {
        this.#checkNumber(frame.n);
        const { partialSeq, lastSeq } = this.#entries;
        if (partialSeq !== undefined)
          throw new ProtocolError(`stream ended inside the partial line ${partialSeq}`);
        if (lastSeq !== undefined && frame.lastSeq < lastSeq) {
          throw new ProtocolError(
            `End says lastSeq ${frame.lastSeq}, but seq ${lastSeq} was already sent`,
          );
        }
        return { kind: "end", frame };
      }
      case "ExecutionLogs.Notice/v1": {
        this.#checkNumber(frame.n);
        const { partialSeq, lastSeq } = this.#entries;
        if (partialSeq !== undefined) {
          throw new ProtocolError(`a notice arrived inside the partial line ${partialSeq}`);
        }
        if (lastSeq !== undefined && frame.fromSeq <= lastSeq) {
          throw new ProtocolError(
            `notice of removed lines ${frame.fromSeq}..${frame.toSeq}, but seq ${lastSeq} was already sent`,
          );
        }
        this.#entries.skipTo(frame.toSeq);
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
}
