// The conformance transcripts: whole exchanges, built from our encoders (see transcript-builder).
import { subjects } from "../../subjects.js";
import { encode } from "../codec.js";
import { type LogEntry, MessageType } from "../schemas.js";
import {
  accepted,
  control,
  dataFrame,
  type Exchange,
  end,
  message,
  nothing,
  rejection,
  request,
  type Step,
  SUBJECT,
  send,
  type Transcript,
  VARS,
} from "./transcript-builder.js";

const REQ = "requester→compute" as const;
const CMP = "compute→requester" as const;
const STREAM = "A stream, from request to end";
const DATA = "Data frames";
const FLOW = "Flow control";
const ORDER = "Ordering and gaps";
const HB = "Heartbeats";
const T = 1732790000000;
const inbox = SUBJECT.inbox();
const reply = { reply: inbox };

const basic: LogEntry[] = [
  { seq: 1, stream: "stdout", time: T, line: "starting job" },
  { seq: 2, stream: "stderr", time: T + 2, line: "warning: low disk" },
  { seq: 3, stream: "stdout", time: T + 2, line: "" },
  { seq: 4, stream: "stdout", time: T + 9, line: "grüße, 日本語, emoji 😀" },
  { seq: 5, stream: "stderr", time: T + 41, line: "an entry that holds\na newline" },
  { seq: 6, stream: "stdout", time: T + 700, line: "after a pause" },
  { seq: 7, stream: "stderr", time: T + 650, line: "the clock stepped back 50 ms" },
  { seq: 8, stream: "stdout", time: T + 651, line: "last line" },
];

function wholeRead(): Transcript {
  return {
    name: "whole-read",
    title: "request → Accepted → Data… → End",
    description:
      "A whole completed history: the body form with firstSeq, the line form for a frame holding an entry with a newline, End with lastSeq and exitCode. Frame boundaries are the compute node's choice (vary: framing): compare the entries, not the cut.",
    variables: VARS,
    exchanges: [
      {
        title: "whole history of a completed execution",
        steps: [
          send(
            REQ,
            SUBJECT.request,
            message(request({ executionId: "conformance-basic" })),
            STREAM,
            { ...reply, note: "reply is exactly _TW.<sourcePeerId>.s.<streamId>" },
          ),
          send(CMP, inbox, accepted(0, 8, 32768), STREAM, {
            vary: ["maxFrameBytes"],
            note: "n 0; afterSeq 0: the stream carries every seq > 0",
          }),
          send(CMP, inbox, dataFrame(1, basic.slice(0, 4)), DATA, {
            vary: ["framing"],
            note: "body form: the JSON header, a newline, the lines joined by newlines (an empty line is an empty row)",
          }),
          send(CMP, inbox, dataFrame(2, basic.slice(4, 5)), DATA, {
            vary: ["framing"],
            note: "entry 5 holds a newline: this frame carries its lines as the JSON array line, no body",
          }),
          send(CMP, inbox, dataFrame(3, basic.slice(5)), DATA, {
            vary: ["framing"],
            note: "timeDelta: +700 ms is two digits, -50 ms (the clock stepped back) too",
          }),
          send(CMP, inbox, end(4, 8, 3), STREAM, { note: "frame numbers continue through End" }),
        ],
      },
      {
        title: "filtered read: only stderr, so seqs skip and the frame carries the seq column",
        steps: [
          send(
            REQ,
            SUBJECT.request,
            message(request({ executionId: "conformance-basic", streams: ["stderr"] })),
            STREAM,
            reply,
          ),
          send(CMP, inbox, accepted(0, 8, 32768), STREAM, { vary: ["maxFrameBytes"] }),
          send(
            CMP,
            inbox,
            dataFrame(
              1,
              basic.filter((e) => e.stream === "stderr"),
            ),
            DATA,
            { vary: ["framing"] },
          ),
          send(CMP, inbox, end(2, 8, 3), STREAM, {
            note: "lastSeq counts the entries the filter skipped",
          }),
        ],
      },
      {
        title:
          "compression offered with codecs the node does not have: ignored, plain frames, no Accepted.compression",
        steps: [
          send(
            REQ,
            SUBJECT.request,
            message(request({ executionId: "conformance-basic", tail: 2, compression: ["lz77x"] })),
            "Compressed frames (v1, optional)",
            { ...reply, note: "unknown codec names in the offer are ignored" },
          ),
          send(CMP, inbox, accepted(6, 8, 32768), STREAM, {
            vary: ["maxFrameBytes"],
            note: "no compression field: the stream's frames are plain",
          }),
          send(CMP, inbox, dataFrame(1, basic.slice(6)), DATA, { vary: ["framing"] }),
          send(CMP, inbox, end(2, 8, 3), STREAM),
        ],
      },
      {
        title: "resume: fromSeq takes precedence over tail",
        steps: [
          send(
            REQ,
            SUBJECT.request,
            message(request({ executionId: "conformance-basic", tail: 2, fromSeq: 5 })),
            STREAM,
            reply,
          ),
          send(CMP, inbox, accepted(5, 8, 32768), STREAM, {
            vary: ["maxFrameBytes"],
            note: "afterSeq = fromSeq",
          }),
          send(CMP, inbox, dataFrame(1, basic.slice(5)), DATA, { vary: ["framing"] }),
          send(CMP, inbox, end(2, 8, 3), STREAM),
        ],
      },
    ],
  };
}

