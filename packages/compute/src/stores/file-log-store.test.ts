import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import {
  appendFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BadRequestError,
  ExecutionNotFoundError,
  type LogEntry,
  type LogStreamName,
} from "@tailwire/protocol";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { LogReader, LogReadOptions } from "../log-source.js";
import { MAX_BATCH_ENTRIES } from "./file-log-reader.js";
import { FileLogStore } from "./file-log-store.js";

let root: string;
let dir: string;
const stores: FileLogStore[] = [];
const children: ChildProcess[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "tailwire-file-store-"));
  dir = join(root, "logs");
});

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await rm(root, { recursive: true, force: true });
});

function newStore(pollIntervalMs = 20): FileLogStore {
  const store = new FileLogStore({ dir, pollIntervalMs });
  stores.push(store);
  return store;
}

function opts(options: Partial<LogReadOptions> = {}): LogReadOptions {
  return { follow: false, signal: new AbortController().signal, ...options };
}

async function readAll(reader: LogReader): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const batch of reader) if (Array.isArray(batch)) out.push(...batch);
  return out;
}

/** Iterates a reader in the background, collecting what it yields. */
function collect(reader: LogReader) {
  const entries: LogEntry[] = [];
  const batches: number[] = [];
  let ended = false;
  const done = (async () => {
    for await (const batch of reader) {
      if (!Array.isArray(batch)) throw new Error(`unexpected notice ${JSON.stringify(batch)}`);
      batches.push(batch.length);
      entries.push(...batch);
    }
    ended = true;
  })();
  return {
    entries,
    batches,
    done,
    get ended() {
      return ended;
    },
  };
}

const T0 = 1_700_000_000_000;

/** Appends lines `line-1` ... with times T0 + seq*1000, alternating stdout/stderr when asked. */
async function fill(
  store: FileLogStore,
  id: string,
  count: number,
  stream: (i: number) => LogStreamName = () => "stdout",
): Promise<void> {
  await store.create(id);
  const pending: Promise<LogEntry>[] = [];
  for (let i = 1; i <= count; i++)
    pending.push(store.append(id, stream(i), `line-${i}`, T0 + i * 1000));
  await Promise.all(pending);
}

