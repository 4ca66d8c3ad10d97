// PID 1 of the lab's OPA container on kind (built by harness/src/providers/kind/opa-container.ts).
// It runs `opa` with its own arguments and can stop and start it again without the container going
// away: the opa mechanism's "OPA down" fault must look to the apiserver as it does on the local
// provider, a closed port on a host that still resolves (connection refused). Stopping the
// container instead would drop its name from Docker's DNS, and the apiserver would wait on a lookup.
//
//   docker kill --signal SIGUSR2 <container>   stop OPA (the container keeps its name and address)
//   docker kill --signal SIGHUP <container>    start it again with the same arguments
//   SIGTERM / SIGINT                           stop OPA and exit
// (Not SIGUSR1: Node reserves it for its inspector.)
//
// OPA exiting on its own (a policy that does not load) ends the container with OPA's exit code, so
// the lab's start sees the failure and `docker logs` has OPA's reason.
// Plain JavaScript: it runs on the image's Node, with nothing but Node's own modules.
import { spawn } from "node:child_process";

const OPA = "/usr/local/bin/opa";
const args = process.argv.slice(2);
let child;
let wanted = true;

function start() {
  if (child) return;
  wanted = true;
  const c = spawn(OPA, args, { stdio: "inherit" });
  child = c;
  c.on("exit", (code, signal) => {
    child = undefined;
    if (wanted) {
      console.error(`supervisor: opa exited on its own (${signal ?? `code ${code}`})`);
      process.exit(code ?? 1);
    }
    console.error("supervisor: opa stopped (SIGHUP starts it again)");
  });
  c.on("error", (err) => {
    console.error(`supervisor: cannot start ${OPA}: ${err.message}`);
    process.exit(127);
  });
}

function stop() {
  wanted = false;
  child?.kill("SIGTERM");
}

process.on("SIGUSR2", stop);
process.on("SIGHUP", start);
// Signal handlers alone do not keep Node running: without this, stopping OPA would end the container.
setInterval(() => {}, 2 ** 30);
for (const s of ["SIGTERM", "SIGINT"]) {
  process.on(s, () => {
    stop();
    if (!child) process.exit(0);
    child.on("exit", () => process.exit(0));
  });
}
start();
