// The webhook stub: an HTTPS ImageReview backend (and, on the same port, a validating admission
// webhook answering AdmissionReviews with the same policy) with a switchable fault, a request
// journal, and a control API on a separate loopback port. It must never crash or hang on bad input, because a
// conformance run measures the apiserver's behavior and a misbehaving stub would pollute it.
import { createHash, timingSafeEqual, X509Certificate } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { createCA, type KeyPairPem } from "../../harness/src/pki/pki.ts";
import { ConfigError } from "../../harness/src/util/errors.ts";
import { silentLogger, type Logger } from "../../harness/src/util/logger.ts";
import { admissionReviewJson, malformedAdmissionReviewBody, parseAdmissionReview } from "./admission-review.ts";
import { faultAction, FaultState, formatFault, parseFault, type Fault } from "./faults.ts";
import { DEFAULT_JOURNAL_CAPACITY, DEFAULT_JOURNAL_MAX_BYTES, Journal, MIN_MAX_BYTES, type JournalRecord } from "./journal.ts";
import { DEFAULT_POLICY, evaluate, validatePolicy } from "./policy.ts";
import type { FaultSpec, ImageReviewSpec, ImageReviewStatus, JournalEntry, NamespaceScope, StubControl, StubPolicy, StubStatus } from "./types.ts";

export const IMAGE_REVIEW_API_VERSION = "imagepolicy.k8s.io/v1alpha1";
export const DEFAULT_REVIEW_PATH = "/review";
/** Where the stub answers AdmissionReview admission.k8s.io/v1 as a validating admission webhook. */
export const DEFAULT_ADMISSION_PATH = "/validate";
/** 1 MiB: a review with hundreds of containers is a few KB. */
export const DEFAULT_MAX_BODY_BYTES = 1_048_576;

/**
 * What one client can make the stub hold or do. A fail-closed cluster refuses every pod the moment
 * its backend stops answering, so no request, connection or body may crash or stall the stub; these
 * bound memory, CPU per request and open sockets. Set with `StubOptions.limits` (or `limits` in the
 * serve config); read-only after start.
 */
export interface StubLimits {
  /** Largest accepted request body in bytes; a larger one gets 413. Default 1 MiB. */
  maxBodyBytes: number;
  /**
   * Most bytes of request bodies held at once, across connections (bodies still arriving); a body
   * that would exceed it gets 429 with Retry-After (the apiserver retries). Default 16 MiB: 16
   * maximum-size bodies at once, or thousands of ordinary reviews (a few KB each).
   */
  maxPendingBodyBytes: number;
  /**
   * Most images (containers of every kind) one review may list; a review with more is denied
   * without evaluating them, with a reason that says so. Default 1,000: far more than any real pod,
   * and evaluated in about 10 ms.
   */
  maxImagesPerReview: number;
  /** Most open connections on the review port (the control port allows 64); more are closed at once. Default 1,024. */
  maxConnections: number;
  /** A TLS handshake not finished within this is dropped. Default 5,000 ms (Node's own: 120 s). */
  handshakeTimeoutMs: number;
  /** A request whose headers have not all arrived within this (also: a connection that sends nothing) gets 408 and is closed. Default 5,000 ms. */
  headersTimeoutMs: number;
  /** A request whose body has not fully arrived within this gets 408 and is closed. Default 10,000 ms; never cuts an answer the stub delays on purpose. */
  requestTimeoutMs: number;
  /** Most journal entries kept (oldest dropped first). Default 10,000. */
  journalMaxEntries: number;
  /** Most journal bytes kept (estimated: 2 bytes per character plus overhead; oldest dropped first). Default 16 MiB. */
  journalMaxBytes: number;
}

/** The defaults; with them a stub process stays under 300 MB RSS whatever arrives (bench/stub-soak.ts measures it). */
export const DEFAULT_STUB_LIMITS: Readonly<StubLimits> = Object.freeze({
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  maxPendingBodyBytes: 16 * 1_048_576,
  maxImagesPerReview: 1_000,
  maxConnections: 1_024,
  handshakeTimeoutMs: 5_000,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  journalMaxEntries: DEFAULT_JOURNAL_CAPACITY,
  journalMaxBytes: DEFAULT_JOURNAL_MAX_BYTES,
});

/** The control port serves one harness or CLI at a time; a few connections are plenty. */
const CONTROL_MAX_CONNECTIONS = 64;
/** How often Node checks the header and request timeouts (its default, 30 s, would let them overrun by that much). */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
/**
 * Idle keep-alive connections live longer than Go's http.Transport IdleConnTimeout (90 s), so the
 * apiserver, not the stub, closes them; a server-side close racing a new POST would show up as a
 * spurious connection error in conformance results.
 */