const alternate = (i: number): LogStreamName => (i % 2 === 0 ? "stderr" : "stdout");
const seqs = (entries: LogEntry[]) => entries.map((e) => e.seq);
const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("FileLogStore: on-disk format", () => {
  it("writes one LogEntry JSON object per line and an exit marker", async () => {
    const store = newStore();
    await store.create("exec-1");
    const a = await store.append("exec-1", "stdout", "hello", T0);
    const b = await store.append("exec-1", "stderr", 'with "quotes"\nand newline', T0 + 1);
    expect(a).toEqual({ seq: 1, stream: "stdout", time: T0, line: "hello" });
    expect(b.seq).toBe(2);
    await store.complete("exec-1", 7);
    const text = readFileSync(join(dir, "exec-1.log"), "utf8");
    expect(text).toBe(
      `{"seq":1,"stream":"stdout","time":${T0},"line":"hello"}\n` +
        `{"seq":2,"stream":"stderr","time":${T0 + 1},"line":"with \\"quotes\\"\\nand newline"}\n`,
    );
    expect(JSON.parse(readFileSync(join(dir, "exec-1.exit"), "utf8"))).toEqual({ exitCode: 7 });
    // No temporary marker files are left behind.
    expect(readdirSync(dir).sort()).toEqual(["exec-1.exit", "exec-1.log"]);
  });

  it("keeps seq order for concurrent appends and clamps times that go back", async () => {
    const store = newStore();
    const pending: Promise<LogEntry>[] = [];
    for (let i = 1; i <= 10_000; i++) {
      pending.push(
        store.append("exec-c", i % 3 === 0 ? "stderr" : "stdout", `l${i}`, T0 + (i % 7)),
      );
    }
    const entries = await Promise.all(pending);
    expect(seqs(entries)).toEqual(range(1, 10_000));
    expect(entries.map((e) => e.line)).toEqual(range(1, 10_000).map((i) => `l${i}`));
    for (let i = 1; i < entries.length; i++) {
      expect(entries[i]!.time).toBeGreaterThanOrEqual(entries[i - 1]!.time);
    }
    const onDisk = readFileSync(join(dir, "exec-c.log"), "utf8").trimEnd().split("\n");
    expect(onDisk.map((l) => JSON.parse(l).seq)).toEqual(range(1, 10_000));
  });

  it("completes only after every earlier append is written, and refuses appends afterwards", async () => {
    const store = newStore();
    await store.create("exec-d");
    const appends = range(1, 500).map((i) => store.append("exec-d", "stdout", `x${i}`));
    const completed = store.complete("exec-d", 0);
    await expect(store.append("exec-d", "stdout", "late")).rejects.toThrow(/completed/);
    await Promise.all([...appends, completed]);
    expect(readFileSync(join(dir, "exec-d.log"), "utf8").trimEnd().split("\n")).toHaveLength(500);
    expect(existsSync(join(dir, "exec-d.exit"))).toBe(true);
    // Still refused from a fresh writer, and a second completion keeps the first exit code.
    await expect(store.append("exec-d", "stdout", "later")).rejects.toThrow(/completed/);
    await store.complete("exec-d", 9);
    const reader = await store.open("exec-d", opts());
    expect(await readAll(reader)).toHaveLength(500);
    expect(reader.exitCode).toBe(0);
  });

  it("rejects invalid streams, times and exit codes", async () => {
    const store = newStore();
    await expect(store.append("e", "stdin" as LogStreamName, "x")).rejects.toBeInstanceOf(
      BadRequestError,
    );
    await expect(store.append("e", "stdout", "x", -1)).rejects.toBeInstanceOf(BadRequestError);
    await expect(store.append("e", "stdout", "x", 1.5)).rejects.toBeInstanceOf(BadRequestError);
    await expect(store.complete("e", 1.5)).rejects.toBeInstanceOf(BadRequestError);
  });
});

