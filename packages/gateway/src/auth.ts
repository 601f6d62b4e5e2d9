// Bearer tokens: loading a token file, constant-time checks, and the loopback rules for a
// gateway without authentication.
import { createHash, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { GatewayConfigError } from "./errors.js";

/** A configured token; `name` identifies it in logs, limits and `authorize` (never the secret). */
export interface GatewayToken {
  name: string;
  token: string;
}

/** Who made a request: a token's name, or `anonymous` on a gateway without authentication. */
export interface Principal {
  name: string;
  authenticated: boolean;
}

// RFC 6750 token68: what may follow "Bearer ".
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Token file: one token per line, optionally preceded by a name and white space
 * (`ci-bot s3cr3t...`); blank lines and lines starting with # are ignored. Tokens shorter than
 * 16 characters are refused (a guessable token is no authentication).
 */
export function parseTokenFile(text: string): GatewayToken[] {
  const tokens: GatewayToken[] = [];
  const names = new Set<string>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const fields = line.split(/\s+/);
    if (fields.length > 2) {
      throw new GatewayConfigError(
        "INVALID_OPTIONS",
        `token file line ${index + 1}: expected "[name] token"`,
      );
    }
    const token = fields.length === 2 ? fields[1]! : fields[0]!;
    const name = fields.length === 2 ? fields[0]! : `token-${tokens.length + 1}`;
    if (!TOKEN68.test(token) || token.length < 16) {
      throw new GatewayConfigError(
        "INVALID_OPTIONS",
        `token file line ${index + 1}: a token is at least 16 characters of [A-Za-z0-9-._~+/]`,
      );
    }
    if (names.has(name)) {
      throw new GatewayConfigError(
        "INVALID_OPTIONS",
        `token file line ${index + 1}: name ${name} repeated`,
      );
    }
    names.add(name);
    tokens.push({ name, token });
  });
  if (tokens.length === 0) {
    throw new GatewayConfigError("INVALID_OPTIONS", "the token file has no token");
  }
  return tokens;
}

export async function readTokenFile(path: string): Promise<GatewayToken[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new GatewayConfigError(
      "INVALID_OPTIONS",
      `cannot read token file ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
    );
  }
  return parseTokenFile(text);
}

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest();

/**
 * Checks presented tokens in constant time: both sides are hashed to 32 bytes (so lengths leak
 * nothing) and every configured token is compared, match or not.
 */
export class TokenVerifier {
  readonly #digests: { name: string; digest: Buffer }[];

  constructor(tokens: readonly GatewayToken[]) {
    this.#digests = tokens.map(({ name, token }) => ({ name, digest: digest(token) }));
  }

  /** The token's name, or undefined when the header carries no valid token. */
  verify(authorization: string | undefined): string | undefined {
    if (authorization === undefined) return undefined;
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (!match) return undefined;
    const presented = digest(match[1]!);
    let found: string | undefined;
    for (const { name, digest: expected } of this.#digests) {
      if (timingSafeEqual(presented, expected) && found === undefined) found = name;
    }
    return found;
  }
}

/** Whether a listen host (or a Host header's hostname) names this machine only. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (bare === "localhost" || bare.endsWith(".localhost")) return true;
  if (isIP(bare) === 4) return bare.startsWith("127.");
  if (isIP(bare) === 6) return bare === "::1" || bare.toLowerCase().startsWith("::ffff:127.");
  return false;
}

/** `host:port`, `[v6]:port` or `:port` (loopback) into its parts. */
export function parseListen(listen: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]*):(\d{1,5})$/.exec(listen.trim());
  const port = match ? Number(match[2]) : Number.NaN;
  if (!match || port > 65_535) {
    throw new GatewayConfigError(
      "INVALID_OPTIONS",
      `--listen must be host:port, got ${JSON.stringify(listen)}`,
    );
  }
  const host = match[1] === "" ? "127.0.0.1" : match[1]!.replace(/^\[(.*)\]$/, "$1");
  return { host, port };
}

/** The rule: no authentication means loopback only, unless the operator said so explicitly. */
export function checkListenSafety(
  host: string,
  authenticated: boolean,
  allowUnauthenticated: boolean,
): void {
  if (authenticated || allowUnauthenticated || isLoopbackHost(host)) return;
  throw new GatewayConfigError(
    "INSECURE_LISTEN",
    `refusing to listen on ${host} without authentication: give a token file, ` +
      "listen on a loopback address, or allow unauthenticated access explicitly",
  );
}

/** The hostname of a Host header (`example.com:8080`, `[::1]:8080`). */
export function hostnameOf(hostHeader: string | undefined): string {
  if (hostHeader === undefined) return "";
  const v6 = /^\[([^\]]+)\]/.exec(hostHeader);
  if (v6) return v6[1]!;
  return hostHeader.replace(/:\d+$/, "");
}
