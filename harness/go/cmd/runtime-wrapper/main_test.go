package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// hostBnd is this project's hosts' bounding set: every capability 0..40 except CAP_SYS_RESOURCE (24).
const hostBnd uint64 = 0x000001fffeffffff

func TestParseArgs(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want invocation
	}{
		{"containerd shim create", []string{"--root", "/var/run/docker/runtime-runc/moby", "--log", "/run/x/log.json", "--log-format", "json", "--systemd-cgroup", "create", "--bundle", "/run/b1", "--pid-file", "/run/b1/init.pid", "abc"},
			invocation{"create", "/run/b1/config.json", bundleConfig}},
		{"bundle with =", []string{"create", "--bundle=/run/b2", "id"}, invocation{"create", "/run/b2/config.json", bundleConfig}},
		{"short -b", []string{"run", "-b", "/run/b3", "-d", "id"}, invocation{"run", "/run/b3/config.json", bundleConfig}},
		{"single-dash long flag", []string{"-root", "/r", "create", "-bundle", "/run/b4", "id"}, invocation{"create", "/run/b4/config.json", bundleConfig}},
		{"bundle after the id", []string{"create", "id", "--bundle", "/run/b5"}, invocation{"create", "/run/b5/config.json", bundleConfig}},
		{"no bundle: cwd", []string{"create", "id"}, invocation{"create", filepath.Join(wd, "config.json"), bundleConfig}},
		{"value of another flag is not the bundle", []string{"create", "--pid-file", "-b", "id"}, invocation{"create", filepath.Join(wd, "config.json"), bundleConfig}},
		{"global value flag that looks like a subcommand", []string{"--log", "create", "state", "id"}, invocation{subcommand: "state"}},
		{"global flag with =", []string{"--root=/r", "--debug", "run", "--bundle", "/b", "id"}, invocation{"run", "/b/config.json", bundleConfig}},
		{"exec --process", []string{"--root", "/r", "exec", "--process", "/tmp/runc-process1", "--detach", "--pid-file", "/p", "id"}, invocation{"exec", "/tmp/runc-process1", processSpec}},
		{"exec -p=", []string{"exec", "-p=/tmp/p2", "id"}, invocation{"exec", "/tmp/p2", processSpec}},
		{"exec -p after a value flag", []string{"exec", "--cwd", "/", "-p", "/tmp/p3", "id"}, invocation{"exec", "/tmp/p3", processSpec}},
		{"exec with a command, no process file", []string{"exec", "-t", "id", "sh"}, invocation{subcommand: "exec"}},
		{"exec: -p after -- belongs to the command", []string{"exec", "id", "--", "ps", "-p", "1"}, invocation{subcommand: "exec"}},
		{"pass-through subcommand", []string{"--root", "/r", "kill", "id", "9"}, invocation{subcommand: "kill"}},
		{"delete has no spec", []string{"delete", "--force", "id"}, invocation{subcommand: "delete"}},
		{"only global flags", []string{"--version"}, invocation{}},
		{"no args", nil, invocation{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := parseArgs(c.args); got != c.want {
				t.Errorf("parseArgs(%q) = %+v, want %+v", c.args, got, c.want)
			}
		})
	}
}

func TestParseCapBnd(t *testing.T) {
	cases := []struct {
		name    string
		status  string
		want    uint64
		wantErr bool
	}{
		{"this host", "Name:\tx\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\n", hostBnd, false},
		{"full set", "CapBnd:\t000001ffffffffff\n", 0x1ffffffffff, false},
		{"missing", "Name:\tx\n", 0, true},
		{"garbage", "CapBnd:\tzz\n", 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseCapBnd(c.status)
			if (err != nil) != c.wantErr || got != c.want {
				t.Errorf("parseCapBnd = %#x, %v; want %#x, error %v", got, err, c.want, c.wantErr)
			}
		})
	}
}

// allCaps is what Docker 20.10 asks for on --privileged.
func allCaps() []string {
	names := make([]string, 41)
	for name, n := range capNumbers {
		names[n] = name
	}
	return names
}