describe("FileLogStore: ids and paths", () => {
  const bad = [
    "../x",
    "..",
    ".",
    "a/b",
    "a\\b",
    "x\0y",
    "/etc/passwd",
    join(tmpdir(), "abs"),
    "",
    ".hidden",
    "-dash-first",
    "a".repeat(10 * 1024),
    "a b",
    "a\nb",
  ];

  it.each(bad.map((id) => [JSON.stringify(id.slice(0, 40)), id]))(
    "rejects %s everywhere with BadRequestError",
    async (_name, id) => {
      const store = newStore();
      await mkdir(dir, { recursive: true });
      const before = readdirSync(root).sort();
      await expect(store.open(id, opts())).rejects.toBeInstanceOf(BadRequestError);
      await expect(store.open(id, opts({ follow: true }))).rejects.toBeInstanceOf(BadRequestError);
      await expect(store.create(id)).rejects.toBeInstanceOf(BadRequestError);
      await expect(store.append(id, "stdout", "x")).rejects.toBeInstanceOf(BadRequestError);
      await expect(store.complete(id, 0)).rejects.toBeInstanceOf(BadRequestError);
      expect(() => store.logPath(id)).toThrow(BadRequestError);
      expect(readdirSync(root).sort()).toEqual(before);
      expect(readdirSync(dir)).toEqual([]);
    },
  );

  it("refuses to follow a symbolic link out of the directory", async () => {
    const store = newStore();
    await mkdir(dir, { recursive: true });
    const outside = join(root, "outside.log");
    writeFileSync(outside, `{"seq":1,"stream":"stdout","time":1,"line":"secret"}\n`);
    symlinkSync(outside, join(dir, "evil.log"));
    await expect(store.open("evil", opts())).rejects.toBeInstanceOf(BadRequestError);
    await expect(store.append("evil", "stdout", "x")).rejects.toMatchObject({ code: "ELOOP" });
    expect(readFileSync(outside, "utf8")).toBe(
      `{"seq":1,"stream":"stdout","time":1,"line":"secret"}\n`,
    );
  });

  it("rejects non-string ids", async () => {
    const store = newStore();
    await expect(store.open(42 as unknown as string, opts())).rejects.toBeInstanceOf(
      BadRequestError,
    );
  });

  it("accepts every id of the protocol's pattern and keeps its files inside the directory", async () => {
    const store = newStore();
    const ids = ["a", "A9", "0abc", "a..b", "x.log", "a-b_c.d", "z".repeat(200)];
    for (const id of ids) {
      await store.create(id);
      expect(store.logPath(id)).toBe(join(dir, `${id}.log`));
    }
    expect(readdirSync(dir).sort()).toEqual(ids.map((id) => `${id}.log`).sort());
  });

  it("answers ExecutionNotFoundError for an unknown execution, also before the directory exists", async () => {
    const store = newStore();
    await expect(store.open("nope", opts())).rejects.toBeInstanceOf(ExecutionNotFoundError);
    await store.create("other");
    await expect(store.open("nope", opts({ follow: true }))).rejects.toBeInstanceOf(
      ExecutionNotFoundError,
    );
  });

  it("serves a created execution as an empty log", async () => {
    const store = newStore();
    await store.create("empty");
    const reader = await store.open("empty", opts());
    expect(await readAll(reader)).toEqual([]);
    expect([reader.afterSeq, reader.lastSeqAtOpen, reader.position, reader.exitCode]).toEqual([
      0,
      0,
      0,
      null,
    ]);
  });

  it("rejects invalid read options", async () => {
    const store = newStore();
    await store.create("e");
    await expect(store.open("e", opts({ tail: -1 }))).rejects.toBeInstanceOf(BadRequestError);
    await expect(store.open("e", opts({ fromSeq: 1.5 }))).rejects.toBeInstanceOf(BadRequestError);
    await expect(
      store.open("e", opts({ streams: ["stdin" as LogStreamName] })),
    ).rejects.toBeInstanceOf(BadRequestError);
  });
});

