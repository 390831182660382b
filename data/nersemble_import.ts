/**
 * Converts a raw NeRSemble-style recording into the dataset format of data/dataset.ts. Accepted layout:
 *
 * ```
 * SEQ/camera_params.json
 *     { "world_2_cam": { "<serial>": 4x4 OpenCV world-to-camera, ... },
 *       "intrinsics": 3x3 [[fx,0,cx],[0,fy,cy],[0,0,1]] shared by all cameras, or { "<serial>": 3x3, ... } }
 * SEQ/timesteps/frame_<N>/<images|images-2x|images-4x>/cam_<serial>.<png|jpg|jpeg>   one per camera
 * SEQ/timesteps/frame_<N>/alpha_map/cam_<serial>.png      optional foreground masks
 * SEQ/expressions.npy                                      optional float [T, D], row t = t-th frame folder
 * ```
 *
 * Timesteps are the `frame_<N>` folders in numeric order (timestep_index 0..T-1); cameras are the serials of
 * `world_2_cam` in sorted order (camera_index 0..C-1). Intrinsics refer to full-resolution images; when the
 * images are smaller (e.g. images-2x), they are divided by `intrinsicsScale` (default: detected as the integer
 * round(2*cx / image width) when that is at least 2, else 1).
 *
 * Written to OUT: `images/{t:05d}_{serial}.<ext>` and `fg_masks/{t:05d}_{serial}.png` (byte copies),
 * `transforms_{train,val,test}.json` (OpenGL camera-to-world, per-frame intrinsics, plus `camera_serial`), and
 * `expressions.npy` (copied, or float32 [T, 0] when the recording has none). Splits: val = the held-out camera(s)
 * on the training timesteps, test = the last `testFraction` of the timesteps on all cameras, train = the rest.
 */
import { cvWorldToCamToGlCamToWorld, type Intrinsics, parseRigid } from "./camera.ts";
import { DataError } from "./errors.ts";
import { imageSize } from "./image_io.ts";
import { readNpy, writeNpy } from "./npy.ts";

