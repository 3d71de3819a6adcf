import assert from "node:assert/strict";
import { test } from "node:test";
import { queueListingJson } from "./queue_json.ts";

test("queueListingJson() gives ISO times, the age in seconds and null for no error", () => {
  const json = queueListingJson({
    id: "Q1",
    sender: "a@example.org",
    size: 12,
    receivedAt: Date.UTC(2024, 0, 1),
    held: true,
    recipients: [
      {
        address: "b@x.example",
        state: "queued",
        attempts: 2,
        nextAttempt: Date.UTC(2024, 0, 2),
        lastError: "451 4.4.1 down",
      },
      {
        address: "c@x.example",
        state: "leased",
        attempts: 0,
        nextAttempt: 0,
        lastError: undefined,
      },
    ],
  }, Date.UTC(2024, 0, 1) + 90_400);
  assert.deepEqual(json, {
    id: "Q1",
    sender: "a@example.org",
    size: 12,
    receivedAt: "2024-01-01T00:00:00.000Z",
    ageSeconds: 90,
    held: true,
    state: "held",
    recipients: [
      {
        address: "b@x.example",
        state: "queued",
        attempts: 2,
        nextAttempt: "2024-01-02T00:00:00.000Z",
        lastError: "451 4.4.1 down",
      },
      {
        address: "c@x.example",
        state: "leased",
        attempts: 0,
        nextAttempt: "1970-01-01T00:00:00.000Z",
        lastError: null,
      },
    ],
  });
});
