// Control messages to compute nodes (cancel, credit), merged per compute node per tick.
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type CreditGrant,
  encode,
  type Logger,
  MessageType,
  type ProtocolVersion,
  subjects,
  subjectsV2,
} from "@tailwire/protocol";
import { controlV2 } from "./wire-v2.js";

interface PendingControl {
  computeNodeId: string;
  version: ProtocolVersion;
  cancel: string[];
  credit: CreditGrant[];
}

/**
 * Ids per control message: far below the schema's 20,000, so that even a message full of credit
 * grants with the longest stream ids (99 bytes each) stays under the 256 KiB bound that compute
 * nodes enforce on control messages (MAX_MESSAGE_BYTES.control).
 */
const MAX_IDS_PER_MESSAGE = 2_000;

/**
 * Fire-and-forget control messages to compute nodes. Cancels and credits decided in the same
 * tick are merged into one message per compute node and wire version (closing 1,000 streams on
 * one node is one publish), sent on a microtask so callers in a subscription callback never wait.
 */
export class ControlPublisher {
  readonly #nc: NatsConnection;
  readonly #sourcePeerId: string;
  readonly #logger: Logger;
  readonly #pending = new Map<string, PendingControl>();
  #scheduled = false;

  constructor(nc: NatsConnection, sourcePeerId: string, logger: Logger) {
    this.#nc = nc;
    this.#sourcePeerId = sourcePeerId;
    this.#logger = logger;
  }

  cancel(computeNodeId: string, streamId: string, version: ProtocolVersion = "v1"): void {
    this.#for(computeNodeId, version).cancel.push(streamId);
  }

  credit(
    computeNodeId: string,
    streamId: string,
    bytes: number,
    version: ProtocolVersion = "v1",
  ): void {
    this.#for(computeNodeId, version).credit.push({ streamId, bytes });
  }

  /** Publishes everything pending now (close() uses it so nothing waits for a microtask). */
  flush(): void {
    this.#scheduled = false;
    for (const pending of this.#pending.values()) this.#publish(pending);
    this.#pending.clear();
  }

  #for(computeNodeId: string, version: ProtocolVersion): PendingControl {
    const key = `${version} ${computeNodeId}`;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = { computeNodeId, version, cancel: [], credit: [] };
      this.#pending.set(key, pending);
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => {
        if (this.#scheduled) this.flush();
      });
    }
    return pending;
  }

  #publish(pending: PendingControl): void {
    const { computeNodeId: nodeId, version } = pending;
    let { cancel, credit } = pending;
    while (cancel.length > 0 || credit.length > 0) {
      const cancelPart = cancel.slice(0, MAX_IDS_PER_MESSAGE);
      const creditPart = credit.slice(0, MAX_IDS_PER_MESSAGE - cancelPart.length);
      cancel = cancel.slice(cancelPart.length);
      credit = credit.slice(creditPart.length);
      try {
        if (version === "v2") {
          // v2: who sends is the subject's last token, which only this requester may publish.
          this.#nc.publish(
            subjectsV2.control(nodeId, this.#sourcePeerId),
            controlV2(cancelPart, creditPart),
          );
          continue;
        }
        const message = {
          type: MessageType.Control,
          sourcePeerId: this.#sourcePeerId,
          ...(cancelPart.length > 0 ? { cancel: cancelPart } : {}),
          ...(creditPart.length > 0 ? { credit: creditPart } : {}),
        };
        this.#nc.publish(subjects.control(nodeId), encode(message));
      } catch (error) {
        // A closed connection: the compute node will stop the streams when our heartbeat
        // answers stop (requester lost), so losing this message costs only time.
        this.#logger.warn(
          { computeNodeId: nodeId, err: error },
          "could not publish a control message",
        );
        return;
      }
    }
  }
}
