import assert from "node:assert/strict";
import { Mlp, mlpLayout } from "../gpu/mlp.ts";
import { mlpBackwardCpu, mlpForwardCpu } from "../gpu/mlp_reference.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { renderCpu } from "../render/rasterize_cpu.ts";
import { rasterizeBackward } from "../render/rasterize_backward.ts";
import { GaussianRasterizer } from "../render/rasterizer.ts";
import { ringCameras } from "../render/random_scene.ts";
import { type CanonicalTensors, detailNetworkSpec, Poser } from "../training/pose.ts";
import {
  type CanonicalArrays,
  detailInputs,
  G_OUTPUTS,
  poseApplyCpu,
  poseBackwardCpu,
  type PoseConstants,
  poseInputCpu,
} from "../training/pose_cpu.ts";
import { assertClose, testGpu } from "./helpers.ts";

const FIELDS = ["means", "quats", "logScales", "opacityLogits", "sh", "features"] as const;
const POSED = ["means", "quats", "logScales", "opacityLogits", "sh"] as const;

function constants(shDegree: number, exprDim: number, through = true): PoseConstants {
  return {
    featureDim: 8,
    exprDim,
    shDegree,
    center: [0.05, -0.1, 0.02],
    extent: 0.7,
    positionScale: 0.1,
    reg: { position: 3, rotation: 0.5, scale: 0.7, opacity: 0.2, colour: 0.9 },
    positionGradThroughG: through,
  };
}

interface Canon extends CanonicalArrays {
  means: Float32Array;
  quats: Float32Array;
  logScales: Float32Array;
  opacityLogits: Float32Array;
  sh: Float32Array;
  features: Float32Array;
}

function randomCanon(rng: Rng, n: number, c: PoseConstants): Canon {
  const K = (c.shDegree + 1) ** 2;
  return {
    count: n,
    means: rng.floats(3 * n, -0.6, 0.6),
    quats: rng.normals(4 * n, 1),
    logScales: rng.floats(3 * n, -1.7, -1.0),
    opacityLogits: rng.floats(n, -1, 1),
    sh: rng.floats(n * K * 3, -0.5, 0.5),
    features: rng.normals(n * c.featureDim, 0.5),
  };
}

function upload(gpu: Awaited<ReturnType<typeof testGpu>>, a: Canon): CanonicalTensors {
  return {
    count: a.count,
    means: Tensor.from(gpu, a.means),
    quats: Tensor.from(gpu, a.quats),
    logScales: Tensor.from(gpu, a.logScales),
    opacityLogits: Tensor.from(gpu, a.opacityLogits),
    sh: Tensor.from(gpu, a.sh),
    features: Tensor.from(gpu, a.features),
  };
}

function zerosLike(gpu: Awaited<ReturnType<typeof testGpu>>, a: Canon): CanonicalTensors {
  const t = upload(gpu, a);
  for (const f of FIELDS) t[f].zero();
  return t;
}

function destroyCanon(t: CanonicalTensors): void {
  for (const f of FIELDS) t[f].destroy();
}

/** Full CPU chain: G input -> G -> apply; returns the posed arrays and G's forward. */
function cpuPose(
  c: PoseConstants,
  canon: CanonicalArrays,
  params: ArrayLike<number>,
  expr: number[],
  dxF: ArrayLike<number>,
) {
  const spec = detailNetworkSpec(c, 24, 3);
  const gIn = poseInputCpu(c, canon, expr);
  const fwd = mlpForwardCpu(spec, params, gIn, canon.count);
  return { spec, gIn, fwd, posed: poseApplyCpu(c, canon, fwd.post.at(-1)!, dxF) };
}

