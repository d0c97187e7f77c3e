/**
 * The owner channel's topics. None names a request or a clip: a reader of the broker learns only
 * that sealed messages flow, their sizes and their timing.
 */
export interface OwnerTopics {
  /** device → owners, sealed: events, notices, statuses, answers, enrollments, receipts. */
  out: string;
  /** device → owners, sealed, retained: the latest snapshot. */
  snapshot: string;
  /** owners → device, sealed to the device: asks and decisions. */
  in: string;
}

export function ownerTopics(prefix: string, deviceId: string): OwnerTopics {
  const d = `${prefix}/${deviceId}/owner`;
  return { out: `${d}/out`, snapshot: `${d}/snapshot`, in: `${d}/in` };
}
