// Elementwise activation functions shared by the matmul epilogue and the MLP kernels (a snippet without entry
// points: gpu/activation.ts prepends it to kernels that use it).
//
// Activation codes (see ACTIVATION_CODE in gpu/activation.ts): 0 identity, 1 relu, 2 softplus(beta), 3 tanh,
// 4 sigmoid. Derivatives are written in terms of the activation's OUTPUT y, so backward passes only need the saved
// post-activation values.

// y = act(z). softplus is (max(t, 0) + log(1 + exp(-|t|))) / beta with t = beta * z, which never overflows;
// tanh and sigmoid are written with exp of a non-positive argument for the same reason.
fn act_apply(code: u32, beta: f32, z: f32) -> f32 {
  switch code {
    case 1u: {
      return max(z, 0.0);
    }
    case 2u: {
      let t = beta * z;
      return (max(t, 0.0) + log(1.0 + exp(-abs(t)))) / beta;
    }
    case 3u: {
      let e = exp(-2.0 * abs(z));
      return sign(z) * (1.0 - e) / (1.0 + e);
    }
    case 4u: {
      let e = exp(-abs(z));
      return select(e / (1.0 + e), 1.0 / (1.0 + e), z >= 0.0);
    }
    default: {
      return z;
    }
  }
}

// d act / d z expressed through y = act(z):
//   relu: y > 0; softplus: sigmoid(beta z) = 1 - exp(-beta y); tanh: 1 - y^2; sigmoid: y (1 - y); identity: 1.
fn act_grad_from_output(code: u32, beta: f32, y: f32) -> f32 {
  switch code {
    case 1u: {
      return select(0.0, 1.0, y > 0.0);
    }
    case 2u: {
      return 1.0 - exp(-beta * y);
    }
    case 3u: {
      return 1.0 - y * y;
    }
    case 4u: {
      return y * (1.0 - y);
    }
    default: {
      return 1.0;
    }
  }
}
