/**
 * A job for the showcase: writes numbered lines to stdout and stderr at different rates, like a
 * build or a training run would. Run by `tailwire exec`, which captures its output.
 *
 *   node workload.js NAME OUT_EVERY_MS ERR_EVERY_MS STDOUT_LINES EXIT_CODE
 *
 * STDOUT_LINES = 0 runs until killed. Exits quietly when its output pipe goes away (the capturing
 * process died), so a crashed `tailwire exec` never leaves it behind.
 */
const [name = "job", outEvery = "100", errEvery = "500", lines = "0", exitCode = "0"] =
  process.argv.slice(2);

const WORDS = ["compiling", "linking", "testing", "packing", "uploading", "indexing", "caching"];
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => process.exit(0));
process.on("SIGTERM", () => {
  process.stdout.write(`[${name}] got SIGTERM, stopping\n`);
  process.exit(143);
});

let out = 0;
let err = 0;
const limit = Number(lines);
const outTimer = setInterval(() => {
  out++;
  process.stdout.write(
    `[${name}] step ${out}: ${WORDS[out % WORDS.length]} ${"#".repeat(out % 12)}\n`,
  );
  if (limit > 0 && out >= limit) {
    clearInterval(outTimer);
    clearInterval(errTimer);
    process.stdout.write(`[${name}] done\n`);
    process.exitCode = Number(exitCode);
  }
}, Number(outEvery));
const errTimer = setInterval(() => {
  err++;
  process.stderr.write(
    `[${name}] warning ${err}: slow ${WORDS[err % WORDS.length]} (${err * 7} ms)\n`,
  );
}, Number(errEvery));