export interface NersembleImportOptions {
  /** Serials of the validation camera(s). Default: the camera nearest the mean viewing direction. */
  valCameras?: string[];
  /** Fraction of timesteps (the last ones) held out for testing. Default 0.1 (at least one when T >= 2). */
  testFraction?: number;
  /** Divide the intrinsics by this; default detected (see module comment). */
  intrinsicsScale?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface NersembleImportResult {
  serials: string[];
  timesteps: number;
  intrinsicsScale: number;
  valCameras: string[];
  testTimesteps: number;
  frames: { train: number; val: number; test: number };
  expressionDim: number;
}

const IMAGE_DIRS = ["images", "images-2x", "images-4x"];

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new DataError(path, "file is missing");
    throw new DataError(path, `file is unreadable (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DataError(path, `invalid JSON (${(e as Error).message})`);
  }
}

function parseK(v: unknown, file: string, what: string): Intrinsics {
  const flat = Array.isArray(v) ? (v as unknown[]).flat() : undefined;
  if (!flat || flat.length !== 9 || !flat.every((x) => typeof x === "number" && Number.isFinite(x))) {
    throw new DataError(file, `${what} is not a 3x3 matrix of finite numbers`);
  }
  const k = flat as number[];
  if (k[0] <= 0 || k[4] <= 0) throw new DataError(file, `${what} has a non-positive focal length`);
  return { fx: k[0], fy: k[4], cx: k[2], cy: k[5] };
}

async function listDir(path: string): Promise<Deno.DirEntry[]> {
  try {
    return await Array.fromAsync(Deno.readDir(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new DataError(path, "folder is missing");
    throw new DataError(path, `folder is unreadable (${(e as Error).message})`);
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Parses camera_params.json: serial -> (OpenCV world-to-camera, full-resolution intrinsics). */
async function readCameras(seq: string): Promise<Map<string, { w2c: Float64Array; k: Intrinsics }>> {
  const path = `${seq}/camera_params.json`;
  const json = await readJson(path) as Record<string, unknown>;
  const w2c = json?.world_2_cam;
  if (typeof w2c !== "object" || w2c === null || Array.isArray(w2c)) {
    throw new DataError(path, "no 'world_2_cam' object (camera serial -> 4x4 matrix)");
  }
  const intr = json.intrinsics;
  const shared = Array.isArray(intr);
  if (!shared && (typeof intr !== "object" || intr === null)) {
    throw new DataError(path, "no 'intrinsics' (3x3 matrix, or camera serial -> 3x3)");
  }
  const out = new Map<string, { w2c: Float64Array; k: Intrinsics }>();
  for (const serial of Object.keys(w2c).sort()) {
    const kv = shared ? intr : (intr as Record<string, unknown>)[serial];
    if (kv === undefined) throw new DataError(path, `no intrinsics for camera ${serial}`);
    out.set(serial, {
      w2c: parseRigid((w2c as Record<string, unknown>)[serial], path, `world_2_cam["${serial}"]`),
      k: parseK(kv, path, shared ? "intrinsics" : `intrinsics["${serial}"]`),
    });
  }
  if (out.size === 0) throw new DataError(path, "'world_2_cam' lists no cameras");
  return out;
}

/** The camera whose viewing direction (OpenCV +z in world) is closest to the mean of all of them. */
function mostCentralCamera(cams: Map<string, { w2c: Float64Array }>): string {
  const dirs = [...cams].map(([s, c]) => [s, [c.w2c[8], c.w2c[9], c.w2c[10]]] as const);
  const mean = [0, 1, 2].map((i) => dirs.reduce((a, d) => a + d[1][i], 0));
  let best = dirs[0][0], bestDot = -Infinity;
  for (const [s, d] of dirs) {
    const dot = d[0] * mean[0] + d[1] * mean[1] + d[2] * mean[2];
    if (dot > bestDot + 1e-12) [best, bestDot] = [s, dot];
  }
  return best;
}

/**
 * Imports the recording at `seqDir` into a new dataset folder `outDir` (created; existing files with the same
 * names are overwritten). Throws `DataError` naming the file for a missing or malformed camera_params.json,
 * non-finite or non-rigid `world_2_cam`, bad intrinsics, no timestep folders, a camera image missing at some
 * timestep, an image with no camera parameters, image sizes that differ between timesteps of one camera, or an
 * `expressions.npy` whose shape, dtype or row count does not match.
 */
export async function importNersemble(
  seqDir: string,
  outDir: string,
  options: NersembleImportOptions = {},
): Promise<NersembleImportResult> {
  const cams = await readCameras(seqDir);
  const serials = [...cams.keys()];
  const tsDir = `${seqDir}/timesteps`;
  const frames = (await listDir(tsDir)).filter((e) => e.isDirectory && /^frame_\d+$/.test(e.name))
    .map((e) => e.name).sort((a, b) => Number(a.slice(6)) - Number(b.slice(6)));
  if (frames.length === 0) throw new DataError(tsDir, "has no frame_<N> folders");
  const T = frames.length;

  // Locate every camera image, check sizes are consistent per camera.
  const found: { t: number; serial: string; src: string; ext: string; mask?: string }[] = [];
  const sizes = new Map<string, { width: number; height: number; first: string }>();
  for (let t = 0; t < T; t++) {
    const fdir = `${tsDir}/${frames[t]}`;
    let imgDir = "";
    for (const d of IMAGE_DIRS) if (!imgDir && await exists(`${fdir}/${d}`)) imgDir = `${fdir}/${d}`;
    if (!imgDir) throw new DataError(fdir, `has no image folder (expected one of ${IMAGE_DIRS.join(", ")})`);
    const byCam = new Map<string, string>();
    for (const e of await listDir(imgDir)) {
      const m = /^cam_(.+)\.(png|jpe?g)$/i.exec(e.name);
      if (!e.isFile || !m) continue;
      if (!cams.has(m[1])) {
        throw new DataError(
          `${imgDir}/${e.name}`,
          `camera ${m[1]} has no entry in ${seqDir}/camera_params.json`,
        );
      }
      byCam.set(m[1], e.name);
    }
    for (const serial of serials) {
      const name = byCam.get(serial);
      if (!name) {
        throw new DataError(`${imgDir}/cam_${serial}.png`, `is missing (camera ${serial}, ${frames[t]})`);
      }
      const src = `${imgDir}/${name}`;
      const head = await Deno.open(src).then(async (f) => {
        const buf = new Uint8Array(65536);
        const n = await f.read(buf);
        f.close();
        return buf.subarray(0, n ?? 0);
      });
      const size = imageSize(head, src);
      const s0 = sizes.get(serial);
      if (!s0) sizes.set(serial, { ...size, first: src });
      else if (s0.width !== size.width || s0.height !== size.height) {
        throw new DataError(
          src,
          `is ${size.width}x${size.height} but ${s0.first} is ${s0.width}x${s0.height}`,
        );
      }
      const maskPath = `${fdir}/alpha_map/cam_${serial}.png`;
      const mask = await exists(maskPath) ? maskPath : undefined;
      found.push({ t, serial, src, ext: name.slice(name.lastIndexOf(".") + 1).toLowerCase(), mask });
    }
  }

  // Intrinsics scale and splits.
  const firstCam = cams.get(serials[0])!, firstSize = sizes.get(serials[0])!;
  const ratio = (2 * firstCam.k.cx) / firstSize.width;
  const scale = options.intrinsicsScale ?? (Math.round(ratio) >= 2 ? Math.round(ratio) : 1);
  const valCameras = options.valCameras ?? (serials.length > 1 ? [mostCentralCamera(cams)] : []);
  for (const s of valCameras) {
    if (!cams.has(s)) {
      throw new DataError(`${seqDir}/camera_params.json`, `validation camera ${s} is not listed`);
    }
  }
  const frac = options.testFraction ?? 0.1;
  const nTest = T < 2 ? 0 : Math.min(T - 1, Math.max(frac > 0 ? 1 : 0, Math.round(T * frac)));

  // Expressions.
  let exprBytes: Uint8Array;
  let expressionDim = 0;
  const exprPath = `${seqDir}/expressions.npy`;
  if (await exists(exprPath)) {
    exprBytes = await Deno.readFile(exprPath);
    const a = readNpy(exprBytes, exprPath);
    if (a.shape.length !== 2 || !/f[248]$/.test(a.dtype)) {
      throw new DataError(exprPath, `expected float [T, D], got ${a.dtype} [${a.shape}]`);
    }
    if (a.shape[0] !== T) {
      throw new DataError(exprPath, `has ${a.shape[0]} rows but there are ${T} timestep folders`);
    }
    expressionDim = a.shape[1];
  } else {
    exprBytes = writeNpy(new Float32Array(0), [T, 0]);
  }

  // Write the dataset.
  await Deno.mkdir(`${outDir}/images`, { recursive: true });
  if (found.some((f) => f.mask)) await Deno.mkdir(`${outDir}/fg_masks`, { recursive: true });
  const out: Record<"train" | "val" | "test", Record<string, unknown>[]> = { train: [], val: [], test: [] };
  let done = 0;
  for (const f of found) {
    const cam = cams.get(f.serial)!, size = sizes.get(f.serial)!;
    const stem = `${String(f.t).padStart(5, "0")}_${f.serial}`;
    await Deno.copyFile(f.src, `${outDir}/images/${stem}.${f.ext}`);
    const frame: Record<string, unknown> = {
      file_path: `images/${stem}.${f.ext}`,
      transform_matrix: rows(cvWorldToCamToGlCamToWorld(cam.w2c)),
      timestep_index: f.t,
      camera_index: serials.indexOf(f.serial),
      camera_serial: f.serial,
      fl_x: cam.k.fx / scale,
      fl_y: cam.k.fy / scale,
      cx: cam.k.cx / scale,
      cy: cam.k.cy / scale,
      w: size.width,
      h: size.height,
    };
    if (f.mask) {
      await Deno.copyFile(f.mask, `${outDir}/fg_masks/${stem}.png`);
      frame.fg_mask_path = `fg_masks/${stem}.png`;
    }
    const split = f.t >= T - nTest ? "test" : valCameras.includes(f.serial) ? "val" : "train";
    out[split].push(frame);
    options.onProgress?.(++done, found.length);
  }
  for (const split of ["train", "val", "test"] as const) {
    const doc = { camera_serials: serials, source: seqDir, frames: out[split] };
    await Deno.writeTextFile(`${outDir}/transforms_${split}.json`, JSON.stringify(doc, null, 1));
  }
  await Deno.writeFile(`${outDir}/expressions.npy`, exprBytes);
  return {
    serials,
    timesteps: T,
    intrinsicsScale: scale,
    valCameras,
    testTimesteps: nTest,
    frames: { train: out.train.length, val: out.val.length, test: out.test.length },
    expressionDim,
  };
}

function rows(m: Float64Array): number[][] {
  return [0, 1, 2, 3].map((r) => Array.from(m.subarray(r * 4, r * 4 + 4)));
}
