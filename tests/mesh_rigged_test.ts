import assert from "node:assert/strict";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { attachToNearestTriangles, closestOnTriangle } from "../training/mesh_attach.ts";
import { MeshRig, rotateQuaternions } from "../training/mesh_rigged.ts";
import {
  meshDeformationCpu,
  quatMultiply,
  rotateQuatsBackwardCpu,
  rotateQuatsCpu,
} from "../training/mesh_rigged_cpu.ts";
import { canonicalPoints, posedPoints, type RigMesh, sampleSurface } from "../training/rig_sampling.ts";
import { assertClose, testGpu } from "./helpers.ts";

/** A bumpy 10 x 10 grid sheet (two triangles per cell) with `K` random smooth blendshapes. */
function sheet(rng: Rng, K: number): RigMesh {
  const S = 11, positions = new Float32Array(S * S * 3), indices: number[] = [];
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) positions.set([x / 10, y / 10, 0.03 * rng.normal()], 3 * (y * S + x));
  }
  for (let y = 0; y < S - 1; y++) {
    for (let x = 0; x < S - 1; x++) {
      const a = y * S + x;
      indices.push(a, a + 1, a + S, a + 1, a + S + 1, a + S);
    }
  }
  const deltas = Array.from({ length: K }, () => {
    const d = new Float32Array(S * S * 3);
    for (let i = 0; i < d.length; i++) d[i] = 0.02 * rng.normal();
    return d;
  });
  return { positions, indices: Uint32Array.from(indices), colors: new Float32Array(S * S * 3), deltas };
}

Deno.test("mesh attachment: closest point on a triangle, surface samples attach at distance zero", () => {
  const a: [number, number, number] = [0, 0, 0], b: [number, number, number] = [1, 0, 0];
  const c: [number, number, number] = [0, 1, 0];
  assertClose(closestOnTriangle([0.2, 0.3, 5], a, b, c).bary, [0.5, 0.2, 0.3], { atol: 1e-12 });
  assert.equal(closestOnTriangle([0.2, 0.3, 5], a, b, c).dist2, 25);
  assertClose(closestOnTriangle([2, -1, 0], a, b, c).bary, [0, 1, 0], { atol: 1e-12 });
  assertClose(closestOnTriangle([0.5, 0.5, 1], a, b, c).bary, [0, 0.5, 0.5], { atol: 1e-12 });
  const mesh = sheet(new Rng(3), 2);
  const s = sampleSurface(mesh, 500, new Rng(4));
  const pts = canonicalPoints(mesh, s);
  const att = attachToNearestTriangles(mesh, pts);
  // The attachment reproduces each sample's position (its own triangle or one sharing the point).
  const back = new Float32Array(3 * s.count);
  for (let i = 0; i < s.count; i++) {
    for (let c = 0; c < 3; c++) {
      let v = 0;
      for (let j = 0; j < 3; j++) {
        v += att.barycentrics[3 * i + j] * mesh.positions[3 * att.vertices[3 * i + j] + c];
      }
      back[3 * i + c] = v;
    }
  }
  assertClose(back, pts, { atol: 1e-6, what: "attached positions" });
  const own = s.triangles.filter((t, i) => mesh.indices[3 * t] === att.vertices[3 * i]).length;
  assert.ok(own > 0.95 * s.count, `${own} of ${s.count} samples on their own triangle`);
  // A point above the sheet attaches to the triangle below it, with brute force agreeing on the distance.
  const p: [number, number, number] = [0.43, 0.57, 0.4];
  const one = attachToNearestTriangles(mesh, Float32Array.from(p));
  let best = Infinity;
  for (let t = 0; t < mesh.indices.length / 3; t++) {
    const v = [0, 1, 2].map((j) =>
      Array.from(mesh.positions.subarray(3 * mesh.indices[3 * t + j], 3 * mesh.indices[3 * t + j] + 3))
    ) as [number, number, number][];
    best = Math.min(best, closestOnTriangle(p, v[0], v[1], v[2]).dist2);
  }
  const v = [0, 1, 2].map((j) =>
    Array.from(mesh.positions.subarray(3 * one.vertices[j], 3 * one.vertices[j] + 3))
  ) as [number, number, number][];
  assertClose([closestOnTriangle(p, v[0], v[1], v[2]).dist2], [best], { atol: 1e-12 });
});

