/**
 * `@tailwire/cli` as a library: the pieces of the `tailwire` command line that programs built on
 * it reuse (the showcase's requester node, tools that add their own commands): the NATS connection
 * options, the argument parsers, the exit codes and the terminal palette. The `tailwire` binary
 * itself is `dist/cli.js` (package.json `bin`).
 */
export {
  addNatsOptions,
  buildConnectionOptions,
  connectNats,
  DEFAULT_NATS_URL,
  type NatsCliOptions,
} from "./connection.js";
export {
  CliError,
  EXIT,
  EXIT_BY_ERROR_CODE,
  EXIT_CODE_ROWS,
  type ExitName,
  exitCodeOf,
  exitCodeTable,
} from "./exit-codes.js";
export { colorEnabled, palette } from "./output.js";
export {
  nonNegativeInteger,
  parseDuration,
  parseSince,
  positiveInteger,
  sinceArgument,
} from "./parse.js";
