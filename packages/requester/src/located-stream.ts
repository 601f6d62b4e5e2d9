// A LogStream whose compute node is found first (streamLogs without a node): it locates the
// execution, then hands everything to the ordinary stream opened on the node that holds it.
import {
  CancelledError,
  ExecutionAmbiguousError,
  ExecutionNotFoundError,
  type TailwireError,
} from "@tailwire/protocol";
import type { ExecutionLocator } from "./execution-locator.js";
import type { AcceptedInfo, LogStream } from "./log-stream.js";
import type { EndCause } from "./stats.js";

type Inner = LogStream;
/** What iterating a LogStream hands out. */
type Item = LogStream extends AsyncIterable<infer T> ? T : never;

/**
 * Stands in for the stream until the execution is located. Exactly one compute node must hold
 * the execution: none is EXECUTION_NOT_FOUND, several is EXECUTION_AMBIGUOUS (naming them; a
 * caller then names the node). Either ends the stream as an error, like any failed request.
 */
export class LocatedLogStream implements LogStream {
  readonly executionId: string;
  readonly #inner: Promise<Inner>;
  readonly #abort = new AbortController();
  #current: Inner | undefined;
  #failure: TailwireError | undefined;
  #cancelled = false;
  readonly #accepted: Promise<AcceptedInfo>;

  constructor(
    executionId: string,
    locator: ExecutionLocator,
    open: (computeNodeId: string) => Inner,
    signal: AbortSignal | undefined,
  ) {
    this.executionId = executionId;
    const onAbort = () => this.#abort.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    this.#inner = (async () => {
      let found: Awaited<ReturnType<ExecutionLocator["locateExecution"]>>;
      try {
        found = await locator.locateExecution(executionId, { signal: this.#abort.signal });
      } catch (error) {
        throw this.#fail(
          error instanceof CancelledError
            ? error
            : new ExecutionNotFoundError(`could not locate execution ${executionId}`, {
                cause: error,
              }),
        );
      } finally {
        signal?.removeEventListener("abort", onAbort);
      }
      const nodes = [...new Set(found.map((e) => e.computeNodeId))];
      if (nodes.length === 0) {
        throw this.#fail(
          new ExecutionNotFoundError(`no compute node holds execution ${executionId}`),
        );
      }
      if (nodes.length > 1) {
        throw this.#fail(
          new ExecutionAmbiguousError(
            `compute nodes ${nodes.join(", ")} all say they hold execution ${executionId}: name one`,
          ),
        );
      }
      if (this.#cancelled) throw this.#fail(new CancelledError("the stream was cancelled"));
      const inner = open(nodes[0] as string);
      // A stream that finds the execution gone forgets the cached location.
      inner.accepted.catch((error: TailwireError) => {
        if (error?.code === "EXECUTION_NOT_FOUND") locator.forget?.(executionId);
      });
      this.#current = inner;
      return inner;
    })();
    this.#inner.catch(() => {});
    this.#accepted = this.#inner.then((inner) => inner.accepted);
    this.#accepted.catch(() => {});
  }

  /** The compute node found to hold the execution: resolves once located. */
  get located(): Promise<string> {
    return this.#inner.then((inner) => inner.computeNodeId);
  }

  get streamId(): string {
    return this.#current?.streamId ?? "";
  }

  get attempts(): number {
    return this.#current?.attempts ?? 0;
  }

  /** The compute node serving the stream; "" until it is located. */
  get computeNodeId(): string {
    return this.#current?.computeNodeId ?? "";
  }

  /** @deprecated Use computeNodeId. */
  get nodeId(): string {
    return this.computeNodeId;
  }

  get lastSeq(): number | undefined {
    return this.#current?.lastSeq;
  }

  get accepted(): Promise<AcceptedInfo> {
    return this.#accepted;
  }

  get acceptedInfo(): AcceptedInfo | undefined {
    return this.#current?.acceptedInfo;
  }

  get endCause(): EndCause | undefined {
    if (this.#current) return this.#current.endCause;
    if (this.#failure) return this.#failure.code === "CANCELLED" ? "cancelled" : "error";
    return undefined;
  }

  get exitCode(): number | null | undefined {
    return this.#current?.exitCode;
  }

  get waitingForCredit(): boolean {
    return this.#current?.waitingForCredit ?? false;
  }

  cancel(): void {
    this.#cancelled = true;
    if (this.#current) this.#current.cancel();
    else this.#abort.abort(new CancelledError("the stream was cancelled"));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Item> {
    const inner = await this.#settled();
    if (!inner) return;
    yield* inner;
  }

  batches(): ReturnType<Inner["batches"]> {
    const settled = () => this.#settled();
    return {
      async *[Symbol.asyncIterator]() {
        const inner = await settled();
        if (!inner) return;
        yield* inner.batches();
      },
    } as ReturnType<Inner["batches"]>;
  }

  /** The located stream, or undefined after a cancel before it was located (a quiet end). */
  async #settled(): Promise<Inner | undefined> {
    try {
      return await this.#inner;
    } catch (error) {
      if (this.#cancelled && (error as TailwireError)?.code === "CANCELLED") return undefined;
      throw error;
    }
  }

  #fail(error: TailwireError): TailwireError {
    this.#failure = error;
    return error;
  }
}
