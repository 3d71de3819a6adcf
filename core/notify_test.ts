import assert from "node:assert/strict";
import { test } from "node:test";
import { type LogFields, SILENT_LOGGER } from "./log.ts";
import { createNotifier, listeningStatus, notifyMessage } from "./notify.ts";

function recorder() {
  const sent: { path: string; text: string }[] = [];
  const events: { name: string; fields: LogFields }[] = [];
  return {
    sent,
    events,
    runtime: {
      sendUnixDatagram(path: string, data: Uint8Array) {
        sent.push({ path, text: new TextDecoder().decode(data) });
      },
      monotonicMicroseconds: () => 123_456_789n,
    },
    log: {
      ...SILENT_LOGGER,
      event: (name: string, fields: LogFields) => events.push({ name, fields }),
    },
  };
}

test("notifyMessage() writes one KEY=value line per field and keeps values on one line", () => {
  assert.equal(notifyMessage([["READY", "1"], ["STATUS", "up"]]), "READY=1\nSTATUS=up\n");
  assert.equal(notifyMessage([["STATUS", "a\nb\r\nc"]]), "STATUS=a b c\n");
  assert.equal(notifyMessage([]), "");
});

test("createNotifier() sends READY, RELOADING with MONOTONIC_USEC, and STOPPING", () => {
  const r = recorder();
  const notifier = createNotifier({ socket: "@postino-test", runtime: r.runtime, log: r.log });
  assert.equal(notifier.enabled, true);
  notifier.ready("listening on 127.0.0.1:25");
  notifier.reloading();
  notifier.reloaded();
  notifier.status("3 sessions");
  notifier.stopping("stopping");
  assert.deepEqual(r.sent, [
    { path: "@postino-test", text: "READY=1\nSTATUS=listening on 127.0.0.1:25\n" },
    { path: "@postino-test", text: "RELOADING=1\nMONOTONIC_USEC=123456789\n" },
    { path: "@postino-test", text: "READY=1\n" },
    { path: "@postino-test", text: "STATUS=3 sessions\n" },
    { path: "@postino-test", text: "STOPPING=1\nSTATUS=stopping\n" },
  ]);
  assert.deepEqual(r.events, []);
});

test("createNotifier() does nothing without NOTIFY_SOCKET", () => {
  for (const socket of [undefined, ""]) {
    const r = recorder();
    const notifier = createNotifier({ socket, runtime: r.runtime, log: r.log });
    assert.equal(notifier.enabled, false);
    notifier.ready();
    notifier.reloading();
    notifier.stopping();
    assert.deepEqual(r.sent, []);
    assert.deepEqual(r.events, []);
  }
});

test("createNotifier() logs one notify_failed however many sends fail, and never throws", () => {
  const r = recorder();
  let attempts = 0;
  const notifier = createNotifier({
    socket: "/run/nowhere/notify",
    runtime: {
      sendUnixDatagram() {
        attempts++;
        throw new Error("sendto /run/nowhere/notify: ENOENT");
      },
      monotonicMicroseconds() {
        throw new Error("no clock");
      },
    },
    log: r.log,
  });
  notifier.ready();
  notifier.reloading();
  notifier.reloaded();
  notifier.stopping();
  // It keeps trying (a full queue may drain), but says so only once.
  assert.equal(attempts, 4);
  assert.deepEqual(r.events, [{
    name: "notify_failed",
    fields: { socket: "/run/nowhere/notify", error: "sendto /run/nowhere/notify: ENOENT" },
  }]);
});

test("createNotifier() reports a runtime that cannot send unix datagrams", () => {
  const r = recorder();
  const notifier = createNotifier({ socket: "/run/notify", runtime: {}, log: r.log });
  notifier.ready();
  notifier.stopping();
  assert.equal(r.events.length, 1);
  assert.equal(r.events[0]?.name, "notify_failed");
});

test("createNotifier() keeps a reload during start-up quiet until ready()", () => {
  const r = recorder();
  const notifier = createNotifier({ socket: "/run/notify", runtime: r.runtime, log: r.log });
  notifier.reloading();
  notifier.reloaded();
  assert.equal(r.sent.length, 0);
  notifier.ready();
  notifier.reloading();
  notifier.reloaded("reload refused");
  assert.deepEqual(r.sent.map((s) => s.text), [
    "READY=1\n",
    "RELOADING=1\nMONOTONIC_USEC=123456789\n",
    "READY=1\nSTATUS=reload refused\n",
  ]);
});

test("listeningStatus() names every bound address, IPv6 in brackets", () => {
  assert.equal(
    listeningStatus([{ address: "0.0.0.0", port: 25 }, { address: "::1", port: 587 }]),
    "listening on 0.0.0.0:25, [::1]:587",
  );
});
