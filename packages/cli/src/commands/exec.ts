import { access } from "node:fs/promises";
import { constants } from "node:os";
import { captureProcess, FileLogStore } from "@tailwire/compute";
import { isExecutionId } from "@tailwire/protocol";
import type { Command } from "commander";
import { CliError, EXIT } from "../exit-codes.js";
import type { CliLogger } from "../logging.js";
import { onTerminate } from "../signals.js";
import { parseSize } from "../sizes.js";

interface ExecOptions {
  dataDir: string;
  executionId: string;
  maxLogBytes?: number;
}

export function registerExec(program: Command, logger: () => CliLogger): void {
  program
    .command("exec")
    .description(
      "run a command and capture its stdout and stderr, line by line, into DIR: a compute node serving DIR streams it while it runs. Exits with the command's exit code (128+N when killed by signal N, 127 when it cannot be started)",
    )
    .requiredOption("--data-dir <dir>", "the log directory (the compute node's --data-dir)")
    .requiredOption("--execution-id <id>", "the execution's id: [A-Za-z0-9][A-Za-z0-9._-]{0,199}")
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
      if (!isExecutionId(options.executionId)) {
        throw new CliError(
          EXIT.USAGE,
          `invalid execution id ${JSON.stringify(options.executionId)}`,
        );
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
      if (await exists(store.logPath(options.executionId))) {
        throw new CliError(
          EXIT.USAGE,
          `execution ${options.executionId} already exists in ${store.dir}: pick another --execution-id`,
        );
      }
      const abort = new AbortController();
      // SIGINT/SIGTERM: pass SIGTERM on to the command and keep capturing until it exits.
      const off = onTerminate((signal) => {
        log.info({ signal }, "stopping the command");
        abort.abort(signal);
      });
      await store.create(options.executionId);
      log.info(
        { executionId: options.executionId, dir: store.dir, command, args },
        "execution started",
      );
      process.stdout.write(
        `execution ${options.executionId} started: ${[command, ...args].join(" ")}\n`,
      );
      try {
        const result = await captureProcess(store, options.executionId, command, args, {
          signal: abort.signal,
        });
        const code =
          result.exitCode ??
          (result.signal === null ? EXIT.INTERNAL : 128 + (signalNumber(result.signal) ?? 0));
        log.info({ executionId: options.executionId, ...result }, "execution completed");
        process.stdout.write(
          `execution ${options.executionId} completed: ${
            result.exitCode === null ? `killed by ${result.signal}` : `exit code ${result.exitCode}`
          }\n`,
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
