import assert from "node:assert/strict";
import { test } from "node:test";
import { accept, disconnect, reject, tempfail } from "./decision.ts";

test("accept() without arguments leaves the reply to the core", () => {
  assert.deepEqual(accept(), { kind: "accept", reply: undefined });
});

test("accept() with a code builds the reply", () => {
  assert.deepEqual(accept(250, "2.1.5", "Alice <alice@example.org>"), {
    kind: "accept",
    reply: { code: 250, enhanced: "2.1.5", lines: ["Alice <alice@example.org>"] },
  });
});

test("reject(), tempfail() and disconnect() have safe defaults", () => {
  assert.deepEqual(reject().reply, { code: 550, enhanced: "5.7.1", lines: ["Rejected"] });
  assert.equal(tempfail().reply?.code, 451);
  assert.equal(tempfail().reply?.enhanced, "4.3.0");
  assert.equal(disconnect().reply?.code, 421);
});

test("decision constructors refuse codes of the wrong class", () => {
  assert.throws(() => reject(451, "4.3.0", "x"), RangeError);
  assert.throws(() => tempfail(550, "5.7.1", "x"), RangeError);
  assert.throws(() => accept(550), RangeError);
  assert.throws(() => reject(550, "4.7.1", "x"), RangeError);
  assert.throws(() => reject(550, "5.7", "x"), RangeError);
});
