/**
 * A PIR motion sensor over any DigitalInput: a rising edge (after active-low inversion) is motion,
 * unless it comes within `rearmSeconds` of the previous motion — PIR modules re-trigger while a
 * person is still in view, and one visit should make one event.
 */
import { Emitter } from './emitter.js';
import type { DigitalInput, Edge } from './gpio.js';

export type MotionEvents = { motion: { at: number } };

export interface MotionSensorDeps {
  input: DigitalInput;
  rearmSeconds: number;
}

export class MotionSensor extends Emitter<MotionEvents> {
  private lastMotionAt: number | null = null;
  private readonly onEdge = (edge: Edge): void => this.edge(edge);

  constructor(private readonly deps: MotionSensorDeps) {
    super();
  }

  /** Starts the input (the sensor owns it) and follows its edges. */
  async start(): Promise<void> {
    await this.deps.input.start();
    this.deps.input.on('edge', this.onEdge);
  }

  async stop(): Promise<void> {
    this.deps.input.off('edge', this.onEdge);
    await this.deps.input.stop();
  }

  private edge({ value, at }: Edge): void {
    if (value !== 1) return;
    if (this.lastMotionAt !== null && at - this.lastMotionAt < this.deps.rearmSeconds * 1000) return;
    this.lastMotionAt = at;
    this.emit('motion', { at });
  }
}
