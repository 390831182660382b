/**
 * Measures the `.npga` format on a trained avatar: file sizes (raw float32, .npga with a per-section split,
 * canonical PLY and SPZ v3), bytes per Gaussian, and the test-split PSNR of the decoded .npga avatar against the
 * uncompressed one (both rendered the same way, through cli/render_driver.ts, at every test frame's camera and
 * expression).
 *
 *   XDG_RUNTIME_DIR=/tmp deno run -A bench/npga_measure.ts RUN_FOLDER_OR_CHECKPOINT [--bits k=v,...] [--no-psnr]
 *
 * `--bits position=16,rotation=8,...` overrides the default bit depths (data/npga_format.ts DEFAULT_NPGA_BITS).
 * The dataset is the run config's `data`, at the config's downscale.
 *
 * Measured 2026-11-28 on the default avatar (runs/20261128-051402: 700 steps, 10,000 Gaussians, SH degree 1,
 * 8 features, G + F = 36,305 parameters; lavapipe), 160 test frames:
 *   raw float32 (Gaussians + networks) 1,385,220 B = 138.5 B/Gaussian (checkpoint with Adam: 3,958,060 B)
 *   .npga default bits                   245,259 B =  24.53 B/Gaussian, test PSNR 32.345 -> 32.264 dB (-0.080)
 *   .npga 16/8/8/8/8/5/8, float16 nets   328,732 B =  32.87 B/Gaussian, -0.011 dB
 *   .npga as default but 8-bit DC and log-scales, float16 nets: 281,152 B = 28.1 B/Gaussian, -0.074 dB
 *   PLY 1,040,631 B = 104.1 B/Gaussian; SPZ v3 177,681 B = 17.77 B/Gaussian (canonical)
 * Of the default .npga: features 5.09, positions 3.70, rotations 3.25, SH 2.70, networks 3.70, JSON 0.43 B/G.
 * Again on the densified default avatar (700 steps, 20,000 Gaussians, same layout): raw 131.26, .npga 20.44
 * (networks 1.85), PLY 104.03, SPZ v3 17.47 B/Gaussian; test PSNR 32.663 -> 32.632 dB (-0.031).
 */
import { deflateSync, inflateSync } from "fflate";
import { loadAvatarFile, type LoadedAvatar } from "../data/avatar_file.ts";
import { loadDataset } from "../data/dataset.ts";
import {
  decodeNpga,
  DEFAULT_NPGA_BITS,
  encodeNpga,
  type NpgaBits,
  readNpgaDescription,
} from "../data/npga_format.ts";
import { writePly } from "../data/ply.ts";
import { writeSpz } from "../data/spz.ts";
import { shCoefficients } from "../data/gaussian_cloud.ts";
import { acquireGpu } from "../gpu/device.ts";
import { AvatarDriver, type DrivableAvatar } from "../cli/render_driver.ts";
import { psnrFromMse } from "../training/evaluate.ts";

const args = Deno.args.filter((a) => !a.startsWith("--"));
const bitsArg = Deno.args.find((a) => a.startsWith("--bits="))?.slice(7) ??
  (Deno.args.includes("--bits") ? Deno.args[Deno.args.indexOf("--bits") + 1] : undefined);
const path = args.find((a) => a !== bitsArg);
if (!path) {
  console.error("usage: deno run -A bench/npga_measure.ts RUN_OR_CHECKPOINT [--bits k=v,...] [--no-psnr]");
  Deno.exit(2);
}
const bits: NpgaBits = { ...DEFAULT_NPGA_BITS };
for (const kv of bitsArg?.split(",") ?? []) {
  const [k, v] = kv.split("=");
  if (!(k in bits)) throw new Error(`unknown bit depth '${k}'`);
  bits[k as keyof NpgaBits] = Number(v);
}

const a = await loadAvatarFile(path);
const runDir = a.file.replace(/\/checkpoints\/[^/]*$/, "");
const metrics = await Deno.readTextFile(`${runDir}/metrics.json`).then(JSON.parse).catch(() => null);
const t0 = performance.now();
const bytes = encodeNpga({ ...a, metrics }, bits);
const t1 = performance.now();
const back = decodeNpga(bytes, "measured.npga");
const t2 = performance.now();

