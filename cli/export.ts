/**
 * `export AVATAR (--npga OUT | --ply OUT | --spz OUT)...`: writes a trained avatar as a compressed `.npga`
 * (data/npga_format.ts: canonical Gaussians, networks, expression names, provenance) and/or as a static splat
 * file (PLY in the standard 3DGS layout, SPZ version 3) posed at one expression: canonical + F(x_c, z) + G, or
 * the canonical Gaussians with `--canonical` (the default when no expression is given).
 *
 * AVATAR is a checkpoint (.safetensors), a run folder (its newest checkpoint) or an .npga file
 * (data/avatar_file.ts). The expression comes from `--expression CODES.npy --frame I` (row I of a [T, D] array
 * or a [D] vector) or from `--timestep T` of a dataset (`--data DIR`, else the run config's dataset).
 */
import { acquireGpu, type Gpu } from "../gpu/device.ts";
import { loadAvatarFile, type LoadedAvatar } from "../data/avatar_file.ts";
import { readDatasetIndex } from "../data/dataset_index.ts";
import type { GaussianCloud } from "../data/gaussian_cloud.ts";
import { DEFAULT_NPGA_BITS, encodeNpga, type NpgaBits } from "../data/npga_format.ts";
import { npyToFloat32, readNpy } from "../data/npy.ts";
import { writePly } from "../data/ply.ts";
import { writeSpz } from "../data/spz.ts";
import { DataError } from "../data/errors.ts";
import { AvatarDriver } from "./render_driver.ts";
import { Tensor } from "../gpu/tensor.ts";
import { type Command, numberOption, type ParsedArgs, stringOption, UsageError } from "./command.ts";

/** What `exportAvatar` writes. */
export interface ExportJob {
  avatar: string;
  npga?: string;
  ply?: string;
  spz?: string;
  /** Expression code for PLY/SPZ (length D); null: canonical Gaussians. */
  expression?: Float32Array | null;
  /** Bit depths of the .npga (default DEFAULT_NPGA_BITS). */
  bits?: NpgaBits;
  log?: (line: string) => void;
}

/** Bytes written per output file. */
export interface ExportSummary {
  count: number;
  files: { path: string; bytes: number }[];
}

async function readJson(path: string): Promise<Record<string, unknown> | null> {
  try {
    const j = JSON.parse(await Deno.readTextFile(path));
    return typeof j === "object" && j !== null && !Array.isArray(j) ? j : null;
  } catch {
    return null;
  }
}

/** The run folder's metrics.json next to a checkpoint in `<run>/checkpoints/`, when there is one. */
function runMetrics(a: LoadedAvatar): Promise<Record<string, unknown> | null> {
  const m = a.file.match(/^(.*)\/checkpoints\/[^/]*$/);
  return m ? readJson(`${m[1]}/metrics.json`) : Promise.resolve(null);
}

/** The avatar's Gaussians posed at `z` (canonical + F + G) read back from the GPU, unit quaternions. */
export async function posedCloud(gpu: Gpu, a: LoadedAvatar, z: Float32Array): Promise<GaussianCloud> {
  if (z.length !== a.constants.exprDim) {
    throw new UsageError(`the expression code has ${z.length} values, the avatar ${a.constants.exprDim}`);
  }
  const driver = AvatarDriver.create(gpu, a, [1, 1, 1]);
  const { avatar, field } = driver.model;
  let dx: Tensor | undefined;
  try {
    if (field) {
      dx = Tensor.empty(gpu, [avatar.count, 3], "f32", "export.dxF");
      field.evaluate(avatar.params.means, null, z, dx);
    }
    const posed = avatar.pose(z, dx, false);
    const read = async (t: Tensor) => new Float32Array(await t.read() as Float32Array);
    const cloud: GaussianCloud = {
      count: avatar.count,
      shDegree: a.cloud.shDegree,
      means: await read(posed.means),
      quats: await read(posed.quats),
      logScales: await read(posed.logScales),
      opacityLogits: await read(posed.opacityLogits),
      sh: await read(posed.sh),
    };
    posed.destroy();
    for (let n = 0; n < cloud.count; n++) {
      const q = cloud.quats.subarray(n * 4, n * 4 + 4), len = Math.hypot(q[0], q[1], q[2], q[3]) || 1;
      for (let i = 0; i < 4; i++) q[i] /= len;
    }
    return cloud;
  } finally {
    dx?.destroy();
    driver.destroy();
  }
}

/** Loads `job.avatar` and writes the requested files; returns their sizes. */
export async function exportAvatar(job: ExportJob, gpu?: Gpu): Promise<ExportSummary> {
  const log = job.log ?? console.log;
  const a = await loadAvatarFile(job.avatar);
  const N = a.cloud.count, files: ExportSummary["files"] = [];
  const write = async (path: string, bytes: Uint8Array, what: string) => {
    await Deno.writeFile(path, bytes).catch((e) => {
      throw new DataError(path, `cannot be written (${(e as Error).message})`);
    });
    files.push({ path, bytes: bytes.length });
    log(
      `${what} ${path}: ${bytes.length} bytes, ${
        (bytes.length / N).toFixed(2)
      } bytes/Gaussian (${N} Gaussians)`,
    );
  };
  if (job.npga) {
    const metrics = await runMetrics(a);
    await write(job.npga, encodeNpga({ ...a, metrics }, job.bits ?? DEFAULT_NPGA_BITS), ".npga");
  }
  if (job.ply || job.spz) {
    let cloud: GaussianCloud = a.cloud;
    if (job.expression) cloud = await posedCloud(gpu ?? await acquireGpu(), a, job.expression);
    else {
      cloud = { ...cloud, quats: cloud.quats.slice(), features: undefined, featureDim: undefined };
      for (let n = 0; n < N; n++) {
        const q = cloud.quats.subarray(n * 4, n * 4 + 4), len = Math.hypot(q[0], q[1], q[2], q[3]) || 1;
        for (let i = 0; i < 4; i++) q[i] /= len;
      }
    }
    const pose = job.expression ? "posed" : "canonical";
    if (job.ply) await write(job.ply, writePly(cloud), `PLY (${pose})`);
    if (job.spz) await write(job.spz, writeSpz(cloud), `SPZ v3 (${pose})`);
  }
  return { count: N, files };
}

