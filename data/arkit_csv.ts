/**
 * ARKit blendshape CSV (the layout Epic's Live Link Face app exports) to expression codes for an avatar whose
 * expression dimensions are ARKit-named blendshapes.
 *
 * Layout: a header row, then one row per captured frame:
 *
 * ```
 * Timecode,BlendShapeCount,EyeBlinkLeft,EyeLookDownLeft,...,TongueOut,HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,...
 * 14:03:52:28.207,61,0.0123,0.0,...
 * ```
 *
 * `Timecode` is `HH:MM:SS:FF[.sub]` with FF counted at the app's frame rate (60 by default, 30 configurable) and
 * `.sub` a fraction of a frame; `BlendShapeCount` and the head/eye rotation columns (HeadYaw, ..., RightEyeRoll)
 * are not blendshapes. Blendshape columns are matched to the avatar's expression names by name, ignoring case
 * and the side-suffix convention (`EyeBlinkLeft` = `eyeBlinkLeft` = `eyeBlink_L` = `eyeBlink.L`). Avatar
 * dimensions without a column are zero and reported as missing; CSV columns without a dimension are ignored and
 * reported as extra. Pure text in, arrays out (no file access), so it also runs in a browser.
 */
import { DataError } from "./errors.ts";

/** The 52 ARKit face blendshapes (ARFaceAnchor.BlendShapeLocation names), in Live Link Face column order. */
export const ARKIT_BLENDSHAPES: readonly string[] = [
  "eyeBlinkLeft",
  "eyeLookDownLeft",
  "eyeLookInLeft",
  "eyeLookOutLeft",
  "eyeLookUpLeft",
  "eyeSquintLeft",
  "eyeWideLeft",
  "eyeBlinkRight",
  "eyeLookDownRight",
  "eyeLookInRight",
  "eyeLookOutRight",
  "eyeLookUpRight",
  "eyeSquintRight",
  "eyeWideRight",
  "jawForward",
  "jawRight",
  "jawLeft",
  "jawOpen",
  "mouthClose",
  "mouthFunnel",
  "mouthPucker",
  "mouthRight",
  "mouthLeft",
  "mouthSmileLeft",
  "mouthSmileRight",
  "mouthFrownLeft",
  "mouthFrownRight",
  "mouthDimpleLeft",
  "mouthDimpleRight",
  "mouthStretchLeft",
  "mouthStretchRight",
  "mouthRollLower",
  "mouthRollUpper",
  "mouthShrugLower",
  "mouthShrugUpper",
  "mouthPressLeft",
  "mouthPressRight",
  "mouthLowerDownLeft",
  "mouthLowerDownRight",
  "mouthUpperUpLeft",
  "mouthUpperUpRight",
  "browDownLeft",
  "browDownRight",
  "browInnerUp",
  "browOuterUpLeft",
  "browOuterUpRight",
  "cheekPuff",
  "cheekSquintLeft",
  "cheekSquintRight",
  "noseSneerLeft",
  "noseSneerRight",
  "tongueOut",
];

/** Live Link Face columns that are neither the timecode nor blendshapes (head and eye rotations, the count). */
const NON_BLENDSHAPE = new Set(
  [
    "BlendShapeCount",
    "HeadYaw",
    "HeadPitch",
    "HeadRoll",
    "LeftEyeYaw",
    "LeftEyePitch",
    "LeftEyeRoll",
    "RightEyeYaw",
    "RightEyePitch",
    "RightEyeRoll",
  ].map((n) => n.toLowerCase()),
);

/** Frame rates Live Link Face and common timecode generators use (for inferring the rate from FF). */
const STANDARD_RATES = [24, 25, 30, 48, 50, 60, 100, 120];

/**
 * The comparison key of a blendshape name: lower case, a trailing side marker (`_L`, `.L`, `-L`, `_Left`,
 * `Left`, also `R`/`Right`) spelled `left`/`right`, other punctuation removed.
 * `EyeBlinkLeft`, `eyeBlinkLeft`, `eyeBlink_L` and `eyeblink.l` all give `eyeblinkleft`.
 */
