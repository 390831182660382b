/** CPU reference of gpu/mlp.ts in float64: forward (keeping pre-activations) and backward, same parameter layout. */
import { activationDerivative, applyActivation } from "./activation.ts";
import { mlpLayout, type MlpSpec } from "./mlp.ts";

export interface MlpCpuForward {
  batch: number;
  input: ArrayLike<number>;
  /** Pre-activations z_l [batch, out_l] of every layer. */
  pre: Float64Array[];
  /** Activations y_l = act(z_l) of every layer; the last is the network output. */
  post: Float64Array[];
}

/** Forward pass of `spec` with flat `params` on `input` [batch, inputs] (float64 arithmetic). */
export function mlpForwardCpu(
  spec: MlpSpec,
  params: ArrayLike<number>,
  input: ArrayLike<number>,
  batch: number,
): MlpCpuForward {
  const layers = mlpLayout(spec);
  const pre: Float64Array[] = [];
  const post: Float64Array[] = [];
  let prev: ArrayLike<number> = input;
  layers.forEach((L, l) => {
    const z = new Float64Array(batch * L.out);
    for (let r = 0; r < batch; r++) {
      for (let o = 0; o < L.out; o++) {
        let s = params[L.bOffset + o];
        for (let i = 0; i < L.hiddenRows; i++) {
          s += prev[r * L.hiddenRows + i] * params[L.wOffset + i * L.out + o];
        }
        if (l === spec.skipAt) {
          for (let i = 0; i < spec.inputs; i++) {
            s += input[r * spec.inputs + i] * params[L.wOffset + (L.hiddenRows + i) * L.out + o];
          }
        }
        z[r * L.out + o] = s;
      }
    }
    pre.push(z);
    post.push(z.map((v) => applyActivation(L.activation, v)));
    prev = post[l];
  });
  return { batch, input, pre, post };
}

/** Backward pass from dOutput [batch, outputs]: gradients of all parameters (flat layout) and of the input. */
export function mlpBackwardCpu(
  spec: MlpSpec,
  params: ArrayLike<number>,
  fwd: MlpCpuForward,
  dOutput: ArrayLike<number>,
): { dParams: Float64Array; dInput: Float64Array } {
  const layers = mlpLayout(spec);
  const last = layers[layers.length - 1];
  const dParams = new Float64Array(last.bOffset + last.out);
  const { batch, input } = fwd;
  const dInput = new Float64Array(batch * spec.inputs);
  let dy: ArrayLike<number> = dOutput;
  for (let l = layers.length - 1; l >= 0; l--) {
    const L = layers[l];
    const dz = new Float64Array(batch * L.out);
    for (let i = 0; i < dz.length; i++) dz[i] = dy[i] * activationDerivative(L.activation, fwd.pre[l][i]);
    const prev: ArrayLike<number> = l === 0 ? input : fwd.post[l - 1];
    const dPrev = new Float64Array(batch * L.hiddenRows);
    for (let r = 0; r < batch; r++) {
      for (let o = 0; o < L.out; o++) {
        const g = dz[r * L.out + o];
        dParams[L.bOffset + o] += g;
        for (let i = 0; i < L.hiddenRows; i++) {
          dParams[L.wOffset + i * L.out + o] += prev[r * L.hiddenRows + i] * g;
          dPrev[r * L.hiddenRows + i] += params[L.wOffset + i * L.out + o] * g;
        }
        if (l === spec.skipAt) {
          for (let i = 0; i < spec.inputs; i++) {
            const w = L.wOffset + (L.hiddenRows + i) * L.out + o;
            dParams[w] += input[r * spec.inputs + i] * g;
            dInput[r * spec.inputs + i] += params[w] * g;
          }
        }
      }
    }
    if (l === 0) { for (let i = 0; i < dPrev.length; i++) dInput[i] += dPrev[i]; }
    dy = dPrev;
  }
  return { dParams, dInput };
}

/** Sum of w[i] * output[i]: the scalar loss whose gradient with respect to the output is w (for finite differences). */
export function weightedOutputSum(
  spec: MlpSpec,
  params: ArrayLike<number>,
  input: ArrayLike<number>,
  batch: number,
  w: ArrayLike<number>,
): number {
  const out = mlpForwardCpu(spec, params, input, batch).post.at(-1)!;
  let s = 0;
  for (let i = 0; i < out.length; i++) s += w[i] * out[i];
  return s;
}
