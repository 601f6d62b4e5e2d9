// A compute node's retention sweep in its own process, for the crash tests: runs one
// FileLogStore.sweep() over <dir> with a store budget and SIGKILLs itself just before its Nth
// file removal (unlink or rmdir), wherever in the sweep that is. Prints "swept" if it gets to
// the end. The calls are wrapped through the builtin module's exports (syncBuiltinESMExports).
// Usage: node sweeping-node.mjs <dir> <maxStoreBytes> <dieAtRemoval>
import fsp from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";

const [dir, maxStoreBytes, dieAt] = process.argv.slice(2);
let removals = 0;
const { unlink, rmdir } = fsp;
const count = () => {
  if (++removals === Number(dieAt)) process.kill(process.pid, "SIGKILL");
};
fsp.unlink = async (path) => {
  count();
  await unlink(path);
};
fsp.rmdir = async (path) => {
  count();
  await rmdir(path);
};
syncBuiltinESMExports();

const { FileLogStore } = await import("../../dist/index.js");
const store = new FileLogStore({ dir, maxStoreBytes: Number(maxStoreBytes), sweepIntervalMs: 0 });
await store.sweep();
await store.close();
process.stdout.write("swept\n");