const c = a.cloud, N = c.count, K = shCoefficients(c.shDegree), F = a.constants.featureDim;
const netParams = a.detailParams.length + (a.field?.params.length ?? 0) + (a.cnn?.params.length ?? 0);
const raw = 4 * (N * (3 + 4 + 3 + 1 + K * 3 + F) + netParams);
const ply = writePly(c).length, spz = writeSpz(c).length;
const fmt = (b: number) => `${b} B (${(b / N).toFixed(2)} B/Gaussian)`;
console.log(
  `avatar ${a.file}: ${N} Gaussians, SH degree ${c.shDegree}, ${F} features, ${netParams} network parameters`,
);
console.log(`bits ${JSON.stringify(bits)}`);
console.log(`raw float32   ${fmt(raw)}`);
console.log(
  `.npga         ${fmt(bytes.length)}  encode ${(t1 - t0).toFixed(0)} ms, decode ${(t2 - t1).toFixed(0)} ms`,
);
console.log(`PLY canonical ${fmt(ply)}`);
console.log(`SPZ v3        ${fmt(spz)}`);
const { desc } = readNpgaDescription(bytes, "measured.npga");
const J = new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
const payload = inflateSync(bytes.subarray(24 + J));
// Per-section split: each section deflated alone (sums to about the whole; deflate shares little across them).
const parts = [...desc.sections, ...desc.networks.map((n) => ({ ...n, name: `net.${n.name}` }))];
for (const s of parts) {
  const z = deflateSync(payload.subarray(s.offset, s.offset + s.length), { level: 9 }).length;
  console.log(
    `  ${s.name.padEnd(12)} ${String(s.length).padStart(8)} B raw -> ${String(z).padStart(8)} B (${
      (z / N).toFixed(2)
    } B/Gaussian)`,
  );
}
console.log(`  header+json  ${24 + J} B`);
if (!Deno.args.includes("--no-psnr")) await psnr(a, back);

async function psnr(orig: LoadedAvatar, dec: DrivableAvatar): Promise<void> {
  const cfg = orig.config as { data?: string; downscale?: number } | null;
  if (!cfg?.data) {
    console.log("no dataset in the run config: PSNR skipped");
    return;
  }
  const ds = await loadDataset(cfg.data, { downscale: cfg.downscale ?? 1, splits: ["test"] });
  const gpu = await acquireGpu();
  const drivers = [
    AvatarDriver.create(gpu, orig, ds.background),
    AvatarDriver.create(gpu, { ...dec, config: orig.config }, ds.background),
  ];
  const sums = [0, 0], between: number[] = [];
  const frames = ds.splits.test;
  for (const f of frames) {
    const info = {
      ...ds.cameras.find((cam) => cam.index === f.camera)!,
      intrinsics: f.intrinsics,
      camToWorldGL: f.camToWorldGL,
      worldToCamCV: f.worldToCamCV,
      width: f.width,
      height: f.height,
    };
    const z = ds.expressions.slice(f.timestep * ds.expressionDim, (f.timestep + 1) * ds.expressionDim);
    const imgs: Float32Array[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await drivers[i].render(info, { camera: f.camera }, z);
      imgs.push(r.rgb);
      let se = 0;
      for (let p = 0; p < r.rgb.length; p++) {
        se += (Math.min(Math.max(r.rgb[p], 0), 1) - f.image[p] / 255) ** 2;
      }
      sums[i] += psnrFromMse(se / r.rgb.length);
    }
    let se = 0;
    for (let p = 0; p < imgs[0].length; p++) se += (imgs[0][p] - imgs[1][p]) ** 2;
    between.push(psnrFromMse(se / imgs[0].length));
  }
  const [p0, p1] = sums.map((s) => s / frames.length);
  console.log(
    `test split (${frames.length} frames): PSNR uncompressed ${p0.toFixed(3)} dB, .npga ${
      p1.toFixed(3)
    } dB, change ${(p1 - p0).toFixed(3)} dB`,
  );
  console.log(
    `  .npga render vs uncompressed render: mean PSNR ${
      (between.reduce((s, x) => s + x, 0) / between.length).toFixed(1)
    } dB`,
  );
  for (const d of drivers) d.destroy();
}
