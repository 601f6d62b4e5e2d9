// The NATS connection of every NATS-speaking command: the --nats and credential/TLS options, and
// connecting with them.
import { readFile } from "node:fs/promises";
import { credsAuthenticator, type NatsConnection } from "@nats-io/nats-core";
import { connect, type NodeConnectionOptions } from "@nats-io/transport-node";
import { type Command, Option } from "commander";
import { CliError, EXIT } from "./exit-codes.js";

export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";

/** The connection options every NATS-speaking command takes (commander's camelCase keys). */
export interface NatsCliOptions {
  nats: string;
  creds?: string;
  user?: string;
  password?: string;
  token?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  connectTimeoutMs?: number;
}

/** Adds --nats and the credential / TLS options to a command. */
export function addNatsOptions(command: Command, parseInteger: (value: string) => number): Command {
  return command
    .addOption(
      new Option("--nats <url>", "NATS server URL(s), comma-separated")
        .env("NATS_URL")
        .default(DEFAULT_NATS_URL),
    )
    .addOption(
      new Option("--creds <file>", "NATS credentials file (JWT + NKey seed)").env("NATS_CREDS"),
    )
    .addOption(new Option("--user <user>", "NATS user name").env("NATS_USER"))
    .addOption(new Option("--password <password>", "NATS password").env("NATS_PASSWORD"))
    .addOption(new Option("--token <token>", "NATS authentication token").env("NATS_TOKEN"))
    .addOption(new Option("--tls-ca <file>", "CA certificate(s) to verify the NATS server (PEM)"))
    .addOption(new Option("--tls-cert <file>", "client certificate for TLS (PEM)"))
    .addOption(new Option("--tls-key <file>", "client private key for TLS (PEM)"))
    .addOption(
      new Option("--connect-timeout-ms <ms>", "time allowed to connect to NATS")
        .argParser(parseInteger)
        .default(5000),
    );
}

/**
 * Turns the CLI options into `connect()` options. The only module that knows how credentials and
 * TLS map onto nats.js. `name` is the connection name the server shows in /connz.
 */
export async function buildConnectionOptions(
  options: NatsCliOptions,
  name: string,
  overrides: Partial<NodeConnectionOptions> = {},
): Promise<NodeConnectionOptions> {
  const servers = options.nats
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (servers.length === 0) throw new CliError(EXIT.USAGE, "--nats: no server URL given");
  const connection: NodeConnectionOptions = {
    servers,
    name,
    timeout: options.connectTimeoutMs ?? 5000,
    ...overrides,
  };
  if (options.creds !== undefined) {
    if (options.user !== undefined || options.token !== undefined) {
      throw new CliError(EXIT.USAGE, "--creds cannot be combined with --user or --token");
    }
    let creds: Uint8Array;
    try {
      creds = await readFile(options.creds);
    } catch (error) {
      throw new CliError(EXIT.USAGE, `--creds: cannot read ${options.creds}: ${messageOf(error)}`);
    }
    connection.authenticator = credsAuthenticator(creds);
  }
  if (options.user !== undefined) {
    if (options.token !== undefined)
      throw new CliError(EXIT.USAGE, "--user cannot be combined with --token");
    connection.user = options.user;
    if (options.password !== undefined) connection.pass = options.password;
  } else if (options.password !== undefined) {
    throw new CliError(EXIT.USAGE, "--password needs --user");
  }
  if (options.token !== undefined) connection.token = options.token;
  if (options.tlsCert !== undefined || options.tlsKey !== undefined) {
    if (options.tlsCert === undefined || options.tlsKey === undefined) {
      throw new CliError(EXIT.USAGE, "--tls-cert and --tls-key go together");
    }
  }
  if (options.tlsCa !== undefined || options.tlsCert !== undefined) {
    connection.tls = {
      ...(options.tlsCa === undefined ? {} : { caFile: options.tlsCa }),
      ...(options.tlsCert === undefined ? {} : { certFile: options.tlsCert }),
      ...(options.tlsKey === undefined ? {} : { keyFile: options.tlsKey }),
    };
  }
  return connection;
}

/** Connects, or throws a CliError(NATS_UNAVAILABLE) naming the servers tried. */
export async function connectNats(
  options: NatsCliOptions,
  name: string,
  overrides: Partial<NodeConnectionOptions> = {},
): Promise<NatsConnection> {
  const connectionOptions = await buildConnectionOptions(options, name, overrides);
  try {
    return await connect(connectionOptions);
  } catch (error) {
    throw new CliError(
      EXIT.NATS_UNAVAILABLE,
      `cannot connect to NATS at ${options.nats}: ${messageOf(error)}`,
      {
        cause: error,
      },
    );
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