export function blendshapeKey(name: string): string {
  let s = name.trim();
  const side = /[_.\-\s]([LR])$/i.exec(s);
  if (side) s = s.slice(0, side.index) + (side[1].toUpperCase() === "L" ? "Left" : "Right");
  return s.toLowerCase().replace(/[^a-z0-9]/g, "");
}

const ARKIT_KEYS = new Set(ARKIT_BLENDSHAPES.map(blendshapeKey));

/** Whether `name` is one of the 52 ARKit blendshapes (in any of the accepted spellings). */
export function isArkitBlendshape(name: string): boolean {
  return ARKIT_KEYS.has(blendshapeKey(name));
}

/** An ARKit CSV converted to an avatar's expression codes. */
export interface ArkitSequence {
  /** Row-major float32 [frames, names.length]; unmatched dimensions are 0. */
  codes: Float32Array;
  frames: number;
  /** Expression dimension D (the length of the names given). */
  dim: number;
  /** Frame rate of the timecodes: given, or inferred from the largest frame number FF (default 60). */
  fps: number;
  /** The Timecode cell of each row (empty strings when the file has no Timecode column). */
  timecodes: string[];
  /** Time of each row in seconds after the first row (row / fps without a Timecode column). */
  seconds: Float64Array;
  /** Avatar dimension -> the CSV column that drives it. */
  matched: { dim: number; name: string; column: string }[];
  /** Avatar expression names with no CSV column (held at 0). */
  missing: string[];
  /** CSV blendshape columns the avatar has no dimension for (ignored). */
  extra: string[];
  /** Head/eye rotation and count columns present (not blendshapes; ignored). */
  nonBlendshape: string[];
}

/** Options of `parseArkitCsv`. */
export interface ArkitCsvOptions {
  /** Frame rate of the timecodes' FF field; default: inferred (the smallest standard rate above the largest FF). */
  fps?: number;
}

function splitRow(line: string): string[] {
  return line.split(",").map((c) => c.trim().replace(/^"(.*)"$/, "$1").trim());
}

/** `HH:MM:SS:FF[.sub]` (SMPTE-like, `;` for drop-frame) or `HH:MM:SS[.fff]` (plain seconds). */
function parseTimecode(tc: string): { seconds: number; frame: number } | null {
  const m = /^(\d+):(\d{1,2}):(\d{1,2})(?:[:;](\d+(?:\.\d+)?)|(\.\d+))?$/.exec(tc);
  if (!m) return null;
  const seconds = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) + (m[5] ? Number(m[5]) : 0);
  return { seconds, frame: m[4] ? Number(m[4]) : 0 };
}

/**
 * Parses Live Link Face CSV `text` into codes for an avatar with expression `names` (one per dimension).
 * `file` names the source in errors. Throws `DataError` for an empty file, a missing header row, ragged rows,
 * non-numeric cells (naming the line and column), bad timecodes and duplicate columns.
 */
