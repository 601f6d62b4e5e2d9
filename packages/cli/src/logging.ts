// The CLI's own logging: the levels, each command's default, and the pino logger to stderr.
import type { Logger } from "@tailwire/protocol";
import { pino } from "pino";
import PinoPretty from "pino-pretty";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/**
 * Per command: the long-running ones log their lifecycle and every stream (info); `logs` reports
 * its failure in one line of its own, so the library's warnings would only repeat it (error).
 */
export const DEFAULT_LOG_LEVELS: Record<string, LogLevel> = {
  server: "info",
  compute: "info",
  exec: "warn",
  logs: "error",
};

export interface CliLogger extends Logger {
  child(bindings: Record<string, unknown>): CliLogger;
  flush(): void;
}

/**
 * The CLI's logger: pino to stderr, human-readable (pino-pretty) when stderr is a terminal, one
 * JSON object per line otherwise. Synchronous writes, so nothing is lost when the process exits
 * right after an error.
 */
export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): CliLogger {
  const destination = process.stderr.isTTY
    ? PinoPretty({ destination: 2, sync: true, colorize: true, translateTime: "HH:MM:ss.l" })
    : pino.destination({ dest: 2, sync: true });
  return pino(
    { level, base: { pid: process.pid, ...bindings } },
    destination,
  ) as unknown as CliLogger;
}
