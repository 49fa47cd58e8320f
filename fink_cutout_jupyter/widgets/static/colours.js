// Pixels to colours, shared by the widgets: cuts, astropy's stretches, a kernel's stretch curve,
// colormap tables, ticks.
// The browser's copy of cutouts/render.py (interval_cuts, level_scale, coloured), which
// tests/widgets/test_colours_js.py runs in node on real stamps against astropy.

export const NAN_RGB = [255, 0, 255];
// astropy.visualization's stretches with their default parameters (x already in [0, 1]).
export const STRETCHES = {
  linear: (x) => x,
  sqrt: (x) => Math.sqrt(x),
  log: (x) => Math.log(1000 * x + 1) / Math.log(1001),
  asinh: (x) => Math.asinh(x / 0.1) / Math.asinh(10),
  power: (x) => x * x,
};

// A binary buffer of float32 pixels (a DataView from the kernel), copied aligned.
export function floats(view) {
  return new Float32Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
}

export function statistics(pixels) {
  const finite = pixels.filter(Number.isFinite).sort();
  let sum = 0;
  for (const v of finite) sum += v;
  const mean = finite.length ? sum / finite.length : 0;
  let squares = 0;
  for (const v of finite) squares += (v - mean) * (v - mean);
  return { sorted: finite, mean, std: finite.length ? Math.sqrt(squares / finite.length) : 0 };
}

// numpy.percentile's default (linear interpolation between closest ranks).
export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.min(low + 1, sorted.length - 1);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
}

// A stamp's cuts [low, high] for an interval, as render.interval_cuts: astropy's percentile
// (numpy's linear interpolation) or minmax of the finite pixels, or the zscale cuts the kernel
// computed with astropy and sent with the stamp; [-reach, reach] when symmetric. "manual" gives
// the cuts set by hand as they are (percentile until there are some).
export function intervalCuts(interval, stats, { zscale, pmin, pmax, manual, symmetric }) {
  if (interval === "manual" && manual) return manual;
  if (!stats.sorted.length) return [0, 1];
  let cuts;
  if (interval === "zscale") cuts = zscale;
  else if (interval === "minmax") cuts = [stats.sorted[0], stats.sorted[stats.sorted.length - 1]];
  else cuts = [percentile(stats.sorted, pmin), percentile(stats.sorted, pmax)];
  if (!symmetric || interval === "manual") return cuts;
  const reach = Math.max(Math.abs(cuts[0]), Math.abs(cuts[1]));
  return [-reach, reach];
}

export function stretchFunction(name, stats, low, high) {
  if (name !== "sigmoid") return STRETCHES[name] || STRETCHES.linear;
  // Fink's sigmoid on the pixel values, rescaled so that the cuts map to 0 and 1.
  const span = high - low;
  const center = (stats.mean - low) / span;
  const scale = stats.std > 0 ? stats.std / span : 1;
  const sigmoid = (x) => 1 / (1 + Math.exp(-Math.max(-50, Math.min(50, (x - center) / scale))));
  const s0 = sigmoid(0);
  const s1 = sigmoid(1);
  return (x) => (sigmoid(x) - s0) / (s1 - s0);
}

// A value -> a level in [0, 1]: the cuts, then the stretch (about zero for a symmetric stamp).
export function levelFunction(stretch, low, high, symmetric) {
  return (value) => {
    let x = (value - low) / (high - low);
    x = Math.max(0, Math.min(1, x));
    if (!symmetric) return stretch(x);
    const signed = 2 * x - 1;
    return 0.5 + 0.5 * Math.sign(signed) * stretch(Math.abs(signed));
  };
}

// A kernel's rendering (`StampPanels.renderings`, the flip-book's) as a value -> level: the
// cuts, clipped to [0, 1], then the stretch's curve (float32 samples at x = i / (n - 1), n =
// stamp_panels.CURVE_SAMPLES) interpolated linearly. Used by the stamps and the flip-book.
export function curveLevel(curve, low, high) {
  const last = curve.length - 1;
  return (value) => {
    const x = Math.max(0, Math.min(1, (value - low) / (high - low))) * last;
    const i = Math.min(Math.floor(x), last - 1);
    return curve[i] + (curve[i + 1] - curve[i]) * (x - i);
  };
}

export function colour(lut, level) {
  const at = 3 * Math.round(Math.max(0, Math.min(1, level)) * 255);
  return [lut[at], lut[at + 1], lut[at + 2]];
}

export function niceTicks(low, high, count = 4) {
  const span = high - low;
  if (!(span > 0)) return [low];
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(low / step) * step; t <= high + step * 1e-9; t += step) {
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  }
  return ticks;
}

export function formatValue(value) {
  if (!Number.isFinite(value)) return "NaN";
  const size = Math.abs(value);
  if (size !== 0 && (size >= 1e5 || size < 1e-3)) return value.toExponential(2);
  return Number(value.toPrecision(4)).toString();
}

export function signed(value, digits = 1) {
  return (value >= 0 ? "+" : "−") + Math.abs(value).toFixed(digits);
}
