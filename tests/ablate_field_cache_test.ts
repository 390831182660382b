/**
 * The ablation's cache of the fitted F (cli/ablate_field_cache.ts, no GPU): a saved field reads back bit for bit
 * under its key; the key changes with the rig, the codes and every setting of the fit, and not with settings
 * that act after it (G's learning rate, F's rotation, the initialization); a corrupt file is reported, not
 * thrown.
 */
import assert from "node:assert/strict";
import {
  type CachedField,
  fieldCacheKey,
  fieldFitSettings,
  loadCachedField,
  saveCachedField,
} from "../cli/ablate_field_cache.ts";
import type { Dataset, Frame } from "../data/dataset.ts";
import type { Rig } from "../data/rig.ts";
import { resolveTrainerConfig } from "../training/trainer_config.ts";
import { tinyRig } from "./deform_fixture.ts";

const D = 3;

function dataset(codes: number[]): Dataset {
  const frame = (timestep: number) => ({ timestep }) as Frame;
  return {
    expressionDim: D,
    expressions: new Float32Array(codes),
    splits: { train: [frame(0), frame(1)], val: [], test: [frame(2)] },
  } as unknown as Dataset;
}

function rig(): Rig {
  const m = tinyRig(4, 6);
  return {
    ...m,
    blendshapeNames: ["jawOpen", "cheekPuff", "browInnerUp"],
    mouthVertices: new Uint32Array(0),
  };
}

const codes = [0, 0.5, 0, 1, 0, 0.2, 0.3, 0.3, 0.9];

Deno.test("field cache: the key follows the rig, the codes and the fit settings only", async () => {
  const c = resolveTrainerConfig({});
  const key = await fieldCacheKey(dataset(codes), rig(), c);
  assert.match(key, /^[0-9a-f]{64}$/);
  assert.equal(await fieldCacheKey(dataset(codes), rig(), c), key, "deterministic");
  for (
    const after of [{ detailLr: 1 }, { fieldLr: 1e-4 }, { fieldRotation: true }, { initialOpacity: 0.2 }]
  ) {
    assert.equal(
      await fieldCacheKey(dataset(codes), rig(), resolveTrainerConfig(after)),
      key,
      JSON.stringify(after),
    );
  }
  // Only meaningful without a fit (the config refuses it with one), so it cannot tell two fits apart.
  assert.equal(
    await fieldCacheKey(dataset(codes), rig(), { ...c, fieldFromZero: true }),
    key,
    "fieldFromZero",
  );
  for (
    const fit of [{ fieldBands: 4 }, { distillSteps: 7 }, { priorSteps: 9 }, { seed: 2 }, { canonicalJaw: 0 }]
  ) {
    assert.notEqual(
      await fieldCacheKey(dataset(codes), rig(), resolveTrainerConfig(fit)),
      key,
      JSON.stringify(fit),
    );
  }
  const moved = codes.slice();
  moved[8] = 0.8; // a test code
  assert.notEqual(await fieldCacheKey(dataset(moved), rig(), c), key, "test codes");
  const r = rig();
  r.deltas[1][5] += 1e-3;
  assert.notEqual(await fieldCacheKey(dataset(codes), r, c), key, "blendshape deltas");
  const s = fieldFitSettings(c);
  assert.ok("fieldShell" in s && "priorSteps" in s && !("fieldLr" in s) && !("detailLr" in s));
});

Deno.test("field cache: round trip, other key, missing and corrupt files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/field.safetensors`;
    const none = await loadCachedField(path, "k");
    assert.ok(!none.field && /no .* yet/.test(none.reason), "missing file");
    const field: CachedField = {
      config: {
        frame: { center: [0, 0, 0], diagonal: 0.3 },
        codeDim: D,
        featureDim: 8,
        width: 16,
        layers: 3,
        bands: 2,
      } as unknown as CachedField["config"],
      params: Float32Array.from({ length: 257 }, (_, i) => Math.sin(i) * 1e-3),
      report: null,
    };
    await saveCachedField(path, "k1", field);
    const got = await loadCachedField(path, "k1");
    assert.ok(got.field, "found");
    assert.deepEqual([...got.field.params], [...field.params]);
    assert.deepEqual(got.field.config, field.config);
    assert.equal(got.field.report, null);
    const other = await loadCachedField(path, "k2");
    assert.ok(!other.field && /other settings/.test(other.reason));
    await Deno.writeFile(path, new Uint8Array([1, 2, 3]));
    const bad = await loadCachedField(path, "k1");
    assert.ok(!bad.field && /unreadable/.test(bad.reason), bad.field ? "" : bad.reason);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
