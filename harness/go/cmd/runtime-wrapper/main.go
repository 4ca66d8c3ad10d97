// Command runtime-wrapper is an OCI runtime that dockerd runs instead of runc. It trims each
// container's spec to what this host can grant, then execs the real runc with the same arguments.
//
// Why: on hosts whose capability bounding set lacks a capability (here CAP_SYS_RESOURCE), Docker
// 20.10 still asks runc for every known capability on `--privileged`, and runc fails with "unable to
// apply caps: operation not permitted". Newer engines limit the set themselves (moby#42933); Debian
// bookworm's docker.io does not.
//
// For `create` and `run` the wrapper edits <bundle>/config.json (`--bundle`/`-b`, else the working
// directory); for `exec` it edits the `--process`/`-p` file. It removes from all five capability sets
// every capability this process's bounding set lacks, and clamps rlimits to this process's hard
// limits. Any other subcommand passes through untouched. An edit failure is logged to stderr and runc
// runs anyway: the wrapper never blocks a container that runc itself could start.
//
// Environment: IMAGEPOLICY_LAB_REAL_RUNC, the runc to exec (default: the first `runc` on PATH that is
// not this program, then /usr/sbin/runc, /usr/bin/runc).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// version is what `--imagepolicy-lab-version` prints after the program name; bump it when the
// wrapper's behavior changes, so `imagepolicy-lab docker-runtime status` can tell builds apart.
const version = "1"

// versionFlag is the one argument the wrapper answers itself (runc has no such flag).
const versionFlag = "--imagepolicy-lab-version"

// realRuncEnv names the variable that overrides the runc lookup.
const realRuncEnv = "IMAGEPOLICY_LAB_REAL_RUNC"

func main() {
	if len(os.Args) == 2 && os.Args[1] == versionFlag {
		fmt.Printf("imagepolicy-lab runtime-wrapper %s\n", version)
		return
	}
	runc, err := findRealRunc()
	if err != nil {
		fmt.Fprintf(os.Stderr, "imagepolicy-lab runtime-wrapper: %v\n", err)
		os.Exit(127)
	}
	if inv := parseArgs(os.Args[1:]); inv.specFile != "" {
		if err := editFile(inv.specFile, inv.kind, hostLimits()); err != nil {
			// Never block the container: runc gets the spec as it was and reports its own error.
			fmt.Fprintf(os.Stderr, "imagepolicy-lab runtime-wrapper: leaving %s unchanged: %v\n", inv.specFile, err)
		}
	}
	argv := append([]string{runc}, os.Args[1:]...)
	if err := syscall.Exec(runc, argv, os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "imagepolicy-lab runtime-wrapper: exec %s: %v\n", runc, err)
		os.Exit(127)
	}
}

// ---------------------------------------------------------------------------------------------
// Finding runc

// findRealRunc returns the runc to exec; see the package comment for the order.
func findRealRunc() (string, error) {
	if p := os.Getenv(realRuncEnv); p != "" {
		return p, nil
	}
	self := ""
	if exe, err := os.Executable(); err == nil {
		self = resolved(exe)
	}
	var candidates []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir != "" {
			candidates = append(candidates, filepath.Join(dir, "runc"))
		}
	}
	candidates = append(candidates, "/usr/sbin/runc", "/usr/bin/runc")
	for _, c := range candidates {
		if !isExecutable(c) || (self != "" && resolved(c) == self) {
			continue
		}
		return c, nil
	}
	return "", fmt.Errorf("no runc found (set %s, or put runc on PATH); looked in %s", realRuncEnv, strings.Join(candidates, ", "))
}

func resolved(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		if abs, err := filepath.Abs(r); err == nil {
			return abs
		}
		return r
	}
	return p
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// ---------------------------------------------------------------------------------------------
// Arguments

// specKind says which JSON document a spec file holds: a whole OCI config (create/run) or just its
// `process` object (exec's --process file).
type specKind int

const (
	bundleConfig specKind = iota
	processSpec
)

// invocation is what the wrapper needs from runc's command line.
type invocation struct {
	subcommand string
	// specFile is the file to edit; empty when there is nothing to edit.
	specFile string
	kind     specKind
}

