import { test } from "node:test";
import assert from "node:assert/strict";
import { isLoopback } from "./admin_http.ts";

test("isLoopback knows 127/8, ::1 and localhost only", () => {
  for (const host of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) {
    assert.equal(isLoopback(host), true, host);
  }
  for (const host of ["0.0.0.0", "::", "192.0.2.1", "10.0.0.1", "128.0.0.1", "example.org"]) {
    assert.equal(isLoopback(host), false, host);
  }
});
