import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  ComputeNodeLostError,
  ERROR_CODE_LIST,
  ERROR_CODES,
  errorFromCode,
  isErrorCode,
  isWireErrorCode,
  LOCAL_ERROR_CODES,
  ResumeExhaustedError,
  TailwireError,
  WIRE_ERROR_CODES,
} from "./errors.js";

const protocolDoc = readFileSync(new URL("../PROTOCOL.md", import.meta.url), "utf8");

/** The rows of the table between `<!-- NAME:start -->` and `<!-- NAME:end -->`. */
function tableRows(name: string): string[][] {
  const start = protocolDoc.indexOf(`<!-- ${name}:start -->`);
  const end = protocolDoc.indexOf(`<!-- ${name}:end -->`);
  expect(start, `PROTOCOL.md has no ${name}`).toBeGreaterThan(0);
  return protocolDoc
    .slice(start, end)
    .split("\n")
    .map((line) => line.split("|").map((cell) => cell.trim()))
    .filter((row) => row[1]?.startsWith("`"));
}

describe("error code table", () => {
  it("keeps wire codes and local codes in separate tables, as PROTOCOL.md does", () => {
    const wire = Object.keys(WIRE_ERROR_CODES);
    const local = Object.keys(LOCAL_ERROR_CODES);
    expect(wire.filter((code) => local.includes(code))).toEqual([]);
    expect(tableRows("error-table").map((row) => row[1])).toEqual(wire.map((c) => `\`${c}\``));
    expect(tableRows("local-error-table").map((row) => row[1])).toEqual(
      local.map((c) => `\`${c}\``),
    );
    expect(isWireErrorCode("GOING_AWAY")).toBe(true);
    expect(isWireErrorCode("COMPUTE_NODE_LOST")).toBe(false);
    expect(isErrorCode("COMPUTE_NODE_LOST")).toBe(true);
  });

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

  it("has one ResumeExhaustedError, which errorFromCode returns, carrying lastSeq", () => {
    const fromCode = errorFromCode("RESUME_EXHAUSTED", "gave up");
    expect(fromCode).toBeInstanceOf(ResumeExhaustedError);
    expect((fromCode as ResumeExhaustedError).lastSeq).toBeUndefined();
    const cause = new Error("last failure");
    const error = new ResumeExhaustedError("gave up", { lastSeq: 41, attempts: 5, cause });
    expect(error.lastSeq).toBe(41);
    expect(error.attempts).toBe(5);
    expect(error.cause).toBe(cause);
    expect(error.code).toBe("RESUME_EXHAUSTED");
    expect(error.retryable).toBe(false);
  });

  it("recognises only codes of the table", () => {
    expect(isErrorCode("INTERNAL")).toBe(true);
    expect(isErrorCode("internal")).toBe(false);
    expect(isErrorCode("toString")).toBe(false);
    expect(isErrorCode(42)).toBe(false);
  });
});