describe("FileLogStore: history reads", () => {
  it("reads the whole history, ending at the end of the file as it was when opened", async () => {
    const store = newStore();
    await fill(store, "h", 50, alternate);
    const reader = await store.open("h", opts());
    await store.append("h", "stdout", "after open");
    const entries = await readAll(reader);
    expect(seqs(entries)).toEqual(range(1, 50));
    expect(entries[0]).toEqual({ seq: 1, stream: "stdout", time: T0 + 1000, line: "line-1" });
    expect([reader.afterSeq, reader.lastSeqAtOpen, reader.position, reader.exitCode]).toEqual([
      0,
      50,
      50,
      null,
    ]);
  });

  it("tail N yields the last N lines", async () => {
    const store = newStore();
    await fill(store, "t", 100);
    const reader = await store.open("t", opts({ tail: 10 }));
    expect(reader.afterSeq).toBe(90);
    expect(reader.lastSeqAtOpen).toBe(100);
    expect(seqs(await readAll(reader))).toEqual(range(91, 100));
    expect(reader.position).toBe(100);

    const more = await store.open("t", opts({ tail: 1000 }));
    expect(more.afterSeq).toBe(0);
    expect(seqs(await readAll(more))).toEqual(range(1, 100));
  });

  it("tail N with a stream filter yields the last N matching lines", async () => {
    const store = newStore();
    await fill(store, "ts", 100, alternate);
    const reader = await store.open("ts", opts({ tail: 3, streams: ["stderr"] }));
    const entries = await readAll(reader);
    expect(seqs(entries)).toEqual([96, 98, 100]);
    expect(entries.every((e) => e.stream === "stderr")).toBe(true);
    expect(reader.afterSeq).toBe(95);

    const out = await store.open("ts", opts({ tail: 3, streams: ["stdout"] }));
    expect(seqs(await readAll(out))).toEqual([95, 97, 99]);
    // Skipped entries count: the read covered the log up to its last seq.
    expect(out.position).toBe(100);
  });

  it("tail with since yields the last N of the lines since then", async () => {
    const store = newStore();
    await fill(store, "tsn", 100);
    const few = await store.open("tsn", opts({ tail: 50, since: T0 + 95_000 }));
    expect(seqs(await readAll(few))).toEqual(range(95, 100));
    const last = await store.open("tsn", opts({ tail: 2, since: T0 + 10_000 }));
    expect(seqs(await readAll(last))).toEqual([99, 100]);
  });

  it("fromSeq yields entries after it and takes precedence over tail", async () => {
    const store = newStore();
    await fill(store, "f", 1000, alternate);
    for (const fromSeq of [0, 1, 2, 499, 500, 998, 999]) {
      const reader = await store.open("f", opts({ fromSeq, tail: 3 }));
      expect(reader.afterSeq).toBe(fromSeq);
      expect(seqs(await readAll(reader))).toEqual(range(fromSeq + 1, 1000));
      expect(reader.position).toBe(1000);
    }
    const past = await store.open("f", opts({ fromSeq: 5000 }));
    expect(await readAll(past)).toEqual([]);
    const filtered = await store.open("f", opts({ fromSeq: 990, streams: ["stdout"] }));
    expect(seqs(await readAll(filtered))).toEqual([991, 993, 995, 997, 999]);
    expect(filtered.position).toBe(1000);
    const withSince = await store.open("f", opts({ fromSeq: 10, since: T0 + 996_000 }));
    expect(seqs(await readAll(withSince))).toEqual([996, 997, 998, 999, 1000]);
  });

  it("since yields entries with time >= since", async () => {
    const store = newStore();
    await fill(store, "s", 1000);
    for (const [since, first] of [
      [0, 1],
      [T0 + 1000, 1],
      [T0 + 1500, 2],
      [T0 + 500_000, 500],
      [T0 + 1_000_000, 1000],
    ] as const) {
      const reader = await store.open("s", opts({ since }));
      expect(seqs(await readAll(reader))).toEqual(range(first, 1000));
      expect(reader.position).toBe(1000);
    }
    const none = await store.open("s", opts({ since: T0 + 2_000_000 }));
    expect(await readAll(none)).toEqual([]);
    expect(none.position).toBe(1000);
  });

  it("filters by stream and counts skipped entries in position", async () => {
    const store = newStore();
    await fill(store, "st", 20, alternate);
    await store.append("st", "stdout", "last stdout");
    const reader = await store.open("st", opts({ streams: ["stderr"] }));
    const entries = await readAll(reader);
    expect(seqs(entries)).toEqual(range(1, 10).map((i) => i * 2));
    expect(reader.position).toBe(21);
    const none = await store.open("st", opts({ streams: [] }));
    expect(await readAll(none)).toEqual([]);
    expect(none.position).toBe(21);
  });

  it("yields batches of at most MAX_BATCH_ENTRIES", async () => {
    const store = newStore();
    await fill(store, "b", 10_000);
    const c = collect(await store.open("b", opts()));
    await c.done;
    expect(c.entries).toHaveLength(10_000);
    expect(Math.max(...c.batches)).toBeLessThanOrEqual(MAX_BATCH_ENTRIES);
    expect(c.batches.length).toBeLessThan(10);
  });

  it("skips corrupt lines and never parses a partial last line", async () => {
    const store = newStore();
    await fill(store, "corrupt", 3);
    appendFileSync(join(dir, "corrupt.log"), 'not json\n\n{"seq":4,"stream":"stdout","ti');
    const reader = await store.open("corrupt", opts());
    expect(seqs(await readAll(reader))).toEqual([1, 2, 3]);
    expect(reader.lastSeqAtOpen).toBe(3);
  });
});

