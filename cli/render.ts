/**
 * `render AVATAR --out DIR`: renders a trained avatar driven by an expression sequence to PNG frames
 * `DIR/frame_00000.png`, ... plus `DIR/frames.json` (what each frame shows). AVATAR is a checkpoint
 * (.safetensors), a run folder (its newest checkpoint) or an .npga file (data/avatar_file.ts).
 *
 * Drivers (at most one; default: the neutral expression): `--expressions CODES.npy` (float [T, D]),
 * `--csv TAKE.csv` (ARKit blendshapes in the Live Link Face layout, matched by name: the avatar's expression
 * dimensions must be ARKit-named), `--split test|val|train` of `--data DIR` (another recording's expression
 * sequence: cross-reenactment; without `--data`, the run's own dataset: self-reenactment). `--frame I` renders one row, `--every K` every K-th. The camera comes from
 * `--camera` (cli/render_camera.ts); `--width`/`--height` rescale it.
 */
import { acquireGpu, type Gpu } from "../gpu/device.ts";
import { loadAvatarFile } from "../data/avatar_file.ts";
import { writeFileAtomic } from "../data/atomic_write.ts";
import type { SplitName } from "../data/dataset.ts";
import { type DatasetIndex, readDatasetIndex } from "../data/dataset_index.ts";
import { DataError } from "../data/errors.ts";
import { encodePng } from "../data/image_io.ts";
import { readBlendshapeNames } from "../dashboard/start.ts";
import { type Command, numberOption, type ParsedArgs, stringOption, UsageError } from "./command.ts";
import { parseCameraSpec, resizeCamera } from "./render_camera.ts";
import { AvatarDriver, toRgb8 } from "./render_driver.ts";
import { contactSheet, type RgbFrame } from "./contact_sheet.ts";
import {
  csvSequence,
  datasetSequence,
  type DriveSequence,
  neutralSequence,
  npySequence,
  selectFrames,
} from "./render_sources.ts";

/** One `render` invocation, options parsed. */
export interface RenderJob {
  /** Checkpoint, run folder or .npga. */
  avatar: string;
  /** Output folder (created). */
  out: string;
  expressions?: string;
  csv?: string;
  /** Dataset whose split drives the avatar; also the cameras of `data:ID` (else the run's dataset). */
  data?: string;
  split?: SplitName;
  camera?: string;
  width?: number;
  height?: number;
  /** Frame rate: resamples a CSV take; recorded in frames.json otherwise. */
  fps?: number;
  every?: number;
  frame?: number;
  /** Also write a contact sheet of (up to 40 evenly spaced) frames to this PNG. */
  sheet?: string;
  /** RGB 0..1 (default white, the datasets' default background). */
  background?: [number, number, number];
  /** Progress and summary lines (default console.log). */
  log?: (line: string) => void;
}

/** What a render wrote. */
export interface RenderSummary {
  /** Frame files, in order. */
  files: string[];
  width: number;
  height: number;
  /** Wall time of the frame loop (posing, rendering, PNG encoding, writing), seconds. */
  seconds: number;
  /** Frames per second of the loop. */
  framesPerSecond: number;
  /**
   * Milliseconds per frame spent posing and rendering (with the read-back, without PNG encoding), after the
   * first frame (which includes shader compilation).
   */
  renderMsPerFrame: number;
  sequence: DriveSequence;
}

/** Most frames on a contact sheet (evenly spaced over the sequence). */
const SHEET_MAX = 40;

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new DataError(path, "does not exist");
    throw new DataError(path, `is unreadable (${(e as Error).message})`);
  }
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new DataError(path, "does not exist");
    throw new DataError(path, `is unreadable (${(e as Error).message})`);
  }
}

/** The avatar's training dataset from its run config (`data`), relative paths as given at training time. */
function runDataset(config: Record<string, unknown> | null): string | undefined {
  return typeof config?.data === "string" ? config.data : undefined;
}

