// A delaying TCP relay, the delay of the wan benchmark's link (tbf limits the rate but cannot
// delay, and this kernel has no netem):
//   node wan-relay.mjs <targetHost> <targetPort> <oneWayDelayMs>
// Listens on 127.0.0.1 (a port of its own, printed as "listening <port>") and forwards each
// connection to the target, holding every chunk `oneWayDelayMs` in each direction, so a round
// trip through it takes twice that plus the link's own. Bytes in flight are bounded (the source
// is paused past MAX_HELD_BYTES per direction), like a link's buffer; it adds no rate limit.
import { createConnection, createServer } from "node:net";

const [host, portArg, delayArg] = process.argv.slice(2);
const targetPort = Number(portArg);
const delayMs = Number(delayArg);
const MAX_HELD_BYTES = 32 * 1024 * 1024;

/** Copies `from` to `to`, each chunk `delayMs` late, in order. */
function delayedPipe(from, to) {
  const queue = [];
  let head = 0;
  let held = 0;
  let timer;
  const flush = () => {
    timer = undefined;
    const now = performance.now();
    while (head < queue.length && queue[head].due <= now) {
      const { chunk } = queue[head];
      queue[head++] = undefined;
      held -= chunk.length;
      to.write(chunk);
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    }
    if (held < MAX_HELD_BYTES / 2 && from.isPaused()) from.resume();
    if (head < queue.length) timer = setTimeout(flush, Math.max(0, queue[head].due - now));
  };
  from.on("data", (chunk) => {
    queue.push({ due: performance.now() + delayMs, chunk });
    held += chunk.length;
    if (held > MAX_HELD_BYTES) from.pause();
    if (timer === undefined) timer = setTimeout(flush, delayMs);
  });
  from.on("end", () => {
    const finish = () => (head < queue.length ? setTimeout(finish, delayMs) : to.end());
    finish();
  });
}

const server = createServer({ noDelay: true }, (client) => {
  const upstream = createConnection({ host, port: targetPort, noDelay: true });
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", close);
  upstream.on("error", close);
  client.on("close", close);
  upstream.on("close", close);
  delayedPipe(client, upstream);
  delayedPipe(upstream, client);
});
server.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
process.on("SIGTERM", () => process.exit(0));
