import assert from "node:assert/strict";
import { test } from "node:test";
import { OWNED_VERBS } from "./owned_verbs.ts";

test("OWNED_VERBS answers like RFC 5321 when no plugin does: VRFY 252, EXPN and TURN 502", () => {
  assert.deepEqual([
    OWNED_VERBS.VRFY.none.code,
    OWNED_VERBS.VRFY.none.enhanced,
    OWNED_VERBS.VRFY.noneIsError,
  ], [252, "2.5.0", false]);
  assert.deepEqual([OWNED_VERBS.EXPN.none.code, OWNED_VERBS.EXPN.noneIsError], [502, true]);
  assert.deepEqual([
    OWNED_VERBS.TURN.none.code,
    OWNED_VERBS.TURN.takesArgument,
    OWNED_VERBS.TURN.handover,
  ], [502, false, true]);
  assert.deepEqual(OWNED_VERBS.VRFY.ok("alice"), {
    code: 250,
    enhanced: "2.1.5",
    lines: ["alice"],
  });
});
