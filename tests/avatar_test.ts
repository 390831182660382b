import assert from "node:assert/strict";
import { Adam } from "../gpu/adam.ts";
import { knnBruteForce } from "../gpu/knn_reference.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { validateCloud } from "../data/gaussian_cloud.ts";
import { buildSyntheticHead } from "../data/synthetic_head.ts";
import { quatToRot } from "../render/rasterize_cpu.ts";
import { rasterizeBackward } from "../render/rasterize_backward.ts";
import { GaussianRasterizer } from "../render/rasterizer.ts";
import { ringCameras, uploadGaussians } from "../render/random_scene.ts";
import { avatarFromCloud, avatarLearningRates, CANONICAL_FIELDS } from "../training/avatar.ts";
import { initAvatarFromRig, meanNeighbourDistance, rotationToQuat } from "../training/avatar_init.ts";
import { canonicalPoints, type RigMesh, sampleColors } from "../training/rig_sampling.ts";
import { SH_C0 } from "../training/pose_cpu.ts";
import { assertClose, testGpu } from "./helpers.ts";

/** A unit cube (12 triangles, counter-clockwise from outside) with a colour per vertex and one blendshape. */
function cubeMesh(shift = 0): RigMesh {
  const positions = new Float32Array(24);
  const colors = new Float32Array(24);
  for (let v = 0; v < 8; v++) {
    positions.set([(v & 1) + shift, ((v >> 1) & 1) + shift, ((v >> 2) & 1) + shift], 3 * v);
    colors.set([0.2 + 0.1 * (v & 1), 0.5, 0.9 - 0.1 * (v >> 2)], 3 * v);
  }
  const quads = [[0, 2, 3, 1], [4, 5, 7, 6], [0, 1, 5, 4], [2, 6, 7, 3], [0, 4, 6, 2], [1, 3, 7, 5]];
  const indices = new Uint32Array(quads.flatMap(([a, b, c, d]) => [a, b, c, a, c, d]));
  return { positions, indices, colors, deltas: [new Float32Array(24).fill(0.01)] };
}

Deno.test("rotationToQuat inverts quatToRot", () => {
  const rng = new Rng(3);
  for (let i = 0; i < 200; i++) {
    const q = Array.from(rng.normals(4, 1));
    const l = Math.hypot(...q) * Math.sign(q[0]);
    const qn = q.map((v) => v / l);
    assertClose(rotationToQuat(quatToRot(qn)), qn, { atol: 1e-9, what: `quaternion ${i}` });
  }
});

Deno.test("avatar from a rig: positions, tangent frames, kNN scales, opacity, SH colour, zero features and G", async () => {
  const gpu = await testGpu();
  const mesh = cubeMesh();
  const n = 500;
  const { avatar, samples } = await initAvatarFromRig(gpu, mesh, {
    exprDim: 1,
    count: n,
    sampleSeed: 4,
    shDegree: 2,
    initialOpacity: 0.2,
    normalFlatten: 0.25,
  });
  const cloud = await avatar.toCloud();
  validateCloud(cloud, "initial avatar");
  assert.equal(cloud.count, n);
  assert.equal(cloud.shDegree, 2);
  const means = canonicalPoints(mesh, samples);
  assertClose(cloud.means, means, { atol: 0, what: "means" });
  // Local z axis = outward face normal of the sample's triangle (cube faces: normal = +-axis).
  for (let i = 0; i < n; i++) {
    const R = quatToRot(Array.from(cloud.quats.subarray(4 * i, 4 * i + 4)));
    const z = [R[2], R[5], R[8]];
    const p = Array.from(means.subarray(3 * i, 3 * i + 3));
    const axis = z.findIndex((v) => Math.abs(v) > 0.999);
    assert.ok(axis >= 0, `normal of ${i} is an axis: ${z}`);
    assert.ok(Math.abs(p[axis] - (z[axis] > 0 ? 1 : 0)) < 1e-6, `normal of ${i} points outward`);
    assertClose([Math.hypot(...cloud.quats.subarray(4 * i, 4 * i + 4))], [1], { atol: 1e-6 });
  }
  const ref = knnBruteForce(means, 3);
  const d = meanNeighbourDistance(Float32Array.from(ref.dist2), 3);
  for (let i = 0; i < n; i++) {
    const l = Math.log(d[i]);
    assertClose(cloud.logScales.subarray(3 * i, 3 * i + 3), [l, l, l + Math.log(0.25)], {
      atol: 1e-4,
      what: `log-scales ${i}`,
    });
  }
  for (const o of cloud.opacityLogits) assertClose([1 / (1 + Math.exp(-o))], [0.2], { atol: 1e-6 });
  const colours = sampleColors(mesh, samples);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      assertClose([0.5 + SH_C0 * cloud.sh[i * 27 + c]], [colours[3 * i + c]], { atol: 1e-5 });
    }
    for (let k = 3; k < 27; k++) assert.equal(cloud.sh[i * 27 + k], 0);
  }
  assert.ok(cloud.features!.every((v) => v === 0));
  assert.equal(cloud.featureDim, 8);
  assertClose(avatar.constants.center, [0.5, 0.5, 0.5], { atol: 1e-2 });
  assertClose([avatar.constants.extent], [0.5], { atol: 1e-2 });

  // G starts at zero output: the posed Gaussians are the canonical ones (quaternions normalized).
  const posed = avatar.poser.forward(avatar.params, avatar.detail, [0.7]);
  assert.ok((await posed.gOutput.read()).every((v) => v === 0), "G output is zero at init");
  assertClose(await posed.means.read(), cloud.means, { atol: 0, what: "posed means" });
  assertClose(await posed.sh.read(), cloud.sh, { atol: 0, what: "posed SH" });
  assertClose(await posed.quats.read(), cloud.quats, { atol: 1e-6, what: "posed quats" });
  posed.destroy();
  avatar.destroy();
});

