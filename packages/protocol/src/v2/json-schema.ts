import { schemasV2 } from "./schemas.js";

/**
 * The JSON Schema document of v2, for implementations in other languages. It is committed as
 * schema/v2.json; a test fails when the committed file drifts from the TypeBox definitions.
 */
export function jsonSchemaV2(): object {
  // JSON round trip drops TypeBox's symbol-keyed metadata, leaving plain JSON Schema.
  const definitions = JSON.parse(JSON.stringify(schemasV2)) as Record<string, unknown>;
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    $id: "https://tailwire.dev/schema/ExecutionLogs/v2.json",
    title: "tailwire ExecutionLogs/v2",
    description:
      "Messages of the tailwire log streaming protocol, version 2: identities in subjects. See PROTOCOL.md.",
    definitions,
  };
}
