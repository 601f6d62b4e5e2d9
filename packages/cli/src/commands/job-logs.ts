// `tailwire logs --job J`: every execution of a job, on every compute node, merged in capture
// order; a line per execution's end on stderr (an "ended" record with --json).
import { isJobId } from "@tailwire/protocol";
import type { JobLogItem, TailwireError } from "@tailwire/requester";
import { CliError, EXIT, exitCodeOf } from "../exit-codes.js";
import type { CliLogger } from "../logging.js";
import { colorEnabled, palette, writeLine } from "../output.js";
import { removedNoticeText } from "../removed-notice.js";
import { type LogsOptions, openClient, readFilters, reportFailure } from "./logs.js";
import { StreamStop } from "./stream-stop.js";

type Entry = Extract<JobLogItem, { type: "entry" }>;

export async function runJobLogs(
  jobId: string,
  options: LogsOptions,
  logger: CliLogger,
): Promise<number> {
  if (!isJobId(jobId)) throw new CliError(EXIT.USAGE, `invalid job id ${JSON.stringify(jobId)}`);
  if (options.node !== undefined)
    throw new CliError(EXIT.USAGE, "--job finds every execution itself: drop --node");
  if (options.fromSeq !== undefined)
    throw new CliError(EXIT.USAGE, "--from-seq is per execution: it does not apply to --job");
  const log = logger.child({ requesterId: options.requesterId, jobId });
  const { nc, client } = await openClient(options, log);
  const stopper = new StreamStop(nc, options.reconnectWindow);
  const out = palette(options.color && colorEnabled(process.stdout));
  const err = palette(options.color && colorEnabled(process.stderr));

  const text = (e: Entry): string => {
    const c = e.stream === "stderr" ? err : out;
    const prefix = options.prefix ? c.dim(`[${e.computeNodeId}/${e.executionId}] `) : "";
    const time = options.timestamps ? `${c.dim(new Date(e.time).toISOString())} ` : "";
    return `${prefix}${time}${e.stream === "stderr" ? c.red(e.line) : e.line}\n`;
  };
  let code: number = EXIT.OK;
  let failed: TailwireError | undefined;
  let firstNonZero: number | null | undefined;
  try {
    const stream = client.streamJobLogs({
      jobId,
      signal: stopper.signal,
      ...readFilters(options),
      ...(options.maxStreams === undefined ? {} : { maxStreams: options.maxStreams }),
    });
    for await (const item of stream) {
      if (item.type === "entry") {
        if (options.until !== undefined && item.time > options.until) continue;
        if (options.json) {
          const { type: _type, ...fields } = item;
          await writeLine(process.stdout, `${JSON.stringify(fields)}\n`);
        } else {
          await writeLine(item.stream === "stderr" ? process.stderr : process.stdout, text(item));
        }
      } else if (item.type === "removed") {
        // Lines one execution's retention removed: said in order, never skipped in silence.
        if (options.json) {
          await writeLine(
            process.stdout,
            `${JSON.stringify({ executionId: item.executionId, computeNodeId: item.computeNodeId, notice: "removed", reason: item.reason, fromSeq: item.fromSeq, toSeq: item.toSeq })}\n`,
          );
        } else {
          const prefix = options.prefix ? `[${item.computeNodeId}/${item.executionId}] ` : "";
          await writeLine(
            process.stderr,
            `${prefix}${removedNoticeText({ kind: "removed", ...item }, err)}`,
          );
        }
      } else if (item.type === "ended") {
        if (item.error) failed ??= item.error;
        else if (item.exitCode !== 0 && firstNonZero === undefined) firstNonZero = item.exitCode;
        await reportExecution(item, options, err);
      } else if (options.json) {
        await writeLine(process.stdout, `${JSON.stringify(item)}\n`);
      }
    }
    if (failed) {
      process.stderr.write(`tailwire logs: ${failed.code}: ${failed.message}\n`);
      code = exitCodeOf(failed.code);
    } else if (options.exitCode) {
      code = firstNonZero === undefined ? EXIT.OK : (firstNonZero ?? EXIT.NO_EXIT_CODE);
    }
  } catch (error) {
    code = reportFailure(error, stopper.by, options, nc.isClosed());
  } finally {
    stopper.dispose();
    await client.close();
    await nc.close().catch(() => {});
  }
  return code;
}

/** One execution's end: its exit code, or why its stream failed (the others go on). */
async function reportExecution(
  item: Extract<JobLogItem, { type: "ended" }>,
  options: LogsOptions,
  c: ReturnType<typeof palette>,
): Promise<void> {
  if (options.json) {
    const record = {
      type: "ended",
      executionId: item.executionId,
      computeNodeId: item.computeNodeId,
      exitCode: item.exitCode ?? null,
      ...(item.error ? { error: { code: item.error.code, message: item.error.message } } : {}),
    };
    await writeLine(process.stdout, `${JSON.stringify(record)}\n`);
    return;
  }
  const who = `execution ${item.executionId} on ${item.computeNodeId}`;
  const said = item.error
    ? c.red(`tailwire logs: ${who} failed: ${item.error.code}: ${item.error.message}`)
    : item.exitCode === null || item.exitCode === undefined
      ? options.follow
        ? `tailwire logs: ${who} ended without an exit code (killed by a signal, or it could not start)`
        : `tailwire logs: ${who} has no exit code yet (still running: -f follows it)`
      : item.exitCode === 0
        ? c.dim(`tailwire logs: ${who} exited with code 0`)
        : c.red(`tailwire logs: ${who} exited with code ${item.exitCode}`);
  await writeLine(process.stderr, `${said}\n`);
}