/** Lines of 70 bytes, enough to exhaust a 1 KiB window many times over. */
const creditLines: LogEntry[] = Array.from({ length: 40 }, (_, i) => ({
  seq: i + 1,
  stream: "stdout",
  time: T + i,
  line: `line ${String(i + 1).padStart(4, "0")} ${"x".repeat(60)}`,
}));

function creditRound(): Transcript {
  // window 1024, maxFrameBytes 512 = floor(window / 2); the requester consumes each frame at once
  // and grants when released-but-ungranted bytes reach half the window (512).
  const window = 1024;
  const steps: Step[] = [
    send(
      REQ,
      SUBJECT.request,
      message(request({ executionId: "conformance-credit", window })),
      FLOW,
      { ...reply, credit: { window, sent: 0, granted: 0 } },
    ),
    send(CMP, inbox, accepted(0, 40, 512), FLOW, {
      note: "maxFrameBytes <= floor(window / 2)",
      credit: { window, sent: 0, granted: 0 },
    }),
  ];
  let sent = 0;
  let granted = 0;
  let received = 0;
  // A slow consumer: it takes the frames received so far only when the compute node is out of
  // credit, so the window is exhausted, then refilled by one grant.
  for (let n = 1, seq = 0; seq < 36; n++, seq += 4) {
    const frame = dataFrame(n, creditLines.slice(seq, seq + 4));
    if (sent + frame.byteLength > window + granted) {
      steps.push(
        nothing(
          inbox,
          FLOW,
          `credit exhausted: ${window + granted - sent} bytes left, the next frame needs ${frame.byteLength}: the compute node waits (its heartbeats list the stream in creditWait)`,
          200,
        ),
      );
      granted += received;
      steps.push(
        send(
          REQ,
          SUBJECT.control,
          control({ credit: [{ streamId: VARS.streamId, bytes: received }] }),
          FLOW,
          {
            note: "the consumer took the entries of the frames received: their bytes are released (at least half a window) and granted",
            credit: { window, sent, granted },
          },
        ),
      );
      received = 0;
    }
    sent += frame.byteLength;
    received += frame.byteLength;
    steps.push(
      send(CMP, inbox, frame, FLOW, { vary: ["framing"], credit: { window, sent, granted } }),
    );
  }
  steps.push(
    send(REQ, SUBJECT.control, control({ cancel: [VARS.streamId] }), "Cancel", {
      note: "the requester stops here",
    }),
  );
  steps.push(nothing(inbox, "Cancel", "nothing more on a cancelled stream, even with credit left"));
  return {
    name: "credit",
    title: "credit exhaustion and grant",
    description:
      "frameBytes is the whole NATS payload of a Data frame (header, newline and body); only Data frames count. The compute node sends a frame only if sent + frameBytes <= window + granted. The requester releases a frame's bytes once its complete entries are handed over (here at once) and grants no later than when released-but-ungranted bytes reach half the window. Each step's `credit` gives the state after it.",
    variables: VARS,
    exchanges: [{ title: "window 1024, grants at half a window, then cancel", steps }],
  };
}

