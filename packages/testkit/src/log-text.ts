// Generates text that looks like an execution's logs (timestamps, levels, repeated keys, numbers,
// ids, stack traces), deterministically from a seed, for benchmarks and tests of compression.
//
// Why not random bytes or one repeated line: a codec's ratio and speed depend on the text. Random
// bytes do not compress at all and one repeated line compresses a thousand times; real logs sit in
// between (repeated structure with varying numbers and ids), and so does this text.

/** A small, fast, seedable PRNG (mulberry32); Math.random cannot be seeded, and a library for eight lines is not worth a dependency. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LEVELS = ["INFO", "INFO", "INFO", "INFO", "INFO", "DEBUG", "DEBUG", "WARN", "ERROR"] as const;
const COMPONENTS = ["scheduler", "executor", "storage", "http", "worker", "planner", "uploader"];
const METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const PATHS = [
  "/api/v1/jobs",
  "/api/v1/executions",
  "/api/v1/nodes",
  "/api/v1/results",
  "/healthz",
  "/metrics",
];
const MESSAGES = [
  "request completed",
  "task started",
  "task finished",
  "cache miss, fetching from upstream",
  "uploaded result chunk",
  "retrying after transient failure",
  "heartbeat sent",
  "connection pool stats",
];
const ERRORS = [
  "TypeError: Cannot read properties of undefined (reading 'id')",
  "Error: ECONNRESET: socket hang up",
  "Error: ENOENT: no such file or directory, open '/data/input/part-00017.parquet'",
  "RangeError: Maximum call stack size exceeded",
];
const FRAMES = [
  "at Object.handle (/app/dist/handlers/job.js:{l}:{c})",
  "at processTicksAndRejections (node:internal/process/task_queues:95:5)",
  "at async Executor.run (/app/dist/executor/run.js:{l}:{c})",
  "at Storage.read (/app/dist/storage/reader.js:{l}:{c})",
  "at Socket.onData (/app/dist/net/socket.js:{l}:{c})",
  "at Array.map (<anonymous>)",
  "at Planner.plan (/app/dist/planner/index.js:{l}:{c})",
];

export interface LogTextOptions {
  /** Seed of the generator: the same seed gives the same lines. Default 1. */
  seed?: number;
  /** Time of the first line, ms since the epoch. Default 2026-11-28T15:30:00Z. */
  startTime?: number;
}

/**
 * Lines of log-like text, one per `next()`: mostly structured lines with a timestamp, a level, a
 * component and key=value pairs (numbers, durations, ids of 16 random hex digits), progress lines,
 * and now and then an error followed by a stack trace of 4 to 9 `at ...` lines. About 140 bytes a
 * line on average; the text is ASCII and no line contains a newline.
 */
export class LogTextGenerator {
  readonly #random: () => number;
  #time: number;
  #pending: string[] = [];
  #step = 0;

  constructor(options: LogTextOptions = {}) {
    this.#random = mulberry32(options.seed ?? 1);
    this.#time = options.startTime ?? Date.UTC(2026, 10, 28, 15, 30, 0);
  }

  /** The next line. */
  next(): string {
    const queued = this.#pending.shift();
    if (queued !== undefined) return queued;
    this.#time += Math.floor(this.#random() * 40);
    const stamp = new Date(this.#time).toISOString();
    const roll = this.#random();
    if (roll < 0.03) return this.#error(stamp);
    if (roll < 0.18) return this.#progress(stamp);
    return this.#structured(stamp);
  }

  /** The next `count` lines. */
  lines(count: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(this.next());
    return out;
  }

  #int(below: number): number {
    return Math.floor(this.#random() * below);
  }

  #pick<T>(items: readonly T[]): T {
    return items[this.#int(items.length)] as T;
  }

  #hex(digits: number): string {
    let out = "";
    for (let i = 0; i < digits; i++) out += "0123456789abcdef"[this.#int(16)];
    return out;
  }

  #structured(stamp: string): string {
    const level = this.#pick(LEVELS);
    const component = this.#pick(COMPONENTS);
    const message = this.#pick(MESSAGES);
    const worker = this.#int(8);
    if (component === "http") {
      const status = this.#random() < 0.9 ? 200 : this.#pick([201, 204, 404, 500, 503]);
      return `${stamp} ${level.padEnd(5)} [${component}] [worker-${worker}] ${message} method=${this.#pick(METHODS)} path=${this.#pick(PATHS)}/${this.#hex(8)} status=${status} duration_ms=${(this.#random() * 250).toFixed(1)} bytes=${this.#int(65536)} trace_id=${this.#hex(16)}`;
    }
    return `${stamp} ${level.padEnd(5)} [${component}] [worker-${worker}] ${message} job_id=j-${this.#hex(8)} execution_id=e-${this.#hex(8)} attempt=${1 + this.#int(3)} elapsed_ms=${this.#int(100_000)} queue_depth=${this.#int(500)}`;
  }

  #progress(stamp: string): string {
    this.#step += 1 + this.#int(20);
    const loss = (2 / Math.sqrt(this.#step + 1) + this.#random() * 0.05).toFixed(4);
    return `${stamp} INFO  [trainer] epoch ${1 + Math.floor(this.#step / 5000)}/20 step ${this.#step % 5000}/5000 loss=${loss} acc=${(0.5 + this.#random() * 0.49).toFixed(4)} lr=${(1e-4 * (1 - this.#random() * 0.1)).toExponential(2)} throughput=${(900 + this.#random() * 300).toFixed(1)} samples/s`;
  }

  #error(stamp: string): string {
    const frames = 4 + this.#int(6);
    for (let i = 0; i < frames; i++) {
      const frame = this.#pick(FRAMES)
        .replace("{l}", String(1 + this.#int(900)))
        .replace("{c}", String(1 + this.#int(80)));
      this.#pending.push(`    ${frame}`);
    }
    return `${stamp} ERROR [${this.#pick(COMPONENTS)}] unhandled failure in task t-${this.#hex(8)}: ${this.#pick(ERRORS)}`;
  }
}
