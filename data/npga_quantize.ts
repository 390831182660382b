/**
 * Building blocks of the `.npga` avatar format (data/npga_format.ts): uniform per-channel quantization into byte
 * planes, smallest-three rotations, float16 network weights and CRC-32. Pure JavaScript on typed arrays.
 *
 * Byte planes: an attribute with C channels per Gaussian ([N, C] row-major f32) quantized to b bits (1..16) is
 * stored channel-major, one plane of N bytes per channel for b <= 8, two planes (low bytes, then high bytes) for
 * b > 8: planes are [C][P][N] u8, P = 1 or 2. Channel c maps [min_c, max_c] linearly onto 0..2^b - 1, so the
 * round-trip error of a value inside the range is at most (max_c - min_c) / (2^b - 1) / 2. Grouping equal
 * bytes this way lets deflate find more repeats than the interleaved layout.
 */

/** Per-channel range and bit depth of a quantized attribute. */
export interface QuantRange {
  bits: number;
  min: number[];
  max: number[];
}

/** Bytes of one quantized value (1 for up to 8 bits, else 2). */
export function bytesPerValue(bits: number): number {
  return bits > 8 ? 2 : 1;
}

/** Per-channel min and max of `x` ([N, C] row-major); empty channels get [0, 0]. */
export function channelRange(x: Float32Array, channels: number, bits: number): QuantRange {
  const min = new Array<number>(channels).fill(Infinity), max = new Array<number>(channels).fill(-Infinity);
  for (let i = 0; i < x.length; i++) {
    const c = i % channels;
    if (x[i] < min[c]) min[c] = x[i];
    if (x[i] > max[c]) max[c] = x[i];
  }
  for (let c = 0; c < channels; c++) {
    if (!(min[c] <= max[c])) min[c] = max[c] = 0;
    // Round-trip the range through f64 JSON exactly: it already is a double, nothing to do.
  }
  return { bits, min, max };
}

/**
 * Quantizes `x` ([N, C] row-major) with `r` into byte planes [C][P][N] (see the module comment). Values outside
 * a channel's range are clamped to it. With `delta`, each stored value is the difference to the previous
 * Gaussian's quantized value modulo 2^bits (smaller numbers for spatially sorted positions).
 */
export function quantizePlanes(x: Float32Array, count: number, r: QuantRange, delta = false): Uint8Array {
  const C = r.min.length, P = bytesPerValue(r.bits), top = 2 ** r.bits - 1;
  const out = new Uint8Array(C * P * count);
  for (let c = 0; c < C; c++) {
    const span = r.max[c] - r.min[c], inv = span > 0 ? top / span : 0;
    const base = c * P * count;
    let prev = 0;
    for (let n = 0; n < count; n++) {
      const v = Math.min(top, Math.max(0, Math.round((x[n * C + c] - r.min[c]) * inv)));
      const q = delta ? (v - prev) & top : v;
      prev = v;
      out[base + n] = q & 255;
      if (P === 2) out[base + count + n] = q >>> 8;
    }
  }
  return out;
}

/** Inverse of `quantizePlanes` (same `delta`): [N, C] row-major f32 from byte planes. */
export function dequantizePlanes(
  planes: Uint8Array,
  count: number,
  r: QuantRange,
  delta = false,
): Float32Array {
  const C = r.min.length, P = bytesPerValue(r.bits), top = 2 ** r.bits - 1;
  const out = new Float32Array(count * C);
  for (let c = 0; c < C; c++) {
    const step = (r.max[c] - r.min[c]) / top, base = c * P * count;
    let prev = 0;
    for (let n = 0; n < count; n++) {
      let q = planes[base + n] | (P === 2 ? planes[base + count + n] << 8 : 0);
      if (delta) prev = q = (prev + q) & top;
      out[n * C + c] = r.min[c] + q * step;
    }
  }
  return out;
}

/**
 * Smallest-three rotations: each quaternion (w, x, y, z) is normalized, negated when its largest-magnitude
 * component is negative, and stored as that component's index (0..3, one byte plane) plus the other three in
 * index order, each in [-1/sqrt 2, 1/sqrt 2] quantized to `bits` (3 channels of `quantizePlanes`). Output:
 * [N] index bytes followed by the planes of the three components. The largest one is recovered as
 * sqrt(1 - sum of squares).
 */
export function encodeRotations(quats: Float32Array, count: number, bits: number): Uint8Array {
  const small = new Float32Array(count * 3), index = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const q = quats.subarray(n * 4, n * 4 + 4);
    const len = Math.hypot(q[0], q[1], q[2], q[3]) || 1;
    let big = 0;
    for (let i = 1; i < 4; i++) if (Math.abs(q[i]) > Math.abs(q[big])) big = i;
    const s = (q[big] < 0 ? -1 : 1) / len;
    index[n] = big;
    for (let i = 0, j = 0; i < 4; i++) if (i !== big) small[n * 3 + j++] = q[i] * s;
  }
  const planes = quantizePlanes(small, count, rotationRange(bits));
  const out = new Uint8Array(count + planes.length);
  out.set(index);
  out.set(planes, count);
  return out;
}

/** The range of the three stored rotation components at `bits`. */
export function rotationRange(bits: number): QuantRange {
  return {
    bits,
    min: [-Math.SQRT1_2, -Math.SQRT1_2, -Math.SQRT1_2],
    max: [Math.SQRT1_2, Math.SQRT1_2, Math.SQRT1_2],
  };
}

/** Bytes `encodeRotations` writes for `count` quaternions. */
export function rotationBytes(count: number, bits: number): number {
  return count * (1 + 3 * bytesPerValue(bits));
}

