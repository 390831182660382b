/**
 * The small file-reading interface the dataset loader uses, so it can run on Deno (`denoFiles`) or in a browser
 * (`fetchFiles`). Paths are '/'-separated; `joinPath` joins them without Node or Deno built-ins.
 */
import { DataError } from "./errors.ts";

/** Reads whole files. Implementations throw `DataError` naming the path when a file is missing or unreadable. */
export interface FileSource {
  readFile(path: string): Promise<Uint8Array>;
  /** True when `path` exists and is a regular file (false on any error). */
  exists(path: string): Promise<boolean>;
}

/** Joins path segments with '/', collapsing duplicate separators ("a/" + "./b" -> "a/b"). */
export function joinPath(...parts: string[]): string {
  const joined = parts.filter((p) => p.length > 0).join("/").replace(/\/+/g, "/");
  return joined.replace(/(^|\/)\.\//g, "$1");
}

/** File access through Deno (local disk). */
export const denoFiles: FileSource = {
  async readFile(path: string): Promise<Uint8Array> {
    try {
      return await Deno.readFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new DataError(path, "file is missing");
      throw new DataError(path, `file is unreadable (${(e as Error).message})`);
    }
  },
  async exists(path: string): Promise<boolean> {
    try {
      return (await Deno.stat(path)).isFile;
    } catch {
      return false;
    }
  },
};

/** File access over HTTP(S) with `fetch`, relative to `baseUrl` (for a browser build of the loader). */
export function fetchFiles(baseUrl: string): FileSource {
  const url = (p: string) => new URL(p, baseUrl.endsWith("/") ? baseUrl : baseUrl + "/").href;
  return {
    async readFile(path: string): Promise<Uint8Array> {
      let res: Response;
      try {
        res = await fetch(url(path));
      } catch (e) {
        throw new DataError(path, `file is unreadable (${(e as Error).message})`);
      }
      if (res.status === 404) throw new DataError(path, "file is missing");
      if (!res.ok) throw new DataError(path, `file is unreadable (HTTP ${res.status})`);
      return new Uint8Array(await res.arrayBuffer());
    },
    async exists(path: string): Promise<boolean> {
      try {
        const res = await fetch(url(path), { method: "HEAD" });
        return res.ok;
      } catch {
        return false;
      }
    },
  };
}

/** File access to an in-memory map path -> bytes (e.g. files dropped into a browser page, or tests). */
export function memoryFiles(entries: Map<string, Uint8Array>): FileSource {
  const norm = (p: string) => joinPath(p);
  return {
    readFile(path: string): Promise<Uint8Array> {
      const b = entries.get(norm(path));
      return b ? Promise.resolve(b) : Promise.reject(new DataError(path, "file is missing"));
    },
    exists(path: string): Promise<boolean> {
      return Promise.resolve(entries.has(norm(path)));
    },
  };
}
