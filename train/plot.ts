/** Small SVG charts for the comparison report, rasterised to PNG with sharp. */
import sharp from "sharp";
import { writeFileAtomic } from "../stage-files/files.ts";

export interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  points: [number, number][];
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
}

const WIDTH = 900;
const HEIGHT = 520;
const MARGIN = { left: 80, right: 230, top: 50, bottom: 60 };

const escapeXml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function niceTicks(min: number, max: number, count: number): number[] {
  const span = max - min || Math.abs(max) || 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step)
    ticks.push(Number(t.toFixed(10)));
  return ticks;
}

export function lineChartSvg(chart: LineChart): string {
  const all = chart.series.flatMap((s) => s.points);
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const xMin = Math.min(...xs, 1);
  const xMax = Math.max(...xs, 2);
  const pad = (Math.max(...ys) - Math.min(...ys)) * 0.05 || 0.01;
  const yMin = Math.min(...ys) - pad;
  const yMax = Math.max(...ys) + pad;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const px = (x: number) => MARGIN.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const py = (y: number) => MARGIN.top + (1 - (y - yMin) / (yMax - yMin)) * plotH;
  const parts: string[] = [
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${MARGIN.left}" y="30" font-size="20" font-weight="bold">${escapeXml(chart.title)}</text>`,
  ];
  for (const t of niceTicks(yMin, yMax, 8)) {
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${py(t)}" y2="${py(t)}" stroke="#e3e3e3"/>`,
    );
    parts.push(`<text x="${MARGIN.left - 8}" y="${py(t) + 4}" font-size="13" text-anchor="end">${t}</text>`);
  }
  for (const t of niceTicks(xMin, xMax, 10).filter(Number.isInteger)) {
    parts.push(
      `<text x="${px(t)}" y="${MARGIN.top + plotH + 20}" font-size="13" text-anchor="middle">${t}</text>`,
    );
  }
  parts.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 15}" font-size="15" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`,
    `<text transform="translate(20 ${MARGIN.top + plotH / 2}) rotate(-90)" font-size="15" text-anchor="middle">${escapeXml(chart.yLabel)}</text>`,
  );
  chart.series.forEach((s, i) => {
    const path = s.points
      .map(([x, y], k) => `${k === 0 ? "M" : "L"}${px(x).toFixed(1)},${py(y).toFixed(1)}`)
      .join(" ");
    const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
    parts.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2.5"${dash}/>`);
    for (const [x, y] of s.points)
      parts.push(`<circle cx="${px(x)}" cy="${py(y)}" r="2.5" fill="${s.color}"/>`);
    const ly = MARGIN.top + 10 + i * 24;
    const lx = MARGIN.left + plotW + 15;
    parts.push(
      `<line x1="${lx}" x2="${lx + 30}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2.5"${dash}/>`,
    );
    parts.push(`<text x="${lx + 38}" y="${ly + 5}" font-size="13">${escapeXml(s.label)}</text>`);
  });
  return svg(WIDTH, HEIGHT, parts);
}

function svg(width: number, height: number, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif">${parts.join("")}</svg>`;
}

export interface AlphaUnit {
  unit: string;
  /** [rows][N][N] */
  values: number[][][];
}

/** Blue shade for a weight in [0, 1]: white = 0, dark blue = 1. */
function shade(value: number): string {
  const v = Math.max(0, Math.min(1, value));
  const channel = (from: number, to: number) => Math.round(from + (to - from) * v);
  return `rgb(${channel(255, 8)},${channel(255, 48)},${channel(255, 107)})`;
}

/**
 * Per unit: the channel-averaged N x N alpha as a shaded grid with its numbers, and each tower's
 * self weight alpha[c, i, i] per channel, sorted, as a strip (left: most sharing).
 */