function splitLine(): Transcript {
  const long = "ü€😀a".repeat(150); // 1,500 bytes of 1- to 4-byte characters
  const window = 1024;
  // Cut at code point boundaries so every part fits 512 bytes with its frame.
  const parts = [0, 1, 2, 3, 4].map((i) => long.slice(i * 150, (i + 1) * 150)); // 300 bytes each
  const entry = (line: string, seq = 2): LogEntry => ({ seq, stream: "stdout", time: T + 1, line });
  const frames: [LogEntry[], boolean][] = [
    [[{ seq: 1, stream: "stdout", time: T, line: "before" }, entry(parts[0]!)], true],
    [[entry(parts[1]!)], true],
    [[entry(parts[2]!)], true],
    [[entry(parts[3]!)], true],
    [[entry(parts[4]!), { seq: 3, stream: "stderr", time: T + 2, line: "after" }], false],
  ];
  const steps: Step[] = [
    send(REQ, SUBJECT.request, message(request({ executionId: "e-split", window })), STREAM, reply),
    send(CMP, inbox, accepted(0, 3, 512), STREAM),
  ];
  let sent = 0;
  let granted = 0;
  let ungranted = 0;
  frames.forEach(([entries, partial], i) => {
    const bytes = dataFrame(i + 1, entries, partial).byteLength;
    sent += bytes;
    steps.push(
      send(CMP, inbox, dataFrame(i + 1, entries, partial), STREAM, {
        vary: ["framing"],
        credit: { window, sent, granted },
        note: partial
          ? "partial: the last line continues in the next frame under the same seq (cut between code points)"
          : "the continuation ends here: the requester joins the parts into one line of 1,500 bytes",
      }),
    );
    // A frame with no complete entry is released at receipt; the others when handed over.
    ungranted += bytes;
    if (ungranted >= window / 2) {
      granted += ungranted;
      steps.push(
        send(
          REQ,
          SUBJECT.control,
          control({ credit: [{ streamId: VARS.streamId, bytes: ungranted }] }),
          FLOW,
          {
            credit: { window, sent, granted },
            note: "a frame carrying only part of a line is released at receipt",
          },
        ),
      );
      ungranted = 0;
    }
  });
  steps.push(send(CMP, inbox, end(frames.length + 1, 3, 0), STREAM));
  return {
    name: "split-line",
    title: "a line longer than a frame",
    description:
      "A 1,500-byte line of multi-byte UTF-8 travels in five parts at UTF-8 code point boundaries and is joined back exactly; the requester releases part-only frames at receipt, so a line longer than the window still completes.",
    variables: VARS,
    exchanges: [{ title: "split over five frames", steps }],
  };
}

