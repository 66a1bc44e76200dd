// The shared chart module: what a reader of a plot relies on (a legend entry per series, series
// told apart by colour and dash, percent ticks that enclose the data) and clear errors on bad data.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { alphaSvg } from "../../charts/alphas.ts";
import { ChartError, type ChartSeries, type LineChart, lineChartSvg } from "../../charts/line-chart.ts";
import { reliabilitySvg } from "../../charts/reliability.ts";
import { lineStyle } from "../../charts/style.ts";
import { spanningTicks, tickLabel } from "../../charts/ticks.ts";
import { writeChart } from "../../stage-files/chart-files.ts";
import { legendLabels, seriesDashes, tickLabels } from "./svg-reading.ts";

const accuracies: Record<string, number[]> = {
  fashion: [0.8712, 0.9034, 0.9181],
  category: [0.9101, 0.9377, 0.9466],
  mean: [0.8906, 0.9205, 0.9323],
};

function accuracyChart(series: ChartSeries[]): LineChart {
  return {
    title: "accuracy per epoch",
    x: { title: "epoch", integer: true },
    y: { title: "test accuracy", format: "percent" },
    series,
  };
}

const perTask = (): ChartSeries[] =>
  Object.entries(accuracies).map(([label, ys], k) => ({
    label,
    ...lineStyle(k),
    points: ys.map((y, i) => ({ x: i + 1, y })),
  }));

