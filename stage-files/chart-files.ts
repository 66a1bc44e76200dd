/** A chart on disk: `<base>.svg` as drawn and `<base>.png` rasterised by sharp, each written atomically. */
import sharp from "sharp";
import { writeFileAtomic } from "./files.ts";

export async function writeChart(base: string, svgText: string): Promise<void> {
  const png = await sharp(Buffer.from(svgText)).png({ compressionLevel: 9, palette: true }).toBuffer();
  writeFileAtomic(`${base}.svg`, svgText);
  writeFileAtomic(`${base}.png`, png);
}
