/**
 * The `--camera` option of `deno task render`:
 *
 * - `orbit:YAW,PITCH[,DIST]` — degrees around the avatar's centre, starting from the frontal default camera
 *   (dashboard/avatar_view.ts `defaultCameraInfo`: looking down -z at the centre from 4 extents away); YAW turns
 *   about the camera's up axis (+y), positive PITCH looks from above; DIST scales the distance (0.25..4, 1 =
 *   default). Default `orbit:0,0`: frontal.
 * - `data:CAM_ID` — the camera with `camera_index` CAM_ID of the avatar's dataset.
 * - a path to a JSON file in the dataset's camera format: `transform_matrix` (4x4 OpenGL camera-to-world) and
 *   intrinsics `fl_x` [`fl_y`] `w` `h` [`cx` `cy`], either at the top level or in `frames[0]` of a
 *   transforms file (frame values override top-level ones).
 *
 * `--width`/`--height` set the image size (`resizeCamera`: square pixels, the whole original view visible).
 */
import { glCamToWorldToCvWorldToCam, parseRigid } from "../data/camera.ts";
import type { CameraInfo } from "../data/dataset.ts";
import { DataError } from "../data/errors.ts";
import { defaultCameraInfo, type ViewSpec } from "../dashboard/avatar_view.ts";
import { UsageError } from "./command.ts";

/** A parsed `--camera`: the base camera and the orbit applied to it (see `viewCamera`). */
export interface CameraChoice {
  info: CameraInfo;
  view: ViewSpec;
  /** What it is, for messages ("orbit yaw 30 pitch 0", "dataset camera 3", "cam.json"). */
  label: string;
}

/** What a camera spec may need besides itself. */
export interface CameraContext {
  center: readonly number[];
  extent: number;
  /** Cameras of the avatar's dataset (for `data:ID`), or null when no dataset is known. */
  datasetCameras: CameraInfo[] | null;
  /** Reads a JSON camera file (throws `DataError` when missing). */
  readText(path: string): Promise<string>;
}

function orbit(spec: string, ctx: CameraContext): CameraChoice {
  const parts = spec.slice("orbit:".length).split(",").map((s) => s.trim());
  const nums = parts.map(Number);
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "") || !nums.every(Number.isFinite)) {
    throw new UsageError(
      `--camera '${spec}': write orbit:YAW,PITCH or orbit:YAW,PITCH,DIST (degrees, factor)`,
    );
  }
  const [yaw, pitch, dist = 1] = nums;
  if (Math.abs(pitch) > 85) throw new UsageError(`--camera '${spec}': PITCH must be within -85..85 degrees`);
  if (dist < 0.25 || dist > 4) {
    throw new UsageError(`--camera '${spec}': DIST is a factor of the default distance, within 0.25..4`);
  }
  return {
    info: defaultCameraInfo(ctx.center, ctx.extent),
    view: { camera: 0, yaw, pitch, zoom: dist },
    label: `orbit yaw ${yaw} pitch ${pitch} distance x${dist}`,
  };
}

function num(v: unknown, file: string, key: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new DataError(file, `'${key}' must be a finite number, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Parses a JSON camera (see the module comment); `file` names it in errors. */
export function parseCameraJson(text: string, file: string): CameraInfo {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new DataError(file, `invalid JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null) throw new DataError(file, "is not a JSON object");
  const top = json as Record<string, unknown>;
  let o = top;
  if (Array.isArray(top.frames)) {
    const f = top.frames[0];
    if (typeof f !== "object" || f === null) throw new DataError(file, "frames[0] is not an object");
    o = { ...top, ...(f as Record<string, unknown>) };
  }
  if (o.transform_matrix === undefined) {
    throw new DataError(file, "has no 'transform_matrix'", "Give a 4x4 OpenGL camera-to-world matrix");
  }
  const c2w = parseRigid(o.transform_matrix, file, "transform_matrix");
  const fx = num(o.fl_x, file, "fl_x"), fy = num(o.fl_y, file, "fl_y") ?? fx;
  const w = num(o.w, file, "w"), h = num(o.h, file, "h");
  if (fx === undefined || fy === undefined || fx <= 0 || fy <= 0) {
    throw new DataError(file, "needs a positive focal length 'fl_x' (and optionally 'fl_y') in pixels");
  }
  if (
    w === undefined || h === undefined || !Number.isInteger(w) || !Number.isInteger(h) || w <= 0 || h <= 0
  ) {
    throw new DataError(file, "needs the image size 'w' and 'h' (positive integers, pixels)");
  }
  const cx = num(o.cx, file, "cx") ?? w / 2, cy = num(o.cy, file, "cy") ?? h / 2;
  return {
    index: 0,
    width: w,
    height: h,
    intrinsics: { fx, fy, cx, cy },
    camToWorldGL: c2w,
    worldToCamCV: glCamToWorldToCvWorldToCam(c2w),
  };
}

/** Parses `--camera` (undefined: the frontal orbit). */
export async function parseCameraSpec(spec: string | undefined, ctx: CameraContext): Promise<CameraChoice> {
  const s = spec?.trim() || "orbit:0,0";
  if (s.startsWith("orbit:")) return orbit(s, ctx);
  if (s.startsWith("data:")) {
    const id = Number(s.slice(5));
    if (!ctx.datasetCameras) {
      throw new UsageError(
        `--camera ${s} needs the avatar's dataset: give --data DIR (or render a run folder whose config.json names it)`,
      );
    }
    const cam = ctx.datasetCameras.find((c) => c.index === id);
    if (!cam) {
      const ids = ctx.datasetCameras.map((c) => c.index).join(", ");
      throw new UsageError(`--camera ${s}: the dataset has no camera ${s.slice(5)}; its cameras are ${ids}`);
    }
    return { info: cam, view: { camera: cam.index }, label: `dataset camera ${cam.index}` };
  }
  if (!s.toLowerCase().endsWith(".json")) {
    throw new UsageError(`--camera '${s}': use orbit:YAW,PITCH[,DIST], data:CAM_ID or a camera .json file`);
  }
  return { info: parseCameraJson(await ctx.readText(s), s), view: { camera: 0 }, label: s };
}

/**
 * `info` at `width` x `height` pixels. One of them alone scales the image (the other follows the aspect ratio);
 * both with another aspect ratio scale by the smaller factor and centre the view, so pixels stay square and all of
 * the original view stays visible (more is shown along the longer side).
 */
export function resizeCamera(info: CameraInfo, width?: number, height?: number): CameraInfo {
  if (width === undefined && height === undefined) return info;
  const w = width ?? Math.max(1, Math.round((height! * info.width) / info.height));
  const h = height ?? Math.max(1, Math.round((width! * info.height) / info.width));
  const s = Math.min(w / info.width, h / info.height), k = info.intrinsics;
  const ox = (w - info.width * s) / 2, oy = (h - info.height * s) / 2;
  return {
    ...info,
    width: w,
    height: h,
    intrinsics: { fx: k.fx * s, fy: k.fy * s, cx: k.cx * s + ox, cy: k.cy * s + oy },
  };
}
