import { test } from "node:test";
import assert from "node:assert/strict";
import { isValidDomain, type Mailbox, parseMailbox, parsePath } from "./address.ts";

/** mulberry32: a tiny seeded PRNG so property runs are repeatable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mailbox(local: string, domain: string, utf8 = false): Mailbox {
  return { local, domain, address: `${local}@${domain}`, utf8 };
}

test("parsePath() parses paths, null paths and parameters", () => {
  const cases: [string, boolean, ReturnType<typeof parsePath>][] = [
    ["<a@example.org>", true, { mailbox: mailbox("a", "example.org"), rest: "" }],
    ["<a@example.org> SIZE=10 BODY=8BITMIME", true, {
      mailbox: mailbox("a", "example.org"),
      rest: "SIZE=10 BODY=8BITMIME",
    }],
    ["  <a@example.org>   SIZE=10  ", true, {
      mailbox: mailbox("a", "example.org"),
      rest: "SIZE=10",
    }],
    ["<First.Last@Example.ORG>", true, { mailbox: mailbox("First.Last", "example.org"), rest: "" }],
    ["<>", true, { mailbox: null, rest: "" }],
    ["<> SIZE=0", true, { mailbox: null, rest: "SIZE=0" }],
    ["<>", false, "address"],
    // RFC 5321 §4.1.1.3: source routes are accepted and ignored.
    ["<@a.example,@b.example:u@d.example>", false, {
      mailbox: mailbox("u", "d.example"),
      rest: "",
    }],
    ["<@a.example:u@d.example> NOTIFY=NEVER", false, {
      mailbox: mailbox("u", "d.example"),
      rest: "NOTIFY=NEVER",
    }],
    ['<"a b"@x.example>', true, { mailbox: mailbox('"a b"', "x.example"), rest: "" }],
    ['<"user@remote"@local.example>', true, {
      mailbox: mailbox('"user@remote"', "local.example"),
      rest: "",
    }],
    ['<"a>b"@x.example> SIZE=1', true, { mailbox: mailbox('"a>b"', "x.example"), rest: "SIZE=1" }],
    ['<"a\\"b"@x.example>', true, { mailbox: mailbox('"a\\"b"', "x.example"), rest: "" }],
    ["<postmaster@[127.0.0.1]>", false, {
      mailbox: mailbox("postmaster", "[127.0.0.1]"),
      rest: "",
    }],
    ["<u@[IPv6:::1]>", false, { mailbox: mailbox("u", "[ipv6:::1]"), rest: "" }],
    ["<josé@exämple.de>", true, { mailbox: mailbox("josé", "exämple.de", true), rest: "" }],
    ["<用户@例子.广告>", true, { mailbox: mailbox("用户", "例子.广告", true), rest: "" }],
    // Missing or stray brackets are syntax errors (RFC 5321 §4.1.2).
    ["a@example.org", true, "syntax"],
    ["<a@example.org", true, "syntax"],
    ["", true, "syntax"],
    ["a@example.org>", true, "syntax"],
    ["<a@example.org>SIZE=10", true, "syntax"],
    ['<"a@example.org>', true, "syntax"],
    // Well-formed brackets around a bad mailbox are address errors.
    ["<a@[300.1.1.1]>", true, "address"],
    ["<a..b@example.org>", true, "address"],
    ["<a@>", true, "address"],
    ["<@example.org>", true, "address"],
    ["<a b@example.org>", true, "address"],
    ["<a@exa mple.org>", true, "address"],
    ["<a@-example.org>", true, "address"],
  ];
  for (const [text, allowNull, expected] of cases) {
    assert.deepEqual(parsePath(text, { allowNull }), expected, text);
  }
});

test("parseMailbox() enforces the 64-octet local part limit in octets", () => {
  assert.equal(parseMailbox(`${"a".repeat(64)}@example.org`)?.local, "a".repeat(64));
  assert.equal(parseMailbox(`${"a".repeat(65)}@example.org`), undefined);
  // 32 two-octet characters fit; 33 do not (RFC 6531 §3.3 counts octets).
  assert.equal(parseMailbox(`${"é".repeat(32)}@example.org`)?.utf8, true);
  assert.equal(parseMailbox(`${"é".repeat(33)}@example.org`), undefined);
  assert.equal(parsePath(`<${"a".repeat(65)}@example.org>`, { allowNull: true }), "address");
});

test("parseMailbox() parses local@domain and refuses malformed input", () => {
  const cases: [string, Mailbox | undefined][] = [
    ["a@b", mailbox("a", "b")],
    ["A.B+tag@EXAMPLE.org", mailbox("A.B+tag", "example.org")],
    ["!#$%&'*+-/=?^_`{|}~@example.org", mailbox("!#$%&'*+-/=?^_`{|}~", "example.org")],
    ['"a b"@x', mailbox('"a b"', "x")],
    ['""@x', mailbox('""', "x")],
    ["ñandú@españa.es", mailbox("ñandú", "españa.es", true)],
    ["a@例子.广告", mailbox("a", "例子.广告", true)],
    ["", undefined],
    ["a", undefined],
    ["@x", undefined],
    ["a@", undefined],
    [".a@x", undefined],
    ["a.@x", undefined],
    ['"a"b@x', undefined],
    ['"a\nb"@x', undefined],
    ["a\u0000b@x", undefined],
    ["a@x_y", undefined],
  ];
  for (const [text, expected] of cases) {
    assert.deepEqual(parseMailbox(text), expected, JSON.stringify(text));
  }
});

test("isValidDomain() checks names, label lengths and address literals", () => {
  const cases: [string, boolean][] = [
    ["example.org", true],
    ["a", true],
    ["a-b.c-d", true],
    ["123.example", true],
    ["bücher.de", true],
    [`${"a".repeat(63)}.org`, true],
    [`${"a".repeat(64)}.org`, false],
    [Array(4).fill("c".repeat(63)).join("."), true],
    [`${Array(4).fill("c".repeat(63)).join(".")}.cc`, false],
    ["", false],
    ["example..org", false],
    [".example.org", false],
    ["example.org.", false],
    ["-a.org", false],
    ["a-.org", false],
    ["a_b.org", false],
    ["exa mple.org", false],
    ["[127.0.0.1]", true],
    ["[255.255.255.255]", true],
    ["[300.1.1.1]", false],
    ["[1.2.3]", false],
    ["[1.2.3.4.5]", false],
    ["127.0.0.1]", false],
    ["[127.0.0.1", false],
    ["[IPv6:::1]", true],
    ["[ipv6:::1]", true],
    ["[IPv6:2001:db8::1]", true],
    ["[IPv6:2001:db8:0:0:0:0:0:1]", true],
    ["[IPv6:::ffff:192.0.2.1]", true],
    ["[IPv6:1:2:3:4:5:6:192.0.2.1]", true],
    ["[IPv6:::]", true],
    ["[::1]", false],
    ["[IPv6:1:2:3]", false],
    ["[IPv6:1:2:3:4:5:6:7:8:9]", false],
    ["[IPv6:1::2::3]", false],
    ["[IPv6::::1]", false],
    ["[IPv6:12345::1]", false],
    ["[IPv6:g::1]", false],
    ["[IPv6:::ffff:300.0.2.1]", false],
    ["[IPv6:1.2.3.4]", false],
  ];
  for (const [domain, expected] of cases) {
    assert.equal(isValidDomain(domain), expected, domain);
  }
});

test("parsePath() never throws and every accepted mailbox round-trips (property)", () => {
  const random = prng(0x5eed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  // Weighted towards the characters that matter to the grammar.
  const alphabet = [
    ...'abcxyzABC019.-_+!#~@@@<>""\\,:;[] ',
    "é",
    "ß",
    "用",
    "😀",
    "IPv6:",
    "127.0.0.1",
    "\t",
    "\u0080",
  ];
  // Keeps only characters a dot-atom may hold, so some paths are valid.
  const tame = (text: string) => "w" + text.replace(/[^a-zA-Z0-9+éß用😀-]/g, "");
  let accepted = 0;
  for (let i = 0; i < 2000; i++) {
    const length = Math.floor(random() * 24);
    let body = "";
    for (let j = 0; j < length; j++) body += pick(alphabet);
    const shape = random();
    const text = shape < 0.5
      ? `<${body}>`
      : shape < 0.7
      ? `<${body}> SIZE=${Math.floor(random() * 100)}`
      : shape < 0.8
      ? `<w${body}@${pick(["x", "x.y", "[1.2.3.4]"])}>`
      : shape < 0.9
      ? `<${tame(body)}@${pick(["x", "Ex.Y", "bü.de", "[IPv6:::1]"])}>`
      : body;
    const allowNull = random() < 0.5;
    const result = parsePath(text, { allowNull });
    if (result === "syntax" || result === "address") continue;
    assert.equal(typeof result, "object", text);
    if (result.mailbox === null) {
      assert.ok(allowNull, text);
      continue;
    }
    accepted++;
    assert.deepEqual(parseMailbox(result.mailbox.address), result.mailbox, text);
  }
  // The generator must actually reach the accepting paths.
  assert.ok(accepted > 100, `only ${accepted} accepted`);
});

test("parsePath() accepts every generated dot-atom address (property)", () => {
  const random = prng(42);
  const atext = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~";
  const ldh = "abcdefghijklmnopqrstuvwxyz0123456789-";
  const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  const word = (chars: string, max: number) => {
    let out = "";
    const length = 1 + Math.floor(random() * max);
    for (let i = 0; i < length; i++) out += chars[Math.floor(random() * chars.length)];
    return out;
  };
  for (let i = 0; i < 2000; i++) {
    const atoms = Array.from({ length: 1 + Math.floor(random() * 3) }, () => word(atext, 20));
    const local = atoms.join(".").slice(0, 64).replace(/\.+$/, "");
    const labels = Array.from({ length: 1 + Math.floor(random() * 3) }, () => {
      const middle = random() < 0.5 ? word(ldh, 40) : "";
      return word(alnum, 1) + middle + word(alnum, 1);
    });
    const domain = labels.join(".");
    const result = parsePath(`<${local}@${domain}> SIZE=1`, { allowNull: false });
    assert.deepEqual(
      result,
      { mailbox: mailbox(local, domain.toLowerCase()), rest: "SIZE=1" },
      `${local}@${domain}`,
    );
  }
});

test("parseMailbox() folds domain case in ASCII only, so utf8 matches the address", () => {
  const kelvin = parseMailbox("a@\u212Aelvin.example");
  assert.equal(kelvin?.domain, "\u212Aelvin.example");
  assert.equal(kelvin?.utf8, true);
  assert.equal(parseMailbox("a@EXAMPLE.Org")?.domain, "example.org");
});
