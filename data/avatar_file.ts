/**
 * Loading a trained avatar for use (render, export, view): the one place that knows the avatar file kinds.
 *
 * - a checkpoint `.safetensors` (training/checkpoint.ts); when it sits in a run folder's `checkpoints/`, the run's
 *   `config.json` comes with it;
 * - a run folder: its newest checkpoint and its `config.json`;
 * - an `.npga` file (data/npga_format.ts: the compressed avatar, with its run config and expression names).
 *
 * Expression names come from the run's dataset (`dataset.json` `blendshape_names` under the config's `data`)
 * when they match the avatar's expression dimension. Adam moments and the prior B are dropped: this is for use,
 * not for resuming.
 */
import { DataError } from "./errors.ts";
import { RunFolder } from "./run_folder.ts";
import { decodeCheckpoint, type TrainState } from "../training/checkpoint.ts";
import { decodeNpga, encodeNpga, type NpgaAvatar } from "./npga_format.ts";

/** A trained avatar, ready to pose and render (the .npga fields but the metrics, and where it came from). */
export interface LoadedAvatar extends Omit<NpgaAvatar, "metrics"> {
  /** Where it came from (the checkpoint file inside a run folder, or the file given). */
  file: string;
}

async function readJson(path: string): Promise<Record<string, unknown> | null> {
  try {
    const j = JSON.parse(await Deno.readTextFile(path));
    return typeof j === "object" && j !== null && !Array.isArray(j) ? j : null;
  } catch {
    return null;
  }
}

async function datasetNames(config: Record<string, unknown> | null, dim: number): Promise<string[] | null> {
  if (typeof config?.data !== "string") return null;
  const n = (await readJson(`${config.data}/dataset.json`))?.blendshape_names;
  return Array.isArray(n) && n.length === dim && n.every((x) => typeof x === "string") ? n : null;
}

function fromState(
  s: TrainState,
  file: string,
  config: Record<string, unknown> | null,
  names: string[] | null,
): LoadedAvatar {
  return {
    file,
    step: s.step,
    cloud: s.avatar.cloud,
    constants: s.avatar.constants,
    detailParams: s.avatar.detailParams,
    field: s.field,
    cnn: s.cnn ?? null,
    expressionNames: names,
    config,
  };
}

/**
 * Loads the avatar at `path` (checkpoint, run folder or .npga; see the module comment). Throws `DataError`
 * naming the path for a missing path, a run folder without checkpoints, an unreadable or damaged file.
 */
export async function loadAvatarFile(path: string): Promise<LoadedAvatar> {
  const st = await Deno.stat(path).catch(() => {
    throw new DataError(
      path,
      "does not exist",
      "Give a checkpoint (.safetensors), a run folder or an .npga file",
    );
  });
  let file = path, bytes: Uint8Array, config: Record<string, unknown> | null = null;
  if (st.isDirectory) {
    const latest = await new RunFolder(path).latestCheckpoint();
    if (!latest) {
      throw new DataError(
        path,
        "has no checkpoint",
        "Give a run folder with checkpoints/ or a checkpoint file",
      );
    }
    file = latest.path;
    bytes = latest.bytes;
    config = await readJson(`${path}/config.json`);
  } else {
    bytes = await Deno.readFile(path).catch((e) => {
      throw new DataError(path, `is unreadable (${(e as Error).message})`);
    });
    if (path.toLowerCase().endsWith(".npga")) {
      const a = decodeNpga(bytes, path);
      return {
        file: path,
        step: a.step,
        cloud: a.cloud,
        constants: a.constants,
        detailParams: a.detailParams,
        field: a.field,
        cnn: a.cnn,
        expressionNames: a.expressionNames,
        config: a.config,
      };
    }
    const dir = path.replace(/\/[^/]*$/, "");
    if (dir !== path && dir.endsWith("checkpoints")) config = await readJson(`${dir}/../config.json`);
  }
  const state = decodeCheckpoint(bytes, file);
  return fromState(state, file, config, await datasetNames(config, state.avatar.constants.exprDim));
}

/**
 * The `.npga` bytes of training state `s` of the run folder `runPath`: with the run's config.json, its
 * metrics.json (histories trimmed) and its dataset's expression names, when present. Adam moments and B are left
 * out.
 */
export async function encodeRunAvatar(s: TrainState, runPath: string): Promise<Uint8Array> {
  const config = await readJson(`${runPath}/config.json`);
  return encodeNpga({
    step: s.step,
    cloud: s.avatar.cloud,
    constants: s.avatar.constants,
    detailParams: s.avatar.detailParams,
    field: s.field,
    cnn: s.cnn ?? null,
    expressionNames: await datasetNames(config, s.avatar.constants.exprDim),
    config,
    metrics: await readJson(`${runPath}/metrics.json`),
  });
}