func without(names []string, drop string) []string {
	var out []string
	for _, n := range names {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}

func fixedLimits(hard map[int]uint64) func(int) (uint64, bool) {
	return func(r int) (uint64, bool) {
		v, ok := hard[r]
		return v, ok
	}
}

type process struct {
	Capabilities map[string][]string `json:"capabilities"`
	Rlimits      []struct {
		Type string `json:"type"`
		Hard uint64 `json:"hard"`
		Soft uint64 `json:"soft"`
	} `json:"rlimits"`
}

func TestEditSpec(t *testing.T) {
	all, _ := json.Marshal(allCaps())
	nofile := uint64(1048576)
	l := limits{bounding: hostBnd, hardLimit: fixedLimits(map[int]uint64{7: nofile, 6: ^uint64(0)})}
	cases := []struct {
		name        string
		kind        specKind
		in          string
		l           limits
		wantChanged bool
		wantCaps    []string // expected in every set present
		wantRlimits [][3]uint64
		wantErr     bool
	}{
		{"privileged config: CAP_SYS_RESOURCE dropped from all five sets", bundleConfig,
			`{"ociVersion":"1.0.2","process":{"capabilities":{"bounding":` + string(all) + `,"effective":` + string(all) + `,"inheritable":` + string(all) + `,"permitted":` + string(all) + `,"ambient":` + string(all) + `}}}`,
			l, true, without(allCaps(), "CAP_SYS_RESOURCE"), nil, false},
		{"default caps: nothing to do", bundleConfig,
			`{"process":{"capabilities":{"bounding":["CAP_CHOWN","CAP_KILL"],"effective":["CAP_CHOWN","CAP_KILL"]}}}`,
			l, false, nil, nil, false},
		{"unknown names kept", bundleConfig,
			`{"process":{"capabilities":{"bounding":["CAP_FUTURE_THING","CAP_SYS_RESOURCE"]}}}`,
			l, true, []string{"CAP_FUTURE_THING"}, nil, false},
		{"full bounding set keeps everything", bundleConfig,
			`{"process":{"capabilities":{"bounding":` + string(all) + `}}}`,
			limits{bounding: ^uint64(0), hardLimit: l.hardLimit}, false, nil, nil, false},
		{"rlimits clamped, soft <= hard", bundleConfig,
			`{"process":{"rlimits":[{"type":"RLIMIT_NOFILE","hard":4194304,"soft":2097152},{"type":"RLIMIT_NPROC","hard":18446744073709551615,"soft":18446744073709551615}]}}`,
			l, true, nil, [][3]uint64{{7, nofile, nofile}, {6, ^uint64(0), ^uint64(0)}}, false},
		{"rlimits within limits untouched", bundleConfig,
			`{"process":{"rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}]}}`,
			l, false, nil, nil, false},
		{"unmapped rlimit type left alone", bundleConfig,
			`{"process":{"rlimits":[{"type":"RLIMIT_BOGUS","hard":99999999999,"soft":1}]}}`,
			l, false, nil, nil, false},
		{"exec process file", processSpec,
			`{"args":["sh"],"cwd":"/","capabilities":{"bounding":["CAP_SYS_RESOURCE","CAP_SYS_ADMIN"],"effective":["CAP_SYS_ADMIN","CAP_SYS_RESOURCE"]}}`,
			l, true, []string{"CAP_SYS_ADMIN"}, nil, false},
		{"ambient emptied (not null)", processSpec,
			`{"capabilities":{"ambient":["CAP_SYS_RESOURCE"]}}`,
			l, true, []string{}, nil, false},
		{"no process", bundleConfig, `{"ociVersion":"1.0.2"}`, l, false, nil, nil, false},
		{"not JSON", bundleConfig, `{"process":`, l, false, nil, nil, true},
		{"capabilities of the wrong type", bundleConfig, `{"process":{"capabilities":{"bounding":"CAP_CHOWN"}}}`, l, false, nil, nil, true},
		{"rlimit hard missing", bundleConfig, `{"process":{"rlimits":[{"type":"RLIMIT_NOFILE","soft":1}]}}`, l, false, nil, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, changed, err := editSpec([]byte(c.in), c.kind, c.l)
			if (err != nil) != c.wantErr {
				t.Fatalf("error = %v, want error %v", err, c.wantErr)
			}
			if changed != c.wantChanged {
				t.Fatalf("changed = %v, want %v", changed, c.wantChanged)
			}
			if !changed {
				if out != nil {
					t.Errorf("unchanged spec produced output %s", out)
				}
				return
			}
			var doc map[string]json.RawMessage
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			rawProcess := json.RawMessage(out)
			if c.kind == bundleConfig {
				rawProcess = doc["process"]
			}
			var p process
			if err := json.Unmarshal(rawProcess, &p); err != nil {
				t.Fatal(err)
			}
			if c.wantCaps != nil {
				for set, names := range p.Capabilities {
					if !reflect.DeepEqual(names, c.wantCaps) {
						t.Errorf("capabilities.%s = %v, want %v", set, names, c.wantCaps)
					}
				}
			}
			for i, w := range c.wantRlimits {
				got := p.Rlimits[i]
				if got.Hard != w[1] || got.Soft != w[2] {
					t.Errorf("rlimits[%d] (%s) = hard %d soft %d, want %d %d", i, got.Type, got.Hard, got.Soft, w[1], w[2])
				}
			}
		})
	}
}