function heartbeats(): Transcript {
  const hb = (ids: string[]) =>
    message({ type: MessageType.Heartbeat, computeNodeId: VARS.computeNodeId, streamIds: ids });
  const answer = (ids: string[]) =>
    message({
      type: MessageType.HeartbeatResponse,
      requesterNodeId: VARS.requesterNodeId,
      unknownStreamIds: ids,
    });
  const inboxReply = { reply: "{inbox}" };
  return {
    name: "heartbeat",
    title: "heartbeats: an unknown stream, a stream the heartbeat omits",
    description:
      "Heartbeats are NATS requests from the compute node (any reply inbox) listing every stream it serves the requester; the answer lists those it does not hold, which stop at once and silently.",
    variables: VARS,
    exchanges: [
      {
        title: "the requester no longer holds one of the listed streams",
        steps: [
          send(CMP, SUBJECT.heartbeat, hb([VARS.streamId, VARS.streamId2]), HB, {
            ...inboxReply,
            note: "at least every heartbeatIntervalMs while streams are open",
          }),
          send(REQ, "{inbox}", answer([VARS.streamId2]), HB, {
            note: "the reply to the heartbeat request",
          }),
          nothing(
            SUBJECT.inbox("streamId2"),
            HB,
            "the compute node stops streamId2 at once, without a frame",
          ),
          send(CMP, SUBJECT.heartbeat, hb([VARS.streamId]), HB, {
            ...inboxReply,
            note: "later heartbeats no longer list it",
          }),
          send(REQ, "{inbox}", answer([]), HB),
        ],
      },
      {
        title:
          "a heartbeat omits a stream the requester holds open (accepted longer ago than the grace)",
        steps: [
          send(CMP, SUBJECT.heartbeat, hb([VARS.streamId2]), HB, {
            ...inboxReply,
            note: "streamId is not listed",
          }),
          send(REQ, "{inbox}", answer([]), HB),
          send(REQ, SUBJECT.control, control({ cancel: [VARS.streamId] }), HB, {
            note: "the requester breaks the stream as COMPUTE_NODE_LOST and cancels it",
          }),
          send(
            REQ,
            SUBJECT.request,
            message(
              request({ executionId: "conformance-basic", fromSeq: 4 }, "cmVzdW1lZC1zdHJlYW0taWQ"),
            ),
            HB,
            {
              reply: "_TW.{requesterNodeId}.s.cmVzdW1lZC1zdHJlYW0taWQ",
              vary: ["streamId"],
              note: "and may resume (bounded by its resume policy) with a NEW stream id, fromSeq = the last seq it received",
            },
          ),
        ],
      },
    ],
  };
}

function gap(): Transcript {
  return {
    name: "gap",
    title: "a missing frame number",
    description:
      "The requester checks frame numbers: a gap or a duplicate is never handed to the consumer. It cancels the stream and either ends it with SEQUENCE_GAP or resumes with fromSeq = the last seq it received.",
    variables: VARS,
    exchanges: [
      {
        title: "frame 2 is lost",
        steps: [
          send(
            REQ,
            SUBJECT.request,
            message(request({ executionId: "conformance-basic" })),
            ORDER,
            reply,
          ),
          send(CMP, inbox, accepted(0, 8, 32768), ORDER, { vary: ["maxFrameBytes"] }),
          send(CMP, inbox, dataFrame(1, basic.slice(0, 2)), ORDER),
          send(CMP, inbox, dataFrame(3, basic.slice(3, 4)), ORDER, {
            note: "n 3 after n 1: a gap; entries 3 and 4 were in the lost frame 2, nothing of this frame is handed over",
          }),
          send(REQ, SUBJECT.control, control({ cancel: [VARS.streamId] }), ORDER),
          send(
            REQ,
            SUBJECT.request,
            message(request({ executionId: "conformance-basic", fromSeq: 2 }, VARS.streamId2)),
            ORDER,
            {
              reply: SUBJECT.inbox("streamId2"),
              vary: ["streamId"],
              note: "resume from the last seq received",
            },
          ),
        ],
      },
    ],
  };
}