/** Renders `job` (with `gpu`, else a fresh device that is released at the end). */
export async function renderAvatar(job: RenderJob, gpu?: Gpu): Promise<RenderSummary> {
  const log = job.log ?? ((l: string) => console.log(l));
  const drivers = [job.expressions, job.csv, job.split].filter((x) => x !== undefined);
  if (drivers.length > 1) {
    throw new UsageError("give at most one of --expressions, --csv and --split SPLIT [--data DIR]");
  }
  const loaded = await loadAvatarFile(job.avatar);
  const trainer = loaded.config?.trainer as { deformation?: unknown } | undefined;
  if (trainer?.deformation === "mesh") {
    throw new UsageError(
      `${loaded.file}: this avatar was trained with the mesh-rigged baseline (deformation "mesh"), whose posing ` +
        "needs the rig; render drives NPGA avatars (canonical + F + G) only",
    );
  }
  const D = loaded.constants.exprDim;
  const fps = job.fps ?? 30;

  // --data is the driving recording with --split, else the avatar's own dataset (for data:ID cameras, names).
  const ownDataset = job.split ? runDataset(loaded.config) : job.data ?? runDataset(loaded.config);
  const datasetPath = job.data ?? ownDataset;
  let index: DatasetIndex | null = null;
  if (job.split && !datasetPath) {
    throw new UsageError(
      "--split needs the recording that drives the avatar: give --data DIR (the avatar's run config names none)",
    );
  }
  if (datasetPath && (job.split !== undefined || job.camera?.trim().startsWith("data:"))) {
    index = await readDatasetIndex(datasetPath);
  }
  let avatarNames = loaded.expressionNames;
  if (!avatarNames && ownDataset) {
    const n = await readBlendshapeNames(ownDataset);
    avatarNames = n?.length === D ? n : null;
  }

  let seq: DriveSequence;
  if (job.expressions) seq = npySequence(await readBytes(job.expressions), job.expressions, D, fps);
  else if (job.csv) seq = csvSequence(await readText(job.csv), job.csv, avatarNames, job.fps);
  else if (job.split && index) seq = datasetSequence(index, job.split, avatarNames, D, fps);
  else seq = neutralSequence(D, fps);
  seq = selectFrames(seq, { frame: job.frame, every: job.every });
  for (const line of seq.notes.flatMap((n) => n.split("\n"))) log(`render: ${line}`);

  const choice = await parseCameraSpec(job.camera, {
    center: loaded.constants.center,
    extent: loaded.constants.extent,
    datasetCameras: index?.cameras ?? null,
    readText,
  });
  const info = resizeCamera(choice.info, job.width, job.height);

  await Deno.mkdir(job.out, { recursive: true });
  const ownGpu = !gpu;
  const device = gpu ?? await acquireGpu();
  const driver = AvatarDriver.create(device, loaded, job.background ?? [1, 1, 1]);
  const files: string[] = [];
  const sheetRows = new Set(
    Array.from(
      { length: Math.min(seq.frames, SHEET_MAX) },
      (_, i) => Math.round((i * (seq.frames - 1)) / Math.max(1, Math.min(seq.frames, SHEET_MAX) - 1)),
    ),
  );
  const sheet: RgbFrame[] = [];
  const t0 = performance.now();
  let renderMs = 0, firstMs = 0;
  const every = Math.max(1, Math.round(seq.frames / 10));
  try {
    for (let t = 0; t < seq.frames; t++) {
      const z = seq.codes.slice(t * D, (t + 1) * D);
      const r0 = performance.now();
      const img = await driver.render(info, choice.view, z);
      if (t === 0) firstMs = performance.now() - r0;
      else renderMs += performance.now() - r0;
      const file = `${job.out}/frame_${String(t).padStart(5, "0")}.png`;
      const rgb = toRgb8(img);
      await Deno.writeFile(file, encodePng(rgb, img.width, img.height, 3));
      if (job.sheet && sheetRows.has(t)) sheet.push({ rgb, width: img.width, height: img.height });
      files.push(file);
      if ((t + 1) % every === 0 || t + 1 === seq.frames) {
        const s = (performance.now() - t0) / 1000;
        log(`render: frame ${t + 1}/${seq.frames} (${seq.labels[t]}), ${((t + 1) / s).toFixed(2)} frames/s`);
      }
    }
  } finally {
    driver.destroy();
    if (ownGpu) device.destroy();
  }
  const seconds = (performance.now() - t0) / 1000;
  const meta = {
    avatar: job.avatar,
    camera: choice.label,
    width: info.width,
    height: info.height,
    fps: seq.fps,
    frames: files.map((f, t) => ({ file: f.slice(job.out.length + 1), source: seq.labels[t] })),
  };
  await writeFileAtomic(`${job.out}/frames.json`, JSON.stringify(meta, null, 1));
  const fpsOut = seq.frames / seconds;
  const size = `${info.width}x${info.height}`;
  log(
    `render: ${seq.frames} frame(s) of ${size} (${choice.label}) in ${seconds.toFixed(1)} s: ` +
      `${fpsOut.toFixed(2)} frames/s (pose + render: first frame ${firstMs.toFixed(0)} ms with shader ` +
      `compilation${seq.frames > 1 ? `, then ${(renderMs / (seq.frames - 1)).toFixed(0)} ms/frame` : ""}) ` +
      `-> ${job.out}/frame_%05d.png`,
  );
  const stale = `${job.out}/frame_${String(seq.frames).padStart(5, "0")}.png`;
  if (await Deno.stat(stale).then(() => true, () => false)) {
    log(`render: note: ${job.out} still holds frames of an earlier, longer render from ${stale} on`);
  }
  if (job.sheet) {
    const c = contactSheet(sheet, { columns: Math.min(sheet.length, 10), maxWidth: 2600 });
    await Deno.writeFile(job.sheet, encodePng(c.rgb, c.width, c.height, 3));
    log(`render: contact sheet of ${sheet.length} frame(s) -> ${job.sheet}`);
  }
  if (seq.frames > 1) {
    log(`render: video: ffmpeg -framerate ${seq.fps} -i ${job.out}/frame_%05d.png -pix_fmt yuv420p out.mp4`);
  }
  return {
    files,
    width: info.width,
    height: info.height,
    seconds,
    framesPerSecond: fpsOut,
    renderMsPerFrame: seq.frames > 1 ? renderMs / (seq.frames - 1) : firstMs,
    sequence: seq,
  };
}

