import assert from "node:assert/strict";
import { test } from "node:test";
import { chartFrame } from "./dashboard.ts";
import { testApp } from "./test_deps.ts";

test("chartFrame() gives app.js a line per series, an area where asked, and a legend", async () => {
  const svg = String(
    await chartFrame("c1", "a <label>", [
      { key: "accepted", label: "in", area: true },
      { key: "delivered", label: "out" },
    ]),
  );
  assert.match(svg, /<svg id="c1" viewBox="0 0 600 150"/);
  assert.match(svg, /aria-label="a &lt;label&gt;"/);
  assert.match(svg, /<polygon class="area accepted" points="" \/>/);
  assert.doesNotMatch(svg, /area delivered/);
  assert.match(svg, /<polyline class="line delivered" points="" \/>/);
  assert.match(svg, /<span class="scale" id="c1-max">/);
});

test("GET / shows the health facts, the chart frames and the latest events, escaped", async () => {
  const t = await testApp();
  try {
    t.events.publish("reject", {
      ip: "192.0.2.1",
      reason: "<script>x</script>",
      password: "hunter2",
    });
    const response = await t.browse("/");
    assert.equal(response.status, 200);
    const page = await response.text();
    assert.match(page, /<body data-page="dashboard">/);
    assert.match(page, /Postino 0\.0\.0-test on (deno|bun)/);
    assert.match(
      page,
      /<td>smtp<\/td>\s*<td class="mono">127\.0\.0\.1<\/td>\s*<td class="mono">2525<\/td>/,
    );
    assert.match(page, /<svg id="throughput"/);
    assert.match(page, /<svg id="depth"/);
    assert.match(page, /data-stat="total-delivered">0</);
    assert.match(page, /reason=&lt;script&gt;x&lt;\/script&gt; password=\[redacted\]/);
    assert.doesNotMatch(page, /hunter2/, "secret-looking fields are blanked, as in the stream");
  } finally {
    t.close();
  }
});
