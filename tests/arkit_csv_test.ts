import assert from "node:assert/strict";
import {
  ARKIT_BLENDSHAPES,
  blendshapeKey,
  describeArkitMatch,
  isArkitBlendshape,
  parseArkitCsv,
} from "../data/arkit_csv.ts";
import { DataError } from "../data/errors.ts";
import { SYNTHETIC_BLENDSHAPES } from "../data/synthetic_head.ts";

const ROTATIONS =
  "HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll";

/** A full Live Link Face header (PascalCase names, as the app writes them). */
function liveLinkHeader(): string {
  const pascal = ARKIT_BLENDSHAPES.map((n) => n[0].toUpperCase() + n.slice(1));
  return ["Timecode", "BlendShapeCount", ...pascal, ...ROTATIONS.split(",")].join(",");
}

function throwsData(f: () => unknown, pattern: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected a DataError, got ${e}`);
    assert.match(e.message, pattern);
    assert.ok(e.message.startsWith("take.csv:"), e.message);
    return true;
  });
}

Deno.test("blendshape names: case and side-suffix conventions compare equal", () => {
  for (
    const [a, b] of [["EyeBlinkLeft", "eyeBlink_L"], ["MouthSmileRight", "mouthSmile_R"], [
      "JawOpen",
      "jawOpen",
    ]]
  ) {
    assert.equal(blendshapeKey(a), blendshapeKey(b));
  }
  assert.equal(blendshapeKey("browOuterUp.L"), "browouterupleft");
  assert.notEqual(blendshapeKey("mouthLeft"), blendshapeKey("mouthSmileLeft"));
  assert.notEqual(blendshapeKey("eyeBlink_L"), blendshapeKey("eyeBlink_R"));
  assert.equal(ARKIT_BLENDSHAPES.length, 52);
  assert.equal(new Set(ARKIT_BLENDSHAPES.map(blendshapeKey)).size, 52);
  for (const n of SYNTHETIC_BLENDSHAPES) assert.ok(isArkitBlendshape(n), n);
  assert.ok(!isArkitBlendshape("expr 0"));
  assert.ok(!isArkitBlendshape("HeadYaw"));
});

Deno.test("ARKit CSV: full Live Link Face take drives the synthetic head's names", () => {
  const header = liveLinkHeader().split(",");
  const rows: string[] = [];
  for (let t = 0; t < 3; t++) {
    const vals = header.slice(2).map((_, c) => ((t * 100 + c) / 1000).toFixed(3));
    const tc = ["14:03:52:58.207", "14:03:52:59.207", "14:03:53:00.207"][t];
    rows.push([tc, "61", ...vals].join(","));
  }
  const text = [header.join(","), ...rows].join("\r\n") + "\r\n";
  const names = SYNTHETIC_BLENDSHAPES;
  const s = parseArkitCsv(text, names, "take.csv");
  assert.equal(s.frames, 3);
  assert.equal(s.dim, names.length);
  assert.equal(s.missing.length, 0, `missing: ${s.missing}`);
  assert.equal(s.matched.length, names.length);
  // 52 blendshapes, 20 used: 32 extra; BlendShapeCount and 9 rotations are not blendshapes.
  assert.equal(s.extra.length, 32);
  assert.ok(s.extra.includes("TongueOut") && s.extra.includes("EyeLookUpLeft"));
  assert.equal(s.nonBlendshape.length, 10);
  for (let t = 0; t < 3; t++) {
    for (const [d, n] of names.entries()) {
      const col = header.findIndex((h) => blendshapeKey(h) === blendshapeKey(n));
      const expect = Math.fround((t * 100 + (col - 2)) / 1000);
      assert.equal(s.codes[t * names.length + d], expect, `${n} at row ${t}`);
    }
  }
  assert.equal(s.fps, 60, "FF up to 60 infers 60 fps");
  assert.deepEqual(s.timecodes, ["14:03:52:58.207", "14:03:52:59.207", "14:03:53:00.207"]);
  assert.ok(Math.abs(s.seconds[1] - 1 / 60) < 1e-9 && Math.abs(s.seconds[2] - 2 / 60) < 1e-9);
  assert.match(describeArkitMatch(s), /20 of 20 expression dimensions matched/);
});

Deno.test("ARKit CSV: missing, extra and reordered columns; suffix names in the CSV", () => {
  const names = ["jawOpen", "mouthSmile_L", "mouthSmile_R", "eyeBlink_L", "cheekPuff"];
  const text = [
    "Timecode,BlendShapeCount,mouthSmile_R,TongueOut,JawOpen,EyeBlinkLeft,HeadYaw",
    "00:00:01:00.000,3,0.25,0.9,0.5,1,12.5",
    "00:00:01:15.000,3,0.75,0.1,0.0,0,-3",
  ].join("\n");
  const s = parseArkitCsv(text, names, "take.csv");
  assert.deepEqual(s.missing, ["mouthSmile_L", "cheekPuff"]);
  assert.deepEqual(s.extra, ["TongueOut"]);
  assert.deepEqual(s.nonBlendshape, ["BlendShapeCount", "HeadYaw"]);
  assert.deepEqual(Array.from(s.codes), [0.5, 0, 0.25, 1, 0, 0, 0, 0.75, 0, 0]);
  assert.equal(s.fps, 24, "FF up to 15 infers the smallest standard rate, 24");
  assert.ok(Math.abs(s.seconds[1] - 15 / 24) < 1e-9);
  const report = describeArkitMatch(s);
  assert.match(report, /missing \(held at 0\): mouthSmile_L, cheekPuff/);
  assert.match(report, /extra CSV columns \(ignored\): TongueOut/);

  const given = parseArkitCsv(text, names, "take.csv", { fps: 30 });
  assert.equal(given.fps, 30);
  assert.ok(Math.abs(given.seconds[1] - 0.5) < 1e-9);
});

Deno.test("ARKit CSV: no Timecode column, plain-seconds timecodes, no match at all", () => {
  const s = parseArkitCsv("jawOpen,eyeBlinkRight\n0.1,0.2\n0.3,0.4\n", ["eyeBlink_R", "jawOpen"], "take.csv");
  assert.deepEqual(Array.from(s.codes), [0.2, 0.1, 0.4, 0.3].map(Math.fround));
  assert.deepEqual(s.timecodes, ["", ""]);
  assert.equal(s.fps, 60);
  assert.ok(Math.abs(s.seconds[1] - 1 / 60) < 1e-12);

  const secs = parseArkitCsv("Timecode,JawOpen\n00:00:01.250,0\n00:00:01.750,1\n", ["jawOpen"], "take.csv");
  assert.ok(Math.abs(secs.seconds[1] - 0.5) < 1e-9);

  const none = parseArkitCsv("Timecode,JawOpen\n00:00:00:00,0.5\n", ["expr 0", "expr 1"], "take.csv");
  assert.equal(none.matched.length, 0);
  assert.deepEqual(none.missing, ["expr 0", "expr 1"]);
  assert.deepEqual(Array.from(none.codes), [0, 0]);
});

Deno.test("ARKit CSV: errors name the file, line and column", () => {
  const names = ["jawOpen"];
  throwsData(() => parseArkitCsv("", names, "take.csv"), /is empty/);
  throwsData(() => parseArkitCsv("\n \n", names, "take.csv"), /is empty/);
  throwsData(() => parseArkitCsv("0.1,0.2\n0.3,0.4\n", names, "take.csv"), /no header row/);
  throwsData(() => parseArkitCsv("Timecode,JawOpen\n", names, "take.csv"), /no data rows/);
  throwsData(
    () => parseArkitCsv("Timecode,JawOpen\n00:00:00:00,0.1\n00:00:00:01,abc\n", names, "take.csv"),
    /line 3, column 'JawOpen': 'abc' is not a number/,
  );
  throwsData(
    () => parseArkitCsv("Timecode,JawOpen,HeadYaw\n00:00:00:00,0.1,\n", names, "take.csv"),
    /line 2, column 'HeadYaw': '' is not a number/,
  );
  throwsData(
    () => parseArkitCsv("Timecode,JawOpen\n00:00:00:00,0.1\n00:00:00:01,0.2,0.3\n", names, "take.csv"),
    /line 3 has 3 cells but the header has 2 columns \(ragged row\)/,
  );
  throwsData(
    () => parseArkitCsv("Timecode,JawOpen\nyesterday,0.1\n", names, "take.csv"),
    /line 2, column 'Timecode': 'yesterday' is not a timecode/,
  );
  throwsData(
    () => parseArkitCsv("JawOpen,eyeBlinkLeft,jawOpen\n0,0,0\n", names, "take.csv"),
    /columns 'JawOpen' and 'jawOpen' name the same blendshape/,
  );
});
