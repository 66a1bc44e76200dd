/**
 * Colours and dash patterns. The colours are Okabe and Ito's, told apart with the common colour
 * blindnesses; the dashes tell series apart in grey print too. Series k gets colour k and dash k.
 */

export const COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"] as const;

/** stroke-dasharray values; "none" is a solid line. */
export const DASHES = ["none", "9 4", "2 3", "12 3 2 3", "5 5", "1 6", "14 4 2 4 2 4"] as const;

export interface LineStyle {
  color: string;
  dash: string;
}

export function lineStyle(k: number): LineStyle {
  return { color: COLORS[k % COLORS.length] as string, dash: DASHES[k % DASHES.length] as string };
}