Deno.test("avatar from the synthetic head covers the mouth interior", async () => {
  const gpu = await testGpu();
  const rig = buildSyntheticHead({ rows: 40, cols: 48 });
  const { avatar, samples } = await initAvatarFromRig(gpu, rig, { exprDim: rig.deltas.length, count: 3000 });
  const mouth = new Set(rig.mouthVertices);
  assert.ok(mouth.size > 0, "the rig lists mouth vertices");
  let inMouth = 0;
  for (let i = 0; i < samples.count; i++) {
    const f = samples.triangles[i];
    if ([0, 1, 2].every((j) => mouth.has(rig.indices[3 * f + j]))) inMouth++;
  }
  assert.ok(inMouth >= 10, `only ${inMouth} of 3000 samples in the mouth region`);
  const cloud = await avatar.toCloud();
  validateCloud(cloud, "head avatar");
  assert.equal(cloud.shDegree, 1, "default SH degree");
  const s = cloud.logScales.filter((_, i) => i % 3 === 0).map(Math.exp).sort();
  const median = s[s.length >> 1];
  assert.ok(median > 1e-3 && median < 2e-2, `median scale ${median} for a head of 0.4 m and 3000 samples`);
  avatar.destroy();
});

Deno.test("avatar cloud round trip keeps constants and G; Adam groups follow the 3DGS schedule", async () => {
  const gpu = await testGpu();
  const mesh = cubeMesh();
  const { avatar } = await initAvatarFromRig(gpu, mesh, { exprDim: 2, count: 200, reg: { colour: 0.5 } });
  const rng = new Rng(8);
  avatar.params.features.upload(rng.normals(200 * 8, 0.1));
  avatar.detail.init(5);
  const cloud = await avatar.toCloud();
  const detailParams = await avatar.detail.getParams();
  const copy = avatarFromCloud(gpu, cloud, { exprDim: 2 }, { constants: avatar.constants, detailParams });
  const again = await copy.toCloud();
  for (const f of ["means", "quats", "logScales", "opacityLogits", "sh", "features"] as const) {
    assert.deepEqual(again[f], cloud[f], f);
  }
  assert.deepEqual(copy.constants, avatar.constants);
  assert.equal(copy.constants.reg.colour, 0.5);
  const a = avatar.poser.forward(avatar.params, avatar.detail, [0.1, 0.2]);
  const b = copy.poser.forward(copy.params, copy.detail, [0.1, 0.2]);
  assert.deepEqual(await b.means.read(), await a.means.read());
  assert.ok((await a.gOutput.read()).some((v) => v !== 0));
  a.destroy();
  b.destroy();

  const steps = 1000, sceneScale = 2;
  const adam = new Adam(gpu, avatar.adamGroups(steps, sceneScale));
  assert.deepEqual(adam.groupNames, [...CANONICAL_FIELDS, "detail"]);
  assertClose([adam.group("means").lr], [1.6e-4 * sceneScale], { rtol: 1e-9 });
  avatar.applySchedule(adam, steps, steps, sceneScale);
  assertClose([adam.group("means").lr], [1.6e-6 * sceneScale], { rtol: 1e-9 });
  assert.equal(adam.group("opacityLogits").lr, avatarLearningRates(5, steps, sceneScale).opacityLogits);
  // One step with a unit gradient moves every parameter by about its learning rate.
  avatar.zeroGrads();
  const before = await avatar.params.opacityLogits.read();
  const ones = Tensor.from(gpu, new Float32Array(200).fill(1));
  avatar.grads.opacityLogits.copyFrom(ones);
  adam.step(["opacityLogits"]);
  const after = await avatar.params.opacityLogits.read();
  assertClose(after, before.map((v) => v - 0.05), { atol: 1e-6, what: "Adam step" });
  ones.destroy();

  // Replacing the Gaussians (as densification does) keeps G and the constants and resizes every tensor.
  const snap = await avatar.snapshot();
  const keep = [0, 3, 3, 7, 150];
  const pick = (a: Float32Array, w: number) =>
    Float32Array.from(keep.flatMap((i) => [...a.subarray(w * i, w * i + w)]));
  avatar.setGaussians({
    count: keep.length,
    shDegree: 1,
    means: pick(snap.cloud.means, 3),
    quats: pick(snap.cloud.quats, 4),
    logScales: pick(snap.cloud.logScales, 3),
    opacityLogits: pick(snap.cloud.opacityLogits, 1),
    sh: pick(snap.cloud.sh, 12),
    features: pick(snap.cloud.features!, 8),
    featureDim: 8,
  });
  assert.equal(avatar.count, keep.length);
  for (const f of CANONICAL_FIELDS) assert.equal(avatar.grads[f].size, avatar.params[f].size, f);
  assert.deepEqual(await avatar.params.features.read(), pick(snap.cloud.features!, 8));
  assert.deepEqual(await avatar.detail.getParams(), snap.detailParams);
  const small = avatar.pose([0.1, 0.2]);
  const full = copy.pose([0.1, 0.2]);
  assertClose(await small.means.read(), pick(await full.means.read(), 3), {
    atol: 1e-6,
    what: "posed subset",
  });
  small.destroy();
  full.destroy();
  adam.destroy();
  copy.destroy();
  avatar.destroy();
});