// Flags that take a value, so their value is never mistaken for a subcommand or a flag we look for.
// Names as runc 1.1 defines them (main.go, create.go, run.go, exec.go); single-letter aliases included.
var (
	globalValueFlags = set("log", "log-format", "root", "criu", "rootless")
	createValueFlags = set("bundle", "b", "console-socket", "pid-file", "preserve-fds")
	execValueFlags   = set("console-socket", "cwd", "env", "e", "user", "u", "additional-gids", "g",
		"process", "p", "process-label", "apparmor", "pid-file", "preserve-fds", "cap", "c", "cgroup")
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// flagName splits "--bundle=x" into ("bundle", "x", true); "-b" into ("b", "", false). ok is false for
// arguments that are not flags ("-" and anything without a leading dash).
func flagName(arg string) (name, value string, hasValue, ok bool) {
	if len(arg) < 2 || arg[0] != '-' {
		return "", "", false, false
	}
	name = strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
	if name == "" {
		return "", "", false, false
	}
	if i := strings.IndexByte(name, '='); i >= 0 {
		return name[:i], name[i+1:], true, true
	}
	return name, "", false, true
}

// parseArgs reads runc's global flags, the subcommand and, for create/run/exec, the file to edit.
// runc (urfave/cli, Go flag syntax) accepts both -name and --name, and `name=value`.
func parseArgs(args []string) invocation {
	i := 0
	for i < len(args) {
		name, _, hasValue, ok := flagName(args[i])
		if !ok {
			break
		}
		i++
		if globalValueFlags[name] && !hasValue {
			i++
		}
	}
	if i >= len(args) {
		return invocation{}
	}
	inv := invocation{subcommand: args[i]}
	rest := args[i+1:]
	switch inv.subcommand {
	case "create", "run":
		bundle := findFlag(rest, createValueFlags, "bundle", "b")
		if bundle == "" {
			if wd, err := os.Getwd(); err == nil {
				bundle = wd
			}
		}
		if bundle != "" {
			inv.specFile, inv.kind = filepath.Join(bundle, "config.json"), bundleConfig
		}
	case "exec":
		if p := findFlag(rest, execValueFlags, "process", "p"); p != "" {
			inv.specFile, inv.kind = p, processSpec
		}
	}
	return inv
}

// findFlag returns the value of the first flag named one of names, skipping the values of other
// value-taking flags; "" when absent. Scanning stops at "--".
func findFlag(args []string, valueFlags map[string]bool, names ...string) string {
	want := set(names...)
	for i := 0; i < len(args); i++ {
		if args[i] == "--" {
			break
		}
		name, value, hasValue, ok := flagName(args[i])
		if !ok || !valueFlags[name] {
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return ""
			}
			i++
			value = args[i]
		}
		if want[name] {
			return value
		}
	}
	return ""
}

// ---------------------------------------------------------------------------------------------
// Host limits

// limits is what the host grants this process: the capability bounding set and hard rlimits.
type limits struct {
	bounding uint64
	// hardLimit returns this process's hard limit for an RLIMIT_* number; ok false when unknown.
	hardLimit func(resource int) (uint64, bool)
}

func hostLimits() limits {
	l := limits{bounding: ^uint64(0), hardLimit: getHardLimit}
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		if b, err := parseCapBnd(string(data)); err == nil {
			l.bounding = b
		} else {
			fmt.Fprintf(os.Stderr, "imagepolicy-lab runtime-wrapper: %v; capabilities left unchanged\n", err)
		}
	}
	return l
}

// parseCapBnd reads the `CapBnd:` line of /proc/<pid>/status.
func parseCapBnd(status string) (uint64, error) {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			v, err := strconv.ParseUint(strings.TrimSpace(rest), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("bad CapBnd value %q: %w", strings.TrimSpace(rest), err)
			}
			return v, nil
		}
	}
	return 0, errors.New("no CapBnd line in /proc/self/status")
}

func getHardLimit(resource int) (uint64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(resource, &r); err != nil {
		return 0, false
	}
	return r.Max, true
}

// capNumbers maps capability names to their numbers (include/uapi/linux/capability.h, 0..40).
var capNumbers = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
	"CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
	"CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
	"CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17,
	"CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21,
	"CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25,
	"CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29,
	"CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33,
	"CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37,
	"CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}