describe("FileLogStore: large files", () => {
  const LINES = 1_000_000;
  let bigDir: string;
  let bigStore: FileLogStore;

  beforeAll(async () => {
    // One 1,000,000-line (~90 MB) file written directly in the store's format.
    bigDir = await mkdtemp(join(tmpdir(), "tailwire-file-store-big-"));
    const parts: string[] = [];
    for (let seq = 1; seq <= LINES; seq++) {
      const stream = seq % 2 === 0 ? "stderr" : "stdout";
      parts.push(
        `{"seq":${seq},"stream":"${stream}","time":${T0 + seq},"line":"payload line number ${seq}"}\n`,
      );
    }
    writeFileSync(join(bigDir, "big.log"), parts.join(""));
  });

  afterAll(async () => {
    await rm(bigDir, { recursive: true, force: true });
  });

  beforeEach(() => {
    bigStore = new FileLogStore({ dir: bigDir });
    stores.push(bigStore);
  });

  it("tail 10 reads only a few small chunks from the end", async () => {
    const before = { ...bigStore.stats };
    const reader = await bigStore.open("big", opts({ tail: 10 }));
    expect(seqs(await readAll(reader))).toEqual(range(LINES - 9, LINES));
    const bytes = bigStore.stats.bytesRead - before.bytesRead;
    const reads = bigStore.stats.reads - before.reads;
    console.log(`tail 10 of ${LINES} lines: ${reads} reads, ${bytes} bytes`);
    expect(bytes).toBeLessThan(64 * 1024);
    expect(reads).toBeLessThan(10);
  });

  it("fromSeq and since find their start by binary search", async () => {
    for (const options of [{ fromSeq: 765_432 }, { since: T0 + 765_433 }]) {
      const before = { ...bigStore.stats };
      const reader = await bigStore.open("big", opts({ ...options, streams: ["stdout"] }));
      const first = (await reader[Symbol.asyncIterator]().next()).value as LogEntry[];
      await reader.close();
      expect(first[0]?.seq).toBe(765_433);
      // ~40 probes of a few KiB plus the first forward chunk (1 MiB).
      expect(bigStore.stats.bytesRead - before.bytesRead).toBeLessThan(1.5 * 1024 * 1024);
    }
  });

  it("reads the whole history fast", async () => {
    const reader = await bigStore.open("big", opts());
    const started = performance.now();
    let count = 0;
    let expected = 1;
    for await (const batch of reader) {
      if (!Array.isArray(batch)) throw new Error("unexpected notice");
      count += batch.length;
      if (batch[0]?.seq !== expected) throw new Error(`batch starts at ${batch[0]?.seq}`);
      expected = batch[batch.length - 1]!.seq + 1;
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `read ${count} lines in ${seconds.toFixed(2)} s (${Math.round(count / seconds)} lines/s)`,
    );
    expect(count).toBe(LINES);
    expect(reader.position).toBe(LINES);
    expect(seconds).toBeLessThan(10);
  });
});

