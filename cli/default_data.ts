/**
 * The built-in dataset folder (`datasets/synthetic-head`) used when a command gets no `--data`: synthesized when
 * absent, and synthesized again when the folder was written by an older version of `synth` (dataset.json
 * `version` below `SYNTH_VERSION`) or holds another rig kind than the default tracked one. The folder is
 * generated data, so replacing it loses nothing; a folder without a synthetic-head dataset.json is not ours
 * and is left alone.
 */
import type { Gpu } from "../gpu/device.ts";
import { SYNTH_VERSION, type SyntheticDatasetInfo, writeSyntheticDataset } from "../data/synth.ts";

/** Default dataset folder (synthesized when absent or outdated). */
export const DEFAULT_DATA = "datasets/synthetic-head";

/** Why the folder needs (re)synthesizing, or null when it is current (or not a synthetic-head dataset). */
export async function defaultDataStatus(dir: string): Promise<string | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dir}/dataset.json`);
  } catch {
    try {
      await Deno.stat(dir);
      return null;
    } catch {
      return "is absent";
    }
  }
  let info: Partial<SyntheticDatasetInfo>;
  try {
    info = JSON.parse(text);
  } catch {
    return null;
  }
  if (info.format !== "npga-synthetic-head") return null;
  if ((info.version ?? 0) < SYNTH_VERSION) {
    return `was written by an older synth (dataset version ${info.version ?? "?"}, current ${SYNTH_VERSION})`;
  }
  if (info.rig_kind !== "tracked") {
    return `holds the '${info.rig_kind}' rig, not the default tracked-style one`;
  }
  return null;
}

/**
 * Makes sure `dir` (the default dataset folder) holds the current built-in dataset, synthesizing it when it
 * does not. `who` prefixes the messages (the command's name).
 */
export async function ensureDefaultData(gpu: Gpu, who: string, dir = DEFAULT_DATA): Promise<void> {
  const why = await defaultDataStatus(dir);
  if (!why) return;
  const again = why !== "is absent";
  console.log(
    `${who}: ${dir} ${why}; synthesizing the default dataset ${
      again ? "again (generated data, replaced; pass --data DIR to train on a folder as it is)" : "(once)"
    }`,
  );
  const t0 = performance.now();
  let last = 0;
  await writeSyntheticDataset(gpu, {
    out: dir,
    force: again,
    onProgress: (done, total) => {
      const now = performance.now();
      if (done === total || now - last > 5000) {
        last = now;
        console.log(`synth: ${done}/${total} timesteps (${((now - t0) / 1000).toFixed(0)} s)`);
      }
    },
  });
}