Deno.test("pose forward and backward kernels match the CPU reference", async () => {
  const gpu = await testGpu();
  for (const [shDegree, through, n] of [[1, true, 300], [3, false, 77]] as const) {
    const rng = new Rng(40 + shDegree);
    const c = constants(shDegree, 5, through);
    const K = (shDegree + 1) ** 2;
    const a = randomCanon(rng, n, c);
    const expr = Array.from(rng.floats(5, -1, 1));
    const dxF = rng.floats(3 * n, -0.05, 0.05);
    const g = new Mlp(gpu, detailNetworkSpec(c, 24, 3));
    g.init(7, { lastLayerScale: 0.5 });
    const params = await g.getParams();
    const poser = new Poser(gpu, c);
    const canon = upload(gpu, a), grads = zerosLike(gpu, a);
    const dxFT = Tensor.from(gpu, dxF);
    const posed = poser.forward(canon, g, expr, dxFT, { train: true });

    const ref = cpuPose(c, a, params, expr, dxF);
    const tol = { atol: 2e-5, rtol: 1e-4 };
    assertClose(await posed.gInput.read(), ref.gIn, { ...tol, what: "G input" });
    const gOut = await posed.gOutput.read();
    assertClose(gOut, ref.fwd.post.at(-1)!, { atol: 1e-4, rtol: 1e-3, what: "G output" });
    const apply = poseApplyCpu(c, a, gOut, dxF); // the kernels' own arithmetic, given the GPU's G output
    for (const f of POSED) assertClose(await posed[f].read(), apply[f], { ...tol, what: `posed ${f}` });
    assertClose(await posed.regTerms.read(), apply.regTerms, { atol: 1e-8, rtol: 1e-4, what: "reg terms" });
    const lossT = Tensor.empty(gpu, [1]);
    poser.regularizerLoss(posed, lossT);
    const regSum = apply.regTerms.reduce((s, v) => s + v, 0);
    assertClose(await lossT.read(), [regSum], { atol: 1e-7, rtol: 1e-4, what: "regularizer loss" });

    const up = {
      means: rng.floats(3 * n, -1, 1),
      quats: rng.floats(4 * n, -1, 1),
      logScales: rng.floats(3 * n, -1, 1),
      opacityLogits: rng.floats(n, -1, 1),
      sh: rng.floats(n * K * 3, -1, 1),
    };
    const upT = {
      means: Tensor.from(gpu, up.means),
      quats: Tensor.from(gpu, up.quats),
      logScales: Tensor.from(gpu, up.logScales),
      opacityLogits: Tensor.from(gpu, up.opacityLogits),
      sh: Tensor.from(gpu, up.sh),
    };
    const dDxF = poser.backward(canon, grads, g, posed, upT);
    const r1 = poseBackwardCpu(c, a, gOut, up);
    const fwdCpu = mlpForwardCpu(g.spec, params, await posed.gInput.read(), n);
    const mb = mlpBackwardCpu(g.spec, params, fwdCpu, r1.gOut);
    const r2 = poseBackwardCpu(c, a, gOut, up, mb.dInput);
    const btol = { atol: 1e-4, rtol: 1e-3 };
    for (const f of FIELDS) assertClose(await grads[f].read(), r2[f], { ...btol, what: `d canonical ${f}` });
    assertClose(await dDxF.read(), r2.dxF, { ...btol, what: "d dxF" });
    assertClose(await g.getGrads(), mb.dParams, { atol: 5e-4, rtol: 2e-3, what: "d G params" });
    if (!through) assertClose(await grads.means.read(), up.means, { ...btol, what: "stop-gradient means" });

    dDxF.destroy();
    posed.destroy();
    for (const t of [dxFT, lossT, ...Object.values(upT)]) t.destroy();
    destroyCanon(canon);
    destroyCanon(grads);
    poser.destroy();
    g.destroy();
  }
});

