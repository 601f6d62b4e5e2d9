// The v1 codec: encoding and validating decoding of every message, with byte bounds per kind.
import { Buffer, isAscii, isUtf8 } from "node:buffer";
import type { TSchema } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import {
  BadRequestError,
  PayloadTooLargeError,
  type TailwireError,
  UnsupportedVersionError,
} from "../errors.js";
import {
  AcceptedFrame,
  ControlMessage,
  DataFrame,
  type DecodedDataFrame,
  type DecodedMessageV1,
  EndFrame,
  ErrorFrame,
  HeartbeatRequest,
  HeartbeatResponse,
  LocateAnswer,
  LocateRequest,
  LogRequest,
  MessageType,
  type MessageTypeName,
  type MessageV1,
  NoticeFrame,
  type StreamFrame,
} from "./schemas.js";
import { decodeTimeDeltas } from "./time-deltas.js";

export { encodeDataFrame } from "./data-frame-encoder.js";
export { dataFrameEntries, dataFrameSeq } from "./frame-entries.js";

// Validators are compiled once at load: decoding a frame must stay cheap on the hot path.
const validators = {
  [MessageType.Request]: TypeCompiler.Compile(LogRequest),
  [MessageType.Accepted]: TypeCompiler.Compile(AcceptedFrame),
  [MessageType.Data]: TypeCompiler.Compile(DataFrame),
  [MessageType.End]: TypeCompiler.Compile(EndFrame),
  [MessageType.Error]: TypeCompiler.Compile(ErrorFrame),
  [MessageType.Control]: TypeCompiler.Compile(ControlMessage),
  [MessageType.Heartbeat]: TypeCompiler.Compile(HeartbeatRequest),
  [MessageType.HeartbeatResponse]: TypeCompiler.Compile(HeartbeatResponse),
  [MessageType.Locate]: TypeCompiler.Compile(LocateRequest),
  [MessageType.Located]: TypeCompiler.Compile(LocateAnswer),
  [MessageType.Notice]: TypeCompiler.Compile(NoticeFrame),
} as const satisfies Record<MessageTypeName, ReturnType<typeof TypeCompiler.Compile<TSchema>>>;

const KNOWN_TYPES = new Set<string>(Object.values(MessageType));

/** Byte bounds per kind of message, far above any valid message, far below a server's max_payload. */
export const MAX_MESSAGE_BYTES = {
  request: 16 * 1024,
  control: 256 * 1024,
  heartbeat: 1024 * 1024,
  locate: 4 * 1024,
  located: 256 * 1024,
  frame: 64 * 1024 * 1024,
} as const;

const textEncoder = new TextEncoder();

function checkSize(bytes: Uint8Array, maxBytes: number): void {
  if (bytes.byteLength > maxBytes) {
    throw new PayloadTooLargeError(
      `message of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes} bytes`,
    );
  }
}

/**
 * Strict UTF-8 decoding (invalid input is an error, not U+FFFD). Node checks validity and ASCII
 * with SIMD, and copies ASCII (most log text) straight into a one-byte string: cheaper than a
 * fatal TextDecoder on a frame's body (measured in BENCHMARKS.md, "stream"). A BOM is kept: it is part of the first line.
 */
function utf8(bytes: Uint8Array): string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isAscii(buffer)) return buffer.toString("latin1");
  if (!isUtf8(buffer)) throw new BadRequestError("message is not valid UTF-8");
  return buffer.toString("utf8");
}

function parseJson(bytes: Uint8Array, maxBytes: number): unknown {
  checkSize(bytes, maxBytes);
  const text = utf8(bytes);
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequestError("message is not valid JSON");
  }
}

const NEWLINE = 0x0a;

/**
 * A frame may be a JSON object followed by a newline and a body: the data frame's lines, joined
 * by newlines. Compact JSON never contains a raw newline, so the first one ends the object. Any
 * other shape (no newline, pretty-printed JSON, a body after something that is not a data frame
 * without `line`) is parsed as one JSON document, as every other message is.
 */
