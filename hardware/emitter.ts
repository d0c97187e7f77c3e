/** A minimal typed event emitter: each event name has one payload type, checked at compile time. */
export class Emitter<Events extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof Events, Set<(event: never) => void>>();

  on<K extends keyof Events>(name: K, listener: (event: Events[K]) => void): this {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener as (event: never) => void);
    return this;
  }

  off<K extends keyof Events>(name: K, listener: (event: Events[K]) => void): this {
    this.listeners.get(name)?.delete(listener as (event: never) => void);
    return this;
  }

  protected emit<K extends keyof Events>(name: K, event: Events[K]): void {
    for (const listener of [...(this.listeners.get(name) ?? [])]) (listener as (event: Events[K]) => void)(event);
  }
}