Deno.test("mesh-rigged deformation: GPU matches the rig's displacement at the samples and the CPU rotations", async () => {
  const gpu = await testGpu();
  const rng = new Rng(11), K = 5;
  const mesh = sheet(rng, K);
  const s = sampleSurface(mesh, 700, new Rng(12));
  const pts = canonicalPoints(mesh, s);
  const rig = new MeshRig(gpu, mesh);
  const means = Tensor.from(gpu, pts, [s.count, 3], "test.means");
  await rig.follow(means);
  assert.equal(rig.count, s.count);
  const att = attachToNearestTriangles(mesh, pts);
  for (let trial = 0; trial < 3; trial++) {
    const z = Float32Array.from({ length: K }, () => rng.normal());
    const d = rig.deform(z);
    const dx = await d.dx.read() as Float32Array, rot = await d.rot.read() as Float32Array;
    d.destroy();
    const posed = posedPoints(mesh, s, z);
    assertClose(dx, posed.map((v, i) => v - pts[i]), { atol: 2e-6, what: "dx vs rig at the samples" });
    const ref = meshDeformationCpu(mesh, att, z);
    assertClose(dx, ref.dx, { atol: 2e-6, what: "dx vs CPU" });
    assertClose(rot, ref.rot, { atol: 2e-5, what: "rotation vs CPU" });
    // The rotation maps the neutral triangle's first edge direction onto the posed one.
    for (let i = 0; i < 20; i++) {
      const v = [0, 1, 2].map((j) => att.vertices[3 * i + j]);
      const P = (vi: number, zz: Float32Array | null) =>
        [0, 1, 2].map((c) =>
          mesh.positions[3 * vi + c] +
          (zz ? mesh.deltas.reduce((acc, dk, k) => acc + zz[k] * dk[3 * vi + c], 0) : 0)
        );
      const e0 = P(v[1], null).map((x, c) => x - P(v[0], null)[c]);
      const e1 = P(v[1], z).map((x, c) => x - P(v[0], z)[c]);
      const r = rot.subarray(4 * i, 4 * i + 4);
      const rotated = quatMultiply(quatMultiply(r, [0, ...e0]), [r[0], -r[1], -r[2], -r[3]]).slice(1);
      const n0 = Math.hypot(...rotated), n1 = Math.hypot(...e1);
      assertClose(rotated.map((x) => x / n0), e1.map((x) => x / n1), { atol: 1e-4, what: "edge direction" });
    }
  }
  const zero = rig.deform(new Float32Array(K));
  assert.ok((await zero.dx.read()).every((x) => x === 0), "zero code gives zero displacement");
  assertClose(
    await zero.rot.read(),
    rotateQuatsCpu(new Float32Array(4 * s.count), new Float32Array(4 * s.count)).map((
      _,
      i,
    ) => (i % 4 === 0 ? 1 : 0)),
    { atol: 1e-6, what: "zero code gives identity rotations" },
  );
  zero.destroy();
  means.destroy();
  rig.destroy();
});

Deno.test("mesh-rigged rotation: forward and backward match the CPU, backward matches finite differences", async () => {
  const gpu = await testGpu();
  const rng = new Rng(21), N = 300;
  const rot = new Float32Array(4 * N), q = new Float32Array(4 * N), g = new Float32Array(4 * N);
  for (let i = 0; i < N; i++) {
    const r = [0, 1, 2, 3].map(() => rng.normal()), l = Math.hypot(...r);
    rot.set(r.map((x) => x / l), 4 * i);
    for (let k = 0; k < 4; k++) {
      q[4 * i + k] = rng.normal();
      g[4 * i + k] = rng.normal();
    }
  }
  const tr = Tensor.from(gpu, rot, [N, 4], "test.rot");
  const tq = Tensor.from(gpu, q, [N, 4], "test.q"), tg = Tensor.from(gpu, g, [N, 4], "test.g");
  rotateQuaternions(gpu, "forward", tr, tq);
  rotateQuaternions(gpu, "backward", tr, tg);
  const fwd = await tq.read() as Float32Array, bwd = await tg.read() as Float32Array;
  assertClose(fwd, rotateQuatsCpu(rot, q), { atol: 1e-5, what: "forward" });
  assertClose(bwd, rotateQuatsBackwardCpu(rot, g), { atol: 1e-5, what: "backward" });
  // Central differences of L(q) = sum g . (r (x) q) with respect to q.
  const h = 1e-3;
  for (let i = 0; i < 10; i++) {
    for (let k = 0; k < 4; k++) {
      const at = (delta: number) => {
        const qq = Array.from(q.subarray(4 * i, 4 * i + 4));
        qq[k] += delta;
        const out = quatMultiply(Array.from(rot.subarray(4 * i, 4 * i + 4)), qq);
        return out.reduce((s, v, j) => s + v * g[4 * i + j], 0);
      };
      assertClose([bwd[4 * i + k]], [(at(h) - at(-h)) / (2 * h)], { atol: 1e-4, what: `dL/dq ${i}.${k}` });
    }
  }
  for (const t of [tr, tq, tg]) t.destroy();
});
