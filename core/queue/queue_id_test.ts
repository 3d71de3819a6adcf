import assert from "node:assert/strict";
import { test } from "node:test";
import { newQueueId } from "./queue_id.ts";

test("newQueueId() is unique, file-name safe and sorts by time", () => {
  const ids = new Set<string>();
  for (let i = 0; i < 5000; i++) ids.add(newQueueId());
  assert.equal(ids.size, 5000);
  for (const id of ids) assert.match(id, /^[0-9A-Za-z]{14,}$/);
  assert.ok(newQueueId(1_000_000_000_000) < newQueueId(2_000_000_000_000));
  assert.ok(newQueueId(1_700_000_000_000).length === newQueueId(1_700_000_000_001).length);
});