/** Inverse of `encodeRotations`: unit quaternions [N, 4] (w, x, y, z). Index bytes above 3 read as 0. */
export function decodeRotations(bytes: Uint8Array, count: number, bits: number): Float32Array {
  const small = dequantizePlanes(bytes.subarray(count), count, rotationRange(bits));
  const out = new Float32Array(count * 4);
  for (let n = 0; n < count; n++) {
    const big = bytes[n] & 3;
    let ss = 0;
    for (let i = 0, j = 0; i < 4; i++) {
      if (i === big) continue;
      const v = small[n * 3 + j++];
      out[n * 4 + i] = v;
      ss += v * v;
    }
    out[n * 4 + big] = Math.sqrt(Math.max(0, 1 - ss));
    const len = Math.hypot(out[n * 4], out[n * 4 + 1], out[n * 4 + 2], out[n * 4 + 3]);
    for (let i = 0; i < 4; i++) out[n * 4 + i] /= len;
  }
  return out;
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** IEEE half-precision bits of `v` (round to nearest even; overflow to infinity, NaN kept). */
export function toHalf(v: number): number {
  F32[0] = v;
  const x = U32[0], sign = (x >>> 16) & 0x8000, exp = (x >>> 23) & 0xff, man = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = man | 0x800000, shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (man >>> 13);
  const rem = man & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

/** The number whose half-precision bits are `h`. */
export function fromHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Float16 byte planes of `x`: [N] low bytes then [N] high bytes. */
export function encodeHalfPlanes(x: Float32Array): Uint8Array {
  const n = x.length, out = new Uint8Array(2 * n);
  for (let i = 0; i < n; i++) {
    const h = toHalf(x[i]);
    out[i] = h & 255;
    out[n + i] = h >>> 8;
  }
  return out;
}

/** Inverse of `encodeHalfPlanes`. */
export function decodeHalfPlanes(bytes: Uint8Array): Float32Array {
  const n = bytes.length >>> 1, out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = fromHalf(bytes[i] | (bytes[n + i] << 8));
  return out;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, as in gzip and PNG) of `data`. */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * The order that sorts `count` positions ([N, 3] f32 within `r`) along a Morton (Z-order) curve of 10 bits per
 * axis: neighbours in the file are neighbours in space, so delta-coded positions and nearby attributes repeat.
 */
export function mortonOrder(means: Float32Array, count: number, r: QuantRange): Uint32Array {
  const codes = new Float64Array(count);
  const spread = (v: number) => {
    let x = v & 1023;
    x = (x | (x << 16)) & 0x030000ff;
    x = (x | (x << 8)) & 0x0300f00f;
    x = (x | (x << 4)) & 0x030c30c3;
    x = (x | (x << 2)) & 0x09249249;
    return x;
  };
  for (let n = 0; n < count; n++) {
    let code = 0;
    for (let c = 0; c < 3; c++) {
      const span = r.max[c] - r.min[c];
      const q = span > 0
        ? Math.min(1023, Math.max(0, Math.floor((means[n * 3 + c] - r.min[c]) / span * 1024)))
        : 0;
      code |= spread(q) << c;
    }
    codes[n] = code >>> 0;
  }
  return Uint32Array.from({ length: count }, (_, i) => i).sort((a, b) => codes[a] - codes[b] || a - b);
}

/** Rows of `x` ([N, C] row-major) in `order`. */
export function permuteRows(x: Float32Array, channels: number, order: Uint32Array): Float32Array {
  const out = new Float32Array(order.length * channels);
  for (let i = 0; i < order.length; i++) {
    out.set(x.subarray(order[i] * channels, (order[i] + 1) * channels), i * channels);
  }
  return out;
}

/** Values per scale block of 8-bit network weights. */
export const NET_BLOCK = 64;

/** Bytes of `count` network parameters at `bits` (16: float16; 8: int8 with a float16 scale per block). */
export function networkBytes(count: number, bits: number): number {
  return bits === 16 ? 2 * count : count + 2 * Math.ceil(count / NET_BLOCK);
}

/**
 * Network parameters at `bits`: 16 gives `encodeHalfPlanes`; 8 gives [ceil(count / 64)] float16 scales (byte
 * planes) then [count] u8 values q, parameter = (q - 128) * scale of its block of 64 (scale = max |w| / 127,
 * rounded up to float16 so no value clips).
 */
export function encodeNetwork(params: Float32Array, bits: number): Uint8Array {
  if (bits === 16) return encodeHalfPlanes(params);
  const n = params.length, blocks = Math.ceil(n / NET_BLOCK), scales = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    let m = 0;
    for (let i = b * NET_BLOCK; i < Math.min(n, (b + 1) * NET_BLOCK); i++) {
      m = Math.max(m, Math.abs(params[i]));
    }
    let h = toHalf(m / 127);
    if (fromHalf(h) * 127 < m) h++;
    scales[b] = fromHalf(h);
  }
  const head = encodeHalfPlanes(scales), out = new Uint8Array(head.length + n);
  out.set(head);
  for (let i = 0; i < n; i++) {
    const sc = scales[Math.floor(i / NET_BLOCK)];
    out[head.length + i] = sc > 0 ? Math.max(1, Math.min(255, Math.round(params[i] / sc) + 128)) : 128;
  }
  return out;
}

/** Inverse of `encodeNetwork`. */
export function decodeNetwork(bytes: Uint8Array, count: number, bits: number): Float32Array {
  if (bits === 16) return decodeHalfPlanes(bytes);
  const head = 2 * Math.ceil(count / NET_BLOCK), scales = decodeHalfPlanes(bytes.subarray(0, head));
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (bytes[head + i] - 128) * scales[Math.floor(i / NET_BLOCK)];
  return out;
}
