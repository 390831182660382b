/**
 * Real `deno run main.ts train` processes on a tiny synthetic head (64x64, 4 cameras, 800 Gaussians, 24 steps,
 * a checkpoint every 6 steps):
 *
 * - one runs uninterrupted; another is killed with SIGKILL right after its first checkpoint, gets an orphan
 *   temporary file planted (as a write killed mid-way leaves), and `--resume` continues it from its last
 *   checkpoint to the same final metrics as the uninterrupted run (the rasterizer's float atomics add in
 *   varying order, so "same" is within 0.05 dB PSNR and 0.002 SSIM);
 * - SIGTERM or SIGINT (Ctrl-C) stops a run after its step with a checkpoint and exit code 0; a second signal
 *   exits at once (in-process, with the exit replaced, since two signals sent back to back may arrive as one);
 * - with the newest checkpoint damaged, `--resume` falls back to the previous one and says so; damaged
 *   metadata and tensor sizes give one clear error each.
 */
import assert from "node:assert/strict";
import { writeSyntheticDataset } from "../data/synth.ts";
import { readSafetensors, writeSafetensors } from "../data/safetensors.ts";
import { decodeCheckpoint } from "../training/checkpoint.ts";
import { parseCommandArgs } from "../cli/command.ts";
import { trainCommand } from "../cli/train.ts";
import { planResume } from "../cli/train_resume.ts";
import { StopSignals } from "../cli/train_signals.ts";
import type { RunMetrics } from "../data/run_folder.ts";
import { testGpu } from "./helpers.ts";

const ITERS = 24;
const FLAGS = [
  "--iters",
  String(ITERS),
  "--gaussians",
  "800",
  "--field-steps",
  "0",
  "--checkpoint-every",
  "6",
  "--eval-frames",
  "4",
  "--seed",
  "2",
  "--no-dashboard",
];

let root: Promise<string> | null = null;
/** A temporary folder with the tiny dataset at `head/` (removed when the file's tests end). */
function workdir(): Promise<string> {
  root ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "npga-kill-resume-" });
    await writeSyntheticDataset(await testGpu(), {
      out: `${dir}/head`,
      cameras: 4,
      timesteps: 12,
      testTimesteps: 4,
      size: 64,
      seed: 3,
    });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    return dir;
  })();
  return root;
}

/** A `train` process; `onLine` sees each output line (stdout and stderr) and may signal the process. */
async function train(
  args: string[],
  onLine: (line: string, child: Deno.ChildProcess) => void = () => {},
): Promise<{ status: Deno.CommandStatus; output: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "train", ...args],
    stdout: "piped",
    stderr: "piped",
    env: { XDG_RUNTIME_DIR: "/tmp" },
  }).spawn();
  let output = "";
  const read = async (s: ReadableStream<Uint8Array>) => {
    let buf = "";
    for await (const chunk of s.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        output += line + "\n";
        onLine(line, child);
      }
    }
    output += buf;
  };
  const [status] = await Promise.all([child.status, read(child.stdout), read(child.stderr)]);
  return { status, output };
}

const runFolderOf = (output: string) => /run folder (\S+);/.exec(output)?.[1] ?? "";
const finalEval = (m: RunMetrics) => m.evaluations.at(-1)!;

let uninterrupted: Promise<{ folder: string; metrics: RunMetrics }> | null = null;
function runUninterrupted() {
  uninterrupted ??= (async () => {
    const dir = await workdir();
    const r = await train(["--data", `${dir}/head`, "--out", `${dir}/a`, ...FLAGS]);
    assert.equal(r.status.code, 0, r.output);
    const folder = runFolderOf(r.output);
    return { folder, metrics: JSON.parse(await Deno.readTextFile(`${folder}/metrics.json`)) };
  })();
  return uninterrupted;
}