function parseBits(raw: string | undefined): NpgaBits {
  const bits = { ...DEFAULT_NPGA_BITS };
  for (const kv of raw ? raw.split(",") : []) {
    const [k, v] = kv.split("="), n = Number(v);
    if (!(k in bits) || !Number.isInteger(n) || n < 1 || n > 16 || (k === "network" && n !== 8 && n !== 16)) {
      throw new UsageError(
        `--bits takes name=bits pairs (1..16) for ${
          Object.keys(bits).join(", ")
        }, like position=16,sh=5; got '${kv}'`,
      );
    }
    bits[k as keyof NpgaBits] = n;
  }
  return bits;
}

/** The expression code the flags ask for (null: canonical). */
async function expressionFromArgs(args: ParsedArgs, avatar: string): Promise<Float32Array | null> {
  const npy = stringOption(args, "expression");
  const timestep = numberOption(args, "timestep", { integer: true, min: 0 });
  const frame = numberOption(args, "frame", { integer: true, min: 0 });
  if (args.values.canonical && (npy || timestep !== undefined)) {
    throw new UsageError("--canonical cannot be combined with --expression or --timestep");
  }
  if (npy && timestep !== undefined) {
    throw new UsageError("give either --expression CODES.npy or --timestep T");
  }
  if (frame !== undefined && !npy) throw new UsageError("--frame selects a row of --expression CODES.npy");
  if (npy) {
    const arr = readNpy(
      await Deno.readFile(npy).catch(() => {
        throw new DataError(npy, "cannot be read", "Give a .npy file of expression codes ([T, D] or [D])");
      }),
      npy,
    );
    const data = npyToFloat32(arr),
      D = arr.shape.at(-1) ?? 0,
      rows = arr.shape.length > 1 ? data.length / D : 1;
    const i = frame ?? 0;
    if (i >= rows) throw new DataError(npy, `has ${rows} rows; --frame ${i} is out of range`);
    return data.slice(i * D, (i + 1) * D);
  }
  if (timestep !== undefined) {
    let data = stringOption(args, "data");
    if (!data) {
      const cfg = (await loadAvatarFile(avatar)).config;
      data = typeof cfg?.data === "string" ? cfg.data : undefined;
    }
    if (!data) throw new UsageError("--timestep needs --data DIR (the avatar does not name its dataset)");
    const index = await readDatasetIndex(data);
    if (timestep >= index.timesteps) {
      throw new DataError(data, `has ${index.timesteps} timesteps; --timestep ${timestep} is out of range`);
    }
    const D = index.expressionDim;
    return index.expressions.slice(timestep * D, (timestep + 1) * D);
  }
  return null;
}

export const exportCommand: Command = {
  name: "export",
  summary:
    "write a trained avatar as a compressed .npga, or as PLY / SPZ posed at an expression (or canonical)",
  positionals: ["AVATAR"],
  usage:
    "(--npga OUT | --ply OUT | --spz OUT)... [--expression CODES.npy [--frame I] | --timestep T [--data DIR] " +
    "| --canonical] [--bits k=v,...]",
  options: {
    npga: { type: "string", value: "OUT", description: "write the compressed avatar (.npga)" },
    ply: { type: "string", value: "OUT", description: "write the posed Gaussians as a 3DGS PLY" },
    spz: { type: "string", value: "OUT", description: "write the posed Gaussians as SPZ version 3" },
    expression: {
      type: "string",
      value: "CODES.npy",
      description: "pose at a row of this [T, D] code array",
    },
    frame: { type: "string", value: "I", description: "row of --expression (default 0)" },
    timestep: { type: "string", value: "T", description: "pose at this dataset timestep's expression" },
    data: { type: "string", value: "DIR", description: "dataset of --timestep (default: the avatar's own)" },
    canonical: {
      type: "boolean",
      description: "write the canonical Gaussians (the default without an expression)",
    },
    bits: {
      type: "string",
      value: "k=v,...",
      description:
        "bit depths of the .npga: position, rotation, scale, opacity, dc, sh, feature (1..16), network (8 or 16)",
    },
  },
  async run(args) {
    const avatar = args.positionals[0];
    if (!avatar) {
      throw new UsageError("give the avatar (a checkpoint .safetensors, a run folder or an .npga file)");
    }
    const [npga, ply, spz] = ["npga", "ply", "spz"].map((k) => stringOption(args, k));
    if (!npga && !ply && !spz) throw new UsageError("give at least one of --npga OUT, --ply OUT, --spz OUT");
    const expression = await expressionFromArgs(args, avatar);
    await exportAvatar({ avatar, npga, ply, spz, expression, bits: parseBits(stringOption(args, "bits")) });
  },
};
