# The two commands every contributor needs: `make run` and `make test`.
GO ?= go

.PHONY: run demo test build vet generate lint-openapi bench bench-ceiling fuzz screenshots

## run: start the ledger server (finds or starts a Postgres by itself)
run:
	$(GO) run ./cmd/ledger serve

## demo: on an empty database, create a demo world and print a key and a
## first request per role (once per database: it refuses a second time)
demo:
	$(GO) run ./cmd/ledger demo

## test: check formatting, vet, and run every test with the race detector
test: vet
	$(GO) test -race -count=1 ./...

vet:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "not gofmt-ed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

## generate: regenerate what go:generate makes from http/openapi.yaml: the
## API client of internal/apiclient (oapi-codegen, from the module proxy)
## and the API reference docs/reference.md (internal/apidoc)
generate:
	$(GO) generate ./...

## fuzz: run each fuzz target of the write routes (http/fuzz_*_test.go)
## for FUZZTIME (a duration, or a count of inputs such as 200x, which CI
## uses); a failing input is saved under http/testdata/fuzz
FUZZTIME ?= 60s
fuzz:
	@set -e; for target in $$($(GO) test -list '^Fuzz' ./http | grep '^Fuzz'); do \
		echo "fuzz: $$target for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) ./http; \
	done

## lint-openapi: lint the API's OpenAPI document (Redocly CLI, from npm)
lint-openapi:
	scripts/lint-openapi.sh

## screenshots: run the portal's browser journeys in Chromium and save
## each role's main page as a PNG into docs/portal/
screenshots:
	LEDGER_SCREENSHOTS=1 LEDGER_REQUIRE_BROWSER=1 $(GO) test -count=1 -run '^TestBrowser' ./portal/

## build: build the ledger binary into bin/
build:
	$(GO) build -o bin/ledger ./cmd/ledger

## bench: the event store's benchmarks
bench:
	$(GO) test -run '^$$' -bench . -benchtime 10s ./eventstore/postgres/

## bench-ceiling: the append benchmark beside pgbench's raw INSERT ceiling
bench-ceiling:
	scripts/pgbench-ceiling.sh 20
