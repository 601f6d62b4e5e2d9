// A throw-away certificate authority for TLS tests (made with the openssl CLI), and the TLS
// settings for nats-server and clients that use it.
import "./dispose-polyfill.js";
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { registerExitCleanup } from "./exit-cleanup.js";
import type { NatsConfig } from "./nats-config.js";

const run = promisify(execFile);

/** Paths of a throw-away certificate authority and the certificates it issued (PEM). */
export interface TestCA {
  /** Directory holding every file below. */
  readonly dir: string;
  /** The CA certificate: what clients (`tls.caFile`) and the server (`ca_file`) trust. */
  readonly caFile: string;
  readonly caKeyFile: string;
  /** Server certificate for `127.0.0.1` and `localhost` (subjectAltName), CN `localhost`. */
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  /** Client certificate (extendedKeyUsage clientAuth), CN `tailwire-test-client`. */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** Removes the directory when createTestCA made it (a given dir is left alone). */
  remove(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface TestCAOptions {
  /** Where to write the files (created if missing); default: a new temp dir. */
  dir?: string;
  /** openssl executable (default `openssl` on PATH, then /usr/bin/openssl). */
  openssl?: string;
  /** Validity in days (default 2). */
  days?: number;
}

/** P-256 keys: generated in milliseconds, accepted by nats-server (Go) and Node. */
const KEY_ARGS = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function openssl(binary: string, args: string[], cwd: string): Promise<void> {
  try {
    await run(binary, args, { cwd, timeout: 30_000 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`openssl ${args.join(" ")} failed: ${stderr || (error as Error).message}`, {
      cause: error,
    });
  }
}

async function findOpenssl(explicit: string | undefined): Promise<string> {
  if (explicit) return explicit;
  for (const candidate of ["openssl", "/usr/bin/openssl"]) {
    try {
      await run(candidate, ["version"]);
      return candidate;
    } catch {
      // Try the next one.
    }
  }
  throw new Error("openssl not found: install it (apt-get install -y openssl)");
}

/** Issues a certificate signed by the CA in `dir` for `name`, with the given extensions. */
async function issue(
  binary: string,
  dir: string,
  name: string,
  subject: string,
  extensions: string,
  days: number,
): Promise<void> {
  await writeFile(join(dir, `${name}.ext`), extensions);
  await openssl(
    binary,
    [
      "req",
      "-new",
      ...KEY_ARGS,
      "-keyout",
      `${name}-key.pem`,
      "-out",
      `${name}.csr`,
      "-subj",
      subject,
    ],
    dir,
  );
  await openssl(
    binary,
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca-key.pem",
      "-set_serial",
      `0x${randomSerial()}`,
      "-days",
      String(days),
      "-sha256",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.pem`,
    ],
    dir,
  );
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive and non-zero
  return Buffer.from(bytes).toString("hex");
}

/**
 * Generates with the openssl CLI a CA, a server certificate for 127.0.0.1 / localhost and a
 * client certificate, for TLS tests against a real nats-server (see tlsConfig). Keys are
 * unencrypted and live only in `dir`: never use them outside tests.
 */
export async function createTestCA(
  dirOrOptions?: string | TestCAOptions,
  maybeOptions: TestCAOptions = {},
): Promise<TestCA> {
  const options: TestCAOptions =
    typeof dirOrOptions === "string"
      ? { ...maybeOptions, dir: dirOrOptions }
      : { ...(dirOrOptions ?? {}) };
  const binary = await findOpenssl(options.openssl);
  const days = options.days ?? 2;
  const owned = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "tailwire-ca-")));
  if (!owned) await mkdir(dir, { recursive: true });
  const unregister = owned
    ? registerExitCleanup(() => rmSync(dir, { recursive: true, force: true }))
    : () => {};
  try {
    await openssl(
      binary,
      [
        "req",
        "-x509",
        ...KEY_ARGS,
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=tailwire-test-ca",
        "-days",
        String(days),
        "-sha256",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      ],
      dir,
    );
    await issue(
      binary,
      dir,
      "server",
      "/CN=localhost",
      [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "",
      ].join("\n"),
      days,
    );
    await issue(
      binary,
      dir,
      "client",
      "/CN=tailwire-test-client",
      [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=clientAuth",
        "",
      ].join("\n"),
      days,
    );
  } catch (error) {
    unregister();
    if (owned) await rm(dir, { recursive: true, force: true });
    throw error;
  }
  let removed = false;
  const remove = async () => {
    if (removed) return;
    removed = true;
    unregister();
    if (owned) await rm(dir, { recursive: true, force: true });
  };
  return {
    dir,
    caFile: join(dir, "ca.pem"),
    caKeyFile: join(dir, "ca-key.pem"),
    serverCertFile: join(dir, "server.pem"),
    serverKeyFile: join(dir, "server-key.pem"),
    clientCertFile: join(dir, "client.pem"),
    clientKeyFile: join(dir, "client-key.pem"),
    remove,
    [Symbol.asyncDispose]: remove,
  };
}

export interface TlsConfigOptions {
  /** Require and verify a client certificate signed by the CA (`verify: true`); default false. */
  verifyClients?: boolean;
  /** TLS handshake timeout in seconds (default 5: nats-server's 2 s is tight on a busy CI box). */
  timeoutSeconds?: number;
}

/**
 * `{ tls: {...} }` for a server config: the server presents `ca.serverCertFile`, and with
 * `verifyClients` requires a client certificate issued by the CA. Clients then connect with
 * `connect({ servers: server.url, tls: { caFile: ca.caFile, certFile?, keyFile? } })`.
 */
export function tlsConfig(
  ca: Pick<TestCA, "caFile" | "serverCertFile" | "serverKeyFile">,
  options: TlsConfigOptions = {},
): NatsConfig {
  return {
    tls: {
      cert_file: ca.serverCertFile,
      key_file: ca.serverKeyFile,
      ca_file: ca.caFile,
      verify: options.verifyClients ?? false,
      timeout: options.timeoutSeconds ?? 5,
    },
  };
}
