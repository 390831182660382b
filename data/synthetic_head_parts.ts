/**
 * The synthetic head's separate parts, each a parametric grid: eyeballs, ears, upper and lower teeth, tongue and
 * the mouth cavity (an open bowl behind the lips). A part is built by a `MeshBuilder` as vertices with a neutral
 * position, a colour and a jaw weight, so the assembly can pose every part with the same jaw function.
 */
import {
  cavityColor,
  eyeColor,
  type Rgb,
  smoothstep,
  tongueColor,
  toothColor,
} from "./synthetic_head_albedo.ts";
import {
  basePoint,
  EYE_RADIUS,
  eyeCenter,
  MOUTH_HALF_WIDTH,
  MOUTH_Y,
  profileAt,
  rowParamAtY,
} from "./synthetic_head_skin.ts";

/** Growing vertex/triangle lists shared by all parts. */
export class MeshBuilder {
  positions: number[] = [];
  colors: number[] = [];
  jawWeights: number[] = [];
  indices: number[] = [];

  get count(): number {
    return this.jawWeights.length;
  }

  /** Adds one vertex, returns its index. */
  vertex(p: readonly number[], color: Rgb, jaw = 0): number {
    this.positions.push(p[0], p[1], p[2]);
    this.colors.push(...color.map((c) => Math.min(Math.max(c, 0), 1)));
    this.jawWeights.push(jaw);
    return this.count - 1;
  }

  /** Adds triangle (a, b, c). */
  tri(a: number, b: number, c: number): void {
    this.indices.push(a, b, c);
  }

  /**
   * Adds a rows x cols grid from `f(u, v)` (u down the rows in [0,1], v across in [0,1)), wrapping around in v
   * when `wrapV`, with triangles whose winding faces outward when f is right-handed (u south, v east).
   */
  grid(
    rows: number,
    cols: number,
    wrapV: boolean,
    f: (u: number, v: number) => { p: number[]; color: Rgb; jaw?: number },
    flip = false,
  ): number[][] {
    const ids: number[][] = [];
    for (let i = 0; i < rows; i++) {
      const row: number[] = [];
      for (let j = 0; j < cols; j++) {
        const r = f(i / (rows - 1), wrapV ? j / cols : j / (cols - 1));
        row.push(this.vertex(r.p, r.color, r.jaw ?? 0));
      }
      ids.push(row);
    }
    const jmax = wrapV ? cols : cols - 1;
    for (let i = 0; i + 1 < rows; i++) {
      for (let j = 0; j < jmax; j++) {
        const a = ids[i][j], b = ids[i][(j + 1) % cols], c = ids[i + 1][j], d = ids[i + 1][(j + 1) % cols];
        if (flip) {
          this.tri(a, b, c);
          this.tri(b, d, c);
        } else {
          this.tri(a, c, b);
          this.tri(b, c, d);
        }
      }
    }
    return ids;
  }
}

/** Eyeball of side s: a sphere with its pole on the gaze axis (+z), rows dense near the iris. */
export function addEye(m: MeshBuilder, s: number, seed: number): void {
  const c = eyeCenter(s);
  m.grid(28, 32, true, (u, v) => {
    const theta = Math.PI * (0.002 + 0.998 * u ** 1.6), phi = 2 * Math.PI * v;
    const p = [
      c[0] + EYE_RADIUS * Math.sin(theta) * Math.cos(phi),
      c[1] + EYE_RADIUS * Math.sin(theta) * Math.sin(phi),
      c[2] + EYE_RADIUS * Math.cos(theta),
    ];
    return { p, color: eyeColor(theta, phi, seed + (s > 0 ? 1 : 2)) };
  });
}

