/**
 * The logger both sides accept: pino's method shapes (`logger.info({ streamId }, "msg")`), so a
 * pino instance fits as is and so does any logger with the same four methods.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => {};

/** The default: logs nothing. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
