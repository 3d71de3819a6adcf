import assert from "node:assert/strict";
import { test } from "node:test";
import { isTlsPolicy, mandatesTls, parseTlsPolicies } from "./tls_policy.ts";

test("parseTlsPolicies(): exact domain first, then the nearest .parent, else the default", () => {
  const policies = parseTlsPolicies({
    "Bank.Example": "verify",
    ".corp.example": "required",
    ".eu.corp.example": "none",
    "corp.example": "opportunistic",
    "bücher.test": "required",
  });
  const cases: [string, string][] = [
    ["bank.example", "verify"],
    ["BANK.EXAMPLE.", "verify"],
    ["mx.bank.example", "opportunistic"], // an exact key does not cover subdomains
    ["corp.example", "opportunistic"], // nor does a .parent key cover the domain itself
    ["mail.corp.example", "required"],
    ["a.b.corp.example", "required"],
    ["x.eu.corp.example", "none"], // the nearest parent wins
    ["xn--bcher-kva.test", "required"],
    ["bücher.test", "required"],
    ["other.example", "opportunistic"],
    ["not a domain", "opportunistic"],
  ];
  for (const [domain, want] of cases) assert.equal(policies.policyFor(domain), want, domain);
  assert.equal(policies.fallback, "opportunistic");
  assert.deepEqual([...policies.entries.keys()].sort(), [
    ".corp.example",
    ".eu.corp.example",
    "bank.example",
    "corp.example",
    "xn--bcher-kva.test",
  ]);
});

test("parseTlsPolicies(): the default applies with no table, and may be none", () => {
  assert.equal(parseTlsPolicies({}).policyFor("a.example"), "opportunistic");
  const none = parseTlsPolicies({ "b.example": "verify" }, "none");
  assert.equal(none.policyFor("a.example"), "none");
  assert.equal(none.policyFor("b.example"), "verify");
});

test("parseTlsPolicies(): refuses bad keys, unknown policies and duplicates, naming the key", () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ "bank.example": "strict" }, /tls_policy: "bank\.example" must be one of/],
    [{ "bank.example": "" }, /"bank\.example"/],
    [{ "bank.example": true }, /"bank\.example" must be one of .*not true/],
    [{ "bank.example": "Verify" }, /"bank\.example"/],
    [{ "bad_domain": "verify" }, /tls_policy: invalid domain "bad_domain"/],
    [{ "": "verify" }, /invalid domain ""/],
    [{ ".": "verify" }, /invalid domain "\."/],
    [{ "127.0.0.1": "verify" }, /invalid domain "127\.0\.0\.1"/],
    [{ "a.example": "verify", "A.Example": "none" }, /duplicate domain "A\.Example"/],
  ];
  for (const [table, message] of bad) {
    assert.throws(() => parseTlsPolicies(table), (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, message);
      return true;
    }, JSON.stringify(table));
  }
  assert.throws(
    () => parseTlsPolicies({}, "sometimes" as never),
    /outbound_tls: must be one of none, opportunistic, required, verify/,
  );
});

test("isTlsPolicy() and mandatesTls()", () => {
  assert.ok(isTlsPolicy("verify"));
  assert.ok(!isTlsPolicy("VERIFY"));
  assert.ok(!isTlsPolicy(undefined));
  assert.deepEqual(
    ["none", "opportunistic", "required", "verify"].filter((p) => mandatesTls(p as never)),
    ["required", "verify"],
  );
});
