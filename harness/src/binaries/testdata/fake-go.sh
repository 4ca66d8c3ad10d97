#!/bin/sh
# A stand-in for `go` that answers exactly the commands go-build.ts runs, so resolution can be tested
# end to end in milliseconds. State and knobs come from FAKE_GO_* variables set by the test.
state="$FAKE_GO_STATE"
echo "$*" >> "$state/calls.log"
case "$1" in
env) echo "go1.99.0-fake"; exit 0 ;;
mod)
  case "$2" in
  download)
    modver="$4"; mod="${modver%@*}"
    case "$mod" in
      k8s.io/kubernetes) gomod="$FAKE_GO_K8S_GOMOD" ;;
      *) gomod="$FAKE_GO_ETCD_GOMOD" ;;
    esac
    dir="$state/modcache/$(echo "$mod" | tr / _)"
    mkdir -p "$dir/build"
    printf 'dependencies:\n  - name: "etcd"\n    version: %s\n' "${FAKE_GO_PINNED_ETCD:-3.6.8}" > "$dir/build/dependencies.yaml"
    printf '{"Version":"%s","Time":"2026-05-12T09:51:33Z"}' "${modver#*@}" > "$dir.info"
    printf '{"Path":"%s","Dir":"%s","GoMod":"%s","Info":"%s"}\n' "$mod" "$dir" "$gomod" "$dir.info"
    exit 0 ;;
  tidy) echo "go: downloading example.com/dep v1.0.0" >&2; exit 0 ;;
  esac ;;
build)
  shift
  out=""; pkgs=""
  while [ $# -gt 0 ]; do
    case "$1" in
      -o) out="$2"; shift 2 ;;
      -ldflags|-tags) shift 2 ;;
      -*) shift ;;
      *) pkgs="$pkgs $1"; shift ;;
    esac
  done
  for p in $pkgs; do
    echo "$p" >&2
    case "$p" in
      go.etcd.io/*)
        if [ "$FAKE_GO_FAIL" = etcd ]; then echo "server/etcdmain/main.go:1: syntax error" >&2; exit 1; fi
        printf '#!/bin/sh\necho "etcd Version: %s"\n' "${FAKE_GO_ETCD_VERSION:-3.6.8}" > "$out"; chmod +x "$out" ;;
      *)
        name="${p##*/}"
        printf '#!/bin/sh\necho "Kubernetes v%s"\n' "${FAKE_GO_K8S_VERSION:-1.36.1}" > "$out$name"; chmod +x "$out$name" ;;
    esac
  done
  exit 0 ;;
esac
echo "fake go: unexpected arguments: $*" >&2
exit 2
