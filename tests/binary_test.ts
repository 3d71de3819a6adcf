/**
 * The single executable: `bun build --compile` (what `npm run compile`
 * runs) makes one file that serves SMTP, delivers to Maildir and loads a
 * custom plugin from a .ts file on disk at run time.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import { ROOT, tempDir } from "./helpers/server.ts";
import { transcript } from "./helpers/smtp_client.ts";

const BUN = "Bun" in globalThis ? process.execPath : join(ROOT, "node_modules", ".bin", "bun");

describe("the compiled binary", { skip: !existsSync(BUN) }, () => {
  const dir = tempDir("postino-binary-");
  const binary = join(dir, "postino");
  let child: ReturnType<typeof spawn> | undefined;
  let output = "";

  before(() => {
    execFileSync(BUN, ["build", "--compile", join(ROOT, "main.ts"), "--outfile", binary], {
      stdio: "pipe",
    });
  });
  after(async () => {
    if (child?.exitCode === null && child.pid !== undefined) {
      process.kill(child.pid, "SIGTERM");
      await new Promise((resolve) => child?.once("exit", resolve));
    }
    // The binary is about 100 MiB: do not leave one behind per run.
    rmSync(dir, { recursive: true, force: true });
  });

  test("prints its version and runtime", () => {
    assert.match(
      execFileSync(binary, ["version"], { encoding: "utf8" }),
      /^postino \d+\.\d+\.\d+ \(bun\)/,
    );
  });

  test("serves SMTP, delivers to Maildir and loads a .ts plugin from disk", async () => {
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
    child = spawn(binary, [
      "serve",
      "--listen",
      "127.0.0.1:0",
      "--data-dir",
      data,
      "--plugin",
      plugin,
    ], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (d) => output += d);
    child.stderr?.on("data", (d) => output += d);
    const deadline = Date.now() + 15_000;
    while (!/listening address=\S+ port=\d+/.test(output)) {
      assert.ok(Date.now() < deadline, `no listening line: ${output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const port = Number(/listening address=\S+ port=(\d+)/.exec(output)?.[1]);
    const client = await transcript(
      port,
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
    while (!existsSync(mailbox) || readdirSync(mailbox).length === 0) {
      assert.ok(Date.now() < deadline, `nothing delivered: ${output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const [file] = readdirSync(mailbox);
    assert.match(
      readFileSync(join(mailbox, file as string), "utf8"),
      /\r\nSubject: from the binary\r\n\r\nhello\r\n$/,
    );
    process.kill(child.pid as number, "SIGTERM");
    const code = await new Promise<number | null>((resolve) => child?.once("exit", resolve));
    assert.equal(code, 0);
  });
});