Deno.test({
  name: "train: SIGKILL mid-run, then --resume ends at the uninterrupted run's final metrics",
  sanitizeResources: false,
  fn: async () => {
    const dir = await workdir();
    const t0 = performance.now();
    const a = await runUninterrupted();
    const tA = (performance.now() - t0) / 1000;
    let killedAfter = -1;
    const t1 = performance.now();
    const b = await train(["--data", `${dir}/head`, "--out", `${dir}/b`, ...FLAGS], (line, child) => {
      const m = /checkpoint at step (\d+):/.exec(line);
      if (m && killedAfter < 0) {
        killedAfter = Number(m[1]);
        child.kill("SIGKILL");
      }
    });
    assert.equal(b.status.signal, "SIGKILL", b.output);
    assert.equal(killedAfter, 6);
    const folder = runFolderOf(b.output);
    const steps = [...Deno.readDirSync(`${folder}/checkpoints`)].map((e) => e.name).sort();
    const last = Number(/step-(\d+)/.exec(steps.at(-1)!)![1]);
    assert.ok(last >= 6 && last < ITERS, `killed mid-run (checkpoints: ${steps.join(", ")})`);
    await assert.rejects(Deno.stat(`${folder}/avatar.npga`), "the killed run did not finish");
    // A checkpoint write killed mid-way leaves a temporary file beside the checkpoints.
    const orphan = `${folder}/checkpoints/step-0000012.safetensors.tmp-99999-k1ll3d`;
    await Deno.writeFile(orphan, new Uint8Array(100));

    const c = await train(["--resume", folder, "--no-dashboard"]);
    const tB = (performance.now() - t1) / 1000;
    assert.equal(c.status.code, 0, c.output);
    assert.match(
      c.output,
      new RegExp(`resuming from \\S+step-${String(last).padStart(7, "0")}\\.safetensors \\(step ${last}\\)`),
    );
    // The planted file, and any the kill itself left mid-write.
    assert.match(c.output, /removed \d+ temporary file\(s\) of interrupted writes/);
    await assert.rejects(Deno.stat(orphan), "the orphan temp file is gone");
    for (const sub of ["", "/checkpoints", "/renders"]) {
      const left = [...Deno.readDirSync(folder + sub)].filter((e) => e.name.includes(".tmp-"));
      assert.deepEqual(left, [], `no temp files left in ${folder}${sub}`);
    }
    const m: RunMetrics = JSON.parse(await Deno.readTextFile(`${folder}/metrics.json`));
    const steps2 = m.losses.map((l) => l.step);
    assert.deepEqual(steps2, [...new Set(steps2)].sort((x, y) => x - y), "each logged step once, in order");
    assert.equal(m.summary?.steps, ITERS);
    const ea = finalEval(a.metrics), eb = finalEval(m);
    assert.equal(eb.step, ITERS);
    const lines: string[] = [];
    for (const split of ["val", "test"]) {
      const x = ea.splits.find((s) => s.split === split)!, y = eb.splits.find((s) => s.split === split)!;
      lines.push(
        `${split}: uninterrupted PSNR ${x.psnr.toFixed(3)} SSIM ${x.ssim.toFixed(4)}; killed at step ` +
          `${killedAfter}+, resumed from ${last}: PSNR ${y.psnr.toFixed(3)} SSIM ${y.ssim.toFixed(4)}`,
      );
      assert.ok(Math.abs(x.psnr - y.psnr) <= 0.05, lines.at(-1));
      assert.ok(Math.abs(x.ssim - y.ssim) <= 0.002, lines.at(-1));
    }
    const la = a.metrics.losses.at(-1)!, lb = m.losses.at(-1)!;
    lines.push(`final loss: uninterrupted ${la.total.toFixed(5)}, resumed ${lb.total.toFixed(5)}`);
    assert.ok(Math.abs(la.total - lb.total) <= 0.01 * la.total, lines.at(-1));
    console.log(
      `${lines.join("\n")}\nwall time: uninterrupted ${tA.toFixed(1)} s, killed + resumed ${tB.toFixed(1)} s`,
    );
  },
});

for (const [sig, out] of [["SIGTERM", "c"], ["SIGINT", "d"]] as const) {
  Deno.test({
    name: `train: ${sig} checkpoints and exits cleanly`,
    sanitizeResources: false,
    fn: async () => {
      const dir = await workdir();
      const flags = FLAGS.with(FLAGS.indexOf("--iters") + 1, "1000");
      let sent = false;
      const r = await train(["--data", `${dir}/head`, "--out", `${dir}/${out}`, ...flags], (line, child) => {
        if (!sent && /checkpoint at step 6:/.test(line)) {
          sent = true;
          child.kill(sig);
        }
      });
      assert.equal(r.status.code, 0, r.output);
      assert.match(r.output, new RegExp(`${sig}: stopping after this step`));
      const stopped = Number(/stopped at step (\d+)/.exec(r.output)?.[1]);
      assert.ok(stopped >= 6 && stopped < 1000, r.output);
      const folder = runFolderOf(r.output);
      const ckpt = `${folder}/checkpoints/step-${String(stopped).padStart(7, "0")}.safetensors`;
      assert.equal(decodeCheckpoint(await Deno.readFile(ckpt), ckpt).step, stopped, "checkpoint at the stop");
    },
  });
}

