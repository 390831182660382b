/**
 * `train` fails fast and leaves nothing behind: a taken port, an unusable host and a bad `--resume` are
 * reported before any data work (the data folder given does not exist, so an error about it would mean the
 * checks came too late), and a start that fails (here: the dataset) leaves no run folder.
 */
import assert from "node:assert/strict";
import { parseCommandArgs, UsageError } from "../cli/command.ts";
import { trainCommand } from "../cli/train.ts";

function args(argv: string[]) {
  const a = parseCommandArgs(trainCommand, argv);
  assert.ok(a !== "help");
  return a;
}

const entries = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name);

Deno.test("train start: a taken port or a bad host fails before any data work, with no run folder", async () => {
  const out = await Deno.makeTempDir({ prefix: "npga-start-" });
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (busy.addr as Deno.NetAddr).port;
    const missing = `${out}/no-such-dataset`;
    await assert.rejects(
      trainCommand.run(args(["--data", missing, "--out", out, "--port", String(port)])),
      (e: Error) => {
        assert.ok(e instanceof UsageError);
        assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port} is already in use: pick another port`));
        return true;
      },
    );
    await assert.rejects(
      trainCommand.run(args(["--data", missing, "--out", out, "--host", "256.1.1.1", "--port", "0"])),
      /--host 256\.1\.1\.1 cannot be listened on .*give an address of this machine/,
    );
    await assert.rejects(
      trainCommand.run(args(["--data", missing, "--out", out, "--port", "70000"])),
      /--port must be at most 65535/,
    );
    assert.deepEqual(entries(out), [], "no run folder");
  } finally {
    busy.close();
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("train start: a bad --resume fails before any data work", async () => {
  const out = await Deno.makeTempDir({ prefix: "npga-start-" });
  try {
    await assert.rejects(
      trainCommand.run(args(["--resume", `${out}/nope`, "--no-dashboard"])),
      /nope: is not a run folder\. Give a folder under runs\/ to --resume/,
    );
    const run = `${out}/run`;
    await Deno.mkdir(`${run}/checkpoints`, { recursive: true });
    await Deno.writeTextFile(`${run}/config.json`, "{oops");
    await assert.rejects(
      trainCommand.run(args(["--resume", run, "--no-dashboard"])),
      /config\.json: is not valid JSON/,
    );
    await Deno.writeTextFile(
      `${run}/config.json`,
      JSON.stringify({
        data: `${out}/no-such-dataset`,
        downscale: 1,
        trainer: { iters: 10, gaussians: 800 },
      }),
    );
    await assert.rejects(
      trainCommand.run(args(["--resume", run, "--no-dashboard"])),
      /run: has no checkpoint to resume from/,
    );
    await assert.rejects(
      trainCommand.run(args(["--resume", run, "--no-dashboard", "--seed", "9", "--out", "elsewhere"])),
      (e: Error) => {
        assert.ok(e instanceof UsageError);
        assert.match(e.message, /these would change it: --seed 9 \(the run has 1\)/);
        assert.match(e.message, /--out \(a resumed run stays in/);
        return true;
      },
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("train start: a start that fails on its dataset leaves no run folder", async () => {
  const out = await Deno.makeTempDir({ prefix: "npga-start-" });
  try {
    await assert.rejects(
      trainCommand.run(args(["--data", `${out}/no-such-dataset`, "--out", `${out}/runs`, "--no-dashboard"])),
      /no-such-dataset/,
    );
    assert.deepEqual(entries(out), [], "no runs/ and no run folder");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
