// Unit tests of the kit's parts that need no server: the rule catalogue, the report, the seeds
// and their loader, the frame packer and the command line's usage errors.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileLogStore, type LogStore, MemoryLogStore } from "@tailwire/compute";
import { decodeFrame, encodeDataFrame, MessageType } from "@tailwire/protocol";
import { describe, expect, it } from "vitest";
import {
  formatReport,
  loadSeeds,
  main,
  RULES,
  readSeed,
  SEED_NAMES,
  seedEntries,
} from "./index.js";
import { Recorder } from "./report.js";
import { packFrames } from "./requester/frame-packer.js";

const protocolMd = readFileSync(new URL("../../protocol/PROTOCOL.md", import.meta.url), "utf8");
const headings = new Set(
  protocolMd
    .split("\n")
    .filter((l) => l.startsWith("#"))
    .map((l) => l.replace(/^#+\s*/, "")),
);

describe("rule catalogue", () => {
  it("has unique ids, each naming a section PROTOCOL.md has", () => {
    expect(new Set(RULES.map((r) => r.id)).size).toBe(RULES.length);
    for (const rule of RULES) {
      expect(headings.has(rule.section), `${rule.id}: section "${rule.section}"`).toBe(true);
      expect(rule.id.startsWith(rule.mode === "compute" ? "C-" : "R-"), rule.id).toBe(true);
    }
  });
});

describe("README", () => {
  it("lists every rule with what it checks", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    for (const rule of RULES) {
      const row = readme.split("\n").find((l) => l.startsWith(`| \`${rule.id}\``));
      expect(row, rule.id).toBeDefined();
      // The row says what the rule checks, as the catalogue does (pipes escaped in the table).
      expect(row!.replaceAll("\\|", "|"), rule.id).toContain(rule.title);
    }
  });
});

describe("report", () => {
  it("fails a rule on any failed check or when it was never checked, one line per rule", () => {
    const r = new Recorder("compute");
    r.pass("C-DECODE", "fine");
    r.pass("C-END", "fine");
    r.fail("C-END", "End lastSeq 3, expected 4");
    r.fail("C-END", "another");
    const report = r.report("node-x");
    const byId = new Map(report.results.map((x) => [x.id, x]));
    expect(byId.get("C-DECODE")).toMatchObject({ outcome: "PASS", detail: "fine" });
    expect(byId.get("C-END")).toMatchObject({
      outcome: "FAIL",
      detail: "End lastSeq 3, expected 4 (and 1 more)",
    });
    expect(byId.get("C-CANCEL")?.outcome).toBe("FAIL");
    expect(byId.get("C-CANCEL")?.detail).toMatch(/^not exercised/);
    expect(byId.get("C-FOLLOW")?.outcome).toBe("N/A");
    expect(report.ok).toBe(false);
    const lines = formatReport(report).split("\n");
    expect(lines).toContain(
      "FAIL C-END [A stream, from request to end] — End lastSeq 3, expected 4 (and 1 more)",
    );
    expect(lines).toHaveLength(report.results.length + 1);
    expect(() => r.check("C-NOPE", true, "")).toThrow(/unknown compute rule/);
  });
});

describe("seeds", () => {
  it.each(["MemoryLogStore", "FileLogStore"])(
    "load into a %s with seqs 1..N, times and exit codes",
    async (kind) => {
      const dir = mkdtempSync(join(tmpdir(), "seeds-"));
      const store: LogStore =
        kind === "MemoryLogStore" ? new MemoryLogStore() : new FileLogStore({ dir });
      await loadSeeds(store);
      for (const name of SEED_NAMES) {
        const seed = readSeed(name);
        const reader = await store.open(seed.executionId, {
          follow: false,
          signal: new AbortController().signal,
        });
        const got = [];
        for await (const batch of reader) {
          // Seeds are small and complete: nothing is removed, so every item is a batch.
          if (!Array.isArray(batch)) throw new Error("a seed read gave a removal notice");
          got.push(...batch);
        }
        expect(got).toEqual(seedEntries(seed));
        expect(reader.exitCode).toBe(seed.exitCode);
        await reader.close();
      }
      if (store instanceof FileLogStore) await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  );

  it("hold what the rules need: a newline entry, a 100 KB multi-byte line, more than any window", () => {
    expect(readSeed("basic").entries.some((e) => e.line.includes("\n"))).toBe(true);
    const long = readSeed("long-line").entries[1]!.line;
    expect(Buffer.byteLength(long)).toBeGreaterThan(100_000);
    expect(Buffer.byteLength(long)).toBeGreaterThan(long.length); // multi-byte
    const credit = readSeed("credit").entries.reduce(
      (n, e) => n + Buffer.byteLength(e.line) + 1,
      0,
    );
    expect(credit).toBeGreaterThan(7 * 32768);
  });
});

describe("frame packer (the requester mode's compute node)", () => {
  it.each([512, 2048, 32768])(
    "cuts frames of at most %i bytes, lines at code points, rejoining exactly",
    (max) => {
      const entries = seedEntries(readSeed("long-line")).concat(
        seedEntries(readSeed("basic")).map((e) => ({ ...e, seq: e.seq + 3 })),
      );
      const frames = packFrames("b3JhbmdlLXN0cmVhbS1pZA", entries, max);
      const lines: string[] = [];
      let open = false;
      for (const [i, frame] of frames.entries()) {
        const bytes = encodeDataFrame(
          "b3JhbmdlLXN0cmVhbS1pZA",
          i + 1,
          frame.entries,
          frame.partial,
        );
        expect(bytes.byteLength).toBeLessThanOrEqual(max);
        const decoded = decodeFrame(bytes); // strict UTF-8: a cut inside a code point would fail
        expect(decoded.type).toBe(MessageType.Data);
        frame.entries.forEach((entry, k) => {
          if (k === 0 && open) lines[lines.length - 1] += entry.line;
          else lines.push(entry.line);
        });
        open = frame.partial;
      }
      expect(lines).toEqual(entries.map((e) => e.line));
    },
  );
});

describe("command line", () => {
  it("answers a usage error with exit code 2", async () => {
    const out: string[] = [];
    expect(await main(["nonsense"], (l) => out.push(l))).toBe(2);
    expect(await main(["compute"], (l) => out.push(l))).toBe(2);
    expect(await main(["compute", "--node-id", "x", "--only", "nope"], (l) => out.push(l))).toBe(2);
    expect(out.join("\n")).toMatch(/unknown scenario nope/);
    expect(await main(["seeds"], (l) => out.push(l))).toBe(0);
    expect(out.join("\n")).toMatch(/long-line: conformance-long-line \(3 lines, exit code 0\)/);
  });
});
