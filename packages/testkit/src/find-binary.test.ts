import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { NatsServerNotFoundError } from "./errors.js";
import { findNatsServerBinary } from "./find-binary.js";
import { NatsServer } from "./nats-server.js";

describe("findNatsServerBinary", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("rejects a NATS_SERVER_BIN that does not exist, explaining how to install", () => {
    const missing = join(tmpdir(), "definitely-not-here", "nats-server");
    let error: unknown;
    try {
      findNatsServerBinary({ env: { NATS_SERVER_BIN: missing, PATH: "/usr/sbin:/usr/bin" } });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(NatsServerNotFoundError);
    const message = (error as Error).message;
    expect(message).toContain(missing);
    expect(message).toContain("apt-get install -y nats-server");
    expect(message).toContain("NATS_SERVER_BIN");
  });

  it("finds an executable nats-server on PATH before the fallbacks", async () => {
    const dir = await mkdtemp(join(tmpdir(), "testkit-path-"));
    try {
      const fake = join(dir, "nats-server");
      await writeFile(fake, "#!/bin/sh\n");
      await chmod(fake, 0o755);
      expect(findNatsServerBinary({ env: { PATH: `/nonexistent:${dir}` } })).toBe(fake);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("skips a non-executable file on PATH and lists what it searched", async () => {
    const dir = await mkdtemp(join(tmpdir(), "testkit-path-"));
    try {
      await writeFile(join(dir, "nats-server"), "not executable");
      expect(() =>
        findNatsServerBinary({ env: { PATH: dir }, fallbackPaths: ["/nope/nats-server"] }),
      ).toThrow(
        expect.objectContaining({
          name: "NatsServerNotFoundError",
          searched: [join(dir, "nats-server"), "/nope/nats-server"],
        }),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("NatsServer.start fails with the clear error when NATS_SERVER_BIN is wrong", async () => {
    vi.stubEnv("NATS_SERVER_BIN", "/nonexistent/nats-server");
    await expect(NatsServer.start()).rejects.toThrow(NatsServerNotFoundError);
    await expect(NatsServer.start()).rejects.toThrow(/apt-get install -y nats-server/);
  });
});
