// Package console is imbot's dev console: a small chat client that runs in
// the browser, served by the embedded server (package imserver) at
// imserver.ConsolePath, so that a bot author can talk to a bot as any user.
//
// The page is a real client of the wire protocol: it speaks protobuf over
// the Frontier socket and the HTTP API, from the same .proto files as the
// Go code (improto), with protobufjs. Logging in takes a token; a server
// with imserver.Config.DevLogin also mints one for any user id, which is
// for development only.
//
// # Files
//
// The package holds the built page, embedded, in static/; its sources,
// build script and npm lockfile are in web/. Rebuild after changing a
// source or a .proto file:
//
//	cd imserver/console/web && npm ci && npm run build
//
// static/proto.sha256 records the SHA-256 of the .proto files the bundle
// was built from; a test fails when they have changed since.
//
// # Tests
//
// The plain tests check what the server serves. The browser tests drive
// the page in headless Chromium (build tag browser; .ci/run installs
// Debian's chromium and runs them):
//
//	go test -race -tags browser ./imserver/console/...
//
// They save a screenshot of the main view in $IMBOT_ARTIFACTS, or in
// testdata/artifacts (ignored by git) when that is unset.
package console
