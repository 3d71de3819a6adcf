import { test } from "node:test";
import assert from "node:assert/strict";
import { type ReceivedInfo, receivedValue, rfc5322Date } from "./received.ts";

const DATE = new Date(Date.UTC(2024, 0, 5, 3, 4, 5));

function info(overrides: Partial<ReceivedInfo> = {}): ReceivedInfo {
  return {
    helo: "client.example",
    remoteAddress: "192.0.2.7",
    hostname: "mx.example",
    protocol: "ESMTP",
    queueId: "Q1a2b3c",
    tls: undefined,
    recipient: undefined,
    date: DATE,
    ...overrides,
  };
}

test("rfc5322Date() formats a fixed date exactly, in UTC", () => {
  assert.equal(rfc5322Date(DATE), "Fri, 5 Jan 2024 03:04:05 +0000");
  assert.equal(
    rfc5322Date(new Date(Date.UTC(1999, 11, 31, 23, 59, 9))),
    "Fri, 31 Dec 1999 23:59:09 +0000",
  );
  assert.equal(
    rfc5322Date(new Date(Date.UTC(2030, 5, 16, 0, 0, 0))),
    "Sun, 16 Jun 2030 00:00:00 +0000",
  );
});

test("receivedValue() names the client, server, protocol, queue id and date", () => {
  assert.equal(
    receivedValue(info()),
    "from client.example ([192.0.2.7])\r\n" +
      "\tby mx.example (Postino) with ESMTP id Q1a2b3c;\r\n" +
      "\tFri, 5 Jan 2024 03:04:05 +0000",
  );
});

test("receivedValue() writes an IPv6 client as an [IPv6:...] literal", () => {
  const value = receivedValue(info({ remoteAddress: "2001:db8::1" }));
  assert.ok(value.startsWith("from client.example ([IPv6:2001:db8::1])\r\n"), value);
});

test("receivedValue() adds `for <x>` only when a recipient is given", () => {
  const one = receivedValue(info({ recipient: "bob@example.org" }));
  assert.ok(one.includes("id Q1a2b3c\r\n\tfor <bob@example.org>;\r\n"), one);
  const none = receivedValue(info());
  assert.ok(!none.includes("for <"), none);
  assert.ok(none.includes("id Q1a2b3c;\r\n"), none);
});

test("receivedValue() says unknown for a missing HELO and records TLS", () => {
  const value = receivedValue(info({
    helo: undefined,
    protocol: "ESMTPS",
    tls: { version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384" },
  }));
  assert.equal(
    value,
    "from unknown ([192.0.2.7])\r\n" +
      "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n" +
      "\tby mx.example (Postino) with ESMTPS id Q1a2b3c;\r\n" +
      "\tFri, 5 Jan 2024 03:04:05 +0000",
  );
});
