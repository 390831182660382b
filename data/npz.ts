/**
 * NumPy `.npz` archives (a zip of `.npy` files, stored or deflated), read and written with fflate. Keys are the
 * member names without the `.npy` suffix, as `np.load(...)[key]` sees them. Pure JavaScript (runs in a browser).
 */
import { unzipSync, zipSync } from "fflate";
import { DataError } from "./errors.ts";
import { type NpyArray, type NpyWritable, readNpy, writeNpy } from "./npy.ts";

/**
 * Decodes every array of an `.npz` archive into a map key -> array. `file` names the source in error messages.
 * Throws `DataError` for truncated or corrupt archives and for members that are not valid `.npy` files.
 */
export function readNpz(bytes: Uint8Array, file: string): Map<string, NpyArray> {
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(bytes);
  } catch (e) {
    throw new DataError(file, `truncated or corrupt .npz archive (${(e as Error).message})`);
  }
  const out = new Map<string, NpyArray>();
  for (const [name, data] of Object.entries(members)) {
    if (name.endsWith("/")) continue;
    const key = name.endsWith(".npy") ? name.slice(0, -4) : name;
    out.set(key, readNpy(data, `${file}[${key}]`));
  }
  if (out.size === 0) throw new DataError(file, "empty or truncated .npz archive (no arrays found)");
  return out;
}

/** Reads one array `key` of an `.npz` archive; `DataError` naming the keys present when it is missing. */
export function readNpzKey(bytes: Uint8Array, file: string, key: string): NpyArray {
  const all = readNpz(bytes, file);
  const a = all.get(key);
  if (!a) {
    throw new DataError(file, `no array '${key}' in .npz (keys: ${[...all.keys()].join(", ") || "none"})`);
  }
  return a;
}

/** Encodes named arrays as an `.npz` archive (`compress` = deflate like np.savez_compressed, default stored). */
export function writeNpz(
  arrays: Record<string, { data: NpyWritable; shape: number[] }>,
  compress = false,
): Uint8Array {
  const members: Record<string, Uint8Array> = {};
  for (const [key, a] of Object.entries(arrays)) members[`${key}.npy`] = writeNpy(a.data, a.shape);
  return zipSync(members, { level: compress ? 6 : 0 });
}
