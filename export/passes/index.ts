// The ordered pass lists, one per graph layout. Order matters: dropout goes
// first so batch-norms sit right behind their layers, and batch-norms are folded
// before towers are merged, so merging sees plain conv/dense layers.
import type { Graph } from "../graph.ts";
import { crossStitchToElementwise } from "./cross-stitch-to-elementwise.ts";
import { denseToConv } from "./dense-to-conv.ts";
import { dropDropout } from "./drop-dropout.ts";
import { foldBatchNorm } from "./fold-batch-norm.ts";
import { fuseTowers } from "./fuse-towers.ts";

export type GraphLayout = "per_tower" | "fused";

export type Pass = (graph: Graph) => Graph;

export const PASSES: Readonly<Record<GraphLayout, readonly Pass[]>> = {
  per_tower: [dropDropout, foldBatchNorm, denseToConv, crossStitchToElementwise],
  fused: [dropDropout, foldBatchNorm, fuseTowers, crossStitchToElementwise],
};

export function applyPasses(graph: Graph, layout: GraphLayout): Graph {
  return PASSES[layout].reduce((g, pass) => pass(g), graph);
}
