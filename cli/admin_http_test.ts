import { test } from "node:test";
import assert from "node:assert/strict";
import { isLoopback, tokenWaived } from "./admin_http.ts";

test("isLoopback knows 127/8, ::1 and localhost only", () => {
  for (const host of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) {
    assert.equal(isLoopback(host), true, host);
  }
  for (const host of ["0.0.0.0", "::", "192.0.2.1", "10.0.0.1", "128.0.0.1", "example.org"]) {
    assert.equal(isLoopback(host), false, host);
  }
});

test("tokenWaived() needs http_open_loopback and a loopback bind", () => {
  const at = (hostname: string) => ({ hostname, port: 8025 });
  assert.equal(tokenWaived({ httpOpenLoopback: true, http: at("127.0.0.1") }), true);
  assert.equal(tokenWaived({ httpOpenLoopback: true, http: at("::1") }), true);
  assert.equal(tokenWaived({ httpOpenLoopback: true, http: at("0.0.0.0") }), false);
  assert.equal(tokenWaived({ httpOpenLoopback: true, http: at("192.0.2.1") }), false);
  assert.equal(tokenWaived({ httpOpenLoopback: false, http: at("127.0.0.1") }), false);
  assert.equal(tokenWaived({ httpOpenLoopback: true, http: undefined }), false);
});