describe("FileLogStore: follow", () => {
  it("tail 0 + follow yields only new lines and ends on completion", async () => {
    const store = newStore();
    await fill(store, "fo", 5);
    const reader = await store.open("fo", opts({ tail: 0, follow: true }));
    expect(reader.afterSeq).toBe(5);
    const c = collect(reader);
    await store.append("fo", "stdout", "six");
    await vi.waitFor(() => expect(seqs(c.entries)).toEqual([6]));
    await store.append("fo", "stderr", "seven");
    await store.complete("fo", 3);
    await c.done;
    expect(seqs(c.entries)).toEqual([6, 7]);
    expect(c.entries[1]?.line).toBe("seven");
    expect(reader.exitCode).toBe(3);
    expect(reader.position).toBe(7);
  });

  it("follow of a completed execution yields the history then ends", async () => {
    const store = newStore();
    await fill(store, "done", 4);
    await store.complete("done", null);
    const reader = await store.open("done", opts({ follow: true }));
    expect(seqs(await readAll(reader))).toEqual([1, 2, 3, 4]);
    expect(reader.exitCode).toBeNull();
    expect(reader.position).toBe(4);
  });

  it("follow with filters keeps position moving over skipped entries", async () => {
    const store = newStore();
    await store.create("ff");
    const reader = await store.open("ff", opts({ follow: true, streams: ["stderr"] }));
    const c = collect(reader);
    await store.append("ff", "stdout", "a");
    await store.append("ff", "stderr", "b");
    await store.append("ff", "stdout", "c");
    await store.complete("ff", 0);
    await c.done;
    expect(c.entries.map((e) => e.line)).toEqual(["b"]);
    expect(reader.position).toBe(3);
  });

  it("picks up lines written through a second store instance (no in-process notification)", async () => {
    const reading = newStore(60_000); // a long poll: only the directory watcher can wake it quickly
    const writing = newStore();
    await writing.create("two");
    const reader = await reading.open("two", opts({ follow: true }));
    const c = collect(reader);
    for (let i = 1; i <= 3; i++) await writing.append("two", "stdout", `w${i}`);
    await vi.waitFor(() => expect(seqs(c.entries)).toEqual([1, 2, 3]), { timeout: 5000 });
    await writing.complete("two", 0);
    await c.done;
    expect(reader.exitCode).toBe(0);
  });

  it("picks up lines from another process, and not a partial line before its newline", async () => {
    const store = newStore();
    await store.create("proc");
    const reader = await store.open("proc", opts({ follow: true }));
    const c = collect(reader);
    // A writer in another process, in the store's format: five lines, then half of the sixth;
    // on "go" the rest of it and a seventh, then the exit marker (atomically, by rename).
    const script = `
      const fs = require("node:fs");
      const log = process.env.LOG, exit = process.env.EXIT;
      const line = (seq) => JSON.stringify({ seq, stream: seq % 2 ? "stdout" : "stderr", time: ${T0} + seq, line: "p" + seq }) + "\\n";
      for (let seq = 1; seq <= 5; seq++) fs.appendFileSync(log, line(seq));
      const six = line(6);
      fs.appendFileSync(log, six.slice(0, 20));
      console.log("partial");
      process.stdin.once("data", () => {
        fs.appendFileSync(log, six.slice(20) + line(7));
        fs.writeFileSync(exit + ".tmp", JSON.stringify({ exitCode: 4 }));
        fs.renameSync(exit + ".tmp", exit);
        process.exit(0);
      });`;
    const child = spawn(process.execPath, ["-e", script], {
      env: { ...process.env, LOG: store.logPath("proc"), EXIT: store.exitPath("proc") },
      stdio: ["pipe", "pipe", "inherit"],
    });
    children.push(child);
    await once(child.stdout!, "data");
    await vi.waitFor(() => expect(seqs(c.entries)).toEqual([1, 2, 3, 4, 5]), { timeout: 5000 });
    // The reader has read the file again since the partial line was written: still nothing.
    const reads = store.stats.reads;
    await vi.waitFor(() => expect(store.stats.reads).toBeGreaterThan(reads + 2), { timeout: 5000 });
    expect(c.entries).toHaveLength(5);
    child.stdin!.write("go\n");
    await c.done;
    expect(seqs(c.entries)).toEqual(range(1, 7));
    expect(c.entries[5]).toEqual({ seq: 6, stream: "stderr", time: T0 + 6, line: "p6" });
    expect(reader.exitCode).toBe(4);
  });

  it("aborting ends the iteration at once and releases file handles, watchers and timers", async () => {
    const fdCount = () => readdirSync("/proc/self/fd").length;
    const resources = () =>
      process
        .getActiveResourcesInfo()
        .filter((r) => r === "FSEventWrap" || r === "Timeout" || r === "FileHandle").length;
    const store = newStore(60_000);
    await fill(store, "ab", 3);
    // Warm up: the first watcher creates libuv's (shared, never closed) inotify descriptor.
    const warm = new AbortController();
    const w = collect(await store.open("ab", opts({ follow: true, signal: warm.signal })));
    await vi.waitFor(() => expect(w.entries).toHaveLength(3));
    warm.abort();
    await w.done;

    const fdsBefore = fdCount();
    const resourcesBefore = resources();
    const controllers = range(1, 20).map(() => new AbortController());
    const readers = await Promise.all(
      controllers.map((ac) => store.open("ab", opts({ follow: true, tail: 1, signal: ac.signal }))),
    );
    const collectors = readers.map(collect);
    await vi.waitFor(() => expect(collectors.every((c) => c.entries.length === 1)).toBe(true));
    expect(fdCount()).toBeGreaterThanOrEqual(fdsBefore + 20);
    const started = performance.now();
    for (const ac of controllers) ac.abort();
    await Promise.all(collectors.map((c) => c.done));
    // The poll interval is 60 s: ending within a few seconds (a loaded 2-core machine) proves
    // the abort woke them.
    expect(performance.now() - started).toBeLessThan(5000);
    // Fewer is fine: an unrelated timer of the worker may have fired meanwhile.
    await vi.waitFor(
      () => {
        expect(fdCount()).toBe(fdsBefore);
        expect(resources()).toBeLessThanOrEqual(resourcesBefore);
      },
      { timeout: 5000 },
    );
  });

  it("an abort before iterating, or close(), also releases the reader", async () => {
    const store = newStore(60_000);
    await fill(store, "cl", 3);
    const fdsBefore = readdirSync("/proc/self/fd").length;
    const ac = new AbortController();
    const reader = await store.open("cl", opts({ follow: true, signal: ac.signal }));
    ac.abort();
    expect(await readAll(reader)).toEqual([]);
    const other = await store.open("cl", opts({ follow: true }));
    const c = collect(other);
    await vi.waitFor(() => expect(c.entries).toHaveLength(3));
    await other.close();
    await other.close();
    await c.done;
    await vi.waitFor(() => expect(readdirSync("/proc/self/fd").length).toBe(fdsBefore));
  });

  it("store.close() ends every follow", async () => {
    const store = newStore(60_000);
    await store.create("sc");
    const c = collect(await store.open("sc", opts({ follow: true })));
    await store.close();
    await c.done;
    expect(c.ended).toBe(true);
    await expect(store.open("sc", opts())).rejects.toThrow(/closed/);
  });
});

