/** What happened at the door, as every part of the agent names it (PROTOCOL.md "Event"). */
export type TriggerKind = 'ring' | 'motion';
export type TriggerSource = 'button' | 'pir' | 'video' | 'onvif' | 'manual';

export interface Trigger {
  kind: TriggerKind;
  source: TriggerSource;
  /** Wall-clock milliseconds of the edge (the press, not when it was debounced). */
  at: number;
}
