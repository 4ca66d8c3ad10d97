import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { startLab } from "../../harness/src/lab/lab.ts";
import { LocalProvider } from "../../harness/src/providers/local/local-provider.ts";
import { httpsGet } from "../../harness/src/util/https-get.ts";
import { readLabState } from "../../harness/src/providers/lab-state.ts";
const lab = await startLab({ provider: new LocalProvider() });
const st = (await readLabState(lab.stateDir))!;
const pki = join(lab.stateDir, "pki");
const caPem = await readFile(join(pki, "ca.crt"), "utf8"), certPem = await readFile(join(pki, "admin.crt"), "utf8"), keyPem = await readFile(join(pki, "admin.key"), "utf8");
let polling = true; const seen = new Map<string, number>(); let t0 = 0; let firstAnswer = 0;
const poll = (async () => { while (polling) { try { const r = await httpsGet(`${st.server}/readyz?verbose`, { caPem, certPem, keyPem }); if (t0 && !firstAnswer) firstAnswer = performance.now() - t0; for (const line of String((r as any).body ?? "").split("\n")) { const m = /^\[-\](\S+) failed/.exec(line); if (m && t0) seen.set(m[1]!, performance.now() - t0); } } catch {} await new Promise(r => setTimeout(r, 25)); } })();
for (let i = 0; i < 2; i++) {
  seen.clear(); firstAnswer = 0; t0 = performance.now();
  const sw = await lab.applyProfile({ ...lab.profile, allowTTL: 10 + i });
  await new Promise(r => setTimeout(r, 300));
  console.log(`switch ${sw.elapsedMs.toFixed(0)}ms; first answer ${firstAnswer.toFixed(0)}ms`);
  console.log([...seen].sort((a, b) => a[1] - b[1]).slice(-12).map(([k, v]) => `  ${v.toFixed(0)} ${k}`).join("\n"));
}
polling = false; await poll;
const log = await readFile(join(lab.stateDir, "logs/kube-apiserver.log"), "utf8");
console.log(log.split("\n").filter(l => /Serving securely|Version:|external host/.test(l)).map(l => l.slice(0, 110)).join("\n"));
await lab.stop();
