import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  ComputeNodeLostError,
  ERROR_CODE_LIST,
  ERROR_CODES,
  errorFromCode,
  isErrorCode,
  TailwireError,
} from "./errors.js";

const protocolDoc = readFileSync(new URL("../PROTOCOL.md", import.meta.url), "utf8");

describe("error code table", () => {
  it.each(ERROR_CODE_LIST)("%s is documented in PROTOCOL.md with its description", (code) => {
    const cells = protocolDoc
      .split("\n")
      .map((line) => line.split("|").map((cell) => cell.trim()))
      .find((row) => row[1] === `\`${code}\``);
    expect(cells, `PROTOCOL.md has no table row for ${code}`).toBeDefined();
    expect(cells?.[2]).toBe(ERROR_CODES[code].retryable ? "yes" : "no");
    expect(cells?.[3]).toBe(ERROR_CODES[code].description);
  });

  it.each(ERROR_CODE_LIST)("%s has a class that carries the code", (code) => {
    const error = errorFromCode(code, "boom");
    expect(error).toBeInstanceOf(TailwireError);
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(ERROR_CODES[code].retryable);
    expect(error.name).toMatch(/Error$/);
    expect(error.name).not.toBe("TailwireError");
  });

  it("keeps subclasses distinguishable with instanceof", () => {
    const lost = errorFromCode("COMPUTE_NODE_LOST", "gone", { retryable: false });
    expect(lost).toBeInstanceOf(ComputeNodeLostError);
    expect(lost.name).toBe("ComputeNodeLostError");
    expect(lost.retryable).toBe(false);
  });

  it("recognises only codes of the table", () => {
    expect(isErrorCode("INTERNAL")).toBe(true);
    expect(isErrorCode("internal")).toBe(false);
    expect(isErrorCode("toString")).toBe(false);
    expect(isErrorCode(42)).toBe(false);
  });
});
