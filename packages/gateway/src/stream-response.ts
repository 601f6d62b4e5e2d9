// The streaming HTTP response both log routes write: the 200 head once the upstream answered,
// writes that report backpressure, an SSE ping when idle, and whether the client went away.
import type { ServerResponse } from "node:http";
import type { FastifyReply } from "fastify";

export class StreamResponse {
  readonly #res: ServerResponse;
  #clientGone = false;
  #wrote = true;
  #pinger: NodeJS.Timeout | undefined;
  readonly #onClose: () => void;

  /** `onGone` runs once when the client closes the connection before the response finished. */
  constructor(reply: FastifyReply, onGone: () => void) {
    this.#res = reply.raw;
    this.#onClose = () => {
      if (this.#res.writableFinished) return;
      this.#clientGone = true;
      onGone();
    };
    this.#res.on("close", this.#onClose);
  }

  get clientGone(): boolean {
    return this.#clientGone;
  }

  /**
   * Waits for the upstream's answer before the first byte, so a refusal becomes a status.
   * Resolves `{ value }` to go on, or undefined when the client left first (then `release` was
   * called and the watch stopped); a refusal is thrown as `refusal` maps it, after `release`.
   */
  async answered<T>(
    upstream: Promise<T>,
    release: () => void,
    refusal: (error: unknown) => Error,
  ): Promise<{ value: T } | undefined> {
    let value: T;
    try {
      value = await upstream;
    } catch (error) {
      this.stop();
      release();
      if (this.#clientGone) return undefined;
      throw refusal(error);
    }
    if (!this.#clientGone) return { value };
    this.stop();
    release();
    return undefined;
  }

  /** Takes the response from Fastify and sends the 200 head (and the preamble, if any). */
  open(
    reply: FastifyReply,
    contentType: string,
    extraHeaders: Record<string, string>,
    preamble: string,
  ): void {
    reply.hijack();
    this.#res.writeHead(200, {
      ...extraHeaders,
      "content-type": contentType,
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no", // nginx: do not buffer a stream
      "x-request-id": String(reply.request.id),
    });
    if (preamble) this.write(preamble);
    else this.#res.flushHeaders();
  }

  /** Writes a keep-alive `ping` after each interval in which nothing else was written. */
  pingWhenIdle(ping: string | undefined, intervalMs: number): void {
    if (ping === undefined) return;
    this.#pinger = setInterval(() => {
      if (!this.#wrote && !this.#clientGone) this.#res.write(ping);
      this.#wrote = false;
    }, intervalMs);
  }

  /** Resolves once the socket took the chunk or can take more (or the client is gone). */
  async write(chunk: string | Buffer): Promise<void> {
    this.#wrote = true;
    if (!this.#res.write(chunk)) await this.#drained();
  }

  /** Stops the pinger and the close watch; the response itself is ended by end() or cut(). */
  stop(): void {
    if (this.#pinger) clearInterval(this.#pinger);
    this.#pinger = undefined;
    this.#res.off("close", this.#onClose);
  }

  end(tail: string): void {
    this.#res.end(tail);
  }

  /**
   * Ends with the format's error record; a format that cannot carry one (undefined) gets a cut
   * connection instead, which is a visible failure (curl exits non-zero).
   */
  fail(tail: string | undefined): void {
    if (tail === undefined) this.#res.destroy();
    else this.#res.end(tail);
  }

  #drained(): Promise<void> {
    const res = this.#res;
    return new Promise((resolve) => {
      const finish = () => {
        res.off("drain", finish);
        res.off("close", finish);
        resolve();
      };
      res.on("drain", finish);
      res.on("close", finish);
    });
  }
}
