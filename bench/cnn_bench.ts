/**
 * Refinement CNN (training/refine_cnn.ts) cost per frame: forward, and forward + backward (weights, RGB and the
 * feature channels), on one view at 256² (the default dataset's size) and 128², for the default width 16 and for
 * width 32, with the avatar's F = 8 feature channels. Per-layer rows split the backward into its parts.
 */
import { Rng } from "../gpu/rng.ts";
import { Tensor, TensorPool } from "../gpu/tensor.ts";
import { conv2dBackward, conv2dForward, paddedChannels } from "../training/conv2d.ts";
import { RefineCnn } from "../training/refine_cnn.ts";
import type { BenchModule, Cell } from "./report.ts";
import { timeGpu } from "./report.ts";

const bench: BenchModule = {
  name: "cnn",
  async run(ctx) {
    const { gpu } = ctx;
    const F = 8;
    const sizes = ctx.quick ? [128] : [256, 128];
    const widths = ctx.quick ? [16] : [16, 32];
    const rng = new Rng(3);
    const rows: Record<string, Cell>[] = [];
    const layerRows: Record<string, Cell>[] = [];
    const opts = { minIters: 3, minMs: 500, maxIters: 20 };
    const syncMs = await timeGpu(gpu, () => {}, opts);
    for (const size of sizes) {
      const shape = { views: 1, height: size, width: size };
      const P = size * size;
      const rgb = Tensor.from(gpu, rng.floats(P * 3, 0, 1), [1, size, size, 3]);
      const extras = Tensor.from(gpu, rng.normals(P * F), [1, size, size, F]);
      const dOut = Tensor.from(gpu, rng.normals(P * 3, 0.01), [P, 3]);
      for (const width of widths) {
        const cnn = new RefineCnn(gpu, { featureDim: F, width, hidden: 2, seed: 1 });
        // Non-zero output layer so the timings cover a trained network (same work either way).
        cnn.setParams(rng.normals(cnn.paramCount, 0.05));
        ctx.log(`${size}² width ${width}`);
        const fwdMs = await timeGpu(gpu, () => cnn.forward(rgb, extras, shape).release(), opts);
        const bothMs = await timeGpu(gpu, () => {
          const fw = cnn.forward(rgb, extras, shape);
          const g = cnn.backward(fw, dOut);
          g.rgb.destroy();
          g.extras.destroy();
          fw.release();
        }, opts);
        rows.push({
          size: `${size}²`,
          width,
          params: cnn.paramCount,
          "forward ms": fwdMs - syncMs,
          "fwd+bwd ms": bothMs - syncMs,
          "backward ms": bothMs - fwdMs,
        });
        if (size === sizes[0] && width === widths[0]) {
          const pool = new TensorPool(gpu);
          for (const [k, l] of cnn.layers.entries()) {
            const ci = paddedChannels(l.cin), co = paddedChannels(l.cout);
            const x = Tensor.from(gpu, rng.normals(P * ci)), y = Tensor.empty(gpu, [P * co]);
            const dy = Tensor.from(gpu, rng.normals(P * co)), dx = Tensor.empty(gpu, [P * ci]);
            const fMs = await timeGpu(
              gpu,
              () => conv2dForward(gpu, l, shape, x, cnn.params, cnn.offsets[k], y),
              opts,
            );
            const args = { x, y, dy, params: cnn.params, offset: cnn.offsets[k], grads: cnn.grads, pool };
            const wMs = await timeGpu(gpu, () => conv2dBackward(gpu, l, shape, args), opts);
            const bMs = await timeGpu(gpu, () => conv2dBackward(gpu, l, shape, { ...args, dx }), opts);
            layerRows.push({
              layer: `${l.cin}->${l.cout}${l.relu ? " relu" : ""}`,
              "forward ms": fMs - syncMs,
              "weights bwd ms": wMs - syncMs,
              "input bwd ms": bMs - wMs,
            });
            for (const t of [x, y, dy, dx]) t.destroy();
          }
          pool.clear();
        }
        cnn.destroy();
      }
      for (const t of [rgb, extras, dOut]) t.destroy();
    }
    const note = `times are medians less one empty submit + sync (${
      syncMs.toFixed(2)
    } ms); one view per frame`;
    return [
      {
        title: `Refinement CNN per frame (F = ${F}, 2 hidden layers) on ${gpu.adapterName}`,
        rows,
        notes: [note],
      },
      { title: `Refinement CNN layers at ${sizes[0]}², width ${widths[0]}`, rows: layerRows, notes: [note] },
    ];
  },
};

export default bench;
