/**
 * systemd socket activation, as systemd does it: a launcher (python3) binds
 * the listening sockets, puts them on descriptors 3, 4, …, sets LISTEN_FDS,
 * LISTEN_PID and LISTEN_FDNAMES, and execs `postino serve` in the same
 * process. The server cannot bind the port itself while the launcher's
 * socket holds it, so a working session proves the socket was adopted.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { after, test } from "node:test";
import { postinoCommand, ROOT, tempDir } from "./helpers/server.ts";
import { transcript } from "./helpers/smtp_client.ts";

const TIMEOUT = { timeout: 60_000 };
const children: ChildProcess[] = [];

after(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.pid !== undefined) {
      process.kill(child.pid, "SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    }
  }
});

// argv: count, names, pid-mode ("self" or a number), then the command, in
// which {PORT0}, {PORT1}… stand for the bound ports.
const LAUNCHER = String.raw`
import os, socket, sys
count, names, pid_mode, command = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
sockets = []
for i in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    sockets.append(s)
ports = [s.getsockname()[1] for s in sockets]
print("ports " + " ".join(map(str, ports)), flush=True)
for i, s in enumerate(sockets):
    if s.fileno() != 3 + i:
        os.dup2(s.fileno(), 3 + i)
    # dup2 onto itself changes nothing, and Python opens sockets close-on-exec.
    os.set_inheritable(3 + i, True)
for i, port in enumerate(ports):
    command = [arg.replace("{PORT%d}" % i, str(port)) for arg in command]
os.environ["LISTEN_FDS"] = str(count)
os.environ["LISTEN_PID"] = str(os.getpid()) if pid_mode == "self" else pid_mode
os.environ["LISTEN_FDNAMES"] = names
os.execvp(command[0], command)
`;

interface Activated {
  ports: number[];
  child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp): Promise<void>;
}

async function launch(
  count: number,
  names: string,
  pid: string,
  serveArgs: string[],
): Promise<Activated | undefined> {
  const command = [
    ...postinoCommand(),
    "serve",
    "--http",
    "off",
    "--data-dir",
    tempDir(),
    ...serveArgs,
  ];
  const child = spawn("python3", ["-c", LAUNCHER, String(count), names, pid, ...command], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  child.stdout.on("data", (d) => output += d);
  child.stderr.on("data", (d) => output += d);
  const spawned = await new Promise<boolean>((resolve) => {
    child.once("error", () => resolve(false));
    child.once("spawn", () => resolve(true));
  });
  if (!spawned) return undefined;
  const waitFor = async (pattern: RegExp) => {
    const deadline = Date.now() + 30_000;
    while (!pattern.test(output)) {
      assert.ok(Date.now() < deadline, `no ${pattern} in: ${output}`);
      assert.equal(child.exitCode, null, `exited early: ${output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await waitFor(/^ports [\d ]+$/m);
  const ports = (/^ports ([\d ]+)$/m.exec(output)?.[1] ?? "").split(" ").map(Number);
  return { ports, child, output: () => output, waitFor };
}

async function stop(server: Activated): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => server.child.once("exit", resolve));
  process.kill(server.child.pid as number, "SIGTERM");
  return await exited;
}

test("serve adopts the socket systemd passed for its listen address", TIMEOUT, async (t) => {
  const server = await launch(2, "smtp:spare", "self", ["--listen", "127.0.0.1:{PORT0}"]);
  if (!server) return t.skip("python3 is not installed");
  const [port, spare] = server.ports;
  await server.waitFor(/ listening address=127\.0\.0\.1 port=\d+/);
  assert.match(
    server.output(),
    new RegExp(`socket_inherited fd=3 name=smtp address=127\\.0\\.0\\.1 port=${port}\\b`),
  );
  assert.match(server.output(), new RegExp(`listening address=127\\.0\\.0\\.1 port=${port}\\b`));
  // The second socket matched no listener: closed, and said so (logged after "listening").
  await server.waitFor(new RegExp(`socket_activation_unused fd=4 name=spare .*port=${spare}\\b`));
  const client = await transcript(
    port as number,
    `
    S: 220
    C: EHLO client.example
    S: 250 HELP
    C: MAIL FROM:<a@far.example>
    S: 250 2.1.0
    C: RCPT TO:<postmaster@localhost>
    S: 250 2.1.5
    C: QUIT
    S: 221
  `,
  );
  client.close();
  await server.waitFor(/ connect conn=\S+ ip=127\.0\.0\.1 /);
  assert.equal(await stop(server), 0);
  assert.doesNotMatch(server.output(), /EADDRINUSE|socket_activation_failed/);
});

test(
  "serve ignores sockets meant for another process (LISTEN_PID) and binds its own",
  TIMEOUT,
  async (t) => {
    const server = await launch(1, "smtp", "1", ["--listen", "127.0.0.1:0"]);
    if (!server) return t.skip("python3 is not installed");
    await server.waitFor(/ listening address=127\.0\.0\.1 port=\d+/);
    assert.match(server.output(), /socket_activation_ignored reason="LISTEN_PID is 1, not \d+"/);
    assert.doesNotMatch(server.output(), /socket_inherited/);
    assert.equal(await stop(server), 0);
  },
);
