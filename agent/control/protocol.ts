/**
 * The local control socket's wire format: one JSON object per line each way.
 * Request `{"cmd":"sim","args":{"what":"ring"}}` → response `{"ok":true,"result":…}` or `{"ok":false,"error":"…"}`.
 */
export interface ControlRequest {
  cmd: string;
  args: Record<string, unknown>;
}

export type ControlResponse = { ok: true; result: unknown } | { ok: false; error: string };

/** A longer line is refused: nothing a local command needs comes near it. */
export const MAX_LINE_BYTES = 64 * 1024;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
