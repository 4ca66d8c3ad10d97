// The validating admission webhook side of the stub: AdmissionReview admission.k8s.io/v1 requests
// turned into the ImageReview spec the policy engine already decides, and the verdict turned back
// into an AdmissionReview response (spec mechanisms.md §A2, §C1, §C4). Images and annotations are
// taken the way the ImagePolicyWebhook plugin takes them, so both mechanisms see the same review.
import { FORWARDED_ANNOTATION_MARKER } from "./policy.ts";
import type { AdmissionSummary, ImageReviewSpec, ImageReviewStatus } from "./types.ts";

export const ADMISSION_REVIEW_API_VERSION = "admission.k8s.io/v1";
export const ADMISSION_REVIEW_KIND = "AdmissionReview";

/** Workload kinds (by API group) whose pod template the stub reviews, and where the template's pod spec lies. */
const TEMPLATE_PATHS: Record<string, readonly string[]> = {
  "/ReplicationController": ["spec", "template"],
  "apps/Deployment": ["spec", "template"],
  "apps/ReplicaSet": ["spec", "template"],
  "apps/StatefulSet": ["spec", "template"],
  "apps/DaemonSet": ["spec", "template"],
  "batch/Job": ["spec", "template"],
  "batch/CronJob": ["spec", "jobTemplate", "spec", "template"],
};

/** Container lists in review order: the plugin reviews containers, then init containers; ephemeral ones come last. */
const POD_CONTAINER_LISTS = ["containers", "initContainers", "ephemeralContainers"] as const;

/** A valid request's review and summary, or why it is invalid (with its uid when it had one). */
export type ParsedAdmissionReview =
  | { ok: true; spec: ImageReviewSpec; admission: AdmissionSummary }
  | { ok: false; message: string; uid?: string };

/**
 * Checks an AdmissionReview request and extracts the images to review: for a Pod, containers, init
 * containers, then ephemeral containers; for `pods/ephemeralcontainers`, only the ephemeral ones (as
 * the ImagePolicyWebhook plugin does); for workloads, their pod template's. Other subresources and
 * kinds carry no images (allowed). Unknown fields are ignored, like Go's decoder; fields the stub
 * reads must have their API types.
 */
export function parseAdmissionReview(body: Buffer): ParsedAdmissionReview {
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch (err) {
    return { ok: false, message: `request body is not valid JSON: ${(err as Error).message}` };
  }
  if (!isObject(value)) return { ok: false, message: "request body must be a JSON object (an AdmissionReview)" };
  if (value.apiVersion !== ADMISSION_REVIEW_API_VERSION) {
    return { ok: false, message: `apiVersion must be "${ADMISSION_REVIEW_API_VERSION}", got ${JSON.stringify(value.apiVersion) ?? "nothing"}` };
  }
  if (value.kind !== ADMISSION_REVIEW_KIND) return { ok: false, message: `kind must be "${ADMISSION_REVIEW_KIND}", got ${JSON.stringify(value.kind) ?? "nothing"}` };
  const request = value.request;
  if (request === undefined || request === null) return { ok: false, message: "request is missing" };
  if (!isObject(request)) return { ok: false, message: "request must be an object" };
  if (typeof request.uid !== "string" || request.uid === "") return { ok: false, message: "request.uid must be a non-empty string" };
  const uid = request.uid;
  try {
    const kind = optionalObject(request.kind, "request.kind");
    const resource = optionalObject(request.resource, "request.resource");
    const user = optionalString(optionalObject(request.userInfo, "request.userInfo").username, "request.userInfo.username");
    const f = {
      group: optionalString(kind.group, "request.kind.group"),
      kind: optionalString(kind.kind, "request.kind.kind"),
      resource: optionalString(resource.resource, "request.resource.resource"),
      subResource: optionalString(request.subResource, "request.subResource"),
      operation: optionalString(request.operation, "request.operation"),
      name: optionalString(request.name, "request.name"),
      namespace: optionalString(request.namespace, "request.namespace"),
    };
    const dryRun = request.dryRun ?? false;
    if (typeof dryRun !== "boolean") throw new Invalid("request.dryRun must be a boolean");
    const object = request.object === undefined || request.object === null ? null : optionalObject(request.object, "request.object");
    const reviewed = imagesOf(object, f.group, f.kind, f.subResource);
    const admission: AdmissionSummary = {
      uid,
      kind: f.kind,
      resource: f.subResource ? `${f.resource}/${f.subResource}` : f.resource,
      operation: f.operation,
      ...(f.name ? { name: f.name } : {}),
      dryRun,
      ...(user ? { user } : {}),
    };
    const spec: ImageReviewSpec = { containers: reviewed.images.map((image) => ({ image })), annotations: reviewed.annotations, namespace: f.namespace };
    return { ok: true, spec, admission };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, message: err.message, uid };
    throw err;
  }
}

