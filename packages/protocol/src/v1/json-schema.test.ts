import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { jsonSchemaV1 } from "./json-schema.js";

const file = new URL("../../schema/v1.json", import.meta.url);
const generated = `${JSON.stringify(jsonSchemaV1(), null, 2)}\n`;

describe("committed JSON Schema of v1", () => {
  // Regenerate with: UPDATE_SCHEMA=1 pnpm vitest run packages/protocol/src/v1/json-schema.test.ts
  if (process.env.UPDATE_SCHEMA === "1") writeFileSync(file, generated);

  it("matches the TypeBox definitions (regenerate with UPDATE_SCHEMA=1 if the change is intended)", () => {
    expect(readFileSync(file, "utf8")).toBe(generated);
  });

  it("defines every message with a type discriminator", () => {
    const { definitions } = JSON.parse(generated) as {
      definitions: Record<string, { properties?: { type?: { const?: string } } }>;
    };
    for (const name of [
      "LogRequest",
      "AcceptedFrame",
      "DataFrame",
      "EndFrame",
      "ErrorFrame",
      "ControlMessage",
      "HeartbeatRequest",
      "HeartbeatResponse",
      "NoticeFrame",
    ]) {
      expect(definitions[name]?.properties?.type?.const).toMatch(/^ExecutionLogs\.\w+\/v1$/);
    }
  });
});