Deno.test("pose CPU backward (through G) matches central differences, quaternion normalizations included", () => {
  const rng = new Rng(5);
  const c = constants(1, 3);
  const n = 4, K = 4;
  const a = randomCanon(rng, n, c);
  const f64 = {
    means: Float64Array.from(a.means),
    quats: Float64Array.from(a.quats),
    logScales: Float64Array.from(a.logScales),
    opacityLogits: Float64Array.from(a.opacityLogits),
    sh: Float64Array.from(a.sh),
    features: Float64Array.from(a.features),
  };
  const canon = { count: n, ...f64 };
  const spec = detailNetworkSpec(c, 24, 3);
  const pRng = new Rng(9);
  const last = mlpLayout(spec).at(-1)!;
  const params = new Float64Array(last.bOffset + last.out).map(() => pRng.uniform(-0.3, 0.3));
  const expr = [0.3, -0.7, 0.2];
  const dxF = Float64Array.from(rng.floats(3 * n, -0.05, 0.05));
  const w = {
    means: rng.floats(3 * n, -1, 1),
    quats: rng.floats(4 * n, -1, 1),
    logScales: rng.floats(3 * n, -1, 1),
    opacityLogits: rng.floats(n, -1, 1),
    sh: rng.floats(n * K * 3, -1, 1),
  };
  const loss = () => {
    const p = cpuPose(c, canon, params, expr, dxF).posed;
    let l = p.regTerms.reduce((s, v) => s + v, 0);
    for (const f of POSED) for (let i = 0; i < p[f].length; i++) l += w[f][i] * p[f][i];
    return l;
  };
  const ref = cpuPose(c, canon, params, expr, dxF);
  const gOut = ref.fwd.post.at(-1)!;
  const r1 = poseBackwardCpu(c, canon, gOut, w);
  const mb = mlpBackwardCpu(spec, params, ref.fwd, r1.gOut);
  const r2 = poseBackwardCpu(c, canon, gOut, w, mb.dInput);
  const h = 1e-6;
  const check = (arr: Float64Array, grad: ArrayLike<number>, what: string, every = 1) => {
    for (let i = 0; i < arr.length; i += every) {
      const x = arr[i];
      arr[i] = x + h;
      const lp = loss();
      arr[i] = x - h;
      const lm = loss();
      arr[i] = x;
      const fd = (lp - lm) / (2 * h);
      assert.ok(
        Math.abs(fd - grad[i]) <= 1e-6 + 1e-5 * Math.abs(fd),
        `${what}[${i}]: analytic ${grad[i]}, fd ${fd}`,
      );
    }
  };
  for (const f of FIELDS) check(f64[f], r2[f], f);
  check(dxF, r2.dxF, "dxF");
  check(params, mb.dParams, "G params", 7);
});

