// Segment file names: wal-<seq>-<firstIndex>.log, both 16 hex digits so names sort in log order.
// seq counts segments from 0 without gaps; firstIndex is the index the segment's first entry gets
// (one past the log's last index when the segment was started).

const SEGMENT_NAME = /^wal-([0-9a-f]{16})-([0-9a-f]{16})\.log$/;

export interface SegmentName {
  readonly seq: number;
  readonly firstIndex: number;
  readonly name: string;
}

function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

export function segmentName(seq: number, firstIndex: number): string {
  return `wal-${hex16(seq)}-${hex16(firstIndex)}.log`;
}

export function parseSegmentName(name: string): SegmentName | null {
  const m = SEGMENT_NAME.exec(name);
  if (m === null) return null;
  const seq = Number.parseInt(m[1]!, 16);
  const firstIndex = Number.parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(firstIndex)) return null;
  return { seq, firstIndex, name };
}

/** The segment files among `names`, in log order. */
export function segmentsIn(names: readonly string[]): SegmentName[] {
  const found: SegmentName[] = [];
  for (const n of names) {
    const s = parseSegmentName(n);
    if (s !== null) found.push(s);
  }
  return found.sort((a, b) => a.seq - b.seq);
}
