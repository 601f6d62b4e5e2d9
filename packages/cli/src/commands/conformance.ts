// `tailwire conformance`: runs the conformance kit, and seeds a data directory for `tailwire compute`.
import { parseArgs } from "node:util";
import { FileLogStore } from "@tailwire/compute";
import { main as conformance, loadSeeds, readSeeds } from "@tailwire/conformance";
import type { Command } from "commander";
import { CliError, EXIT } from "../exit-codes.js";
import type { CliLogger } from "../logging.js";

/**
 * `tailwire conformance`: the conformance kit's runner (@tailwire/conformance), and `seed`, which
 * writes the kit's seed logs into a data directory so that `tailwire compute` can be checked.
 */
export function registerConformance(program: Command, _logger: () => CliLogger): void {
  program
    .command("conformance")
    .description(
      "check a compute node or a requester against ExecutionLogs/v1, one PASS/FAIL line per rule (exit 0 only if all pass)",
    )
    .argument("<mode>", "compute | requester | seeds | seed")
    .argument("[options...]", "the mode's options: see below")
    .passThroughOptions()
    .allowUnknownOption()
    .addHelpText(
      "after",
      `
  tailwire conformance compute   --node-id ID [--nats URL] [--only SCENARIO,...] [--json FILE]
  tailwire conformance requester --node-id ID [--nats URL] [--timeout-ms N] [--json FILE]
  tailwire conformance seeds                      list the seed logs
  tailwire conformance seed --data-dir DIR        write them into DIR for \`tailwire compute\`

To check \`tailwire compute\`: seed a directory, start the node on it with the kit's limits
  (--max-streams 16 --max-streams-per-requester 8 --max-tail-lines 1000 --max-requests-per-second 50 --max-node-requests-per-second 200),
  then run \`tailwire conformance compute --node-id <its id>\`. See @tailwire/conformance's README.`,
    )
    .action(async (mode: string, args: string[]) => {
      if (mode === "seed") {
        await seed(args);
        return;
      }
      const code = await conformance([mode, ...args], (line) => process.stdout.write(`${line}\n`));
      if (code !== EXIT.OK) process.exitCode = code;
    });
}

async function seed(args: string[]): Promise<void> {
  let dir: string | undefined;
  try {
    dir = parseArgs({ args, strict: true, options: { "data-dir": { type: "string" } } }).values[
      "data-dir"
    ];
  } catch (error) {
    throw new CliError(EXIT.USAGE, error instanceof Error ? error.message : String(error));
  }
  if (!dir) throw new CliError(EXIT.USAGE, "seed needs --data-dir DIR");
  const store = new FileLogStore({ dir });
  try {
    await loadSeeds(store);
  } catch (error) {
    throw new CliError(EXIT.INTERNAL, `cannot write the seeds: ${String(error)}`, { cause: error });
  } finally {
    await store.close();
  }
  for (const s of readSeeds()) {
    process.stdout.write(
      `seeded ${s.executionId} (${s.entries.length} lines, exit code ${s.exitCode})\n`,
    );
  }
}
