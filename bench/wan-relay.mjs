// The delay of the wan benchmark's link, in a process of its own (so its CPU is counted apart):
// testkit's DelayRelay (tbf limits the rate but cannot delay, and this kernel has no netem).
//   node wan-relay.mjs <targetHost> <targetPort> <oneWayDelayMs>
// Prints "listening <port>" once it accepts connections on 127.0.0.1.
import { DelayRelay } from "@tailwire/testkit";

const [targetHost, targetPort, oneWayDelayMs] = process.argv.slice(2);
const relay = await DelayRelay.start({
  targetHost,
  targetPort: Number(targetPort),
  oneWayDelayMs: Number(oneWayDelayMs),
});
console.log(`listening ${relay.port}`);
process.on("SIGTERM", () => process.exit(0));
