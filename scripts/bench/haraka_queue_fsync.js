"use strict";
// Haraka queue plugin for scripts/bench.sh (BENCH_HARAKA=1): the durable baseline that Postino's
// performance goal is stated against ("Haraka with an fsynced queue"). Each message is written
// Maildir-style before Haraka answers 250: write DIR/tmp/NAME, fsync it, rename it to DIR/new/NAME,
// fsync DIR/new, and only then next(OK). Directory fsyncs are coalesced exactly like Postino's
// Maildir writer (core/delivery/maildir.ts): a message waits for an fsync of DIR/new that started
// after its rename, so concurrent sessions share one directory fsync instead of queueing one each.
// No durability is given up by that; it only keeps the baseline as strong as it can fairly be.
//
// Installed into the bench's Haraka config dir as plugins/bench_queue_fsync.js; the Maildir is
// `dir` in config/bench_queue_fsync.ini ([main] section).
const fs = require("node:fs");
const fsp = require("node:fs/promises");
const path = require("node:path");

function fsyncPath(p) {
  return fsp.open(p, "r").then((handle) => handle.sync().finally(() => handle.close()));
}

// Resolves once an fsync of `dir` that started after the call has finished.
class DirSync {
  constructor(dir) {
    this.dir = dir;
    this.running = undefined;
    this.next = undefined;
  }

  sync() {
    if (this.next) return this.next;
    if (!this.running) return this.start();
    this.next = this.running
      .catch(() => {})
      .then(() => {
        this.next = undefined;
        return this.start();
      });
    return this.next;
  }

  start() {
    const running = fsyncPath(this.dir).finally(() => {
      if (this.running === running) this.running = undefined;
    });
    this.running = running;
    return running;
  }
}

exports.register = function () {
  const cfg = this.config.get("bench_queue_fsync.ini");
  const dir = cfg?.main?.dir;
  if (!dir) throw new Error("bench_queue_fsync: set dir in config/bench_queue_fsync.ini");
  this.maildir = path.resolve(dir);
  for (const sub of ["tmp", "new", "cur"]) {
    fs.mkdirSync(path.join(this.maildir, sub), { recursive: true });
  }
  // Make the folders themselves durable before anything goes in.
  for (const p of [this.maildir, path.dirname(this.maildir)]) {
    const fd = fs.openSync(p, "r");
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  }
  this.new_sync = new DirSync(path.join(this.maildir, "new"));
  this.seq = 0;
  this.register_hook("queue", "deliver");
};

exports.deliver = function (next, connection) {
  const txn = connection?.transaction;
  if (!txn) return next();
  const name = `${Date.now()}.P${process.pid}Q${++this.seq}.${txn.uuid}.bench`;
  const temp = path.join(this.maildir, "tmp", name);
  const target = path.join(this.maildir, "new", name);

  txn.message_stream.get_data(async (data) => {
    try {
      const handle = await fsp.open(temp, "w", 0o600);
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fsp.rename(temp, target);
      await this.new_sync.sync();
    } catch (err) {
      connection.logerror(this, `delivery failed: ${err.message}`);
      return next(DENYSOFT, "bench queue write failed");
    }
    next(OK, `queued as ${name}`);
  });
};
