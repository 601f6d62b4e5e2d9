// The gateway as its own OS process, for tests that SIGKILL and restart it: runs the exported
// `tailwire gateway` command (from the built package) with the arguments given.
//   node gateway-process.mjs --listen 127.0.0.1:PORT --nats URL [...]
import { gatewayCommand } from "@tailwire/gateway";

await gatewayCommand().parseAsync(process.argv.slice(2), { from: "user" });
