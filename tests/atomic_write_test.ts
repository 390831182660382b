import assert from "node:assert/strict";
import { writeFileAtomic } from "../data/atomic_write.ts";
import { DataError } from "../data/errors.ts";

Deno.test("atomic write: replaces the file whole, leaves no temp files, reports unwritable paths", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const p = `${dir}/sub/ckpt.bin`;
    await writeFileAtomic(p, new Uint8Array([1, 2, 3]));
    await writeFileAtomic(p, "hello");
    assert.equal(await Deno.readTextFile(p), "hello");
    const names = [...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name);
    assert.deepEqual(names, ["ckpt.bin"]);
    await Deno.writeTextFile(`${dir}/file`, "x");
    await assert.rejects(
      () => writeFileAtomic(`${dir}/file/inside.bin`, "y"),
      (e: Error) =>
        e instanceof DataError && e.message.startsWith(`${dir}/file/inside.bin: could not be written`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