function rejections(): Transcript {
  const basicRequest = request({ executionId: "conformance-basic" });
  const asText = (value: unknown) => JSON.stringify(value);
  const reject = (
    title: string,
    payload: string,
    code: Parameters<typeof rejection>[0],
    why: string,
  ): Exchange => ({
    title,
    steps: [
      send(REQ, SUBJECT.request, payload, STREAM, reply),
      send(CMP, inbox, rejection(code, why), STREAM, {
        vary: ["message"],
        note: "an Error frame without n answers the request",
      }),
    ],
  });
  const silent = (title: string, payload: string, replyTo: string, note: string): Exchange => ({
    title,
    steps: [
      send(REQ, SUBJECT.request, payload, STREAM, { reply: replyTo }),
      nothing(replyTo, STREAM, note),
    ],
  });
  const { follow: _follow, ...noFollow } = basicRequest;
  return {
    name: "rejections",
    title: "every rejection, and the requests that get no reply at all",
    description:
      "A request that passes the identity check (a JSON object whose sourcePeerId and streamId are valid tokens, reply subject exactly _TW.<sourcePeerId>.s.<streamId>) but fails otherwise gets an Error frame without n on that subject. Anything else gets no reply at all. Limits (TAIL_TOO_LARGE, the stream limits, RATE_LIMITED) depend on the node's configuration. The message text is free (vary: message).",
    variables: VARS,
    exchanges: [
      reject(
        "unknown execution",
        message(request({ executionId: "e-404" })),
        "EXECUTION_NOT_FOUND",
        "no logs for execution e-404 on node-3",
      ),
      reject(
        "schema: a required field missing",
        asText(noFollow),
        "BAD_REQUEST",
        "invalid ExecutionLogs.Request/v1: /follow: Expected required property",
      ),
      reject(
        "schema: window below 1024",
        asText({ ...basicRequest, window: 5 }),
        "BAD_REQUEST",
        "invalid ExecutionLogs.Request/v1: /window: Expected integer to be greater or equal to 1024",
      ),
      reject(
        "heartbeatSubject not the requester's",
        asText({ ...basicRequest, heartbeatSubject: "_TW.somebody-else.hb" }),
        "BAD_REQUEST",
        "heartbeat subject _TW.somebody-else.hb is not the requester's",
      ),
      reject(
        "targetPeerId not this node",
        asText({ ...basicRequest, targetPeerId: "node-4" }),
        "BAD_REQUEST",
        "targetPeerId node-4 is not this node (node-3)",
      ),
      reject(
        "another version",
        asText({ ...basicRequest, type: "ExecutionLogs.Request/v2" }),
        "UNSUPPORTED_VERSION",
        'unsupported message type "ExecutionLogs.Request/v2"; this node speaks ExecutionLogs.Request/v1',
      ),
      reject(
        "tail above the node's limit",
        message(request({ executionId: "conformance-basic", tail: 1001 })),
        "TAIL_TOO_LARGE",
        "tail 1001 exceeds the limit of 1000 lines",
      ),
      reject(
        "the stream id is already open",
        message(basicRequest),
        "DUPLICATE_STREAM",
        `stream ${VARS.streamId} is already open`,
      ),
      reject(
        "the node's stream limit",
        message(basicRequest),
        "TOO_MANY_STREAMS",
        "this node serves 16 streams already",
      ),
      reject(
        "the requester's stream limit",
        message(basicRequest),
        "TOO_MANY_REQUESTER_STREAMS",
        "requester has 8 open streams already",
      ),
      reject(
        "faster than the rate limit (per requester or node-wide)",
        message(request({ executionId: "e-404" })),
        "RATE_LIMITED",
        "more than 50 requests per second",
      ),
      silent(
        "over 16,384 bytes",
        asText({ ...basicRequest, pad: "x".repeat(16_400) }),
        `_TW.${"{requesterNodeId}"}.s.${VARS.streamId}`,
        "no reply: a request over the bound is not read, not even for the inbox it names (counted as PAYLOAD_TOO_LARGE)",
      ),
      reject(
        "the node is shutting down",
        message(basicRequest),
        "GOING_AWAY",
        "compute node is shutting down",
      ),
      silent(
        "not JSON, with a reply shaped like a stream inbox",
        "{not json",
        "_TW.victim.s.b3JhbmdlLXN0cmVhbS1pZA",
        "no reply: nothing proves the inbox is the sender's",
      ),
      silent("a JSON array", "[1,2,3]", "_TW.victim.s.b3JhbmdlLXN0cmVhbS1pZA", "no reply"),
      silent(
        "a valid request naming another requester's inbox",
        message(basicRequest),
        "_TW.victim.s.b3JhbmdlLXN0cmVhbS1pZA",
        "no reply: the reply subject is not _TW.<sourcePeerId>.s.<streamId>",
      ),
      silent(
        "a valid request naming the inbox of another stream id",
        message(basicRequest),
        `_TW.${"{requesterNodeId}"}.s.${VARS.streamId2}`,
        "no reply",
      ),
    ],
  };
}

export const transcripts = (): Transcript[] => [
  wholeRead(),
  creditRound(),
  splitLine(),
  heartbeats(),
  gap(),
  rejections(),
];

/** The decoder input of a step: its payload's UTF-8 bytes. */
export const stepBytes = (step: Step): Uint8Array => new TextEncoder().encode(step.payload ?? "");
export { encode, subjects };
