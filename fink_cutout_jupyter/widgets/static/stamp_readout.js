// The hover readout: the pixel under the pointer, each stamp's value there and its sky position
// (from the WCS's longitude and latitude grids, named by its own axes: RA/Dec, GLON/GLAT...; else
// the offset from the alert's position).

import { formatValue, signed } from "./colours.js";
import { firstDrawn } from "./stamp_state.js";

export const READOUT_HINT = "Move the pointer over a stamp.";

export function readoutText(state, [column, row]) {
  const first = firstDrawn(state);
  const parts = [`column ${column}, row ${row}`];
  for (const item of state.prepared) {
    if (!item.pixels) continue;
    const c = Math.floor(column * (item.stamp.width / first.stamp.width));
    const r = Math.floor(row * (item.stamp.height / first.stamp.height));
    const value = item.pixels[r * item.stamp.width + c];
    const unit = item.stamp.unit ? ` ${item.stamp.unit}` : "";
    parts.push(`${item.stamp.kind} ${formatValue(value)}${unit}`);
  }
  const sky = first.stamp.sky;
  if (sky?.ra) {
    const at = row * first.stamp.width + column;
    const longitude = doubles(sky.ra)[at];
    const latitude = doubles(sky.dec)[at];
    const [lon, lat] = sky.axes ?? ["RA", "Dec"];
    parts.push(`${lon} ${longitude.toFixed(6)}°, ${lat} ${signed(latitude, 6)}° (${sky.frame})`);
  } else if (sky) {
    const dx = (column + 0.5 - sky.center[0]) * sky.scale;
    const dy = (row + 0.5 - sky.center[1]) * sky.scale;
    parts.push(
      `offset from alert position: ${signed(dx)}″ along columns, ${signed(dy)}″ along rows`,
    );
  }
  return parts.join(" · ");
}

// A binary buffer of float64 values (a DataView from the kernel), copied aligned.
function doubles(view) {
  return new Float64Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
}
