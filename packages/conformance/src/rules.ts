// The catalogue of rules the kit checks, each with the PROTOCOL.md section it comes from. A rule
// with `notCheckable` is reported N/A: the runner names it so an implementer knows to test it
// some other way.

export type RuleMode = "compute" | "requester";

export interface Rule {
  id: string;
  mode: RuleMode;
  /** A heading of PROTOCOL.md (a test checks that it exists). */
  section: string;
  title: string;
  /** Why the runner cannot observe this rule from outside the implementation. */
  notCheckable?: string;
}

const STREAM = "A stream, from request to end";
const DATA = "Data frames";
const ORDER = "Ordering and gaps";
const FLOW = "Flow control";
const CANCEL = "Cancel";
const HB = "Heartbeats";
const SUBJECTS = "Subjects";
const COMPAT = "Compatibility rules";

const ruleOf =
  (mode: RuleMode) =>
  (id: string, section: string, title: string, notCheckable?: string): Rule => ({
    id,
    mode,
    section,
    title,
    ...(notCheckable === undefined ? {} : { notCheckable }),
  });
const compute = ruleOf("compute");
const requester = ruleOf("requester");

export const RULES: readonly Rule[] = [
  // ---- compute mode: the runner is the requester ----
  compute(
    "C-DECODE",
    DATA,
    "every frame decodes (strict UTF-8, schema, columns of equal length, one seq form, one line form)",
  ),
  compute(
    "C-ACCEPTED",
    STREAM,
    "Accepted is n 0 with streamId, computeNodeId, afterSeq, lastSeq and maxFrameBytes as the read implies",
  ),
  compute(
    "C-FRAME-NUMBERS",
    ORDER,
    "frames are numbered 0 (Accepted), 1, 2, ... through End/Error",
  ),
  compute(
    "C-SEQ",
    DATA,
    "seq increases strictly (a continuation repeats the partial entry's seq); firstSeq only for consecutive seqs",
  ),
  compute("C-ENTRIES", STREAM, "the entries are exactly the seed's: seq, stream, time and line"),
  compute(
    "C-LINE-FORM",
    DATA,
    "a frame holding a line with a newline carries its lines as the JSON array `line`, other frames use the body form",
  ),
  compute(
    "C-SPLIT-LINE",
    STREAM,
    "a long line is split over frames (partial: true, continued under the same seq) and rejoins exactly",
  ),
  compute("C-END", STREAM, "End gives lastSeq = the last seq covered and the execution's exitCode"),
  compute(
    "C-READ-OPTIONS",
    STREAM,
    "tail, fromSeq (over tail), since and streams select exactly the entries they say; a follow of a completed execution ends with End after its history",
  ),
  compute("C-MAX-FRAME", DATA, "no data frame is larger than Accepted.maxFrameBytes"),
  compute(
    "C-MAX-FRAME-HALF-WINDOW",
    FLOW,
    "maxFrameBytes <= floor(window / 2) and <= the server's max_payload",
  ),
  compute("C-CREDIT-BOUND", FLOW, "data-frame bytes never exceed window + credit granted"),
  compute(
    "C-CREDIT-NO-STALL",
    FLOW,
    "a requester that grants per the spec's rule (several windows from 1 KiB and thresholds) always gets its stream to End",
  ),
  compute(
    "C-CANCEL",
    CANCEL,
    "after cancel nothing more is sent on the stream, even with credit granted",
  ),
  compute("C-CANCEL-FOREIGN", CANCEL, "a cancel from another sourcePeerId is ignored"),
  compute("C-CANCEL-RELEASES", CANCEL, "cancelled streams no longer count against the limits"),
  compute(
    "C-HEARTBEAT",
    HB,
    "a compute node with open streams heartbeats the request's heartbeatSubject every interval, listing all its streams for that requester",
  ),
  compute(
    "C-HEARTBEAT-CREDIT-WAIT",
    HB,
    "a heartbeat lists in creditWait the streams waiting for credit",
  ),
  compute(
    "C-HEARTBEAT-UNKNOWN",
    HB,
    "a stream the requester answers as unknown stops at once, silently; the others go on",
  ),
  compute("C-HEARTBEAT-ONLY-OPEN", HB, "no heartbeats once the requester has no open stream"),
  compute(
    "C-REQUESTER-LOST",
    HB,
    "after maxMissedHeartbeats failed heartbeats the node stops the requester's streams without sending on them",
  ),
  compute(
    "C-REJECT-EXECUTION_NOT_FOUND",
    STREAM,
    "an unknown execution gets Error EXECUTION_NOT_FOUND (no n)",
  ),
  compute(
    "C-REJECT-BAD_REQUEST",
    STREAM,
    "a request failing the schema, or with a wrong heartbeatSubject or targetPeerId, gets Error BAD_REQUEST (no n)",
  ),
  compute(
    "C-REJECT-UNSUPPORTED_VERSION",
    COMPAT,
    "a request of another version gets Error UNSUPPORTED_VERSION (no n)",
  ),
  compute(
    "C-REJECT-TAIL_TOO_LARGE",
    STREAM,
    "a tail above the node's limit gets Error TAIL_TOO_LARGE",
  ),
  compute(
    "C-REJECT-DUPLICATE_STREAM",
    STREAM,
    "a second request with an open stream's id gets Error DUPLICATE_STREAM and the open stream goes on",
  ),
  compute(
    "C-REJECT-TOO_MANY_REQUESTER_STREAMS",
    STREAM,
    "a requester past its stream limit gets Error TOO_MANY_REQUESTER_STREAMS",
  ),
  compute(
    "C-REJECT-TOO_MANY_STREAMS",
    STREAM,
    "past the node's stream limit a request gets Error TOO_MANY_STREAMS",
  ),
  compute(
    "C-REJECT-RATE_LIMITED",
    STREAM,
    "a requester sending faster than its rate limit gets Error RATE_LIMITED; every request is answered",
  ),
  compute(
    "C-REJECT-RATE_LIMITED-NODE",
    STREAM,
    "requests from many requester ids past the node-wide rate limit get Error RATE_LIMITED",
  ),
  compute(
    "C-LIMIT-REQUEST-BYTES",
    STREAM,
    "a request over 16,384 bytes is not served (Error PAYLOAD_TOO_LARGE or no reply)",
  ),
  compute("C-LIMIT-CONTROL-BYTES", CANCEL, "a control message over 256 KiB is ignored"),
  compute(
    "C-SILENT-FOREIGN-INBOX",
    STREAM,
    "a valid request whose reply subject is not _TW.<sourcePeerId>.s.<streamId> gets no reply at all",
  ),
  compute(
    "C-SILENT-UNPARSABLE",
    STREAM,
    "an unparsable or non-object request, even with a reply subject shaped like a stream inbox, gets no reply at all",
  ),
  compute(
    "C-FOLLOW",
    STREAM,
    "a follow keeps sending new lines until the execution completes, then End",
    "new lines of an execution still being written: the kit's seeds are complete (a follow of a completed one is checked by C-READ-OPTIONS; test this with your own running job)",
  ),
  compute(
    "C-GOING-AWAY",
    HB,
    "a compute node that shuts down sends Error GOING_AWAY on every open stream",
    "needs the node under test to be shut down during the run",
  ),
  compute(
    "C-NO-RESPONDERS",
    STREAM,
    "with no compute node subscribed, NATS answers 503",
    "a property of the NATS server, not of the implementation",
  ),

  // ---- requester mode: the runner is the compute node ----
  requester(
    "R-REQUEST",
    SUBJECTS,
    "every request decodes, targets this node, names the reply _TW.<sourcePeerId>.s.<streamId> and heartbeatSubject _TW.<sourcePeerId>.hb",
  ),
  requester(
    "R-REQUEST-HEARTBEAT-TIMEOUT",
    HB,
    "heartbeatTimeoutMs, when given, is shorter than heartbeatIntervalMs",
  ),
  requester(
    "R-CONTROL",
    CANCEL,
    "every control message decodes and names only streams of its sourcePeerId",
  ),
  requester(
    "R-CREDIT",
    FLOW,
    "grants arrive so that streams never stall on credit (windows smaller than the log, frames of floor(window / 2))",
  ),
  requester(
    "R-CREDIT-PARTIAL",
    FLOW,
    "bytes of frames carrying only part of a line are granted back (a line longer than the window completes)",
  ),
  requester("R-STREAM-COMPLETES", STREAM, "each kit execution requested is read to its End"),
  requester(
    "R-HEARTBEAT-ANSWER",
    HB,
    "a heartbeat is answered with requesterNodeId and exactly the listed ids the requester does not hold",
  ),
  requester(
    "R-GAP",
    ORDER,
    "after a missing frame number the requester stops the stream (cancel) and, if it resumes, asks fromSeq = the last seq before the gap",
  ),
  requester(
    "R-DUPLICATE",
    ORDER,
    "after a repeated frame number the requester stops the stream (cancel) and, if it resumes, asks fromSeq = the last seq before it",
  ),
  requester(
    "R-RECONCILE",
    HB,
    "a heartbeat that omits an accepted stream (past the grace) breaks it: cancel, and a bounded resume from its last seq if any",
  ),
  requester(
    "R-RESUME-BOUNDED",
    HB,
    "a stream that heartbeats keep omitting is resumed a bounded number of times (at most 10 requests), then given up",
  ),
  requester("R-CANCEL", CANCEL, "a requester that stops reading a stream sends cancel for it"),
  requester(
    "R-SPLIT-JOIN",
    STREAM,
    "the requester joins a split line back into one line",
    "what the consumer receives is inside the requester; compare it with the seed (the runner prints the sha256 of every seed line)",
  ),
  requester(
    "R-NO-DUPLICATE-HANDED",
    ORDER,
    "a gap or duplicate is never handed to the consumer",
    "inside the requester; observable only through what it asks next (R-GAP, R-DUPLICATE)",
  ),
];

export const rulesOf = (mode: RuleMode): Rule[] => RULES.filter((rule) => rule.mode === mode);
