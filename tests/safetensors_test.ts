import assert from "node:assert/strict";
import { DataError } from "../data/errors.ts";
import {
  readSafetensors,
  validatePriorWeights,
  type WritableTensors,
  writeSafetensors,
} from "../data/safetensors.ts";
import { Rng } from "../gpu/rng.ts";

function assertDataError(fn: () => unknown, file: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DataError, `${e}`);
    assert.equal(e.file, file);
    assert.match(e.message, re);
    return true;
  });
}

Deno.test("safetensors: write/read round trip with metadata and several dtypes", () => {
  const rng = new Rng(4);
  const t: WritableTensors = {
    "a.weight": { shape: [3, 5], data: rng.floats(15) },
    "b": { shape: [4], data: Int32Array.from([-1, 2, -3, 4]) },
    "c": { shape: [2, 1], data: Uint32Array.from([7, 4000000000]) },
    "d": { shape: [3], data: Uint8Array.from([1, 2, 255]) },
    "empty": { shape: [0, 3], data: new Float32Array(0) },
  };
  const bytes = writeSafetensors(t, { format: "pt" });
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + headerLen) % 8, 0, "data section is 8-byte aligned");
  const f = readSafetensors(bytes, "x.safetensors");
  assert.deepEqual(f.metadata, { format: "pt" });
  assert.deepEqual([...f.tensors.keys()].sort(), Object.keys(t).sort());
  for (const [name, v] of Object.entries(t)) {
    const r = f.tensors.get(name)!;
    assert.deepEqual(r.shape, v.shape);
    assert.deepEqual(Array.from(r.data as ArrayLike<number>), Array.from(v.data));
  }
});

Deno.test("safetensors: F16 and BF16 are widened to float32", () => {
  // Hand-built file: F16 [1, -2, 0.5, 65504] and BF16 [1.5, -3].
  const f16 = Uint16Array.from([0x3c00, 0xc000, 0x3800, 0x7bff]);
  const bf16 = Uint16Array.from([0x3fc0, 0xc040]);
  const header = JSON.stringify({
    h: { dtype: "F16", shape: [4], data_offsets: [0, 8] },
    g: { dtype: "BF16", shape: [2], data_offsets: [8, 12] },
  });
  const head = new TextEncoder().encode(header);
  const bytes = new Uint8Array(8 + head.length + 12);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(head.length), true);
  bytes.set(head, 8);
  bytes.set(new Uint8Array(f16.buffer), 8 + head.length);
  bytes.set(new Uint8Array(bf16.buffer), 16 + head.length);
  const f = readSafetensors(bytes, "half.safetensors");
  assert.deepEqual(Array.from(f.tensors.get("h")!.data as Float32Array), [1, -2, 0.5, 65504]);
  assert.deepEqual(Array.from(f.tensors.get("g")!.data as Float32Array), [1.5, -3]);
});

Deno.test("safetensors: truncated and malformed files give one DataError naming the file", () => {
  const bytes = writeSafetensors({ w: { shape: [10], data: new Float32Array(10) } });
  assertDataError(() => readSafetensors(bytes.subarray(0, 5), "t.safetensors"), "t.safetensors", /too short/);
  assertDataError(
    () => readSafetensors(bytes.subarray(0, 20), "t.safetensors"),
    "t.safetensors",
    /header of \d+ bytes/,
  );
  assertDataError(
    () => readSafetensors(bytes.subarray(0, bytes.length - 4), "t.safetensors"),
    "t.safetensors",
    /tensor 'w' ends at byte 40 of a 36-byte data section/,
  );
  const bad = bytes.slice();
  bad[8] = "[".charCodeAt(0);
  assertDataError(() => readSafetensors(bad, "j.safetensors"), "j.safetensors", /not valid JSON/);
});

/** A MonoNPHM-shaped prior, scaled down: d_in = 3 + E + I, widths W, skip at layer 3. */
function priorTensors(E: number, I: number, W: number, L: number, skip: number, rng: Rng): WritableTensors {
  const dIn = 3 + E + I;
  const t: WritableTensors = {};
  let prev = dIn;
  for (let i = 0; i < L; i++) {
    const out = i === L - 1 ? 5 : i + 1 === skip ? W - dIn : W;
    const inDim = i === skip ? prev + dIn : prev;
    t[`ex_model.lin${i}.weight`] = { shape: [out, inDim], data: rng.floats(out * inDim, -0.1, 0.1) };
    t[`ex_model.lin${i}.bias`] = { shape: [out], data: rng.floats(out, -0.1, 0.1) };
    prev = out;
  }
  return t;
}

Deno.test("safetensors: prior schema validation accepts the NPHM layout and names what is wrong", () => {
  const rng = new Rng(8);
  const meta = { expression_dim: "6", identity_dim: "2", skip_layers: "3" };
  const good = priorTensors(6, 2, 32, 6, 3, rng);
  const p = validatePriorWeights(
    readSafetensors(writeSafetensors(good, meta), "prior.safetensors"),
    "prior.safetensors",
  );
  assert.equal(p.layers.length, 6);
  assert.deepEqual(p.layers.map((l) => [l.inDim, l.outDim]), [[11, 32], [32, 32], [32, 21], [32, 32], [
    32,
    32,
  ], [32, 5]]);
  assert.equal(p.softplusBeta, 100);
  assert.equal(p.identityCode.length, 2);

  const noSkip = priorTensors(6, 2, 32, 6, -1, rng);
  assertDataError(
    () => validatePriorWeights(readSafetensors(writeSafetensors(noSkip, meta), "p2"), "p2"),
    "p2",
    /lin3\.weight takes 32 inputs, expected 43 \(skip layer\)/,
  );
  assertDataError(
    () =>
      validatePriorWeights(
        readSafetensors(writeSafetensors(good, { ...meta, expression_dim: "7" }), "p3"),
        "p3",
      ),
    "p3",
    /lin0\.weight takes 11 inputs, expected 12/,
  );
  const noBias = { ...good };
  delete noBias["ex_model.lin2.bias"];
  assertDataError(
    () => validatePriorWeights(readSafetensors(writeSafetensors(noBias, meta), "p4"), "p4"),
    "p4",
    /no ex_model\.lin2\.bias/,
  );
});
