// The testkit's errors: no nats-server found, a deadline passed, a process that failed to start
// or exited while awaited (with its output).
/** Thrown when no nats-server executable can be located. */
export class NatsServerNotFoundError extends Error {
  override readonly name = "NatsServerNotFoundError";
  readonly searched: readonly string[];

  constructor(searched: readonly string[], detail?: string) {
    super(
      [
        `nats-server executable not found${detail ? ` (${detail})` : ""}.`,
        `Searched: ${searched.length > 0 ? searched.join(", ") : "(nothing)"}.`,
        "Install it (Debian/Ubuntu: `apt-get install -y nats-server`, or download a release " +
          "from https://github.com/nats-io/nats-server/releases) or set NATS_SERVER_BIN to the " +
          "path of the binary.",
      ].join(" "),
    );
    this.searched = searched;
  }
}

/** A wait with a deadline ran out; the message says what was being waited for. */
export class TimeoutError extends Error {
  override readonly name = "TimeoutError";
}

/** A process-related failure; carries the process's collected output for diagnostics. */
export class ProcessOutputError extends Error {
  override readonly name: string = "ProcessOutputError";
  readonly output: string;

  constructor(message: string, output: string, options?: ErrorOptions) {
    super(output ? `${message}\n--- output ---\n${output}` : message, options);
    this.output = output;
  }
}

/** A child process exited, failed to spawn or missed its deadline before becoming ready. */
export class ProcessStartError extends ProcessOutputError {
  override readonly name: string = "ProcessStartError";
}

/** A child process exited while something was still waiting for its output. */
export class ProcessExitedError extends ProcessOutputError {
  override readonly name: string = "ProcessExitedError";
}
