/**
 * Line charts: each series a colour and a dash pattern with a legend entry, optional error bars,
 * y ticks that span the data in the tables' units (percent for accuracies), titled axes.
 */
import { escapeXml, heading, svgDocument, text, textWidth } from "./svg.ts";
import { displayScale, innerTicks, niceStep, spanningTicks, type TickFormat, tickLabel } from "./ticks.ts";

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
  /** A stroke-dasharray; "none" is solid. */
  dash: string;
  points: readonly ChartPoint[];
  /** Line width; the default 2. */
  width?: number;
}

export interface ChartAxis {
  title: string;
  /** How tick labels read (y values of a percent axis are fractions); default "number". */
  format?: TickFormat;
  /** Log-10 axis (x only), ticked at the data's x values. */
  log?: boolean;
  /** Whole-number ticks only (epochs). */
  integer?: boolean;
}

export interface LineChart {
  title: string;
  /** A line of small print under the title. */
  note?: string;
  x: ChartAxis;
  y: ChartAxis;
  series: readonly ChartSeries[];
  /** A horizontal reference line in data units (0 for a gain). */
  referenceY?: number;
  /** A labelled vertical line at an x value (the epoch validation chose). */
  markX?: { x: number; label: string };
}

export class ChartError extends Error {
  override name = "ChartError";
}

const PLOT = { left: 92, top: 70, width: 620, height: 400, bottom: 64 };
const LEGEND_GAP = 24;
const LEGEND_ROW = 22;
const MARKER = 3;

function checkedSeries(chart: LineChart): ChartSeries[] {
  const drawn = chart.series.filter((s) => s.points.length > 0);
  if (drawn.length === 0) throw new ChartError(`chart "${chart.title}" has no points`);
  for (const s of drawn) {
    s.points.forEach((p, k) => {
      const ends = [p.low, p.high].filter((v) => v !== undefined && v !== null);
      if (![p.x, p.y, ...ends].every(Number.isFinite))
        throw new ChartError(
          `chart "${chart.title}": series "${s.label}" has a value that is not a finite number at point ${k} (x ${p.x}, y ${p.y})`,
        );
      if (chart.x.log && p.x <= 0)
        throw new ChartError(`chart "${chart.title}": series "${s.label}" has x ${p.x} on a log axis`);
    });
  }
  return drawn;
}

