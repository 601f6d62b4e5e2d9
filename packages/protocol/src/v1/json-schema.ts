// The JSON Schema of v1 (schema/v1.json), generated from the TypeBox schemas.
import { CompressedFrameHeader } from "./compression.js";
import { schemasV1 } from "./schemas.js";

/**
 * The JSON Schema document of v1, for implementations in other languages. It is committed as
 * schema/v1.json; a test fails when the committed file drifts from the TypeBox definitions.
 */
export function jsonSchemaV1(): object {
  // JSON round trip drops TypeBox's symbol-keyed metadata, leaving plain JSON Schema.
  // The compressed frame's header is the JSON before its binary body (PROTOCOL.md).
  const definitions = JSON.parse(JSON.stringify({ ...schemasV1, CompressedFrameHeader })) as Record<
    string,
    unknown
  >;
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    $id: "https://tailwire.dev/schema/ExecutionLogs/v1.json",
    title: "tailwire ExecutionLogs/v1",
    description: "Messages of the tailwire log streaming protocol, version 1. See PROTOCOL.md.",
    definitions,
  };
}
