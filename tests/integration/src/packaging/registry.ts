// A real npm registry for the release test: Verdaccio, started in this process on 127.0.0.1 (a
// free port) from a config and storage in a temp dir. @tailwire/* exist only here (published by
// the test); every other package is proxied from the public registry, as an installing user
// would get it. Also: a user with a token (what `npm login` would store), and an npm
// environment (HOME, userconfig, cache, global prefix) in temp dirs, so nothing global is read
// or written.

import { mkdir, writeFile } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

export interface Registry {
  url: string;
  /** A token for the user the test publishes as. */
  token: string;
  stop(): Promise<void>;
}

/** Starts Verdaccio with its storage under `dir`. */
export async function startRegistry(dir: string): Promise<Registry> {
  await mkdir(join(dir, "storage"), { recursive: true });
  const config = join(dir, "config.yaml");
  await writeFile(
    config,
    [
      `storage: ${JSON.stringify(join(dir, "storage"))}`,
      "auth:",
      "  htpasswd:",
      `    file: ${JSON.stringify(join(dir, "htpasswd"))}`,
      "    max_users: 10",
      "uplinks:",
      "  npmjs:",
      "    url: https://registry.npmjs.org/",
      "    timeout: 60s",
      "packages:",
      // Ours are local only: a published version can only come from this test.
      '  "@tailwire/*":',
      "    access: $all",
      "    publish: $authenticated",
      '  "**":',
      "    access: $all",
      "    proxy: npmjs",
      "web:",
      "  enable: false",
      "log:",
      "  type: stdout",
      "  format: json",
      "  level: error",
      "",
    ].join("\n"),
  );
  const { runServer } = (await import("verdaccio")) as unknown as {
    runServer(config: string): Promise<Server>;
  };
  const app = await runServer(config);
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(0, "127.0.0.1", () => resolve(listening));
    listening.once("error", reject);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/`;
  const stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    });
  try {
    // What `npm adduser` does: create the user, receive its token.
    const name = "release-bot";
    const response = await fetch(`${url}-/user/org.couchdb.user:${name}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name, password: "release-bot-password", type: "user", roles: [] }),
    });
    const body = (await response.json()) as { token?: string };
    if (!response.ok || body.token === undefined) {
      throw new Error(`registry adduser failed: ${response.status} ${JSON.stringify(body)}`);
    }
    return { url, token: body.token, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Env for npm and pnpm that uses only `registry` and temp dirs: its own HOME, npmrc (registry +
 * token), cache and global prefix. Merged over process.env by `run`, so the npm_config_* the
 * test runner inherited from pnpm are overridden here too.
 */
export async function npmEnv(dir: string, registry: Registry): Promise<NodeJS.ProcessEnv> {
  const home = join(dir, "home");
  await mkdir(home, { recursive: true });
  const npmrc = join(home, ".npmrc");
  const host = registry.url.replace(/^https?:/, "");
  await writeFile(npmrc, `registry=${registry.url}\n${host}:_authToken=${registry.token}\n`);
  const env: NodeJS.ProcessEnv = {
    HOME: home,
    npm_config_userconfig: npmrc,
    npm_config_registry: registry.url,
    npm_config_cache: join(dir, "npm-cache"),
    npm_config_prefix: join(dir, "global"),
    npm_config_audit: "false",
    npm_config_fund: "false",
    npm_config_update_notifier: "false",
  };
  // Whatever a parent pnpm exported for its own run must not reach these npm runs.
  for (const key of Object.keys(process.env)) {
    if (/^npm_(config|package|lifecycle)_/i.test(key) && !(key in env)) env[key] = undefined;
  }
  return env;
}
