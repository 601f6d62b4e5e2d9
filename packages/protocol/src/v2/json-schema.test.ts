import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { jsonSchemaV2 } from "./json-schema.js";

const file = new URL("../../schema/v2.json", import.meta.url);
const generated = `${JSON.stringify(jsonSchemaV2(), null, 2)}\n`;

describe("committed JSON Schema of v2", () => {
  // Regenerate with: UPDATE_SCHEMA=1 pnpm vitest run packages/protocol/src/v2/json-schema.test.ts
  if (process.env.UPDATE_SCHEMA === "1") writeFileSync(file, generated);

  it("matches the TypeBox definitions (regenerate with UPDATE_SCHEMA=1 if the change is intended)", () => {
    expect(readFileSync(file, "utf8")).toBe(generated);
  });

  it("defines every v2 message with its discriminator and no identity field", () => {
    const { definitions } = JSON.parse(generated) as {
      definitions: Record<string, { properties?: Record<string, { const?: string }> }>;
    };
    const messages = Object.entries(definitions).filter(([name]) => name.endsWith("V2"));
    // The 11 message kinds and the union of the five stream frames.
    expect(messages.length).toBe(12);
    for (const [name, schema] of messages) {
      if (name === "StreamFrameV2") continue;
      expect(schema.properties?.type?.const, name).toMatch(/^ExecutionLogs\.\w+\/v2$/);
      for (const field of ["sourcePeerId", "targetPeerId", "computeNodeId", "heartbeatSubject"]) {
        expect(schema.properties?.[field], `${name}.${field}`).toBeUndefined();
      }
    }
  });
});
