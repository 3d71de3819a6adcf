/**
 * The single executable: `scripts/compile.sh` (what `npm run compile` and
 * `deno task compile` run) makes one file that names its commit, serves
 * SMTP, delivers to Maildir and through a smart host, loads custom plugins
 * from disk (also ones that import npm packages installed next to them) and
 * talks to systemd's notify socket.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import { type NotifyReceiver, startNotifyReceiver } from "./helpers/notify_socket.ts";
import { HAVE_SINK, type Sink, startSink } from "./helpers/remote_sink.ts";
import { ROOT, tempDir } from "./helpers/server.ts";
import { transcript } from "./helpers/smtp_client.ts";

const BUN = "Bun" in globalThis ? process.execPath : join(ROOT, "node_modules", ".bin", "bun");
const TIMEOUT = { timeout: 60_000 };

/** A `postino serve` started from the binary. */
interface Served {
  port: number;
  child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp): Promise<void>;
  /** Sends SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** The commit `scripts/compile.sh` bakes in. */
function headCommit(): string {
  try {
    return execFileSync("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return "unknown";
  }
}

describe("the compiled binary", { skip: !existsSync(BUN) }, () => {
  const dir = tempDir("postino-binary-");
  const binary = join(dir, "postino");
  const children: ChildProcess[] = [];
  const receivers: NotifyReceiver[] = [];
  const sinks: Sink[] = [];

  /** Runs `postino serve ARGS` from the binary until its listening line. */
  async function serve(args: string[], env: Record<string, string> = {}): Promise<Served> {
    const child = spawn(binary, ["serve", "--listen", "127.0.0.1:0", "--http", "off", ...args], {
      // Not the checkout: nothing may come from the repository at run time.
      cwd: dir,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let output = "";
    child.stdout?.on("data", (d) => output += d);
    child.stderr?.on("data", (d) => output += d);
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    const waitFor = async (pattern: RegExp) => {
      const deadline = Date.now() + 30_000;
      while (!pattern.test(output)) {
        assert.ok(Date.now() < deadline, `no ${pattern} in: ${output}`);
        assert.equal(child.exitCode, null, `the server exited: ${output}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await waitFor(/listening address=\S+ port=\d+/);
    return {
      port: Number(/listening address=\S+ port=(\d+)/.exec(output)?.[1]),
      child,
      output: () => output,
      waitFor,
      stop: () => {
        if (child.exitCode === null) process.kill(child.pid as number, "SIGTERM");
        return exited;
      },
    };
  }

  before(() => {
    execFileSync("bash", [join(ROOT, "scripts", "compile.sh"), binary], {
      env: { ...process.env, BUN },
      stdio: "pipe",
    });
  });
  after(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.pid !== undefined) {
        process.kill(child.pid, "SIGTERM");
        await new Promise((resolve) => child.once("exit", resolve));
      }
    }
    for (const receiver of receivers) await receiver.close();
    for (const sink of sinks) await sink.stop();
    // The binary is about 100 MiB: do not leave one behind per run.
    rmSync(dir, { recursive: true, force: true });
  });

  test("prints its version, runtime and the commit it was built from", () => {
    // Run outside the checkout: the commit must be baked in, not read from .git.
    const line = execFileSync(binary, ["version"], { encoding: "utf8", cwd: dir });
    assert.match(line, /^postino \d+\.\d+\.\d+ \(bun, commit \S+\)\n$/);
    assert.ok(line.endsWith(`, commit ${headCommit()})\n`), line);
  });

  test("serves SMTP, delivers to Maildir and loads a .ts plugin from disk", TIMEOUT, async () => {
    const data = join(dir, "data");
    execFileSync(binary, ["user", "add", "alice@localhost", "--data-dir", data]);
    const plugin = join(dir, "no_blocked.ts");
    writeFileSync(
      plugin,
      `export default (host: { reject(code: number, enhanced: string, text: string): unknown }) => ({\n` +
        `  name: "no_blocked",\n` +
        `  rcpt(_ctx: unknown, r: { mailbox: { local: string } }) {\n` +
        `    if (r.mailbox.local === "blocked") return host.reject(550, "5.7.1", "blocked by a file plugin");\n` +
        `  },\n});\n`,
    );
    const server = await serve(["--data-dir", data, "--plugin", plugin]);
    const client = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.example
      S: 250 HELP
      C: MAIL FROM:<a@far.example>
      S: 250 2.1.0
      C: RCPT TO:<blocked@localhost>
      S: 550 5.7.1 blocked by a file plugin
      C: RCPT TO:<alice@localhost>
      S: 250 2.1.5
      C: DATA
      S: 354
      C: Subject: from the binary
      C:
      C: hello
      C: .
      S: 250 2.0.0 Ok: queued as
      C: QUIT
      S: 221
    `,
    );
    client.close();
    const mailbox = join(data, "mail", "localhost", "alice", "new");
    await server.waitFor(/ attempted .*delivered=1/);
    const [file] = readdirSync(mailbox);
    assert.match(
      readFileSync(join(mailbox, file as string), "utf8"),
      /\r\nSubject: from the binary\r\n\r\nhello\r\n$/,
    );
    assert.equal(await server.stop(), 0);
  });

  test(
    "queues relayed mail and delivers it through --relay-host to Postfix's smtp-sink",
    { ...TIMEOUT, skip: !HAVE_SINK && "smtp-sink (postfix) is not installed" },
    async () => {
      const sink = await startSink();
      sinks.push(sink);
      const server = await serve([
        "--data-dir",
        join(dir, "relay-data"),
        "--relay-network",
        "127.0.0.0/8",
        "--relay-host",
        `127.0.0.1:${sink.port}`,
      ]);
      const client = await transcript(
        server.port,
        `
        S: 220
        C: EHLO client.example
        S: 250 HELP
        C: MAIL FROM:<app@localhost>
        S: 250 2.1.0
        C: RCPT TO:<bob@far.example>
        S: 250 2.1.5
        C: DATA
        S: 354
        C: Subject: through the smart host
        C:
        C: relayed by the binary
        C: .
        S: 250 2.0.0 Ok: queued as
        C: QUIT
        S: 221
      `,
      );
      client.close();
      await server.waitFor(/ attempted .*delivered=1/);
      const dumps = await sink.waitDumps(1);
      assert.equal(dumps.length, 1);
      const dump = dumps[0] as string;
      assert.match(dump, /^X-Mail-Args: <app@localhost>/m);
      assert.match(dump, /^X-Rcpt-Args: <bob@far\.example>/m);
      assert.match(dump, /^Subject: through the smart host\r?$/m);
      assert.match(dump, /^relayed by the binary\r?$/m);
      assert.equal(await server.stop(), 0);
    },
  );

  test("loads a plugin that imports an npm package installed next to it", TIMEOUT, async () => {
    // A package found only through its package.json ("exports", ESM): a binary
    // built without --compile-autoload-package-json cannot resolve it.
    const plugins = join(dir, "plugins");
    const pkg = join(plugins, "node_modules", "postino-test-verdict");
    mkdirSync(join(pkg, "lib"), { recursive: true });
    writeFileSync(
      join(pkg, "package.json"),
      JSON.stringify({
        name: "postino-test-verdict",
        version: "1.0.0",
        type: "module",
        exports: { ".": "./lib/verdict.js" },
      }),
    );
    writeFileSync(
      join(pkg, "lib", "verdict.js"),
      "export const verdict = (local) => `${local} refused by an npm package`;\n",
    );
    const plugin = join(plugins, "npm_verdict.ts");
    writeFileSync(
      plugin,
      `import { verdict } from "postino-test-verdict";\n` +
        `export default (host: { reject(code: number, enhanced: string, text: string): unknown }) => ({\n` +
        `  name: "npm_verdict",\n` +
        `  rcpt(_ctx: unknown, r: { mailbox: { local: string } }) {\n` +
        `    if (r.mailbox.local === "npm") return host.reject(550, "5.7.1", verdict("npm"));\n` +
        `  },\n});\n`,
    );
    const server = await serve(["--data-dir", join(dir, "npm-data"), "--plugin", plugin]);
    const client = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.example
      S: 250 HELP
      C: MAIL FROM:<a@far.example>
      S: 250 2.1.0
      C: RCPT TO:<npm@localhost>
      S: 550 5.7.1 npm refused by an npm package
      C: QUIT
      S: 221
    `,
    );
    client.close();
    assert.equal(await server.stop(), 0);
  });

  test("sends READY=1, RELOADING=1 then READY=1 on SIGHUP, and STOPPING=1", TIMEOUT, async (t) => {
    const notify = await startNotifyReceiver();
    if (!notify) return t.skip("python3 is not installed");
    receivers.push(notify);
    const server = await serve(["--data-dir", join(dir, "notify-data")], {
      NOTIFY_SOCKET: notify.path,
    });
    const ready = await notify.next((n) => n.fields["READY"] === "1");
    assert.equal(ready.fields["STATUS"], `listening on 127.0.0.1:${server.port}`);
    assert.match(ready.greeting ?? "", /^220 /);
    let from = notify.notifications.length;
    process.kill(server.child.pid as number, "SIGHUP");
    const reloading = await notify.next((n) => n.fields["RELOADING"] === "1", from);
    assert.match(reloading.fields["MONOTONIC_USEC"] ?? "", /^\d+$/);
    await notify.next((n) => n.fields["READY"] === "1", notify.notifications.indexOf(reloading));
    from = notify.notifications.length;
    const exited = server.stop();
    await notify.next((n) => n.fields["STOPPING"] === "1", from);
    assert.equal(await exited, 0);
    assert.doesNotMatch(server.output(), /notify_failed/);
  });
});
