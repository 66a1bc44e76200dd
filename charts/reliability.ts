/**
 * Reliability diagram, one panel per task: accuracy per confidence bin as bars against the
 * diagonal of perfect calibration, and each bin's share of the answers; axes in percent.
 */
import type { ReliabilityBin } from "../contracts/calibration.ts";
import { heading, svgDocument, text } from "./svg.ts";
import { tickLabel } from "./ticks.ts";

const PANEL = 380;
const GAP = 90;
const TOP = 90;
const LEFT = 80;
const BAR = "#0072B2";
const SHARE = "#D55E00";

export interface ReliabilityPanel {
  label: string;
  bins: readonly ReliabilityBin[];
}

export function reliabilitySvg(title: string, note: string, panels: readonly ReliabilityPanel[]): string {
  if (panels.length === 0) throw new Error("reliability diagram: no task");
  const width = LEFT + panels.length * (PANEL + GAP);
  const height = TOP + PANEL + 110;
  const parts = heading(LEFT, title, note);
  panels.forEach((panel, p) => {
    const total = panel.bins.reduce((a, b) => a + b.count, 0);
    if (total === 0) throw new Error(`reliability diagram: ${panel.label} has no answers`);
    const x0 = LEFT + p * (PANEL + GAP);
    const px = (v: number) => x0 + v * PANEL;
    const py = (v: number) => TOP + (1 - v) * PANEL;
    for (const t of [0, 0.2, 0.4, 0.6, 0.8, 1]) {
      const label = tickLabel(t * 100, 20, "percent");
      parts.push(
        `<line x1="${px(0)}" x2="${px(1)}" y1="${py(t)}" y2="${py(t)}" stroke="#eee"/>`,
        `<g class="y-tick">${text(px(0) - 6, py(t) + 4, label, { size: 11, anchor: "end" })}</g>`,
        `<g class="x-tick">${text(px(t), py(0) + 16, label, { size: 11, anchor: "middle" })}</g>`,
      );
    }
    for (const bin of panel.bins) {
      if (bin.count === 0) continue;
      const w = (bin.high - bin.low) * PANEL;
      parts.push(
        `<rect x="${px(bin.low) + 1}" y="${py(bin.accuracy)}" width="${w - 2}" height="${py(0) - py(bin.accuracy)}" fill="${BAR}" fill-opacity="0.7"/>`,
      );
      const share = bin.count / total;
      parts.push(
        `<rect x="${px(bin.low) + 1}" y="${py(share)}" width="${w - 2}" height="${py(0) - py(share)}" fill="none" stroke="${SHARE}" stroke-width="1.5"/>`,
      );
    }
    parts.push(
      `<line x1="${px(0)}" y1="${py(0)}" x2="${px(1)}" y2="${py(1)}" stroke="#333" stroke-dasharray="5 4"/>`,
      `<rect x="${px(0)}" y="${py(1)}" width="${PANEL}" height="${PANEL}" fill="none" stroke="#444"/>`,
      text(px(0.5), TOP - 12, panel.label, { size: 15, anchor: "middle", bold: true }),
      text(px(0.5), py(0) + 38, "top-class probability (confidence)", { size: 13, anchor: "middle" }),
      text(x0 - 52, TOP + PANEL / 2, "accuracy, share of answers", {
        size: 13,
        anchor: "middle",
        rotate: -90,
      }),
    );
  });
  const ly = height - 24;
  parts.push(
    `<g class="legend-entry"><rect x="${LEFT}" y="${ly - 10}" width="24" height="12" fill="${BAR}" fill-opacity="0.7"/>${text(LEFT + 30, ly, "accuracy of the answers in the bin", { size: 12 })}</g>`,
    `<g class="legend-entry"><rect x="${LEFT + 280}" y="${ly - 10}" width="24" height="12" fill="none" stroke="${SHARE}" stroke-width="1.5"/>${text(LEFT + 310, ly, "the bin's share of all answers", { size: 12 })}</g>`,
    `<g class="legend-entry"><line x1="${LEFT + 530}" x2="${LEFT + 560}" y1="${ly - 4}" y2="${ly - 4}" stroke="#333" stroke-dasharray="5 4"/>${text(LEFT + 566, ly, "perfect calibration", { size: 12 })}</g>`,
  );
  return svgDocument(width, height, parts);
}
