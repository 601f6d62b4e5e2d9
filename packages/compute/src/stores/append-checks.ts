// The checks every store makes on an append (stream name, line, time), with typed errors.
import { BadRequestError, type LogStreamName } from "@tailwire/protocol";

/**
 * What every store checks of an entry before it takes a seq: a stream the wire knows, a string
 * line and, when given, a time the wire can carry (a safe integer of ms, not negative). A bad
 * entry fails at append, not on a requester's screen.
 */
export function checkAppend(stream: LogStreamName, line: string, time: number | undefined): void {
  if (stream !== "stdout" && stream !== "stderr") {
    throw new BadRequestError(`invalid stream ${JSON.stringify(stream)}`);
  }
  if (typeof line !== "string") throw new BadRequestError("line must be a string");
  if (time !== undefined && (!Number.isSafeInteger(time) || time < 0)) {
    throw new BadRequestError(`invalid time ${time}`);
  }
}
