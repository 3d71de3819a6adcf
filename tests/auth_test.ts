/**
 * AUTH (RFC 4954) on the wire, against the real server: offered only over
 * TLS, PLAIN (RFC 4616) and LOGIN with and without initial responses, every
 * error path, the brute-force limiter (growing delays, then 421 4.7.0 and a
 * temporary block), and passwords kept out of the logs even with
 * `--verbose`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, test } from "node:test";
import { type RunningServer, startServer } from "./helpers/server.ts";
import {
  b64,
  makeCerts,
  openSession,
  plainResponse,
  SmtpConn,
  type TestCerts,
  tlsConfig,
} from "./helpers/tls.ts";

const TIMEOUT = { timeout: 60_000 };
const ALICE = { user: "alice@localhost", password: "Alice-Auth-Secret-4417" };
const BOB = { user: "bob@localhost", password: "Bob-Auth-Secret-9083" };
/** A wrong password for alice; it must not show up in the logs either. */
const WRONG = "Wrong-Guess-Secret-5562";

/**
 * PLAIN's empty challenge. RFC 4954 §4 writes it `"334" SP`, but the server
 * currently trims the space; the exact form has its own test below, so the
 * other tests accept both.
 */
const EMPTY_CHALLENGE = /^334 ?$/;

let certs: TestCerts;
let server: RunningServer;

before(async () => {
  certs = makeCerts();
  server = await startServer({
    users: [`${ALICE.user}:${ALICE.password}`, `${BOB.user}:${BOB.password}`],
    config: tlsConfig(certs),
    args: ["--verbose"],
  });
});

after(async () => {
  await server?.stop();
  if (server) rmSync(server.dataDir, { recursive: true, force: true });
  if (certs) rmSync(certs.dir, { recursive: true, force: true });
});

/** A session that did STARTTLS and EHLO again, ready for AUTH. */
function secured(port = server.port): Promise<SmtpConn> {
  return openSession(port, { starttls: true });
}

/** Runs `body` with a secured session and always closes it. */
async function withSecured(body: (client: SmtpConn) => Promise<void>): Promise<void> {
  const client = await secured();
  try {
    await body(client);
  } finally {
    client.close();
  }
}

test(
  "before TLS: EHLO offers no AUTH, and AUTH gets 538 5.7.11 without checking anything",
  TIMEOUT,
  async () => {
    const client = await SmtpConn.connect(server.port);
    try {
      assert.match(await client.last(), /^220 /);
      await client.send("EHLO client.example");
      const ehlo = await client.reply();
      assert.ok(!ehlo.some((line) => /AUTH/i.test(line)), JSON.stringify(ehlo));
      assert.ok(ehlo.includes("250-STARTTLS"), JSON.stringify(ehlo));
      assert.match(
        await client.command(`AUTH PLAIN ${plainResponse(ALICE.user, ALICE.password)}`),
        /^538 5\.7\.11 /,
      );
      // No 334 challenge either: the password must never be asked for in the clear.
      assert.match(await client.command("AUTH LOGIN"), /^538 5\.7\.11 /);
      // The session goes on: still unauthenticated, still able to STARTTLS.
      assert.match(await client.command("NOOP"), /^250 /);
      assert.match(await client.command("STARTTLS"), /^220 /);
      await client.startTls();
    } finally {
      client.close();
    }
  },
);

test(
  "after TLS: EHLO offers AUTH PLAIN LOGIN; AUTH before the new EHLO is out of sequence",
  TIMEOUT,
  async () => {
    const client = await openSession(server.port);
    try {
      assert.match(await client.command("STARTTLS"), /^220 /);
      await client.startTls();
      assert.match(
        await client.command(`AUTH PLAIN ${plainResponse(ALICE.user, ALICE.password)}`),
        /^503 5\.5\.1 /,
      );
      await client.send("EHLO client.example");
      const ehlo = await client.reply();
      assert.ok(ehlo.includes("250-AUTH PLAIN LOGIN"), JSON.stringify(ehlo));
    } finally {
      client.close();
    }
  },
);

