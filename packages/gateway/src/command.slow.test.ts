// The `tailwire gateway` command as the CLI will register it: parsed and run in-process.

import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayCommand } from "./command.js";
import { gatewayLinks } from "./links.js";
import { type RunningGateway, runGateway } from "./server.js";
import { appendLines, Rig } from "./test-helpers/rig.js";

const exec = promisify(execFile);
let rig: Rig;
let dir: string;
beforeAll(async () => {
  rig = await Rig.start();
  dir = await mkdtemp(join(tmpdir(), "tailwire-gateway-"));
});
afterAll(async () => {
  await rig?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function run(args: string[]): Promise<{ running: RunningGateway; printed: string[] }> {
  const printed: string[] = [];
  let running: RunningGateway | undefined;
  const command = gatewayCommand({
    handleSignals: false,
    print: (line) => printed.push(line),
    onStarted: (gateway) => {
      running = gateway;
    },
  }).exitOverride();
  await command.parseAsync(args, { from: "user" });
  return { running: running!, printed };
}

describe("gatewayCommand", () => {
  it("runs with --listen, --token-file and --nats, and serves logs to a token holder", async () => {
    const tokenFile = join(dir, "tokens");
    await writeFile(tokenFile, "ci cccccccccccccccccccccccc\n");
    const compute = await rig.compute();
    await appendLines(compute.store, "cli1", 2);
    await compute.store.complete("cli1", 0);
    const { running, printed } = await run([
      "--listen",
      "127.0.0.1:0",
      "--token-file",
      tokenFile,
      "--nats",
      rig.nats.url,
      "--node-id",
      "gw-cli-test",
      "--log-level",
      "silent",
    ]);
    try {
      expect(printed).toEqual([
        `tailwire gateway listening on ${running.url} (requester gw-cli-test)`,
      ]);
      const path = `${running.url}/v1/executions/cli1/logs?node=${compute.nodeId}`;
      expect((await fetch(path)).status).toBe(401);
      const ok = await fetch(path, {
        headers: { authorization: "Bearer cccccccccccccccccccccccc" },
      });
      expect(await ok.text()).toBe("line 1\nline 2\n");
      // The links a person is shown: the curl command works as printed (through a shell).
      const links = gatewayLinks({
        url: running.url,
        executionId: "cli1",
        computeNodeId: compute.nodeId,
        authenticated: true,
      });
      expect(links.page).toBe(`${running.url}/#/executions/cli1?node=${compute.nodeId}`);
      const { stdout } = await exec("sh", ["-c", links.curl], {
        env: { ...process.env, TAILWIRE_TOKEN: "cccccccccccccccccccccccc" },
      });
      expect(stdout).toBe("line 1\nline 2\n");
    } finally {
      await running.close();
    }
  });

  it("refuses a public address without tokens, a bad --listen and a bad token file", async () => {
    await expect(run(["--listen", "0.0.0.0:0", "--nats", rig.nats.url])).rejects.toMatchObject({
      code: "INSECURE_LISTEN",
    });
    await expect(run(["--listen", "nope", "--nats", rig.nats.url])).rejects.toThrow(/host:port/);
    await expect(run(["--max-streams", "0", "--nats", rig.nats.url])).rejects.toThrow(
      /positive integer/,
    );
    await expect(
      run(["--token-file", join(dir, "missing"), "--nats", rig.nats.url]),
    ).rejects.toMatchObject({
      code: "INVALID_OPTIONS",
    });
    await expect(
      runGateway({
        servers: rig.nats.url,
        host: "127.0.0.1",
        port: 0,
        client: { windowBytes: 64 * 1024 },
      }),
    ).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
    // Explicitly allowed: listens on every interface without tokens.
    const { running } = await run([
      "--listen",
      "0.0.0.0:0",
      "--allow-unauthenticated",
      "--nats",
      rig.nats.url,
      "--log-level",
      "silent",
    ]);
    expect(running.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
    await running.close();
  });
});
