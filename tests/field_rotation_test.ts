import assert from "node:assert/strict";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { rotationToQuat } from "../training/avatar_init.ts";
import type { HeadFrame } from "../training/deform_inputs.ts";
import { ForwardField } from "../training/distill.ts";
import {
  probeStep,
  recordFieldOffsets,
  recordFieldRotation,
  recordProbePoints,
  recordRotationFromProbes,
} from "../training/field_rotation.ts";
import { fieldRotationCpu, polarRotationQuat, probePointsCpu } from "../training/field_rotation_cpu.ts";
import { quatMultiply } from "../training/mesh_rigged_cpu.ts";
import { quatToRot } from "../render/rasterize_cpu.ts";
import { assertClose, testGpu } from "./helpers.ts";

/** Row-major product of two 3x3 matrices. */
function mul3(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) out.push(a[3 * r] * b[c] + a[3 * r + 1] * b[3 + c] + a[3 * r + 2] * b[6 + c]);
  }
  return out;
}

function randomUnitQuat(rng: Rng, spread: number): number[] {
  const q = [1, spread * rng.normal(), spread * rng.normal(), spread * rng.normal()];
  const l = Math.hypot(...q);
  return q.map((v) => v / l);
}

/** A random symmetric positive definite stretch I + E (E symmetric, small). */
function randomStretch(rng: Rng, size: number): number[] {
  const e = Array.from({ length: 9 }, () => size * rng.normal());
  const s: number[] = [];
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) s.push((r === c ? 1 : 0) + 0.5 * (e[3 * r + c] + e[3 * c + r]));
  }
  return s;
}

Deno.test("field rotation (CPU): the polar rotation of R S is R; a pure stretch gives the identity", () => {
  const rng = new Rng(41);
  for (let t = 0; t < 20; t++) {
    const q = randomUnitQuat(rng, 0.4), S = randomStretch(rng, 0.1);
    const got = polarRotationQuat(mul3(quatToRot(q), S));
    assertClose(got, q, { atol: 1e-9, what: `trial ${t}` });
    assertClose(polarRotationQuat(S), [1, 0, 0, 0], { atol: 1e-9 });
  }
  // A folding Jacobian (negative determinant) is left unrotated.
  assert.deepEqual(polarRotationQuat([-1, 0, 0, 0, 1, 0, 0, 0, 1]), [1, 0, 0, 0]);
});

Deno.test("field rotation (CPU): a rigidly turning field gives its rotation at every centre", () => {
  const rng = new Rng(42), N = 30, h = 1e-3;
  const q = randomUnitQuat(rng, 0.2), R = quatToRot(q), o = [0.1, -0.2, 0.3];
  const field = (p: ArrayLike<number>, i: number): number[] => {
    const x = [p[3 * i] - o[0], p[3 * i + 1] - o[1], p[3 * i + 2] - o[2]];
    return [0, 1, 2].map((r) => R[3 * r] * x[0] + R[3 * r + 1] * x[1] + R[3 * r + 2] * x[2] - x[r]);
  };
  const means = rng.floats(3 * N, -0.5, 0.5), probes = probePointsCpu(means, h);
  const dx = new Float32Array(3 * N), dxp = new Float32Array(9 * N);
  for (let i = 0; i < N; i++) dx.set(field(means, i), 3 * i);
  for (let i = 0; i < 3 * N; i++) dxp.set(field(probes, i), 3 * i);
  const rot = fieldRotationCpu(dx, dxp, h);
  for (let i = 0; i < N; i++) {
    assertClose(rot.subarray(4 * i, 4 * i + 4), q, { atol: 2e-3, what: `centre ${i}` });
  }
});

