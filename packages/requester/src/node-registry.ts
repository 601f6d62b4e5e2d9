// Per-compute-node liveness records: the streams each node serves and when it was last heard.
/** The part of a stream the per-node bookkeeping needs. */
export interface NodeStream {
  readonly streamId: string;
  /** Monotonic time of acceptance, undefined while the request is pending. */
  readonly acceptedAt: number | undefined;
}

/** Everything the client knows about one compute node it has open streams with. */
export class ComputeNodeRecord<S extends NodeStream> {
  readonly nodeId: string;
  readonly streams = new Set<S>();
  /** Streams accepted and not ended: only those can be declared lost. */
  acceptedCount = 0;
  /** Monotonic time of the last heartbeat or frame from this node; undefined = never heard. */
  lastHeardAt: number | undefined;

  constructor(nodeId: string) {
    this.nodeId = nodeId;
  }
}

/**
 * Per-compute-node records, so liveness work scales with nodes, not streams: a heartbeat touches
 * one record and the lost-node sweep visits each node once. A record lives exactly as long as
 * the node has open streams.
 */
export class NodeRegistry<S extends NodeStream> {
  readonly #records = new Map<string, ComputeNodeRecord<S>>();

  get size(): number {
    return this.#records.size;
  }

  get(nodeId: string): ComputeNodeRecord<S> | undefined {
    return this.#records.get(nodeId);
  }

  values(): IterableIterator<ComputeNodeRecord<S>> {
    return this.#records.values();
  }

  add(nodeId: string, stream: S): ComputeNodeRecord<S> {
    let record = this.#records.get(nodeId);
    if (!record) {
      record = new ComputeNodeRecord<S>(nodeId);
      this.#records.set(nodeId, record);
    }
    record.streams.add(stream);
    return record;
  }

  accepted(nodeId: string, now: number): void {
    const record = this.#records.get(nodeId);
    if (!record) return;
    record.acceptedCount++;
    record.lastHeardAt = now;
  }

  remove(nodeId: string, stream: S): void {
    const record = this.#records.get(nodeId);
    if (!record?.streams.delete(stream)) return;
    if (stream.acceptedAt !== undefined) record.acceptedCount--;
    if (record.streams.size === 0) this.#records.delete(nodeId);
  }

  heard(nodeId: string, now: number): void {
    const record = this.#records.get(nodeId);
    if (record) record.lastHeardAt = now;
  }

  /** Our own stall of `lateMs` is not the nodes' silence: credit it, capped at now. */
  creditStall(lateMs: number, now: number): void {
    for (const record of this.#records.values()) {
      if (record.lastHeardAt !== undefined) {
        record.lastHeardAt = Math.min(now, record.lastHeardAt + lateMs);
      }
    }
  }

  /** Our own outage is not the nodes' silence: every node counts as heard now. */
  restartClocks(now: number): void {
    for (const record of this.#records.values()) record.lastHeardAt = now;
  }

  /** Nodes with accepted streams that have been silent for longer than `silentMs`. */
  silent(now: number, silentMs: number): ComputeNodeRecord<S>[] {
    const lost: ComputeNodeRecord<S>[] = [];
    for (const record of this.#records.values()) {
      if (
        record.acceptedCount > 0 &&
        record.lastHeardAt !== undefined &&
        now - record.lastHeardAt > silentMs
      ) {
        lost.push(record);
      }
    }
    return lost;
  }
}
