// Rig renderer: rasterizes a posed, vertex-coloured triangle mesh with a depth test and simple fixed lighting
// (ambient + two directional lights, no shadows), into an MSAA colour target whose alpha is the coverage.
//
// Vertex buffers (one vertex per entry, tightly packed f32):
//   @location(0) position: vec3<f32>  world-space posed position, stride 12 B
//   @location(1) normal:   vec3<f32>  world-space unit normal (any winding; flipped towards the viewer), stride 12 B
//   @location(2) color:    vec3<f32>  sRGB-encoded albedo in [0, 1], stride 12 B
// Uniform @group(0) @binding(0) Frame (std140-compatible, 96 B):
//   view_proj: mat4x4<f32>  column-major world -> clip (WebGPU clip space, z in [0, 1])
//   eye: vec4<f32>          camera centre in world space (w unused)
// Output: rgba8unorm, premultiplied by coverage (cleared to 0), sRGB-encoded colour.

struct Frame {
  view_proj: mat4x4<f32>,
  eye: vec4<f32>,
};

@group(0) @binding(0) var<uniform> frame: Frame;

struct VsOut {
  @builtin(position) clip: vec4<f32>,
  @location(0) world: vec3<f32>,
  @location(1) normal: vec3<f32>,
  @location(2) color: vec3<f32>,
};

@vertex
fn vs_main(@location(0) position: vec3<f32>, @location(1) normal: vec3<f32>, @location(2) color: vec3<f32>) -> VsOut {
  var o: VsOut;
  o.clip = frame.view_proj * vec4<f32>(position, 1.0);
  o.world = position;
  o.normal = normal;
  o.color = color;
  return o;
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
  return select(pow((c + 0.055) / 1.055, vec3<f32>(2.4)), c / 12.92, c <= vec3<f32>(0.04045));
}

fn linear_to_srgb(c: vec3<f32>) -> vec3<f32> {
  let x = clamp(c, vec3<f32>(0.0), vec3<f32>(1.0));
  return select(1.055 * pow(x, vec3<f32>(1.0 / 2.4)) - 0.055, x * 12.92, x <= vec3<f32>(0.0031308));
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
  let view = normalize(frame.eye.xyz - in.world);
  var n = normalize(in.normal);
  if (dot(n, view) < 0.0) {
    n = -n;
  }
  let key = normalize(vec3<f32>(0.45, 0.55, 0.75));
  let fill = normalize(vec3<f32>(-0.7, 0.1, 0.5));
  let rim = normalize(vec3<f32>(0.0, 0.6, -0.8));
  let albedo = srgb_to_linear(in.color);
  let diffuse = 0.32 + 0.78 * max(dot(n, key), 0.0) + 0.3 * max(dot(n, fill), 0.0) + 0.15 * max(dot(n, rim), 0.0);
  let h = normalize(key + view);
  let spec = 0.06 * pow(max(dot(n, h), 0.0), 24.0);
  return vec4<f32>(linear_to_srgb(albedo * diffuse + vec3<f32>(spec)), 1.0);
}
