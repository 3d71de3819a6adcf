import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError } from "./config_error.ts";
import { listenersFrom } from "./config_listeners.ts";

const LISTEN = [{ hostname: "0.0.0.0", port: 25 }];

test("listenersFrom() builds every kind of listener and marks the proxied ones", () => {
  const { listeners, tls } = listenersFrom(
    {
      submission: ["0.0.0.0:587"],
      tls_listen: ["0.0.0.0:465"],
      odmr: ["0.0.0.0:366"],
      proxy_listen: ["0.0.0.0:25"],
      tls: { cert: "/c.pem", key: "/k.pem" },
    },
    "t",
    LISTEN,
  );
  assert.deepEqual(tls, { cert: "/c.pem", key: "/k.pem" });
  assert.deepEqual(listeners.map((l) => [l.port, l.kind, l.implicitTls, l.proxy]), [
    [25, "smtp", false, true],
    [587, "submission", false, false],
    [465, "submission", true, false],
    [366, "odmr", false, false],
  ]);
});

test("listenersFrom() refuses AUTH listeners without a certificate, half a pair, and unknown proxies", () => {
  const refuse = (raw: Record<string, unknown>, message: RegExp) =>
    assert.throws(
      () => listenersFrom(raw, "t", LISTEN),
      (e) => e instanceof ConfigError && message.test(e.message),
    );
  refuse({ submission: ["0.0.0.0:587"] }, /t: submission: .*need tls_cert and tls_key/);
  refuse({ tls_cert: "/c.pem" }, /t: tls_key: TLS needs both/);
  refuse(
    { proxy_listen: ["127.0.0.1:9"] },
    /t: proxy_listen: 127\.0\.0\.1:9 is not one of the listeners/,
  );
  refuse({ tls: { chain: "/x" } }, /t: tls\.chain: unknown setting/);
});
