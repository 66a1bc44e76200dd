/** The SVG text every chart is made of: escaping, the document, a line of text. */

export const FONT = "DejaVu Sans, sans-serif";

export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A white page of `width` x `height` holding `parts`. */
export function svgDocument(width: number, height: number, parts: readonly string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}"><rect width="${width}" height="${height}" fill="white"/>${parts.join("")}</svg>`;
}

export interface TextStyle {
  size?: number;
  anchor?: "start" | "middle" | "end";
  bold?: boolean;
  fill?: string;
  /** Degrees, about the text's anchor point. */
  rotate?: number;
}

export function text(x: number, y: number, content: string, style: TextStyle = {}): string {
  const { size = 13, anchor = "start", bold = false, fill = "#222", rotate } = style;
  const place =
    rotate === undefined ? `x="${x}" y="${y}"` : `transform="translate(${x} ${y}) rotate(${rotate})"`;
  return `<text ${place} font-size="${size}"${anchor === "start" ? "" : ` text-anchor="${anchor}"`}${bold ? ' font-weight="bold"' : ""} fill="${fill}">${escapeXml(content)}</text>`;
}

/** Title in bold and an optional line of small print under it, from the left edge `x`. */
export function heading(x: number, title: string, note?: string): string[] {
  return [
    text(x, 30, title, { size: 19, bold: true }),
    ...(note ? [text(x, 50, note, { size: 12, fill: "#555" })] : []),
  ];
}

/** Rough width of a line of DejaVu Sans at `size` px, for laying out legends and margins. */
export function textWidth(content: string, size: number): number {
  return content.length * size * 0.6;
}
