// The stream registry: every stream this node serves (opening or accepted) and the requester
// links that heartbeat them, keyed by requester, so that limits, duplicate checks, control
// messages and heartbeats all find the same streams, and another requester's ids find nothing.
import type { ControlMessage } from "@tailwire/protocol";
import type { RequesterLink } from "./requester-link.js";
import type { ServedStream } from "./served-stream.js";
import type { WireDialect } from "./wire-dialect.js";

/**
 * Makes the link (heartbeat loop) of a requester, for its first accepted stream. A requester's
 * v1 and v2 streams have two heartbeat subjects, so two links, each heartbeating in its version.
 */
export type LinkFactory = (
  key: string,
  requesterNodeId: string,
  heartbeatSubject: string,
  wire: WireDialect,
) => RequesterLink;

export class StreamRegistry {
  /** Every registered stream (opening or accepted), by `${requesterNodeId}/${streamId}`. */
  readonly #streams = new Map<string, ServedStream>();
  /** How many registered streams each requester has. */
  readonly #perRequester = new Map<string, number>();
  /** Requesters with accepted streams, by `${requesterNodeId} ${heartbeatSubject}`. */
  readonly #links = new Map<string, RequesterLink>();
  readonly #newLink: LinkFactory;

  constructor(newLink: LinkFactory) {
    this.#newLink = newLink;
  }

  /** Registered streams, all requesters together. */
  get size(): number {
    return this.#streams.size;
  }

  /** The stream a requester knows by this id, if it is registered. */
  find(requesterNodeId: string, streamId: string): ServedStream | undefined {
    return this.#streams.get(streamKey(requesterNodeId, streamId));
  }

  /**
   * Applies a requester's control message to its own streams (another's ids find nothing):
   * cancels through `cancel`, credit to each stream's gate. Returns how many items named no
   * stream of that requester.
   */
  applyControl(
    requesterNodeId: string,
    control: Pick<ControlMessage, "cancel" | "credit">,
    cancel: (stream: ServedStream) => void,
    /** Which of its streams the message may reach (a control's wire version: its own). */
    reaches: (stream: ServedStream) => boolean = () => true,
  ): number {
    const find = (streamId: string) => {
      const stream = this.find(requesterNodeId, streamId);
      return stream && reaches(stream) ? stream : undefined;
    };
    let ignored = 0;
    for (const streamId of control.cancel ?? []) {
      const stream = find(streamId);
      if (stream) cancel(stream);
      else ignored++;
    }
    for (const grant of control.credit ?? []) {
      const stream = find(grant.streamId);
      if (stream) stream.credit.grant(grant.bytes);
      else ignored++;
    }
    return ignored;
  }

  /** Registered streams of one requester. */
  countOf(requesterNodeId: string): number {
    return this.#perRequester.get(requesterNodeId) ?? 0;
  }

  /** Registered streams by requester (for stats). */
  countsByRequester(): Record<string, number> {
    return Object.fromEntries(this.#perRequester);
  }

  /** Every registered stream, a copy (ending them while iterating is safe). */
  streams(): ServedStream[] {
    return [...this.#streams.values()];
  }

  /** Every requester link. */
  links(): IterableIterator<RequesterLink> {
    return this.#links.values();
  }

  /** Registers a stream; the caller checked (admission) that its key is free. */
  add(stream: ServedStream): void {
    this.#streams.set(streamKey(stream.requesterNodeId, stream.streamId), stream);
    this.#perRequester.set(stream.requesterNodeId, this.countOf(stream.requesterNodeId) + 1);
  }

  /** An accepted stream joins its requester's link, made with the requester's first one. */
  link(stream: ServedStream): void {
    const key = linkKey(stream);
    let link = this.#links.get(key);
    if (!link) {
      link = this.#newLink(
        key,
        stream.requesterNodeId,
        stream.request.heartbeatSubject,
        stream.wire,
      );
      this.#links.set(key, link);
    }
    link.add(stream);
  }

  /** Forgets a stream (and its link once that has no stream left); a no-op for a stale one. */
  unregister(stream: ServedStream): void {
    const key = streamKey(stream.requesterNodeId, stream.streamId);
    if (this.#streams.get(key) !== stream) return;
    this.#streams.delete(key);
    const count = this.countOf(stream.requesterNodeId) - 1;
    if (count > 0) this.#perRequester.set(stream.requesterNodeId, count);
    else this.#perRequester.delete(stream.requesterNodeId);
    if (!stream.accepted) return;
    const link = this.#links.get(linkKey(stream));
    if (link?.streams.get(stream.streamId) === stream && link.remove(stream))
      this.#links.delete(link.key);
  }

  /** Stops every link's heartbeats and forgets the links (the server is closing). */
  closeLinks(): void {
    for (const link of this.#links.values()) link.close();
    this.#links.clear();
  }
}

function streamKey(requesterNodeId: string, streamId: string): string {
  return `${requesterNodeId}/${streamId}`;
}

function linkKey(stream: ServedStream): string {
  return `${stream.requesterNodeId} ${stream.request.heartbeatSubject}`;
}
