/** Reading back what a chart drew: the parts of an SVG that a reader relies on. */

/** Labels of the legend entries, in order. */
export function legendLabels(svg: string): string[] {
  return [...svg.matchAll(/<g class="legend-entry"[^>]*>.*?<text[^>]*>([^<]*)<\/text><\/g>/g)].map(
    (m) => m[1] as string,
  );
}

/** stroke-dasharray of each drawn series path, by its label. */
export function seriesDashes(svg: string): Map<string, string> {
  return new Map(
    [...svg.matchAll(/<path class="series" data-label="([^"]*)"[^>]*stroke-dasharray="([^"]*)"/g)].map(
      (m) => [m[1] as string, m[2] as string],
    ),
  );
}

/** Tick labels of an axis ("x" or "y"), in drawing order. */
export function tickLabels(svg: string, axis: "x" | "y"): string[] {
  return [...svg.matchAll(new RegExp(`<g class="${axis}-tick"><text[^>]*>([^<]*)</text></g>`, "g"))].map(
    (m) => m[1] as string,
  );
}
