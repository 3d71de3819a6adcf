import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  decodeBase64,
  isCancel,
  LOGIN_PASSWORD,
  LOGIN_USERNAME,
  parseLoginField,
  parsePlain,
} from "./sasl.ts";

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

/** base64 of raw bytes or of a UTF-8 string, via a reference encoder. */
function b64(input: string | Uint8Array): string {
  return (typeof input === "string" ? Buffer.from(input, "utf8") : Buffer.from(input)).toString(
    "base64",
  );
}

test("decodeBase64() decodes strict base64", () => {
  const cases: [string, number[]][] = [
    ["", []],
    ["=", []], // RFC 4954 §4: the zero-length initial response
    ["YQ==", [0x61]],
    ["YWI=", [0x61, 0x62]],
    ["YWJj", [0x61, 0x62, 0x63]],
    ["YWJjZA==", [0x61, 0x62, 0x63, 0x64]],
    ["AA==", [0]],
    ["AAAA", [0, 0, 0]],
    ["////", [0xff, 0xff, 0xff]],
    ["+/+/", [0xfb, 0xff, 0xbf]],
  ];
  for (const [text, bytes] of cases) {
    assert.deepEqual(decodeBase64(text), new Uint8Array(bytes), text);
  }
});

test("decodeBase64() rejects malformed base64", () => {
  const cases = [
    "==",
    "===",
    "====",
    "Y",
    "YQ",
    "YQ=",
    "YWJ",
    "YWJjZ",
    "YQ===",
    "Y===",
    "=YQ=",
    "Y=Q=",
    "YW=j",
    "YQ==YQ==", // padding before the end
    "YQ==YWJj",
    " YWJj",
    "YWJj ",
    "YW Jj",
    "YWJj\r\n",
    "YW\tJ",
    "YWJ\n",
    "YW-_", // base64url alphabet
    "YWJ_",
    "YWJ.",
    "YWJ*",
    "*",
    "YWJé",
    "YWJ\u0000",
    "YR==", // non-zero pad bits (RFC 4648 §3.5)
    "YWJ=", // "YWI=" with a stray low bit
    "YWK=",
  ];
  for (const text of cases) {
    assert.equal(decodeBase64(text), undefined, JSON.stringify(text));
  }
});

test("decodeBase64() round-trips random bytes from a reference encoder", () => {
  const random = prng(4954);
  for (let run = 0; run < 500; run++) {
    const bytes = new Uint8Array(Math.floor(random() * 40));
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
    assert.deepEqual(decodeBase64(b64(bytes)), bytes);
  }
});

test("parsePlain() parses authzid NUL authcid NUL passwd", () => {
  const cases: [string, ReturnType<typeof parsePlain>][] = [
    [b64("\0alice\0secret"), { authzid: "", authcid: "alice", password: "secret" }],
    [b64("admin\0alice\0secret"), { authzid: "admin", authcid: "alice", password: "secret" }],
    [b64("\0alice@example.org\0p a s s"), {
      authzid: "",
      authcid: "alice@example.org",
      password: "p a s s",
    }],
    [b64("\0josé\0pässwörd✓"), { authzid: "", authcid: "josé", password: "pässwörd✓" }],
    [b64("\0" + "a".repeat(255) + "\0" + "p".repeat(255)), {
      authzid: "",
      authcid: "a".repeat(255),
      password: "p".repeat(255),
    }],
    // 85 three-octet characters are exactly 255 octets.
    [b64("\0u\0" + "€".repeat(85)), { authzid: "", authcid: "u", password: "€".repeat(85) }],
  ];
  for (const [response, expected] of cases) {
    assert.deepEqual(parsePlain(response), expected, response);
  }
});

