// The checks of one stream's frames as received: numbering, seq rules, both data-frame forms,
// split lines, credit, frame sizes, Accepted and End, and the entries against what was expected.
// It joins split lines itself rather than through protocol's EntryJoiner, on purpose: a checker
// must not share the code it judges (a bug there would pass in both), and it reports every
// problem by rule where EntryJoiner throws at the first.
import {
  type AcceptedFrame,
  type DecodedDataFrame,
  dataFrameSeq,
  type EndFrame,
  type LogEntry,
  MessageType,
} from "@tailwire/protocol";
import type { Recorder } from "../report.js";
import type { PlayedStream } from "./played-requester.js";

export interface Expectation {
  /** Entries the read must deliver, in order. */
  entries: LogEntry[];
  /** Accepted.afterSeq when it is determined (an unfiltered read), else undefined. */
  afterSeq?: number;
  /** The execution's last seq (Accepted.lastSeq and End.lastSeq of a whole read). */
  lastSeq: number;
  exitCode: number | null;
  /** Seed entries the read may skip (filters): used to check afterSeq is consistent. */
  matching?: (entry: LogEntry) => boolean;
  all?: LogEntry[];
  maxPayload: number;
}

const label = (stream: PlayedStream): string =>
  `${stream.request.executionId} window ${stream.window}${stream.policy ? ` grant at ${stream.policy.thresholdBytes}` : ""}`;

