// Runs a command and captures its stdout and stderr, line by line, into a log store.
import { spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import type { LogStreamName } from "@tailwire/protocol";
import type { LogStore } from "./log-source.js";

export interface CaptureProcessOptions {
  /** The job the execution belongs to (retries and fan-out share it): found by job lookups. */
  jobId?: string | undefined;
  /** The child's environment (replaces process.env, as with child_process.spawn). */
  env?: NodeJS.ProcessEnv | undefined;
  /** The child's working directory. */
  cwd?: string | undefined;
  /** Aborting it sends the child SIGTERM; its output is still captured until it exits. */
  signal?: AbortSignal | undefined;
  /**
   * Also copy the child's output, as it comes (bytes, not lines), to these streams: a terminal
   * sees the command run while it is captured (`tailwire exec --tee`).
   */
  tee?: { stdout?: Writable | undefined; stderr?: Writable | undefined } | undefined;
}

export interface CaptureProcessResult {
  /** The exit code, or null when the child was ended by a signal. */
  exitCode: number | null;
  /** The signal that ended the child, or null. */
  signal: string | null;
}

/** Appends not yet settled above which the child's output is paused (backpressure). */
const MAX_PENDING_APPENDS = 8192;

/**
 * Runs a command and writes its output into a log store: creates the execution, spawns the child
 * (stdin ignored), splits stdout and stderr into lines (a line may arrive split across chunks;
 * "\r\n" counts as one line end; a last line without a newline is kept), appends each line with
 * its capture time in the order the output arrived, and once the child has exited and all of its
 * output is appended, marks the execution complete with the exit code (null when killed by a
 * signal).
 *
 * When the child cannot be started (command not found), the execution is completed with exit
 * code null and the promise rejects with the spawn error. When the store fails, the child still
 * runs to its end (its output is drained), then the promise rejects with the store's error.
 */
export async function captureProcess(
  store: LogStore,
  executionId: string,
  command: string,
  args: string[],
  options: CaptureProcessOptions = {},
): Promise<CaptureProcessResult> {
  await store.create(executionId, options.jobId === undefined ? {} : { jobId: options.jobId });

  const child = spawn(command, args, {
    stdio: ["ignore", "pipe", "pipe"],
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  const stdout = child.stdout!;
  const stderr = child.stderr!;

  let storeError: unknown = null;
  let pending = 0;
  let paused = false;
  let onSettled: (() => void) | null = null;

  const settled = () => {
    pending--;
    if (paused && pending <= MAX_PENDING_APPENDS / 2) {
      paused = false;
      stdout.resume();
      stderr.resume();
    }
    if (pending === 0) onSettled?.();
  };
  const append = (stream: LogStreamName, line: string, time: number) => {
    if (storeError !== null) return;
    pending++;
    // Called synchronously in arrival order: the store assigns seqs in call order.
    store.append(executionId, stream, line, time).then(settled, (error: unknown) => {
      storeError ??= error;
      settled();
    });
    if (pending >= MAX_PENDING_APPENDS && !paused) {
      paused = true;
      stdout.pause();
      stderr.pause();
    }
  };
  const allAppended = () =>
    new Promise<void>((resolve) => {
      if (pending === 0) resolve();
      else onSettled = resolve;
    });

  const teeOut = options.tee?.stdout;
  const teeErr = options.tee?.stderr;
  if (teeOut) stdout.on("data", (chunk: Buffer) => teeOut.write(chunk));
  if (teeErr) stderr.on("data", (chunk: Buffer) => teeErr.write(chunk));
  const outDone = splitLines(stdout, (line, time) => append("stdout", line, time));
  const errDone = splitLines(stderr, (line, time) => append("stderr", line, time));

  const onAbort = () => child.kill("SIGTERM");
  const exited = new Promise<CaptureProcessResult>((resolve, reject) => {
    child.once("error", (error) => {
      // Only a failure to start ends the capture; later errors (a failed kill) do not.
      if (child.pid === undefined) reject(error);
    });
    child.once("close", (code, signal) => resolve({ exitCode: code, signal }));
  });
  if (options.signal !== undefined) {
    if (options.signal.aborted) onAbort();
    else options.signal.addEventListener("abort", onAbort, { once: true });
  }

  let result: CaptureProcessResult;
  try {
    result = await exited;
  } catch (spawnError) {
    // The child never ran ('error' before 'spawn'); there is no output to wait for.
    stdout.destroy();
    stderr.destroy();
    await allAppended();
    await store.complete(executionId, null);
    throw spawnError;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  await Promise.all([outDone, errDone]);
  await allAppended();
  if (storeError !== null) throw storeError;
  await store.complete(executionId, result.exitCode);
  return result;
}

/** Longer lines are cut into pieces of this many UTF-16 code units, so memory stays bounded. */
export const MAX_LINE_LENGTH = 1 << 20;

/**
 * Calls `onLine` for every line of a byte stream, with the time its chunk arrived. Resolves when
 * the stream has ended (after the last, possibly unterminated, line).
 */
function splitLines(stream: Readable, onLine: (line: string, time: number) => void): Promise<void> {
  const decoder = new StringDecoder("utf8");
  let rest = "";
  const emit = (text: string, time: number) => {
    onLine(text.endsWith("\r") ? text.slice(0, -1) : text, time);
  };
  return new Promise<void>((resolve) => {
    stream.on("data", (chunk: Buffer) => {
      const time = Date.now();
      const searchFrom = rest.length;
      const text = rest + decoder.write(chunk);
      let start = 0;
      for (let nl = text.indexOf("\n", searchFrom); nl !== -1; nl = text.indexOf("\n", start)) {
        emit(text.slice(start, nl), time);
        start = nl + 1;
      }
      rest = text.slice(start);
      while (rest.length > MAX_LINE_LENGTH) {
        // Never cut between the two halves of a surrogate pair.
        let cut = MAX_LINE_LENGTH;
        const code = rest.charCodeAt(cut - 1);
        if (code >= 0xd800 && code <= 0xdbff) cut--;
        onLine(rest.slice(0, cut), time);
        rest = rest.slice(cut);
      }
    });
    stream.once("end", () => {
      const last = rest + decoder.end();
      rest = "";
      if (last.length > 0) emit(last, Date.now());
      resolve();
    });
    // A destroyed stream (the child could not be spawned) closes without ending.
    stream.once("close", () => resolve());
    stream.once("error", () => {});
  });
}