function parseFrame(bytes: Uint8Array, maxBytes: number): unknown {
  checkSize(bytes, maxBytes);
  const end = bytes.indexOf(NEWLINE);
  if (end > 0) {
    let head: unknown;
    try {
      head = JSON.parse(utf8(bytes.subarray(0, end)));
    } catch {
      head = undefined;
    }
    const frame = head as { type?: unknown; line?: unknown } | undefined;
    if (
      typeof frame === "object" &&
      frame !== null &&
      frame.type === MessageType.Data &&
      frame.line === undefined
    ) {
      frame.line = utf8(bytes.subarray(end + 1)).split("\n");
      return frame;
    }
  }
  return parseJson(bytes, maxBytes);
}

function typeOf(value: unknown): string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new BadRequestError("message is not a JSON object");
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== "string") {
    throw new BadRequestError("message has no string 'type' field");
  }
  return type;
}

function validate<T extends MessageV1 | DecodedMessageV1>(
  type: MessageTypeName,
  value: unknown,
): T {
  const validator = validators[type];
  if (validator.Check(value)) {
    if (type === MessageType.Data) checkColumns(value as DecodedDataFrame);
    else if (type === MessageType.Notice) {
      const { fromSeq, toSeq } = value as NoticeFrame;
      if (toSeq < fromSeq) {
        throw new BadRequestError(`invalid ${type}: /toSeq: ${toSeq} is below fromSeq ${fromSeq}`);
      }
    }
    return value as T;
  }
  const first = validator.Errors(value).First();
  const where = first?.path ? first.path : "/";
  throw new BadRequestError(
    `invalid ${type}: ${where}: ${first?.message ?? "does not match the schema"}`,
  );
}

// What the schema cannot say: exactly one form of seq and of the lines, the columns line up, seq
// increases strictly within the frame (and stays a safe integer) and timeDelta holds one delta
// per entry, each giving a valid epoch time. The decoded times go in `time`.
function checkColumns(frame: DecodedDataFrame): void {
  const count = frame.stream.length;
  if (frame.line === undefined) {
    throw new BadRequestError(
      `invalid ${MessageType.Data}: no lines (neither a line column nor a body)`,
    );
  }
  const seq = frame.seq;
  if ((seq === undefined) === (frame.firstSeq === undefined)) {
    throw new BadRequestError(`invalid ${MessageType.Data}: needs exactly one of seq and firstSeq`);
  }
  if (seq !== undefined) {
    if (seq.length !== count) {
      throw new BadRequestError(
        `invalid ${MessageType.Data}: columns seq and stream differ in length`,
      );
    }
    for (let i = 1; i < count; i++) {
      if ((seq[i] as number) <= (seq[i - 1] as number)) {
        throw new BadRequestError(
          `invalid ${MessageType.Data}: /seq/${i}: sequence numbers must increase`,
        );
      }
    }
  } else if ((frame.firstSeq as number) > Number.MAX_SAFE_INTEGER - (count - 1)) {
    // Not `firstSeq + count - 1 > MAX`: a sum past 2^53 can round back down into range.
    throw new BadRequestError(
      `invalid ${MessageType.Data}: /firstSeq: the frame's last seq is out of range`,
    );
  }
  if (frame.line.length !== count) {
    throw new BadRequestError(
      `invalid ${MessageType.Data}: columns stream and line differ in length`,
    );
  }
  const time = decodeTimeDeltas(frame.timeDelta, frame.timeBase, count);
  if (typeof time === "string") {
    throw new BadRequestError(`invalid ${MessageType.Data}: /timeDelta: ${time}`);
  }
  frame.time = time;
}

/**
 * Decodes a message that must be one of `expected`. A type this version does not define
 * (another version, or a future message) is UNSUPPORTED_VERSION; a known v1 type that does not
 * belong on this subject is BAD_REQUEST.
 */
