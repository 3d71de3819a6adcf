import assert from "node:assert/strict";
import { test } from "node:test";
import { testApp } from "./test_deps.ts";
import { parseMembers } from "./users.ts";

test("parseMembers() splits on commas, semicolons and white space", () => {
  assert.deepEqual(parseMembers(" a@x.example, b@y.example;c@z.example\nd@w.example  "), [
    "a@x.example",
    "b@y.example",
    "c@z.example",
    "d@w.example",
  ]);
  assert.deepEqual(parseMembers(" , "), []);
});

test("POST /users adds a user, and GET /users lists it with its name escaped", async () => {
  const t = await testApp();
  try {
    const added = await t.post("/users", {
      address: "Alice@Example.org",
      name: "Alice <admin>",
      password: "pw-123456",
    });
    assert.equal(added.status, 303);
    assert.equal(added.headers.get("location"), "/users?done=user-added");
    assert.equal(await t.directory.verifyPassword("alice@example.org", "pw-123456"), true);
    const page = await (await t.browse("/users?done=user-added")).text();
    assert.match(page, /User added\./);
    assert.match(page, /<td>Alice &lt;admin&gt;<\/td>/);
    assert.match(page, /action="\/users\/alice%40example\.org\/delete"/);
  } finally {
    t.close();
  }
});

test("POST /users refuses a bad or taken address with 422, keeping what was typed", async () => {
  const t = await testApp();
  try {
    await t.directory.addUser("bob@example.org");
    const taken = await t.post("/users", {
      address: "bob@example.org",
      name: "Bob",
      password: "x",
    });
    assert.equal(taken.status, 422);
    const page = await taken.text();
    assert.match(page, /class="notice error"/);
    assert.match(page, /value="bob@example\.org"/);
    assert.doesNotMatch(page, /value="x"/, "the password is never echoed");
    const bad = await t.post("/users", { address: "<b>not an address", name: "" });
    assert.equal(bad.status, 422);
    assert.match(await bad.text(), /Invalid user address: &quot;&lt;b&gt;not an address&quot;/);
  } finally {
    t.close();
  }
});

test("POST /users/:address/password and /delete change the directory", async () => {
  const t = await testApp();
  try {
    await t.directory.addUser("carol@example.org");
    const set = await t.post("/users/carol%40example.org/password", { password: "new-pass-1" });
    assert.equal(set.headers.get("location"), "/users?done=password");
    assert.equal(await t.directory.verifyPassword("carol@example.org", "new-pass-1"), true);
    const empty = await t.post("/users/carol%40example.org/password", { password: "" });
    assert.equal(empty.status, 422);
    const gone = await t.post("/users/carol%40example.org/delete", {});
    assert.equal(gone.headers.get("location"), "/users?done=user-deleted");
    assert.equal(t.directory.getUser("carol@example.org"), undefined);
    assert.equal((await t.post("/users/carol%40example.org/delete", {})).status, 422);
  } finally {
    t.close();
  }
});

test("POST /aliases adds members and the private flag; /aliases/:address/delete removes it", async () => {
  const t = await testApp();
  try {
    const saved = await t.post("/aliases", {
      address: "team@example.org",
      members: "a@example.org, b@far.example",
      private: "1",
    });
    assert.equal(saved.headers.get("location"), "/users?done=alias-added");
    assert.deepEqual(t.directory.getAlias("team@example.org"), ["a@example.org", "b@far.example"]);
    const page = await (await t.browse("/users")).text();
    assert.match(page, /a@example\.org, b@far\.example/);
    assert.match(page, /badge held">private/);
    const bad = await t.post("/aliases", { address: "x@example.org", members: "" });
    assert.equal(bad.status, 422);
    const gone = await t.post("/aliases/team%40example.org/delete", {});
    assert.equal(gone.headers.get("location"), "/users?done=alias-deleted");
    assert.equal(t.directory.getAlias("team@example.org"), undefined);
  } finally {
    t.close();
  }
});