Deno.test("train signals: the first signal stops, a second exits at once; before training, one exits", async () => {
  const until = async (f: () => boolean) => {
    for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(f());
  };
  const exits: number[] = [];
  let stops = 0;
  const s = new StopSignals((code) => void exits.push(code));
  try {
    s.onStop(() => stops++);
    Deno.kill(Deno.pid, "SIGTERM");
    await until(() => stops === 1);
    assert.equal(exits.length, 0, "the first signal only asks the trainer to stop");
    // (SIGTERM again: `deno test` itself ends on SIGINT; both signals take the same path.)
    Deno.kill(Deno.pid, "SIGTERM");
    await until(() => exits.length === 1);
    assert.equal(exits[0], 143, "a second signal exits at once");
    assert.equal(stops, 1);
  } finally {
    s.dispose();
  }
  const early = new StopSignals((code) => void exits.push(code));
  try {
    Deno.kill(Deno.pid, "SIGTERM");
    await until(() => exits.length === 2);
    assert.equal(exits[1], 143, "before training started, a signal exits (nothing to save)");
    assert.equal(stops, 1);
  } finally {
    early.dispose();
  }
});

Deno.test("train: --resume falls back past a damaged newest checkpoint; bad metadata is one clear error", async () => {
  const a = await runUninterrupted();
  const dir = await workdir();
  const folder = `${dir}/damaged`;
  await Deno.mkdir(`${folder}/checkpoints`, { recursive: true });
  await Deno.copyFile(`${a.folder}/config.json`, `${folder}/config.json`);
  const names = [...Deno.readDirSync(`${a.folder}/checkpoints`)].map((e) => e.name).sort();
  assert.equal(names.length, 2);
  const [older, newest] = names;
  const good = await Deno.readFile(`${a.folder}/checkpoints/${older}`);
  await Deno.writeFile(`${folder}/checkpoints/${older}`, good);
  const full = await Deno.readFile(`${a.folder}/checkpoints/${newest}`);
  await Deno.writeFile(`${folder}/checkpoints/${newest}`, full.subarray(0, full.length >> 1));
  const args = parseCommandArgs(trainCommand, ["--resume", folder, "--iters", "40"]);
  assert.ok(args !== "help");
  const p = await planResume(folder, args);
  assert.equal(p.path, `${folder}/checkpoints/${older}`);
  assert.equal(p.state.step, 18);
  assert.equal(p.cfg.trainer.iters, 40);
  const notes = p.notes.join("\n");
  assert.match(notes, /--iters 40 applied \(the run had 24\)/);
  assert.match(notes, new RegExp(`damaged checkpoint skipped: \\S+${newest}: `));
  assert.match(notes, /falling back to the previous checkpoint/);
  assert.match(
    notes,
    /history was not restored \(\S+metrics\.json: could not be read/,
    "no metrics.json: said",
  );

  // Refused flags: one message naming each.
  const refused = parseCommandArgs(trainCommand, ["--resume", folder, "--gaussians", "5000", "--cnn"]);
  assert.ok(refused !== "help");
  await assert.rejects(
    planResume(folder, refused),
    /these would change it: --gaussians 5000 \(the run has 800\), --cnn true \(the run has false\)/,
  );
  const same = parseCommandArgs(trainCommand, ["--resume", folder, "--gaussians", "800"]);
  assert.ok(same !== "help");
  assert.equal((await planResume(folder, same)).state.step, 18, "a flag equal to the run's setting is fine");

  // Damaged metadata and tensor sizes: one DataError naming the file.
  const st = readSafetensors(good, "good");
  const rewrite = (meta: string, drop?: string) => {
    const t: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [k, v] of st.tensors) {
      if (k !== drop) t[k] = { shape: [...v.shape], data: v.data as Float32Array };
    }
    if (drop) t[drop] = { shape: [3], data: new Float32Array(3) };
    return writeSafetensors(t, { npga_checkpoint: meta });
  };
  const meta = JSON.parse(st.metadata.npga_checkpoint);
  const cases: [Uint8Array, RegExp][] = [
    [rewrite("{not json"), /x\.safetensors: has unreadable checkpoint metadata/],
    [rewrite(JSON.stringify({ ...meta, step: -1 })), /metadata step must be an integer in 0\.\./],
    [rewrite(JSON.stringify({ ...meta, shDegree: 7 })), /metadata shDegree must be an integer in 0\.\.3/],
    [rewrite(JSON.stringify({ ...meta, constants: null })), /lacks the posing constants/],
    [rewrite(st.metadata.npga_checkpoint, "avatar.quats"), /tensor avatar\.quats has 3 values, expected \d+/],
  ];
  for (const [bytes, want] of cases) {
    assert.throws(() => decodeCheckpoint(bytes, "x.safetensors"), (e: Error) => {
      assert.equal(e.name, "DataError");
      assert.match(e.message, want);
      assert.doesNotMatch(e.message, /\n\s+at /, "no stack");
      return true;
    });
  }
  // With every checkpoint damaged: one error that lists them.
  await Deno.writeFile(`${folder}/checkpoints/${older}`, cases[0][0]);
  await assert.rejects(
    planResume(folder, args),
    /has no usable checkpoint: .*unreadable checkpoint metadata.*; /,
  );
});