function decodeOneOf<T extends DecodedMessageV1>(
  bytes: Uint8Array,
  expected: readonly MessageTypeName[],
  maxBytes: number,
  parse: (bytes: Uint8Array, maxBytes: number) => unknown = parseJson,
): T {
  const value = parse(bytes, maxBytes);
  const type = typeOf(value);
  if (!(expected as readonly string[]).includes(type)) {
    if (KNOWN_TYPES.has(type)) {
      throw new BadRequestError(
        `unexpected message type ${type}; expected ${expected.join(" or ")}`,
      );
    }
    throw new UnsupportedVersionError(
      `unsupported message type ${JSON.stringify(type.slice(0, 100))}; this node speaks ${expected.join(", ")}`,
    );
  }
  return validate<T>(type as MessageTypeName, value);
}

/** Requests arrive on node.compute.<id>.ExecutionLogs/v1. */
export const decodeRequest = (bytes: Uint8Array): LogRequest =>
  decodeOneOf(bytes, [MessageType.Request], MAX_MESSAGE_BYTES.request);

export const decodeControl = (bytes: Uint8Array): ControlMessage =>
  decodeOneOf(bytes, [MessageType.Control], MAX_MESSAGE_BYTES.control);

export const decodeHeartbeat = (bytes: Uint8Array): HeartbeatRequest =>
  decodeOneOf(bytes, [MessageType.Heartbeat], MAX_MESSAGE_BYTES.heartbeat);

export const decodeHeartbeatResponse = (bytes: Uint8Array): HeartbeatResponse =>
  decodeOneOf(bytes, [MessageType.HeartbeatResponse], MAX_MESSAGE_BYTES.heartbeat);

/** Locate requests arrive on node.locate.ExecutionLocate/v1.<kind>.<key>; exactly one id. */
export function decodeLocate(bytes: Uint8Array): LocateRequest {
  const request = decodeOneOf<LocateRequest>(bytes, [MessageType.Locate], MAX_MESSAGE_BYTES.locate);
  if ((request.executionId === undefined) === (request.jobId === undefined)) {
    throw new BadRequestError(
      `invalid ${MessageType.Locate}: needs exactly one of executionId and jobId`,
    );
  }
  return request;
}

/** Answers to a locate arrive on the requester's `_TW.<id>.l.<lookupId>`. */
export const decodeLocateAnswer = (bytes: Uint8Array): LocateAnswer =>
  decodeOneOf(bytes, [MessageType.Located], MAX_MESSAGE_BYTES.located);

const FRAME_TYPES = [
  MessageType.Accepted,
  MessageType.Data,
  MessageType.End,
  MessageType.Error,
  MessageType.Notice,
] as const;

/** Frames arrive on the requester's stream inbox. */
export const decodeFrame = (bytes: Uint8Array): StreamFrame =>
  decodeOneOf(bytes, FRAME_TYPES, MAX_MESSAGE_BYTES.frame, parseFrame);

/** Decodes any v1 message, whatever its subject (tools, debugging, tests). */
export const decodeMessage = (bytes: Uint8Array): DecodedMessageV1 =>
  decodeOneOf(bytes, Object.values(MessageType), MAX_MESSAGE_BYTES.frame, parseFrame);

/** Outcome form of the decoders, for callers that prefer a value to a throw. */
export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: TailwireError };

export function tryDecode<T>(decode: (bytes: Uint8Array) => T, bytes: Uint8Array): DecodeResult<T> {
  try {
    return { ok: true, value: decode(bytes) };
  } catch (error) {
    return { ok: false, error: error as TailwireError };
  }
}

/**
 * Encodes a message after validating it: a bug that would put an invalid message on the wire
 * fails here, at its source. Data frames take the fast path below instead.
 */
export function encode(message: MessageV1): Uint8Array {
  if (message.type !== MessageType.Data) {
    validate(message.type, message);
    return textEncoder.encode(JSON.stringify(message));
  }
  // A DecodedDataFrame is also a WireDataFrame to the type checker, and forwarding one is
  // legitimate: its decoded times (`time`) are not a wire field and must not go out. The check
  // (which decodes timeDelta again, into `time`) runs on a copy.
  const { time: _decoded, ...wire } = message as DecodedDataFrame;
  validate(message.type, { ...wire });
  return textEncoder.encode(JSON.stringify(wire));
}
