# The two commands a new user needs are `make demo` and `make test`; each
# installs what it needs first (scripts/deps.sh).
GO ?= go
TEST_TIMEOUT ?= 20m

.PHONY: demo test race deps generate build vet bench fuzz compat

demo: deps generate
	$(GO) run ./cmd/effidx demo

test: deps generate vet
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# The SQL on both ClickHouse versions (README, "ClickHouse versions"): the
# statements the tests send, replayed on Debian's 18.16 and on 26.7 (npm's
# chdb, installed once per machine under ~/.cache/effidx-compat). First the
# check's own test: a broken statement must fail it.
compat: deps generate
	$(GO) vet -tags compat ./compat/
	$(GO) test -tags compat -count=1 -run '^TestABrokenStatement' ./compat/
	$(GO) run ./compat

# The race detector needs cgo (gcc): not part of `make test`, which must run
# on a bare Debian machine.
race: deps generate
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

deps:
	@scripts/deps.sh

# The ECharts bundle the pages load comes from npm's echarts (pinned in
# dashboard/web/package-lock.json) and is embedded in the binary.
generate:
	$(GO) generate ./...

build: generate
	$(GO) build -o effidx ./cmd/effidx

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

bench: deps generate
	$(GO) run ./cmd/effidx bench ingest --shards 1,2
	$(GO) run ./cmd/effidx bench lights
	$(GO) run ./cmd/effidx bench compute --shards 1,2
	$(GO) run ./cmd/effidx bench dashboard

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./event/
