import assert from "node:assert/strict";
import { test } from "node:test";
import { ehloKeywords, helpReply } from "./help.ts";

test("helpReply() lists only the verbs available here, and 504 for others", () => {
  const available = (verb: string) => verb !== "EXPN";
  assert.deepEqual(helpReply("", ["HELO", "EXPN", "QUIT"], available), {
    code: 214,
    enhanced: "2.0.0",
    lines: ["Commands:", "HELO QUIT", "HELP <command> for usage"],
  });
  assert.equal(helpReply("mail", ["MAIL"], available).code, 214);
  assert.match(helpReply("mail", ["MAIL"], available).lines[0] as string, /^MAIL FROM:<address>/);
  assert.deepEqual(helpReply("expn", ["EXPN"], available), {
    code: 504,
    enhanced: "5.5.1",
    lines: ["No help for EXPN"],
  });
  assert.equal(helpReply("bogus", [], available).code, 504);
});

test("ehloKeywords() offers STARTTLS and AUTH only when asked", () => {
  assert.deepEqual(ehloKeywords({ maxMessageSize: 10 }).slice(0, 2), ["PIPELINING", "SIZE 10"]);
  assert.ok(
    !ehloKeywords({ maxMessageSize: 10 }).some((k) => k.startsWith("AUTH") || k === "STARTTLS"),
  );
  const secure = ehloKeywords({ maxMessageSize: 10, starttls: true, auth: ["PLAIN", "LOGIN"] });
  assert.ok(secure.includes("STARTTLS"));
  assert.ok(secure.includes("AUTH PLAIN LOGIN"));
});
