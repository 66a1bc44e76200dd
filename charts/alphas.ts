/**
 * The learned cross-stitch alphas: per unit, the channel-averaged N x N matrix as a shaded grid
 * with its numbers, and each tower's self weight alpha[c, i, i] over the channels, sorted, one
 * line per task (colour and dash) with a legend.
 */
import { lineStyle } from "./style.ts";
import { heading, svgDocument, text } from "./svg.ts";
import { spanningTicks, tickLabel } from "./ticks.ts";

export interface AlphaUnit {
  unit: string;
  /** [rows][N][N]: one N x N matrix per channel (channel-wise) or one in all (layer-wise). */
  values: number[][][];
}

/** Blue shade for a weight: white at 0 or below, dark blue at 1 or above. */
function shade(value: number): string {
  const v = Math.max(0, Math.min(1, value));
  const channel = (from: number, to: number) => Math.round(from + (to - from) * v);
  return `rgb(${channel(255, 8)},${channel(255, 48)},${channel(255, 107)})`;
}

const CELL = 70;
const GRID_X = 170;
const STRIP_W = 380;

export function alphaSvg(units: readonly AlphaUnit[], taskNames: readonly string[]): string {
  const n = taskNames.length;
  if (units.length === 0) throw new Error("alpha chart: no cross-stitch units");
  for (const u of units) {
    if (u.values.length === 0 || u.values.some((m) => m.length !== n || m.some((row) => row.length !== n)))
      throw new Error(`alpha chart: unit ${u.unit} is not a list of ${n} x ${n} matrices`);
    if (!u.values.flat(2).every(Number.isFinite))
      throw new Error(`alpha chart: unit ${u.unit} holds a value that is not a finite number`);
  }
  const gridH = n * CELL;
  const rowH = gridH + 100;
  const stripX = GRID_X + n * CELL + 110;
  const legendX = stripX + STRIP_W + 24;
  const width = legendX + 150;
  const height = 70 + units.length * rowH;
  const parts = heading(
    20,
    "Learned cross-stitch alphas",
    "row i of a grid: how much tower i takes from each tower (1 on the diagonal and 0 elsewhere: no sharing)",
  );
  units.forEach((u, k) => {
    const top = 80 + k * rowH;
    const gridTop = top + 30;
    const rows = u.values.length;
    const mean = Array.from({ length: n }, (_, i) =>
      Array.from({ length: n }, (_, j) => u.values.reduce((a, m) => a + (m[i]?.[j] as number), 0) / rows),
    );
    parts.push(text(20, top + 14, u.unit, { size: 16, bold: true }));
    parts.push(text(20, top + 34, rows === 1 ? "layer-wise" : `${rows} channels, mean`, { size: 12 }));
    taskNames.forEach((name, j) => {
      parts.push(text(GRID_X + j * CELL + CELL / 2, gridTop - 6, name, { size: 12, anchor: "middle" }));
    });
    mean.forEach((row, i) => {
      parts.push(
        text(GRID_X - 8, gridTop + i * CELL + CELL / 2 + 4, taskNames[i] ?? "", { size: 12, anchor: "end" }),
      );
      row.forEach((value, j) => {
        const x = GRID_X + j * CELL;
        const y = gridTop + i * CELL;
        parts.push(
          `<rect x="${x}" y="${y}" width="${CELL}" height="${CELL}" fill="${shade(value)}" stroke="#888"/>`,
        );
        parts.push(
          text(x + CELL / 2, y + CELL / 2 + 5, value.toFixed(3), {
            size: 14,
            anchor: "middle",
            fill: value > 0.5 ? "white" : "black",
          }),
        );
      });
    });

    const selfWeights = taskNames.map((_, i) =>
      u.values.map((m) => m[i]?.[i] as number).sort((a, b) => a - b),
    );
    const ticks = spanningTicks(Math.min(0, ...selfWeights.flat()), Math.max(1, ...selfWeights.flat()), 4);
    const lo = ticks[0] as number;
    const hi = ticks[ticks.length - 1] as number;
    const step = (ticks[1] as number) - lo;
    const sy = (v: number) => gridTop + (1 - (v - lo) / (hi - lo)) * gridH;
    parts.push(text(stripX, gridTop - 6, "self weight alpha[c,i,i] of each channel c, sorted", { size: 12 }));
    for (const t of ticks) {
      parts.push(
        `<line x1="${stripX}" x2="${stripX + STRIP_W}" y1="${sy(t)}" y2="${sy(t)}" stroke="${t === 1 ? "#999" : "#e4e4e4"}"/>`,
        `<g class="y-tick">${text(stripX - 6, sy(t) + 4, tickLabel(t, step, "number"), { size: 11, anchor: "end" })}</g>`,
      );
    }
    parts.push(
      `<rect x="${stripX}" y="${gridTop}" width="${STRIP_W}" height="${gridH}" fill="none" stroke="#444"/>`,
      text(
        stripX + STRIP_W / 2,
        gridTop + gridH + 18,
        rows === 1 ? "" : `channels, lowest to highest (${rows})`,
        {
          size: 11,
          anchor: "middle",
        },
      ),
    );
    selfWeights.forEach((weights, i) => {
      const { color, dash } = lineStyle(i);
      const sx = (c: number) =>
        stripX + (weights.length === 1 ? STRIP_W / 2 : (c / (weights.length - 1)) * STRIP_W);
      const stroke = `stroke="${color}" stroke-width="2.2" stroke-dasharray="${dash}"`;
      parts.push(
        weights.length === 1
          ? `<circle class="series" cx="${sx(0)}" cy="${sy(weights[0] as number)}" r="5" fill="${color}"/>`
          : `<path class="series" d="${weights.map((v, c) => `${c === 0 ? "M" : "L"}${sx(c).toFixed(1)},${sy(v).toFixed(1)}`).join(" ")}" fill="none" ${stroke}/>`,
      );
      const ly = gridTop + 10 + i * 22;
      parts.push(
        `<g class="legend-entry"><line x1="${legendX}" x2="${legendX + 36}" y1="${ly}" y2="${ly}" ${stroke}/>${text(legendX + 44, ly + 4, taskNames[i] ?? "", { size: 12 })}</g>`,
      );
    });
  });
  return svgDocument(width, height, parts);
}
