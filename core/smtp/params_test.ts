import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeXtext,
  type MailParams,
  parseMailParams,
  parseRcptParams,
  type RcptParams,
  splitParams,
} from "./params.ts";
import { SmtpError } from "./reply.ts";

/** Asserts that `fn` throws an SmtpError with this code and enhanced code. */
function assertSmtpError(fn: () => unknown, code: number, enhanced: string, label: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof SmtpError, `${label}: not an SmtpError`);
    assert.equal(error.reply.code, code, label);
    assert.equal(error.reply.enhanced, enhanced, label);
    return true;
  }, label);
}

test("parseMailParams() accepts SIZE, BODY, SMTPUTF8, RET and ENVID", () => {
  const cases: [string, MailParams][] = [
    ["", { smtputf8: false }],
    ["SIZE=0", { smtputf8: false, size: 0 }],
    ["SIZE=12345", { smtputf8: false, size: 12345 }],
    ["size=10", { smtputf8: false, size: 10 }],
    ["BODY=7BIT", { smtputf8: false, body: "7BIT" }],
    ["BODY=8bitmime", { smtputf8: false, body: "8BITMIME" }],
    ["SMTPUTF8", { smtputf8: true }],
    ["RET=FULL", { smtputf8: false, ret: "FULL" }],
    ["ret=hdrs", { smtputf8: false, ret: "HDRS" }],
    ["ENVID=QQ314159", { smtputf8: false, envid: "QQ314159" }],
    // RFC 3461 §4: xtext `+XX` escapes decode to the octet.
    ["ENVID=a+2Bb+3Dc", { smtputf8: false, envid: "a+b=c" }],
    ["SIZE=100  BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x", {
      smtputf8: true,
      size: 100,
      body: "8BITMIME",
      ret: "HDRS",
      envid: "x",
    }],
  ];
  for (const [text, expected] of cases) {
    assert.deepEqual(parseMailParams(text), expected, text);
  }
});

test("parseMailParams() answers bad values with 501 5.5.4", () => {
  const cases = [
    "SIZE",
    "SIZE=",
    "SIZE=-1",
    "SIZE=1.5",
    "SIZE=ten",
    "SIZE=123456789012345678901",
    "BODY",
    "BODY=BINARYMIME",
    "SMTPUTF8=yes",
    "RET",
    "RET=ALL",
    "ENVID",
    `ENVID=${"a".repeat(101)}`,
    "ENVID=a+2b",
    "ENVID=a+2",
    "ENVID=a+ZZ",
    "SIZE=1 SIZE=2",
    "SIZE=1 size=1",
    "=1",
    "-X=1",
    "SIZE=1=2",
    "X\u0000=1",
  ];
  for (const text of cases) {
    assertSmtpError(() => parseMailParams(text), 501, "5.5.4", text);
  }
});

test("parseMailParams() answers an unknown keyword with 555 5.5.4", () => {
  for (const text of ["FOO=1", "SIZE=1 AUTH=<>", "NOTIFY=NEVER", "X-EXT"]) {
    assertSmtpError(() => parseMailParams(text), 555, "5.5.4", text);
  }
});

test("parseRcptParams() accepts NOTIFY and ORCPT", () => {
  const cases: [string, RcptParams][] = [
    ["", {}],
    ["NOTIFY=NEVER", { notify: ["NEVER"] }],
    ["NOTIFY=success", { notify: ["SUCCESS"] }],
    ["NOTIFY=SUCCESS,FAILURE,DELAY", { notify: ["SUCCESS", "FAILURE", "DELAY"] }],
    ["NOTIFY=DELAY,FAILURE", { notify: ["DELAY", "FAILURE"] }],
    ["ORCPT=rfc822;a+40b", { orcpt: { type: "rfc822", address: "a@b" } }],
    ["ORCPT=RFC822;user+2Btag@example.org", {
      orcpt: { type: "rfc822", address: "user+tag@example.org" },
    }],
    ["NOTIFY=FAILURE ORCPT=rfc822;x@y", {
      notify: ["FAILURE"],
      orcpt: { type: "rfc822", address: "x@y" },
    }],
  ];
  for (const [text, expected] of cases) {
    assert.deepEqual(parseRcptParams(text), expected, text);
  }
});

test("parseRcptParams() answers bad NOTIFY and ORCPT values with 501 5.5.4", () => {
  const cases = [
    "NOTIFY",
    "NOTIFY=",
    "NOTIFY=NEVER,SUCCESS",
    "NOTIFY=FAILURE,NEVER",
    "NOTIFY=SUCCESS,SUCCESS",
    "NOTIFY=NEVER,NEVER",
    "NOTIFY=ALWAYS",
    "NOTIFY=SUCCESS,",
    "NOTIFY=,",
    "NOTIFY=NEVER NOTIFY=NEVER",
    "ORCPT",
    "ORCPT=rfc822",
    "ORCPT=;a@b",
    "ORCPT=rfc822;a+4",
    "ORCPT=rfc822;a+40b+zz",
    `ORCPT=rfc822;${"a".repeat(500)}`,
  ];
  for (const text of cases) {
    assertSmtpError(() => parseRcptParams(text), 501, "5.5.4", text);
  }
});

test("parseRcptParams() answers an unknown keyword with 555 5.5.4", () => {
  for (const text of ["SIZE=1", "BODY=7BIT", "NOTIFY=NEVER XFOO"]) {
    assertSmtpError(() => parseRcptParams(text), 555, "5.5.4", text);
  }
});

test("splitParams() upper-cases keys and keeps raw values", () => {
  assert.deepEqual(
    [...splitParams(" size=10  Body=8bitmime smtputf8 ")],
    [["SIZE", "10"], ["BODY", "8bitmime"], ["SMTPUTF8", undefined]],
  );
  assert.deepEqual([...splitParams("")], []);
});

test("decodeXtext() decodes +XX and refuses invalid xtext", () => {
  assert.equal(decodeXtext(""), "");
  assert.equal(decodeXtext("plain"), "plain");
  assert.equal(decodeXtext("+2B+3D+20"), "+= ");
  for (const bad of ["a+", "+2", "+2b", "a=b", "a b", "é", "+G0"]) {
    assertSmtpError(() => decodeXtext(bad), 501, "5.5.4", bad);
  }
});

test("parseMailParams() folds keyword case in ASCII only", () => {
  assert.throws(
    () => parseMailParams("\u017Fize=10"),
    (e) => e instanceof SmtpError && e.reply.code === 501,
  );
  assert.throws(
    () => parseMailParams("BODY=8b\u0131tm\u0131me"),
    (e) => e instanceof SmtpError && e.reply.code === 501,
  );
  assert.deepEqual(parseMailParams("size=10 body=8bitmime"), {
    smtputf8: false,
    size: 10,
    body: "8BITMIME",
  });
});