test("unknown mechanism, or none: 504 5.5.4", TIMEOUT, async () => {
  await withSecured(async (client) => {
    assert.match(await client.command("AUTH CRAM-MD5"), /^504 5\.5\.4 /);
    assert.match(await client.command("AUTH XOAUTH2 dXNlcg=="), /^504 5\.5\.4 /);
    assert.match(await client.command("AUTH"), /^504 5\.5\.4 /);
    assert.match(await client.command("AUTH PLAIN dGVzdA== extra"), /^504 5\.5\.4 /);
    // Still able to log in afterwards.
    assert.match(
      await client.command(`AUTH PLAIN ${plainResponse(ALICE.user, ALICE.password)}`),
      /^235 2\.7\.0 /,
    );
  });
});

test(
  "'*' cancels the exchange with 501, for PLAIN and at both LOGIN prompts",
  TIMEOUT,
  async () => {
    await withSecured(async (client) => {
      assert.match(await client.command("AUTH PLAIN"), EMPTY_CHALLENGE);
      assert.match(await client.command("*"), /^501 /);
      assert.equal(await client.command("AUTH LOGIN"), "334 VXNlcm5hbWU6");
      assert.match(await client.command("*"), /^501 /);
      assert.equal(await client.command("AUTH LOGIN"), "334 VXNlcm5hbWU6");
      assert.equal(await client.command(b64(ALICE.user)), "334 UGFzc3dvcmQ6");
      assert.match(await client.command("*"), /^501 /);
      assert.match(await client.command("AUTH PLAIN *"), /^501 /);
      // A cancel is not a failed login: the next try is not refused or slowed.
      assert.match(
        await client.command(`AUTH PLAIN ${plainResponse(ALICE.user, ALICE.password)}`),
        /^235 2\.7\.0 /,
      );
    });
  },
);

test("malformed base64 gets 501 5.5.2", TIMEOUT, async () => {
  await withSecured(async (client) => {
    assert.match(await client.command("AUTH PLAIN !!!not-base64!!!"), /^501 5\.5\.2 /);
    assert.match(await client.command("AUTH PLAIN"), EMPTY_CHALLENGE);
    assert.match(await client.command("a=b=c"), /^501 5\.5\.2 /);
    assert.equal(await client.command("AUTH LOGIN"), "334 VXNlcm5hbWU6");
    assert.match(await client.command("%%%"), /^501 5\.5\.2 /);
    // Valid base64 but no NUL separators is not a PLAIN message either.
    assert.match(await client.command(`AUTH PLAIN ${b64("just-a-user")}`), /^501 5\.5\.2 /);
  });
});

test("a wrong password gets 535 5.7.8, after a delay", TIMEOUT, async () => {
  await withSecured(async (client) => {
    const started = Date.now();
    assert.match(
      await client.command(`AUTH PLAIN ${plainResponse(ALICE.user, WRONG)}`),
      /^535 5\.7\.8 /,
    );
    // The limiter's first delay is 250 ms; allow for timer slack.
    assert.ok(Date.now() - started >= 200, `answered after ${Date.now() - started} ms`);
    // The session stays usable, and the right password still works.
    assert.match(
      await client.command(`AUTH PLAIN ${plainResponse(ALICE.user, ALICE.password)}`),
      /^235 2\.7\.0 /,
    );
  });
});

test(
  "a good login gets 235 2.7.0; AUTH again gets 503; EHLO stops offering AUTH",
  TIMEOUT,
  async () => {
    await withSecured(async (client) => {
      assert.match(
        await client.command(`AUTH PLAIN ${plainResponse(BOB.user, BOB.password)}`),
        /^235 2\.7\.0 /,
      );
      assert.match(
        await client.command(`AUTH PLAIN ${plainResponse(BOB.user, BOB.password)}`),
        /^503 5\.5\.1 /,
      );
      assert.match(await client.command("AUTH LOGIN"), /^503 5\.5\.1 /);
      await client.send("EHLO client.example");
      const ehlo = await client.reply();
      assert.ok(!ehlo.some((line) => /AUTH/i.test(line)), JSON.stringify(ehlo));
      // Logged in as bob, the session can send as bob.
      assert.match(await client.command(`MAIL FROM:<${BOB.user}>`), /^250 /);
    });
  },
);

