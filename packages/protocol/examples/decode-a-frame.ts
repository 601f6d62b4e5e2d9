// Type-checked in CI and
// run by the protocol tests (examples.test.ts).
import {
  dataFrameEntries,
  decodeFrame,
  encodeDataFrame,
  MessageType,
  newStreamId,
  subjects,
  TailwireError,
} from "@tailwire/protocol";

export function example(): string[] {
  const out: string[] = [];
  const streamId = newStreamId();
  out.push(`request subject: ${subjects.request("node-3")}`);
  out.push(`frames arrive on: ${subjects.streamInbox("requester-0", streamId)}`);

  const bytes = encodeDataFrame(streamId, 1, [
    { seq: 1, stream: "stdout", time: Date.now(), line: "hello" },
  ]);
  const frame = decodeFrame(bytes);
  if (frame.type === MessageType.Data) {
    const entries = dataFrameEntries(frame);
    out.push(`decoded ${entries.length} entry: ${entries[0]?.line}`);
  }

  try {
    decodeFrame(new TextEncoder().encode('{"type":"ExecutionLogs.Data/v2"}'));
  } catch (error) {
    if (error instanceof TailwireError) out.push(`rejected: ${error.code}`);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(example().join("\n"));
