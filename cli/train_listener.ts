/** The console printer and run-folder writer of `train` (progress lines, metrics.json, renders, checkpoints). */
import { encodePng } from "../data/image_io.ts";
import { writePly } from "../data/ply.ts";
import { encodeRunAvatar } from "../data/avatar_file.ts";
import type { RunFolder, RunMetrics } from "../data/run_folder.ts";
import { encodeCheckpoint } from "../training/checkpoint.ts";
import { sideBySide } from "../training/evaluate.ts";
import type { Trainer, TrainerEvent } from "../training/trainer.ts";

/** Seconds as "3m05s" or "12s". */
export function duration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const t = Math.round(s), m = Math.floor(t / 60), sec = t % 60;
  return m > 0 ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

/**
 * The event printer and run-folder writer of one run. `run()` gives the run folder, which exists from the first
 * step on (a new run's folder is made only once the trainer is ready, so a failed start leaves none).
 */
export function runListener(run: () => RunFolder, metrics: RunMetrics, trainer: () => Trainer | null) {
  let lastCheckpointStep = -1;
  return async (e: TrainerEvent): Promise<void> => {
    switch (e.kind) {
      case "phase":
        console.log(`train: ${e.message}`);
        break;
      case "progress": {
        const l = e.losses, eta = (e.iters - e.step) / Math.max(e.stepsPerSecond, 1e-9);
        const bar = "#".repeat(Math.round((20 * e.step) / e.iters)).padEnd(20, ".");
        console.log(
          `[${bar}] step ${e.step}/${e.iters} | loss ${l.total.toFixed(4)} (L1 ${l.l1.toFixed(4)}, SSIM ` +
            `${l.ssim.toFixed(3)}, reg ${l.reg.toExponential(1)}${
              l.cycle ? `, cycle ${l.cycle.toExponential(1)}` : ""
            }${
              l.lapFeatures || l.lapDynamics
                ? `, lap ${(l.lapFeatures ?? 0).toExponential(1)}/${(l.lapDynamics ?? 0).toExponential(1)}`
                : ""
            }) | ` +
            `${e.gaussians} Gaussians | ` +
            `${e.stepsPerSecond.toFixed(2)} steps/s | ETA ${duration(eta)}`,
        );
        metrics.losses.push({
          step: e.step,
          ...l,
          gaussians: e.gaussians,
          stepsPerSecond: e.stepsPerSecond,
          seconds: e.elapsedSeconds,
        });
        break;
      }
      case "skipped":
        console.warn(`train: step ${e.step}: non-finite loss or parameters, update skipped`);
        metrics.events.push({ step: e.step, message: "non-finite loss or parameters: update skipped" });
        break;
      case "density": {
        const msg =
          `density control at step ${e.step}: +${e.cloned} cloned, +${e.split} split, -${e.pruned} ` +
          `pruned${e.capped ? ` (${e.capped} held back by the cap)` : ""}${
            e.opacityReset ? ", opacities reset" : ""
          } -> ${e.count} Gaussians`;
        console.log(`train: ${msg}`);
        metrics.events.push({ step: e.step, message: msg });
        break;
      }
      case "rollback":
        console.warn(`train: ${e.message}`);
        metrics.events.push({ step: e.step, message: e.message });
        break;
      case "eval":
        console.log(
          `train: eval at step ${e.step}: ` +
            e.metrics.map((m) =>
              `${m.split} PSNR ${m.psnr.toFixed(2)} dB SSIM ${m.ssim.toFixed(4)} (${m.frames} frames)`
            )
              .join(", "),
        );
        metrics.evaluations.push({ step: e.step, splits: e.metrics });
        for (const [i, img] of e.images.entries()) {
          const s = sideBySide(img);
          const name = `renders/test-${
            String(i).padStart(2, "0")
          }-t${img.frame.timestep}-cam${img.frame.camera}.png`;
          await run().writeFile(name, encodePng(s.data, s.width, s.height, 3));
        }
        await run().writeJson("metrics.json", metrics);
        break;
      case "checkpoint":
        if (e.step !== lastCheckpointStep) {
          const where = await run().writeCheckpoint(e.step, encodeCheckpoint(e.state));
          console.log(`train: checkpoint at step ${e.step}: ${where}`);
        }
        lastCheckpointStep = e.step;
        await run().writeJson("metrics.json", metrics);
        if (e.final) {
          const t = trainer();
          if (t) await run().writeFile("avatar.ply", writePly(await t.avatar.toCloud()));
          await run().writeFile("avatar.npga", await encodeRunAvatar(e.state, run().path));
        }
        break;
    }
  };
}
