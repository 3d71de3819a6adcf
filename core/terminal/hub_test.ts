import assert from "node:assert/strict";
import { test } from "node:test";
import { TerminalHub, type TerminalMessage } from "./hub.ts";

const HELLO: TerminalMessage = { from: "bob@example.org", text: "hello" };

test("TerminalHub.deliver() reaches every open terminal of the address, ignoring case", () => {
  const hub = new TerminalHub();
  const seen: string[] = [];
  hub.open("alice@example.org", (m) => seen.push(`one ${m.from} ${m.text}`));
  hub.open("Alice@Example.ORG", (m) => seen.push(`two ${m.from} ${m.text}`));
  hub.open("carol@example.org", () => seen.push("wrong user"));
  assert.equal(hub.deliver("ALICE@example.org", HELLO), 2);
  assert.deepEqual(seen, ["one bob@example.org hello", "two bob@example.org hello"]);
  assert.equal(hub.size, 3);
});

test("TerminalHub.has() is false once the last terminal closed; close() is idempotent", () => {
  const hub = new TerminalHub();
  const write = () => {};
  const first = hub.open("alice@example.org", write);
  const second = hub.open("alice@example.org", write);
  assert.equal(hub.has("alice@example.org"), true);
  first();
  first();
  assert.equal(hub.has("alice@example.org"), true);
  assert.equal(hub.deliver("alice@example.org", HELLO), 1);
  second();
  assert.equal(hub.has("alice@example.org"), false);
  assert.equal(hub.deliver("alice@example.org", HELLO), 0);
  assert.equal(hub.size, 0);
});

test("TerminalHub.deliver() skips a terminal that throws and one that closes itself", () => {
  const hub = new TerminalHub();
  let got = 0;
  hub.open("alice@example.org", () => {
    throw new Error("broken pipe");
  });
  const close = hub.open("alice@example.org", () => {
    got++;
    close();
  });
  hub.open("alice@example.org", () => got++);
  assert.equal(hub.deliver("alice@example.org", HELLO), 2);
  assert.equal(got, 2);
  assert.equal(hub.deliver("alice@example.org", HELLO), 1);
});
