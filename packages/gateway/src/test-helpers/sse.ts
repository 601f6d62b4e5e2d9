// Reads an HTTP response body as server-sent events, with eventsource-parser (the parser the
// page uses too), so tests see exactly what a browser would.
import { createParser, type EventSourceMessage } from "eventsource-parser";

export interface SseEvent {
  event: string;
  id: string | undefined;
  data: string;
}

export interface SseRead {
  events: SseEvent[];
  comments: string[];
}

/**
 * Collects events until the body ends or `until` returns true (then the body is cancelled,
 * i.e. the socket closed).
 */
export async function readSse(
  response: Response,
  until: (read: SseRead) => boolean = () => false,
): Promise<SseRead> {
  const read: SseRead = { events: [], comments: [] };
  const parser = createParser({
    onEvent: (message: EventSourceMessage) =>
      read.events.push({ event: message.event ?? "message", id: message.id, data: message.data }),
    onComment: (comment) => read.comments.push(comment),
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
    if (until(read)) {
      await reader.cancel();
      break;
    }
  }
  return read;
}

export const dataOf = (events: SseEvent[]) =>
  events
    .filter((e) => e.event === "message")
    .map((e) => JSON.parse(e.data) as { seq: number; stream: string; time: number; line: string });
