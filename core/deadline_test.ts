import assert from "node:assert/strict";
import { test } from "node:test";
import { withDeadline } from "./deadline.ts";

test("withDeadline() passes a prompt result through and rejects a late one with the given error", async () => {
  assert.equal(await withDeadline(Promise.resolve(7), 1000, () => new Error("late")), 7);
  await assert.rejects(
    withDeadline(new Promise(() => {}), 10, () => new Error("too slow")),
    /too slow/,
  );
  await assert.rejects(
    withDeadline(Promise.reject(new Error("own")), 1000, () => new Error("late")),
    /own/,
  );
});
