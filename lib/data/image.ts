// The image type of the data pipeline: float samples in [0, 1], planar (C, H, W).

export interface FloatImage {
  width: number;
  height: number;
  /** 1 (grayscale) or 3 (RGB). */
  channels: 1 | 3;
  /** C·H·W values, planar: channel c, row y, column x at (c·H + y)·W + x. */
  data: Float32Array;
}

/** An image of the given size filled with zeros. */
export function emptyImage(width: number, height: number, channels: 1 | 3): FloatImage {
  return { width, height, channels, data: new Float32Array(channels * width * height) };
}

/** Throws unless `img` is a well-formed FloatImage; `op` names the caller in the message. */
export function checkImage(op: string, img: FloatImage): void {
  const { width, height, channels, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`${op}: image size ${width}x${height} (expected positive integers)`);
  }
  if (channels !== 1 && channels !== 3) throw new RangeError(`${op}: image has ${channels} channels (expected 1 or 3)`);
  if (!(data instanceof Float32Array) || data.length !== channels * width * height) {
    throw new RangeError(`${op}: image data has ${data?.length} values (expected ${channels}x${height}x${width})`);
  }
}
