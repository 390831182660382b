/**
 * The ablation's cache of the fitted forward field F (cli/ablate.ts): fitting B and distilling F take most of a
 * short study (about 8-12 minutes on a 2-core software adapter), and F does not depend on the avatar settings a
 * study usually varies (G's learning rate, the initialization, the variants). So `ablate` writes the F it
 * distilled to `field.safetensors` in its out folder and, on a later run, reuses it when the key matches.
 *
 * File layout (safetensors, data/safetensors.ts):
 *   tensor "params"           F32 [P], the MLP's parameters as `ForwardField.mlp.getParams()` returns them
 *   metadata "key"            hex SHA-256 of what the fit depends on (below)
 *   metadata "config"         JSON of the `ForwardFieldConfig`
 *   metadata "report"         JSON of the `FieldReport` (B's and F's fit figures), or "null"
 *   metadata "created"        ISO time of the fit
 *
 * The key hashes the inputs of the fit: the rig (neutral positions, triangles, blendshape names and deltas),
 * the training and test expression codes, and every trainer setting of B and F (`FIELD_FIT_SETTINGS` and the
 * settings named field*, except those applied after the fit). A change to the fitting code itself is not in the
 * key: delete the file (or give another `--field-cache`) to refit after one.
 */
import { readSafetensors, writeSafetensors } from "../data/safetensors.ts";
import { writeFileAtomic } from "../data/atomic_write.ts";
import type { Dataset } from "../data/dataset.ts";
import type { Rig } from "../data/rig.ts";
import type { TrainerInputs } from "../training/trainer_events.ts";
import type { TrainerConfig } from "../training/trainer_config.ts";
import { codesOf, uniqueTimesteps } from "../training/trainer_setup.ts";

export type CachedField = NonNullable<TrainerInputs["pretrainedField"]>;

/** Settings of the fit besides those named field*. */
const FIELD_FIT_SETTINGS = ["priorSteps", "distillSteps", "canonicalJaw", "seed"] as const;
/**
 * field* settings that act after the fit (F's joint learning rate, its rotation of the Gaussians) or only
 * without one (`fieldFromZero`: F from zero when nothing is fitted).
 */
const AFTER_FIT = new Set(["fieldLr", "fieldRotation", "fieldFromZero"]);

/** The trainer settings the fit of B and F depends on, by name (sorted). */
export function fieldFitSettings(config: TrainerConfig): Record<string, unknown> {
  const all = config as unknown as Record<string, unknown>;
  const names = Object.keys(all).filter((k) =>
    (k.startsWith("field") && !AFTER_FIT.has(k)) ||
    (FIELD_FIT_SETTINGS as readonly string[]).includes(k)
  );
  return Object.fromEntries(names.sort().map((k) => [k, all[k]]));
}

function bytesOf(a: Float32Array | Uint32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Hex SHA-256 of the rig, the train / test codes of `ds` and the fit settings of `config`. */
export async function fieldCacheKey(ds: Dataset, rig: Rig, config: TrainerConfig): Promise<string> {
  const text = new TextEncoder();
  const parts: Uint8Array[] = [
    text.encode(JSON.stringify({ settings: fieldFitSettings(config), names: rig.blendshapeNames })),
    bytesOf(rig.positions),
    bytesOf(rig.indices),
    ...rig.deltas.map(bytesOf),
    bytesOf(codesOf(ds, uniqueTimesteps(ds.splits.train))),
    bytesOf(codesOf(ds, uniqueTimesteps(ds.splits.test))),
  ];
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** What `loadCachedField` found: the field, or why there is none to reuse. */
export type CacheLookup = { field: CachedField; created: string } | { field: null; reason: string };

/** Reads the cached F at `path` if it exists and its key is `key`. A corrupt file is reported, not thrown. */
export async function loadCachedField(path: string, key: string): Promise<CacheLookup> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { field: null, reason: `no ${path} yet` };
    throw e;
  }
  try {
    const f = readSafetensors(bytes, path);
    if (f.metadata.key !== key) {
      return { field: null, reason: `${path} was fitted with other settings or data` };
    }
    const params = f.tensors.get("params");
    if (!params || !(params.data instanceof Float32Array)) throw new Error("no F32 tensor 'params'");
    const config = JSON.parse(f.metadata.config) as CachedField["config"];
    const report = JSON.parse(f.metadata.report ?? "null") as CachedField["report"];
    return { field: { config, params: params.data, report }, created: f.metadata.created ?? "?" };
  } catch (e) {
    return { field: null, reason: `${path} is unreadable (${(e as Error).message}); it is refitted` };
  }
}

/** Writes F to `path` atomically under `key`. */
export async function saveCachedField(path: string, key: string, field: CachedField): Promise<void> {
  const bytes = writeSafetensors({ params: { shape: [field.params.length], data: field.params } }, {
    key,
    config: JSON.stringify(field.config),
    report: JSON.stringify(field.report),
    created: new Date().toISOString(),
  });
  await writeFileAtomic(path, bytes);
}
