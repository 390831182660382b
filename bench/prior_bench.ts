/**
 * Deformation-field throughput: the expression prior B (evaluate, one training step) and the cycle-consistency
 * step of the forward field F, at the default width and twice it, on the built-in synthetic head's code size;
 * plus the CPU cost of drawing one batch of posed/canonical pairs from the synthetic head rig.
 */
import { Adam } from "../gpu/adam.ts";
import { Rng } from "../gpu/rng.ts";
import { Tensor } from "../gpu/tensor.ts";
import { buildSyntheticHead } from "../data/synthetic_head.ts";
import { headFrame } from "../training/deform_inputs.ts";
import { FEATURE_DIM, ForwardField } from "../training/distill.ts";
import { recordCycleLoss } from "../training/cycle_loss.ts";
import { ExpressionPrior } from "../training/prior.ts";
import { residual3 } from "../training/prior_residual.ts";
import { samplePairs } from "../training/prior_pairs.ts";
import { triangleAreaCdf } from "../training/rig_sampling.ts";
import type { BenchModule, Cell } from "./report.ts";
import { timeCpu, timeGpu } from "./report.ts";

const bench: BenchModule = {
  name: "prior",
  async run(ctx) {
    const { gpu } = ctx;
    const rig = buildSyntheticHead();
    const frame = headFrame(rig), D = rig.deltas.length;
    const batch = ctx.quick ? 512 : 2048;
    const rng = new Rng(1);
    const cdf = triangleAreaCdf(rig);
    let pairs = samplePairs(rig, batch, rng, { cdf });
    const sampleMs = await timeCpu(() => {
      pairs = samplePairs(rig, batch, rng, { cdf });
    });
    const rows: Record<string, Cell>[] = [];
    const posed = Tensor.from(gpu, pairs.posed), codes = Tensor.from(gpu, pairs.codes);
    const index = Tensor.from(gpu, pairs.index), out = Tensor.empty(gpu, [batch, 3]);
    const code = { kind: "indexed" as const, codes, index };
    for (const width of ctx.quick ? [64] : [64, 128]) {
      ctx.log(`width ${width}`);
      const prior = new ExpressionPrior(gpu, {
        frame,
        codeDim: D,
        identity: new Float32Array(0),
        width,
        layers: 6,
      });
      prior.mlp.init(1);
      const field = new ForwardField(gpu, { frame, codeDim: D, featureDim: FEATURE_DIM, width, layers: 6 });
      field.mlp.init(2);
      const input = Tensor.empty(gpu, [batch, prior.inputDim]);
      const raw = Tensor.empty(gpu, [batch, 3]), grad = Tensor.empty(gpu, [batch, 3]);
      const sq = Tensor.empty(gpu, [batch]);
      const adamB = new Adam(gpu, [{
        name: "b",
        params: prior.mlp.params,
        grads: prior.mlp.grads,
        lr: 1e-3,
      }]);
      const adamF = new Adam(gpu, [{
        name: "f",
        params: field.mlp.params,
        grads: field.mlp.grads,
        lr: 1e-3,
      }]);
      const evalMs = await timeGpu(gpu, () => prior.evaluate(posed, code, out));
      const trainMs = await timeGpu(gpu, () => {
        prior.assemble(posed, code, input);
        const acts = prior.mlp.forwardTrain(input, raw);
        residual3(gpu, { a: raw, b: out, ca: 1, cb: -1, gs: 2 / batch, res: grad, sq });
        prior.mlp.backward(acts, grad);
        adamB.step();
      });
      const cycleMs = await timeGpu(gpu, () => {
        recordCycleLoss(field, prior, { points: posed, code }).destroy();
        adamF.step();
      });
      const pts = (ms: number) => Math.round(batch / (ms / 1000));
      rows.push(
        { op: "B evaluate", width, points: batch, ms: evalMs, "points/s": pts(evalMs) },
        { op: "B train step", width, points: batch, ms: trainMs, "points/s": pts(trainMs) },
        { op: "F cycle step", width, points: batch, ms: cycleMs, "points/s": pts(cycleMs) },
      );
      for (const t of [input, raw, grad, sq]) t.destroy();
      adamB.destroy();
      adamF.destroy();
      prior.destroy();
      field.destroy();
    }
    rows.push({
      op: "sample pairs (cpu)",
      width: null,
      points: batch,
      ms: sampleMs,
      "points/s": Math.round(batch / (sampleMs / 1000)),
    });
    for (const t of [posed, codes, index, out]) t.destroy();
    return [{
      title: `deformation fields (NPHM layout, 6 layers, softplus(100), D = ${D}) on ${gpu.adapterName}`,
      rows,
      notes: [
        "train/cycle steps include the Adam update; pair sampling is per batch on the synthetic head (21k vertices)",
      ],
    }];
  },
};

export default bench;
