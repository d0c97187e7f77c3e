/** Topic names of PROTOCOL.md, built in one place. */
export interface Topics {
  state: string;
  event: string;
  snapshot: string;
  request: string;
  areaRequest(geohash: string): string;
  inbox(requestId: string): string;
  inboxFilter: string;
  decision: string;
  pair: string;
  status(requestId: string): string;
  transparency: string;
  /** owner → device: asks for an audit-log consistency proof; device → owner: the proof. */
  auditAsk: string;
  auditProof: string;
}

export function topicsFor(prefix: string, deviceId: string): Topics {
  const d = `${prefix}/${deviceId}`;
  return {
    state: `${d}/state`,
    event: `${d}/event`,
    snapshot: `${d}/snapshot`,
    request: `${d}/request`,
    areaRequest: (geohash) => `${prefix}/area/${geohash}/request`,
    inbox: (requestId) => `${d}/owner/inbox/${requestId}`,
    inboxFilter: `${d}/owner/inbox/+`,
    decision: `${d}/owner/decision`,
    pair: `${d}/pair`,
    status: (requestId) => `${d}/request/${requestId}/status`,
    transparency: `${d}/transparency`,
    auditAsk: `${d}/owner/audit/ask`,
    auditProof: `${d}/owner/audit/proof`,
  };
}

/** Publishing to a name with a wildcard or an empty level is always a bug: refuse it loudly. */
export function assertPublishable(topic: string): void {
  if (!topic || /[+#\u0000]/.test(topic) || topic.split('/').some((level) => level === '')) {
    throw new Error(`refusing to publish to invalid topic ${JSON.stringify(topic)}`);
  }
}
