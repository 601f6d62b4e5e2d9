// Capture throughput with and without retention, and disk bytes per line: lines of 200 bytes
// appended to a FileLogStore as captureProcess appends them (in call order, many in flight),
// unbounded against a 10 MB per-execution cap (a rotation every 2.5 MB, the oldest segment
// removed each time), against the direct path (the same NDJSON written with plain fh.write in
// 4096-line chunks); then the same through captureProcess from a child process printing the lines.
// Runs alternate between the variants; the median of the runs is reported.
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { captureProcess, FileLogStore } from "@tailwire/compute";
import { makeLine, round } from "./lib.mjs";

export const description =
  "capture throughput into a FileLogStore, unbounded vs a 10 MB cap (rotating), vs direct fh.write; disk bytes per line";

const LINE_BYTES = 200;
const CAP = 10 * 1000 * 1000;
const CHUNK = 4096;

function diskBytes(dir, id) {
  let total = statSync(join(dir, `${id}.log`)).size;
  try {
    for (const name of readdirSync(join(dir, `${id}.seg`))) {
      total += statSync(join(dir, `${id}.seg`, name)).size;
    }
  } catch {
    // no segments
  }
  return total;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** The store path: appends in call order, up to two chunks of 4096 in flight. */
async function viaStore(dir, lines, maxLogBytes) {
  const store = new FileLogStore({ dir, maxLogBytes, sweepIntervalMs: 0 });
  const id = "bench";
  await store.create(id);
  const t0 = performance.now();
  const inFlight = [];
  for (let first = 1; first <= lines; first += CHUNK) {
    const chunk = [];
    const last = Math.min(lines, first + CHUNK - 1);
    for (let i = first; i <= last; i++)
      chunk.push(store.append(id, "stdout", makeLine(i, LINE_BYTES)));
    inFlight.push(Promise.all(chunk));
    if (inFlight.length > 2) await inFlight.shift();
  }
  await Promise.all(inFlight);
  await store.complete(id, 0);
  const seconds = (performance.now() - t0) / 1000;
  const bytes = diskBytes(dir, id);
  await store.close();
  return { seconds, bytes };
}

/** The direct path: the same NDJSON lines, written with fh.write in 4096-line chunks. */
async function direct(dir, lines) {
  const path = join(dir, "direct.log");
  const fh = await open(path, "a");
  const t0 = performance.now();
  const time = Date.now();
  for (let first = 1; first <= lines; first += CHUNK) {
    let text = "";
    const last = Math.min(lines, first + CHUNK - 1);
    for (let seq = first; seq <= last; seq++) {
      text += `${JSON.stringify({ seq, stream: "stdout", time, line: makeLine(seq, LINE_BYTES) })}\n`;
    }
    const buf = Buffer.from(text);
    let off = 0;
    while (off < buf.length) off += (await fh.write(buf, off)).bytesWritten;
  }
  await fh.datasync();
  await fh.close();
  return { seconds: (performance.now() - t0) / 1000, bytes: statSync(path).size };
}

/** captureProcess from a child printing the lines as fast as the pipe takes them. */
async function viaCapture(dir, lines, maxLogBytes) {
  const store = new FileLogStore({ dir, maxLogBytes, sweepIntervalMs: 0 });
  const script = `const pad = "c".repeat(${LINE_BYTES - 11}); let i = 0;
    const go = () => { while (i < ${lines}) { i++;
      if (!process.stdout.write(String(i).padStart(10, "0") + " " + pad + "\\n")) return process.stdout.once("drain", go); } };
    go();`;
  const t0 = performance.now();
  const result = await captureProcess(store, "cap", process.execPath, ["-e", script]);
  const seconds = (performance.now() - t0) / 1000;
  if (result.exitCode !== 0) throw new Error(`capture child exited with ${result.exitCode}`);
  const bytes = diskBytes(dir, "cap");
  await store.close();
  return { seconds, bytes };
}

/** The child alone, its output thrown away: what the capture path cannot beat. */
async function childAlone(lines) {
  const script = `const pad = "c".repeat(${LINE_BYTES - 11}); let i = 0;
    const go = () => { while (i < ${lines}) { i++;
      if (!process.stdout.write(String(i).padStart(10, "0") + " " + pad + "\\n")) return process.stdout.once("drain", go); } };
    go();`;
  const t0 = performance.now();
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  child.stdout.resume();
  await new Promise((resolve) => child.on("close", resolve));
  return { seconds: (performance.now() - t0) / 1000, bytes: 0 };
}

export async function run({ quick }) {
  const lines = quick ? 100_000 : 1_000_000;
  const runs = quick ? 1 : 3;
  const variants = {
    "direct fh.write (NDJSON)": (dir) => direct(dir, lines),
    "FileLogStore.append, unbounded": (dir) => viaStore(dir, lines, Number.POSITIVE_INFINITY),
    "FileLogStore.append, 10 MB cap": (dir) => viaStore(dir, lines, CAP),
    "child alone (output discarded)": () => childAlone(lines),
    "captureProcess, unbounded": (dir) => viaCapture(dir, lines, Number.POSITIVE_INFINITY),
    "captureProcess, 10 MB cap": (dir) => viaCapture(dir, lines, CAP),
  };
  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let r = 0; r < runs; r++) {
    for (const [name, fn] of Object.entries(variants)) {
      const dir = await mkdtemp(join(tmpdir(), "tailwire-retention-bench-"));
      try {
        samples[name].push(await fn(dir));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
  const rows = [];
  const figures = {};
  const directRate = lines / median(samples["direct fh.write (NDJSON)"].map((s) => s.seconds));
  for (const [name, list] of Object.entries(samples)) {
    const seconds = median(list.map((s) => s.seconds));
    const bytes = median(list.map((s) => s.bytes));
    const rate = lines / seconds;
    figures[name] = { lines, seconds, linesPerSecond: rate, diskBytes: bytes, runs: list };
    rows.push({
      variant: name,
      "lines/s": round(rate),
      "MB/s (of lines)": round((rate * LINE_BYTES) / 1e6, 1),
      "of direct": name.startsWith("child") ? "" : round(rate / directRate, 2),
      "disk MB": bytes === 0 ? "" : round(bytes / 1e6, 1),
      // What a line costs on disk (NDJSON: seq, stream, time and the JSON string); a capped log
      // holds only its newest lines, so its per-line cost is the unbounded one's.
      "disk bytes/line": bytes === 0 || name.includes("cap") ? "" : round(bytes / lines, 1),
    });
  }
  return { lines, lineBytes: LINE_BYTES, capBytes: CAP, runs, variants: figures, table: rows };
}