Deno.test("avatar training: G learns an expression-dependent colour change through the rasterizer", async () => {
  const gpu = await testGpu();
  const { avatar } = await initAvatarFromRig(gpu, cubeMesh(-0.5), {
    exprDim: 1,
    count: 300,
    initialOpacity: 0.9,
    detailWidth: 32,
  });
  const cams = ringCameras(2, 32, 32, { radius: 3, fovDeg: 50 });
  const raster = new GaussianRasterizer(gpu, { shDegree: 1, extraChannels: 0 });
  // Targets: the initial avatar under z = 0, and the same with red raised by 0.3 under z = 1.
  const cloud = await avatar.toCloud();
  const red = cloud.sh.slice();
  for (let i = 0; i < cloud.count; i++) red[i * 12] += 0.3 / SH_C0;
  const targets: Float32Array[] = [];
  for (const sh of [cloud.sh, red]) {
    const g = uploadGaussians(gpu, { ...cloud, sh, extras: new Float32Array(0) });
    const out = await raster.render(g, cams);
    targets.push(await out.rgb.read() as Float32Array);
    out.destroy();
  }
  const adam = new Adam(gpu, avatar.adamGroups(100, 1));
  adam.setLr("detail", 1e-2);
  adam.setLr("features", 1e-2);
  const n = avatar.count;
  const pg = {
    means: Tensor.empty(gpu, [n * 3]),
    quats: Tensor.empty(gpu, [n * 4]),
    logScales: Tensor.empty(gpu, [n * 3]),
    opacityLogits: Tensor.empty(gpu, [n]),
    sh: Tensor.empty(gpu, [n * 12]),
  };
  /** Mean squared error of the render for expression z, and (with `train`) one Adam step on G and features. */
  const step = async (z: number, train: boolean) => {
    const posed = avatar.pose([z], undefined, train);
    const out = await raster.render(posed, cams);
    const rgb = await out.rgb.read() as Float32Array, t = targets[z];
    let loss = 0;
    const grad = new Float32Array(rgb.length);
    for (let i = 0; i < rgb.length; i++) {
      loss += (rgb[i] - t[i]) ** 2 / rgb.length;
      grad[i] = (2 * (rgb[i] - t[i])) / rgb.length;
    }
    if (train) {
      avatar.zeroGrads();
      for (const t of Object.values(pg)) t.zero();
      const gT = Tensor.from(gpu, grad);
      rasterizeBackward(raster, posed, out, { rgb: gT }, pg);
      avatar.backward(posed, pg).destroy();
      adam.step(["detail", "features"]);
      gT.destroy();
    }
    out.destroy();
    posed.destroy();
    return loss;
  };
  const initial = await step(1, false);
  assert.ok(initial > 1e-3, `initial error ${initial}`);
  assert.ok((await step(0, false)) < 1e-10, "z = 0 starts exact");
  for (let i = 0; i < 30; i++) await step(i % 2, true);
  const final = [await step(0, false), await step(1, false)];
  assert.ok(
    final.every((l) => l < 0.1 * initial),
    `errors ${final.map((l) => l.toExponential(2))} did not fall below a tenth of ${
      initial.toExponential(2)
    }`,
  );
  for (const t of Object.values(pg)) t.destroy();
  adam.destroy();
  raster.destroy();
  avatar.destroy();
});
