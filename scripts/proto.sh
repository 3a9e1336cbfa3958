#!/usr/bin/env bash
# Regenerates the committed protobuf code. OUT=dir writes there instead of
# in place (the staleness test uses it). Versions are pinned so that the
# output is byte-for-byte reproducible.
set -euo pipefail
cd "$(dirname "$0")/.."
PROTOC_GEN_GO=v1.36.12
PROTOC_GEN_GO_GRPC=v1.6.2
GOBIN="${GOBIN:-$(go env GOPATH)/bin}"
export PATH="$GOBIN:$PATH"
if ! protoc-gen-go --version 2>/dev/null | grep -q "${PROTOC_GEN_GO}"; then
  go install "google.golang.org/protobuf/cmd/protoc-gen-go@${PROTOC_GEN_GO}"
fi
if ! protoc-gen-go-grpc --version 2>/dev/null | grep -q "${PROTOC_GEN_GO_GRPC#v}"; then
  go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@${PROTOC_GEN_GO_GRPC}"
fi
command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
root=$(pwd)
for dir in sdk/internal/pb host/control/pb; do
  out="${OUT:-$root}/$dir"
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  (cd "$dir" && protoc --go_out="$out" --go_opt=paths=source_relative \
      --go-grpc_out="$out" --go-grpc_opt=paths=source_relative ./*.proto)
done
