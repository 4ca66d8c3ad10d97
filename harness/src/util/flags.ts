// Command-line flags as a structured set over documented defaults, rendered in sorted order so the
// argv is stable and testable without launching anything (the envtest `process.Arguments` idea).

export class Flags {
  private readonly values = new Map<string, string[]>();

  /** Sets a flag, replacing any value. */
  set(name: string, value: string | number | boolean): this {
    this.values.set(name, [String(value)]);
    return this;
  }

  /** Appends to a comma-separated list flag, e.g. `enable-admission-plugins`, without dropping what is there. */
  appendList(name: string, ...items: string[]): this {
    const current = (this.values.get(name)?.[0] ?? "").split(",").filter(Boolean);
    for (const item of items.flatMap((i) => i.split(",")).filter(Boolean)) if (!current.includes(item)) current.push(item);
    this.values.set(name, [current.join(",")]);
    return this;
  }

  /** Sets every entry of a `name: value` map (such as kubeadm's extraArgs); list flags are merged. */
  setAll(args: Record<string, string>, listFlags: readonly string[] = []): this {
    for (const [k, v] of Object.entries(args)) {
      if (listFlags.includes(k)) this.appendList(k, v);
      else this.set(k, v);
    }
    return this;
  }

  get(name: string): string | undefined {
    return this.values.get(name)?.[0];
  }

  delete(name: string): this {
    this.values.delete(name);
    return this;
  }

  render(): string[] {
    return [...this.values.keys()].sort().flatMap((k) => this.values.get(k)!.map((v) => `--${k}=${v}`));
  }
}
