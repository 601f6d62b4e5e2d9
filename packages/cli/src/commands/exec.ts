// `tailwire exec`: runs a command and captures its stdout and stderr line by line into a data
// directory (where `tailwire compute` serves them), exiting with the command's exit code.
import { randomBytes } from "node:crypto";
import { access } from "node:fs/promises";
import { constants } from "node:os";
import { captureProcess, FileLogStore } from "@tailwire/compute";
import { isExecutionId, isJobId } from "@tailwire/protocol";
import type { Command } from "commander";
import { CliError, EXIT } from "../exit-codes.js";
import type { CliLogger } from "../logging.js";
import { onTerminate } from "../signals.js";
import { parseSize } from "../sizes.js";

interface ExecOptions {
  dataDir: string;
  executionId?: string;
  jobId?: string;
  maxLogBytes?: number;
  tee?: boolean;
}

/** `exec-20261201-203455-9f2c`: sortable by start time, unique enough for one data dir. */
export function generateExecutionId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `exec-${stamp}-${randomBytes(2).toString("hex")}`;
}

export function registerExec(program: Command, logger: () => CliLogger): void {
  program
    .command("exec")
    .description(
      "run a command and capture its stdout and stderr, line by line, into DIR: a compute node serving DIR streams it while it runs. Exits with the command's exit code (128+N when killed by signal N, 127 when it cannot be started)",
    )
    .requiredOption("--data-dir <dir>", "the log directory (the compute node's --data-dir)")
    .option(
      "--execution-id <id>",
      "the execution's id: [A-Za-z0-9][A-Za-z0-9._-]{0,199} (default: a generated one, printed)",
    )
    .option(
      "--job-id <id>",
      "the job this execution belongs to: `tailwire logs --job` streams every execution of it",
    )
    .option(
      "--tee",
      "also copy the command's stdout and stderr to this terminal (tailwire's own lines then go to stderr)",
    )
    .option(
      "--max-log-bytes <size>",
      'the most this execution\'s log keeps on disk, oldest lines removed first ("10MB", "1GiB", "unlimited"; default 64MiB)',
      parseSize,
    )
    .argument("<command>", "the command to run (put -- before it when it has options)")
    .argument("[args...]", "its arguments")
    .passThroughOptions()
    .action(async (command: string, args: string[], options: ExecOptions) => {
      const log = logger();
      const executionId = options.executionId ?? generateExecutionId();
      // With --tee stdout is the command's own output, exactly; our lines go to stderr.
      const say = (text: string) =>
        (options.tee ? process.stderr : process.stdout).write(`${text}\n`);
      if (!isExecutionId(executionId)) {
        throw new CliError(EXIT.USAGE, `invalid execution id ${JSON.stringify(executionId)}`);
      }
      // The store-wide budget and age are the compute node's (tailwire compute): no sweep here.
      let store: FileLogStore;
      try {
        store = new FileLogStore({
          dir: options.dataDir,
          sweepIntervalMs: 0,
          ...(options.maxLogBytes === undefined ? {} : { maxLogBytes: options.maxLogBytes }),
        });
      } catch (error) {
        throw new CliError(EXIT.USAGE, `--max-log-bytes: ${(error as Error).message}`);
      }
      if (await exists(store.logPath(executionId))) {
        throw new CliError(
          EXIT.USAGE,
          `execution ${executionId} already exists in ${store.dir}: pick another --execution-id`,
        );
      }
      const abort = new AbortController();
      // SIGINT/SIGTERM: pass SIGTERM on to the command and keep capturing until it exits.
      const off = onTerminate((signal) => {
        log.info({ signal }, "stopping the command");
        abort.abort(signal);
      });
      if (options.jobId !== undefined && !isJobId(options.jobId))
        throw new CliError(EXIT.USAGE, `invalid job id ${JSON.stringify(options.jobId)}`);
      const job = options.jobId === undefined ? {} : { jobId: options.jobId };
      await store.create(executionId, job);
      log.info({ executionId, dir: store.dir, command, args }, "execution started");
      say(`execution ${executionId} started: ${[command, ...args].join(" ")}`);
      try {
        const result = await captureProcess(store, executionId, command, args, {
          ...job,
          signal: abort.signal,
          ...(options.tee ? { tee: { stdout: process.stdout, stderr: process.stderr } } : {}),
        });
        const code =
          result.exitCode ??
          (result.signal === null ? EXIT.INTERNAL : 128 + (signalNumber(result.signal) ?? 0));
        log.info({ executionId, ...result }, "execution completed");
        say(
          `execution ${executionId} completed: ${
            result.exitCode === null ? `killed by ${result.signal}` : `exit code ${result.exitCode}`
          }`,
        );
        process.exitCode = code;
      } catch (error) {
        const errno = (error as NodeJS.ErrnoException).code;
        if (errno === "ENOENT" || errno === "EACCES") {
          throw new CliError(
            errno === "ENOENT" ? 127 : 126,
            `cannot run ${command}: ${(error as Error).message}`,
            {
              cause: error,
            },
          );
        }
        throw error;
      } finally {
        off();
        await store.close();
      }
    });
}

function signalNumber(signal: string): number | undefined {
  return (constants.signals as Record<string, number>)[signal];
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
