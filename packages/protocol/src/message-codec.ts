// The machinery every wire version's codec is made of: validators compiled once per message
// type, a decoder that accepts only the types expected on a subject (a type of this version
// that does not belong there is BAD_REQUEST, any other UNSUPPORTED_VERSION), and a validating
// encoder. v1 and v2 differ only in their schemas and names (src/v1/codec.ts, src/v2/codec.ts).
import type { TSchema } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { BadRequestError, UnsupportedVersionError } from "./errors.js";
import { type ColumnFrame, checkColumns, parseFrame, parseJson, typeOf } from "./wire-parse.js";

/** Byte bounds per kind of message, far above any valid message, far below a server's max_payload. */
export const MAX_MESSAGE_BYTES = {
  request: 16 * 1024,
  control: 256 * 1024,
  heartbeat: 1024 * 1024,
  locate: 4 * 1024,
  located: 256 * 1024,
  frame: 64 * 1024 * 1024,
} as const;

export interface MessageCodecSpec<Name extends string> {
  /** The schema of every message type of the version. */
  schemas: Record<Name, TSchema>;
  /** The data frame's type: its columns are checked, its body form parsed. */
  dataType: Name;
  /** The removal notice's type: its range is checked. */
  noticeType: Name;
  /** Further checks of a type, beyond its schema. */
  checks?: Partial<Record<Name, (value: unknown, type: Name) => void>>;
}

/** `M`: the messages as written; `D`: as decoded (a data frame gains its decoded times). */
export interface MessageCodec<Name extends string, M extends { type: Name }, D = M> {
  validate<T extends M | D>(type: Name, value: unknown): T;
  /** Decodes a message that must be one of `expected`; `framed`: may be a data frame's form. */
  decodeOneOf<T extends D>(
    bytes: Uint8Array,
    expected: readonly Name[],
    maxBytes: number,
    framed?: boolean,
  ): T;
  encode(message: M): Uint8Array;
}

const textEncoder = new TextEncoder();

export function messageCodec<Name extends string, M extends { type: Name }, D = M>(
  spec: MessageCodecSpec<Name>,
): MessageCodec<Name, M, D> {
  // Compiled once at load: decoding a frame must stay cheap on the hot path.
  const validators = new Map(
    (Object.entries(spec.schemas) as [Name, TSchema][]).map(([type, schema]) => [
      type,
      TypeCompiler.Compile(schema),
    ]),
  );
  const dataType: string = spec.dataType;
  const parseData = (bytes: Uint8Array, maxBytes: number): unknown =>
    parseFrame(bytes, maxBytes, dataType);

  function validate<T extends M | D>(type: Name, value: unknown): T {
    const validator = validators.get(type);
    if (validator === undefined) throw new TypeError(`no schema for ${type}`);
    if (!validator.Check(value)) {
      const first = validator.Errors(value).First();
      const where = first?.path ? first.path : "/";
      throw new BadRequestError(
        `invalid ${type}: ${where}: ${first?.message ?? "does not match the schema"}`,
      );
    }
    if (type === spec.dataType) checkColumns(value as ColumnFrame, type);
    else if (type === spec.noticeType) {
      const { fromSeq, toSeq } = value as { fromSeq: number; toSeq: number };
      if (toSeq < fromSeq) {
        throw new BadRequestError(`invalid ${type}: /toSeq: ${toSeq} is below fromSeq ${fromSeq}`);
      }
    }
    spec.checks?.[type]?.(value, type);
    return value as T;
  }

  return {
    validate,
    decodeOneOf<T extends D>(
      bytes: Uint8Array,
      expected: readonly Name[],
      maxBytes: number,
      framed = false,
    ): T {
      const value = (framed ? parseData : parseJson)(bytes, maxBytes);
      const type = typeOf(value);
      if (!(expected as readonly string[]).includes(type)) {
        if (validators.has(type as Name)) {
          throw new BadRequestError(
            `unexpected message type ${type}; expected ${expected.join(" or ")}`,
          );
        }
        throw new UnsupportedVersionError(
          `unsupported message type ${JSON.stringify(type.slice(0, 100))}; this node speaks ${expected.join(", ")}`,
        );
      }
      return validate<T>(type as Name, value);
    },
    encode(message: M): Uint8Array {
      if (message.type !== spec.dataType) {
        validate(message.type, message);
        return textEncoder.encode(JSON.stringify(message));
      }
      // A decoded data frame also carries its decoded times (`time`): they do not go on the
      // wire, and the check (which decodes timeDelta again, into `time`) runs on a copy.
      const { time: _decoded, ...wire } = message as M & { time?: unknown };
      validate(message.type, { ...wire });
      return textEncoder.encode(JSON.stringify(wire));
    },
  };
}