// Fields the wrapper does not know survive, including integers beyond float64 precision.
func TestEditSpecPreservesOtherFields(t *testing.T) {
	in := `{"ociVersion":"1.0.2","annotations":{"a<b":"x&y"},"linux":{"resources":{"memory":{"limit":9007199254740993}}},` +
		`"process":{"terminal":false,"user":{"uid":0,"gid":0},"args":["/sbin/init"],"env":["A=1"],"noNewPrivileges":false,` +
		`"capabilities":{"bounding":["CAP_SYS_RESOURCE","CAP_CHOWN"]},"rlimits":[{"type":"RLIMIT_NOFILE","hard":18446744073709551615,"soft":1024}],"x-extra":{"keep":[1,2,3]}}}`
	l := limits{bounding: hostBnd, hardLimit: fixedLimits(map[int]uint64{7: ^uint64(0)})}
	out, changed, err := editSpec([]byte(in), bundleConfig, l)
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	for _, want := range []string{`"ociVersion":"1.0.2"`, `"a<b":"x&y"`, `9007199254740993`, `"args":["/sbin/init"]`, `"x-extra":{"keep":[1,2,3]}`, `"hard":18446744073709551615`, `"noNewPrivileges":false`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lost %s:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "CAP_SYS_RESOURCE") {
		t.Errorf("CAP_SYS_RESOURCE still present:\n%s", out)
	}
}

func TestEditFile(t *testing.T) {
	l := limits{bounding: hostBnd, hardLimit: fixedLimits(nil)}
	t.Run("writes back with the same mode", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "config.json")
		if err := os.WriteFile(path, []byte(`{"process":{"capabilities":{"bounding":["CAP_SYS_RESOURCE","CAP_KILL"]}}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := editFile(path, bundleConfig, l); err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(path)
		if st.Mode().Perm() != 0o640 {
			t.Errorf("mode = %o, want 640", st.Mode().Perm())
		}
		data, _ := os.ReadFile(path)
		if string(data) != `{"process":{"capabilities":{"bounding":["CAP_KILL"]}}}` {
			t.Errorf("content = %s", data)
		}
	})
	t.Run("untouched when nothing changes", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "config.json")
		in := "{ \"process\": {\"capabilities\": {\"bounding\": [\"CAP_KILL\"]}} }\n"
		if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := editFile(path, bundleConfig, l); err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(path); string(data) != in {
			t.Errorf("file was rewritten: %q", data)
		}
	})
	t.Run("unparsable file is left alone and reported", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "config.json")
		if err := os.WriteFile(path, []byte("{nope"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := editFile(path, bundleConfig, l); err == nil {
			t.Error("want an error for an unparsable spec")
		}
		if data, _ := os.ReadFile(path); string(data) != "{nope" {
			t.Errorf("file was rewritten: %q", data)
		}
	})
	t.Run("missing file is an error", func(t *testing.T) {
		if err := editFile(filepath.Join(t.TempDir(), "absent.json"), bundleConfig, l); err == nil {
			t.Error("want an error for a missing file")
		}
	})
}

func TestFindRealRunc(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "runc")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Run("variable wins", func(t *testing.T) {
		t.Setenv(realRuncEnv, "/opt/runc")
		if got, _ := findRealRunc(); got != "/opt/runc" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("first runc on PATH", func(t *testing.T) {
		t.Setenv(realRuncEnv, "")
		t.Setenv("PATH", filepath.Join(dir, "missing")+string(os.PathListSeparator)+dir)
		if got, _ := findRealRunc(); got != fake {
			t.Errorf("got %q, want %q", got, fake)
		}
	})
	t.Run("skips itself", func(t *testing.T) {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		selfDir := t.TempDir()
		if err := os.Symlink(exe, filepath.Join(selfDir, "runc")); err != nil {
			t.Fatal(err)
		}
		t.Setenv(realRuncEnv, "")
		t.Setenv("PATH", selfDir+string(os.PathListSeparator)+dir)
		if got, _ := findRealRunc(); got != fake {
			t.Errorf("got %q, want %q (the symlink to this program must be skipped)", got, fake)
		}
	})
}