/** A field of the wrong type; its message names the field's path. */
class Invalid extends Error {}

// Absent and null read as empty, as Go's decoder leaves them.
function optionalString(v: unknown, path: string): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw new Invalid(`${path} must be a string`);
  return v;
}

function optionalObject(v: unknown, path: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new Invalid(`${path} must be an object`);
  return v;
}

// Finds the pod (or pod template) in the object, then its images in review order and its forwarded annotations.
function imagesOf(object: Record<string, unknown> | null, group: string, kind: string, subResource: string): { images: string[]; annotations: Record<string, string> } {
  const none = { images: [], annotations: {} };
  if (object === null) return none; // DELETE, or CONNECT without an object
  let pod: Record<string, unknown> = object;
  let at = "request.object";
  let lists: readonly string[] = POD_CONTAINER_LISTS;
  if (group === "" && kind === "Pod") {
    // The plugin reviews a pod on create and update, and its ephemeral containers through the
    // subresource; status, binding and the like cannot change images.
    if (subResource === "ephemeralcontainers") lists = ["ephemeralContainers"];
    else if (subResource !== "") return none;
  } else {
    const path = TEMPLATE_PATHS[`${group}/${kind}`];
    // Other kinds carry no pods; workload subresources (scale, status) cannot change the template.
    if (!path || subResource !== "") return none;
    for (const key of path) {
      at += `.${key}`;
      pod = optionalObject(pod[key], at);
    }
  }
  const metadata = optionalObject(pod.metadata, `${at}.metadata`);
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(optionalObject(metadata.annotations, `${at}.metadata.annotations`))) {
    if (typeof v !== "string") throw new Invalid(`${at}.metadata.annotations must map strings to strings`);
    // The plugin forwards only these keys (policy.ts FORWARDED_ANNOTATION_MARKER).
    if (k.includes(FORWARDED_ANNOTATION_MARKER)) annotations[k] = v;
  }
  const spec = optionalObject(pod.spec, `${at}.spec`);
  const images: string[] = [];
  for (const list of lists) {
    const containers = spec[list];
    if (containers === undefined || containers === null) continue;
    if (!Array.isArray(containers)) throw new Invalid(`${at}.spec.${list} must be a list`);
    for (const [i, c] of containers.entries()) {
      const image = optionalObject(c, `${at}.spec.${list}[${i}]`).image;
      if (image !== undefined && image !== null && typeof image !== "string") throw new Invalid(`${at}.spec.${list}[${i}].image must be a string`);
      // A missing image is reviewed as "" (an invalid reference), as the plugin would forward it.
      images.push(typeof image === "string" ? image : "");
    }
  }
  return { images, annotations };
}

/**
 * The AdmissionReview response for a policy verdict. A denial carries code 403 like the
 * ImagePolicyWebhook plugin's: without a code (or with one below 400) the apiserver answers the user
 * with 400 (statuserror.go ToStatusErr). Validating webhooks must not send `patch`.
 */
export function admissionReviewJson(uid: string, status: ImageReviewStatus): string {
  const response: Record<string, unknown> = { uid, allowed: status.allowed };
  if (!status.allowed) response.status = { code: 403, reason: "Forbidden", ...(status.reason !== undefined ? { message: status.reason } : {}) };
  // The apiserver records these under "<webhook name>/<key>".
  if (status.auditAnnotations) response.auditAnnotations = status.auditAnnotations;
  return JSON.stringify({ apiVersion: ADMISSION_REVIEW_API_VERSION, kind: ADMISSION_REVIEW_KIND, response });
}

/** The `malformed` fault's body on the admission path: the start of a valid AdmissionReview, cut off. */
export function malformedAdmissionReviewBody(uid: string): string {
  return `{"apiVersion":"${ADMISSION_REVIEW_API_VERSION}","kind":"${ADMISSION_REVIEW_KIND}","response":{"uid":${JSON.stringify(uid)},"allowed":tr`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
