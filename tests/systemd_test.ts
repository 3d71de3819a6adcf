/**
 * systemd's notify protocol against the real server: READY=1 once the
 * listener accepts, RELOADING=1 then READY=1 around SIGHUP (applied or
 * refused), STOPPING=1 on SIGTERM, and nothing fatal when the socket is
 * broken. The receiver is python3 (tests/helpers/notify_socket.ts).
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { after, test } from "node:test";
import { type NotifyReceiver, startNotifyReceiver } from "./helpers/notify_socket.ts";
import { type RunningServer, startServer, tempDir } from "./helpers/server.ts";

const TIMEOUT = { timeout: 60_000 };
const receivers: NotifyReceiver[] = [];
const servers: RunningServer[] = [];

after(async () => {
  for (const server of servers) await server.stop();
  for (const receiver of receivers) await receiver.close();
});

/** A receiver, or undefined (and the test skipped) without python3. */
async function receiver(
  t: { skip(message: string): void },
  options: { abstract?: boolean } = {},
): Promise<NotifyReceiver | undefined> {
  const started = await startNotifyReceiver(options);
  if (!started) t.skip("python3 is not installed");
  else receivers.push(started);
  return started;
}

async function serve(notify: string, options: { config?: string } = {}): Promise<RunningServer> {
  const server = await startServer({ env: { NOTIFY_SOCKET: notify }, ...options });
  servers.push(server);
  return server;
}

const isReady = (n: { fields: Record<string, string> }) => n.fields["READY"] === "1";

test("serve sends READY=1 once the listener accepts, naming it in STATUS", TIMEOUT, async (t) => {
  const notify = await receiver(t);
  if (!notify) return;
  const server = await serve(notify.path);
  const ready = await notify.next(isReady);
  // The status names the real port, known only once bound, and the receiver
  // connected to it as soon as READY arrived and got the greeting.
  assert.equal(ready.fields["STATUS"], `listening on 127.0.0.1:${server.port}`);
  assert.match(ready.greeting ?? "", /^220 /);
  // Nothing came before READY.
  assert.equal(notify.notifications.indexOf(ready), 0);
});

test("serve sends RELOADING=1 with MONOTONIC_USEC, then READY=1, on SIGHUP", TIMEOUT, async (t) => {
  const notify = await receiver(t);
  if (!notify) return;
  const server = await serve(notify.path, { config: 'domains = ["a.example"]\n' });
  const ready = await notify.next(isReady);
  const from = notify.notifications.length;
  writeFileSync(join(server.dataDir, "postino.toml"), 'domains = ["b.example"]\n');
  process.kill(server.child.pid as number, "SIGHUP");
  const reloading = await notify.next((n) => n.fields["RELOADING"] === "1", from);
  const readyAgain = await notify.next(isReady, from);
  const order = notify.notifications.slice(from);
  assert.ok(
    order.indexOf(reloading) < order.indexOf(readyAgain),
    order.map((n) => n.text).join(" | "),
  );
  // The server's CLOCK_MONOTONIC stamp lies between the two arrivals on ours.
  const stamp = BigInt(reloading.fields["MONOTONIC_USEC"] ?? "-1");
  assert.ok(ready.receivedUsec <= stamp && stamp <= reloading.receivedUsec, `${stamp}`);
  assert.match(readyAgain.greeting ?? "", /^220 /);
  await server.waitFor(/reloaded /);
});

test("serve sends READY=1 after a refused reload too", TIMEOUT, async (t) => {
  const notify = await receiver(t);
  if (!notify) return;
  const server = await serve(notify.path, { config: 'domains = ["a.example"]\n' });
  await notify.next(isReady);
  const from = notify.notifications.length;
  writeFileSync(join(server.dataDir, "postino.toml"), "max_recipients = 0\n");
  process.kill(server.child.pid as number, "SIGHUP");
  await notify.next((n) => n.fields["RELOADING"] === "1", from);
  const readyAgain = await notify.next(isReady, from);
  assert.match(readyAgain.greeting ?? "", /^220 /);
  await server.waitFor(/reload_failed /);
});

test("serve sends STOPPING=1 on SIGTERM (abstract socket) and exits 0", TIMEOUT, async (t) => {
  const notify = await receiver(t, { abstract: true });
  if (!notify) return;
  assert.match(notify.path, /^@/);
  const server = await serve(notify.path);
  await notify.next(isReady);
  const from = notify.notifications.length;
  const exited = server.stop("SIGTERM");
  const stopping = await notify.next((n) => n.fields["STOPPING"] === "1", from);
  assert.match(stopping.fields["STATUS"] ?? "", /^stopping/);
  assert.equal(await exited, 0);
  assert.equal(notify.notifications.slice(from).length, 1);
});

test(
  "serve logs one notify_failed when NOTIFY_SOCKET leads nowhere, and runs on",
  TIMEOUT,
  async () => {
    const server = await serve(join(tempDir(), "absent.sock"));
    process.kill(server.child.pid as number, "SIGHUP");
    await server.waitFor(/reloaded /);
    assert.equal(await server.stop("SIGTERM"), 0);
    const failures = server.output().match(/notify_failed .*/g) ?? [];
    assert.equal(failures.length, 1, server.output());
    assert.match(failures[0] as string, /error="?sendto \S+absent\.sock: ENOENT/);
  },
);

test("serve without NOTIFY_SOCKET sends nothing and logs no notify_failed", TIMEOUT, async () => {
  const server = await startServer({ env: { NOTIFY_SOCKET: "" } });
  servers.push(server);
  assert.equal(await server.stop("SIGTERM"), 0);
  assert.doesNotMatch(server.output(), /notify_failed/);
});
