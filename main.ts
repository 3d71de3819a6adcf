/**
 * Postino's composition root: parses the command line and runs one of the
 * subcommands. No other module has side effects on import.
 *
 * @module
 */
import process from "node:process";
import { fileURLToPath } from "node:url";
import { ConfigError } from "./core/config.ts";
import { loadRuntime } from "./core/runtime/runtime.ts";
import { type CliIo, openDirectoryAt, runAliasCommand, runUserCommand } from "./cli/users.ts";
import { loadConfig, parseServeArgs, runServe, SERVE_USAGE } from "./cli/serve.ts";
import { openDatabaseAt, runQueueCommand } from "./cli/queue.ts";
import { invokingUser, readStdinBytes, runSendCommand } from "./cli/send.ts";
import { runWatchCommand } from "./cli/watch.ts";
import { runAdminCommand } from "./cli/admin.ts";
import { currentCommit, versionLine } from "./cli/version.ts";
import { runSystemdUnitCommand } from "./cli/systemd_unit.ts";

/** The version printed by `postino version`. */
export const VERSION = "0.1.0";

const USAGE = `Usage: postino <command> [options]

Commands:
  serve          run the mail server (see: postino serve --help)
  user           add, list, remove users; set passwords (postino user --help)
  alias          add, list, remove aliases and lists (postino alias --help)
  send           queue a message from stdin, like sendmail (postino send --help)
  queue          list, show, flush, hold, release, remove queued mail (postino queue --help)
  watch          show messages sent to a user's terminal (SEND) (postino watch --help)
  admin          print the admin HTTP token, creating it if needed (postino admin token)
  check-config   validate the configuration and exit (takes the serve options)
  systemd-unit   print a systemd service unit (postino systemd-unit --help)
  version        print the version

Run "postino <command> --help" for a command's options.`;

function write(stream: NodeJS.WriteStream, line: string): void {
  stream.write(line + "\n");
}

async function readStdin(): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Uint8Array);
  return Buffer.concat(chunks).toString("utf8");
}

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  const runtime = await loadRuntime();
  const io: CliIo = {
    stdout: (line) => write(process.stdout, line),
    stderr: (line) => write(process.stderr, line),
    readStdin,
    openDirectory: (dataDir) => openDirectoryAt(runtime, dataDir),
  };
  switch (command) {
    case "serve":
      return await runServe(runtime, rest, {
        version: VERSION,
        commit: currentCommit(fileURLToPath(new URL(".", import.meta.url))),
      });
    case "user":
      return await runUserCommand(rest, io);
    case "alias":
      return await runAliasCommand(rest, io);
    case "admin":
      return runAdminCommand(rest, io);
    case "watch":
      return await runWatchCommand(rest, {
        ...io,
        onStop: (stop) => {
          runtime.onSignal("SIGINT", stop);
          runtime.onSignal("SIGTERM", stop);
        },
      });
    case "send":
    case "queue": {
      const queueIo = {
        ...io,
        openDatabase: (dataDir: string) => openDatabaseAt(runtime, dataDir),
        now: () => Date.now(),
      };
      return command === "queue"
        ? await runQueueCommand(rest, queueIo)
        : await runSendCommand(rest, { ...queueIo, readStdinBytes, user: invokingUser() });
    }
    case "check-config": {
      const { flags, file, help } = parseServeArgs(rest);
      if (help) {
        io.stdout(SERVE_USAGE.replace("postino serve", "postino check-config"));
        return 0;
      }
      const config = await loadConfig(file, flags);
      io.stdout(
        `config ok: ${config.listen.length} listener(s), domains ${config.domains.join(", ")}`,
      );
      return 0;
    }
    case "systemd-unit":
      return runSystemdUnitCommand(rest, io);
    case "version":
    case "--version":
      if (rest.includes("--help") || rest.includes("-h")) {
        io.stdout("Usage: postino version\n\nPrints the version, the runtime and the commit.");
        return 0;
      }
      io.stdout(
        versionLine(
          VERSION,
          runtime.name,
          currentCommit(fileURLToPath(new URL(".", import.meta.url))),
        ),
      );
      return 0;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      io.stdout(USAGE);
      return command === undefined ? 2 : 0;
    default:
      io.stderr(`postino: unknown command "${command}"`);
      io.stderr(USAGE);
      return 2;
  }
}

if (import.meta.main) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    const known = error instanceof ConfigError || error instanceof TypeError;
    process.stderr.write(`postino: ${known ? (error as Error).message : String(error)}\n`);
    process.exitCode = known ? 2 : 1;
  }
  process.exit();
}

export { main };