/** Joins a stream's data frames into entries, checking numbering, seq and split rules. */
export function checkStream(r: Recorder, stream: PlayedStream, expect: Expectation): void {
  const what = label(stream);
  const frames = stream.frames;
  const undecodable = frames.find((f) => f.frame === undefined);
  r.check(
    "C-DECODE",
    undecodable === undefined,
    undecodable
      ? `${what}: a frame did not decode: ${undecodable.error}`
      : `${what}: ${frames.length} frames decoded`,
  );
  const accepted = frames[0]?.frame as AcceptedFrame | undefined;
  if (accepted?.type !== MessageType.Accepted) {
    r.fail(
      "C-ACCEPTED",
      `${what}: the first frame is ${accepted?.type ?? "missing"}, not Accepted`,
    );
    return;
  }
  const acceptedProblems: string[] = [];
  if (accepted.streamId !== stream.streamId) acceptedProblems.push("streamId differs");
  if (accepted.computeNodeId !== stream.request.targetPeerId)
    acceptedProblems.push(`computeNodeId ${accepted.computeNodeId}`);
  if (expect.afterSeq !== undefined && accepted.afterSeq !== expect.afterSeq)
    acceptedProblems.push(`afterSeq ${accepted.afterSeq}, expected ${expect.afterSeq}`);
  if (accepted.lastSeq !== expect.lastSeq)
    acceptedProblems.push(`lastSeq ${accepted.lastSeq}, expected ${expect.lastSeq}`);
  if (expect.all && expect.matching) {
    const first = expect.entries[0]?.seq ?? Number.POSITIVE_INFINITY;
    const skipped = expect.all.find(
      (e) => expect.matching!(e) && e.seq > accepted.afterSeq && e.seq < first,
    );
    if (accepted.afterSeq >= first)
      acceptedProblems.push(`afterSeq ${accepted.afterSeq} >= first seq ${first}`);
    if (skipped)
      acceptedProblems.push(`afterSeq ${accepted.afterSeq} but entry ${skipped.seq} is not sent`);
  }
  r.check(
    "C-ACCEPTED",
    acceptedProblems.length === 0,
    acceptedProblems.length === 0
      ? `${what}: Accepted afterSeq ${accepted.afterSeq}, lastSeq ${accepted.lastSeq}, maxFrameBytes ${accepted.maxFrameBytes}`
      : `${what}: ${acceptedProblems.join("; ")}`,
  );
  const max = accepted.maxFrameBytes;
  const half = Math.floor(stream.window / 2);
  r.check(
    "C-MAX-FRAME-HALF-WINDOW",
    max <= half && max <= expect.maxPayload,
    `${what}: maxFrameBytes ${max}, floor(window / 2) = ${half}, max_payload ${expect.maxPayload}`,
  );

  // Numbering, sizes, credit, seqs and lines.
  const entries: LogEntry[] = [];
  let expectedN = 0;
  let numbering: string | undefined;
  let sizes: string | undefined;
  let credit: string | undefined;
  let seqProblem: string | undefined;
  let formProblem: string | undefined;
  let splitProblem: string | undefined;
  let splits = 0;
  let sent = 0;
  let lastSeq = 0;
  let partialOpen: LogEntry | undefined;
  let end: EndFrame | undefined;
  for (const received of frames) {
    const frame = received.frame;
    if (!frame) break;
    if (frame.type === MessageType.Error && frame.n === undefined) {
      numbering ??= `an Error without n (${frame.code}) after Accepted`;
      break;
    }
    const n = (frame as { n?: number }).n;
    if (n !== expectedN) numbering ??= `frame ${frame.type} has n ${n}, expected ${expectedN}`;
    expectedN = (n ?? expectedN) + 1;
    if (frame.type === MessageType.End) {
      end = frame;
      break;
    }
    if (frame.type === MessageType.Error) {
      numbering ??= `stream ended with Error ${frame.code}: ${frame.message}`;
      break;
    }
    if (frame.type !== MessageType.Data) continue;
    const data: DecodedDataFrame = frame;
    const bytes = received.raw.byteLength;
    sent += bytes;
    if (bytes > max) sizes ??= `frame ${n} is ${bytes} bytes, maxFrameBytes ${max}`;
    if (sent > stream.window + received.grantedBefore)
      credit ??= `frame ${n} brought data bytes to ${sent}, window ${stream.window} + granted ${received.grantedBefore}`;
    // The line form is needed exactly when a line holds a newline.
    const bodyForm = received.raw.includes(0x0a);
    const hasNewline = data.line.some((line) => line.includes("\n"));
    if (hasNewline && bodyForm)
      formProblem ??= `frame ${n} holds a line with a newline in the body form`;
    if (!hasNewline && !bodyForm)
      formProblem ??= `frame ${n} uses the line form without a line holding a newline`;
    if (data.firstSeq !== undefined && data.seq !== undefined)
      seqProblem ??= `frame ${n} has both seq and firstSeq`;
    for (let i = 0; i < data.stream.length; i++) {
      const seq = dataFrameSeq(data, i);
      const entry: LogEntry = {
        seq,
        stream: data.stream[i] === "o" ? "stdout" : "stderr",
        time: data.time[i] as number,
        line: data.line[i] as string,
      };
      if (i === 0 && partialOpen) {
        // A continuation: the same seq, and (as the entry it continues) the same stream and time.
        if (seq !== partialOpen.seq) {
          splitProblem ??= `frame ${n} starts with seq ${seq}, the partial line was seq ${partialOpen.seq}`;
        }
        if (entry.stream !== partialOpen.stream || entry.time !== partialOpen.time) {
          splitProblem ??= `frame ${n}: the continuation of seq ${seq} has stream ${entry.stream} and time ${entry.time}, the partial part ${partialOpen.stream} and ${partialOpen.time}`;
        }
        partialOpen.line += entry.line;
        splits++;
        // The joined line is complete unless this frame holds only it and continues it again.
        if (data.stream.length > 1 || data.partial !== true) {
          entries.push(partialOpen);
          partialOpen = undefined;
        }
        continue;
      }
      if (seq <= lastSeq) seqProblem ??= `frame ${n} entry ${i}: seq ${seq} after ${lastSeq}`;
      lastSeq = seq;
      const isLast = i === data.stream.length - 1;
      if (isLast && data.partial === true) partialOpen = entry;
      else entries.push(entry);
    }
    if (data.seq !== undefined) {
      const consecutive = data.seq.every(
        (s, i) => i === 0 || s === (data.seq![i - 1] as number) + 1,
      );
      if (consecutive && data.seq.length > 1)
        seqProblem ??= `frame ${n} sends a seq column of consecutive seqs (firstSeq is for that)`;
    }
  }
  if (partialOpen)
    splitProblem ??= `the stream ended inside a partial line (seq ${partialOpen.seq})`;
  r.check(
    "C-FRAME-NUMBERS",
    numbering === undefined,
    numbering ? `${what}: ${numbering}` : `${what}: frames 0..${expectedN - 1} in order`,
  );
  r.check(
    "C-MAX-FRAME",
    sizes === undefined,
    sizes ? `${what}: ${sizes}` : `${what}: every data frame <= ${max} bytes`,
  );
  r.check(
    "C-CREDIT-BOUND",
    credit === undefined,
    credit
      ? `${what}: ${credit}`
      : `${what}: ${sent} data bytes within window + ${stream.granted} granted`,
  );
  r.check(
    "C-SEQ",
    seqProblem === undefined,
    seqProblem ? `${what}: ${seqProblem}` : `${what}: seqs increase`,
  );
  r.check(
    "C-LINE-FORM",
    formProblem === undefined,
    formProblem ? `${what}: ${formProblem}` : `${what}: forms as the lines require`,
  );
  if (splits > 0 || splitProblem) {
    const long = expect.entries.find((e) => e.line.length > 10_000);
    const joined = long ? entries.find((e) => e.seq === long.seq) : undefined;
    if (long && joined?.line !== long.line)
      splitProblem ??= `seq ${long.seq} rejoined to ${joined?.line.length ?? 0} characters, expected ${long.line.length} (content differs)`;
    r.check(
      "C-SPLIT-LINE",
      splitProblem === undefined,
      splitProblem
        ? `${what}: ${splitProblem}`
        : `${what}: ${splits} continuations rejoined exactly`,
    );
  }
  // Entries against the expectation.
  const mismatch = firstMismatch(entries, expect.entries);
  r.check(
    "C-ENTRIES",
    mismatch === undefined,
    mismatch ? `${what}: ${mismatch}` : `${what}: ${entries.length} entries exactly as seeded`,
  );
  if (!end) {
    if (numbering === undefined) r.fail("C-END", `${what}: no End frame`);
    return;
  }
  const endProblems: string[] = [];
  if (end.lastSeq !== expect.lastSeq)
    endProblems.push(`lastSeq ${end.lastSeq}, expected ${expect.lastSeq}`);
  if ((end.exitCode ?? null) !== expect.exitCode)
    endProblems.push(`exitCode ${end.exitCode}, expected ${expect.exitCode}`);
  r.check(
    "C-END",
    endProblems.length === 0,
    endProblems.length
      ? `${what}: ${endProblems.join("; ")}`
      : `${what}: End lastSeq ${end.lastSeq}, exitCode ${end.exitCode}`,
  );
}

function firstMismatch(got: LogEntry[], want: LogEntry[]): string | undefined {
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    const g = got[i];
    const w = want[i];
    if (!g)
      return `entry ${i} (seq ${w?.seq}) missing: ${got.length} entries, expected ${want.length}`;
    if (!w)
      return `entry ${i} (seq ${g.seq}) is extra: ${got.length} entries, expected ${want.length}`;
    for (const key of ["seq", "stream", "time", "line"] as const) {
      if (g[key] !== w[key]) {
        const show = (v: unknown) => JSON.stringify(v).slice(0, 60);
        return `entry ${i}: ${key} ${show(g[key])}, expected ${show(w[key])}`;
      }
    }
  }
  return undefined;
}
