// Least-squares line through usage samples, to forecast when a filesystem fills up.

export interface LinearFit {
  /** Bytes per ms. */
  slope: number;
  /** Bytes at t = 0 (epoch). */
  intercept: number;
}

/** Ordinary least squares y = slope·x + intercept; null with fewer than 2 distinct x. */
export function leastSquares(points: readonly { x: number; y: number }[]): LinearFit | null {
  if (points.length < 2) return null;
  // Centre x on its mean: epoch ms squared loses precision in doubles.
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    sxx += (p.x - mx) ** 2;
    sxy += (p.x - mx) * (p.y - my);
  }
  if (sxx === 0) return null;
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

/**
 * When the fitted usage line reaches `sizeBytes` (epoch ms), or null when usage is flat or
 * shrinking or there are too few samples.
 */
export function projectedFullAt(history: readonly { at: number; usedBytes: number }[], sizeBytes: number): number | null {
  const fit = leastSquares(history.map((h) => ({ x: h.at, y: h.usedBytes })));
  if (!fit || fit.slope <= 0) return null;
  return (sizeBytes - fit.intercept) / fit.slope;
}
