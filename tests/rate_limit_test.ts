import assert from "node:assert/strict";
import { Cooldown } from "../dashboard/rate_limit.ts";

Deno.test("cooldown: one use per interval, counted from the end of a long action after restart", () => {
  const c = new Cooldown(10_000);
  assert.equal(c.take(0), 0);
  assert.equal(c.take(4_000), 6_000);
  // The action took 15 s (a snapshot waiting for a sync point): the interval counts from its end.
  c.restart(15_000);
  assert.equal(c.take(16_000), 9_000);
  assert.equal(c.take(25_000), 0);
  // A restart never shortens a running interval.
  c.restart(25_001);
  c.restart(20_000);
  assert.equal(c.take(30_000), 5_001);
});