test("AUTH during a mail transaction gets 503", TIMEOUT, async () => {
  await withSecured(async (client) => {
    assert.match(await client.command("MAIL FROM:<someone@example.org>"), /^250 /);
    assert.match(
      await client.command(`AUTH PLAIN ${plainResponse(ALICE.user, ALICE.password)}`),
      /^503 5\.5\.1 /,
    );
    assert.match(await client.command(`RCPT TO:<${ALICE.user}>`), /^250 /);
    assert.match(await client.command("AUTH LOGIN"), /^503 5\.5\.1 /);
    assert.match(await client.command("RSET"), /^250 /);
    assert.match(
      await client.command(`AUTH PLAIN ${plainResponse(ALICE.user, ALICE.password)}`),
      /^235 2\.7\.0 /,
    );
  });
});

test("PLAIN with an initial response, and without (an empty 334 first)", TIMEOUT, async () => {
  await withSecured(async (client) => {
    assert.match(
      await client.command(`auth plain ${plainResponse(ALICE.user, ALICE.password)}`),
      /^235 2\.7\.0 /,
    );
  });
  await withSecured(async (client) => {
    assert.match(await client.command("AUTH PLAIN"), EMPTY_CHALLENGE);
    assert.match(await client.command(plainResponse(ALICE.user, ALICE.password)), /^235 2\.7\.0 /);
  });
  // The user name is case-insensitive; an authzid equal to the user is fine.
  await withSecured(async (client) => {
    assert.match(
      await client.command(
        `AUTH PLAIN ${plainResponse("Bob@LocalHost", BOB.password, "Bob@LocalHost")}`,
      ),
      /^235 2\.7\.0 /,
    );
  });
});

test(
  "PLAIN's empty challenge is exactly '334 ' (RFC 4954 continue-req: \"334\" SP [base64])",
  TIMEOUT,
  async () => {
    await withSecured(async (client) => {
      // reply() keeps each line as sent, up to its CRLF.
      assert.equal(
        await client.command("AUTH PLAIN"),
        "334 ",
        "RFC 4954 §4 requires the SP after 334, even with an empty challenge",
      );
      assert.match(await client.command("*"), /^501 /);
    });
  },
);

test("LOGIN asks for Username: and Password: in base64", TIMEOUT, async () => {
  await withSecured(async (client) => {
    assert.equal(await client.command("AUTH LOGIN"), "334 VXNlcm5hbWU6");
    assert.equal(await client.command(b64(ALICE.user)), "334 UGFzc3dvcmQ6");
    assert.match(await client.command(b64(ALICE.password)), /^235 2\.7\.0 /);
  });
  // With the user name as initial response, only the password is asked for.
  await withSecured(async (client) => {
    assert.equal(await client.command(`AUTH LOGIN ${b64(BOB.user)}`), "334 UGFzc3dvcmQ6");
    assert.match(await client.command(b64(BOB.password)), /^235 2\.7\.0 /);
  });
});

test("an authzid other than the user (acting as someone else) gets 535", TIMEOUT, async () => {
  await withSecured(async (client) => {
    assert.match(
      await client.command(`AUTH PLAIN ${plainResponse(ALICE.user, ALICE.password, BOB.user)}`),
      /^535 5\.7\.8 /,
    );
    assert.match(await client.command(`MAIL FROM:<${BOB.user}>`), /^250 /);
    assert.match(await client.command("RSET"), /^250 /);
    // Not logged in: the 535 left the session unauthenticated, so AUTH is still possible.
    assert.match(
      await client.command(`AUTH PLAIN ${plainResponse(ALICE.user, ALICE.password)}`),
      /^235 2\.7\.0 /,
    );
  });
});

test("passwords never appear in the log, even with --verbose", TIMEOUT, () => {
  const output = server.output();
  // The trace is on, and it did see AUTH commands and their responses.
  assert.match(output, / trace conn=\S+ < AUTH PLAIN \*\*\*\*/);
  assert.match(output, / trace conn=\S+ < \*\*\*\*/);
  const secrets = [ALICE.password, BOB.password, WRONG];
  const forms = secrets.flatMap((secret) => [
    secret,
    b64(secret),
    // A substring of the base64 that does not depend on the alignment.
    b64(secret).slice(4, -4),
  ]);
  forms.push(
    plainResponse(ALICE.user, ALICE.password),
    plainResponse(ALICE.user, WRONG),
    plainResponse(BOB.user, BOB.password),
    plainResponse(ALICE.user, ALICE.password, BOB.user),
    plainResponse("Bob@LocalHost", BOB.password, "Bob@LocalHost"),
  );
  for (const form of forms) {
    assert.ok(!output.includes(form), `the log holds ${JSON.stringify(form)}`);
  }
  // Login names are fine to log; the failed one must be there for the admin.
  assert.match(output, / auth_failed .*user=alice@localhost/);
});

