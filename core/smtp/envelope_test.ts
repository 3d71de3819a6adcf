import assert from "node:assert/strict";
import { test } from "node:test";
import { checkMail, checkRcpt, type EnvelopeRules } from "./envelope.ts";
import { SmtpError } from "./reply.ts";
import { protocolName } from "./received.ts";

const RULES: EnvelopeRules = { esmtp: true, maxMessageSize: 1000, primaryDomain: "example.org" };

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof SmtpError);
    return `${error.reply.code} ${error.reply.enhanced}`;
  }
  return "accepted";
}

const MAIL_CASES: [string, Partial<EnvelopeRules>, string][] = [
  ["FROM:<a@b.example>", {}, "accepted"],
  ["FROM:<>", {}, "accepted"],
  ["from:<a@b.example> SIZE=1000 BODY=8BITMIME", {}, "accepted"],
  ["FROM:a@b.example", {}, "501 5.5.2"],
  ["TO:<a@b.example>", {}, "501 5.5.2"],
  ["FROM:<a b@c>", {}, "501 5.1.7"],
  ["FROM:<a@b.example> SIZE=1001", {}, "552 5.3.4"],
  ["FROM:<a@b.example> FOO=1", {}, "555 5.5.4"],
  ["FROM:<a@b.example> SIZE=10", { esmtp: false }, "555 5.5.4"],
  ["FROM:<zoë@b.example>", {}, "553 5.6.7"],
  ["FROM:<zoë@b.example> SMTPUTF8", {}, "accepted"],
];

for (const [argument, rules, want] of MAIL_CASES) {
  test(`checkMail() answers "${argument}" with ${want}`, () => {
    assert.equal(refusal(() => checkMail("MAIL", argument, { ...RULES, ...rules })), want);
  });
}

const RCPT_CASES: [string, boolean, string][] = [
  ["TO:<b@example.org>", false, "accepted"],
  ["TO:<b@example.org> NOTIFY=FAILURE ORCPT=rfc822;b@example.org", false, "accepted"],
  ["TO:<>", false, "501 5.1.3"],
  ["TO:b@example.org", false, "501 5.5.2"],
  ["TO:<b@example.org> NOTIFY=MAYBE", false, "501 5.5.4"],
  ["TO:<zoë@example.org>", false, "553 5.6.7"],
  ["TO:<zoë@example.org>", true, "accepted"],
];

for (const [argument, utf8, want] of RCPT_CASES) {
  test(`checkRcpt() answers "${argument}"${utf8 ? " after SMTPUTF8" : ""} with ${want}`, () => {
    assert.equal(refusal(() => checkRcpt(argument, { smtputf8: utf8 }, RULES)), want);
  });
}

test("checkRcpt() turns <Postmaster> into postmaster of the primary domain", () => {
  assert.equal(
    checkRcpt("TO:<Postmaster>", { smtputf8: false }, RULES).mailbox.address,
    "postmaster@example.org",
  );
});

test("checkMail() strips a source route and keeps the parameters", () => {
  const { sender, params } = checkMail(
    "MAIL",
    "FROM:<@relay.example:a@b.example> RET=HDRS ENVID=x+2By",
    RULES,
  );
  assert.equal(sender?.address, "a@b.example");
  assert.equal(params.ret, "HDRS");
  assert.equal(params.envid, "x+y");
});

test("protocolName() follows RFC 3848 and RFC 6531", () => {
  const base = { esmtp: true, tls: false, authenticated: false, utf8: false };
  assert.equal(protocolName({ ...base, esmtp: false }), "SMTP");
  assert.equal(protocolName(base), "ESMTP");
  assert.equal(protocolName({ ...base, tls: true, authenticated: true }), "ESMTPSA");
  assert.equal(protocolName({ ...base, utf8: true, tls: true }), "UTF8SMTPS");
});
