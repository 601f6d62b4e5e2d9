// `tailwire server`: an embedded nats-server on 127.0.0.1 in the foreground, for trying tailwire out.
import { NatsServer } from "@tailwire/testkit";
import type { Command } from "commander";
import { CliError, EXIT } from "../exit-codes.js";
import type { CliLogger } from "../logging.js";
import { nonNegativeInteger } from "../parse.js";
import { onTerminate } from "../signals.js";

interface ServerOptions {
  port?: number;
  debug?: boolean;
}

export function registerServer(program: Command, logger: () => CliLogger): void {
  program
    .command("server")
    .description(
      "run an embedded nats-server (on 127.0.0.1) in the foreground and print its URL; SIGINT/SIGTERM stop it",
    )
    .option("--port <n>", "client port (default: a free port)", nonNegativeInteger)
    .option("--debug", "echo the server's log (with -D) to stderr")
    .action(async (options: ServerOptions) => {
      const log = logger();
      // Listen before anything is announced: a SIGTERM right after the ready line must find it.
      let stop!: (code: number) => void;
      const stopped = new Promise<number>((resolve) => {
        stop = resolve;
      });
      onTerminate((signal) => {
        log.info({ signal }, "stopping nats-server");
        stop(EXIT.OK);
      });
      let server: NatsServer;
      try {
        server = await NatsServer.start({
          ...(options.port === undefined || options.port === 0 ? {} : { port: options.port }),
          ...(options.debug ? { debug: true } : {}),
        });
      } catch (error) {
        throw new CliError(EXIT.INTERNAL, `cannot start nats-server: ${firstLine(error)}`, {
          cause: error,
        });
      }
      log.info(
        { url: server.url, natsPid: server.pid, monitor: server.monitorUrl },
        "nats-server started",
      );
      process.stdout.write(
        `nats-server ready at ${server.url} (monitoring ${server.monitorUrl})\n`,
      );
      // The server dying on its own ends the command with an error.
      const watch = setInterval(() => {
        if (!server.running) {
          process.stderr.write(`tailwire server: nats-server exited\n${server.logTail(20)}\n`);
          stop(EXIT.INTERNAL);
        }
      }, 500);
      const code = await stopped;
      clearInterval(watch);
      await server.stop();
      process.stdout.write("nats-server stopped\n");
      process.exitCode = code;
    });
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
}
