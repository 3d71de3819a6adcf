import assert from "node:assert/strict";
import { test } from "node:test";
import { EVENTS_SHOWN } from "./events.ts";
import { testApp } from "./test_deps.ts";

test("GET /events shows the kept events newest first, capped, for app.js to extend", async () => {
  const t = await testApp();
  try {
    assert.match(await (await t.browse("/events")).text(), /No events yet/);
    for (let i = 1; i <= EVENTS_SHOWN + 20; i++) t.events.publish("queued", { id: `M${i}` });
    const page = await (await t.browse("/events")).text();
    const seqs = [...page.matchAll(/data-seq="(\d+)"/g)].map((m) => Number(m[1]));
    assert.equal(seqs.length, EVENTS_SHOWN);
    assert.equal(seqs[0], EVENTS_SHOWN + 20, "newest first");
    assert.equal(seqs.at(-1), 21);
    assert.match(page, /<ol class="events" id="events" data-events data-cap="200">/);
  } finally {
    t.close();
  }
});