const KEEP_ALIVE_TIMEOUT_MS = 120_000;
/** Over-limit bodies are read and discarded up to this much so the client can read the 413. */
const DRAIN_LIMIT_BYTES = 64 * 1_048_576;

export interface StubOptions {
  /** Review listener address. Default 127.0.0.1; use 0.0.0.0 in a container. */
  host?: string;
  /** Review port; 0 (default) picks a free one. Kept across `refuse` and heal. */
  port?: number;
  /** Review path (ImageReview). Default `/review`. */
  path?: string;
  /** Validating admission webhook path (AdmissionReview v1), on the review port. Default `/validate`; must differ from `path`. */
  admissionPath?: string;
  /** Control listener address. Default 127.0.0.1 (the control API is not meant for the network). */
  controlHost?: string;
  /** Control port; 0 (default) picks a free one. */
  controlPort?: number;
  /** Serving certificate for both ports; `clientCaPem` makes the review port require and verify client certificates. */
  tls: { certPem: string; keyPem: string; clientCaPem?: string };
  /** Bearer token the control API requires. */
  controlToken: string;
  /** Initial policy. Default DEFAULT_POLICY. */
  policy?: StubPolicy;
  /** Initial fault. Default `healthy`. */
  fault?: FaultSpec;
  /** Certificate served under the `bad-cert` fault; default: generated on first use from a throwaway CA, with the good certificate's SANs. */
  badCert?: KeyPairPem;
  /** Limits on what clients can make the stub hold or do; unset fields take DEFAULT_STUB_LIMITS. */
  limits?: Partial<StubLimits>;
  logger?: Logger;
}

export interface StartedStub extends AsyncDisposable {
  /** e.g. https://127.0.0.1:41234/review */
  readonly reviewUrl: string;
  /** The validating admission webhook's URL on the review port, e.g. https://127.0.0.1:41234/validate */
  readonly admissionUrl: string;
  readonly reviewPort: number;
  /** e.g. https://127.0.0.1:41235 */
  readonly controlUrl: string;
  readonly controlPort: number;
  /** The control surface, in process. */
  readonly control: StubControl;
  /** Closes both listeners and every connection (hanging ones included). Idempotent. */
  stop(): Promise<void>;
}

/** Starts the stub; resolves once both ports listen (and, for an initial `refuse`, the review port is closed again). */
export async function startStub(options: StubOptions): Promise<StartedStub> {
  const stub = new Stub(options);
  try {
    await stub.start();
  } catch (err) {
    await stub.stop();
    throw err;
  }
  return stub;
}

type Verdict = { outcome: "allowed" | "denied"; status: ImageReviewStatus };

class Stub implements StartedStub {
  readonly control: StubControl;
  readonly #opts: Required<Pick<StubOptions, "host" | "port" | "path" | "admissionPath" | "controlHost" | "controlPort">> & StubOptions;
  readonly #limits: StubLimits;
  /** Request bodies being received on the review port. */
  readonly #bodies: BodyBudget;
  readonly #log: Logger;
  readonly #journal: Journal;
  readonly #faults = new FaultState();
  /** Per-namespace policy and fault (see NamespaceScope). */
  readonly #scopes = new Map<string, { policy?: StubPolicy; faults: FaultState }>();
  readonly #tokenDigest: Buffer;
  #policy: StubPolicy;
  readonly #initialFault: Fault;
  #review: Server;
  #controlServer: Server;
  /** Raw sockets of the review port, so refuse/stop can destroy them, mid-handshake or hanging. */
  readonly #reviewSockets = new Set<Socket>();
  readonly #controlSockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #reviewListening = false;
  #usingBadCert = false;
  #badCert?: Promise<KeyPairPem>;
  /** Fault transitions run one at a time (listen/close are asynchronous). */
  #transitions: Promise<unknown> = Promise.resolve();
  #stopping?: Promise<void>;
  #stopped = false;
  reviewPort = 0;
  controlPort = 0;

