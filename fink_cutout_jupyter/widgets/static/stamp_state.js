// The state of one stamps view: the stamps' pixels and statistics, which stamp each panel shows,
// and the cuts the interval gives each stamp (those the kernel renders take the kernel's).

import { floats, intervalCuts, statistics } from "./colours.js";

export function newStampsState(model, elements) {
  return {
    model,
    ...elements, // root, row, readout, orientation, controls
    prepared: [], // per stamp: pixels, statistics, then its image, cuts, level and colormap
    panels: [],
    hover: null, // [column, row] of the pixel under the pointer
    drag: null,
    blinkStep: 0,
    blinkTimer: null,
    markers: [], // the kernel's catalogs, their positions read (stamp_markers.js)
  };
}

// A panel's key and title: its stamp's label, else its kind.
export function labelOf(stamp) {
  return stamp.label ?? stamp.kind;
}

// The kernel's rendering of a stamp's panel (`renderings`), or undefined: the traits draw it.
export function renderingOf(model, stamp) {
  return model.get("renderings")[labelOf(stamp)];
}

export function saveTrait(model, name, value) {
  model.set(name, value);
  model.save_changes();
}

// New stamps: their pixels and statistics; if the first drawn has another shape than before
// (another alert's), the view's centre is fitted to it (`fittedCenter`), as the kernel fits it.
export function prepareStamps(state) {
  const before = firstDrawn(state)?.stamp;
  state.prepared = state.model.get("stamps").map((stamp) => {
    if (!stamp.pixels) return { stamp };
    const pixels = floats(stamp.pixels);
    return { stamp, pixels, stats: statistics(pixels) };
  });
  const base = firstDrawn(state)?.stamp;
  if (!before || !base || (before.width === base.width && before.height === base.height)) return;
  const model = state.model;
  const center = model.get("center");
  const fitted = fittedCenter(center, model.get("zoom"), base.width, base.height);
  if (fitted[0] !== center[0] || fitted[1] !== center[1]) saveTrait(model, "center", fitted);
}

// The view's centre in a first stamp of `width` x `height` (view coordinates: pixel c spans c
// to c + 1): the stamp's centre at zoom 1 (shown whole), else the nearest point of the stamp.
// stamp_panels.fitted_center, the kernel's copy of this rule.
export function fittedCenter([x, y], zoom, width, height) {
  if (zoom <= 1) return [width / 2, height / 2];
  return [Math.min(Math.max(x, 0), width), Math.min(Math.max(y, 0), height)];
}

// The first stamp with pixels: its grid is the view's (the others scale to it).
export function firstDrawn(state) {
  return state.prepared.find((item) => item.pixels);
}

export function shownStamp(state, panelIndex) {
  return state.prepared[shownIndex(state, panelIndex)];
}

function shownIndex(state, panelIndex) {
  // While blinking, the first panel cycles through the blinked kinds.
  const model = state.model;
  if (panelIndex !== 0 || !model.get("blinking")) return panelIndex;
  const kinds = model.get("blink_kinds");
  const kind = kinds[state.blinkStep % kinds.length];
  let found = state.prepared.findIndex((item) => labelOf(item.stamp) === kind);
  if (found < 0) found = state.prepared.findIndex((item) => item.stamp.kind === kind);
  return Math.max(0, found);
}

export function isSymmetric(model, kind) {
  return kind === "Difference" && model.get("difference_symmetric");
}

// label -> [low, high]: the interval's limits (about 0 for a symmetric stamp), Science's for the
// Template when the cuts are shared; the stamps the kernel renders are left out (their cuts are
// the kernel's).
export function stampCuts(state) {
  const model = state.model;
  const cuts = {};
  for (const item of state.prepared) {
    if (!item.pixels || renderingOf(model, item.stamp)) continue;
    const label = labelOf(item.stamp);
    cuts[label] = intervalCuts(model.get("interval"), item.stats, {
      zscale: item.stamp.zscale,
      pmin: model.get("pmin"),
      pmax: model.get("pmax"),
      manual: model.get("cuts")[label],
      symmetric: isSymmetric(model, item.stamp.kind),
    });
  }
  if (model.get("share_cuts") && cuts.Science && cuts.Template) cuts.Template = cuts.Science;
  return cuts;
}
