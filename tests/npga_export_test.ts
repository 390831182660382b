/**
 * `deno task export` through `exportAvatar`: a small random avatar (1,200 Gaussians, random G and F) in a run
 * folder written as .npga, canonical and posed PLY / SPZ, read back by the project's readers; the run-folder
 * encoder (`encodeRunAvatar`) and the dashboard's checkpoint encoder (`npgaOfCheckpoint`).
 */
import assert from "node:assert/strict";
import { encodeCheckpoint, type TrainState } from "../training/checkpoint.ts";
import { exportAvatar, posedCloud } from "../cli/export.ts";
import { encodeRunAvatar, loadAvatarFile } from "../data/avatar_file.ts";
import { decodeNpga, npgaOfCheckpoint } from "../data/npga_format.ts";
import { readPly } from "../data/ply.ts";
import { readSpz } from "../data/spz.ts";
import { testGpu } from "./helpers.ts";
import { randomAvatar } from "./avatar_fixture.ts";

const N = 1200, D = 3;

Deno.test("export: .npga, canonical and posed PLY / SPZ of a run folder", async () => {
  const gpu = await testGpu();
  const root = await Deno.makeTempDir({ prefix: "npga_export_" });
  try {
    const { avatar, field, snapshot, fieldState } = await randomAvatar(gpu, N, D, [3, 4]);
    const state: TrainState = {
      step: 5,
      salt: 0,
      lrFactor: 1,
      avatar: snapshot,
      adam: [],
      field: fieldState,
      prior: null,
    };
    avatar.destroy();
    field.destroy();
    const run = `${root}/run`;
    await Deno.mkdir(`${run}/checkpoints`, { recursive: true });
    await Deno.mkdir(`${root}/data`);
    await Deno.writeTextFile(
      `${root}/data/dataset.json`,
      JSON.stringify({ blendshape_names: ["a", "b", "c"] }),
    );
    await Deno.writeFile(`${run}/checkpoints/step-0000005.safetensors`, encodeCheckpoint(state));
    await Deno.writeTextFile(`${run}/config.json`, JSON.stringify({ data: `${root}/data` }));
    await Deno.writeTextFile(`${run}/metrics.json`, JSON.stringify({ summary: { steps: 5 } }));

    const lines: string[] = [];
    const z = new Float32Array([0.8, -0.5, 0.6]);
    const out = (f: string) => `${root}/${f}`;
    const s = await exportAvatar({
      avatar: run,
      npga: out("a.npga"),
      ply: out("p.ply"),
      spz: out("p.spz"),
      expression: z,
      log: (l) => lines.push(l),
    }, gpu);
    assert.equal(s.count, N);
    assert.equal(s.files.length, 3);
    assert.match(lines.join("\n"), /\.npga .*a\.npga: \d+ bytes, [\d.]+ bytes\/Gaussian/);
    const npga = decodeNpga(await Deno.readFile(out("a.npga")), "a.npga");
    assert.deepEqual(npga.expressionNames, ["a", "b", "c"]);
    assert.deepEqual(npga.metrics, { summary: { steps: 5 } });
    assert.equal(npga.config?.data, `${root}/data`);

    const ply = readPly(await Deno.readFile(out("p.ply")), "p.ply");
    const spz = readSpz(await Deno.readFile(out("p.spz")), "p.spz");
    assert.equal(ply.count, N);
    assert.equal(spz.count, N);
    const loaded = await loadAvatarFile(run);
    const posed = await posedCloud(gpu, loaded, z);
    let moved = 0, plyErr = 0, spzErr = 0;
    for (let i = 0; i < N * 3; i++) {
      moved = Math.max(moved, Math.abs(posed.means[i] - state.avatar.cloud.means[i]));
      plyErr = Math.max(plyErr, Math.abs(ply.means[i] - posed.means[i]));
      spzErr = Math.max(spzErr, Math.abs(spz.means[i] - posed.means[i]));
    }
    assert.ok(moved > 1e-4, `the expression moves the Gaussians (${moved})`);
    assert.ok(plyErr < 1e-6, `PLY holds the posed positions (${plyErr})`);
    assert.ok(spzErr < 1e-3, `SPZ holds the posed positions within its fixed point (${spzErr})`);
    for (let n = 0; n < N; n++) {
      const q = ply.quats.subarray(n * 4, n * 4 + 4);
      assert.ok(Math.abs(Math.hypot(q[0], q[1], q[2], q[3]) - 1) < 1e-5, "unit quaternions");
    }

    // Canonical export (no expression) from the .npga itself.
    await exportAvatar({ avatar: out("a.npga"), ply: out("c.ply"), log: () => {} }, gpu);
    const canon = readPly(await Deno.readFile(out("c.ply")), "c.ply");
    let canonErr = 0;
    for (let i = 0; i < N * 3; i++) {
      canonErr = Math.max(canonErr, Math.abs(canon.means[i] - npga.cloud.means[i]));
    }
    assert.ok(canonErr < 1e-6, "canonical PLY = the .npga's Gaussians");

    // Run-folder and checkpoint encoders.
    const fromRun = decodeNpga(await encodeRunAvatar(state, run), "run.npga");
    assert.deepEqual(fromRun.expressionNames, ["a", "b", "c"]);
    const fromCkpt = decodeNpga(npgaOfCheckpoint(encodeCheckpoint(state), { data: "x" }), "ckpt.npga");
    assert.equal(fromCkpt.cloud.count, N);
    assert.deepEqual(fromCkpt.config, { data: "x" });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