test("every series has a legend entry and its own colour and dash", () => {
  const svg = lineChartSvg(accuracyChart(perTask()));
  assert.deepEqual(legendLabels(svg), ["fashion", "category", "mean"]);
  const dashes = seriesDashes(svg);
  assert.equal(dashes.size, 3);
  assert.equal(new Set(dashes.values()).size, 3, `dashes ${[...dashes.values()]}`);
  const colors = [...svg.matchAll(/<path class="series"[^>]*stroke="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(new Set(colors).size, 3);
  assert.equal(new Set(Array.from({ length: 7 }, (_, k) => lineStyle(k).dash)).size, 7);
});

test("accuracy ticks read in percent like the tables and enclose the data", () => {
  const svg = lineChartSvg(accuracyChart(perTask()));
  const labels = tickLabels(svg, "y");
  assert.ok(labels.length >= 3, labels.join(", "));
  for (const label of labels) assert.match(label, /^\d{2}(\.\d+)? %$/);
  const values = labels.map((label) => Number.parseFloat(label));
  const all = Object.values(accuracies).flat();
  assert.ok((values[0] as number) <= Math.min(...all) * 100, `lowest tick ${values[0]}`);
  assert.ok((values[values.length - 1] as number) >= Math.max(...all) * 100, `highest tick ${values.at(-1)}`);
  assert.deepEqual(tickLabels(svg, "x"), ["1", "2", "3"]);
  assert.equal(tickLabel(92.5, 0.5, "percent"), "92.5 %");
  assert.equal(tickLabel(0.5, 0.25, "signed"), "+0.50");
  assert.equal(tickLabel(0, 0.25, "signed"), "0");
});

test("ticks span any range, including a single value", () => {
  for (const [min, max] of [
    [87.12, 94.66],
    [-0.731, 1.468],
    [0.1, 0.1],
    [0, 0],
    [12_000, 60_000],
  ] as const) {
    const ticks = spanningTicks(min, max, 8);
    assert.ok(ticks.length >= 2 && ticks.length <= 12, `${min}-${max}: ${ticks}`);
    assert.ok((ticks[0] as number) <= min && (ticks.at(-1) as number) >= max, `${min}-${max}: ${ticks}`);
    assert.ok((ticks[0] as number) < (ticks.at(-1) as number));
  }
  assert.throws(() => spanningTicks(0, Number.NaN, 8), /finite range/);
});

test("a vertical mark names an x inside the data and refuses one outside it", () => {
  const chart = accuracyChart(perTask());
  const svg = lineChartSvg({ ...chart, markX: { x: 2, label: "validation choice: ema, epoch 2" } });
  assert.match(
    svg,
    /<g class="mark-x"><line [^>]*\/><text[^>]*>validation choice: ema, epoch 2<\/text><\/g>/,
  );
  assert.throws(
    () => lineChartSvg({ ...chart, markX: { x: 7, label: "late" } }),
    /mark at x 7 is outside the data/,
  );
});

test("an empty series is left out, legend included; no points at all is an error", () => {
  const [first, second] = perTask();
  const svg = lineChartSvg(accuracyChart([first as ChartSeries, { ...(second as ChartSeries), points: [] }]));
  assert.deepEqual(legendLabels(svg), ["fashion"]);
  assert.throws(
    () => lineChartSvg(accuracyChart([{ label: "nothing", ...lineStyle(0), points: [] }])),
    (error: Error) =>
      error instanceof ChartError && /chart "accuracy per epoch" has no points/.test(error.message),
  );
});

test("a value that is not a finite number is a clear error naming the series", () => {
  const series = perTask();
  (series[1] as ChartSeries).points = [
    { x: 1, y: 0.9 },
    { x: 2, y: Number.NaN },
  ];
  assert.throws(
    () => lineChartSvg(accuracyChart(series)),
    /series "category" has a value that is not a finite number at point 1/,
  );
  const withBadBar = [
    { label: "gain", ...lineStyle(0), points: [{ x: 1000, y: 1, low: Number.NaN, high: 2 }] },
  ];
  assert.throws(
    () => lineChartSvg({ ...accuracyChart(withBadBar), x: { title: "n", log: true } }),
    /series "gain"/,
  );
  const atZero = [{ label: "gain", ...lineStyle(0), points: [{ x: 0, y: 1 }] }];
  assert.throws(() => lineChartSvg({ ...accuracyChart(atZero), x: { title: "n", log: true } }), /log axis/);
});

test("error bars are drawn where a point has an interval, and the ticks enclose them", () => {
  const svg = lineChartSvg({
    title: "gain",
    x: { title: "images", log: true },
    y: { title: "gain (points)", format: "signed" },
    referenceY: 0,
    series: [
      {
        label: "fashion",
        ...lineStyle(0),
        points: [
          { x: 1000, y: 1.2, low: -0.4, high: 2.8 },
          { x: 10_000, y: 0.3, low: null, high: null },
        ],
      },
    ],
  });
  assert.deepEqual(tickLabels(svg, "x"), ["1,000", "10,000"]);
  const ys = tickLabels(svg, "y").map(Number.parseFloat);
  assert.ok((ys[0] as number) <= -0.4 && (ys.at(-1) as number) >= 2.8, ys.join(", "));
  // One bar and its two caps for the interval, none for the point without one.
  const bars = [...svg.matchAll(/<line [^>]*stroke-width="1.5"\/>/g)].length;
  assert.equal(bars, 3 + 1, "three error-bar lines and the reference line");
});

test("alphas: a grid per unit and one self-weight line per task, each in its own dash, with a legend", () => {
  const units = [
    {
      unit: "cross_stitch_1",
      values: [
        [
          [0.9, 0.1],
          [0.2, 0.8],
        ],
        [
          [1.4, -0.1],
          [0.0, 1.2],
        ],
      ],
    },
  ];
  const svg = alphaSvg(units, ["fashion", "category"]);
  assert.deepEqual(legendLabels(svg), ["fashion", "category"]);
  const dashes = [...svg.matchAll(/<path class="series"[^>]*stroke-dasharray="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(new Set(dashes).size, 2);
  assert.match(svg, />1\.150</, "the channel mean of the fashion self weight");
  (units[0]?.values[0]?.[0] as number[])[0] = Number.NaN;
  assert.throws(
    () => alphaSvg(units, ["fashion", "category"]),
    /cross_stitch_1 holds a value that is not a finite/,
  );
  assert.throws(() => alphaSvg(units, ["fashion", "category", "third"]), /not a list of 3 x 3 matrices/);
});

test("reliability diagram: percent axes, a legend, and an error for a task without answers", () => {
  const bins = [
    { low: 0, high: 0.5, count: 10, confidence: 0.4, accuracy: 0.3 },
    { low: 0.5, high: 1, count: 30, confidence: 0.8, accuracy: 0.9 },
  ];
  const svg = reliabilitySvg("reliability", "two bins", [{ label: "fashion", bins }]);
  assert.deepEqual(tickLabels(svg, "y"), ["0 %", "20 %", "40 %", "60 %", "80 %", "100 %"]);
  assert.equal(legendLabels(svg).length, 3);
  const empty = bins.map((b) => ({ ...b, count: 0, accuracy: Number.NaN }));
  assert.throws(
    () => reliabilitySvg("r", "", [{ label: "category", bins: empty }]),
    /category has no answers/,
  );
});

test("writeChart writes the SVG and a PNG rendered from it", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stitch-charts-"));
  const base = path.join(dir, "nested", "accuracy");
  const svg = lineChartSvg(accuracyChart(perTask()));
  await writeChart(base, svg);
  assert.equal(fs.readFileSync(`${base}.svg`, "utf8"), svg);
  const png = fs.readFileSync(`${base}.png`);
  assert.equal(png.subarray(1, 4).toString(), "PNG");
  const width = png.readUInt32BE(16);
  assert.equal(width, Number(/width="(\d+)"/.exec(svg)?.[1]));
  assert.deepEqual(fs.readdirSync(path.dirname(base)).sort(), ["accuracy.png", "accuracy.svg"]);
  fs.rmSync(dir, { recursive: true, force: true });
});
