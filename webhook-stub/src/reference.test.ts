import { describe, expect, it } from "vitest";
import {
  compileGlob,
  normalizeRegistry,
  normalizeRepositoryPrefix,
  parseReference,
  registryMatches,
  repositoryMatches,
  type ImageReference,
} from "./reference.ts";

const H64 = "f".repeat(64);
const D = `sha256:${H64}`;

function ref(input: string): ImageReference {
  const r = parseReference(input);
  if (!r.ok) throw new Error(`expected ${input} to parse: ${r.reason}`);
  return r.ref;
}

describe("parseReference: valid references normalize like containerd", () => {
  // [input, normalized, registry, repository, tag, digest]
  const cases: [string, string, string, string, string | undefined, string | undefined][] = [
    ["nginx", "docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest", undefined],
    ["nginx:1.25", "docker.io/library/nginx:1.25", "docker.io", "library/nginx", "1.25", undefined],
    ["library/nginx", "docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest", undefined],
    ["docker/docker", "docker.io/docker/docker:latest", "docker.io", "docker/docker", "latest", undefined],
    ["docker.io/debian", "docker.io/library/debian:latest", "docker.io", "library/debian", "latest", undefined],
    ["index.docker.io/debian", "docker.io/library/debian:latest", "docker.io", "library/debian", "latest", undefined],
    ["index.docker.io/docker/docker", "docker.io/docker/docker:latest", "docker.io", "docker/docker", "latest", undefined],
    [`nginx@${D}`, `docker.io/library/nginx@${D}`, "docker.io", "library/nginx", undefined, D],
    [`nginx:1.25@${D}`, `docker.io/library/nginx:1.25@${D}`, "docker.io", "library/nginx", "1.25", D],
    ["localhost/foo", "localhost/foo:latest", "localhost", "foo", "latest", undefined],
    ["localhost:5000/foo", "localhost:5000/foo:latest", "localhost:5000", "foo", "latest", undefined],
    ["localhost:5000", "docker.io/library/localhost:5000", "docker.io", "library/localhost", "5000", undefined],
    ["127.0.0.1:5000/docker/docker", "127.0.0.1:5000/docker/docker:latest", "127.0.0.1:5000", "docker/docker", "latest", undefined],
    ["192.168.0.1", "docker.io/library/192.168.0.1:latest", "docker.io", "library/192.168.0.1", "latest", undefined],
    ["192.168.0.1:80", "docker.io/library/192.168.0.1:80", "docker.io", "library/192.168.0.1", "80", undefined],
    ["192.168.0.1:8/debian", "192.168.0.1:8/debian:latest", "192.168.0.1:8", "debian", "latest", undefined],
    ["test_com", "docker.io/library/test_com:latest", "docker.io", "library/test_com", "latest", undefined],
    ["test.com:tag", "docker.io/library/test.com:tag", "docker.io", "library/test.com", "tag", undefined],
    ["test:5000/repo:tag", "test:5000/repo:tag", "test:5000", "repo", "tag", undefined],
    [`test:5000/repo:tag@${D}`, `test:5000/repo:tag@${D}`, "test:5000", "repo", "tag", D],
    ["foo_bar.com:8080", "docker.io/library/foo_bar.com:8080", "docker.io", "library/foo_bar.com", "8080", undefined],
    ["foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", "8080", undefined],
    ["sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", undefined],
    ["b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app", "test.example.com", undefined],
    ["xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", undefined],
    [`xn--7o8h.com/myimage:xn--7o8h.com@sha512:${"f".repeat(128)}`, `xn--7o8h.com/myimage:xn--7o8h.com@sha512:${"f".repeat(128)}`, "xn--7o8h.com", "myimage", "xn--7o8h.com", `sha512:${"f".repeat(128)}`],
    ["[2001:db8::1]/repo", "[2001:db8::1]/repo:latest", "[2001:db8::1]", "repo", "latest", undefined],
    ["[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000", "repo", "tag", undefined],
    ["[::1]:5000/repo", "[::1]:5000/repo:latest", "[::1]:5000", "repo", "latest", undefined],
    ["lowercase:Uppercase", "docker.io/library/lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase", undefined],
    ["a__b/c--d/e.f_g", "docker.io/a__b/c--d/e.f_g:latest", "docker.io", "a__b/c--d/e.f_g", "latest", undefined],
    ["TRUSTED.IO/app", "TRUSTED.IO/app:latest", "TRUSTED.IO", "app", "latest", undefined],
    ["A/b", "A/b:latest", "A", "b", "latest", undefined], // upper case makes "A" a host
    ["registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9", "registry.k8s.io", "pause", "3.9", undefined],
    [`docker.io/${"1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"}`, "docker.io/library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a:latest", "docker.io", "library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "latest", undefined],
  ];
  it.each(cases)("%s", (input, normalized, registry, repository, tag, digest) => {
    const r = ref(input);
    expect(r).toMatchObject({ normalized, registry, repository, name: `${registry}/${repository}` });
    expect(r.tag).toBe(tag);
    expect(r.digest).toBe(digest);
  });

  it("marks the implicit latest tag", () => {
    expect(ref("nginx").tagDefaulted).toBe(true);
    expect(ref("nginx:latest").tagDefaulted).toBe(false);
    expect(ref(`nginx@${D}`).tagDefaulted).toBe(false);
  });

  it("accepts a name of exactly 255 characters after normalization and refuses 256", () => {
    const path255 = `example.com/${"a".repeat(255 - "example.com/".length)}`;
    expect(parseReference(`${path255}:tag`).ok).toBe(true);
    const r = parseReference(`${path255}a:tag`);
    expect(r.ok ? "parsed" : r.reason).toMatch(/not be more than 255/);
  });
});

describe("parseReference: invalid references are refused with a reason", () => {
  const cases: [string, RegExp][] = [
    ["", /at least one component/],
    [":justtag", /invalid reference format/],
    [`@${D}`, /invalid reference format/],
    ["https://github.com/docker/docker", /invalid reference format/],
    ["docker/Docker", /must be lowercase/],
    ["Uppercase:tag", /must be lowercase/],
    ["test:5000/Uppercase/lowercase:tag", /must be lowercase/],
    ["docker.io/docker/Docker", /must be lowercase/],
    ["-docker", /invalid reference format/],
    ["-docker/docker", /invalid reference format/],
    ["-docker.io/docker/docker", /invalid reference format/],
    ["docker///docker", /invalid reference format/],
    ["docker.io/docker///docker", /invalid reference format/],
    ["aa/asdf$$^/aa", /invalid reference format/],
    ["a..b", /invalid reference format/],
    ["a___b", /invalid reference format/],
    ["a-", /invalid reference format/],
    ["1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", /64-byte hexadecimal/],
    [`validname@invaliddigest:${H64}`, /unsupported digest algorithm/],
    [`repo@sha256:${"f".repeat(63)}`, /invalid reference format|digest length/],
    [`repo@sha256:${"f".repeat(65)}`, /digest length/],
    [`repo@sha256:${"F".repeat(64)}`, /digest format/],
    [`repo:${"t".repeat(129)}`, /invalid reference format/],
    ["[2001:db8::1]", /invalid reference format/],
    ["[2001:db8::1]:5000", /invalid reference format/],
    ["[fe80::1%eth0]:5000/repo", /invalid reference format/],
    ["trusted.io./x", /invalid reference format/],
    ["nginx:1.25 ", /invalid reference format/],
    ["nginx\n", /invalid reference format/],
    [`${"a/".repeat(128)}a:tag`, /not be more than 255/],
    ["x".repeat(2000), /longer than 1024/],
  ];
  it.each(cases)("%j", (input, reason) => {
    const r = parseReference(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
});

describe("registry matching respects component boundaries", () => {
  const trusted = normalizeRegistry("trusted.io");
  const withPort = normalizeRegistry("trusted.io:5000");
  it("normalizes entries", () => {
    expect(trusted).toEqual({ ok: true, value: "trusted.io" });
    expect(normalizeRegistry("Index.Docker.IO")).toEqual({ ok: true, value: "docker.io" });
    expect(normalizeRegistry("index.docker.io")).toEqual({ ok: true, value: "docker.io" });
    expect(normalizeRegistry("trusted.io/team").ok).toBe(false);
    expect(normalizeRegistry("https://trusted.io").ok).toBe(false);
    expect(normalizeRegistry("").ok).toBe(false);
  });
  // [image, matches trusted.io, matches trusted.io:5000]
  const cases: [string, boolean, boolean][] = [
    ["trusted.io/x", true, false],
    ["trusted.io/x:1@" + D, true, false],
    ["TRUSTED.IO/x", true, false],
    ["trusted.io/team/app:1", true, false],
    ["trusted.io.evil.com/x", false, false],
    ["trusted.io-evil/x", false, false],
    ["evil.com/trusted.io/x", false, false],
    ["trusted.io:5000/x", false, true],
    ["trusted.io:443/x", false, false],
    ["trusted.io", false, false], // docker.io/library/trusted.io
    ["trusted.io:5000", false, false], // docker.io/library/trusted.io, tag 5000
    ["eviltrusted.io/x", false, false],
    ["docker.io/trusted.io/x", false, false],
  ];
  it.each(cases)("%s", (image, a, b) => {
    if (!trusted.ok || !withPort.ok) throw new Error("bad entries");
    expect(registryMatches(ref(image), trusted.value)).toBe(a);
    expect(registryMatches(ref(image), withPort.value)).toBe(b);
  });
  it("`*` matches any registry", () => {
    expect(registryMatches(ref("evil.com/x"), "*")).toBe(true);
  });
});

describe("repository prefixes match on path-component boundaries", () => {
  const nginx = normalizeRepositoryPrefix("docker.io/library/nginx");
  const cases: [string, boolean][] = [
    ["nginx", true],
    ["nginx:1.25", true],
    [`docker.io/library/nginx@${D}`, true],
    ["index.docker.io/library/nginx:1", true],
    ["library/nginx", true],
    ["docker.io/library/nginx/sub", true],
    ["nginx-evil", false],
    ["nginxx", false],
    ["library/nginx-evil:1", false],
    ["evil.com/docker.io/library/nginx", false],
    ["docker.io.evil.com/library/nginx", false],
    ["docker.io:5000/library/nginx", false],
    ["other/nginx", false],
  ];
  it.each(cases)("%s", (image, expected) => {
    if (!nginx.ok) throw new Error(nginx.reason);
    expect(repositoryMatches(ref(image), nginx.value)).toBe(expected);
  });
  it("normalizes entries and refuses ambiguous ones", () => {
    expect(nginx).toEqual({ ok: true, value: "docker.io/library/nginx" });
    expect(normalizeRepositoryPrefix("nginx")).toEqual({ ok: true, value: "docker.io/library/nginx" });
    expect(normalizeRepositoryPrefix("docker.io/kindest")).toEqual({ ok: true, value: "docker.io/kindest" });
    expect(normalizeRepositoryPrefix("trusted.io")).toMatchObject({ ok: false, reason: expect.stringMatching(/allow.registries/) });
    expect(normalizeRepositoryPrefix("nginx:1.25")).toMatchObject({ ok: false, reason: expect.stringMatching(/tag or digest/) });
    expect(normalizeRepositoryPrefix("Nginx")).toMatchObject({ ok: false });
  });

  it("lower-cases a registry written in upper case, so the entry can match at all", () => {
    const upper = normalizeRepositoryPrefix("Quay/team");
    expect(upper).toEqual({ ok: true, value: "quay/team" });
    if (!upper.ok) throw new Error(upper.reason);
    expect(repositoryMatches(ref("Quay/team/app:1"), upper.value)).toBe(true);
    expect(repositoryMatches(ref("quay/team/app:1"), upper.value)).toBe(false); // that one is docker.io/quay/team/app
  });
});

it("matches registries and repositories regardless of the registry's case", () => {
  expect(registryMatches(ref("Trusted.IO/x"), "trusted.io")).toBe(true);
  expect(repositoryMatches(ref("Quay.io/team/x"), "quay.io/team")).toBe(true);
  expect(repositoryMatches(ref("quay.io/Team/x".toLowerCase()), "quay.io/team")).toBe(true);
});

describe("compileGlob", () => {
  const cases: [string, string, boolean][] = [
    ["docker.io/library/*:latest", "docker.io/library/nginx:latest", true],
    ["docker.io/library/*:latest", "docker.io/library/a/b:latest", false],
    ["**:latest", "quay.io/a/b/c:latest", true],
    ["**/evil*", "quay.io/team/evil-app:1", true],
    ["quay.io/?", "quay.io/a", true],
    ["quay.io/?", "quay.io/ab", false],
    ["a.b", "axb", false],
    ["x(y)+", "x(y)+", true],
  ];
  it.each(cases)("%s ~ %s", (pattern, subject, expected) => {
    expect(compileGlob(pattern).test(subject)).toBe(expected);
  });
});

describe("repository prefixes with an explicit registry are literal", () => {
  it.each([
    ["docker.io/kindest", "docker.io/kindest/node:v1.33.1", true],
    ["docker.io/kindest", "kindest/kindnetd:v2", true],
    ["docker.io/kindest", "kindest-evil/node", false],
    ["index.docker.io/kindest", "kindest/node", true],
    ["quay.io/team", "quay.io/team/app:1", true],
    ["quay.io/team", "quay.io/teams/app:1", false],
    ["localhost:5000/x", "localhost:5000/x/y", true],
  ] as const)("%s ~ %s", (prefix, image, expected) => {
    const p = normalizeRepositoryPrefix(prefix);
    if (!p.ok) throw new Error(p.reason);
    expect(repositoryMatches(ref(image), p.value)).toBe(expected);
  });
  it("refuses a bad path", () => {
    expect(normalizeRepositoryPrefix("quay.io/Team").ok).toBe(false);
    expect(normalizeRepositoryPrefix("quay.io/").ok).toBe(false);
    expect(normalizeRepositoryPrefix("quay.io/a:1").ok).toBe(false);
  });
});
