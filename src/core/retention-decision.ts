/**
 * What retention says of one recovery point (retention.ts computes it; cleanup acts on it).
 * A point is kept when at least one reason holds; `keepUntil` is when the last of them lapses
 * (null when one of them has no end: latest point, retained data, on-demand without expiry).
 */
export type KeepReason =
  | 'daily'
  | 'weekly'
  | 'monthly'
  | 'yearly'
  | 'on-demand'
  | 'latest'
  | 'retained-data'
  | 'soft-deleted';

/** A recovery point as retention sees it. */
export interface RetentionPoint {
  id: string;
  /** ISO-8601 UTC. */
  createdAt: string;
  trigger: 'scheduled' | 'on-demand';
  /** On-demand points: their own expiry (ISO UTC) or null for never. Ignored for scheduled points. */
  expiresAt: string | null;
}

export interface RetentionDecision {
  id: string;
  keep: boolean;
  reasons: KeepReason[];
  /** ISO UTC; null = no end while the reasons hold. For removed points, when they expired. */
  keepUntil: string | null;
}