/** Ear of side s: a flattened shell with a bowl, tilted back, half sunk into the side of the head. */
export function addEar(m: MeshBuilder, s: number, skin: (p: readonly number[]) => Rgb): void {
  const y0 = -0.01, z0 = -0.012;
  const row = profileAt(rowParamAtY(y0));
  let phi = Math.PI / 2;
  for (let i = 0; i < 30; i++) { // azimuth where the base surface reaches z0 on side s
    const z = basePoint(row, phi)[2];
    phi += (z - z0) / 0.09;
  }
  const side = basePoint(row, phi)[0];
  const tilt = 0.25;
  m.grid(22, 28, true, (u, v) => {
    const theta = Math.PI * u, a = 2 * Math.PI * v;
    // local: x out of the head, y up, z forward; shell radii (thin in x).
    let lx = 0.008 * Math.cos(theta);
    const ly = 0.032 * Math.sin(theta) * Math.cos(a), lz = 0.02 * Math.sin(theta) * Math.sin(a);
    const rr = (ly / 0.032) ** 2 + (lz / 0.02) ** 2;
    if (lx > 0) lx -= 0.006 * Math.exp(-rr / 0.25) * Math.cos(theta) - 0.002 * smoothstep(0.6, 1, rr); // bowl, rim
    const y = ly * Math.cos(tilt) + lz * Math.sin(tilt), z = -ly * Math.sin(tilt) + lz * Math.cos(tilt);
    const p = [s * (Math.abs(side) + 0.004 + lx), y0 + y, z0 + z - 0.004];
    const c = skin(p);
    return { p, color: [c[0], c[1] * 0.95, c[2] * 0.95] };
  }, s < 0);
}

/** Dental arch: z offset behind the arch front for a lateral position x. */
function arch(x: number, front: number): number {
  return front - 38 * x * x;
}

/** Upper (upper = true) or lower row of teeth as a closed band along the dental arch. */
export function addTeeth(m: MeshBuilder, upper: boolean, lipZ: number, seed: number): void {
  const half = MOUTH_HALF_WIDTH * 0.95, front = lipZ - 0.0095;
  const h = upper ? 0.0095 : 0.008, t = 0.0045;
  // Cross-section loop (y, depth) around the band: front face, biting edge, back face, gum edge.
  const loop: number[][] = upper
    ? [[0.001, 0], [0.001 + h, 0], [0.001 + h, t], [0.001, t]]
    : [[-0.001, 0], [-0.001 - h, 0], [-0.001 - h, t], [-0.001, t]];
  m.grid(49, 8, true, (u, v) => {
    const x = -half + 2 * half * u;
    const k = v * 4, i = Math.floor(k), f = k - i;
    const a = loop[i % 4], b = loop[(i + 1) % 4];
    const y = a[0] + (b[0] - a[0]) * f, d = a[1] + (b[1] - a[1]) * f;
    const bite = upper ? Math.abs(y - 0.001) / h : Math.abs(y + 0.001) / h;
    const gum = smoothstep(0.8, 1.0, bite);
    const col = toothColor(u, 10, seed);
    const color: Rgb = [
      col[0] + (0.75 - col[0]) * gum,
      col[1] + (0.35 - col[1]) * gum,
      col[2] + (0.38 - col[2]) * gum,
    ];
    return { p: [x, MOUTH_Y + y, arch(x, front) - d], color, jaw: upper ? 0 : 1 };
  }, !upper);
}

/** Tongue: a flattened half ellipsoid resting on the floor of the mouth, following the jaw. */
export function addTongue(m: MeshBuilder, lipZ: number, seed: number): void {
  const cz = lipZ - 0.034;
  m.grid(16, 24, true, (u, v) => {
    const theta = Math.PI * u, a = 2 * Math.PI * v;
    const ly = 0.009 * Math.cos(theta);
    const p = [
      0.02 * Math.sin(theta) * Math.cos(a),
      MOUTH_Y - 0.011 + (ly > 0 ? ly : 0.3 * ly),
      cz + 0.026 * Math.sin(theta) * Math.sin(a),
    ];
    return { p, color: tongueColor(p, seed), jaw: 0.92 };
  }, true);
}

/** Mouth cavity: an ellipsoidal bowl open towards the lips, lower half following the jaw. */
export function addCavity(m: MeshBuilder, lipZ: number): void {
  const cz = lipZ - 0.036, rz = 0.034;
  m.grid(20, 32, true, (u, v) => {
    const theta = 0.32 * Math.PI + 0.68 * Math.PI * u, a = 2 * Math.PI * v; // theta from +z axis
    const p = [
      0.025 * Math.sin(theta) * Math.cos(a),
      MOUTH_Y - 0.003 + 0.022 * Math.sin(theta) * Math.sin(a),
      cz + rz * Math.cos(theta),
    ];
    const jaw = smoothstep(MOUTH_Y + 0.004, MOUTH_Y - 0.012, p[1]);
    return { p, color: cavityColor(smoothstep(0.3, 1, u)), jaw };
  });
}