// rlimitNumbers maps OCI rlimit types to RLIMIT_* numbers (include/uapi/asm-generic/resource.h).
var rlimitNumbers = map[string]int{
	"RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
	"RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
	"RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
	"RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

// capAllowed says whether the bounding set holds the named capability. Names the table does not know
// are kept: runc decides about them, and dropping what we cannot judge could break a container.
func capAllowed(name string, bounding uint64) bool {
	n, known := capNumbers[strings.ToUpper(name)]
	if !known || n > 63 {
		return true
	}
	return bounding&(1<<n) != 0
}

// ---------------------------------------------------------------------------------------------
// Editing

// capabilitySets are the five sets of an OCI process's `capabilities` object.
var capabilitySets = []string{"bounding", "effective", "inheritable", "permitted", "ambient"}

// editFile applies editProcess to a spec file and writes it back, with its mode, only if it changed.
func editFile(path string, kind specKind, l limits) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, changed, err := editSpec(data, kind, l)
	if err != nil || !changed {
		return err
	}
	mode := st.Mode().Perm()
	if err := os.WriteFile(path, out, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

// editSpec edits a config.json (kind bundleConfig) or a process.json (kind processSpec). Every field it
// does not touch survives byte for byte in meaning: objects are decoded as json.RawMessage, so large
// integers (RLIM_INFINITY) and unknown fields pass through.
func editSpec(data []byte, kind specKind, l limits) ([]byte, bool, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, false, fmt.Errorf("parse spec: %w", err)
	}
	if doc == nil {
		return nil, false, errors.New("parse spec: not a JSON object")
	}
	if kind == processSpec {
		changed, err := editProcess(doc, l)
		if err != nil || !changed {
			return nil, false, err
		}
		out, err := marshal(doc)
		return out, err == nil, err
	}
	raw, ok := doc["process"]
	if !ok || isNull(raw) {
		return nil, false, nil
	}
	var process map[string]json.RawMessage
	if err := json.Unmarshal(raw, &process); err != nil {
		return nil, false, fmt.Errorf("parse process: %w", err)
	}
	changed, err := editProcess(process, l)
	if err != nil || !changed {
		return nil, false, err
	}
	if doc["process"], err = marshal(process); err != nil {
		return nil, false, err
	}
	out, err := marshal(doc)
	return out, err == nil, err
}

// editProcess trims capabilities and rlimits of one OCI process object in place.
func editProcess(process map[string]json.RawMessage, l limits) (bool, error) {
	changedCaps, err := editCapabilities(process, l.bounding)
	if err != nil {
		return false, err
	}
	changedLimits, err := editRlimits(process, l.hardLimit)
	if err != nil {
		return false, err
	}
	return changedCaps || changedLimits, nil
}

func editCapabilities(process map[string]json.RawMessage, bounding uint64) (bool, error) {
	raw, ok := process["capabilities"]
	if !ok || isNull(raw) {
		return false, nil
	}
	var caps map[string]json.RawMessage
	if err := json.Unmarshal(raw, &caps); err != nil {
		return false, fmt.Errorf("parse process.capabilities: %w", err)
	}
	changed := false
	for _, setName := range capabilitySets {
		setRaw, ok := caps[setName]
		if !ok || isNull(setRaw) {
			continue
		}
		var names []string
		if err := json.Unmarshal(setRaw, &names); err != nil {
			return false, fmt.Errorf("parse process.capabilities.%s: %w", setName, err)
		}
		kept := make([]string, 0, len(names))
		for _, n := range names {
			if capAllowed(n, bounding) {
				kept = append(kept, n)
			}
		}
		if len(kept) == len(names) {
			continue
		}
		b, err := marshal(kept)
		if err != nil {
			return false, err
		}
		caps[setName], changed = b, true
	}
	if !changed {
		return false, nil
	}
	b, err := marshal(caps)
	if err != nil {
		return false, err
	}
	process["capabilities"] = b
	return true, nil
}

func editRlimits(process map[string]json.RawMessage, hardLimit func(int) (uint64, bool)) (bool, error) {
	raw, ok := process["rlimits"]
	if !ok || isNull(raw) {
		return false, nil
	}
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return false, fmt.Errorf("parse process.rlimits: %w", err)
	}
	changed := false
	for i, e := range entries {
		var typ string
		if err := json.Unmarshal(e["type"], &typ); err != nil {
			return false, fmt.Errorf("parse process.rlimits[%d].type: %w", i, err)
		}
		resource, known := rlimitNumbers[strings.ToUpper(typ)]
		if !known {
			continue
		}
		max, ok := hardLimit(resource)
		if !ok {
			continue
		}
		var hard, soft uint64
		if err := json.Unmarshal(e["hard"], &hard); err != nil {
			return false, fmt.Errorf("parse process.rlimits[%d].hard: %w", i, err)
		}
		if err := json.Unmarshal(e["soft"], &soft); err != nil {
			return false, fmt.Errorf("parse process.rlimits[%d].soft: %w", i, err)
		}
		newHard := min(hard, max)
		newSoft := min(soft, newHard)
		if newHard == hard && newSoft == soft {
			continue
		}
		e["hard"] = json.RawMessage(strconv.FormatUint(newHard, 10))
		e["soft"] = json.RawMessage(strconv.FormatUint(newSoft, 10))
		changed = true
	}
	if !changed {
		return false, nil
	}
	b, err := marshal(entries)
	if err != nil {
		return false, err
	}
	process["rlimits"] = b
	return true, nil
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// marshal is json.Marshal without HTML escaping, so strings such as "a<b" keep their spelling.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
