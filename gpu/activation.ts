/**
 * Elementwise activations shared by the matmul epilogue and the MLP: the type, the WGSL snippet
 * (gpu/activation.wgsl) and float64 CPU references of the function and its derivative.
 */
import snippet from "./activation.wgsl" with { type: "text" };

/** An activation function; softplus is (1 / beta) log(1 + exp(beta z)). */
export type Activation =
  | { kind: "relu" | "tanh" | "sigmoid" | "identity" }
  | { kind: "softplus"; beta: number };

/** WGSL source defining `act_apply(code, beta, z)` and `act_grad_from_output(code, beta, y)`. */
export const ACTIVATION_WGSL: string = snippet;

/** The code a kernel's ACT / DACT override constant takes for each activation (matches activation.wgsl). */
export const ACTIVATION_CODE: Record<Activation["kind"], number> = {
  identity: 0,
  relu: 1,
  softplus: 2,
  tanh: 3,
  sigmoid: 4,
};

/** The beta uniform a kernel needs for `act` (1 for activations without a parameter). */
export function activationBeta(act: Activation): number {
  if (act.kind !== "softplus") return 1;
  if (!(act.beta > 0) || !Number.isFinite(act.beta)) {
    throw new Error(`softplus beta must be a positive finite number, got ${act.beta}`);
  }
  return act.beta;
}

/** A readable name such as "softplus(100)". */
export function activationName(act: Activation): string {
  return act.kind === "softplus" ? `softplus(${act.beta})` : act.kind;
}

/** act(z) in float64, written the same numerically stable way as the kernel. */
export function applyActivation(act: Activation, z: number): number {
  switch (act.kind) {
    case "relu":
      return z > 0 ? z : 0;
    case "softplus": {
      const t = act.beta * z;
      return (Math.max(t, 0) + Math.log1p(Math.exp(-Math.abs(t)))) / act.beta;
    }
    case "tanh":
      return Math.tanh(z);
    case "sigmoid":
      return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
    case "identity":
      return z;
  }
}

/** d act / d z at pre-activation z, in float64. */
export function activationDerivative(act: Activation, z: number): number {
  switch (act.kind) {
    case "relu":
      return z > 0 ? 1 : 0;
    case "softplus": {
      const t = act.beta * z;
      return t >= 0 ? 1 / (1 + Math.exp(-t)) : Math.exp(t) / (1 + Math.exp(t));
    }
    case "tanh": {
      const y = Math.tanh(z);
      return 1 - y * y;
    }
    case "sigmoid": {
      const s = applyActivation(act, z);
      return s * (1 - s);
    }
    case "identity":
      return 1;
  }
}
