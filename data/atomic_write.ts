/**
 * Atomic file writes: data goes to a temporary file in the same folder, is flushed to disk, then renamed over the
 * destination, so a crash or kill mid-write leaves either the old file or the new one, never a torn file.
 */
import { DataError } from "./errors.ts";

/** Whether a file name is an atomic write's temporary file (`NAME.tmp-PID-RANDOM`), e.g. left by a kill. */
export function isTempName(name: string): boolean {
  return /\.tmp-\d+-[0-9a-z]+$/.test(name);
}

/** Writes `data` to `path` atomically (temp file + fsync + rename). Creates the parent folder if needed. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const slash = path.lastIndexOf("/");
  const dir = slash >= 0 ? path.slice(0, slash) || "/" : ".";
  const tmp = `${path}.tmp-${Deno.pid}-${Math.random().toString(36).slice(2, 10)}`;
  try {
    await Deno.mkdir(dir, { recursive: true });
    const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      let off = 0;
      while (off < bytes.length) off += await f.write(bytes.subarray(off));
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    const reason = e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : e instanceof Error && /No space left/i.test(e.message)
      ? "the disk is full"
      : (e as Error).message;
    throw new DataError(
      path,
      `could not be written (${reason})`,
      "Check that the folder is writable and has space",
    );
  }
}
