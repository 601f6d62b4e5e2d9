#!/usr/bin/env node
// The `tailwire` binary: builds the program (every command, --log-level on each), runs it, and
// turns what it throws into a message on stderr and an exit code.
import { readFileSync } from "node:fs";
import { gatewayCommand } from "@tailwire/gateway";
import { Command, CommanderError, Option } from "commander";
import { registerCompute } from "./commands/compute.js";
import { registerConformance } from "./commands/conformance.js";
import { registerExec } from "./commands/exec.js";
import { registerLogs } from "./commands/logs.js";
import { registerServer } from "./commands/server.js";
import { CliError, EXIT, exitCodeTable } from "./exit-codes.js";
import {
  type CliLogger,
  createLogger,
  DEFAULT_LOG_LEVELS,
  LOG_LEVELS,
  type LogLevel,
} from "./logging.js";

const { version } = JSON.parse(
  readFileSync(new URL("../package.json", import.meta.url), "utf8"),
) as {
  version: string;
};

/** The `tailwire` program. Exported for tests of the command line shape; run by main() below. */
export function buildProgram(): Command {
  let level: LogLevel = "warn";
  let logger: CliLogger | undefined;
  const getLogger = () => {
    logger ??= createLogger(level);
    return logger;
  };

  const program = new Command("tailwire")
    .description("stream job-execution logs from compute nodes to requesters over NATS")
    .version(version, "-V, --version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .enablePositionalOptions()
    .addHelpText(
      "after",
      `
Every command takes --log-level (${LOG_LEVELS.join(", ")}; env TAILWIRE_LOG_LEVEL; default
info for the long-running server and compute, warn for exec, error for logs, whose failures are
reported in one line anyway). Logs go to stderr through pino: human-readable on a terminal, JSON
otherwise.
Commands that talk to NATS take --nats URL (env NATS_URL, default nats://127.0.0.1:4222),
--creds, --user/--password, --token, --tls-ca/--tls-cert/--tls-key.

Exit codes (tailwire logs; the others use 0, 1, 2 and 9):
${exitCodeTable()}

A session:
  tailwire server --port 4222 &
  tailwire compute --node-id compute-1 --data-dir ./logs &
  tailwire exec --data-dir ./logs --execution-id job-1 -- sh -c 'for i in 1 2 3; do echo $i; sleep 1; done'
  tailwire logs job-1 --node compute-1 --tail 10 -f`,
    );
  program.hook("preAction", (_program, action) => {
    const opts = action.opts<{ logLevel?: LogLevel }>();
    if (opts.logLevel !== undefined) level = opts.logLevel;
  });

  registerServer(program, getLogger);
  registerCompute(program, getLogger);
  registerExec(program, getLogger);
  registerLogs(program, getLogger);
  registerConformance(program, getLogger);
  program.addCommand(gatewayCommand());
  for (const command of program.commands) {
    // A command package that brings its own (the gateway's) keeps it.
    if (command.options.some((option) => option.long === "--log-level")) continue;
    command.addOption(
      new Option("--log-level <level>", "log level (logs go to stderr)")
        .choices(LOG_LEVELS)
        .env("TAILWIRE_LOG_LEVEL")
        .default(DEFAULT_LOG_LEVELS[command.name()] ?? "warn"),
    );
  }
  return program;
}

async function main(argv: string[]): Promise<void> {
  // `tailwire ... | head`: a reader that goes away is not a crash (logs also stops its stream).
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE") throw error;
    });
  }
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    process.exitCode = failureExitCode(error, program);
  }
  // Everything is closed by now; should a stray handle keep the loop alive, do not hang.
  setTimeout(() => process.exit(), 2000).unref();
}

function failureExitCode(error: unknown, program: Command): number {
  if (error instanceof CommanderError) {
    // --help and --version "fail" with exit code 0; everything else is bad usage.
    return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  }
  const command = program.args[0] ?? "";
  const prefix = command === "" ? "tailwire" : `tailwire ${command}`;
  if (error instanceof CliError) {
    process.stderr.write(`${prefix}: ${error.message}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`${prefix}: internal error: ${message}\n`);
  return EXIT.INTERNAL;
}

await main(process.argv);
