/** The reliability diagram of `npm run calibration`, as SVG and PNG (sharp). */
import fs from "node:fs";
import sharp from "sharp";
import type { ReliabilityBin } from "../contracts/calibration.ts";

const escapeXml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function svg(parts: string[], width: number, height: number): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif"><rect width="${width}" height="${height}" fill="white"/>${parts.join("")}</svg>`;
}

/** One panel per task: accuracy per confidence bin as bars against the diagonal, with each bin's share of answers. */
export function reliabilitySvg(
  title: string,
  note: string,
  panels: { label: string; bins: ReliabilityBin[] }[],
): string {
  const panelW = 380;
  const panelH = 380;
  const gap = 70;
  const top = 80;
  const left = 70;
  const width = left + panels.length * (panelW + gap);
  const height = top + panelH + 70;
  const parts = [
    `<text x="${left}" y="30" font-size="19" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${left}" y="50" font-size="12" fill="#555">${escapeXml(note)}</text>`,
  ];
  panels.forEach((panel, p) => {
    const x0 = left + p * (panelW + gap);
    const px = (v: number) => x0 + v * panelW;
    const py = (v: number) => top + (1 - v) * panelH;
    const total = panel.bins.reduce((a, b) => a + b.count, 0);
    for (const t of [0, 0.2, 0.4, 0.6, 0.8, 1]) {
      parts.push(`<line x1="${px(0)}" x2="${px(1)}" y1="${py(t)}" y2="${py(t)}" stroke="#eee"/>`);
      parts.push(`<text x="${px(0) - 6}" y="${py(t) + 4}" font-size="11" text-anchor="end">${t}</text>`);
      parts.push(`<text x="${px(t)}" y="${py(0) + 16}" font-size="11" text-anchor="middle">${t}</text>`);
    }
    for (const bin of panel.bins) {
      if (bin.count === 0) continue;
      const w = (bin.high - bin.low) * panelW;
      parts.push(
        `<rect x="${px(bin.low) + 1}" y="${py(bin.accuracy)}" width="${w - 2}" height="${py(0) - py(bin.accuracy)}" fill="#4c78a8" fill-opacity="0.75"/>`,
      );
      const share = bin.count / total;
      parts.push(
        `<rect x="${px(bin.low) + 1}" y="${py(share)}" width="${w - 2}" height="${py(0) - py(share)}" fill="none" stroke="#e45756" stroke-width="1.2"/>`,
      );
    }
    parts.push(
      `<line x1="${px(0)}" y1="${py(0)}" x2="${px(1)}" y2="${py(1)}" stroke="#333" stroke-dasharray="5 4"/>`,
      `<rect x="${px(0)}" y="${py(1)}" width="${panelW}" height="${panelH}" fill="none" stroke="#444"/>`,
      `<text x="${px(0.5)}" y="${top - 10}" font-size="15" text-anchor="middle" font-weight="bold">${escapeXml(panel.label)}</text>`,
      `<text x="${px(0.5)}" y="${py(0) + 36}" font-size="12" text-anchor="middle">top-class probability</text>`,
    );
  });
  parts.push(
    `<text x="${left}" y="${height - 8}" font-size="12" fill="#333">blue bars: accuracy in the bin; red outlines: the bin's share of all answers; dashed: perfect calibration</text>`,
  );
  return svg(parts, width, height);
}

/** Writes `<base>.svg` and `<base>.png`, each through a temporary file. */
export async function writeSvgAndPng(base: string, svgText: string): Promise<void> {
  const png = await sharp(Buffer.from(svgText)).png().toBuffer();
  for (const [file, data] of [
    [`${base}.svg`, svgText],
    [`${base}.png`, png],
  ] as const) {
    fs.writeFileSync(`${file}.tmp`, data);
    fs.renameSync(`${file}.tmp`, file);
  }
}