export function parseArkitCsv(
  text: string,
  names: readonly string[],
  file: string,
  opts: ArkitCsvOptions = {},
): ArkitSequence {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/).map((l, i) => ({ line: i + 1, text: l }))
    .filter((l) => l.text.trim() !== "");
  if (lines.length === 0) {
    throw new DataError(file, "is empty", "Give a Live Link Face CSV: a header row, then one row per frame");
  }
  const header = splitRow(lines[0].text);
  if (header.every((h) => h !== "" && Number.isFinite(Number(h)))) {
    throw new DataError(
      file,
      "has no header row (the first line is all numbers)",
      "The first line must name the columns, e.g. Timecode,BlendShapeCount,EyeBlinkLeft,...",
    );
  }
  const tcCol = header.findIndex((h) => h.toLowerCase() === "timecode");
  const keyToDim = new Map<string, number>();
  names.forEach((n, d) => {
    const k = blendshapeKey(n);
    if (!keyToDim.has(k)) keyToDim.set(k, d);
  });
  const colDim = new Int32Array(header.length).fill(-1);
  const matched: ArkitSequence["matched"] = [], extra: string[] = [], nonBlendshape: string[] = [];
  const seen = new Map<string, string>();
  header.forEach((h, c) => {
    if (c === tcCol) return;
    if (h === "") throw new DataError(file, `line ${lines[0].line}: column ${c + 1} has an empty name`);
    if (NON_BLENDSHAPE.has(h.toLowerCase())) {
      nonBlendshape.push(h);
      return;
    }
    const k = blendshapeKey(h);
    const prev = seen.get(k);
    if (prev !== undefined) {
      throw new DataError(file, `columns '${prev}' and '${h}' name the same blendshape`, "Keep one of them");
    }
    seen.set(k, h);
    const d = keyToDim.get(k);
    if (d === undefined) {
      extra.push(h);
      return;
    }
    colDim[c] = d;
    matched.push({ dim: d, name: names[d], column: h });
  });
  const matchedDims = new Set(matched.map((m) => m.dim));
  const missing = names.filter((_, d) => !matchedDims.has(d));

  const rows = lines.slice(1), T = rows.length, D = names.length;
  if (T === 0) {
    throw new DataError(file, "has a header but no data rows", "Export a take with at least one frame");
  }
  const codes = new Float32Array(T * D);
  const timecodes: string[] = [];
  const parsedTc: { seconds: number; frame: number }[] = [];
  rows.forEach((r, t) => {
    const cells = splitRow(r.text);
    if (cells.length !== header.length) {
      throw new DataError(
        file,
        `line ${r.line} has ${cells.length} cells but the header has ${header.length} columns (ragged row)`,
        "Every row needs one value per header column",
      );
    }
    cells.forEach((cell, c) => {
      if (c === tcCol) return;
      const v = cell === "" ? NaN : Number(cell);
      if (!Number.isFinite(v)) {
        throw new DataError(file, `line ${r.line}, column '${header[c]}': '${cell}' is not a number`);
      }
      if (colDim[c] >= 0) codes[t * D + colDim[c]] = v;
    });
    if (tcCol >= 0) {
      const tc = parseTimecode(cells[tcCol]);
      if (!tc) {
        throw new DataError(
          file,
          `line ${r.line}, column '${header[tcCol]}': '${cells[tcCol]}' is not a timecode HH:MM:SS:FF[.sub]`,
        );
      }
      timecodes.push(cells[tcCol]);
      parsedTc.push(tc);
    } else timecodes.push("");
  });

  let fps = opts.fps ?? 0;
  if (!fps) {
    const maxFrame = Math.max(0, ...parsedTc.map((p) => Math.floor(p.frame)));
    fps = parsedTc.length ? STANDARD_RATES.find((r) => r > maxFrame) ?? maxFrame + 1 : 60;
  }
  const seconds = new Float64Array(T);
  if (parsedTc.length) {
    const abs = parsedTc.map((p) => p.seconds + p.frame / fps);
    for (let t = 0; t < T; t++) {
      let s = abs[t] - abs[0];
      if (s < 0) s += 86400; // the take crossed midnight
      seconds[t] = s;
    }
  } else for (let t = 0; t < T; t++) seconds[t] = t / fps;
  return { codes, frames: T, dim: D, fps, timecodes, seconds, matched, missing, extra, nonBlendshape };
}

/** A short human-readable account of the column matching (for the command line). */
export function describeArkitMatch(s: ArkitSequence): string {
  const lines = [
    `${s.frames} frames at ${s.fps} fps (${s.seconds[s.frames - 1].toFixed(2)} s), ` +
    `${s.matched.length} of ${s.dim} expression dimensions matched`,
  ];
  if (s.missing.length) lines.push(`  missing (held at 0): ${s.missing.join(", ")}`);
  if (s.extra.length) lines.push(`  extra CSV columns (ignored): ${s.extra.join(", ")}`);
  if (s.nonBlendshape.length) lines.push(`  not blendshapes (ignored): ${s.nonBlendshape.join(", ")}`);
  return lines.join("\n");
}
