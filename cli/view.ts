/**
 * `view AVATAR_FILE`: serves the dashboard for a trained avatar without training: expression sliders, orbit,
 * and (with the dataset) its cameras and ground truth. AVATAR_FILE is a checkpoint (.safetensors, as written
 * to a run folder's checkpoints/ or downloaded from the dashboard), a run folder (its newest checkpoint) or an
 * .npga avatar (its expression names are used when the dataset gives none). The
 * dataset comes from `--data`, else from the run folder's config.json when present.
 */
import { acquireGpu } from "../gpu/device.ts";
import { loadDataset } from "../data/dataset.ts";
import { DataError } from "../data/errors.ts";
import { RunFolder } from "../data/run_folder.ts";
import { decodeCheckpoint, encodeCheckpoint, type TrainState } from "../training/checkpoint.ts";
import { loadAvatarFile } from "../data/avatar_file.ts";
import { readBlendshapeNames, startViewer } from "../dashboard/start.ts";
import { type Command, numberOption, stringOption, UsageError } from "./command.ts";

async function readJson(path: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return null;
  }
}

/** The checkpoint bytes and the run folder's config.json (if any) of a file or run folder. */
async function locate(
  path: string,
): Promise<{ file: string; bytes: Uint8Array; config: Record<string, unknown> | null }> {
  const st = await Deno.stat(path).catch(() => {
    throw new DataError(path, "does not exist", "Give a checkpoint file (.safetensors) or a run folder");
  });
  if (st.isDirectory) {
    const latest = await new RunFolder(path).latestCheckpoint();
    if (!latest) throw new DataError(path, "has no checkpoint", "Give a run folder with checkpoints/");
    return { file: latest.path, bytes: latest.bytes, config: await readJson(`${path}/config.json`) };
  }
  const dir = path.replace(/\/[^/]*$/, "");
  const config = dir.endsWith("checkpoints") ? await readJson(`${dir}/../config.json`) : null;
  return { file: path, bytes: await Deno.readFile(path), config };
}

/** The avatar at `path` as a training state: checkpoints and run folders directly, `.npga` files decoded. */
async function locateAvatar(path: string) {
  if (!path.toLowerCase().endsWith(".npga")) {
    const found = await locate(path);
    return { ...found, state: decodeCheckpoint(found.bytes, found.file), names: null };
  }
  const a = await loadAvatarFile(path);
  const state: TrainState = {
    step: a.step,
    salt: 0,
    lrFactor: 1,
    avatar: { cloud: a.cloud, constants: a.constants, detailParams: a.detailParams },
    adam: [],
    field: a.field,
    prior: null,
    cnn: a.cnn,
  };
  return { file: path, bytes: encodeCheckpoint(state), config: a.config, state, names: a.expressionNames };
}

export const viewCommand: Command = {
  name: "view",
  summary: "open the dashboard for a trained avatar (expression sliders, orbit) without training",
  positionals: ["AVATAR_FILE"],
  usage: "[--data DIR] [--host HOST] [--port N] [--downscale N]",
  options: {
    data: { type: "string", value: "DIR", description: "dataset folder for cameras and ground truth" },
    host: { type: "string", value: "HOST", description: "address to bind", default: "127.0.0.1" },
    port: { type: "string", value: "N", description: "port (0: any free port)", default: "8000" },
    downscale: { type: "string", value: "N", description: "downscale the dataset images by N" },
  },
  async run(args) {
    const path = args.positionals[0];
    if (!path) throw new UsageError("give the avatar file (a checkpoint .safetensors or a run folder)");
    const port = numberOption(args, "port", { integer: true, min: 0, max: 65535 }) ?? 8000;
    const host = stringOption(args, "host") ?? "127.0.0.1";
    const { file, bytes, config, state, names } = await locateAvatar(path);
    const cfgData = typeof config?.data === "string" ? config.data : undefined;
    const data = stringOption(args, "data") ?? cfgData;
    const downscale = numberOption(args, "downscale", { integer: true, min: 1, max: 64 }) ??
      (typeof config?.downscale === "number" ? config.downscale : 1);
    const dataset = data ? await loadDataset(data, { downscale }) : undefined;
    const trainerCfg = config?.trainer as { detailWidth?: number; detailDepth?: number } | undefined;
    const gpu = await acquireGpu();
    const dash = await startViewer(gpu, {
      host,
      port,
      state,
      bytes,
      dataset,
      blendshapeNames: (data ? await readBlendshapeNames(data) : null) ?? names ?? undefined,
      config: config ?? { file },
      detail: trainerCfg?.detailWidth && trainerCfg.detailDepth
        ? { width: trainerCfg.detailWidth, depth: trainerCfg.detailDepth }
        : undefined,
    });
    console.log(`view: ${file} (step ${state.step}, ${state.avatar.cloud.count} Gaussians)`);
    console.log(`view: dashboard at ${dash.url}  (Ctrl-C to quit)`);
    await new Promise<void>((resolve) => Deno.addSignalListener("SIGINT", () => resolve()));
    await dash.close();
    gpu.destroy();
  },
};