function parseBackground(raw: string | undefined): [number, number, number] | undefined {
  if (raw === undefined) return undefined;
  const v = raw.split(",").map((s) => Number(s.trim()));
  if (v.length !== 3 || !v.every((x) => Number.isFinite(x) && x >= 0 && x <= 1)) {
    throw new UsageError(`--background must be three numbers in 0..1 like 1,1,1 (white), got '${raw}'`);
  }
  return [v[0], v[1], v[2]];
}

/** The `RenderJob` of command-line arguments. */
export function renderJobFromArgs(args: ParsedArgs): RenderJob {
  const avatar = args.positionals[0];
  if (!avatar) {
    throw new UsageError("give the avatar: a checkpoint .safetensors, a run folder or an .npga file");
  }
  const out = stringOption(args, "out");
  if (!out) throw new UsageError("give the output folder with --out DIR");
  const split = stringOption(args, "split");
  if (split !== undefined && !["train", "val", "test"].includes(split)) {
    throw new UsageError(`--split must be train, val or test, got '${split}'`);
  }
  return {
    avatar,
    out,
    expressions: stringOption(args, "expressions"),
    csv: stringOption(args, "csv"),
    data: stringOption(args, "data"),
    split: split as SplitName | undefined,
    camera: stringOption(args, "camera"),
    width: numberOption(args, "width", { integer: true, min: 16, max: 4096 }),
    height: numberOption(args, "height", { integer: true, min: 16, max: 4096 }),
    fps: numberOption(args, "fps", { min: 0.1, max: 1000 }),
    every: numberOption(args, "every", { integer: true, min: 1 }),
    frame: numberOption(args, "frame", { integer: true, min: 0 }),
    background: parseBackground(stringOption(args, "background")),
    sheet: stringOption(args, "sheet"),
  };
}

export const renderCommand: Command = {
  name: "render",
  summary: "render a trained avatar driven by expression codes, an ARKit CSV or another recording to PNGs",
  positionals: ["AVATAR"],
  usage: "--out DIR [--expressions CODES.npy [--frame I] | --csv TAKE.csv | --data DIR --split test] " +
    "[--camera orbit:YAW,PITCH[,DIST] | data:CAM_ID | CAM.json] [--width W] [--height H] [--fps N] [--every K] " +
    "[--background r,g,b] [--sheet FILE.png]",
  options: {
    out: {
      type: "string",
      value: "DIR",
      description: "output folder for frame_00000.png, ... and frames.json",
    },
    expressions: { type: "string", value: "CODES.npy", description: "expression codes, float [T, D] or [D]" },
    csv: {
      type: "string",
      value: "TAKE.csv",
      description: "ARKit blendshape CSV (Live Link Face), matched to ARKit-named expression dimensions",
    },
    data: {
      type: "string",
      value: "DIR",
      description:
        "dataset: with --split, its expression sequence drives the avatar; also the cameras of data:ID " +
        "(default: the run's dataset)",
    },
    split: {
      type: "string",
      value: "SPLIT",
      description:
        "split whose timesteps drive the avatar: of --data (cross-reenactment), else of the run's " +
        "own dataset (self-reenactment)",
    },
    camera: {
      type: "string",
      value: "SPEC",
      description:
        "orbit:YAW,PITCH[,DIST] (degrees around the avatar, DIST a distance factor), data:CAM_ID, " +
        "or a camera JSON (transform_matrix, fl_x, w, h)",
      default: "orbit:0,0",
    },
    width: { type: "string", value: "W", description: "image width in pixels (scales the camera's view)" },
    height: {
      type: "string",
      value: "H",
      description:
        "image height; with --width at another aspect ratio the view is centred, pixels stay square",
    },
    fps: {
      type: "string",
      value: "N",
      description:
        "frame rate: resamples a CSV take to N frames/s (else one frame per row); recorded in frames.json",
    },
    every: { type: "string", value: "K", description: "render every K-th frame of the sequence" },
    frame: { type: "string", value: "I", description: "render only frame I of the sequence" },
    background: { type: "string", value: "R,G,B", description: "background colour in 0..1 (default 1,1,1)" },
    sheet: {
      type: "string",
      value: "FILE.png",
      description: "also write a contact sheet (up to 40 frames, 10 a row)",
    },
  },
  async run(args) {
    await renderAvatar(renderJobFromArgs(args));
  },
};
