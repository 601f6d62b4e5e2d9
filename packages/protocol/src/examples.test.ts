import { describe, expect, it } from "vitest";
import { example } from "../examples/decode-a-frame.js";

describe("README example", () => {
  it("runs and shows a decode and a typed rejection", () => {
    const out = example();
    expect(out[0]).toBe("request subject: node.compute.node-3.ExecutionLogs/v1");
    expect(out).toContain("decoded 1 entry: hello");
    expect(out).toContain("rejected: UNSUPPORTED_VERSION");
  });
});