export function alphaSvg(units: AlphaUnit[], taskNames: string[]): string {
  const n = taskNames.length;
  const cell = 70;
  const stripW = 360;
  const rowH = Math.max(n * cell, n * 40) + 90;
  const width = 170 + n * cell + 80 + stripW + 140;
  const height = 60 + units.length * rowH;
  const parts: string[] = [
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="20" y="32" font-size="20" font-weight="bold">Learned cross-stitch alphas (row i: how tower i mixes the towers)</text>`,
  ];
  units.forEach((u, k) => {
    const top = 70 + k * rowH;
    const rows = u.values.length;
    const mean = Array.from({ length: n }, (_, i) =>
      Array.from({ length: n }, (_, j) => u.values.reduce((a, m) => a + (m[i]?.[j] as number), 0) / rows),
    );
    parts.push(`<text x="20" y="${top + 14}" font-size="16" font-weight="bold">${escapeXml(u.unit)}</text>`);
    parts.push(
      `<text x="20" y="${top + 34}" font-size="12">${rows === 1 ? "layer-wise" : `${rows} channels, mean`}</text>`,
    );
    const gridX = 170;
    mean.forEach((row, i) => {
      parts.push(
        `<text x="${gridX - 8}" y="${top + 30 + i * cell + cell / 2}" font-size="12" text-anchor="end">${escapeXml(taskNames[i] ?? "")}</text>`,
      );
      row.forEach((value, j) => {
        const x = gridX + j * cell;
        const y = top + 30 + i * cell;
        parts.push(
          `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${shade(value)}" stroke="#888"/>`,
        );
        const ink = value > 0.5 ? "white" : "black";
        parts.push(
          `<text x="${x + cell / 2}" y="${y + cell / 2 + 5}" font-size="14" text-anchor="middle" fill="${ink}">${value.toFixed(3)}</text>`,
        );
      });
    });
    taskNames.forEach((name, j) => {
      parts.push(
        `<text x="${gridX + j * cell + cell / 2}" y="${top + 24}" font-size="12" text-anchor="middle">${escapeXml(name)}</text>`,
      );
    });
    const stripX = gridX + n * cell + 80;
    const stripH = n * cell;
    const lo = Math.min(0, ...u.values.flatMap((m) => m.map((r, i) => r[i] as number)));
    const hi = Math.max(1, ...u.values.flatMap((m) => m.map((r, i) => r[i] as number)));
    const sy = (v: number) => top + 30 + (1 - (v - lo) / (hi - lo)) * stripH;
    parts.push(
      `<rect x="${stripX}" y="${top + 30}" width="${stripW}" height="${stripH}" fill="none" stroke="#444"/>`,
    );
    parts.push(
      `<text x="${stripX}" y="${top + 24}" font-size="12">self weight alpha[c,i,i] per channel, sorted</text>`,
    );
    for (const v of [lo, 0.5, hi]) {
      parts.push(
        `<text x="${stripX - 6}" y="${sy(v) + 4}" font-size="11" text-anchor="end">${v.toFixed(2)}</text>`,
      );
    }
    const colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
    taskNames.forEach((name, i) => {
      const selfWeights = u.values.map((m) => m[i]?.[i] as number).sort((a, b) => a - b);
      const sx = (c: number) =>
        stripX + (selfWeights.length === 1 ? stripW / 2 : (c / (selfWeights.length - 1)) * stripW);
      const color = colors[i % colors.length] as string;
      const d = selfWeights
        .map((v, c) => `${c === 0 ? "M" : "L"}${sx(c).toFixed(1)},${sy(v).toFixed(1)}`)
        .join(" ");
      parts.push(
        selfWeights.length === 1
          ? `<circle cx="${sx(0)}" cy="${sy(selfWeights[0] as number)}" r="5" fill="${color}"/>`
          : `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`,
      );
      parts.push(
        `<text x="${stripX + stripW + 8}" y="${top + 44 + i * 18}" font-size="12" fill="${color}">${escapeXml(name)}</text>`,
      );
    });
  });
  return svg(width, height, parts);
}

export async function writePng(file: string, svgText: string): Promise<void> {
  writeFileAtomic(file, await sharp(Buffer.from(svgText)).png().toBuffer());
}
