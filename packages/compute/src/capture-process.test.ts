import { readFileSync } from "node:fs";
import { mkdtemp, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LogEntry } from "@tailwire/protocol";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { captureProcess } from "./capture-process.js";
import type { LogReader, LogReadOptions } from "./log-source.js";
import { FileLogStore } from "./stores/file-log-store.js";

let dir: string;
let store: FileLogStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "tailwire-capture-"));
  store = new FileLogStore({ dir, pollIntervalMs: 20 });
});

afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const opts = (options: Partial<LogReadOptions> = {}): LogReadOptions => ({
  follow: false,
  signal: new AbortController().signal,
  ...options,
});

async function readAll(reader: LogReader): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const batch of reader) if (Array.isArray(batch)) out.push(...batch);
  return out;
}

const node = (script: string) => [process.execPath, ["-e", script]] as const;

describe("captureProcess", () => {
  it("captures stdout and stderr line by line, in order, with the exit code", async () => {
    // Lines split across writes (and chunks), \r\n endings, a multi-byte character split in two
    // writes, an empty line, and a last line without a newline. The writes are chained through
    // callbacks so every piece reaches the pipe separately and in this order.
    const [cmd, args] = node(`
      const euro = Buffer.from("€");
      const steps = [
        [process.stdout, "out one\\nout t"],
        [process.stdout, "wo\\r\\n"],
        [process.stderr, "err one\\n"],
        [process.stdout, Buffer.concat([Buffer.from("price "), euro.subarray(0, 1)])],
        [process.stdout, Buffer.concat([euro.subarray(1), Buffer.from("5\\n\\n")])],
        [process.stderr, "err without newline"],
        [process.stdout, "out without newline"],
      ];
      const next = (i) => {
        if (i === steps.length) { process.exitCode = 3; return; }
        const [stream, data] = steps[i];
        stream.write(data, () => setTimeout(() => next(i + 1), 5));
      };
      next(0);`);
    const result = await captureProcess(store, "cap-1", cmd, [...args]);
    expect(result).toEqual({ exitCode: 3, signal: null });

    const reader = await store.open("cap-1", opts());
    const entries = await readAll(reader);
    expect(reader.exitCode).toBe(3);
    // Within a stream the order is the child's; across the two pipes it is arrival order.
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const lines = (stream: string) => entries.filter((e) => e.stream === stream).map((e) => e.line);
    expect(lines("stdout")).toEqual(["out one", "out two", "price €5", "", "out without newline"]);
    expect(lines("stderr")).toEqual(["err one", "err without newline"]);
    for (const e of entries) expect(Math.abs(e.time - Date.now())).toBeLessThan(60_000);
    expect(JSON.parse(readFileSync(join(dir, "cap-1.exit"), "utf8"))).toEqual({ exitCode: 3 });
  });

  it("captures a large output completely and in order", async () => {
    const [cmd, args] = node(`
      let s = "";
      for (let i = 1; i <= 50000; i++) s += "line " + i + "\\n";
      process.stdout.write(s);`);
    const result = await captureProcess(store, "cap-big", cmd, [...args]);
    expect(result.exitCode).toBe(0);
    const entries = await readAll(await store.open("cap-big", opts()));
    expect(entries).toHaveLength(50_000);
    expect(entries.every((e, i) => e.seq === i + 1 && e.line === `line ${i + 1}`)).toBe(true);
  });

  it("passes env and cwd to the child", async () => {
    const cwd = await realpath(dir);
    const [cmd, args] = node(`console.log(process.env.CAPTURE_TEST + " " + process.cwd())`);
    await captureProcess(store, "cap-env", cmd, [...args], {
      env: { ...process.env, CAPTURE_TEST: "hello" },
      cwd,
    });
    const entries = await readAll(await store.open("cap-env", opts()));
    expect(entries.map((e) => e.line)).toEqual([`hello ${cwd}`]);
  });

  it("completion ends a follow that started before the process", async () => {
    await store.create("cap-follow");
    const reader = await store.open("cap-follow", opts({ follow: true, tail: 0 }));
    const seen: LogEntry[] = [];
    const done = (async () => {
      for await (const batch of reader) if (Array.isArray(batch)) seen.push(...batch);
    })();
    const [cmd, args] = node(
      `console.log("a"); console.error("b"); console.log("c"); process.exit(0);`,
    );
    await captureProcess(store, "cap-follow", cmd, [...args]);
    await done;
    expect(seen.map((e) => e.line).sort()).toEqual(["a", "b", "c"]);
    expect(seen.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(reader.exitCode).toBe(0);
    expect(reader.position).toBe(3);
  });

  it("aborting kills the child and still records its output and completion", async () => {
    const ac = new AbortController();
    const [cmd, args] = node(`console.log("started"); setInterval(() => {}, 1000);`);
    const running = captureProcess(store, "cap-abort", cmd, [...args], { signal: ac.signal });
    await vi.waitFor(
      async () => {
        const entries = await readAll(await store.open("cap-abort", opts()));
        expect(entries.map((e) => e.line)).toEqual(["started"]);
      },
      { timeout: 10_000 },
    );
    ac.abort();
    expect(await running).toEqual({ exitCode: null, signal: "SIGTERM" });
    const reader = await store.open("cap-abort", opts({ follow: true }));
    expect((await readAll(reader)).map((e) => e.line)).toEqual(["started"]);
    expect(reader.exitCode).toBeNull();
  });

  it("a command that cannot start completes the execution and rejects", async () => {
    await expect(
      captureProcess(store, "cap-missing", join(dir, "no-such-command"), []),
    ).rejects.toMatchObject({ code: "ENOENT" });
    const reader = await store.open("cap-missing", opts({ follow: true }));
    expect(await readAll(reader)).toEqual([]);
    expect(reader.exitCode).toBeNull();
  });

  it("rejects an invalid execution id before spawning anything", async () => {
    await expect(
      captureProcess(store, "../escape", process.execPath, ["-e", ""]),
    ).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
  });
});
