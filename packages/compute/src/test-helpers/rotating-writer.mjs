// A writer process for the crash tests: appends lines forever to one execution of a FileLogStore
// with a small cap (a rotation every few dozen lines) until it is killed. It prints
// "first <seq>" after its first append and "written <seq>" after every 50th acknowledged one.
//
// With a crash point it SIGKILLs itself there, on the 3rd time it gets there: "after-link" (the
// old log linked as a segment, not yet replaced), "before-rename" (the next log prepared too),
// "after-rename" (replaced, directories not yet fsynced), "before-unlink" (retention about to
// remove the oldest segment). The file system calls are wrapped through the builtin module's
// exports (module.syncBuiltinESMExports), so the store's code runs unchanged.
// Usage: node rotating-writer.mjs <dir> <executionId> <maxLogBytes> [crashPoint]
import fsp from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";

const [dir, executionId, maxLogBytes, crashPoint] = process.argv.slice(2);
let seen = 0;
const die = () => process.kill(process.pid, "SIGKILL");
const at = (point) => point === crashPoint && ++seen === 3;
const { link, rename, unlink } = fsp;
fsp.link = async (...args) => {
  await link(...args);
  if (at("after-link")) die();
};
fsp.rename = async (from, to) => {
  const replacing = String(to).endsWith(`/${executionId}.log`);
  if (replacing && at("before-rename")) die();
  await rename(from, to);
  if (replacing && at("after-rename")) die();
};
fsp.unlink = async (path) => {
  if (String(path).includes(`/${executionId}.seg/`) && at("before-unlink")) die();
  await unlink(path);
};
syncBuiltinESMExports();

const { FileLogStore } = await import("../../dist/index.js");
const store = new FileLogStore({ dir, maxLogBytes: Number(maxLogBytes), sweepIntervalMs: 0 });
const pad = "r".repeat(80);
let first = true;
for (;;) {
  const entry = await store.append(executionId, "stdout", `${Date.now()} ${pad}`);
  if (first) {
    process.stdout.write(`first ${entry.seq}\n`);
    first = false;
  }
  if (entry.seq % 50 === 0) process.stdout.write(`written ${entry.seq}\n`);
}
