// StubControl over the stub's HTTPS control port: what the harness and the CLI use when the stub runs
// in another process or a container. TLS is verified against the given CA; there is no insecure mode.
import { request } from "node:https";
import { ConfigError, LabError, type ConfigIssue } from "../../harness/src/util/errors.ts";
import type { FaultSpec, JournalQuery, JournalSnapshot, NamespaceScope, StubControl, StubPolicy, StubStatus } from "./types.ts";

export interface StubClientOptions {
  /** e.g. https://127.0.0.1:41235 (StartedStub.controlUrl, or the ready file's controlUrl). */
  controlUrl: string;
  /** The control API's bearer token. */
  token: string;
  /** PEM of the CA that signed the stub's serving certificate. */
  caPem: string;
  /** Per-request budget. Default 10,000 ms. */
  timeoutMs?: number;
}

/** A control request failed; `status` is the HTTP status (0 when no response arrived). */
export class StubControlError extends LabError {
  override name = "StubControlError";
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`stub control ${method} ${path} failed${status ? ` with ${status}` : ""}: ${detail}`, options);
  }
}

export class StubClient implements StubControl {
  readonly #base: URL;
  readonly #token: string;
  readonly #caPem: string;
  readonly #timeoutMs: number;

  constructor(options: StubClientOptions) {
    this.#base = new URL(options.controlUrl);
    if (this.#base.protocol !== "https:") throw new LabError(`stub controlUrl must be https, got ${options.controlUrl}`);
    this.#token = options.token;
    this.#caPem = options.caPem;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  async setPolicy(policy: StubPolicy): Promise<void> {
    await this.#call("PUT", "/policy", policy);
  }

  async setFault(fault: FaultSpec): Promise<void> {
    await this.#call("PUT", "/fault", { fault });
  }

  async setScope(namespace: string, scope: NamespaceScope | null): Promise<void> {
    const path = `/scope?namespace=${encodeURIComponent(namespace)}`;
    if (scope === null) await this.#call("DELETE", path);
    else await this.#call("PUT", path, scope);
  }

  async status(): Promise<StubStatus> {
    return (await this.#call("GET", "/status")) as StubStatus;
  }

  async journal(query: JournalQuery = {}): Promise<JournalSnapshot> {
    return (await this.#call("GET", `/journal${query.since !== undefined ? `?since=${query.since}` : ""}`)) as JournalSnapshot;
  }

  async resetJournal(): Promise<void> {
    await this.#call("DELETE", "/journal");
  }

  /** Resolves true when GET /healthz on the control port answers 200. Never throws. */
  async healthy(): Promise<boolean> {
    try {
      await this.#call("GET", "/healthz", undefined, false);
      return true;
    } catch {
      return false;
    }
  }

  #call(method: string, path: string, body?: unknown, json = true): Promise<unknown> {
    const url = new URL(path, this.#base);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          ca: this.#caPem,
          // One request per connection: control calls are rare, and no idle socket outlives a call.
          agent: false,
          headers: {
            authorization: `Bearer ${this.#token}`,
            accept: "application/json",
            ...(payload !== undefined ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}),
          },
          timeout: this.#timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", (err) => reject(new StubControlError(method, path, 0, err.message, { cause: err })));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              if (!json || status === 204 || text === "") return resolve(undefined);
              try {
                return resolve(JSON.parse(text));
              } catch (err) {
                return reject(new StubControlError(method, path, status, `reply is not JSON: ${text.slice(0, 200)}`, { cause: err }));
              }
            }
            let message = text.trim();
            let issues: ConfigIssue[] | undefined;
            try {
              const parsed = JSON.parse(text) as { error?: string; issues?: ConfigIssue[] };
              message = parsed.error ?? message;
              issues = parsed.issues;
            } catch {
              // not JSON: keep the text
            }
            // An invalid policy or fault comes back as the same ConfigError the stub raised.
            if (status === 400 && Array.isArray(issues) && issues.length) {
              return reject(new ConfigError(issues, `stub refused ${method} ${path}`));
            }
            reject(new StubControlError(method, path, status, message || "(empty reply)"));
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no reply within ${this.#timeoutMs}ms`)));
      req.on("error", (err) => reject(new StubControlError(method, path, 0, err.message, { cause: err })));
      req.end(payload);
    });
  }
}
