import assert from "node:assert/strict";
import { defaultDataStatus } from "../cli/default_data.ts";
import { SYNTH_VERSION } from "../data/synth.ts";

Deno.test("default data: absent, older or exact-rig synthetic datasets are re-synthesized; others are kept", async () => {
  const root = await Deno.makeTempDir({ prefix: "npga-default-data-" });
  const write = async (name: string, info: Record<string, unknown> | string) => {
    await Deno.mkdir(`${root}/${name}`, { recursive: true });
    const text = typeof info === "string" ? info : JSON.stringify(info);
    await Deno.writeTextFile(`${root}/${name}/dataset.json`, text);
    return `${root}/${name}`;
  };
  try {
    assert.equal(await defaultDataStatus(`${root}/missing`), "is absent");
    const old = await write("old", { format: "npga-synthetic-head", version: 1 });
    assert.match(
      (await defaultDataStatus(old))!,
      new RegExp(`older synth \\(dataset version 1, current ${SYNTH_VERSION}\\)`),
    );
    const exact = await write("exact", {
      format: "npga-synthetic-head",
      version: SYNTH_VERSION,
      rig_kind: "exact",
    });
    assert.match((await defaultDataStatus(exact))!, /'exact' rig/);
    const current = { format: "npga-synthetic-head", version: SYNTH_VERSION, rig_kind: "tracked" };
    assert.equal(await defaultDataStatus(await write("current", current)), null);
    assert.equal(await defaultDataStatus(await write("foreign", { blendshape_names: ["a"] })), null);
    assert.equal(await defaultDataStatus(await write("broken", "{ not json")), null);
    await Deno.mkdir(`${root}/plain`);
    assert.equal(await defaultDataStatus(`${root}/plain`), null, "a folder without dataset.json is not ours");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