describe("FileLogStore: restart", () => {
  it("a new store on the same directory serves old logs and continues seqs", async () => {
    const first = newStore();
    await fill(first, "r", 3);
    await first.close();

    const second = newStore();
    const old = await second.open("r", opts());
    expect(seqs(await readAll(old))).toEqual([1, 2, 3]);
    const entry = await second.append("r", "stderr", "after restart", T0);
    // Seq continues; time never goes below the last line's.
    expect(entry).toEqual({ seq: 4, stream: "stderr", time: T0 + 3000, line: "after restart" });
    await second.complete("r", 1);

    const third = newStore();
    const all = await third.open("r", opts({ follow: true }));
    expect(seqs(await readAll(all))).toEqual([1, 2, 3, 4]);
    expect(all.exitCode).toBe(1);
  });

  it("drops a partial last line left by a crash before appending", async () => {
    const first = newStore();
    await fill(first, "crash", 2);
    await first.close();
    appendFileSync(join(dir, "crash.log"), '{"seq":3,"stream":"std');
    const second = newStore();
    expect((await second.append("crash", "stdout", "next")).seq).toBe(3);
    const lines = readFileSync(join(dir, "crash.log"), "utf8").trimEnd().split("\n");
    expect(lines.map((l) => JSON.parse(l).line)).toEqual(["line-1", "line-2", "next"]);
  });
});
