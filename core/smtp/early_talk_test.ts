import assert from "node:assert/strict";
import { test } from "node:test";
import { improperPipelining, pipelinedEarly, talkedEarly } from "./early_talk.ts";

const encoder = new TextEncoder();

test("improperPipelining() flags a command with bytes behind it before EHLO", () => {
  // [line, bytes buffered behind it, EHLO answered, improper]
  const cases: [string, number, boolean, boolean][] = [
    ["HELO a.example", 20, false, true],
    ["MAIL FROM:<a@b.example>", 1, false, true],
    ["NOOP", 6, false, true],
    ["MAIL FROM:<a@b.example>", 0, false, false], // the last command of a write
    ["MAIL FROM:<a@b.example>", 24, true, false], // PIPELINING was offered
    ["EHLO a.example", 20, false, false], // an ESMTP client's first group
    ["ehlo a.example", 20, false, false],
    ["EHLO", 20, false, false],
    ["EHLOX a", 20, false, true],
    ["BDAT 10 LAST", 10, false, false], // the chunk is data
    ["bdat 10", 10, false, false],
    ["BDATA 10", 10, false, true],
    ["", 4, false, true],
  ];
  for (const [line, buffered, esmtp, want] of cases) {
    assert.equal(
      improperPipelining(encoder.encode(line), buffered, esmtp),
      want,
      JSON.stringify([line, buffered, esmtp]),
    );
  }
});

test("talkedEarly() and pipelinedEarly() answer 554 5.5.0", () => {
  for (const r of [talkedEarly("mx.test"), pipelinedEarly("mx.test")]) {
    assert.equal(r.code, 554);
    assert.equal(r.enhanced, "5.5.0");
    assert.match(r.lines[0] as string, /^mx\.test Protocol error: /);
  }
});