  constructor(options: StubOptions) {
    if (!options.controlToken) throw new ConfigError([{ file: "stub options", path: "controlToken", message: "a non-empty token is required" }]);
    this.#opts = {
      ...options,
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 0,
      path: options.path ?? DEFAULT_REVIEW_PATH,
      admissionPath: options.admissionPath ?? DEFAULT_ADMISSION_PATH,
      controlHost: options.controlHost ?? "127.0.0.1",
      controlPort: options.controlPort ?? 0,
    };
    this.#limits = checkLimits({ ...DEFAULT_STUB_LIMITS, ...options.limits });
    this.#bodies = { held: 0, max: this.#limits.maxPendingBodyBytes };
    for (const key of ["path", "admissionPath"] as const) {
      if (!this.#opts[key].startsWith("/")) throw new ConfigError([{ file: "stub options", path: key, message: `must start with "/", got "${this.#opts[key]}"` }]);
    }
    if (this.#opts.admissionPath === this.#opts.path) {
      throw new ConfigError([{ file: "stub options", path: "admissionPath", message: `must differ from path ("${this.#opts.path}")` }]);
    }
    this.#log = options.logger ?? silentLogger;
    this.#journal = new Journal({ capacity: this.#limits.journalMaxEntries, maxBytes: this.#limits.journalMaxBytes });
    this.#tokenDigest = sha256(options.controlToken);
    this.#policy = options.policy ? validatePolicy(options.policy, "stub options policy") : DEFAULT_POLICY;
    this.#initialFault = parseFault(options.fault ?? "healthy", "stub options fault");

    const tls = options.tls;
    const limits = this.#limits;
    // Node's https server takes the tls.Server and http.Server options together.
    const timeouts = {
      handshakeTimeout: limits.handshakeTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    };
    this.#review = createServer(
      {
        cert: tls.certPem,
        key: tls.keyPem,
        minVersion: "TLSv1.2",
        ...(tls.clientCaPem ? { ca: tls.clientCaPem, requestCert: true, rejectUnauthorized: true } : {}),
        keepAlive: true,
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
        ...timeouts,
      },
      (req, res) => this.#onReview(req, res),
    );
    this.#controlServer = createServer(
      { cert: tls.certPem, key: tls.keyPem, minVersion: "TLSv1.2", keepAliveTimeout: 5_000, ...timeouts },
      (req, res) => void this.#onControl(req, res),
    );
    this.#review.maxConnections = limits.maxConnections;
    this.#controlServer.maxConnections = Math.min(CONTROL_MAX_CONNECTIONS, limits.maxConnections);
    track(this.#review, this.#reviewSockets);
    track(this.#controlServer, this.#controlSockets);
    for (const [server, port] of [[this.#review, "review"], [this.#controlServer, "control"]] as const) {
      server.on("drop", () => this.#log.debug(`webhook stub: ${port} port: connection refused, ${server.maxConnections} already open (limits.maxConnections)`));
      // https.Server hands TLS handshake failures and timeouts to 'clientError' too.
      server.on("clientError", (err, socket) => onClientError(err as NodeJS.ErrnoException, socket, (m) => this.#log.debug(`webhook stub: ${port} port: ${m}`)));
    }

    this.control = {
      setPolicy: async (policy) => {
        this.#policy = validatePolicy(policy, "setPolicy");
      },
      // async, so a bad spec rejects the promise like every other control call instead of throwing.
      setFault: async (fault) => this.#setFault(parseFault(fault)),
      setScope: async (namespace, scope) => this.#setScope(namespace, scope, "setScope"),
      status: async () => this.#status(),
      journal: async (query) => this.#journal.snapshot(query),
      resetJournal: async () => this.#journal.reset(),
    };
  }

  get reviewUrl(): string {
    return `https://${urlHost(this.#opts.host)}:${this.reviewPort}${this.#opts.path}`;
  }

  get admissionUrl(): string {
    return `https://${urlHost(this.#opts.host)}:${this.reviewPort}${this.#opts.admissionPath}`;
  }

  get controlUrl(): string {
    return `https://${urlHost(this.#opts.controlHost)}:${this.controlPort}`;
  }

  async start(): Promise<void> {
    this.reviewPort = await listen(this.#review, this.#opts.port, this.#opts.host);
    this.#reviewListening = true;
    this.controlPort = await listen(this.#controlServer, this.#opts.controlPort, this.#opts.controlHost);
    await this.#setFault(this.#initialFault);
  }

  stop(): Promise<void> {
    this.#stopped = true;
    this.#stopping ??= (async () => {
      // A fault transition in flight sees #stopped and does not listen again.
      await this.#transitions;
      for (const t of this.#timers) clearTimeout(t);
      this.#timers.clear();
      await Promise.all([
        closeServer(this.#review, this.#reviewSockets),
        closeServer(this.#controlServer, this.#controlSockets),
      ]);
      this.#reviewListening = false;
    })();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #status(): StubStatus {
    const scopes = Object.fromEntries([...this.#scopes].map(([ns, s]) => [ns, { fault: formatFault(s.faults.current), policy: s.policy !== undefined }]));
    return { policy: this.#policy, fault: formatFault(this.#faults.current), scopes, reviewListening: this.#reviewListening, lastSeq: this.#journal.lastSeq };
  }

  #setScope(namespace: string, scope: NamespaceScope | null, label: string): void {
    if (typeof namespace !== "string" || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace) || namespace.length > 63) {
      throw new ConfigError([{ file: label, path: "namespace", message: `must be a namespace name (DNS label), got ${JSON.stringify(namespace)}` }]);
    }
    if (scope === null) {
      this.#scopes.delete(namespace);
      return;
    }
    const fault = parseFault(scope.fault ?? "healthy", `${label} fault`);
    const connectionLevel = (f: Fault): boolean => f.kind === "refuse" || f.kind === "bad-cert";
    if (connectionLevel(fault)) {
      throw new ConfigError([
        { file: label, path: "fault", message: `"${formatFault(fault)}" acts on connections before the namespace is known; set it globally instead` },
      ]);
    }
    const faults = new FaultState();
    faults.set(fault);
    this.#scopes.set(namespace, { policy: scope.policy ? validatePolicy(scope.policy, `${label} policy`) : undefined, faults });
  }

  #setFault(fault: Fault): Promise<void> {
    const run = this.#transitions.then(() => this.#applyFault(fault));
    this.#transitions = run.catch(() => undefined);
    return run;
  }

  async #applyFault(fault: Fault): Promise<void> {
    if (this.#stopped) return;
    const wantBadCert = fault.kind === "bad-cert";
    if (wantBadCert !== this.#usingBadCert) {
      const pair = wantBadCert ? await this.#getBadCert() : this.#opts.tls;
      if (this.#stopped) return;
      const tls = this.#opts.tls;
      this.#review.setSecureContext({ cert: pair.certPem, key: pair.keyPem, minVersion: "TLSv1.2", ...(tls.clientCaPem ? { ca: tls.clientCaPem } : {}) });
      this.#usingBadCert = wantBadCert;
      // Open connections finished their handshake with the old certificate; drop them so the next
      // request shakes hands again and sees the new one.
      destroyAll(this.#reviewSockets);
    }
    this.#faults.set(fault);
    const wantListening = fault.kind !== "refuse";
    if (!wantListening && this.#reviewListening) {
      this.#reviewListening = false;
      await closeServer(this.#review, this.#reviewSockets);
    } else if (wantListening && !this.#reviewListening) {
      // Same port as before: the apiserver's kubeconfig names it.
      await listen(this.#review, this.reviewPort, this.#opts.host);
      this.#reviewListening = true;
    }
  }

  #getBadCert(): Promise<KeyPairPem> {
    this.#badCert ??= this.#opts.badCert
      ? Promise.resolve(this.#opts.badCert)
      : createCA("imagepolicy-lab untrusted CA").then((ca) =>
          ca.issue({ commonName: "imagepolicy-lab stub (untrusted)", hosts: sanHosts(this.#opts.tls.certPem), usage: "server" }),
        );
    return this.#badCert;
  }

  // ---- review port ----

  #onReview(req: IncomingMessage, res: ServerResponse): void {
    const receivedAtMs = this.#journal.elapsedMs();
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const pathname = q === -1 ? url : url.slice(0, q);
    if (pathname === "/healthz" && (req.method === "GET" || req.method === "HEAD")) {
      sendText(res, 200, "ok\n");
      return;
    }
    const base: JournalRecord = {
      review: pathname === this.#opts.admissionPath ? "AdmissionReview" : "ImageReview",
      method: req.method ?? "",
      url,
      images: [],
      namespace: "",
      annotations: {},
      outcome: "invalid",
      status: 0,
      latencyMs: 0,
    };
    const invalid = (status: number, message: string, headers: Record<string, string> = {}) => {
      const entry = this.#journal.record({ ...base, outcome: "invalid", reason: message, status }, receivedAtMs);
      this.#track(res, entry, receivedAtMs)();
      sendText(res, status, `${message}\n`, headers);
    };
    if (pathname !== this.#opts.path && pathname !== this.#opts.admissionPath) {
      return invalid(404, `no review endpoint at ${pathname}; POST ImageReviews to ${this.#opts.path} or AdmissionReviews to ${this.#opts.admissionPath}`);
    }
    if (req.method !== "POST") return invalid(405, `method ${req.method} not allowed; use POST`, { allow: "POST" });
    const contentType = req.headers["content-type"];
    if (contentType !== undefined && mediaType(contentType) !== "application/json") {
      return invalid(415, `content type "${contentType}" not supported; send application/json`);
    }
    readBody(req, this.#limits.maxBodyBytes, this.#bodies).then(
      (body) => {
        if (body === "too-large") {
          res.setHeader("connection", "close");
          return invalid(413, `request body larger than ${this.#limits.maxBodyBytes} bytes`);
        }
        if (body === "busy") {
          // 429 with Retry-After: the apiserver's webhook client retries it after a pause.
          res.setHeader("connection", "close");
          return invalid(429, `too many request bodies in flight (over limits.maxPendingBodyBytes, ${this.#limits.maxPendingBodyBytes} bytes); retry`, { "retry-after": "1" });
        }
        this.#review_(req, res, body, base, receivedAtMs);
      },
      (err: Error) => {
        // The client went away mid-body; nothing to answer.
        this.#log.debug(`webhook stub: failed to read request body: ${err.message}`);
        if (!res.headersSent && !req.socket.destroyed) invalid(400, `failed to read request body: ${err.message}`);
      },
    );
  }

  #review_(req: IncomingMessage, res: ServerResponse, body: Buffer, base: JournalRecord, receivedAtMs: number): void {
    // Both protocols come down to an ImageReview spec for the policy; only parsing and replies differ.
    const isAdmission = base.review === "AdmissionReview";
    const asAdmission = isAdmission ? parseAdmissionReview(body) : undefined;
    const parsed = asAdmission ?? parseReview(body);
    const summary = asAdmission?.ok ? asAdmission.admission : undefined;
    // The uid even of an invalid request, so a `malformed` reply still echoes it.
    const uid = (asAdmission?.ok ? asAdmission.admission.uid : asAdmission?.uid) ?? "";
    const replyJson = (status: ImageReviewStatus) => (isAdmission ? admissionReviewJson(uid, status) : reviewJson(status));
    const fields = parsed.ok ? { ...describeSpec(parsed.spec, this.#limits.maxImagesPerReview), ...(summary ? { admission: summary } : {}) } : {};
    const scope = parsed.ok ? this.#scopes.get(parsed.spec.namespace ?? "") : undefined;
    const fault = (scope?.faults ?? this.#faults).take();
    const policy = scope?.policy ?? this.#policy;
    const verdict = (): Verdict => {
      const status = evaluate(policy, parsed.ok ? parsed.spec : {}, { maxImages: this.#limits.maxImagesPerReview });
      return { outcome: status.allowed ? "allowed" : "denied", status };
    };
    const action = faultAction(fault, () => replyJson(verdict().status), isAdmission ? malformedAdmissionReviewBody(uid) : undefined);
    const faultSpec = fault.kind === "healthy" ? undefined : formatFault(fault);

    if (action.action === "answer" || action.action === "delay") {
      if (!parsed.ok) {
        const entry = this.#journal.record({ ...base, ...fields, outcome: "invalid", reason: parsed.message, status: 400, ...(faultSpec ? { fault: faultSpec } : {}) }, receivedAtMs);
        const sent = this.#track(res, entry, receivedAtMs);
        const send = () => {
          sent();
          sendText(res, 400, `${parsed.message}\n`);
        };
        if (action.action === "delay") this.#later(res, action.ms, send);
        else send();
        return;
      }
      const v = verdict();
      const entry = this.#journal.record(
        {
          ...base,
          ...fields,
          outcome: v.outcome,
          ...(v.status.reason !== undefined ? { reason: v.status.reason } : {}),
          ...(v.status.auditAnnotations ? { auditAnnotations: v.status.auditAnnotations } : {}),
          ...(faultSpec ? { fault: faultSpec } : {}),
          status: 200,
        },
        receivedAtMs,
      );
      const sent = this.#track(res, entry, receivedAtMs);
      const send = () => {
        sent();
        sendBody(res, 200, "application/json", replyJson(v.status));
      };
      if (action.action === "delay") this.#later(res, action.ms, send);
      else send();
      return;
    }

    const rec: JournalRecord = { ...base, ...fields, outcome: "fault", fault: faultSpec, status: 0 };
    if (action.action === "reply") {
      rec.status = action.status;
      if (action.usesVerdict && parsed.ok) {
        const v = verdict().status;
        if (v.reason !== undefined) rec.reason = v.reason;
        if (v.auditAnnotations) rec.auditAnnotations = v.auditAnnotations;
      } else if (action.status >= 400) {
        rec.reason = action.body.trim();
      }
    }
    const entry = this.#journal.record(rec, receivedAtMs);
    const sent = this.#track(res, entry, receivedAtMs);
    switch (action.action) {
      case "reply":
        sent();
        sendBody(res, action.status, action.contentType, action.body, action.headers);
        return;
      case "reset":
        resetSocket(req.socket);
        return;
      case "hang":
        // Nothing to do: the connection stays open until the client gives up or stop() destroys it.
        return;
    }
  }

  /**
   * Completes the journal entry. Call the returned function right before writing the answer, so the
   * latency is final by the time the client has it; requests never answered (hang, reset) get their
   * latency when the connection closes.
   */
  #track(res: ServerResponse, entry: JournalEntry, receivedAtMs: number): () => void {
    let stamped = false;
    const stamp = () => {
      stamped = true;
      entry.latencyMs = Math.round((this.#journal.elapsedMs() - receivedAtMs) * 1000) / 1000;
    };
    res.once("close", () => {
      if (!stamped) stamp();
      if (!res.writableFinished) entry.status = 0;
    });
    return stamp;
  }

  /** Runs `fn` after `ms` unless the connection closes first; stop() cancels it. */
  #later(res: ServerResponse, ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!res.destroyed) fn();
    }, ms);
    this.#timers.add(t);
    res.once("close", () => {
      clearTimeout(t);
      this.#timers.delete(t);
    });
  }

  // ---- control port ----

  async #onControl(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? "/", "https://stub");
      const route = `${req.method} ${url.pathname}`;
      if (url.pathname === "/healthz" && (req.method === "GET" || req.method === "HEAD")) return sendText(res, 200, "ok\n");
      if (!this.#authorized(req.headers.authorization)) {
        return sendJson(res, 401, { error: "missing or wrong bearer token" }, { "www-authenticate": 'Bearer realm="imagepolicy-lab stub"' });
      }
      switch (route) {
        case "GET /status":
          return sendJson(res, 200, this.#status());
        case "PUT /policy": {
          const body = await readJson(req);
          if (!body.ok) return sendJson(res, body.status, { error: body.message });
          this.#policy = validatePolicy(body.value, "PUT /policy");
          return sendJson(res, 200, { policy: this.#policy });
        }
        case "PUT /fault": {
          const body = await readJson(req);
          if (!body.ok) return sendJson(res, body.status, { error: body.message });
          const v = body.value;
          if (!isObject(v) || Object.keys(v).some((k) => k !== "fault") || typeof v.fault !== "string") {
            return sendJson(res, 400, { error: 'expected a JSON object {"fault": "<spec>"}' });
          }
          await this.#setFault(parseFault(v.fault, "PUT /fault"));
          return sendJson(res, 200, { fault: formatFault(this.#faults.current) });
        }
        case "PUT /scope":
        case "DELETE /scope": {
          const namespace = url.searchParams.get("namespace") ?? "";
          if (req.method === "DELETE") {
            this.#setScope(namespace, null, "DELETE /scope");
            res.writeHead(204).end();
            return;
          }
          const body = await readJson(req);
          if (!body.ok) return sendJson(res, body.status, { error: body.message });
          const v = body.value;
          if (!isObject(v) || Object.keys(v).some((k) => k !== "policy" && k !== "fault") || (v.fault !== undefined && typeof v.fault !== "string")) {
            return sendJson(res, 400, { error: 'expected a JSON object {"policy"?: StubPolicy, "fault"?: "<spec>"}' });
          }
          this.#setScope(namespace, v as NamespaceScope, "PUT /scope");
          return sendJson(res, 200, this.#status().scopes?.[namespace] ?? {});
        }
        case "GET /journal": {
          const sinceText = url.searchParams.get("since");
          const since = sinceText === null ? 0 : Number(sinceText);
          if (!Number.isSafeInteger(since) || since < 0) return sendJson(res, 400, { error: `since must be a non-negative integer, got "${sinceText}"` });
          return sendJson(res, 200, this.#journal.snapshot({ since }));
        }
        case "DELETE /journal":
          this.#journal.reset();
          res.writeHead(204).end();
          return;
      }
      const known = ["/status", "/policy", "/fault", "/scope", "/journal"];
      if (known.includes(url.pathname)) return sendJson(res, 405, { error: `${route} is not supported` });
      return sendJson(res, 404, { error: `no control endpoint ${url.pathname}; expected one of ${known.join(", ")}` });
    } catch (err) {
      if (err instanceof ConfigError) return sendJson(res, 400, { error: err.message, issues: err.issues });
      this.#log.warn(`webhook stub: control request failed: ${(err as Error).message}`);
      if (!res.headersSent) sendJson(res, 500, { error: (err as Error).message });
      else res.destroy();
    }
  }

  #authorized(header: string | undefined): boolean {
    const m = /^Bearer (.+)$/i.exec(header ?? "");
    // Compare digests so the comparison takes the same time whatever the token length.
    return m !== null && timingSafeEqual(sha256(m[1]!.trim()), this.#tokenDigest);
  }
}

// ---- helpers ----

function sha256(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`failed to listen on ${host}:${port}: ${err.message}`, { cause: err }));
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      const addr = server.address();
      resolve(typeof addr === "object" && addr ? addr.port : port);
    });
  });
}

function track(server: Server, sockets: Set<Socket>): void {
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
}

function destroyAll(sockets: Set<Socket>): void {
  for (const s of sockets) s.destroy();
}

/** Stops listening and destroys every connection, including keep-alive and hanging ones. */
function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      destroyAll(sockets);
      return resolve();
    }
    server.close(() => resolve());
    server.closeAllConnections();
    destroyAll(sockets);
  });
}

/**
 * A TCP RST rather than a FIN: client-go retries "connection reset by peer" (spec §9), while a clean
 * close reads as EOF. A TLS socket's own handle cannot reset, so reset the TCP socket beneath it
 * (`_parent`, undocumented but stable since Node 0.11); fall back to a plain destroy.
 */
function resetSocket(socket: Socket): void {
  const raw = (socket as Socket & { _parent?: Socket | null })._parent ?? socket;
  try {
    raw.resetAndDestroy();
  } catch {
    // not a TCP handle
  }
  socket.destroy();
}

function sanHosts(certPem: string): string[] {
  const san = new X509Certificate(certPem).subjectAltName ?? "";
  const hosts = san
    .split(",")
    .map((s) => s.trim())
    .map((s) => /^(?:DNS|IP Address):(.+)$/.exec(s)?.[1])
    .filter((h): h is string => !!h);
  return hosts.length ? hosts : ["localhost", "127.0.0.1"];
}

function mediaType(contentType: string): string {
  return contentType.split(";")[0]!.trim().toLowerCase();
}

function sendBody(res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body), ...headers });
  res.end(body);
}

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  sendBody(res, status, "text/plain; charset=utf-8", text, headers);
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  sendBody(res, status, "application/json", JSON.stringify(value), headers);
}

function reviewJson(status: ImageReviewStatus): string {
  return JSON.stringify({ apiVersion: IMAGE_REVIEW_API_VERSION, kind: "ImageReview", status });
}

/** Bytes of request bodies held in memory right now, across all connections of one port. */
interface BodyBudget {
  held: number;
  readonly max: number;
}

/**
 * Reads the body up to `limit` bytes; beyond it, drains (up to DRAIN_LIMIT_BYTES) and reports
 * "too-large". Bytes held count against `budget` until the body is complete; a body that would push
 * it over reports "busy" and stops reading, so many slow uploads at once cannot pile up memory.
 */
function readBody(req: IncomingMessage, limit: number, budget: BodyBudget): Promise<Buffer | "too-large" | "busy"> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"]);
    if (declared > DRAIN_LIMIT_BYTES) {
      req.pause();
      return resolve("too-large");
    }
    let chunks: Buffer[] = [];
    let size = 0;
    let held = 0;
    let tooLarge = declared > limit;
    const release = () => {
      budget.held -= held;
      held = 0;
      chunks = [];
    };
    const finish = (value: Buffer | "too-large" | "busy") => {
      release();
      resolve(value);
    };
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit && !tooLarge) {
        tooLarge = true;
        release();
      }
      if (size > DRAIN_LIMIT_BYTES) {
        req.pause();
        req.removeAllListeners("data");
        finish("too-large");
        return;
      }
      if (tooLarge) return;
      if (budget.held + chunk.length > budget.max) {
        req.pause();
        req.removeAllListeners("data");
        finish("busy");
        return;
      }
      chunks.push(chunk);
      held += chunk.length;
      budget.held += chunk.length;
    });
    req.once("end", () => {
      if (tooLarge) return finish("too-large");
      const body = Buffer.concat(chunks, size);
      finish(body);
    });
    req.once("error", (err) => {
      release();
      reject(err);
    });
    // A client that disconnects mid-body produces 'close' without 'end'.
    req.once("close", () => {
      release();
      if (!req.complete) reject(new Error("client closed the connection before the body was complete"));
    });
  });
}

/** The control port's bodies: policies and fault specs, a few KB; at most a few held at once. */
const controlBodies: BodyBudget = { held: 0, max: 4 * DEFAULT_MAX_BODY_BYTES };

async function readJson(req: IncomingMessage): Promise<{ ok: true; value: unknown } | { ok: false; status: number; message: string }> {
  const body = await readBody(req, DEFAULT_MAX_BODY_BYTES, controlBodies);
  if (body === "too-large") return { ok: false, status: 413, message: `request body larger than ${DEFAULT_MAX_BODY_BYTES} bytes` };
  if (body === "busy") return { ok: false, status: 429, message: "too many control requests in flight; retry" };
  try {
    return { ok: true, value: JSON.parse(body.toString("utf8")) };
  } catch (err) {
    return { ok: false, status: 400, message: `request body is not valid JSON: ${(err as Error).message}` };
  }
}

type ParsedReview = { ok: true; spec: ImageReviewSpec } | { ok: false; message: string };

/** Checks the request the way the apiserver would build it; unknown fields are ignored, like Go's decoder. */
export function parseReview(body: Buffer): ParsedReview {
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch (err) {
    return { ok: false, message: `request body is not valid JSON: ${(err as Error).message}` };
  }
  if (!isObject(value)) return { ok: false, message: "request body must be a JSON object (an ImageReview)" };
  if (value.apiVersion !== IMAGE_REVIEW_API_VERSION) {
    return { ok: false, message: `apiVersion must be "${IMAGE_REVIEW_API_VERSION}", got ${JSON.stringify(value.apiVersion) ?? "nothing"}` };
  }
  if (value.kind !== "ImageReview") return { ok: false, message: `kind must be "ImageReview", got ${JSON.stringify(value.kind) ?? "nothing"}` };
  const spec = value.spec;
  if (spec === undefined || spec === null) return { ok: false, message: "spec is missing" };
  if (!isObject(spec)) return { ok: false, message: "spec must be an object" };
  const { containers, annotations, namespace } = spec;
  if (containers !== undefined && containers !== null) {
    if (!Array.isArray(containers)) return { ok: false, message: "spec.containers must be a list" };
    for (const [i, c] of containers.entries()) {
      if (!isObject(c)) return { ok: false, message: `spec.containers[${i}] must be an object` };
      if (c.image !== undefined && c.image !== null && typeof c.image !== "string") {
        return { ok: false, message: `spec.containers[${i}].image must be a string` };
      }
    }
  }
  if (annotations !== undefined && annotations !== null) {
    if (!isObject(annotations) || Object.values(annotations).some((v) => typeof v !== "string")) {
      return { ok: false, message: "spec.annotations must map strings to strings" };
    }
  }
  if (namespace !== undefined && namespace !== null && typeof namespace !== "string") return { ok: false, message: "spec.namespace must be a string" };
  const out: ImageReviewSpec = {};
  if (Array.isArray(containers)) out.containers = containers.map((c: Record<string, unknown>) => (typeof c.image === "string" ? { image: c.image } : {}));
  if (isObject(annotations)) out.annotations = annotations as Record<string, string>;
  if (typeof namespace === "string") out.namespace = namespace;
  return { ok: true, spec: out };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The journal fields taken from a spec: at most `maxImages` images, the rest only counted. */
function describeSpec(spec: ImageReviewSpec, maxImages: number): Pick<JournalRecord, "images" | "imagesOmitted" | "namespace" | "annotations"> {
  const containers = spec.containers ?? [];
  const images = containers.slice(0, maxImages).map((c) => c.image ?? "");
  return {
    images,
    ...(containers.length > maxImages ? { imagesOmitted: containers.length - maxImages } : {}),
    namespace: spec.namespace ?? "",
    annotations: { ...(spec.annotations ?? {}) },
  };
}

/** Validates limits given as options (the serve config's schema checks its own); names the field. */
function checkLimits(limits: StubLimits): StubLimits {
  const issues: { file: string; path: string; message: string }[] = [];
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) issues.push({ file: "stub options", path: `limits.${key}`, message: `must be a positive integer, got ${value}` });
  }
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    issues.push({ file: "stub options", path: "limits.headersTimeoutMs", message: `must not exceed limits.requestTimeoutMs (${limits.requestTimeoutMs}), got ${limits.headersTimeoutMs}` });
  }
  if (limits.maxPendingBodyBytes < limits.maxBodyBytes) {
    issues.push({ file: "stub options", path: "limits.maxPendingBodyBytes", message: `must be at least limits.maxBodyBytes (${limits.maxBodyBytes}), got ${limits.maxPendingBodyBytes}` });
  }
  if (limits.journalMaxBytes < MIN_MAX_BYTES) {
    issues.push({ file: "stub options", path: "limits.journalMaxBytes", message: `must be at least ${MIN_MAX_BYTES}, got ${limits.journalMaxBytes}` });
  }
  if (issues.length) throw new ConfigError(issues, "invalid stub limits");
  return limits;
}

const CLIENT_ERROR_RESPONSES: Record<string, string> = {
  HPE_HEADER_OVERFLOW: "431 Request Header Fields Too Large",
  ERR_HTTP_REQUEST_TIMEOUT: "408 Request Timeout",
};

/**
 * A connection the HTTP or TLS layer gave up on (bad framing, header or request timeout, TLS
 * handshake failure or timeout). Answer an HTTP-level problem the way Node does when no response is
 * under way, then destroy the socket: ending it instead left half-shaken TLS sockets in CLOSE-WAIT
 * for good.
 */
function onClientError(err: NodeJS.ErrnoException, socket: Duplex, log: (message: string) => void): void {
  const code = err.code ?? "";
  const http = code.startsWith("HPE_") || code === "ERR_HTTP_REQUEST_TIMEOUT";
  // Node's own handler looks at the same undocumented field: no answer once one has begun.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (http && socket.writable && !inFlight?.headersSent) {
    const status = CLIENT_ERROR_RESPONSES[code] ?? "400 Bad Request";
    try {
      socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    } catch {
      // already failing; destroyed below
    }
  }
  socket.destroy();
  log(`${http ? "bad or slow HTTP" : "TLS or connection error"} from client (${code || "no code"}): ${err.message}`);
}
