"use strict";
// Haraka plugin for scripts/bench.sh (BENCH_HARAKA=1): answers Haraka's per-connection reverse DNS
// lookup locally, so the benchmark never sends a DNS query off the machine. Installed into the
// bench's Haraka config dir as plugins/bench_no_rdns.js.

exports.register = function () {
  // Run before any other lookup_rdns hook; OK ends the hook without Haraka's dns.reverse().
  this.register_hook("lookup_rdns", "no_rdns", -100);
};

exports.no_rdns = function (next) {
  next(OK, "localhost");
};