/** The chart as an SVG document. Series without points are left out, legend included. */
export function lineChartSvg(chart: LineChart): string {
  const series = checkedSeries(chart);
  const points = series.flatMap((s) => s.points);
  const yFormat = chart.y.format ?? "number";
  const yScale = displayScale(yFormat);
  const fx = (x: number) => (chart.x.log ? Math.log10(x) : x);

  const xs = points.map((p) => fx(p.x));
  let xMin = Math.min(...xs);
  let xMax = Math.max(...xs);
  if (chart.x.log || xMin === xMax) {
    const pad = (xMax - xMin) * 0.05 || 0.5;
    xMin -= pad;
    xMax += pad;
  }
  const ys = points
    .flatMap((p) => [p.y, p.low ?? p.y, p.high ?? p.y])
    .concat(chart.referenceY ?? [])
    .map((y) => y * yScale);
  const yTicks = spanningTicks(Math.min(...ys), Math.max(...ys), 8);
  const yMin = yTicks[0] as number;
  const yMax = yTicks[yTicks.length - 1] as number;
  const yStep = (yTicks[1] as number) - yMin;

  const px = (x: number) => PLOT.left + ((fx(x) - xMin) / (xMax - xMin)) * PLOT.width;
  const py = (y: number) => PLOT.top + (1 - (y * yScale - yMin) / (yMax - yMin)) * PLOT.height;
  const right = PLOT.left + PLOT.width;
  const bottom = PLOT.top + PLOT.height;

  const parts = heading(PLOT.left, chart.title, chart.note);
  for (const t of yTicks) {
    const y = PLOT.top + (1 - (t - yMin) / (yMax - yMin)) * PLOT.height;
    parts.push(`<line x1="${PLOT.left}" x2="${right}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`);
    parts.push(
      `<g class="y-tick">${text(PLOT.left - 8, y + 4, tickLabel(t, yStep, yFormat), { size: 12, anchor: "end" })}</g>`,
    );
  }
  const step = niceStep(xMin, xMax, 10);
  // Whole-number axes step by 1, 2, 5, 10...: never 2.5 or a fraction.
  const xStep = !chart.x.integer ? step : step < 1 ? 1 : Number.isInteger(step) ? step : step * 2;
  const xTicks = chart.x.log
    ? [...new Set(points.map((p) => p.x))].sort((a, b) => a - b)
    : innerTicks(xMin, xMax, xStep);
  for (const t of xTicks) {
    const label = chart.x.log ? t.toLocaleString("en") : tickLabel(t, xStep, chart.x.format ?? "number");
    parts.push(`<line x1="${px(t)}" x2="${px(t)}" y1="${bottom}" y2="${bottom + 5}" stroke="#444"/>`);
    parts.push(`<g class="x-tick">${text(px(t), bottom + 20, label, { size: 12, anchor: "middle" })}</g>`);
  }
  if (chart.referenceY !== undefined) {
    const y = py(chart.referenceY);
    parts.push(
      `<line x1="${PLOT.left}" x2="${right}" y1="${y}" y2="${y}" stroke="#777" stroke-width="1.5"/>`,
    );
  }
  if (chart.markX !== undefined) {
    const { x, label } = chart.markX;
    if (!Number.isFinite(x) || fx(x) < xMin || fx(x) > xMax)
      throw new ChartError(`chart "${chart.title}": the mark at x ${x} is outside the data`);
    // The label sits on the side of the line with more room.
    const leftHalf = px(x) < PLOT.left + PLOT.width / 2;
    const markLabel = text(px(x) + (leftHalf ? 4 : -4), PLOT.top + 14, label, {
      size: 11,
      anchor: leftHalf ? "start" : "end",
      fill: "#333",
    });
    parts.push(
      `<g class="mark-x"><line x1="${px(x)}" x2="${px(x)}" y1="${PLOT.top}" y2="${bottom}" stroke="#555" stroke-dasharray="3 3"/>${markLabel}</g>`,
    );
  }
  parts.push(
    `<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.width}" height="${PLOT.height}" fill="none" stroke="#444"/>`,
    text(PLOT.left + PLOT.width / 2, bottom + 44, chart.x.title, { size: 14, anchor: "middle" }),
    text(24, PLOT.top + PLOT.height / 2, chart.y.title, { size: 14, anchor: "middle", rotate: -90 }),
  );

  const legendX = right + LEGEND_GAP;
  series.forEach((s, i) => {
    const width = s.width ?? 2;
    // Series sharing x values on a log axis are nudged apart so their error bars stay visible.
    const nudge = chart.x.log ? (i - (series.length - 1) / 2) * 6 : 0;
    const line = s.points
      .map((p, k) => `${k === 0 ? "M" : "L"}${(px(p.x) + nudge).toFixed(1)},${py(p.y).toFixed(1)}`)
      .join(" ");
    const stroke = `stroke="${s.color}" stroke-width="${width}" stroke-dasharray="${s.dash}"`;
    parts.push(`<path class="series" data-label="${escapeXml(s.label)}" d="${line}" fill="none" ${stroke}/>`);
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
      parts.push(`<circle cx="${x.toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="${MARKER}" fill="${s.color}"/>`);
    }
    const ly = PLOT.top + 12 + i * LEGEND_ROW;
    parts.push(
      `<g class="legend-entry" data-label="${escapeXml(s.label)}"><line x1="${legendX}" x2="${legendX + 40}" y1="${ly}" y2="${ly}" ${stroke}/><circle cx="${legendX + 20}" cy="${ly}" r="${MARKER}" fill="${s.color}"/>${text(legendX + 48, ly + 4, s.label, { size: 13 })}</g>`,
    );
  });
  const legendWidth = 48 + Math.max(...series.map((s) => textWidth(s.label, 13)));
  const width = Math.ceil(Math.max(legendX + legendWidth + 16, PLOT.left + textWidth(chart.title, 19)));
  return svgDocument(width, bottom + PLOT.bottom, parts);
}