Deno.test("field rotation (GPU): probe points and rotations match the CPU reference on random inputs", async () => {
  const gpu = await testGpu();
  const rng = new Rng(43), N = 517, h = 2e-3;
  const means = rng.floats(3 * N, -0.3, 0.3), dx = rng.floats(3 * N, -0.01, 0.01);
  // Probe offsets whose Jacobians are random rotations times stretches (up to ~30 degrees, 10% stretch).
  const dxp = new Float32Array(9 * N);
  for (let i = 0; i < N; i++) {
    const J = mul3(quatToRot(randomUnitQuat(rng, 0.25)), randomStretch(rng, 0.05));
    for (let a = 0; a < 3; a++) {
      for (let r = 0; r < 3; r++) {
        dxp[3 * (a * N + i) + r] = dx[3 * i + r] + h * (J[3 * r + a] - (r === a ? 1 : 0));
      }
    }
  }
  // A few folded Jacobians: the identity.
  for (const i of [3, 100]) {
    for (let r = 0; r < 3; r++) dxp[3 * (0 * N + i) + r] = dx[3 * i + r] - (r === 0 ? 2 * h : 0);
  }
  const t = {
    means: Tensor.from(gpu, means),
    dx: Tensor.from(gpu, dx),
    dxp: Tensor.from(gpu, dxp),
    pts: Tensor.empty(gpu, [3 * N, 3], "f32"),
    rot: Tensor.empty(gpu, [N, 4], "f32"),
  };
  recordProbePoints(gpu, t.means, h, t.pts);
  recordRotationFromProbes(gpu, t.dx, t.dxp, h, t.rot);
  assertClose(await t.pts.read(), probePointsCpu(means, h), { atol: 1e-7, what: "probes" });
  const want = fieldRotationCpu(dx, dxp, h), got = await t.rot.read() as Float32Array;
  assertClose(got, want, { atol: 2e-4, what: "rotations" });
  assertClose(got.subarray(12, 16), [1, 0, 0, 0], { atol: 1e-7, what: "folded" });
  for (const x of Object.values(t)) x.destroy();
});

Deno.test("field rotation (GPU): a forward field's rotations and posed quaternions match the CPU composition", async () => {
  const gpu = await testGpu();
  const frame: HeadFrame = { center: [0, 0, 0], scale: 2, diagonal: 0.6 };
  const field = new ForwardField(gpu, {
    frame,
    codeDim: 3,
    featureDim: 0,
    width: 16,
    layers: 3,
    rotate: true,
  });
  field.mlp.init(44);
  const rng = new Rng(45), N = 200, z = Float32Array.from([0.7, -0.4, 0.9]);
  const means = rng.floats(3 * N, -0.25, 0.25), h = probeStep(field);
  const tm = Tensor.from(gpu, means), tp = Tensor.from(gpu, probePointsCpu(means, h));
  const dx = Tensor.empty(gpu, [N, 3], "f32"), dxp = Tensor.empty(gpu, [3 * N, 3], "f32");
  field.evaluate(tm, null, z, dx);
  field.evaluate(tp, null, z, dxp);
  const want = fieldRotationCpu(await dx.read() as Float32Array, await dxp.read() as Float32Array, h);
  const rot = recordFieldRotation(field, tm, z, dx);
  const got = await rot.read() as Float32Array;
  assertClose(got, want, { atol: 1e-4, what: "F's rotations" });
  // The field turns the Gaussians by a measurable amount, not the identity everywhere.
  let turned = 0;
  for (let i = 0; i < N; i++) if (got[4 * i] < 1 - 1e-6) turned++;
  assert.ok(turned > N / 2, `only ${turned} of ${N} centres turned`);
  // recordFieldOffsets: the same offsets, and rotate() turns quaternions by them (Hamilton product).
  const quats = rng.floats(4 * N), tq = Tensor.from(gpu, quats);
  const f = recordFieldOffsets(field, tm, z);
  f.rotate(tq);
  assertClose(await f.dx.read(), await dx.read(), { atol: 0 });
  const turnedQuats = await tq.read() as Float32Array;
  for (let i = 0; i < N; i += 37) {
    assertClose(
      turnedQuats.subarray(4 * i, 4 * i + 4),
      quatMultiply(got.subarray(4 * i, 4 * i + 4), quats.subarray(4 * i, 4 * i + 4)),
      {
        atol: 1e-5,
      },
    );
  }
  // Without `rotate` the field gives no rotations.
  field.setRotation(false);
  const g = recordFieldOffsets(field, tm, z);
  assert.equal(g.rot, null);
  g.destroy();
  f.destroy();
  for (const x of [tm, tp, dx, dxp, rot, tq]) x.destroy();
  field.pool.clear();
});

Deno.test("field rotation: rotationToQuat and polarRotationQuat agree on exact rotations", () => {
  const rng = new Rng(46);
  for (let t = 0; t < 10; t++) {
    const R = quatToRot(randomUnitQuat(rng, 1.5));
    assertClose(polarRotationQuat(R), rotationToQuat(R), { atol: 1e-9 });
  }
});
