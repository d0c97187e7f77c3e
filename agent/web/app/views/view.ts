/** A screen: built once when opened, then redrawn in parts as the model changes. */
import type { Change } from '../model.js';

export interface View {
  readonly element: HTMLElement;
  /** The heading shown in the app bar. */
  readonly title: string;
  /** A sub-screen: the app bar shows this way back, and the tab bar makes room for the screen's own actions. */
  readonly back?: { href: string; label: string };
  update(change: Change): void;
  dispose?(): void;
}
