// Unpacks one resident training image (u8 RGB, four bytes per u32 word, little-endian) into the f32 target
// tensor of a step, through a 256-entry table (table[b] = b / 255 rounded once to f32, as the CPU path does).
//
// Buffers:
//   packed [words] u32   one chunk of the resident images (image_store.ts), each starting at a word boundary
//   table  [256] f32     byte -> value
//   out    [V, H, W, 3] f32   the step's targets; this dispatch writes elements [dst, dst + count)
// Uniform: src (first word of the image in this chunk), dst, count (bytes of the image). Grid: linear.

struct U {
  src: u32,
  dst: u32,
  count: u32,
}

@group(0) @binding(0) var<storage, read> packed: array<u32>;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> u: U;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + li;
  if (i >= u.count) { return; }
  let b = (packed[u.src + i / 4u] >> (8u * (i % 4u))) & 0xffu;
  out[u.dst + i] = table[b];
}
