/** SVG line charts (with optional error bars) for the analysis reports, rasterised with sharp. */
import fs from "node:fs";
import path from "node:path";
import sharp from "sharp";

export interface ChartPoint {
  x: number;
  y: number;
  /** Error bar ends, when the point is a mean with an interval. */
  low?: number | null;
  high?: number | null;
}

export interface ChartSeries {
  label: string;
  color: string;
  dashed?: boolean;
  points: ChartPoint[];
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  /** Log-10 x axis, ticks at the data's x values. */
  logX?: boolean;
  /** A horizontal reference line (e.g. 0 for a gain). */
  referenceY?: number;
  /** A line of small print under the title. */
  note?: string;
}

const WIDTH = 920;
const HEIGHT = 540;
const MARGIN = { left: 80, right: 250, top: 66, bottom: 60 };

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

function svg(parts: string[], width = WIDTH, height = HEIGHT): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif"><rect width="${width}" height="${height}" fill="white"/>${parts.join("")}</svg>`;
}

function heading(title: string, note: string | undefined): string[] {
  return [
    `<text x="${MARGIN.left}" y="30" font-size="19" font-weight="bold">${escapeXml(title)}</text>`,
    ...(note ? [`<text x="${MARGIN.left}" y="50" font-size="12" fill="#555">${escapeXml(note)}</text>`] : []),
  ];
}

export function lineChartSvg(chart: LineChart): string {
  const points = chart.series.flatMap((s) => s.points);
  if (points.length === 0) throw new Error(`chart "${chart.title}" has no points`);
  const fx = (x: number) => (chart.logX ? Math.log10(x) : x);
  const xs = points.map((p) => fx(p.x));
  const ys = points.flatMap((p) => [p.y, p.low ?? p.y, p.high ?? p.y]).concat(chart.referenceY ?? []);
  const xPad = (Math.max(...xs) - Math.min(...xs)) * 0.04 || 0.5;
  const xMin = Math.min(...xs) - xPad;
  const xMax = Math.max(...xs) + xPad;
  const yPad = (Math.max(...ys) - Math.min(...ys)) * 0.06 || 0.01;
  const yMin = Math.min(...ys) - yPad;
  const yMax = Math.max(...ys) + yPad;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const px = (x: number) => MARGIN.left + ((fx(x) - xMin) / (xMax - xMin)) * plotW;
  const py = (y: number) => MARGIN.top + (1 - (y - yMin) / (yMax - yMin)) * plotH;
  const parts = heading(chart.title, chart.note);
  for (const t of niceTicks(yMin, yMax, 8)) {
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${py(t)}" y2="${py(t)}" stroke="#e6e6e6"/>`,
    );
    parts.push(`<text x="${MARGIN.left - 8}" y="${py(t) + 4}" font-size="12" text-anchor="end">${t}</text>`);
  }
  const xTicks = chart.logX
    ? [...new Set(points.map((p) => p.x))].sort((a, b) => a - b)
    : niceTicks(xMin, xMax, 10).filter(Number.isInteger);
  for (const t of xTicks) {
    parts.push(
      `<text x="${px(t)}" y="${MARGIN.top + plotH + 20}" font-size="12" text-anchor="middle">${t.toLocaleString("en")}</text>`,
    );
  }
  if (chart.referenceY !== undefined) {
    const y = py(chart.referenceY);
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y}" y2="${y}" stroke="#888" stroke-width="1.5"/>`,
    );
  }
  parts.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 15}" font-size="14" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`,
    `<text transform="translate(22 ${MARGIN.top + plotH / 2}) rotate(-90)" font-size="14" text-anchor="middle">${escapeXml(chart.yLabel)}</text>`,
  );
  chart.series.forEach((s, i) => {
    const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
    // Series sharing x values are nudged apart so their error bars do not hide each other.
    const nudge = chart.logX ? (i - (chart.series.length - 1) / 2) * 6 : 0;
    const line = s.points
      .map((p, k) => `${k === 0 ? "M" : "L"}${(px(p.x) + nudge).toFixed(1)},${py(p.y).toFixed(1)}`)
      .join(" ");
    parts.push(`<path d="${line}" fill="none" stroke="${s.color}" stroke-width="2.2"${dash}/>`);
    for (const p of s.points) {
      const x = px(p.x) + nudge;
      if (p.low != null && p.high != null) {
        parts.push(
          `<line x1="${x}" x2="${x}" y1="${py(p.low)}" y2="${py(p.high)}" stroke="${s.color}" stroke-width="1.5"/>`,
        );
        for (const end of [p.low, p.high])
          parts.push(
            `<line x1="${x - 4}" x2="${x + 4}" y1="${py(end)}" y2="${py(end)}" stroke="${s.color}" stroke-width="1.5"/>`,
          );
      }
      parts.push(`<circle cx="${x}" cy="${py(p.y)}" r="3" fill="${s.color}"/>`);
    }
    const ly = MARGIN.top + 10 + i * 22;
    const lx = MARGIN.left + plotW + 14;
    parts.push(
      `<line x1="${lx}" x2="${lx + 28}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2.2"${dash}/>`,
    );
    parts.push(`<text x="${lx + 36}" y="${ly + 4}" font-size="12">${escapeXml(s.label)}</text>`);
  });
  return svg(parts);
}

/** Writes `<base>.svg` and `<base>.png`, each through a temporary file. */
export async function writeChart(base: string, svgText: string): Promise<void> {
  fs.mkdirSync(path.dirname(base), { recursive: true });
  const png = await sharp(Buffer.from(svgText)).png().toBuffer();
  for (const [file, data] of [
    [`${base}.svg`, svgText],
    [`${base}.png`, png],
  ] as const) {
    fs.writeFileSync(`${file}.tmp`, data);
    fs.renameSync(`${file}.tmp`, file);
  }
}