test("parsePlain() rejects malformed responses", () => {
  const cases: [string, string][] = [
    ["not base64", "bad base64"],
    ["AGFsaWNlAHNlY3JldA", "missing padding"],
    ["AGFsaWNl AHNlY3JldA==", "whitespace"],
    ["=", "empty response"],
    ["", "empty line"],
    ["*", "cancel is not a response"],
    [b64("alice"), "no NUL"],
    [b64("\0alice"), "one NUL"],
    [b64("alice\0secret"), "one NUL, two fields"],
    [b64("\0\0secret"), "empty authcid"],
    [b64("\0alice\0"), "empty password"],
    [b64("\0\0"), "both empty"],
    [b64("\0alice\0sec\0ret"), "NUL inside the password"],
    [b64("\0alice\0secret\0"), "trailing NUL"],
    [b64("\0\0alice\0secret"), "leading extra NUL"],
    [b64("a".repeat(256) + "\0alice\0secret"), "authzid over 255 octets"],
    [b64("\0" + "a".repeat(256) + "\0secret"), "authcid over 255 octets"],
    [b64("\0alice\0" + "p".repeat(256)), "password over 255 octets"],
    [b64("\0alice\0" + "€".repeat(86)), "password over 255 octets in UTF-8"],
    [b64(new Uint8Array([0, 0x61, 0, 0xff])), "invalid UTF-8 password"],
    [b64(new Uint8Array([0, 0xc3, 0x28, 0, 0x70])), "invalid UTF-8 authcid"],
    [b64(new Uint8Array([0xed, 0xa0, 0x80, 0, 0x61, 0, 0x70])), "UTF-8 surrogate authzid"],
    [b64(new Uint8Array([0, 0x61, 0, 0xe2, 0x82])), "truncated UTF-8"],
  ];
  for (const [response, why] of cases) {
    assert.equal(parsePlain(response), "malformed", why);
  }
});

test("LOGIN_USERNAME and LOGIN_PASSWORD are the base64 prompts", () => {
  assert.equal(LOGIN_USERNAME, b64("Username:"));
  assert.equal(LOGIN_PASSWORD, b64("Password:"));
});

test("parseLoginField() decodes one base64 field", () => {
  const cases: [string, string][] = [
    [b64("alice"), "alice"],
    [b64("alice@example.org"), "alice@example.org"],
    [b64("p a s s"), "p a s s"],
    [b64("pässwörd✓"), "pässwörd✓"],
    [b64("x".repeat(255)), "x".repeat(255)],
    [b64("*"), "*"],
  ];
  for (const [response, expected] of cases) {
    assert.equal(parseLoginField(response), expected, response);
  }
});

test("parseLoginField() rejects malformed fields", () => {
  const cases: [string, string][] = [
    ["=", "empty response"],
    ["", "empty line"],
    ["YWxpY2U", "missing padding"],
    ["YWxp Y2U=", "whitespace"],
    ["YWxpY2U=\r", "trailing CR"],
    ["!!!!", "outside the alphabet"],
    [b64("x".repeat(256)), "over 255 octets"],
    [b64("é".repeat(128)), "over 255 octets in UTF-8"],
    [b64("ali\0ce"), "NUL"],
    [b64("alice\r\nMAIL FROM:<x@y>"), "CRLF"],
    [b64("alice\n"), "LF"],
    [b64("alice\r"), "CR"],
    [b64(new Uint8Array([0x61, 0xff])), "invalid UTF-8"],
    [b64(new Uint8Array([0xc0, 0xaf])), "overlong UTF-8"],
  ];
  for (const [response, why] of cases) {
    assert.equal(parseLoginField(response), "malformed", why);
  }
});

test("isCancel() is true only for a lone *", () => {
  assert.equal(isCancel("*"), true);
  for (const line of ["", " *", "* ", "**", "Kg==", "*\r", "=", "AUTH"]) {
    assert.equal(isCancel(line), false, JSON.stringify(line));
  }
});

test("sasl parsers never throw on random input", () => {
  const random = prng(4616);
  // Biased towards the base64 alphabet and the characters that matter here.
  const pool = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/==*\0\r\n -_";
  for (let run = 0; run < 3000; run++) {
    const length = Math.floor(random() * 24);
    let text = "";
    for (let i = 0; i < length; i++) {
      text += random() < 0.85
        ? pool[Math.floor(random() * pool.length)]
        : String.fromCharCode(Math.floor(random() * 0x10000));
    }
    // Random byte strings, base64-encoded, exercise the decoded-field checks too.
    const bytes = new Uint8Array(Math.floor(random() * 20));
    for (let i = 0; i < bytes.length; i++) {
      bytes[i] = random() < 0.2 ? 0 : Math.floor(random() * 256);
    }
    for (const input of [text, b64(bytes)]) {
      const decoded = decodeBase64(input);
      assert.ok(decoded === undefined || decoded instanceof Uint8Array);
      const plain = parsePlain(input);
      if (plain !== "malformed") {
        assert.ok(plain.authcid !== "" && plain.password !== "");
        assert.ok(!`${plain.authzid}${plain.authcid}${plain.password}`.includes("\0"));
      }
      const field = parseLoginField(input);
      if (field !== "malformed") assert.ok(field !== "" && !/[\0\r\n]/.test(field));
      assert.equal(typeof isCancel(input), "boolean");
    }
  }
});