test(
  "brute force: failures get growing delays, then 421 4.7.0 and a block, per account and per IP",
  {
    timeout: 90_000,
  },
  async () => {
    const own = makeCerts();
    const running = await startServer({
      users: [`${ALICE.user}:${ALICE.password}`, `${BOB.user}:${BOB.password}`],
      config: tlsConfig(own),
    });
    const open: SmtpConn[] = [];
    /** `count` secured sessions, each sending one AUTH PLAIN at the same moment. */
    const attempt = async (logins: { user: string; password: string }[]) => {
      const clients = await Promise.all(logins.map(() => secured(running.port)));
      open.push(...clients);
      const started = Date.now();
      return await Promise.all(clients.map(async (client, i) => {
        const login = logins[i] as { user: string; password: string };
        const line = await client.command(
          `AUTH PLAIN ${plainResponse(login.user, login.password)}`,
          20_000,
        );
        const ms = Date.now() - started;
        if (line.startsWith("421")) await client.waitClosed();
        return { line, ms, client };
      }));
    };
    try {
      // 1. Five wrong passwords for one account (the per-account limit), one per
      //    connection and all at once, so the growing delays overlap.
      const guesses = await attempt(Array(5).fill({ user: ALICE.user, password: WRONG }));
      const blocked = guesses.filter((g) => g.line.startsWith("421"));
      const refused = guesses.filter((g) => g.line.startsWith("535"));
      assert.equal(blocked.length, 1, JSON.stringify(guesses.map((g) => g.line)));
      assert.equal(refused.length, 4, JSON.stringify(guesses.map((g) => g.line)));
      assert.match(blocked[0]?.line ?? "", /^421 4\.7\.0 /);
      assert.ok(blocked[0]?.client.closed);
      for (const r of refused) assert.match(r.line, /^535 5\.7\.8 /);
      // Every failure was slowed down, the last one the most (generous bounds).
      for (const g of guesses) assert.ok(g.ms >= 200, `a failure answered after ${g.ms} ms`);
      assert.ok(Math.max(...guesses.map((g) => g.ms)) >= 1500);

      // 2. The account is blocked now, even with the right password, on a new connection.
      const locked = await secured(running.port);
      open.push(locked);
      assert.match(
        await locked.command(`AUTH PLAIN ${plainResponse(ALICE.user, ALICE.password)}`),
        /^421 4\.7\.0 /,
      );
      await locked.waitClosed();

      // 3. Other accounts from this IP are not blocked yet, and success is not slowed.
      const other = await secured(running.port);
      open.push(other);
      const started = Date.now();
      assert.match(
        await other.command(`AUTH PLAIN ${plainResponse(BOB.user, BOB.password)}`),
        /^235 2\.7\.0 /,
      );
      assert.ok(Date.now() - started < 2000, `success took ${Date.now() - started} ms`);

      // 4. Five more failures, on five different accounts, reach the per-IP limit (10).
      const spread = await attempt(
        [1, 2, 3, 4, 5].map((n) => ({ user: `nobody${n}@localhost`, password: WRONG })),
      );
      const ipBlocked = spread.filter((g) => g.line.startsWith("421"));
      assert.equal(ipBlocked.length, 1, JSON.stringify(spread.map((g) => g.line)));
      assert.match(ipBlocked[0]?.line ?? "", /^421 4\.7\.0 /);
      assert.ok(ipBlocked[0]?.client.closed);

      // 5. While the IP is blocked, a new connection's AUTH gets 421 at once,
      //    before any credentials are asked for, whoever it claims to be.
      const again = await secured(running.port);
      open.push(again);
      assert.match(await again.command("AUTH PLAIN"), /^421 4\.7\.0 /);
      await again.waitClosed();
      const bob = await secured(running.port);
      open.push(bob);
      assert.match(
        await bob.command(`AUTH PLAIN ${plainResponse(BOB.user, BOB.password)}`),
        /^421 4\.7\.0 /,
      );
      await bob.waitClosed();
    } finally {
      for (const client of open) client.close();
      await running.stop();
      rmSync(running.dataDir, { recursive: true, force: true });
      rmSync(own.dir, { recursive: true, force: true });
    }
  },
);
