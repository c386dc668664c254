/**
 * How the transfer engine cuts objects into requests: pure functions of sizes, checked at their
 * boundaries (one GET or ranges, whole MiB within the tuning's bounds, S3's multipart limits).
 */
import {
  downloadPartSize,
  partCount,
  S3_MAX_PART_BYTES,
  S3_MAX_PARTS,
  S3_MIN_PART_BYTES,
  TRANSFER_DEFAULTS,
  uploadPartSize,
} from '../src/transfer/tuning';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const { minRangeBytes, maxRangeBytes } = TRANSFER_DEFAULTS;

describe('downloadPartSize', () => {
  it('is one GET (0) for an object of up to twice the smallest range, ranges just above', () => {
    expect(downloadPartSize(0, 8)).toBe(0);
    expect(downloadPartSize(1, 8)).toBe(0);
    expect(downloadPartSize(2 * minRangeBytes, 8)).toBe(0);
    expect(downloadPartSize(2 * minRangeBytes + 1, 8)).toBe(minRangeBytes);
    expect(downloadPartSize(2 * minRangeBytes + 1, 1)).toBe(minRangeBytes);
  });

  it('cuts an object into about eight ranges per connection, rounded up to whole MiB', () => {
    expect(downloadPartSize(1 * GiB, 8)).toBe(16 * MiB);
    expect(downloadPartSize(1 * GiB + 1, 8)).toBe(17 * MiB);
    expect(downloadPartSize(1 * GiB, 4)).toBe(32 * MiB);
    expect(partCount(1 * GiB, downloadPartSize(1 * GiB, 8))).toBe(64);
  });

  it('keeps ranges within the smallest and the largest range', () => {
    // Many connections on a mid-size object: the wanted range is below the smallest.
    expect(downloadPartSize(100 * MiB, 64)).toBe(minRangeBytes);
    // One connection on a huge object: the wanted range is above the largest.
    expect(downloadPartSize(100 * GiB, 1)).toBe(maxRangeBytes);
    expect(downloadPartSize(30 * GiB, 10)).toBe(maxRangeBytes);
  });

  it('treats fewer than one connection as one', () => {
    expect(downloadPartSize(256 * MiB, 0)).toBe(downloadPartSize(256 * MiB, 1));
    expect(downloadPartSize(256 * MiB, -3)).toBe(32 * MiB);
  });

  it('follows the tuning it is given', () => {
    const tuning = { minRangeBytes: 1 * MiB, maxRangeBytes: 4 * MiB };
    expect(downloadPartSize(2 * MiB, 1, tuning)).toBe(0);
    expect(downloadPartSize(2 * MiB + 1, 1, tuning)).toBe(1 * MiB);
    expect(downloadPartSize(24 * MiB, 1, tuning)).toBe(3 * MiB);
    expect(downloadPartSize(1 * GiB, 1, tuning)).toBe(4 * MiB);
  });

  it('always answers whole MiB within the bounds, and at most eight ranges per connection unless at the largest', () => {
    const sizes = [16 * MiB + 1, 17 * MiB + 12345, 99 * MiB, 1 * GiB - 1, 3 * GiB + 7, 37 * GiB + 5 * MiB + 1, 2_000 * GiB];
    for (const size of sizes) {
      for (const connections of [1, 2, 3, 8, 16, 33, 64]) {
        const part = downloadPartSize(size, connections);
        expect({ size, connections, whole: part % MiB }).toEqual({ size, connections, whole: 0 });
        expect(part).toBeGreaterThanOrEqual(minRangeBytes);
        expect(part).toBeLessThanOrEqual(maxRangeBytes);
        const ranges = partCount(size, part);
        if (part > minRangeBytes && part < maxRangeBytes) {
          expect(ranges).toBeLessThanOrEqual(8 * connections);
          // Rounding up to a whole MiB of at least 8 MiB costs at most one ninth of the ranges.
          expect(ranges).toBeGreaterThanOrEqual(Math.floor((8 * connections * 8) / 9));
        }
        if (part === minRangeBytes) expect(ranges).toBeLessThanOrEqual(8 * connections);
      }
    }
  });
});

describe('uploadPartSize', () => {
  it('is 8 MiB up to 1,000 parts of 8 MiB', () => {
    expect(uploadPartSize(0)).toBe(8 * MiB);
    expect(uploadPartSize(1)).toBe(8 * MiB);
    expect(uploadPartSize(8 * MiB + 1)).toBe(8 * MiB);
    expect(uploadPartSize(8000 * MiB)).toBe(8 * MiB);
  });

  it('grows, in whole MiB, so that a large object needs at most 1,000 parts', () => {
    expect(uploadPartSize(8000 * MiB + 1)).toBe(9 * MiB);
    for (const size of [8000 * MiB + 1, 20 * GiB, 100 * GiB + 3, 1024 * GiB, 4000 * GiB + 1]) {
      const part = uploadPartSize(size);
      expect(part % MiB).toBe(0);
      expect(part).toBeGreaterThanOrEqual(8 * MiB);
      expect(part).toBeGreaterThanOrEqual(S3_MIN_PART_BYTES);
      expect(part).toBeLessThanOrEqual(S3_MAX_PART_BYTES);
      expect(partCount(size, part)).toBeLessThanOrEqual(1000);
    }
    expect(uploadPartSize(1024 * GiB)).toBe(1049 * MiB);
  });

  it('throws RangeError for an object beyond 10,000 parts of 5 GiB', () => {
    expect(() => uploadPartSize(S3_MAX_PARTS * S3_MAX_PART_BYTES + 1)).toThrow(RangeError);
    expect(() => uploadPartSize(100 * 1024 * GiB)).toThrow(/more than S3 takes/);
  });

  // Past 1,000 parts of 5 GiB (5,000 GiB) the part size stays at S3's 5 GiB and the parts grow
  // towards 10,000: S3's largest object, 5 TiB, still fits.
  it('takes an object S3 takes within 10,000 parts of 5 GiB (5 TiB, its largest object)', () => {
    const size = 5 * 1024 * GiB;
    let part = 0;
    expect(() => (part = uploadPartSize(size))).not.toThrow();
    expect(part).toBeLessThanOrEqual(S3_MAX_PART_BYTES);
    expect(partCount(size, part)).toBeLessThanOrEqual(S3_MAX_PARTS);
  });
});

describe('partCount', () => {
  it('is one empty part for an empty file, and whole parts rounded up otherwise', () => {
    expect(partCount(0, 8 * MiB)).toBe(1);
    expect(partCount(1, 8 * MiB)).toBe(1);
    expect(partCount(8 * MiB, 8 * MiB)).toBe(1);
    expect(partCount(8 * MiB + 1, 8 * MiB)).toBe(2);
    expect(partCount(80 * MiB, 8 * MiB)).toBe(10);
  });
});