Deno.test("pose -> rasterizer -> loss: GPU gradients match central differences of the float64 CPU pipeline", async () => {
  const gpu = await testGpu();
  const rng = new Rng(77);
  // A strong G (position scale 0.3, full-size last layer) so that every path through it is visible in the loss.
  const c = { ...constants(1, 4), positionScale: 0.3 };
  const n = 6, K = 4, W = 32, H = 32;
  const a = randomCanon(rng, n, c);
  for (let i = 0; i < n; i++) for (let ch = 0; ch < 3; ch++) a.sh[i * K * 3 + ch] = rng.uniform(-0.5, 1.2);
  const cams = ringCameras(2, W, H, { radius: 4, fovDeg: 45 });
  const bg = [0.2, 0.3, 0.1];
  const wRgb = rng.floats(2 * W * H * 3, -1, 1);
  const expr = [0.5, -0.2, 0.9, 0.1];
  const dxF = rng.floats(3 * n, -0.05, 0.05);
  const g = new Mlp(gpu, detailNetworkSpec(c, 24, 3));
  g.init(3);
  const params = Float64Array.from(await g.getParams());

  const poser = new Poser(gpu, c);
  const canon = upload(gpu, a), grads = zerosLike(gpu, a);
  const dxFT = Tensor.from(gpu, dxF);
  const raster = new GaussianRasterizer(gpu, { shDegree: 1, extraChannels: 0, background: bg });
  const posed = poser.forward(canon, g, expr, dxFT, { train: true });
  const out = await raster.render(posed, cams);
  const pg = {
    means: Tensor.empty(gpu, [n * 3]),
    quats: Tensor.empty(gpu, [n * 4]),
    logScales: Tensor.empty(gpu, [n * 3]),
    opacityLogits: Tensor.empty(gpu, [n]),
    sh: Tensor.empty(gpu, [n * K * 3]),
  };
  const wT = Tensor.from(gpu, wRgb);
  rasterizeBackward(raster, posed, out, { rgb: wT }, pg);
  const dDxF = poser.backward(canon, grads, g, posed, pg);

  const f64 = {
    means: Float64Array.from(a.means),
    quats: Float64Array.from(a.quats),
    logScales: Float64Array.from(a.logScales),
    opacityLogits: Float64Array.from(a.opacityLogits),
    sh: Float64Array.from(a.sh),
    features: Float64Array.from(a.features),
  };
  const canon64 = { count: n, ...f64 };
  const dx64 = Float64Array.from(dxF);
  const loss = () => {
    const p = cpuPose(c, canon64, params, expr, dx64).posed;
    const r = renderCpu(p, cams, { shDegree: 1, extraChannels: 0, background: bg });
    let l = p.regTerms.reduce((s, v) => s + v, 0);
    for (let i = 0; i < r.rgb.length; i++) l += wRgb[i] * r.rgb[i];
    return l;
  };
  const p0 = cpuPose(c, canon64, params, expr, dx64).posed;
  assert.equal(
    renderCpu(p0, cams, { shDegree: 1, extraChannels: 0, background: bg }).stats[0],
    2 * n,
    "all visible",
  );
  const h = 1e-6;
  const check = async (arr: Float64Array, gradT: Tensor, what: string, idx: number[]) => {
    const got = await gradT.read();
    let maxRef = 0;
    const fds = idx.map((i) => {
      const x = arr[i];
      arr[i] = x + h;
      const lp = loss();
      arr[i] = x - h;
      const lm = loss();
      arr[i] = x;
      const fd = (lp - lm) / (2 * h);
      maxRef = Math.max(maxRef, Math.abs(fd));
      return fd;
    });
    assert.ok(maxRef > 0, `${what}: zero reference gradient`);
    idx.forEach((i, j) => {
      const err = Math.abs(got[i] - fds[j]);
      assert.ok(err <= 1e-2 * Math.abs(fds[j]) + 2e-3 * maxRef, `${what}[${i}]: GPU ${got[i]}, fd ${fds[j]}`);
    });
  };
  const pick = (len: number, k: number) =>
    Array.from({ length: k }, (_, j) => Math.floor(((j + 0.5) * len) / k));
  await check(f64.means, grads.means, "means", pick(3 * n, 6));
  await check(f64.quats, grads.quats, "quats", pick(4 * n, 6));
  await check(f64.logScales, grads.logScales, "logScales", pick(3 * n, 6));
  await check(f64.opacityLogits, grads.opacityLogits, "opacityLogits", pick(n, 6));
  await check(f64.sh, grads.sh, "sh", [0, 1, 2, 3, 5, 13, 26, 40, 50]);
  await check(f64.features, grads.features, "features", pick(8 * n, 8));
  await check(dx64, dDxF, "dxF", pick(3 * n, 6));
  const layers = g.layout();
  const gIdx = [
    layers[0].wOffset + 5,
    layers[0].bOffset + 3,
    layers[1].wOffset + 100,
    layers[2].bOffset + 7,
    ...Array.from({ length: G_OUTPUTS }, (_, k) => layers[3].bOffset + k),
    layers[3].wOffset + 40,
  ];
  await check(params, g.grads, "G params", gIdx);
  assert.equal(detailInputs(c), 3 + 8 + 4);

  out.destroy();
  posed.destroy();
  for (const t of [dxFT, wT, dDxF, ...Object.values(pg)]) t.destroy();
  destroyCanon(canon);
  destroyCanon(grads);
  raster.destroy();
  poser.destroy();
  g.destroy();
});
